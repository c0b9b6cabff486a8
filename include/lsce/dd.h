/* lsce/dd.h: double-double arithmetic (Dekker, Knuth; error-free transforms through fma), usable
 * from C and CUDA. A value is hi + lo with |lo| <= ulp(hi)/2; add/mul keep about 2^-104 relative
 * error (the classic bounds of Joldes, Muller and Popescu 2017: add <= 3u^2, mul <= 4u^2). */
#ifndef LSCE_DD_H
#define LSCE_DD_H
#include <math.h>
#include "lsce/exp2_table.h"

#if defined(__CUDACC__)
#define LSCE_HD __host__ __device__ __forceinline__
#else
#define LSCE_HD static inline
#endif

typedef struct { double hi, lo; } lsce_dd;

LSCE_HD lsce_dd lsce_dd_make(double hi, double lo) { lsce_dd r; r.hi = hi; r.lo = lo; return r; }
LSCE_HD lsce_dd lsce_dd_from(double x) { return lsce_dd_make(x, 0.0); }

/* two_sum: s + e == a + b exactly */
LSCE_HD lsce_dd lsce_two_sum(double a, double b) {
  double s = a + b, bb = s - a, e = (a - (s - bb)) + (b - bb);
  return lsce_dd_make(s, e);
}
LSCE_HD lsce_dd lsce_fast_two_sum(double a, double b) { /* |a| >= |b| */
  double s = a + b;
  return lsce_dd_make(s, b - (s - a));
}
/* two_prod: p + e == a * b exactly (fma) */
LSCE_HD lsce_dd lsce_two_prod(double a, double b) {
  double p = a * b;
  return lsce_dd_make(p, fma(a, b, -p));
}
LSCE_HD lsce_dd lsce_dd_add(lsce_dd a, lsce_dd b) {
  lsce_dd s = lsce_two_sum(a.hi, b.hi), t = lsce_two_sum(a.lo, b.lo);
  s.lo += t.hi;
  s = lsce_fast_two_sum(s.hi, s.lo);
  s.lo += t.lo;
  return lsce_fast_two_sum(s.hi, s.lo);
}
LSCE_HD lsce_dd lsce_dd_neg(lsce_dd a) { return lsce_dd_make(-a.hi, -a.lo); }
LSCE_HD lsce_dd lsce_dd_sub(lsce_dd a, lsce_dd b) { return lsce_dd_add(a, lsce_dd_neg(b)); }
LSCE_HD lsce_dd lsce_dd_add_d(lsce_dd a, double b) {
  lsce_dd s = lsce_two_sum(a.hi, b);
  s.lo += a.lo;
  return lsce_fast_two_sum(s.hi, s.lo);
}
LSCE_HD lsce_dd lsce_dd_mul(lsce_dd a, lsce_dd b) {
  lsce_dd p = lsce_two_prod(a.hi, b.hi);
  p.lo += a.hi * b.lo + a.lo * b.hi;
  return lsce_fast_two_sum(p.hi, p.lo);
}
LSCE_HD lsce_dd lsce_dd_mul_d(lsce_dd a, double b) {
  lsce_dd p = lsce_two_prod(a.hi, b);
  p.lo += a.lo * b;
  return lsce_fast_two_sum(p.hi, p.lo);
}
LSCE_HD lsce_dd lsce_dd_div(lsce_dd a, lsce_dd b) {
  double q1 = a.hi / b.hi;
  lsce_dd r = lsce_dd_sub(a, lsce_dd_mul_d(b, q1));
  double q2 = r.hi / b.hi;
  r = lsce_dd_sub(r, lsce_dd_mul_d(b, q2));
  double q3 = r.hi / b.hi;
  lsce_dd q = lsce_fast_two_sum(q1, q2);
  return lsce_dd_add_d(q, q3);
}
LSCE_HD double lsce_dd_to_d(lsce_dd a) { return a.hi + a.lo; }
LSCE_HD int lsce_dd_is_zero(lsce_dd a) { return a.hi == 0.0 && a.lo == 0.0; }

