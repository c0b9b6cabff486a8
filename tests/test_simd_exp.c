/* tests/test_simd_exp.c: the SIMD rows' double exps (impls/cpu/simd.h) at every width the machine
 * has (AVX2, AVX-512), against MPFR at 128 bits, exactly 0 below -708: vd_exp (the accurate kernels)
 * within LSCE_EXP_REL_SIMD = 2^-46 on [-708, 0], and vd_exp_tab (the first-pass kernels) within
 * LSCE_EXP_REL_TAB = 2^-42, the constants of the rows' a-posteriori bound (impls/cpu/rowguard.h).
 * vd_exp2x (the float64 first pass), exp of a pair xh + xl (|xl| <= ulp(xh)/2) as a pair, within
 * LSCE_EXP_REL_F64 = 2^-54 on the same arguments with random low parts; and combiner.h's
 * lsce_exp_pair (the scalar rows' float64 first pass: the 256-entry table, degree 5 in double, a
 * pair) within LSCE_EXP_REL_PAIR = 2^-58 on the same pairs where the result is at least 2^-969,
 * 2^-1073 absolute below (no cut at -708: it is 0 only below -746). vf_exp32 (the float32 first
 * pass), exp of the exact pair s + l = z - M within lsce_exp_rel_f32(|z - M|, 1) (check32), and of the
 * logit itself on [-80, 80] as the single pass calls it within lsce_exp_rel_f32(|z|, 0) (check32z):
 * impls/rowbound.h's bound, 1.84375 2^-24 (2^-26 more for a pair) plus |k| 1.906e-9, taken argument by
 * argument (the passes take it at the largest argument of the slice, which is larger). vd_exp_tab_nc, the double single
 * pass's exp of the logit itself (simd_dblone.inc), vd_exp_one, within LSCE_EXP_REL_ONE on [-700, 680] (one_args).
 * The 16-bit exp tables of the table pass (impls/cpu/tab16.c, read through simd_tab16.inc): every
 * one of the 65536 bfloat16 and float16 patterns, within LSCE_EXP_REL_T16 = 2^-52 of exp of its value
 * and a normal double where the value is finite and at most LSCE_TAB16_GUARD = 640 in size, a NaN for
 * every other pattern (check_tab16).
 * vd_exp1x (the float64 single pass) of the logit itself on [-600, 600] within LSCE_EXP_REL_F64
 * (check1x); vd_exp2xx (the float64 accurate rung) on vd_exp2x's pairs within LSCE_EXP_REL_F64X = 2^-61.
 * Arguments: random at several scales, the rounding boundaries of n = round(x / ln2) and of
 * n = round(16 x / ln2) (the table's), the ends; the worst measured error of each is printed. */
#include <math.h>
#include <mpfr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/kernels.h"
#include "cpu/elem.h"
#include "cpu/rowguard.h"
#include "cpu/tab16.h"

#define NARG 400000

static int check(const char *isa, void (*f)(const double *, double *, int64_t), double bound,
                 const double *x, double *y, int *passed) {
  f(x, y, NARG);
  mpfr_t e, d;
  mpfr_inits2(128, e, d, (mpfr_ptr)0);
  int failed = 0;
  double worst = 0;
  for (int i = 0; i < NARG; i++) {
    int ok;
    if (x[i] < -708.0) {
      ok = y[i] == 0.0;
    } else {
      mpfr_set_d(e, x[i], MPFR_RNDN);
      mpfr_exp(e, e, MPFR_RNDN);
      mpfr_sub_d(d, e, y[i], MPFR_RNDN);
      mpfr_div(d, d, e, MPFR_RNDN);
      double r = fabs(mpfr_get_d(d, MPFR_RNDN));
      if (r > worst) worst = r;
      ok = r <= bound; /* the constant the rows' error bound uses (cpu/rowguard.h) */
    }
    if (ok) (*passed)++;
    else if (++failed <= 5) printf("FAIL %s exp(%a) = %a\n", isa, x[i], y[i]);
  }
  mpfr_clears(e, d, (mpfr_ptr)0);
  printf("%s: worst relative error %.3g (2^%.1f) over %d arguments\n", isa, worst, log2(worst), NARG);
  return failed;
}

