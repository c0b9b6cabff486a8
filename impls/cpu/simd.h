/* impls/cpu/simd.h: the vector layer of the SIMD row kernels (simd_kernels.inc), one set of names
 * for two widths: LSCE_SIMD_W = 4 (AVX2 + FMA + F16C: 4 doubles, 8 floats a vector) or 8 (AVX-512
 * F/DQ/VL: 8 doubles, 16 floats). A float vector vf holds 2W logits; vd_lo/vd_hi widen its halves to
 * double exactly. vd_exp, for x <= 0 (callers pass z - m), is the same algorithm at both widths:
 * n = round(x / ln2) by adding 1.5 2^52, r = x - n ln2 with ln2 split so n ln2_hi is exact, Taylor to
 * degree 11 on |r| <= ln2/2 (relative error below 2^-46; tests/test_simd_exp.c measures it against
 * MPFR), and n added to the result's exponent field; x < -708 gives 0 (terms below 2^-1000 of the
 * row's sum). */
#ifndef LSCE_CPU_SIMD_H
#define LSCE_CPU_SIMD_H
#include <immintrin.h>
#include <stdint.h>
#include "lsce/exp2_table.h"
#include "lsce/problem.h"

#if LSCE_SIMD_W == 4
typedef __m256d vd;
typedef __m256 vf;
typedef __m256d vmask; /* all-ones lanes */
#define vd_set1 _mm256_set1_pd
#define vd_zero _mm256_setzero_pd
#define vd_add _mm256_add_pd
#define vd_sub _mm256_sub_pd
#define vd_mul _mm256_mul_pd
#define vd_max _mm256_max_pd
#define vd_min _mm256_min_pd
#define vd_fmadd _mm256_fmadd_pd
#define vd_fmsub _mm256_fmsub_pd
#define vd_fnmadd _mm256_fnmadd_pd
#define vd_loadu _mm256_loadu_pd
#define vd_storeu _mm256_storeu_pd
#define vf_set1 _mm256_set1_ps
#define vf_zero _mm256_setzero_ps
#define vf_max _mm256_max_ps
#define vf_min _mm256_min_ps
#define vf_add _mm256_add_ps
#define vf_mul _mm256_mul_ps
#define vf_fmadd _mm256_fmadd_ps
#define vf_fnmadd _mm256_fnmadd_ps
#define vf_storeu _mm256_storeu_ps
static inline vf vf_round(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* q 2^k for integral k (as floats) with q 2^k normal: k added to q's exponent field */
static inline vf vf_add_exponent(vf q, vf k) {
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(q), _mm256_slli_epi32(_mm256_cvtps_epi32(k), 23)));
}
static inline float vf_hsum(vf v) {
  float o[8];
  _mm256_storeu_ps(o, v);
  return ((o[0] + o[1]) + (o[2] + o[3])) + ((o[4] + o[5]) + (o[6] + o[7]));
}
static inline vmask vd_lt(vd a, vd b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
static inline unsigned vmask_bits(vmask m) { return (unsigned)_mm256_movemask_pd(m); }
static inline vd vd_keep(vd v, vmask m) { return _mm256_and_pd(v, m); }          /* 0 where m is off */
static inline vd vd_zero_where(vd v, vmask m) { return _mm256_blendv_pd(v, _mm256_setzero_pd(), m); }
static inline vd vd_abs(vd v) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), v); }
/* p 2^n, where t = 1.5 2^52 + n holds the integer n in its low mantissa bits and p 2^n is normal:
 * n is added to p's exponent field */
