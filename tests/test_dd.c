/* tests/test_dd.c: the double-double exp and log1p of include/lsce/dd.h against MPFR at 256 bits,
 * on arguments the row form uses (exp of z - m in [-745, 0], log1p of s1 in [0, 2^24]): the
 * relative error must stay below 2^-94 for exp and 2^-90 for log1p (exp results below 2^-960, whose low part is subnormal:
 * absolute error below 2^-1050), the bound impls/certify.c builds on. */
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

int main(void) {
  uint64_t x = 0x2545F4914F6CDD1DULL;
  double worst_exp = 0, worst_log = 0, bound = ldexp(1.0, -94), bound_log = ldexp(1.0, -90);
  int passed = 0, failed = 0;
  mpfr_t a, e;
  mpfr_inits2(256, a, e, (mpfr_ptr)0);
  for (int n = 0; n < 200000; n++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    double u = (double)(x >> 11) / 9007199254740992.0;
    /* exp: a double-double argument hi + lo as two_sum(z, -m) produces */
    double hi = -(n % 4 == 0 ? u * 745.0 : n % 4 == 1 ? u * 40.0 : n % 4 == 2 ? u * 1e-3 : u * 1e-12);
    double lo = hi * ldexp(u - 0.5, -54);
    lsce_dd xe = lsce_fast_two_sum(hi, lo);
    mpfr_set_d(a, xe.hi, MPFR_RNDN);
    mpfr_add_d(a, a, xe.lo, MPFR_RNDN);
    mpfr_exp(e, a, MPFR_RNDN);
    /* below 2^-960 the low part is subnormal: there the bound is absolute, 2^-1050, negligible next
     * to a row's sum s >= 1 */
    if (mpfr_get_d(e, MPFR_RNDN) < 0x1p-960) {
      lsce_dd v = lsce_dd_exp(xe);
      mpfr_t g;
      mpfr_init2(g, 256);
      mpfr_set_d(g, v.hi, MPFR_RNDN);
      mpfr_add_d(g, g, v.lo, MPFR_RNDN);
      mpfr_sub(g, g, e, MPFR_RNDN);
      int ok = fabs(mpfr_get_d(g, MPFR_RNDN)) <= 0x1p-1050;
      mpfr_clear(g);
      if (ok) passed++; else { failed++; if (failed < 10) printf("FAIL exp(%a + %a): absolute error above 2^-1050\n", xe.hi, xe.lo); }
    } else {
      double r = rel_err(lsce_dd_exp(xe), e);
      if (r > worst_exp) worst_exp = r;
      if (r <= bound) passed++; else { failed++; if (failed < 10) printf("FAIL exp(%a + %a): rel %g\n", xe.hi, xe.lo, r); }
    }
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
  printf("worst relative error: exp %.3g (2^%.1f), log1p %.3g (2^%.1f)\n", worst_exp, log2(worst_exp), worst_log,
         log2(worst_log));
  printf("%d passed, %d failed, 0 skipped\n", passed, failed);
  return failed != 0;
}