/* lsce_exp_pair over an array (for check2) */
static void exp_pair_array(const double *xh, const double *xl, double *yh, double *yl, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    lsce_dd e = lsce_exp_pair(lsce_dd_make(xh[i], xl[i]));
    yh[i] = e.hi;
    yl[i] = e.lo;
  }
}

/* vd_exp2x (cut: 0 below -708) and lsce_exp_pair: yh + yl against exp(xh + xl), within `bound`
 * relative where exp is at least `rel_from`, within bound exp + `absf` below */
static int check2(const char *isa, void (*f)(const double *, const double *, double *, double *, int64_t),
                  double bound, int cut, double rel_from, double absf, const double *x, double *y, int *passed) {
  double *xl = malloc(sizeof(double) * NARG), *yl = malloc(sizeof(double) * NARG);
  if (!xl || !yl) { free(xl); free(yl); return 1; }
  uint64_t s = 0x2545F4914F6CDD1DULL;
  for (int i = 0; i < NARG; i++) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    double u = (double)(s >> 11) / 9007199254740992.0 - 0.5; /* [-1/2, 1/2) */
    double ulp = x[i] != 0 ? nextafter(fabs(x[i]), INFINITY) - fabs(x[i]) : 0.0;
    xl[i] = (i % 3 == 0) ? 0.0 : u * ulp; /* |xl| <= ulp(xh)/2 */
  }
  f(x, xl, y, yl, NARG);
  mpfr_t e, d;
  mpfr_inits2(256, e, d, (mpfr_ptr)0);
  int failed = 0;
  double worst = 0;
  for (int i = 0; i < NARG; i++) {
    int ok;
    if (cut && x[i] < -708.0) {
      ok = y[i] == 0.0 && yl[i] == 0.0;
    } else {
      mpfr_set_d(e, x[i], MPFR_RNDN);
      mpfr_add_d(e, e, xl[i], MPFR_RNDN);
      mpfr_exp(e, e, MPFR_RNDN);
      mpfr_set_d(d, y[i], MPFR_RNDN);
      mpfr_add_d(d, d, yl[i], MPFR_RNDN);
      mpfr_sub(d, e, d, MPFR_RNDN);
      /* below 2^-969 the low part is subnormal (absolute 2^-1074 more, within the rows' LSCE_EXP_ABS) */
      double ev = mpfr_get_d(e, MPFR_RNDN), ad = fabs(mpfr_get_d(d, MPFR_RNDN));
      mpfr_div(d, d, e, MPFR_RNDN);
      double r = fabs(mpfr_get_d(d, MPFR_RNDN));
      if (ev >= rel_from && r > worst) worst = r;
      ok = ev >= rel_from ? r <= bound /* the constant the float64 first pass's bound uses (cpu/rowguard.h) */
                          : ad <= bound * ev + absf;
    }
    if (ok) (*passed)++;
    else if (++failed <= 5) printf("FAIL %s exp2x(%a + %a) = %a + %a\n", isa, x[i], xl[i], y[i], yl[i]);
  }
  mpfr_clears(e, d, (mpfr_ptr)0);
  printf("%s: worst relative error %.3g (2^%.1f) over %d argument pairs (results >= %g)\n", isa, worst, log2(worst), NARG, rel_from);
  free(xl);
  free(yl);
  return failed;
}

/* vd_exp1x (the float64 single pass, impls/cpu/simd_f64pass.inc) of the logit itself on [-600, 600]:
 * yh + yl against exp(x), within LSCE_EXP_REL_F64. Arguments: random at several scales of either
 * sign, the rounding ties of n = round(16 x / ln2) on both sides, +-600 and 0. */
