/* core/npy.c: a strict reader and a numpy-identical writer for NumPy .npy files (format 1.0-3.0), plus
 * the exact half/bfloat16/float conversions the suite uses. Claim: every header field is validated
 * against the input size before anything is allocated, and every conversion is exact (in) or a
 * single round-to-nearest-even from double (out). */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "lsce/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------------
 * Errors */

int lsce_err_set(lsce_err *e, int code, const char *fmt, ...) {
  if (e) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(e->line, sizeof e->line, fmt, ap);
    va_end(ap);
    if (n < 0) e->line[0] = '\0';
    /* Too long (a long path): keep the head (the name's start) and the tail (the message), and cut
     * the middle, marked "...", so that the line never loses its message. */
    char *full = n >= (int)sizeof e->line ? malloc((size_t)n + 1) : NULL;
    if (full && vsnprintf(full, (size_t)n + 1, fmt, ap2) == n) {
      const size_t head = 200, tail = sizeof e->line - 1 - head - 3;
      memcpy(e->line, full, head);
      memcpy(e->line + head, "...", 3);
      memcpy(e->line + head + 3, full + n - tail, tail + 1);
    }
    free(full);
    va_end(ap2);
    /* One line, always: a path typed with a control character must not split the message. */
    for (unsigned char *p = (unsigned char *)e->line; *p; p++)
      if (*p < 0x20 || *p == 0x7f) *p = '?';
    e->code = code;
  }
  return code;
}

/* ------------------------------------------------------------------------------------------------
 * Dtypes */

size_t lsce_dtype_size(lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F64: return 8;
  case LSCE_DT_F32: return 4;
  case LSCE_DT_F16: return 2;
  case LSCE_DT_BF16: return 2;
  case LSCE_DT_I32: return 4;
  case LSCE_DT_I64: return 8;
  }
  return 0;
}

const char *lsce_dtype_name(lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F64: return "float64";
  case LSCE_DT_F32: return "float32";
  case LSCE_DT_F16: return "float16";
  case LSCE_DT_BF16: return "bfloat16";
  case LSCE_DT_I32: return "int32";
  case LSCE_DT_I64: return "int64";
  }
  return "unknown";
}

static int host_is_big_endian(void) {
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && defined(__ORDER_LITTLE_ENDIAN__)
  return __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
#else
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 0;
#endif
}

/* ------------------------------------------------------------------------------------------------
 * Half formats <-> double */

double lsce_f16_to_double(uint16_t h) {
  uint64_t sign = (uint64_t)(h >> 15) << 63;
  unsigned e = (h >> 10) & 0x1fu;
  uint64_t m = h & 0x3ffu;
  uint64_t bits;
  double d;
  if (e == 0) { /* zero or subnormal: m * 2^-24, exact in double */
    d = (double)m * 0x1p-24;
    return (h & 0x8000u) ? -d : d;
  }
  if (e == 31) bits = sign | (UINT64_C(0x7ff) << 52) | (m << 42); /* inf, or nan keeping payload */
  else bits = sign | ((uint64_t)(e - 15 + 1023) << 52) | (m << 42);
  memcpy(&d, &bits, sizeof d);
  return d;
}

double lsce_bf16_to_double(uint16_t h) {
  uint64_t sign = (uint64_t)(h >> 15) << 63;
  unsigned e = (h >> 7) & 0xffu;
  uint64_t m = h & 0x7fu;
  uint64_t bits;
  double d;
  if (e == 0) { /* zero or subnormal: m * 2^-133, exact in double */
    d = (double)m * 0x1p-133;
    return (h & 0x8000u) ? -d : d;
  }
  if (e == 255) bits = sign | (UINT64_C(0x7ff) << 52) | (m << 45);
  else bits = sign | ((uint64_t)(e - 127 + 1023) << 52) | (m << 45);
  memcpy(&d, &bits, sizeof d);
  return d;
}

/* Round a double to the binary format with `p` stored fraction bits and `ebits` exponent bits
 * (p <= 23, ebits <= 8), to nearest with ties to even, in one step from the double's bits.
 * Returns the target's bit pattern (sign at bit ebits+p). */
