/* reference/ulp.c: the ULP metric. |y - r| is formed in double-double from r = hi + lo (hi, lo the
 * certified golden), so the figure is exact to about 2^-100 relative; lsce_ulp_tie decides, exactly
 * (MPFR at 2200 bits holds any sum of three doubles), on which side of a figure the exact error
 * lies, so a figure equal to a bound is judged by the exact r. */
#include <float.h>
#include <math.h>
#include <mpfr.h>
#include "lsce/dd.h"
#include "lsce/ulp.h"

int lsce_ulp_prec(lsce_dtype t) { return lsce_ulp_prec_hd(t); }

double lsce_inf_threshold(lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F32: return ldexp(1.0, 128) - ldexp(1.0, 103); /* FLT_MAX + ulp/2 */
  case LSCE_DT_F16: return 65520.0;
  case LSCE_DT_BF16: return ldexp(1.0, 128) - ldexp(1.0, 119); /* 0x7f7f + ulp/2 */
  default: return INFINITY; /* a float64 r rounds to inf iff hi = RN64(r) is inf */
  }
}

double lsce_ulp_of(double x, lsce_dtype t) { return lsce_ulp_of_hd(x, t); }

/* sign of |r| - |hi|: r - hi is lo + rest, with rest below half an ulp of lo */
static int mag_dir(double hi, double lo, int rs) {
  int s = lo > 0 ? 1 : lo < 0 ? -1 : rs;
  return hi < 0 ? -s : s;
}

static int is_pow2(double x) {
  int e;
  return x != 0 && isfinite(x) && frexp(fabs(x), &e) == 0.5;
}

double lsce_ulp_of_exact(double hi, double lo, int rs, lsce_dtype t) {
  /* hi = RN64(r) is a power of two and |r| below it: r lies in the binade under hi */
  if (is_pow2(hi) && mag_dir(hi, lo, rs) < 0) return lsce_ulp_of(nextafter(fabs(hi), 0.0), t);
  return lsce_ulp_of(hi, t);
}

double lsce_tau(double magnitude, lsce_dtype t) { return lsce_tau_hd(magnitude, t); }

double lsce_round_to(double x, lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F32: return (double)lsce_double_to_f32(x);
  case LSCE_DT_F16: return lsce_f16_to_double(lsce_double_to_f16(x));
  case LSCE_DT_BF16: return lsce_bf16_to_double(lsce_double_to_bf16(x));
  default: return x;
  }
}

/* |r| >= the threshold (ties at it go to the infinity: max has an odd significand) */
int lsce_rounds_to_inf(double hi, double lo, int rs, lsce_dtype t) {
  if (isinf(hi)) return 1;
  double X = lsce_inf_threshold(t);
  return fabs(hi) > X || (fabs(hi) == X && mag_dir(hi, lo, rs) >= 0);
}

/* |y - (hi + lo)| in double-double */
static double absdiff(double y, double hi, double lo) {
  lsce_dd d = lsce_two_sum(y, -hi);
  d = lsce_dd_add_d(d, -lo);
  return fabs(d.hi + d.lo);
}

double lsce_ulp_err_x(double y, double hi, double lo, int rs, double tau, lsce_dtype t, double *u) {
  if (u) *u = 1.0;
  if (isnan(hi) || isnan(y)) return (isnan(hi) && isnan(y)) ? 0.0 : INFINITY;
  int rinf = lsce_rounds_to_inf(hi, lo, rs, t);
  if (isinf(y) || rinf) return (isinf(y) && rinf && (y > 0) == (hi > 0)) ? 0.0 : INFINITY;
  double ur = lsce_ulp_of_exact(hi, lo, rs, t), ut = lsce_ulp_of(tau, t);
  double uu = ur > ut ? ur : ut; /* ulp_T(max(|r|, tau)): ulp_T is monotone */
  if (u) *u = uu;
  return absdiff(y, hi, lo) / uu;
}

double lsce_ulp_err_row_x(const double *g, const double *hi, const double *lo, const signed char *rs,
                          int64_t K, double tau, lsce_dtype t, int64_t *worst_j, double *u) {
  double num = 0.0, H = 0.0;
  int H_up = 0; /* some entry with |hi_j| = H has |r_j| >= H */
  int64_t wj = 0;
  if (u) *u = 1.0;
  for (int64_t j = 0; j < K; j++) {
    double l = lo ? lo[j] : 0.0;
    int s = rs ? rs[j] : 0;
    if (isnan(hi[j]) || isnan(g[j])) {
      if (isnan(hi[j]) && isnan(g[j])) continue;
      if (worst_j) *worst_j = j;
      return INFINITY;
    }
    double h = fabs(hi[j]); /* max_j |r_j| counts every entry, those rounding to inf too */
    if (h > H) { H = h; H_up = mag_dir(hi[j], l, s) >= 0; }
    else if (h == H && mag_dir(hi[j], l, s) >= 0) H_up = 1;
    int rinf = lsce_rounds_to_inf(hi[j], l, s, t);
    if (isinf(g[j]) || rinf) {
      if (isinf(g[j]) && rinf && (g[j] > 0) == (hi[j] > 0)) continue; /* rounds to that infinity */
      if (worst_j) *worst_j = j;
      return INFINITY;
    }
    double a = absdiff(g[j], hi[j], l);
    if (a > num) { num = a; wj = j; }
  }
  if (worst_j) *worst_j = wj;
  double ur = (is_pow2(H) && !H_up) ? lsce_ulp_of(nextafter(H, 0.0), t) : lsce_ulp_of(H, t);
  double ut = lsce_ulp_of(tau, t), uu = ur > ut ? ur : ut;
  if (u) *u = uu;
  if (num == 0.0) return 0.0;
  return num / uu;
}

int lsce_ulp_tie(double f, double y, double hi, double lo, int rs, double u) {
  if (!isfinite(f) || !isfinite(y) || !isfinite(hi) || !isfinite(lo) || !(u > 0) || !isfinite(u)) return 0;
  mpfr_t d, b;
  mpfr_inits2(2200, d, b, (mpfr_ptr)0);
  mpfr_set_d(d, y, MPFR_RNDN);
  mpfr_sub_d(d, d, hi, MPFR_RNDN); /* exact: 2200 bits span every double */
  mpfr_sub_d(d, d, lo, MPFR_RNDN);
  int sd = mpfr_sgn(d);
  mpfr_abs(d, d, MPFR_RNDN);
  mpfr_set_d(b, f, MPFR_RNDN);
  mpfr_mul_d(b, b, u, MPFR_RNDN);  /* exact: u is a power of two */
  int c = mpfr_cmp(d, b);
  mpfr_clears(d, b, (mpfr_ptr)0);
  if (c != 0 || rs == 0) return c > 0 ? 1 : c < 0 ? -1 : 0;
  /* |y - r| = |D - rest|: smaller when rest has D's sign */
  if (sd == 0) return 1;
  return sd == rs ? -1 : 1;
}
