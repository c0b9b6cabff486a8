/* lsce/ulp.h: the ULP error of docs/accuracy.md: err = |y - r| / ulp_T(max(|r|, tau)) against the
 * exact r, carried as hi = RN64(r), lo = RN64(r - hi) and rs = sign(r - hi - lo) (0 when r = hi +
 * lo, or unknown), with the cancellation floor tau and the non-finite rules; gradients row-normwise.
 * ulp_T is taken of r itself: when |hi| is a power of two and |r| < |hi|, the binade below. */
#ifndef LSCE_ULP_H
#define LSCE_ULP_H
#include "lsce/dd.h"
#include "lsce/npy.h"

/* The same metric pieces as inline host+device functions (LSCE_HD, lsce/dd.h), for the rows' own
 * error bounds in device code (impls/rowbound.h); lsce_ulp_prec, lsce_ulp_of and lsce_tau below are
 * these. */
LSCE_HD int lsce_ulp_prec_hd(lsce_dtype t) {
  return t == LSCE_DT_F32 ? 24 : t == LSCE_DT_F16 ? 11 : t == LSCE_DT_BF16 ? 8 : 53;
}
/* ulp_T(|x|), never below T's smallest subnormal (2^-149, 2^-24, 2^-133, 2^-1074) */
LSCE_HD double lsce_ulp_of_hd(double x, lsce_dtype t) {
  x = fabs(x);
  double ms = t == LSCE_DT_F32 ? 0x1p-149 : t == LSCE_DT_F16 ? 0x1p-24 : t == LSCE_DT_BF16 ? 0x1p-133 : 0x1p-1074;
  if (!(x > 0) || !isfinite(x)) return isfinite(x) ? ms : INFINITY;
  int e;
  frexp(x, &e); /* x in [2^(e-1), 2^e) */
  double u = ldexp(1.0, e - lsce_ulp_prec_hd(t));
  return u < ms ? ms : u;
}
/* 2^-(p+3) * magnitude (0 for a non-finite one) */
LSCE_HD double lsce_tau_hd(double magnitude, lsce_dtype t) {
  if (!isfinite(magnitude)) return 0.0;
  return ldexp(fabs(magnitude), -(lsce_ulp_prec_hd(t) + 3));
}

/* p = 53, 24, 11, 8 and the smallest subnormal for F64, F32, F16, BF16. */
int lsce_ulp_prec(lsce_dtype t);
double lsce_ulp_of(double x, lsce_dtype t); /* ulp_T(|x|), never below the smallest subnormal */
/* ulp_T(|r|) of the exact r = hi + lo + (rest of sign rs) */
double lsce_ulp_of_exact(double hi, double lo, int rs, lsce_dtype t);
/* |x| at or above which a value rounds to infinity in T (max + ulp(max)/2; +inf for float64) */
double lsce_inf_threshold(lsce_dtype t);
/* Does the exact r = hi + lo + (rs) round to an infinity in T? */
int lsce_rounds_to_inf(double hi, double lo, int rs, lsce_dtype t);
/* 2^-(p+3) * magnitude */
double lsce_tau(double magnitude, lsce_dtype t);
/* Error of y against r in units of T; *u (when not NULL) gets the ulp it divides by. */
double lsce_ulp_err_x(double y, double hi, double lo, int rs, double tau, lsce_dtype t, double *u);
static inline double lsce_ulp_err(double y, double hi, double lo, double tau, lsce_dtype t) {
  return lsce_ulp_err_x(y, hi, lo, 0, tau, t, NULL);
}
/* Row-normwise: max_j |g_j - r_j| / ulp_T(max(max_j |r_j|, tau)) over one row of K entries (lo, rs
 * may be NULL); an entry whose r_j rounds to +-inf in T counts 0 when g_j is that infinity. */
double lsce_ulp_err_row_x(const double *g, const double *hi, const double *lo, const signed char *rs,
                          int64_t K, double tau, lsce_dtype t, int64_t *worst_j, double *u);
static inline double lsce_ulp_err_row(const double *g, const double *hi, const double *lo, int64_t K,
                                      double tau, lsce_dtype t, int64_t *worst_j) {
  return lsce_ulp_err_row_x(g, hi, lo, NULL, K, tau, t, worst_j, NULL);
}
/* The sign of (exact |y - r| / u) - f, for a figure f computed by the functions above with ulp u:
 * exact through MPFR; on an exact tie |y - hi - lo| = f u, the sign rs of the rest decides. */
int lsce_ulp_tie(double f, double y, double hi, double lo, int rs, double u);
/* Rounds x to nearest in T (for --loss values typed in decimal), as a double. */
double lsce_round_to(double x, lsce_dtype t);
#endif
