/* core/values.c: the value grammars of docs/cli.md "Arguments" (smoothing, integers, dtypes, ulp
 * bounds, losses), locale-free: decimals are read as the exact rationals they denote (GMP mpq), never
 * through strtod. Shared by the command line and liblsce. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/values.h"

/* ^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$ with <= 40 significant digits, read
 * exactly into q; `ulp` (optional) gets the value of one unit in the last typed digit. */
static int parse_decimal(mpq_t q, mpq_t ulp, const char *s) {
  const char *c = s;
  if (*c == '+') c++;
  char digits[128];
  int nd = 0, nint = 0, nfrac = 0, sig = 0, seen_nonzero = 0;
  while (*c >= '0' && *c <= '9') {
    if (*c != '0' || seen_nonzero) { seen_nonzero = 1; sig++; }
    if (nd < 120) digits[nd++] = *c;
    else return 0;
    nint++;
    c++;
  }
  if (*c == '.') {
    c++;
    while (*c >= '0' && *c <= '9') {
      if (*c != '0' || seen_nonzero) { seen_nonzero = 1; sig++; }
      if (nd < 120) digits[nd++] = *c;
      else return 0;
      nfrac++;
      c++;
    }
  }
  if (nint + nfrac == 0) return 0;
  long ex = 0;
  if (*c == 'e' || *c == 'E') {
    c++;
    int neg = 0;
    if (*c == '+' || *c == '-') { neg = *c == '-'; c++; }
    int n = 0;
    /* at most 3 digits are read into ex; a longer exponent is rejected below (never accumulated) */
    while (*c >= '0' && *c <= '9') { if (n < 3) ex = ex * 10 + (*c - '0'); n++; c++; }
    if (n < 1 || n > 3) return 0;
    if (neg) ex = -ex;
  }
  if (*c) return 0;
  if (sig > 40) return -1;
  digits[nd] = '\0';
  mpz_t num, den;
  mpz_inits(num, den, NULL);
  mpz_set_str(num, digits, 10);
  long scale = ex - nfrac; /* value = num * 10^scale */
  mpz_ui_pow_ui(den, 10, (unsigned long)labs(scale));
  if (scale >= 0) { mpz_mul(num, num, den); mpz_set_ui(den, 1); }
  mpq_set_num(q, num);
  mpq_set_den(q, den);
  mpq_canonicalize(q);
  if (ulp) {
    mpz_ui_pow_ui(den, 10, (unsigned long)labs(scale));
    if (scale >= 0) { mpq_set_z(ulp, den); }
    else { mpz_set_ui(num, 1); mpq_set_num(ulp, num); mpq_set_den(ulp, den); mpq_canonicalize(ulp); }
  }
  mpz_clears(num, den, NULL);
  return 1;
}

int lsce_parse_smoothing(mpq_t e, const char *s, const char *opt, lsce_err *err) {
  int r = parse_decimal(e, NULL, s);
  if (r == 0) return lsce_err_set(err, LSCE_EINPUT, "%s: not a decimal number: '%s'", opt, s);
  if (r < 0) return lsce_err_set(err, LSCE_EINPUT, "%s: more than 40 significant digits", opt);
  if (mpq_cmp_ui(e, 1, 1) > 0)
    return lsce_err_set(err, LSCE_EINPUT, "%s: %s is outside [0, 1]", opt, s);
  return LSCE_OK;
}

int lsce_parse_int64(int64_t *v, const char *s, int allow_sign, const char *opt, lsce_err *err) {
  const char *c = s;
  int neg = 0;
  if (allow_sign && (*c == '+' || *c == '-')) { neg = *c == '-'; c++; }
  if (!*c) return lsce_err_set(err, LSCE_EINPUT, "%s: not an integer: '%s'", opt, s);
  uint64_t u = 0;
  const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
  for (; *c; c++) {
    if (*c < '0' || *c > '9') return lsce_err_set(err, LSCE_EINPUT, "%s: not an integer: '%s'", opt, s);
    unsigned d = (unsigned)(*c - '0');
    if (u > (lim - d) / 10) return lsce_err_set(err, LSCE_EINPUT, "%s: %s is outside int64", opt, s);
    u = u * 10 + d;
  }
  *v = neg ? (int64_t)(0 - u) : (int64_t)u;
  return LSCE_OK;
}