static uint32_t round_from_double(double x, int p, int ebits) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  const int bias = (1 << (ebits - 1)) - 1, emin = 1 - bias;
  const uint32_t sign = (uint32_t)(b >> 63) << (ebits + p);
  const uint32_t expmask = ((UINT32_C(1) << ebits) - 1) << p;
  const unsigned dexp = (unsigned)((b >> 52) & 0x7ff);
  const uint64_t frac = b & ((UINT64_C(1) << 52) - 1);
  if (dexp == 0x7ff) {
    if (frac == 0) return sign | expmask; /* infinity */
    /* NaN: keep the top payload bits, force the quiet bit so it cannot become infinity. */
    return sign | expmask | (UINT32_C(1) << (p - 1)) |
           (uint32_t)((frac >> (52 - p)) & ((UINT64_C(1) << p) - 1));
  }
  if (dexp == 0) return sign; /* zero or double subnormal (< 2^-1022): rounds to a signed zero */
  const int e = (int)dexp - 1023;
  if (e > bias) return sign | expmask; /* overflow */
  const uint64_t sig = frac | (UINT64_C(1) << 52);
  int shift;
  uint32_t base;
  if (e >= emin) { /* normal range: keep p+1 significant bits */
    shift = 52 - p;
    base = (uint32_t)(e - emin) << p; /* the implicit bit in q adds the final 1 to the exponent */
  } else { /* subnormal range: units of 2^(emin - p) */
    shift = 52 - p + (emin - e);
    if (shift > 53) return sign; /* below half the smallest subnormal */
    base = 0;
  }
  uint64_t q = sig >> shift;
  const uint64_t rem = sig & ((UINT64_C(1) << shift) - 1), half = UINT64_C(1) << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) q++; /* a carry rolls correctly into the exponent */
  return sign | (base + (uint32_t)q);              /* ... and up to infinity at the top */
}

uint16_t lsce_double_to_f16(double x) { return (uint16_t)round_from_double(x, 10, 5); }
uint16_t lsce_double_to_bf16(double x) { return (uint16_t)round_from_double(x, 7, 8); }
float lsce_double_to_f32(double x) {
  uint32_t u = round_from_double(x, 23, 8);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* ------------------------------------------------------------------------------------------------
 * Element access */

static inline uint16_t ld16(const unsigned char *p, int swap) {
  uint16_t v;
  memcpy(&v, p, 2);
  return swap ? (uint16_t)((v >> 8) | (v << 8)) : v;
}
static inline uint32_t ld32(const unsigned char *p, int swap) {
  uint32_t v;
  memcpy(&v, p, 4);
  if (swap)
    v = (v >> 24) | ((v >> 8) & UINT32_C(0xff00)) | ((v << 8) & UINT32_C(0xff0000)) | (v << 24);
  return v;
}
static inline uint64_t ld64(const unsigned char *p, int swap) {
  uint64_t v;
  memcpy(&v, p, 8);
  if (swap) {
    v = ((v & UINT64_C(0x00000000ffffffff)) << 32) | ((v >> 32) & UINT64_C(0x00000000ffffffff));
    v = ((v & UINT64_C(0x0000ffff0000ffff)) << 16) | ((v >> 16) & UINT64_C(0x0000ffff0000ffff));
    v = ((v & UINT64_C(0x00ff00ff00ff00ff)) << 8) | ((v >> 8) & UINT64_C(0x00ff00ff00ff00ff));
  }
  return v;
}

double lsce_npy_get_f(const lsce_npy *a, int64_t i) {
  const unsigned char *p = a->data;
  switch (a->dtype) {
  case LSCE_DT_F64: {
    uint64_t u = ld64(p + (size_t)i * 8, a->swap);
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  case LSCE_DT_F32: {
    uint32_t u = ld32(p + (size_t)i * 4, a->swap);
    float f;
    memcpy(&f, &u, 4);
    return (double)f;
  }
  case LSCE_DT_F16: return lsce_f16_to_double(ld16(p + (size_t)i * 2, a->swap));
  case LSCE_DT_BF16: return lsce_bf16_to_double(ld16(p + (size_t)i * 2, a->swap));
  case LSCE_DT_I32: return (double)(int32_t)ld32(p + (size_t)i * 4, a->swap);
  case LSCE_DT_I64: return (double)(int64_t)ld64(p + (size_t)i * 8, a->swap); /* may round */
  }
  return 0.0;
}

int64_t lsce_npy_get_i(const lsce_npy *a, int64_t i) {
  const unsigned char *p = a->data;
  switch (a->dtype) {
  case LSCE_DT_I32: return (int32_t)ld32(p + (size_t)i * 4, a->swap);
  case LSCE_DT_I64: return (int64_t)ld64(p + (size_t)i * 8, a->swap);
  default: return 0; /* not an integer dtype */
  }
}

/* ------------------------------------------------------------------------------------------------
 * Header parsing */

#define NPY_MAX_HEADER 65536u /* numpy itself refuses headers over 10000 bytes by default */

typedef struct {
  lsce_dtype dtype;
  int swap;
  int ndim;
  int64_t shape[2];
  int64_t count;
  uint64_t hdr_end;    /* offset of the first data byte */
  uint64_t data_bytes; /* count * element size */
} npy_hdr;

/* Preamble: magic, version, header length. `avail` bytes are at buf (the first min(total, 12) of
 * the input at least); `total` is the full input length, or UINT64_MAX when unknown (a pipe). */
static int parse_preamble(const unsigned char *buf, size_t avail, uint64_t total, const char *name,
                          lsce_err *err, unsigned *major, uint64_t *hdr_start, uint64_t *hdr_len) {
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (avail == 0) return lsce_err_set(err, LSCE_EINPUT, "%s: not a .npy file (file is empty)", name);
  size_t cmp = avail < 6 ? avail : 6;
  if (memcmp(buf, magic, cmp) != 0)
    return lsce_err_set(err, LSCE_EINPUT, "%s: not a .npy file (bad magic)", name);
  if (avail < 8)
    return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: file ends inside the preamble (%zu bytes)",
                        name, avail);
  unsigned maj = buf[6], min = buf[7];
  if ((maj != 1 && maj != 2 && maj != 3) || min != 0)
    return lsce_err_set(err, LSCE_EINPUT, "%s: unsupported .npy format version %u.%u", name, maj, min);
  uint64_t start = maj == 1 ? 10 : 12, len;
  if (avail < start)
    return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: file ends inside the preamble (%zu bytes)",
                        name, avail);
  if (maj == 1) len = (uint64_t)buf[8] | (uint64_t)buf[9] << 8;
  else
    len = (uint64_t)buf[8] | (uint64_t)buf[9] << 8 | (uint64_t)buf[10] << 16 | (uint64_t)buf[11] << 24;
  if (len == 0) return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: header length is 0", name);
  if (total != UINT64_MAX && len > total - start)
    return lsce_err_set(err, LSCE_EINPUT,
                        "%s: bad header: header length %llu runs past the end of the file "
                        "(%llu bytes)",
                        name, (unsigned long long)len, (unsigned long long)total);
  if (len > NPY_MAX_HEADER)
    return lsce_err_set(err, LSCE_EINPUT,
                        "%s: bad header: header length %llu exceeds the limit of %u bytes", name,
                        (unsigned long long)len, NPY_MAX_HEADER);
  *major = maj;
  *hdr_start = start;
  *hdr_len = len;
  return LSCE_OK;
}

