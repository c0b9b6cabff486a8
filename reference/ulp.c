/* reference/ulp.c: the ULP metric. |y - r| is formed in double-double from r = hi + lo (hi, lo the
 * certified golden), so the figure is exact to about 2^-100 relative. */
#include <float.h>
#include <math.h>
#include "lsce/dd.h"
#include "lsce/ulp.h"

int lsce_ulp_prec(lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F32: return 24;
  case LSCE_DT_F16: return 11;
  case LSCE_DT_BF16: return 8;
  default: return 53;
  }
}

static double min_sub(lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F32: return ldexp(1.0, -149);
  case LSCE_DT_F16: return ldexp(1.0, -24);
  case LSCE_DT_BF16: return ldexp(1.0, -133);
  default: return ldexp(1.0, -1074);
  }
}

static double max_finite(lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F32: return FLT_MAX;
  case LSCE_DT_F16: return 65504.0;
  case LSCE_DT_BF16: return ldexp(255.0, 120); /* 0x7f7f */
  default: return DBL_MAX;
  }
}

double lsce_ulp_of(double x, lsce_dtype t) {
  x = fabs(x);
  double ms = min_sub(t);
  if (!(x > 0) || !isfinite(x)) return isfinite(x) ? ms : INFINITY;
  int e;
  frexp(x, &e); /* x in [2^(e-1), 2^e) */
  double u = ldexp(1.0, e - lsce_ulp_prec(t));
  return u < ms ? ms : u;
}

double lsce_tau(double magnitude, lsce_dtype t) {
  if (!isfinite(magnitude)) return 0.0;
  return ldexp(fabs(magnitude), -(lsce_ulp_prec(t) + 3));
}

double lsce_round_to(double x, lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F32: return (double)lsce_double_to_f32(x);
  case LSCE_DT_F16: return lsce_f16_to_double(lsce_double_to_f16(x));
  case LSCE_DT_BF16: return lsce_bf16_to_double(lsce_double_to_bf16(x));
  default: return x;
  }
}

/* Does the exact r round to an infinity in T? (|r| >= max + ulp(max)/2) */
static int rounds_to_inf(double hi, lsce_dtype t) {
  if (isinf(hi)) return 1;
  double mx = max_finite(t);
  double half = ldexp(lsce_ulp_of(mx, t), -1);
  return fabs(hi) >= mx + half; /* exact enough: hi is the correctly rounded double of r */
}

double lsce_ulp_err(double y, double hi, double lo, double tau, lsce_dtype t) {
  if (isnan(hi) || isnan(y)) return (isnan(hi) && isnan(y)) ? 0.0 : INFINITY;
  if (isinf(y) || isinf(hi) || rounds_to_inf(hi, t)) {
    if (isinf(y) && rounds_to_inf(hi, t) && (y > 0) == (hi > 0)) return 0.0;
    return INFINITY;
  }
  lsce_dd d = lsce_two_sum(y, -hi);
  d = lsce_dd_add_d(d, -lo);
  double num = fabs(d.hi + d.lo);
  double ref = fabs(hi) > tau ? fabs(hi) : tau;
  return num / lsce_ulp_of(ref, t);
}

double lsce_ulp_err_row(const double *g, const double *hi, const double *lo, int64_t K, double tau,
                        lsce_dtype t, int64_t *worst_j) {
  double num = 0.0, rmax = 0.0;
  int64_t wj = 0;
  for (int64_t j = 0; j < K; j++) {
    double l = lo ? lo[j] : 0.0;
    if (isnan(hi[j]) || isnan(g[j])) {
      if (isnan(hi[j]) && isnan(g[j])) continue;
      if (worst_j) *worst_j = j;
      return INFINITY;
    }
    if (isinf(g[j]) || isinf(hi[j])) { if (worst_j) *worst_j = j; return INFINITY; }
    lsce_dd d = lsce_two_sum(g[j], -hi[j]);
    d = lsce_dd_add_d(d, -l);
    double a = fabs(d.hi + d.lo);
    if (a > num) { num = a; wj = j; }
    if (fabs(hi[j]) > rmax) rmax = fabs(hi[j]);
  }
  if (worst_j) *worst_j = wj;
  if (num == 0.0) return 0.0;
  return num / lsce_ulp_of(rmax > tau ? rmax : tau, t);
}