int lsce_parse_ulp(double *v, const char *s, const char *opt, lsce_err *err) {
  if (strcmp(s, "inf") == 0) { *v = INFINITY; return LSCE_OK; }
  mpq_t q;
  mpq_init(q);
  int r = (*s == '+') ? 0 : parse_decimal(q, NULL, s); /* a plain decimal, no sign */
  if (r > 0) *v = mpq_get_d(q); /* truncation is harmless for a threshold typed in decimal */
  mpq_clear(q);
  if (r <= 0) return lsce_err_set(err, LSCE_EINPUT, "%s: not a decimal >= 0 or inf: '%s'", opt, s);
  return LSCE_OK;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* C99 hex float: [+-]?0[xX]h*(.h*)?[pP][+-]?d+ (the exponent may be omitted), read exactly. */
static int parse_hex(mpq_t q, const char *s) {
  const char *c = s;
  int neg = 0;
  if (*c == '+' || *c == '-') { neg = *c == '-'; c++; }
  if (c[0] != '0' || (c[1] != 'x' && c[1] != 'X')) return 0;
  c += 2;
  mpz_t m;
  mpz_init(m);
  int n = 0;
  long fbits = 0;
  while (hexval(*c) >= 0) { mpz_mul_ui(m, m, 16); mpz_add_ui(m, m, (unsigned)hexval(*c)); c++; n++; if (n > 4000) break; }
  if (*c == '.') {
    c++;
    while (hexval(*c) >= 0) { mpz_mul_ui(m, m, 16); mpz_add_ui(m, m, (unsigned)hexval(*c)); c++; n++; fbits += 4; if (n > 4000) break; }
  }
  long ex = 0;
  int ok = n > 0 && n <= 4000;
  if (ok && (*c == 'p' || *c == 'P')) {
    c++;
    int eneg = 0, nd = 0;
    if (*c == '+' || *c == '-') { eneg = *c == '-'; c++; }
    while (*c >= '0' && *c <= '9' && nd < 6) { ex = ex * 10 + (*c - '0'); c++; nd++; }
    if (nd == 0 || (*c >= '0' && *c <= '9')) ok = 0;
    if (eneg) ex = -ex;
  }
  if (*c) ok = 0;
  if (ok) {
    mpq_set_z(q, m);
    long sh = ex - fbits;
    if (sh >= 0) mpq_mul_2exp(q, q, (mp_bitcnt_t)sh); else mpq_div_2exp(q, q, (mp_bitcnt_t)(-sh));
    if (neg) mpq_neg(q, q);
  }
  mpz_clear(m);
  return ok;
}

int lsce_parse_loss(mpq_t q, double *d, mpq_t halfunit, int *finite, const char *s, const char *opt,
                    lsce_err *err) {
  mpq_set_ui(halfunit, 0, 1);
  *finite = 0;
  if (strcmp(s, "inf") == 0) { *d = INFINITY; return LSCE_OK; }
  if (strcmp(s, "-inf") == 0) { *d = -INFINITY; return LSCE_OK; }
  if (strcmp(s, "nan") == 0) { *d = NAN; return LSCE_OK; }
  *finite = 1;
  if (parse_hex(q, s)) { *d = 0; return LSCE_OK; }
  const char *body = s;
  int neg = 0;
  if (*body == '-') { neg = 1; body++; if (*body == '+') return lsce_err_set(err, LSCE_EINPUT, "%s: not a number: '%s'", opt, s); }
  int r = parse_decimal(q, halfunit, body);
  if (r == 0) return lsce_err_set(err, LSCE_EINPUT, "%s: not a number: '%s'", opt, s);
  if (r < 0) return lsce_err_set(err, LSCE_EINPUT, "%s: more than 40 significant digits", opt);
  if (neg) mpq_neg(q, q);
  mpq_div_2exp(halfunit, halfunit, 1);
  *d = 0;
  return LSCE_OK;
}

int lsce_parse_dtype(const char *v) {
  if (!strcmp(v, "float64")) return LSCE_DT_F64;
  if (!strcmp(v, "float32")) return LSCE_DT_F32;
  if (!strcmp(v, "float16")) return LSCE_DT_F16;
  if (!strcmp(v, "bfloat16")) return LSCE_DT_BF16;
  return -1;
}