typedef struct {
  const char *s; /* header text */
  size_t n, i;
  unsigned major;
  const char *name;
  lsce_err *err;
} cursor;

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static void skip_ws(cursor *c) {
  while (c->i < c->n && is_ws(c->s[c->i])) c->i++;
}

static int syntax(cursor *c, const char *what) {
  if (c->i >= c->n)
    return lsce_err_set(c->err, LSCE_EINPUT, "%s: bad header: %s, found the end of the header",
                        c->name, what);
  return lsce_err_set(c->err, LSCE_EINPUT, "%s: bad header: %s at header offset %zu, found '%c'",
                      c->name, what, c->i, c->s[c->i]);
}

/* A Python string literal in single or double quotes, without escapes or prefixes. */
static int parse_string(cursor *c, size_t *start, size_t *len) {
  if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"'))
    return syntax(c, "expected a quoted string");
  char q = c->s[c->i++];
  size_t b = c->i;
  while (c->i < c->n && c->s[c->i] != q) {
    if (c->s[c->i] == '\\')
      return lsce_err_set(c->err, LSCE_EINPUT,
                          "%s: bad header: escape sequences in strings are not supported", c->name);
    if (c->s[c->i] == '\n' || c->s[c->i] == '\r')
      return lsce_err_set(c->err, LSCE_EINPUT, "%s: bad header: unterminated string", c->name);
    c->i++;
  }
  if (c->i >= c->n)
    return lsce_err_set(c->err, LSCE_EINPUT, "%s: bad header: unterminated string", c->name);
  *start = b;
  *len = c->i - b;
  c->i++;
  return LSCE_OK;
}

static int match_word(cursor *c, const char *w) {
  size_t n = strlen(w);
  if (c->n - c->i < n || memcmp(c->s + c->i, w, n) != 0) return 0;
  if (c->i + n < c->n) { /* the identifier must end here */
    char d = c->s[c->i + n];
    if ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9') || d == '_')
      return 0;
  }
  c->i += n;
  return 1;
}

/* shape: '(' [int (',' int)* [',']] ')', a 1-tuple needing its comma as in Python. Integers are
 * decimal, no sign, no leading zeros, no underscores; 'L' suffixes (Python 2 writers) are accepted
 * in versions 1.0 and 2.0 as numpy does. */