static int check1x(const char *isa, void (*f)(const double *, double *, double *, int64_t), int *passed) {
  double *x = malloc(sizeof(double) * NARG), *yh = malloc(sizeof(double) * NARG), *yl = malloc(sizeof(double) * NARG);
  if (!x || !yh || !yl) { free(x); free(yh); free(yl); return 1; }
  uint64_t s = 0xD1B54A32D192ED03ULL;
  const double edges[] = {600.0, -600.0, 0.0, -0.0, 0x1p-1074, 599.999, -599.999};
  const int ne = (int)(sizeof edges / sizeof edges[0]);
  for (int i = 0; i < NARG; i++) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    double u = (double)(s >> 11) / 9007199254740992.0, sg = (i & 1) ? -1.0 : 1.0;
    if (i < ne) x[i] = edges[i];
    else if (i % 4 == 0) x[i] = sg * u * 600.0;
    else if (i % 4 == 1) x[i] = sg * u * 30.0;
    else if (i % 4 == 2) x[i] = sg * u * 1e-6;
    else x[i] = sg * ((double)((i / 8) % 13850) + 0.5) * 0.6931471805599453 / 16 * (1.0 + (u - 0.5) * 1e-15); /* ties of n */
  }
  f(x, yh, yl, NARG);
  mpfr_t e, d;
  mpfr_inits2(256, e, d, (mpfr_ptr)0);
  int failed = 0;
  double worst = 0;
  for (int i = 0; i < NARG; i++) {
    mpfr_set_d(e, x[i], MPFR_RNDN);
    mpfr_exp(e, e, MPFR_RNDN);
    mpfr_set_d(d, yh[i], MPFR_RNDN);
    mpfr_add_d(d, d, yl[i], MPFR_RNDN);
    mpfr_sub(d, e, d, MPFR_RNDN);
    mpfr_div(d, d, e, MPFR_RNDN);
    double r = fabs(mpfr_get_d(d, MPFR_RNDN));
    if (r > worst) worst = r;
    if (r <= LSCE_EXP_REL_F64) (*passed)++;
    else if (++failed <= 5) printf("FAIL %s exp1x(%a) = %a + %a\n", isa, x[i], yh[i], yl[i]);
  }
  mpfr_clears(e, d, (mpfr_ptr)0);
  printf("%s: worst relative error %.3g (2^%.1f) over %d arguments in [-600, 600]\n", isa, worst, log2(worst), NARG);
  free(x);
  free(yh);
  free(yl);
  return failed;
}

/* vf_exp32 (the float32 first pass, impls/cpu/simd_f32pass.inc) on the pairs that pass forms: a
 * pivot M >= |z| (floats), s = fl(z - M), l = z - fl(s + M) (Fast2Sum, checked exact here), z - M in
 * [-80, 0]; against exp(z - M), within lsce_exp_rel_f32(M - z, 1). Pivots and logits at several scales, bfloat16-
 * rounded logits, z = M, and s at the ties of k = round(s log2 e). */