static inline vd vd_add_exponent(vd p, vd t) {
  return _mm256_castsi256_pd(_mm256_add_epi64(_mm256_castpd_si256(p), _mm256_slli_epi64(_mm256_castpd_si256(t), 52)));
}
static inline double vd_hsum(vd v) {
  __m128d a = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(a, _mm_unpackhi_pd(a, a)));
}
static inline unsigned vf_eq_bits(vf a, vf b) { return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ)); }
static inline unsigned vd_eq_bits(vd a, vd b) { return (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(a, b, _CMP_EQ_OQ)); }
static inline vd vd_lo(vf v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
static inline vd vd_hi(vf v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }
/* 2^(j/16), j the low 4 bits of t (vd_exp_tab): a gather from lsce_exp2_tab[16 j][part] (part 0 the
 * correctly rounded value, 1 the low part) */
static inline vd vd_tab16p(vd t, int part) {
  __m256i j = _mm256_slli_epi64(_mm256_and_si256(_mm256_castpd_si256(t), _mm256_set1_epi64x(15)), 5);
  return _mm256_i64gather_pd(&lsce_exp2_tab[0][part], j, 8);
}
/* 2^k as a double, k = (n - (n mod 16)) / 16 for the n of t, -1022 <= k <= 1023 */
static inline vd vd_pow2_16(vd t) {
  __m256i k = _mm256_slli_epi64(_mm256_andnot_si256(_mm256_set1_epi64x(15), _mm256_castpd_si256(t)), 48);
  return _mm256_castsi256_pd(_mm256_add_epi64(k, _mm256_set1_epi64x(0x3FF0000000000000LL)));
}
/* p 2^k, k = (n - (n mod 16)) / 16 for the integer n in t's low mantissa bits: (n - j) << 48 is k << 52 */
static inline vd vd_add_exponent16(vd p, vd t) {
  __m256i k = _mm256_slli_epi64(_mm256_andnot_si256(_mm256_set1_epi64x(15), _mm256_castpd_si256(t)), 48);
  return _mm256_castsi256_pd(_mm256_add_epi64(_mm256_castpd_si256(p), k));
}
static inline void vd_store_f32(float *out, vd v) { _mm_storeu_ps(out, _mm256_cvtpd_ps(v)); }
/* g0, g1 rounded to float (as vd_store_f32) and stored with one streaming (non-temporal) store of
 * 2W floats to out, 32-byte aligned: no read for ownership of the output's lines */
static inline void vd_stream_f32x2(float *out, vd g0, vd g1) {
  _mm256_stream_ps(out, _mm256_set_m128(_mm256_cvtpd_ps(g1), _mm256_cvtpd_ps(g0)));
}
/* 2W logits from index j, widened to float */
static inline vf vf_load(const void *base, lsce_dtype dt, int64_t j) {
  switch (dt) {
  case LSCE_DT_F32: return _mm256_loadu_ps((const float *)base + j);
  case LSCE_DT_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + j)));
  default: { /* bfloat16: the top half of a float32 */
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + j)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  }
}
#elif LSCE_SIMD_W == 8
typedef __m512d vd;
typedef __m512 vf;
typedef __mmask8 vmask;
#define vd_set1 _mm512_set1_pd
#define vd_zero _mm512_setzero_pd
#define vd_add _mm512_add_pd
#define vd_sub _mm512_sub_pd
#define vd_mul _mm512_mul_pd
#define vd_max _mm512_max_pd
#define vd_min _mm512_min_pd
#define vd_fmadd _mm512_fmadd_pd
#define vd_fmsub _mm512_fmsub_pd
#define vd_fnmadd _mm512_fnmadd_pd
#define vd_loadu _mm512_loadu_pd
#define vd_storeu _mm512_storeu_pd
#define vf_set1 _mm512_set1_ps
#define vf_zero _mm512_setzero_ps
#define vf_max _mm512_max_ps
#define vf_min _mm512_min_ps
#define vf_add _mm512_add_ps
#define vf_mul _mm512_mul_ps
#define vf_fmadd _mm512_fmadd_ps
#define vf_fnmadd _mm512_fnmadd_ps
#define vf_storeu _mm512_storeu_ps
static inline vf vf_round(vf x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vf vf_add_exponent(vf q, vf k) {
  return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(q), _mm512_slli_epi32(_mm512_cvtps_epi32(k), 23)));
}
static inline float vf_hsum(vf v) { return _mm512_reduce_add_ps(v); }
static inline vmask vd_lt(vd a, vd b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
static inline unsigned vmask_bits(vmask m) { return (unsigned)m; }
static inline vd vd_keep(vd v, vmask m) { return _mm512_maskz_mov_pd(m, v); }
static inline vd vd_zero_where(vd v, vmask m) { return _mm512_mask_blend_pd(m, v, _mm512_setzero_pd()); }
static inline vd vd_abs(vd v) { return _mm512_abs_pd(v); }
static inline vd vd_add_exponent(vd p, vd t) {
  return _mm512_castsi512_pd(_mm512_add_epi64(_mm512_castpd_si512(p), _mm512_slli_epi64(_mm512_castpd_si512(t), 52)));
}
static inline double vd_hsum(vd v) {
  __m256d a = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
  __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}
static inline unsigned vf_eq_bits(vf a, vf b) { return (unsigned)_mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline unsigned vd_eq_bits(vd a, vd b) { return (unsigned)_mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
static inline vd vd_lo(vf v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline vd vd_hi(vf v) {
  return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
static inline void vd_store_f32(float *out, vd v) { _mm256_storeu_ps(out, _mm512_cvtpd_ps(v)); }
/* as the AVX2 one: 2W floats, one streaming store, out 64-byte aligned */
static inline void vd_stream_f32x2(float *out, vd g0, vd g1) {
  __m512d lo = _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(g0))); /* AVX-512F only: no f32x8 insert */
  _mm512_stream_ps(out, _mm512_castpd_ps(_mm512_insertf64x4(lo, _mm256_castps_pd(_mm512_cvtpd_ps(g1)), 1)));
}
/* 2^(j/16), j the low 4 bits of t (vd_exp_tab), part 0 or 1 of lsce_exp2_tab[16 j]: one
 * two-register permute, no memory access */
static inline vd vd_tab16p(vd t, int part) {
#define T_(j) lsce_exp2_tab[16 * (j)][part]
  const vd lo = _mm512_set_pd(T_(7), T_(6), T_(5), T_(4), T_(3), T_(2), T_(1), T_(0));
  const vd hi = _mm512_set_pd(T_(15), T_(14), T_(13), T_(12), T_(11), T_(10), T_(9), T_(8));
#undef T_
  return _mm512_permutex2var_pd(lo, _mm512_castpd_si512(t), hi);
}
static inline vd vd_pow2_16(vd t) {
  __m512i k = _mm512_slli_epi64(_mm512_andnot_si512(_mm512_set1_epi64(15), _mm512_castpd_si512(t)), 48);
  return _mm512_castsi512_pd(_mm512_add_epi64(k, _mm512_set1_epi64(0x3FF0000000000000LL)));
}
static inline vd vd_add_exponent16(vd p, vd t) {
  __m512i k = _mm512_slli_epi64(_mm512_andnot_si512(_mm512_set1_epi64(15), _mm512_castpd_si512(t)), 48);
  return _mm512_castsi512_pd(_mm512_add_epi64(_mm512_castpd_si512(p), k));
}
static inline vf vf_load(const void *base, lsce_dtype dt, int64_t j) {
  switch (dt) {
  case LSCE_DT_F32: return _mm512_loadu_ps((const float *)base + j);
  case LSCE_DT_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + j)));
  default: {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)base + j)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
  }
}
#else
#error "LSCE_SIMD_W must be 4 (AVX2) or 8 (AVX-512)"
#endif