static int parse_shape(cursor *c, npy_hdr *h) {
  int64_t dims[2] = {1, 1};
  long nd = 0;
  int trailing_comma = 0;
  if (c->i >= c->n || c->s[c->i] != '(') {
    if (c->i < c->n && c->s[c->i] == '[')
      return lsce_err_set(c->err, LSCE_EINPUT, "%s: bad header: 'shape' must be a tuple, not a list",
                          c->name);
    return syntax(c, "expected '(' to start 'shape'");
  }
  c->i++;
  for (;;) {
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == ')') break;
    if (nd > 0 && !trailing_comma) return syntax(c, "expected ',' or ')' in 'shape'");
    if (c->i < c->n && (c->s[c->i] == '-' || c->s[c->i] == '+')) {
      if (c->s[c->i] == '-')
        return lsce_err_set(c->err, LSCE_EINPUT, "%s: bad header: negative dimension in 'shape'",
                            c->name);
      return syntax(c, "expected a dimension in 'shape'");
    }
    if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '9')
      return syntax(c, "expected a dimension in 'shape'");
    size_t b = c->i;
    uint64_t v = 0;
    int overflow = 0;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
      unsigned dgt = (unsigned)(c->s[c->i] - '0');
      if (v > (UINT64_C(0x7fffffffffffffff) - dgt) / 10) overflow = 1;
      else v = v * 10 + dgt;
      c->i++;
    }
    if (c->i - b > 1 && c->s[b] == '0')
      return lsce_err_set(c->err, LSCE_EINPUT,
                          "%s: bad header: invalid integer in 'shape' (leading zero)", c->name);
    if (c->i < c->n && (c->s[c->i] == 'L' || c->s[c->i] == 'l') && c->major <= 2) c->i++;
    if (c->i < c->n) {
      char d = c->s[c->i];
      if ((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || d == '_' || d == '.')
        return syntax(c, "invalid integer in 'shape'");
    }
    if (overflow)
      return lsce_err_set(c->err, LSCE_EINPUT, "%s: bad header: dimension in 'shape' overflows int64",
                          c->name);
    if (nd < 2) dims[nd] = (int64_t)v;
    if (nd < LONG_MAX) nd++;
    skip_ws(c);
    trailing_comma = 0;
    if (c->i < c->n && c->s[c->i] == ',') {
      trailing_comma = 1;
      c->i++;
    }
  }
  if (nd == 1 && !trailing_comma)
    return lsce_err_set(c->err, LSCE_EINPUT,
                        "%s: bad header: 'shape' must be a tuple (a 1-tuple needs a trailing comma)",
                        c->name);
  c->i++; /* ')' */
  if (nd > 2)
    return lsce_err_set(c->err, LSCE_EINPUT,
                        "%s: unsupported shape with %ld dimensions (at most 2 are supported)", c->name,
                        nd);
  h->ndim = (int)nd;
  h->shape[0] = dims[0];
  h->shape[1] = dims[1];
  return LSCE_OK;
}

static int parse_descr(const char *d, size_t n, npy_hdr *h) {
  if (n != 3) return 0;
  char order = d[0];
  int big;
  if (order == '<') big = 0;
  else if (order == '>') big = 1;
  else if (order == '=') big = host_is_big_endian();
  else return 0; /* '|' means "not applicable", which holds only for 1-byte types */
  if (d[1] == 'f' && d[2] == '8') h->dtype = LSCE_DT_F64;
  else if (d[1] == 'f' && d[2] == '4') h->dtype = LSCE_DT_F32;
  else if (d[1] == 'f' && d[2] == '2') h->dtype = LSCE_DT_F16;
  else if (d[1] == 'u' && d[2] == '2') h->dtype = LSCE_DT_BF16;
  else if (d[1] == 'i' && d[2] == '4') h->dtype = LSCE_DT_I32;
  else if (d[1] == 'i' && d[2] == '8') h->dtype = LSCE_DT_I64;
  else return 0;
  h->swap = big != host_is_big_endian();
  return 1;
}

enum { K_DESCR, K_FORTRAN, K_SHAPE, K_N };
static const char *const key_names[K_N] = {"descr", "fortran_order", "shape"};