/* exp(x) without a table (device code, and the cross-check of the table version), |x| <= 745: x = k ln2 + r, |r| <= ln2/2, exp(r/2^10) by its Taylor
 * series to degree 9 (the remainder is below 2^-120), squared 10 times (relative error grows to at
 * most 2^10 * 2^-104 = 2^-94), scaled by 2^k. */
LSCE_HD lsce_dd lsce_dd_exp_series(lsce_dd x) {
  const lsce_dd ln2 = {6.93147180559945286227e-01, 2.31904681384629955842e-17};
  if (x.hi < -745.2) return lsce_dd_from(0.0);
  if (x.hi == 0.0 && x.lo == 0.0) return lsce_dd_from(1.0);
  double k = nearbyint(x.hi / ln2.hi);
  lsce_dd r = lsce_dd_sub(x, lsce_dd_mul_d(ln2, k));
  r.hi = ldexp(r.hi, -10);
  r.lo = ldexp(r.lo, -10);
  /* Horner: 1 + r(1 + r/2(1 + r/3(...))) */
  lsce_dd p = lsce_dd_from(1.0);
  for (int n = 9; n >= 1; n--) {
    p = lsce_dd_mul(p, r);
    p = lsce_dd_div(p, lsce_dd_from((double)n));
    p = lsce_dd_add_d(p, 1.0);
  }
  for (int i = 0; i < 10; i++) p = lsce_dd_mul(p, p);
  int ki = (int)k;
  /* two steps keep subnormal results and 2^k near the limits exact */
  int k1 = ki / 2, k2 = ki - k1;
  p.hi = ldexp(ldexp(p.hi, k1), k2);
  p.lo = ldexp(ldexp(p.lo, k1), k2);
  return p;
}

/* exp(x) with a table (host code; about 10x faster than the series): x = (256 k + j) ln2/256 + r,
 * |r| <= ln2/512 (< 2^-9.5), exp(x) = 2^k 2^(j/256) exp(r). The reduction is exact up to 2^-104 of
 * |r|: ln2/256 is split Cody-Waite style as c1 (34 bits, so k c1 is exact for |256 k + j| < 2^19)
 * + c2 + c3. exp(r) = 1 + r + r^2/2 + r^3/6 + r^4/24 in double-double, the terms of degree 5..9 in
 * double (below 2^-54, so their rounding is below 2^-104; the omitted tail is below 2^-104); the
 * table entry (exp2_table.h) is within 2^-106. Relative error below 2^-98 in all; results under
 * 2^-1022 are scaled in two steps, so their low part loses its bits below 2^-1074 (absolute error). */
#if !defined(__CUDA_ARCH__)
/* p 2^k for a table exp's result p (|p| in [1, 2)): exact scaling of both parts while 2^k is a
 * normal double; below, two steps (the low part loses its bits below 2^-1074) */
LSCE_HD lsce_dd lsce_dd_scale_2k(lsce_dd p, long k) {
  if (k >= -1022 && k <= 1023) {
    union { double d; unsigned long long u; } s;
    s.u = (unsigned long long)(k + 1023) << 52;
    return lsce_dd_make(p.hi * s.d, p.lo * s.d);
  }
  int k1 = (int)(k / 2), k2 = (int)k - k1;
  return lsce_dd_make(ldexp(ldexp(p.hi, k1), k2), ldexp(ldexp(p.lo, k1), k2));
}