static int check32(const char *isa, void (*f)(const float *, const float *, float *, int64_t), int *passed) {
  float *sv = malloc(sizeof(float) * NARG), *lv = malloc(sizeof(float) * NARG), *yv = malloc(sizeof(float) * NARG);
  float *zv = malloc(sizeof(float) * NARG), *Mv = malloc(sizeof(float) * NARG);
  if (!sv || !lv || !yv || !zv || !Mv) { free(sv); free(lv); free(yv); free(zv); free(Mv); return 1; }
  uint64_t st = 0xD1B54A32D192ED03ULL;
  for (int i = 0; i < NARG; i++) {
    st ^= st << 13; st ^= st >> 7; st ^= st << 17;
    double u = (double)(st >> 11) / 9007199254740992.0;
    double v = (double)((st * 0x9E3779B97F4A7C15ULL) >> 11) / 9007199254740992.0;
    const double scales[] = {1e-3, 1.0, 5.0, 20.0, 40.0};
    float M = (float)(scales[i % 5] * (0.5 + v));
    double lo = -(double)M > (double)M - 80.0 ? -(double)M : (double)M - 80.0; /* z in [lo, M] */
    double zd;
    if (i % 7 == 0) zd = M;                                                        /* z = M */
    else if (i % 7 == 1) zd = M - ((double)((i / 7) % 115) + 0.5) * 0.6931471805599453 * (1 + (u - 0.5) * 1e-6); /* ties of k */
    else if (i % 7 == 2) zd = M - u * 1e-4;
    else zd = lo + u * (M - lo);
    if (zd < lo) zd = lo;
    float z = (float)zd;
    if (i % 3 == 0) { /* bfloat16-rounded logits (toward zero: stays within [lo, M] for lo <= 0 <= M) */
      uint32_t b;
      memcpy(&b, &z, 4);
      b &= 0xFFFF0000u;
      memcpy(&z, &b, 4);
    }
    if (z < -M || z > M) z = M;
    zv[i] = z; Mv[i] = M;
    float s = z - M;
    sv[i] = s;
    lv[i] = z - (s + M);
  }
  f(sv, lv, yv, NARG);
  mpfr_t e, d, x;
  mpfr_inits2(128, e, d, x, (mpfr_ptr)0);
  int failed = 0;
  double worst = 0, wratio = 0;
  for (int i = 0; i < NARG; i++) {
    mpfr_set_flt(x, zv[i], MPFR_RNDN);
    mpfr_sub_d(x, x, (double)Mv[i], MPFR_RNDN); /* z - M exactly (128 bits) */
    mpfr_set_flt(d, sv[i], MPFR_RNDN);
    mpfr_add_d(d, d, (double)lv[i], MPFR_RNDN);
    int exact = mpfr_equal_p(d, x);
    mpfr_exp(e, x, MPFR_RNDN);
    mpfr_sub_d(d, e, (double)yv[i], MPFR_RNDN);
    mpfr_div(d, d, e, MPFR_RNDN);
    double r = fabs(mpfr_get_d(d, MPFR_RNDN));
    if (r > worst) worst = r;
    const double bound = lsce_exp_rel_f32((double)Mv[i] - (double)zv[i], 1);
    if (r / bound > wratio) wratio = r / bound;
    int ok = exact && mpfr_get_d(x, MPFR_RNDN) >= -80.0 && r <= bound;
    if (ok) (*passed)++;
    else if (++failed <= 5) printf("FAIL %s exp32(%a + %a) = %a (Fast2Sum exact: %d)\n", isa, sv[i], lv[i], yv[i], exact);
  }
  mpfr_clears(e, d, x, (mpfr_ptr)0);
  printf("%s: worst relative error %.3g (2^%.1f) over %d argument pairs; at most %.3f of its bound\n", isa, worst,
         log2(worst), NARG, wratio);
  free(sv); free(lv); free(yv); free(zv); free(Mv);
  return failed;
}

/* vf_exp32 of the logit itself (the single pass, simd_f32pass.inc stats_f32_one: l = 0, no pivot) on
 * [-80, 80], the pass's guard: random floats at several scales of either sign, bfloat16-rounded ones,
 * the ties of k = round(z log2 e) on both sides, 0, +-80 and their neighbours, tiny arguments; against
 * exp(z), within lsce_exp_rel_f32(|z|, 0), and every result a normal float. */