/* The header dict: {'descr': <str>, 'fortran_order': <bool>, 'shape': <tuple>} in any order. */
static int parse_dict(const char *s, size_t n, unsigned major, const char *name, lsce_err *err,
                      npy_hdr *h) {
  cursor c = {s, n, 0, major, name, err};
  int seen[K_N] = {0, 0, 0}, fortran = 0, rc;
  size_t descr_at = 0, descr_len = 0;

  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch < 0x20 || ch > 0x7e) && !is_ws((char)ch))
      return lsce_err_set(err, LSCE_EINPUT,
                          "%s: bad header: byte 0x%02x at header offset %zu is not printable ASCII",
                          name, ch, i);
  }
  skip_ws(&c);
  if (c.i >= n || s[c.i] != '{') return syntax(&c, "expected '{'");
  c.i++;
  for (;;) {
    skip_ws(&c);
    if (c.i < n && s[c.i] == '}') break;
    size_t ks, kl;
    if ((rc = parse_string(&c, &ks, &kl)) != LSCE_OK) return rc;
    int k = -1;
    for (int j = 0; j < K_N; j++)
      if (strlen(key_names[j]) == kl && memcmp(s + ks, key_names[j], kl) == 0) k = j;
    if (k < 0)
      return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: unknown key '%.*s%s'", name,
                          kl > 40 ? 40 : (int)kl, s + ks, kl > 40 ? "..." : "");
    if (seen[k])
      return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: duplicate key '%s'", name, key_names[k]);
    seen[k] = 1;
    skip_ws(&c);
    if (c.i >= n || s[c.i] != ':') return syntax(&c, "expected ':' after a key");
    c.i++;
    skip_ws(&c);
    switch (k) {
    case K_DESCR:
      if (c.i < n && s[c.i] == '[')
        return lsce_err_set(err, LSCE_EINPUT,
                            "%s: unsupported dtype (structured arrays are not supported)", name);
      if ((rc = parse_string(&c, &descr_at, &descr_len)) != LSCE_OK) return rc;
      break;
    case K_FORTRAN:
      if (match_word(&c, "True")) fortran = 1;
      else if (match_word(&c, "False")) fortran = 0;
      else
        return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: 'fortran_order' must be True or False",
                            name);
      break;
    default:
      if ((rc = parse_shape(&c, h)) != LSCE_OK) return rc;
      break;
    }
    skip_ws(&c);
    if (c.i < n && s[c.i] == ',') c.i++;
    else if (c.i >= n || s[c.i] != '}') return syntax(&c, "expected ',' or '}' after a value");
  }
  c.i++; /* '}' */
  skip_ws(&c);
  if (c.i < n) return syntax(&c, "expected the end of the header after '}'");
  for (int j = 0; j < K_N; j++)
    if (!seen[j])
      return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: missing key '%s'", name, key_names[j]);
  if (!parse_descr(s + descr_at, descr_len, h))
    return lsce_err_set(err, LSCE_EINPUT, "%s: unsupported dtype '%.*s%s'", name,
                        descr_len > 40 ? 40 : (int)descr_len, s + descr_at,
                        descr_len > 40 ? "..." : "");
  if (fortran) return lsce_err_set(err, LSCE_EINPUT, "%s: Fortran order is not supported", name);
  return LSCE_OK;
}

/* Everything up to (not including) the data-length check. `buf` holds the first `avail` bytes of
 * an input of `total` bytes (UINT64_MAX: unknown), the whole header at least. */
static int parse_head(const unsigned char *buf, size_t avail, uint64_t total, const char *name,
                      lsce_err *err, npy_hdr *h) {
  unsigned major = 0;
  uint64_t start = 0, len = 0;
  int rc = parse_preamble(buf, avail, total, name, err, &major, &start, &len);
  if (rc != LSCE_OK) return rc;
  if (avail - start < len) /* callers always pass the whole header; this is a guard */
    return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: header is truncated", name);
  memset(h, 0, sizeof *h);
  if ((rc = parse_dict((const char *)buf + start, (size_t)len, major, name, err, h)) != LSCE_OK)
    return rc;
  h->hdr_end = start + len;
  if (h->ndim == 0) h->shape[0] = h->shape[1] = 1;
  else if (h->ndim == 1) h->shape[1] = 1;
  uint64_t es = lsce_dtype_size(h->dtype), d0 = (uint64_t)h->shape[0], d1 = (uint64_t)h->shape[1];
  /* Bound the byte count by INT64_MAX (and SIZE_MAX) so count and offsets fit everywhere. */
  uint64_t lim = UINT64_C(0x7fffffffffffffff);
  if ((uint64_t)SIZE_MAX < lim) lim = (uint64_t)SIZE_MAX;
  lim -= h->hdr_end;
  if ((d0 != 0 && d1 > lim / d0) || (d0 * d1 != 0 && es > lim / (d0 * d1))) {
    if (h->ndim == 1)
      return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: shape (%lld,) is too large", name,
                          (long long)h->shape[0]);
    return lsce_err_set(err, LSCE_EINPUT, "%s: bad header: shape (%lld, %lld) is too large", name,
                        (long long)h->shape[0], (long long)h->shape[1]);
  }
  h->count = (int64_t)(d0 * d1);
  h->data_bytes = d0 * d1 * es;
  return LSCE_OK;
}