LSCE_HD lsce_dd lsce_dd_exp_table(lsce_dd x) {
  const double inv = 0x1.71547652b82fep+8; /* 256/ln2 */
  const double c1 = 0x1.62e42fef80000p-9, c2 = 0x1.1cf79abc9e3b4p-44, c3 = -0x1.9ff0342542fc3p-98;
  const lsce_dd i6 = {0x1.5555555555555p-3, 0x1.5555555555555p-57}, i24 = {0x1.5555555555555p-5, 0x1.5555555555555p-59};
  if (x.hi < -745.2) return lsce_dd_from(0.0);
  if (x.hi == 0.0 && x.lo == 0.0) return lsce_dd_from(1.0);
  if (!(x.hi <= 745.2) || x.lo != x.lo) return lsce_dd_from(x.hi > 745.2 ? INFINITY : NAN); /* NaN, overflow: no cast of them */
  const double shifter = 0x1.8p52;
  double kd = (x.hi * inv + shifter) - shifter; /* round to nearest, |kd| < 2^18 */
  long n = (long)kd;
  int j = (int)(n & 255);
  long k = (n - j) / 256;
  lsce_dd r = lsce_two_sum(x.hi, -kd * c1); /* kd c1 is exact */
  r = lsce_dd_add_d(r, x.lo);
  r = lsce_dd_sub(r, lsce_two_prod(kd, c2));
  r = lsce_dd_add_d(r, -kd * c3);
  double h = r.hi;
  double t = 0x1.71de3a556c734p-19;          /* 1/9! */
  t = t * h + 0x1.a01a01a01a01ap-16;         /* 1/8! */
  t = t * h + 0x1.a01a01a01a01ap-13;         /* 1/7! */
  t = t * h + 0x1.6c16c16c16c17p-10;         /* 1/6! */
  t = t * h + 0x1.1111111111111p-7;          /* 1/5! */
  lsce_dd p = lsce_dd_add(lsce_dd_mul_d(r, t), i24);
  p = lsce_dd_add(lsce_dd_mul(p, r), i6);
  p = lsce_dd_add_d(lsce_dd_mul(p, r), 0.5);
  p = lsce_dd_add_d(lsce_dd_mul(p, r), 1.0);
  p = lsce_dd_add_d(lsce_dd_mul(p, r), 1.0);
  lsce_dd T = lsce_dd_make(lsce_exp2_tab[j][0], lsce_exp2_tab[j][1]);
  return lsce_dd_scale_2k(lsce_dd_mul(p, T), k);
}
#endif

/* exp(x), |x| <= 745: the table version on the host, the series on the device (where the host
 * table is not visible). */
LSCE_HD lsce_dd lsce_dd_exp(lsce_dd x) {
#if defined(__CUDA_ARCH__)
  return lsce_dd_exp_series(x);
#else
  return lsce_dd_exp_table(x);
#endif
}

/* log1p(x) for x >= 0 (a row's s1): below 1/16 its alternating series in double-double; above
 * (where log1p(x) > 0.06, so the 2^-94 absolute error of the step is within 2^-90 relative),
 * one Newton step on exp from the double log1p doubles the
 * accurate bits: y1 = y0 + (1 + x) exp(-y0) - 1, error about 2^-100 relative. */
LSCE_HD lsce_dd lsce_dd_log1p(lsce_dd x) {
  if (x.hi < 0.0625) {
    /* x - x^2/2 + ... - x^26/26: the next term is below x 2^-104 */
    lsce_dd p = lsce_dd_from(0.0);
    for (int n = 26; n >= 1; n--) {
      p = lsce_dd_mul(p, x);
      p = lsce_dd_add(lsce_dd_div(lsce_dd_from((n & 1) ? 1.0 : -1.0), lsce_dd_from((double)n)), p);
    }
    return lsce_dd_mul(p, x);
  }
  double y0 = log1p(x.hi + x.lo);
  if (y0 == 0.0) return lsce_dd_from(0.0);
  lsce_dd e = lsce_dd_exp(lsce_dd_from(-y0));
  lsce_dd t = lsce_dd_mul(lsce_dd_add_d(x, 1.0), e); /* (1 + x) e^-y0 = 1 + small */
  t = lsce_dd_add_d(t, -1.0);
  return lsce_dd_add_d(t, y0);
}
#endif
