/* tests/test_dblone_exp.c: the double single pass's exp (impls/cpu/simd_dblone.inc: simd.h's
 * vd_exp_tab_nc, the table exp without its clamp, of the logit itself) at every width the machine has
 * (AVX2, AVX-512), against MPFR at 128 bits on the pass's guard [-700, 680]: within
 * LSCE_EXP_REL_TAB = 2^-42 (the constant the pass's bound uses, impls/rowbound.h) and every result a
 * finite normal double. Arguments: random at several scales of either sign, floats (the pass's
 * logits are floats, bfloat16 and float16 values among them), the rounding boundaries of
 * n = round(16 x / ln2) on both sides, the ends -700 and 680 and their neighbours, 0 and tiny values;
 * the worst measured error is printed. */
#include <float.h>
#include <math.h>
#include <mpfr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "cpu/kernels.h"
#include "cpu/rowguard.h"

#define NARG 400000

static int check(const char *isa, void (*f)(const double *, double *, int64_t), const double *x, double *y,
                 int *passed) {
  f(x, y, NARG);
  mpfr_t e, d;
  mpfr_inits2(128, e, d, (mpfr_ptr)0);
  int failed = 0;
  double worst = 0;
  for (int i = 0; i < NARG; i++) {
    mpfr_set_d(e, x[i], MPFR_RNDN);
    mpfr_exp(e, e, MPFR_RNDN);
    mpfr_sub_d(d, e, y[i], MPFR_RNDN);
    mpfr_div(d, d, e, MPFR_RNDN);
    double r = fabs(mpfr_get_d(d, MPFR_RNDN));
    if (r > worst) worst = r;
    int ok = r <= LSCE_EXP_REL_TAB && isfinite(y[i]) && y[i] >= DBL_MIN;
    if (ok) (*passed)++;
    else if (++failed <= 5) printf("FAIL %s exp(%a) = %a\n", isa, x[i], y[i]);
  }
  mpfr_clears(e, d, (mpfr_ptr)0);
  printf("%s: worst relative error %.3g (2^%.1f) over %d arguments in [-700, 680]\n", isa, worst, log2(worst), NARG);
  return failed;
}

int main(void) {
  double *x = malloc(sizeof(double) * NARG), *y = malloc(sizeof(double) * NARG);
  if (!x || !y) return 1;
  const double edges[] = {0.0, -0.0, -700.0, 680.0, nextafter(-700.0, 0.0), nextafter(680.0, 0.0), 0x1p-149,
                          -0x1p-149, 0x1p-1074, 0.5 * 0.6931471805599453 / 16, -0.5 * 0.6931471805599453 / 16};
  const int ne = (int)(sizeof edges / sizeof edges[0]);
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < NARG; i++) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    double u = (double)(s >> 11) / 9007199254740992.0;
    double v;
    if (i < ne) v = edges[i];
    else if (i % 5 == 0) v = -700.0 + u * 1380.0;
    else if (i % 5 == 1) v = (2 * u - 1) * 30.0;
    else if (i % 5 == 2) v = (2 * u - 1) * 1e-6;
    else { /* the table's rounding boundaries of n, either sign (|n| <= 15697 at 680, 16158 at -700) */
      int n = (i / 5) % 31000 - 15500;
      v = ((double)n + (n < 0 ? -0.5 : 0.5)) * 0.6931471805599453 / 16 * (1.0 + (u - 0.5) * 1e-14);
    }
    if (v > 680.0) v = 680.0;
    if (v < -700.0) v = -700.0;
    if (i >= ne && i % 2 == 0) v = (double)(float)v; /* the pass's arguments are floats */
    if (v > 680.0) v = 680.0;
    if (v < -700.0) v = -700.0;
    x[i] = v;
  }
  int passed = 0, failed = 0, skipped = 0;
  if (lsce_cpu_has_avx2()) failed += check("avx2 vd_exp_tab_nc", lsce_exp_one_array_tab_avx2, x, y, &passed);
  else { skipped++; printf("avx2: not on this machine\n"); }
#ifndef LSCE_NO_AVX512
  if (lsce_cpu_has_avx512()) failed += check("avx512 vd_exp_tab_nc", lsce_exp_one_array_tab_avx512, x, y, &passed);
  else { skipped++; printf("avx512: not on this machine\n"); }
#else
  skipped++;
  printf("avx512: not built\n");
#endif
  free(x);
  free(y);
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed) return 1;
  return passed ? 0 : 77;
}