static int check_data_len(const npy_hdr *h, uint64_t total, const char *name, lsce_err *err) {
  uint64_t found = total - h->hdr_end;
  if (found < h->data_bytes)
    return lsce_err_set(err, LSCE_EINPUT, "%s: data is truncated: expected %llu bytes, found %llu",
                        name, (unsigned long long)h->data_bytes, (unsigned long long)found);
  if (found > h->data_bytes)
    return lsce_err_set(err, LSCE_EINPUT,
                        "%s: data is longer than the header says: expected %llu bytes, found %llu",
                        name, (unsigned long long)h->data_bytes, (unsigned long long)found);
  return LSCE_OK;
}

int lsce_npy_parse(lsce_npy *a, const void *buf, size_t len, const char *name, lsce_err *err) {
  npy_hdr h;
  memset(a, 0, sizeof *a);
  if (!buf) len = 0;
  int rc = parse_head((const unsigned char *)buf, len, (uint64_t)len, name, err, &h);
  if (rc == LSCE_OK) rc = check_data_len(&h, (uint64_t)len, name, err);
  if (rc != LSCE_OK) return rc;
  a->dtype = h.dtype;
  a->ndim = h.ndim;
  a->shape[0] = h.shape[0];
  a->shape[1] = h.shape[1];
  a->count = h.count;
  a->swap = h.swap;
  a->data = h.count ? (const unsigned char *)buf + h.hdr_end : NULL;
  return LSCE_OK;
}

void lsce_npy_free(lsce_npy *a) {
  if (!a) return;
  if (a->map) {
    if (a->mapped) munmap(a->map, a->map_len);
    else free(a->map);
  }
  memset(a, 0, sizeof *a);
}

/* In-memory arrays (liblsce, the benchmarks, the tests): see npy.h. */
int lsce_npy_view(lsce_npy *a, lsce_dtype dtype, int ndim, const int64_t *shape, const void *data,
                  const char *name, lsce_err *err) {
  memset(a, 0, sizeof *a);
  if ((unsigned)dtype > (unsigned)LSCE_DT_I64)
    return lsce_err_set(err, LSCE_EINPUT, "%s: unsupported dtype %d", name, (int)dtype);
  if (ndim < 0 || ndim > 2)
    return lsce_err_set(err, LSCE_EINPUT, "%s: unsupported shape with %d dimensions (at most 2 are supported)",
                        name, ndim);
  a->dtype = dtype;
  a->ndim = ndim;
  a->shape[0] = a->shape[1] = 1;
  a->count = 1;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] < 0) return lsce_err_set(err, LSCE_EINPUT, "%s: negative dimension in its shape", name);
    a->shape[k] = shape[k];
    if (shape[k] && a->count > INT64_MAX / (int64_t)lsce_dtype_size(dtype) / shape[k])
      return lsce_err_set(err, LSCE_EINPUT, "%s: its size overflows", name);
    a->count *= shape[k];
  }
  if (!data && a->count > 0) return lsce_err_set(err, LSCE_EINPUT, "%s: no data", name);
  a->data = (const unsigned char *)data;
  return LSCE_OK;
}

/* ------------------------------------------------------------------------------------------------
 * Reading files */