#define LSCE_VF_LANES (2 * LSCE_SIMD_W)

/* the largest lane (for the gradient's max |g|, rowguard.h) */
static inline double vd_hmax(vd v) {
  double o[LSCE_SIMD_W];
  vd_storeu(o, v);
  double m = o[0];
  for (int l = 1; l < LSCE_SIMD_W; l++) if (o[l] > m) m = o[l];
  return m;
}

/* The range reduction of both exps, N = 1 or 16: x clamped to [-708, 0], *t = 1.5 2^52 + n with
 * n = round(N x / ln2) in its low mantissa bits, returns r = x - n ln2/N (ln2 split as fdlibm's
 * ln2hi + ln2lo, ln2hi with 32 significant bits, so n ln2hi/N is exact for |n| < 2^21). */
static inline vd vd_exp_reduce_nc(vd xc, double N, vd *t) { /* the same without the clamp: |xc| <= 708 */
  const vd shifter = vd_set1(0x1.8p52);
  *t = vd_fmadd(xc, vd_set1(N * 1.4426950408889634074), shifter);
  vd n = vd_sub(*t, shifter);
  vd r = vd_fnmadd(n, vd_set1(6.93147180369123816490e-01 / N), xc);
  return vd_fnmadd(n, vd_set1(1.90821492927058770002e-10 / N), r);
}
static inline vd vd_exp_reduce(vd x, double N, vd *t) { return vd_exp_reduce_nc(vd_max(x, vd_set1(-708.0)), N, t); }

