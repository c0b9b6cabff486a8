/* lsce/ulp.h: the ULP error of DESIGN.md "Numerical conventions": err = |y - r| / ulp_T(max(|r|, tau))
 * against the exact r (carried as a certified double-double hi + lo), with the cancellation floor
 * tau and the non-finite rules; gradients row-normwise. */
#ifndef LSCE_ULP_H
#define LSCE_ULP_H
#include "lsce/npy.h"

/* p = 53, 24, 11, 8 and the smallest subnormal for F64, F32, F16, BF16. */
int lsce_ulp_prec(lsce_dtype t);
double lsce_ulp_of(double x, lsce_dtype t); /* ulp_T(|x|), never below the smallest subnormal */
/* 2^-(p+3) * magnitude */
double lsce_tau(double magnitude, lsce_dtype t);
/* Error of y against r = hi + lo in units of T. */
double lsce_ulp_err(double y, double hi, double lo, double tau, lsce_dtype t);
/* Row-normwise: max_j |g_j - r_j| / ulp_T(max(max_j |r_j|, tau)) over one row of K entries. */
double lsce_ulp_err_row(const double *g, const double *hi, const double *lo, int64_t K, double tau,
                        lsce_dtype t, int64_t *worst_j);
/* Rounds x to nearest in T (for --loss values typed in decimal), as a double. */
double lsce_round_to(double x, lsce_dtype t);
#endif