/* read() until `n` bytes or end of file; returns bytes read, or -1 with errno set. */
static ssize_t read_full(int fd, unsigned char *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t want = n - got;
    if (want > (size_t)1 << 30) want = (size_t)1 << 30;
    ssize_t r = read(fd, p + got, want);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int read_error(const char *name, lsce_err *err, int e) {
  return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot read: %s", name, strerror(e ? e : EIO));
}

/* Read the file into memory: the header first (validated against the size when known), then
 * exactly the data it announces. Works for pipes too, where the buffer grows only as bytes arrive
 * and reading stops one byte past the announced end. */
static int read_into_memory(lsce_npy *a, int fd, uint64_t size, const char *name, lsce_err *err) {
  unsigned char pre[12];
  npy_hdr h;
  ssize_t r = read_full(fd, pre, sizeof pre);
  if (r < 0) return read_error(name, err, errno);
  unsigned major = 0;
  uint64_t start = 0, hlen = 0;
  int rc = parse_preamble(pre, (size_t)r, size, name, err, &major, &start, &hlen);
  if (rc != LSCE_OK) return rc;
  /* hlen <= NPY_MAX_HEADER and (when the size is known) within the file. */
  size_t head = (size_t)(start + hlen);
  /* the preamble read may already hold bytes past a very short header: keep them all */
  size_t have = (size_t)r > head ? (size_t)r : head;
  unsigned char *buf = malloc(have);
  if (!buf) return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot read: out of memory", name);
  memcpy(buf, pre, (size_t)r);
  if ((size_t)r < head) {
    ssize_t r2 = read_full(fd, buf + r, head - (size_t)r);
    if (r2 < 0) {
      int e = errno;
      free(buf);
      return read_error(name, err, e);
    }
    if ((size_t)r2 < head - (size_t)r) { /* shrank under us, or a short pipe */
      uint64_t got = (uint64_t)r + (uint64_t)r2;
      free(buf);
      return lsce_err_set(err, LSCE_EINPUT,
                          "%s: bad header: header length %llu runs past the end of the file "
                          "(%llu bytes)",
                          name, (unsigned long long)hlen, (unsigned long long)got);
    }
  }
  if ((rc = parse_head(buf, head, size, name, err, &h)) != LSCE_OK ||
      (size != UINT64_MAX && (rc = check_data_len(&h, size, name, err)) != LSCE_OK)) {
    free(buf);
    return rc;
  }
  /* The header is valid and, for a regular file, the size matches: total fits in size_t. A regular
   * file is read in one allocation of exactly its size; a pipe into a buffer that doubles as bytes
   * arrive, up to one byte past the announced end. */
  const size_t total = (size_t)(h.hdr_end + h.data_bytes), chunk0 = (size_t)1 << 20;
  const size_t limit = size != UINT64_MAX || total == SIZE_MAX ? total : total + 1;
  size_t cap = limit - head <= chunk0 ? limit : head + chunk0, len = have;
  if (cap < len) cap = len;
  for (;;) {
    if (len >= limit) break; /* the preamble already held everything announced (or more) */
    if (cap > len) {
      unsigned char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot read: out of memory", name);
      }
      buf = nb;
    }
    ssize_t r3 = read_full(fd, buf + len, cap - len);
    if (r3 < 0) {
      int e = errno;
      free(buf);
      return read_error(name, err, e);
    }
    len += (size_t)r3;
    if (len < cap || cap == limit) break; /* end of file, or enough */
    size_t ncap = head + 2 * (cap - head);
    cap = ncap > limit || ncap < cap ? limit : ncap;
  }
  int longer = len > total;
  if (!longer && len == total) { /* a regular file must not have grown since fstat */
    unsigned char extra;
    longer = read_full(fd, &extra, 1) > 0;
  }
  if (longer) {
    free(buf);
    return lsce_err_set(err, LSCE_EINPUT,
                        "%s: data is longer than the header says: expected %llu bytes, found more",
                        name, (unsigned long long)h.data_bytes);
  }
  if ((rc = lsce_npy_parse(a, buf, len, name, err)) != LSCE_OK) {
    free(buf);
    return rc;
  }
  a->map = buf;
  a->map_len = len;
  a->mapped = 0;
  return LSCE_OK;
}

int lsce_npy_read(lsce_npy *a, const char *path, lsce_err *err) {
  memset(a, 0, sizeof *a);
  int fd;
  do fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return read_error(path, err, e);
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return read_error(path, err, EISDIR);
  }
  int rc;
  uint64_t size = S_ISREG(st.st_mode) && st.st_size > 0 ? (uint64_t)st.st_size : UINT64_MAX;
  void *m = MAP_FAILED;
  if (size != UINT64_MAX && size <= (uint64_t)SIZE_MAX)
    m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (m != MAP_FAILED) {
    rc = lsce_npy_parse(a, m, (size_t)size, path, err);
    if (rc != LSCE_OK) munmap(m, (size_t)size);
    else {
      a->map = m;
      a->map_len = (size_t)size;
      a->mapped = 1;
    }
  } else {
    /* No mapping (pipe, empty-looking special file, or mmap refused): read, header first. */
    rc = read_into_memory(a, fd, size, path, err);
  }
  close(fd);
  return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Writing */

static size_t fmt_i64(char *out, int64_t v) { /* locale-free decimal, v >= 0 */
  char tmp[24];
  size_t n = 0, k = 0;
  uint64_t u = (uint64_t)v;
  do tmp[n++] = (char)('0' + (int)(u % 10));
  while ((u /= 10) != 0);
  while (n) out[k++] = tmp[--n];
  out[k] = '\0';
  return k;
}

static void st16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}
static void st32(unsigned char *p, uint32_t v) {
  for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
}
static void st64(unsigned char *p, uint64_t v) {
  for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}

/* Close and remove what we wrote; only a regular file is removed (never, say, /dev/full). */
static int write_failed(FILE *f, int regular, const char *path, lsce_err *err, int e) {
  if (f) fclose(f);
  if (regular) remove(path);
  return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: %s", path, strerror(e ? e : EIO));
}