static inline vd vd_exp(vd x) {
  const vd lo = vd_set1(-708.0);
  vd t, r = vd_exp_reduce(x, 1.0, &t);
  vd p = vd_set1(1.0 / 39916800.0);
  p = vd_fmadd(p, r, vd_set1(1.0 / 3628800.0));
  p = vd_fmadd(p, r, vd_set1(1.0 / 362880.0));
  p = vd_fmadd(p, r, vd_set1(1.0 / 40320.0));
  p = vd_fmadd(p, r, vd_set1(1.0 / 5040.0));
  p = vd_fmadd(p, r, vd_set1(1.0 / 720.0));
  p = vd_fmadd(p, r, vd_set1(1.0 / 120.0));
  p = vd_fmadd(p, r, vd_set1(1.0 / 24.0));
  p = vd_fmadd(p, r, vd_set1(1.0 / 6.0));
  p = vd_fmadd(p, r, vd_set1(0.5));
  p = vd_fmadd(p, r, vd_set1(1.0));
  p = vd_fmadd(p, r, vd_set1(1.0));
  return vd_zero_where(vd_add_exponent(p, t), vd_lt(x, lo)); /* n >= -1021: p 2^n is normal */
}

/* vd_exp_tab, the rows' first-pass exp, for x <= 0: n = round(16 x / ln2) through the 1.5 2^52
 * shifter (|n| < 2^14), r = x - n ln2/16 with ln2/16 split as ln2hi/16 + ln2lo/16 (ln2hi has 32
 * significant bits, so n ln2hi/16 is exact; r is within 2^-60 |r| + 2^-80 of x - n ln2),
 * |r| <= ln2/32 (+ rounding); exp(x) = 2^(j/16) 2^k e^r with n = 16 k + j, 0 <= j < 16, 2^(j/16) the
 * correctly rounded hi part of lsce/exp2_table.h (2^-53), e^r = 1 + q, q = r (1 + r/2 + r^2/6 + r^3/24 +
 * r^4/120) (Taylor to degree 5: truncation below (ln2/32)^6/720 e^(ln2/32) < 2^-42.6; the Horner
 * roundings add about 2^-53 |q| each, |q| <= 2^-5.5), result fma(T, q, T) (one rounding, 2^-53).
 * Sum: below 2^-42.4; tests/test_simd_exp.c measures it against MPFR and checks LSCE_EXP_REL_TAB
 * (cpu/rowguard.h). 2^k is added to the exponent field: n >= round(-708 16/ln2) = -16343 gives
 * k >= -1022 with j >= 9 then, so T e^r >= 1.4 and the result is normal; x < -708 gives 0, as vd_exp.
 * Cost: 5 FMAs and a two-register permute (AVX-512; a gather at AVX2) instead of vd_exp's 11 FMAs. */
/* vd_exp_tab_nc: the same arithmetic without the clamp and the cut, for |x| <= 708 where the result
 * stays normal and finite (simd_dblone.inc's single pass calls it on its guarded [-700, 680], where
 * the argument above holds with the signs mirrored for x > 0: see there) */
/* the table exps' common end: with q the Horner value down to the r^4 coefficient (q = 1/24 +
 * r/120 + ...), e^r - 1 = r (1 + r/2 + r^2/6 + r^3 q), then T e^r 2^k = fma(T, e^r - 1, T) 2^k */