static int check32z(const char *isa, void (*f)(const float *, float *, int64_t), int *passed) {
  float *zv = malloc(sizeof(float) * NARG), *yv = malloc(sizeof(float) * NARG);
  if (!zv || !yv) { free(zv); free(yv); return 1; }
  const float edges[] = {0.0f, -0.0f, 80.0f, -80.0f, 0x1.3ffffep6f, -0x1.3ffffep6f, 0x1p-149f, -0x1p-126f, 0.34657359f, -0.34657359f};
  const int ne = (int)(sizeof edges / sizeof edges[0]);
  uint64_t st = 0x2545F4914F6CDD1DULL;
  for (int i = 0; i < NARG; i++) {
    st ^= st << 13; st ^= st >> 7; st ^= st << 17;
    double u = (double)(st >> 11) / 9007199254740992.0;
    const double scales[] = {1e-3, 1.0, 5.0, 20.0, 80.0};
    double zd;
    if (i < ne) zd = edges[i];
    else if (i % 5 == 1) { /* ties of k, either sign */
      int k = (i / 5) % 231 - 115;
      zd = ((double)k + (k < 0 ? -0.5 : 0.5)) * 0.6931471805599453 * (1 + (u - 0.5) * 1e-6);
    } else zd = scales[i % 5] * (2 * u - 1);
    if (zd > 80) zd = 80;
    if (zd < -80) zd = -80;
    float z = (float)zd;
    if (i % 3 == 0) { /* bfloat16-rounded (toward zero: stays in [-80, 80]) */
      uint32_t b;
      memcpy(&b, &z, 4);
      b &= 0xFFFF0000u;
      memcpy(&z, &b, 4);
    }
    zv[i] = z;
  }
  f(zv, yv, NARG);
  mpfr_t e, d;
  mpfr_inits2(128, e, d, (mpfr_ptr)0);
  int failed = 0;
  double worst = 0, wratio = 0;
  for (int i = 0; i < NARG; i++) {
    mpfr_set_flt(e, zv[i], MPFR_RNDN);
    mpfr_exp(e, e, MPFR_RNDN);
    mpfr_sub_d(d, e, (double)yv[i], MPFR_RNDN);
    mpfr_div(d, d, e, MPFR_RNDN);
    double r = fabs(mpfr_get_d(d, MPFR_RNDN));
    if (r > worst) worst = r;
    const double bound = lsce_exp_rel_f32(fabs((double)zv[i]), 0);
    if (r / bound > wratio) wratio = r / bound;
    int ok = r <= bound && fabsf(yv[i]) >= 0x1p-126f && isfinite(yv[i]);
    if (ok) (*passed)++;
    else if (++failed <= 5) printf("FAIL %s exp32z(%a) = %a\n", isa, zv[i], yv[i]);
  }
  mpfr_clears(e, d, (mpfr_ptr)0);
  printf("%s: worst relative error %.3g (2^%.1f) over %d arguments in [-80, 80]; at most %.3f of its bound\n", isa,
         worst, log2(worst), NARG, wratio);
  free(zv); free(yv);
  return failed;
}

/* The double single pass's exp (impls/cpu/simd_dblone.inc: vd_exp_one, the table exp with a degree-4
 * polynomial, of the logit itself; issue #12) on the pass's guard [-700, 680]: check's
 * arguments there, so within LSCE_EXP_REL_ONE relative (which also makes every result a finite normal
 * double): random at several scales of either sign, half of them floats (the pass's logits are), the
 * table's rounding boundaries of n = round(16 x / ln2) on both sides, the ends and their neighbours,
 * 0 and tiny values. */
static void one_args(double *x) {
  const double edges[] = {0.0, -0.0, -700.0, 680.0, nextafter(-700.0, 0.0), nextafter(680.0, 0.0), 0x1p-149,
                          -0x1p-149, 0x1p-1074, 0.5 * 0.6931471805599453 / 16, -0.5 * 0.6931471805599453 / 16};
  const int ne = (int)(sizeof edges / sizeof edges[0]);
  uint64_t s = 0x6A09E667F3BCC909ULL;
  for (int i = 0; i < NARG; i++) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    double u = (double)(s >> 11) / 9007199254740992.0, v;
    if (i < ne) v = edges[i];
    else if (i % 5 == 0) v = -700.0 + u * 1380.0;
    else if (i % 5 == 1) v = (2 * u - 1) * 30.0;
    else if (i % 5 == 2) v = (2 * u - 1) * 1e-6;
    else { /* |n| <= 15697 at 680, 16158 at -700 */
      int n = (i / 5) % 31000 - 15500;
      v = ((double)n + (n < 0 ? -0.5 : 0.5)) * 0.6931471805599453 / 16 * (1.0 + (u - 0.5) * 1e-14);
    }
    if (i >= ne && i % 2 == 0) v = (double)(float)v;
    x[i] = v > 680.0 ? 680.0 : v < -700.0 ? -700.0 : v;
  }
}

