/* tests/test_dd.c: the double-double exp (table and series versions) and log1p of
 * include/lsce/dd.h against MPFR at 256 bits, on arguments the row form uses (exp of z - m in
 * [-745, 0], log1p of s1 in [0, 2^24]), and every entry of the 2^(j/256) table: the relative error
 * must stay below 2^-98 for the table exp, 2^-94 for the series exp, 2^-90 for log1p and 2^-106
 * for a table entry (exp results below 2^-960, whose low part is subnormal:
 * absolute error below 2^-1050), the bound verify/certify.c builds on. */
#include <math.h>
#include <mpfr.h>
#include <stdint.h>
#include <stdio.h>
#include "lsce/dd.h"

static double rel_err(lsce_dd got, mpfr_t exact) {
  mpfr_t g, d;
  mpfr_inits2(256, g, d, (mpfr_ptr)0);
  mpfr_set_d(g, got.hi, MPFR_RNDN);
  mpfr_add_d(g, g, got.lo, MPFR_RNDN);
  mpfr_sub(d, g, exact, MPFR_RNDN);
  mpfr_div(d, d, exact, MPFR_RNDN);
  double r = fabs(mpfr_get_d(d, MPFR_RNDN));
  mpfr_clears(g, d, (mpfr_ptr)0);
  return r;
}

/* One exp result: relative error within `bound`, or below 2^-960 (where the low part is subnormal)
 * an absolute error within 2^-1050, negligible next to a row's sum s >= 1. Returns 1 on failure. */
static int check_exp(const char *name, lsce_dd (*f)(lsce_dd), lsce_dd xe, mpfr_t e, double bound,
                     double *worst, int *passed) {
  lsce_dd v = f(xe);
  int ok;
  if (mpfr_get_d(e, MPFR_RNDN) < 0x1p-960) {
    mpfr_t g;
    mpfr_init2(g, 256);
    mpfr_set_d(g, v.hi, MPFR_RNDN);
    mpfr_add_d(g, g, v.lo, MPFR_RNDN);
    mpfr_sub(g, g, e, MPFR_RNDN);
    ok = fabs(mpfr_get_d(g, MPFR_RNDN)) <= 0x1p-1050;
    mpfr_clear(g);
    if (!ok) printf("FAIL %s exp(%a + %a): absolute error above 2^-1050\n", name, xe.hi, xe.lo);
  } else {
    double r = rel_err(v, e);
    if (r > *worst) *worst = r;
    ok = r <= bound;
    if (!ok) printf("FAIL %s exp(%a + %a): rel %g\n", name, xe.hi, xe.lo, r);
  }
  *passed += ok;
  return !ok;
}

/* Every 2^(j/256) entry: hi + lo within 2^-106 of the exact value, |lo| <= ulp(hi)/2. */
static int check_table(int *passed) {
  int failed = 0;
  mpfr_t t;
  mpfr_init2(t, 256);
  for (int j = 0; j < 256; j++) {
    mpfr_set_ui(t, (unsigned)j, MPFR_RNDN);
    mpfr_div_ui(t, t, 256, MPFR_RNDN);
    mpfr_ui_pow(t, 2, t, MPFR_RNDN);
    lsce_dd v = lsce_dd_make(lsce_exp2_tab[j][0], lsce_exp2_tab[j][1]);
    int ok = rel_err(v, t) <= 0x1p-106 && fabs(v.lo) <= ldexp(1.0, ilogb(v.hi) - 53);
    if (ok) (*passed)++; else { failed++; printf("FAIL table entry %d\n", j); }
  }
  mpfr_clear(t);
  return failed;
}

int main(void) {
  uint64_t x = 0x2545F4914F6CDD1DULL;
  double worst_exp = 0, worst_tab = 0, worst_log = 0, bound = ldexp(1.0, -94), bound_log = ldexp(1.0, -90);
  int passed = 0, failed = 0;
  mpfr_t a, e;
  mpfr_inits2(256, a, e, (mpfr_ptr)0);
  failed += check_table(&passed);
  /* edges: the underflow cut, subnormal results, the last normal scalings */
  const double edges[] = {-745.1, -745.0, -744.44, -709.0, -708.4, -708.3, -707.7, -0x1p-1074, -1e-300, -0.5};
  for (unsigned i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    lsce_dd xe = lsce_dd_from(edges[i]);
    mpfr_set_d(a, edges[i], MPFR_RNDN);
    mpfr_exp(e, a, MPFR_RNDN);
    failed += check_exp("table", lsce_dd_exp_table, xe, e, ldexp(1.0, -98), &worst_tab, &passed);
    failed += check_exp("series", lsce_dd_exp_series, xe, e, bound, &worst_exp, &passed);
  }
  for (int n = 0; n < 200000; n++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    double u = (double)(x >> 11) / 9007199254740992.0;
    /* exp: a double-double argument hi + lo as two_sum(z, -m) produces */
    /* the fifth kind sits on the table's rounding boundaries, odd multiples of ln2/512 */
    double hi = -(n % 5 == 0 ? u * 745.0 : n % 5 == 1 ? u * 40.0 : n % 5 == 2 ? u * 1e-3 : n % 5 == 3 ? u * 1e-12
                  : (double)(2 * (n / 5) + 1) * 0x1.62e42fefa39efp-10);
    double lo = hi * ldexp(u - 0.5, -54);
    lsce_dd xe = lsce_fast_two_sum(hi, lo);
    mpfr_set_d(a, xe.hi, MPFR_RNDN);
    mpfr_add_d(a, a, xe.lo, MPFR_RNDN);
    mpfr_exp(e, a, MPFR_RNDN);
    failed += check_exp("table", lsce_dd_exp_table, xe, e, ldexp(1.0, -98), &worst_tab, &passed);
    failed += check_exp("series", lsce_dd_exp_series, xe, e, bound, &worst_exp, &passed);
    /* log1p: s1 in [0, 2^24] */
    double s = n % 3 == 0 ? u * 16777216.0 : n % 3 == 1 ? u * 2.0 : u * 1e-9;
    if (s > 0) {
      lsce_dd xs = lsce_fast_two_sum(s, s * ldexp(u - 0.5, -54));
      mpfr_set_d(a, xs.hi, MPFR_RNDN);
      mpfr_add_d(a, a, xs.lo, MPFR_RNDN);
      mpfr_log1p(e, a, MPFR_RNDN);
      double r = rel_err(lsce_dd_log1p(xs), e);
      if (r > worst_log) worst_log = r;
      if (r <= bound_log) passed++; else { failed++; if (failed < 10) printf("FAIL log1p(%a + %a): rel %g\n", xs.hi, xs.lo, r); }
    }
  }
  mpfr_clears(a, e, (mpfr_ptr)0);
  printf("worst relative error: table exp %.3g (2^%.1f), series exp %.3g (2^%.1f), log1p %.3g (2^%.1f)\n", worst_tab, log2(worst_tab), worst_exp, log2(worst_exp), worst_log,
         log2(worst_log));
  printf("%d passed, %d failed, 0 skipped\n", passed, failed);
  return failed != 0;
}