static inline vd vd_exp_tab_end(vd q, vd r, vd t) {
  q = vd_fmadd(q, r, vd_set1(1.0 / 6.0));
  q = vd_fmadd(q, r, vd_set1(0.5));
  q = vd_fmadd(q, r, vd_set1(1.0));
  q = vd_mul(q, r);
  vd T = vd_tab16p(t, 0);
  return vd_add_exponent16(vd_fmadd(T, q, T), t);
}
static inline vd vd_exp_tab_nc(vd x) {
  vd t, r = vd_exp_reduce_nc(x, 16.0, &t);
  return vd_exp_tab_end(vd_fmadd(vd_set1(1.0 / 120.0), r, vd_set1(1.0 / 24.0)), r, t);
}
/* vd_exp_one, the double single pass's exp (simd_dblone.inc), for |x| <= 708: vd_exp_tab_nc's table
 * and 2^k with two operations less, for the accuracy that pass needs (the rows the float32 pass could
 * not certify: about 2^-24 |L| and less; issue #12, ninth session). n = round(16 x / ln2) by the
 * shifter in one fma (|n| <= 16350), r = fl(x - n L) by one fma with L = fl(ln2 / 16) (|L - ln2/16| <=
 * 2^-58: n (L - ln2/16) <= 2^-43.9 of argument error, the rounding 2^-53 |r|), |r| <= ln2/32 (1 +
 * 2^-39); e^r = 1 + q, q = r (1 + r/2 + r^2/6 + r^3/24) (Taylor to degree 4: truncation below
 * (ln2/32)^5/120 e^(ln2/32) / e^(-ln2/32) < 2^-34.5; the Horner roundings about 2^-53 |q| each,
 * |q| <= 2^-5.5); fma(T, q, T) and T (2^-53 each), 2^k exact (as vd_exp_tab_nc). Sum: below
 * 2^-34.45, LSCE_EXP_REL_ONE = 2^-34 (cpu/rowguard.h), measured by tests/test_simd_exp.c (one_args)
 * on [-700, 680]. Measured 12% faster than vd_exp_tab_nc in that pass (rows like a trained model's,
 * lsce-kernel-ab 512 32000 1 7: 1.14 against 1.30-1.43 cycles per logit); degree 3 (2^-26.6) was 7%
 * faster still, but would send rows of loss below about 0.3 (plain cross-entropy, confident rows) to
 * the accurate rung. */
static inline vd vd_exp_one(vd x) {
  const vd shifter = vd_set1(0x1.8p52);
  vd t = vd_fmadd(x, vd_set1(16.0 * 1.4426950408889634074), shifter);
  vd r = vd_fnmadd(vd_sub(t, shifter), vd_set1(0x1.62e42fefa39efp-1 / 16.0), x);
  return vd_exp_tab_end(vd_set1(1.0 / 24.0), r, t);
}
static inline vd vd_exp_tab(vd x) {
  const vd lo = vd_set1(-708.0);
  return vd_zero_where(vd_exp_tab_nc(vd_max(x, lo)), vd_lt(x, lo));
}

/* s + e = a + b exactly (Knuth's two_sum, 6 operations, any magnitudes) */
static inline vd vd_two_sum(vd a, vd b, vd *e) {
  vd s = vd_add(a, b), bb = vd_sub(s, a);
  *e = vd_add(vd_sub(a, vd_sub(s, bb)), vd_sub(b, bb));
  return s;
}

/* vd_exp2x, the float64 rows' first-pass exp: exp(xh + xl) for xh <= 0, |xl| <= ulp(xh)/2 (the exact
 * pair z - m of two_sum), as a normalized pair hi + *lo (|lo| <= ulp(hi)/2). vd_exp_tab's reduction
 * (r1 = xh - n ln2hi/16 exact), then r = (r1 - n ln2lo/16) + xl (two roundings, 2^-53 |r| each,
 * |r| <= ln2/32 + 2^-44; ln2hi + ln2lo is within 2^-89 of ln2, times |n|/16 < 2^10: 2^-79), so r is
 * within 2^-57.5 of the exact reduced argument, that much relative in exp; q = e^r - 1 by Taylor to
 * degree 7 (truncation below (ln2/32)^8/8! e^(ln2/32) < 2^-59.3; Horner roundings below
 * 3 2^-53 |q| <= 2^-56, |q| <= 0.0222); 2^(j/16) = Th + Tl (lsce/exp2_table.h, 2^-106); l = Th q + Tl
 * by one fma (2^-53 |l| <= 2^-58.5 Th); hi + lo = Th + l exactly (fast two_sum, |l| < Th); both
 * scaled by 2^k (exact while lo stays normal; below, absolute 2^-1075, within the rows' LSCE_EXP_ABS).
 * Sum: below 2^-55.1 relative; claimed LSCE_EXP_REL_F64 = 2^-54 (cpu/rowguard.h), measured against
 * MPFR by tests/test_simd_exp.c. xh < -708 gives 0 + 0. */