/* every pattern of dtype dt through the table as the pass reads it (check_tab16, above) */
static int check_tab16(const char *isa, int (*f)(lsce_dtype, const uint16_t *, double *, int64_t), lsce_dtype dt,
                       int *passed) {
  uint16_t *p = malloc(sizeof(uint16_t) * 65536);
  double *y = malloc(sizeof(double) * 65536);
  int failed = 0, in = 0;
  if (!p || !y) { free(p); free(y); return 1; }
  for (uint32_t b = 0; b < 65536; b++) p[b] = (uint16_t)b;
  if (!f(dt, p, y, 65536)) { printf("FAIL %s: no table\n", isa); free(p); free(y); return 1; }
  mpfr_t e, d;
  mpfr_inits2(128, e, d, (mpfr_ptr)0);
  double worst = 0;
  for (uint32_t b = 0; b < 65536; b++) {
    const double v = lsce_ld(p, dt, b);
    int ok;
    if (isfinite(v) && fabs(v) <= LSCE_TAB16_GUARD) {
      in++;
      mpfr_set_d(e, v, MPFR_RNDN); /* exact: a 16-bit value */
      mpfr_exp(e, e, MPFR_RNDN);
      mpfr_sub_d(d, e, y[b], MPFR_RNDN);
      mpfr_div(d, d, e, MPFR_RNDN);
      double r = fabs(mpfr_get_d(d, MPFR_RNDN));
      if (r > worst) worst = r;
      ok = r <= LSCE_EXP_REL_T16 && fabs(y[b]) >= 0x1p-1022 && isfinite(y[b]);
    } else {
      ok = isnan(y[b]);
    }
    if (ok) (*passed)++;
    else if (++failed <= 5) printf("FAIL %s T[0x%04x] (%a) = %a\n", isa, b, v, y[b]);
  }
  mpfr_clears(e, d, (mpfr_ptr)0);
  printf("%s: worst relative error %.3g (2^%.1f) over the %d patterns within the guard, NaN on the other %d\n", isa,
         worst, log2(worst), in, 65536 - in);
  free(p);
  free(y);
  return failed;
}