int lsce_npy_write(const char *path, lsce_dtype dt, const double *data, int ndim,
                   const int64_t *shape, lsce_err *err) {
  static const char *const descr[] = {"<f8", "<f4", "<f2", "<u2", "<i4", "<i8"};
  if ((unsigned)dt > (unsigned)LSCE_DT_I64 || ndim < 0 || ndim > 2 || (ndim > 0 && !shape))
    return lsce_err_set(err, LSCE_EINPUT, "%s: cannot write: invalid dtype or shape", path);
  size_t es = lsce_dtype_size(dt);
  uint64_t count = 1;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] < 0 || (shape[k] != 0 && count > (UINT64_C(0x7fffffffffffffff) / 8) /
                                                      (uint64_t)shape[k]))
      return lsce_err_set(err, LSCE_EINPUT, "%s: cannot write: invalid shape", path);
    count *= (uint64_t)shape[k];
  }
  if (count > (uint64_t)SIZE_MAX / 8)
    return lsce_err_set(err, LSCE_EINPUT, "%s: cannot write: invalid shape", path);
  if (count && !data)
    return lsce_err_set(err, LSCE_EINPUT, "%s: cannot write: no data", path);
  /* Integer targets take integral doubles in range only: the cast would otherwise be undefined. */
  if (dt == LSCE_DT_I32 || dt == LSCE_DT_I64) {
    const double lo = dt == LSCE_DT_I32 ? -2147483648.0 : -9223372036854775808.0;
    const double hi = dt == LSCE_DT_I32 ? 2147483648.0 : 9223372036854775808.0;
    for (uint64_t i = 0; i < count; i++) {
      double x = data[i];
      if (!(x >= lo && x < hi) || (double)(int64_t)x != x)
        return lsce_err_set(err, LSCE_EINPUT,
                            "%s: cannot write: value at index %llu is not an integer that fits %s",
                            path, (unsigned long long)i, lsce_dtype_name(dt));
    }
  }

  /* Header, byte for byte as numpy.save (>= 1.23) writes it: sorted keys, "repr" of the shape,
   * room for the first axis to grow to 21 digits, then spaces and '\n' to a multiple of 64. */
  char hdr[256], num[24];
  size_t n = 0;
  n += (size_t)snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                        descr[dt]);
  for (int k = 0; k < ndim; k++) {
    if (k) {
      hdr[n++] = ',';
      hdr[n++] = ' ';
    }
    size_t l = fmt_i64(num, shape[k]);
    memcpy(hdr + n, num, l);
    n += l;
  }
  if (ndim == 1) hdr[n++] = ',';
  memcpy(hdr + n, "), }", 4);
  n += 4;
  if (ndim > 0) {
    size_t digits = fmt_i64(num, shape[0]);
    for (size_t k = digits; k < 21; k++) hdr[n++] = ' ';
  }
  size_t pad = 64 - ((10 + n + 1) % 64);
  memset(hdr + n, ' ', pad);
  n += pad;
  hdr[n++] = '\n';
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
  st16(pre + 8, (uint16_t)n);

  errno = 0;
  FILE *f = fopen(path, "wb");
  if (!f) return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: %s", path, strerror(errno));
  struct stat st;
  const int regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
  if (fwrite(pre, 1, sizeof pre, f) != sizeof pre || fwrite(hdr, 1, n, f) != n)
    return write_failed(f, regular, path, err, errno);
  unsigned char chunk[65536];
  const size_t per = sizeof chunk / es;
  for (uint64_t i = 0; i < count;) {
    size_t m = count - i < per ? (size_t)(count - i) : per;
    unsigned char *p = chunk;
    for (size_t j = 0; j < m; j++, p += es) {
      double x = data[i + j];
      switch (dt) {
      case LSCE_DT_F64: {
        uint64_t u;
        memcpy(&u, &x, 8);
        st64(p, u);
        break;
      }
      case LSCE_DT_F32: {
        float fl = lsce_double_to_f32(x);
        uint32_t u;
        memcpy(&u, &fl, 4);
        st32(p, u);
        break;
      }
      case LSCE_DT_F16: st16(p, lsce_double_to_f16(x)); break;
      case LSCE_DT_BF16: st16(p, lsce_double_to_bf16(x)); break;
      case LSCE_DT_I32: st32(p, (uint32_t)(int32_t)x); break;
      case LSCE_DT_I64: st64(p, (uint64_t)(int64_t)x); break;
      }
    }
    errno = 0;
    if (fwrite(chunk, es, m, f) != m) return write_failed(f, regular, path, err, errno);
    i += m;
  }
  errno = 0;
  if (fflush(f) != 0 || ferror(f)) return write_failed(f, regular, path, err, errno);
  errno = 0;
  if (fclose(f) != 0) return write_failed(NULL, regular, path, err, errno);
  return LSCE_OK;
}

int lsce_npy_write_f64(const char *path, const double *data, int ndim, const int64_t *shape,
                       lsce_err *err) {
  return lsce_npy_write(path, LSCE_DT_F64, data, ndim, shape, err);
}