/* vd_exp2x's steps after its reduction: for the reduced r and t, Th + l as the pair (*h, *e) before
 * the scaling by 2^k, which is returned (vd_pow2_16) */
static inline vd vd_exp16_pair(vd r, vd t, vd *h, vd *e) {
  vd q = vd_set1(1.0 / 5040.0);
  q = vd_fmadd(q, r, vd_set1(1.0 / 720.0));
  q = vd_fmadd(q, r, vd_set1(1.0 / 120.0));
  q = vd_fmadd(q, r, vd_set1(1.0 / 24.0));
  q = vd_fmadd(q, r, vd_set1(1.0 / 6.0));
  q = vd_fmadd(q, r, vd_set1(0.5));
  q = vd_fmadd(q, r, vd_set1(1.0));
  q = vd_mul(q, r);
  vd Th = vd_tab16p(t, 0), l = vd_fmadd(Th, q, vd_tab16p(t, 1));
  *h = vd_add(Th, l);
  *e = vd_sub(l, vd_sub(*h, Th)); /* fast two_sum: |Th| >= |l| */
  return vd_pow2_16(t);
}
static inline vd vd_exp2x(vd xh, vd xl, vd *lo) {
  const vd lim = vd_set1(-708.0);
  vd t, r = vd_exp_reduce(xh, 16.0, &t);
  r = vd_add(r, xl);
  vd h, e, sc = vd_exp16_pair(r, t, &h, &e);
  vmask z = vd_lt(xh, lim);
  *lo = vd_zero_where(vd_mul(e, sc), z);
  return vd_zero_where(vd_mul(h, sc), z);
}

/* vd_exp1x, the float64 single pass's exp (simd_f64pass.inc): vd_exp2x of an exact double x with
 * xl = 0, for x in [-600, 600] (the caller's guard; outside it the result is not used), as a pair
 * hi + *lo. vd_exp2x's argument holds for either sign of x: the reduction's n (|n| <= 13851) gives an
 * exact r1 = x - n ln2hi/16 (n ln2hi/16 is exact for |n| < 2^21, and r1 needs fewer than 53 bits:
 * |r1| <= ln2/32, a multiple of ulp(x) when n != 0), j = n mod 16 is the low 4 bits of t in two's
 * complement either way, and 2^k with k in [-866, 865] is normal, hi = h 2^k >= e^-600 > 2^-866 is
 * exact, and lo = e 2^k too unless it falls below 2^-1022 (an absolute 2^-1075, 2^-209 of hi): so
 * vd_exp2x's 2^-55.1 (one rounding fewer here: no xl), and no absolute term. Measured against MPFR on [-600, 600] by tests/test_simd_exp.c. */