int main(void) {
  double *x = malloc(sizeof(double) * NARG), *y = malloc(sizeof(double) * NARG);
  if (!x || !y) return 1;
  uint64_t s = 0x9E3779B97F4A7C15ULL;
  const double edges[] = {0.0, -0.0, -708.0, -707.99, -708.01, -745.0, -1e300, -0x1p-1074, -0.5 * 0.6931471805599453};
  int ne = (int)(sizeof edges / sizeof edges[0]);
  for (int i = 0; i < NARG; i++) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    double u = (double)(s >> 11) / 9007199254740992.0;
    if (i < ne) x[i] = edges[i];
    else if (i % 4 == 0) x[i] = -u * 708.0;
    else if (i % 4 == 1) x[i] = -u * 30.0;
    else if (i % 4 == 2) x[i] = -u * 1e-6;
    else if (i % 8 == 3) x[i] = -((double)((i / 8) % 2048) + 0.5) * 0.6931471805599453 * (1.0 + (u - 0.5) * 1e-15); /* ties of n */
    else x[i] = -((double)((i / 8) % 16352) + 0.5) * 0.6931471805599453 / 16 * (1.0 + (u - 0.5) * 1e-15); /* the table's */
  }
  int passed = 0, failed = 0, skipped = 0;
  failed += check2("scalar lsce_exp_pair", exp_pair_array, LSCE_EXP_REL_PAIR, 0, 0x1p-969, 0x1p-1073, x, y, &passed);
  if (lsce_cpu_has_avx2()) {
    failed += check("avx2 vd_exp", lsce_exp_array_avx2, LSCE_EXP_REL_SIMD, x, y, &passed);
    failed += check("avx2 vd_exp_tab", lsce_exp_array_tab_avx2, LSCE_EXP_REL_TAB, x, y, &passed);
    failed += check2("avx2 vd_exp2x", lsce_exp2x_array_tab_avx2, LSCE_EXP_REL_F64, 1, 0x1p-969, 0x1p-1074, x, y, &passed);
    failed += check1x("avx2 vd_exp1x (float64 single pass)", lsce_exp1x_array_tab_avx2, &passed);
    failed += check2("avx2 vd_exp2xx", lsce_exp2xx_array_avx2, LSCE_EXP_REL_F64X, 1, 0x1p-969, 0x1p-1074, x, y, &passed);
    failed += check32("avx2 vf_exp32", lsce_exp32_array_tab_avx2, &passed);
    failed += check32z("avx2 vf_exp32 (single pass)", lsce_exp32z_array_tab_avx2, &passed);
    failed += check_tab16("avx2 bfloat16 exp table", lsce_tab16_array_tab_avx2, LSCE_DT_BF16, &passed);
    failed += check_tab16("avx2 float16 exp table", lsce_tab16_array_tab_avx2, LSCE_DT_F16, &passed);
  } else { skipped++; printf("avx2: not on this machine\n"); }
#ifndef LSCE_NO_AVX512
  if (lsce_cpu_has_avx512()) {
    failed += check("avx512 vd_exp", lsce_exp_array_avx512, LSCE_EXP_REL_SIMD, x, y, &passed);
    failed += check("avx512 vd_exp_tab", lsce_exp_array_tab_avx512, LSCE_EXP_REL_TAB, x, y, &passed);
    failed += check2("avx512 vd_exp2x", lsce_exp2x_array_tab_avx512, LSCE_EXP_REL_F64, 1, 0x1p-969, 0x1p-1074, x, y, &passed);
    failed += check1x("avx512 vd_exp1x (float64 single pass)", lsce_exp1x_array_tab_avx512, &passed);
    failed += check2("avx512 vd_exp2xx", lsce_exp2xx_array_avx512, LSCE_EXP_REL_F64X, 1, 0x1p-969, 0x1p-1074, x, y, &passed);
    failed += check32("avx512 vf_exp32", lsce_exp32_array_tab_avx512, &passed);
    failed += check32z("avx512 vf_exp32 (single pass)", lsce_exp32z_array_tab_avx512, &passed);
    failed += check_tab16("avx512 bfloat16 exp table", lsce_tab16_array_tab_avx512, LSCE_DT_BF16, &passed);
    failed += check_tab16("avx512 float16 exp table", lsce_tab16_array_tab_avx512, LSCE_DT_F16, &passed);
  }
  else { skipped++; printf("avx512: not on this machine\n"); }
#else
  skipped++;
  printf("avx512: not built\n");
#endif
  one_args(x); /* the double single pass's exp on [-700, 680] (one_args) */
  if (lsce_cpu_has_avx2()) failed += check("avx2 vd_exp_one [-700, 680]", lsce_exp_one_array_tab_avx2, LSCE_EXP_REL_ONE, x, y, &passed);
#ifndef LSCE_NO_AVX512
  if (lsce_cpu_has_avx512()) failed += check("avx512 vd_exp_one [-700, 680]", lsce_exp_one_array_tab_avx512, LSCE_EXP_REL_ONE, x, y, &passed);
#endif
  free(x);
  free(y);
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed) return 1;
  return passed ? 0 : 77;
}