static inline vd vd_exp1x(vd x, vd *lo) {
  /* vd_exp_reduce without its clamp at -708 (a no-op in [-600, 600]) */
  const vd shifter = vd_set1(0x1.8p52);
  vd t = vd_fmadd(x, vd_set1(16.0 * 1.4426950408889634074), shifter), n = vd_sub(t, shifter);
  vd r = vd_fnmadd(n, vd_set1(1.90821492927058770002e-10 / 16.0), vd_fnmadd(n, vd_set1(6.93147180369123816490e-01 / 16.0), x));
  vd h, e, sc = vd_exp16_pair(r, t, &h, &e);
  *lo = vd_mul(e, sc);
  return vd_mul(h, sc);
}
/* vd_exp2xx, the float64 accurate rung's exp (simd_f64pass.inc built into avx2.c / avx512.c): as
 * vd_exp2x (exp(xh + xl) for xh <= 0, |xl| <= ulp(xh)/2, a pair out, 0 + 0 below -708) to about 2^-61.9.
 * Reduction: n = round(16 xh / ln2) as vd_exp_reduce, a = xh - n ln2hi/16 exact (there), n ln2lo/16 =
 * ph + pl exactly (fma), a - ph = rh + ae exactly (two_sum), rl = (ae - pl) + xl (two roundings of a
 * value below 2^-43.9: 2^-96); ln2hi + ln2lo is within 2^-85 of ln2, times |n|/16 < 2^10: rh + rl is
 * within 2^-74.9 of xh + xl - n ln2/16, |rh| <= ln2/32 + 2^-22, |rl| < 2^-43.9.
 * e^(rh + rl) = 1 + rh + w, w = tail + rl (1 + q) (rl^2 below 2^-87 dropped), tail = rh^2 P(rh),
 * P = 1/2 + rh/6 + ... + rh^6/8! by Horner (Taylor to degree 8: truncation below 2^-68), q = rh + tail
 * rounded (its error times rl is below 2^-96): rh^2 rounded (u rh^2 <= 2^-64.06, times P <= 0.51),
 * P within 2^-53.9 (the last fma's rounding; the earlier ones are multiplied by |rh| <= 2^-5.5), times
 * rh^2 <= 2^-11.06, tail rounded (2^-65.06), w's two roundings (2^-65.06): 1 + rh + w within
 * 2^-62.8 of e^(rh + rl). Then T (1 + rh + w) with T = Th + Tl (lsce/exp2_table.h, 2^-106): Th rh =
 * ph2 + pe2 exactly (fma), hi = Th + ph2 by fast two_sum (exact, |ph2| < Th), lo = (he + pe2) +
 * fma(Th, w, fma(Tl, rh, Tl)) (Tl w dropped: 2^-65 Th; the fmas' and the two sums' roundings
 * below 2^-65.06 Th each, four of them), renormalized (fast two_sum, exact). Sum, over
 * e^r >= 0.978: below 2^-61.9 relative; claimed LSCE_EXP_REL_F64X = 2^-61 (impls/rowbound.h), measured
 * against MPFR by tests/test_simd_exp.c. 2^k scales both parts as in vd_exp2x (lo below 2^-1022:
 * 2^-1075 absolute, within the rows' LSCE_EXP_ABS). */
static inline vd vd_exp2xx(vd xh, vd xl, vd *lo) {
  const vd lim = vd_set1(-708.0), shifter = vd_set1(0x1.8p52), zero = vd_zero();
  vd xc = vd_max(xh, lim);
  vd t = vd_fmadd(xc, vd_set1(16.0 * 1.4426950408889634074), shifter);
  vd n = vd_sub(t, shifter);
  vd a = vd_fnmadd(n, vd_set1(6.93147180369123816490e-01 / 16.0), xc);
  const vd c2 = vd_set1(1.90821492927058770002e-10 / 16.0);
  vd ph = vd_mul(n, c2), pl = vd_fmsub(n, c2, ph);
  vd ae, rh = vd_two_sum(a, vd_sub(zero, ph), &ae);
  vd rl = vd_add(vd_sub(ae, pl), xl);
  vd P = vd_set1(1.0 / 40320.0);
  P = vd_fmadd(P, rh, vd_set1(1.0 / 5040.0));
  P = vd_fmadd(P, rh, vd_set1(1.0 / 720.0));
  P = vd_fmadd(P, rh, vd_set1(1.0 / 120.0));
  P = vd_fmadd(P, rh, vd_set1(1.0 / 24.0));
  P = vd_fmadd(P, rh, vd_set1(1.0 / 6.0));
  P = vd_fmadd(P, rh, vd_set1(0.5));
  vd tail = vd_mul(vd_mul(rh, rh), P);
  vd q = vd_add(rh, tail);
  vd w = vd_add(vd_fmadd(rl, q, rl), tail);
  vd Th = vd_tab16p(t, 0), Tl = vd_tab16p(t, 1);
  vd ph2 = vd_mul(Th, rh), pe2 = vd_fmsub(Th, rh, ph2);
  vd h = vd_add(Th, ph2);
  vd he = vd_sub(ph2, vd_sub(h, Th)); /* fast two_sum: |Th| > |ph2| */
  vd l = vd_add(vd_add(he, pe2), vd_fmadd(Th, w, vd_fmadd(Tl, rh, Tl)));
  vd hh = vd_add(h, l);
  vd e = vd_sub(l, vd_sub(hh, h)); /* renormalized: |h| > |l| */
  vd sc = vd_pow2_16(t);
  vmask z = vd_lt(xh, lim);
  *lo = vd_zero_where(vd_mul(e, sc), z);
  return vd_zero_where(vd_mul(hh, sc), z);
}
#endif
