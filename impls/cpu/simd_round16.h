/* impls/cpu/simd_round16.h: double -> bfloat16 and double -> float16 rounding of a vector of doubles
 * at once (after simd.h, at its width: 4 lanes AVX2, 8 lanes AVX-512F), for the gradient stores of
 * the SIMD rows (simd_kernels.inc). Claim: bit for bit core/npy.c's lsce_double_to_bf16 /
 * lsce_double_to_f16, i.e. round to nearest, ties to even, ONCE from the double (never through
 * float, which would round twice), with the target's subnormals, overflow to a signed infinity,
 * signed zeros and quieted NaNs (top payload bits kept) exactly as those do; tests/test_round16.c
 * compares them on every halfway point and its neighbours for each 16-bit value, the subnormal
 * range, the overflow threshold and random doubles.
 *
 * Format: p stored fraction bits, b exponent bits, bias = 2^(b-1) - 1, emin = 1 - bias (float16:
 * p = 10, b = 5, emin = -14; bfloat16: p = 7, b = 8, emin = -126). On a = |x|'s bits:
 *  - normal range (|x| >= 2^emin): the double's bits a = [exponent | 52 fraction bits] are rounded
 *    at bit s = 52 - p by the integer add a + (2^(s-1) - 1) + (bit s of a) then >> s: exactly round
 *    to nearest even of the significand (the +lsb turns the tie into a carry only when the kept part
 *    is odd); a carry out of the fraction increments the exponent field, which is the correct
 *    result (up to the infinity pattern at the top). The exponent is rebiased by subtracting
 *    (1023 - bias) << p. Results at or beyond the infinity pattern (e > bias, or the carry into it)
 *    are clamped to it: overflow to infinity, as the scalar converter.
 *  - subnormal range (|x| < 2^emin, including double subnormals and zeros): one double addition
 *    |x| + C with C = 2^(52 + emin - p), whose ulp is 2^(emin - p), the target's subnormal unit:
 *    the sum is correctly rounded (ties to even: C's last bit is 0, so the sum's parity is k's) to
 *    C + k 2^(emin - p), and bits(sum) - bits(C) = k, the target's pattern (k = 2^p is the smallest
 *    normal, exponent field 1: also correct). One rounding, from the double itself. Requires the
 *    default rounding mode and no denormals-are-zero (the project never sets them; under DAZ a
 *    double subnormal would still give 0, as it must).
 *  - infinity: the clamp gives the infinity pattern; NaN (a above the infinity's bits): the
 *    infinity pattern, the quiet bit and the top p fraction bits.
 *  - the sign bit is or-ed in at bit 15 (b + p = 15 for both). */
#ifndef LSCE_CPU_SIMD_ROUND16_H
#define LSCE_CPU_SIMD_ROUND16_H
#include <stdint.h>

#define LSCE_R16_ABS 0x7fffffffffffffffLL
#define LSCE_R16_INF 0x7ff0000000000000LL
/* the constants of one format (p fraction bits, b exponent bits) */
#define LSCE_R16_S(p) (52 - (p))
#define LSCE_R16_BIAS(b) ((1 << ((b) - 1)) - 1)
#define LSCE_R16_EXPMASK(p, b) ((long long)((1 << (b)) - 1) << (p))
#define LSCE_R16_REBIAS(p, b) ((long long)(1023 - LSCE_R16_BIAS(b)) << (p))
/* bits of 2^emin and of C = 2^(52 + emin - p) as doubles (emin = 1 - bias: biased exponents) */
#define LSCE_R16_MINNORM(b) ((long long)(1023 + 1 - LSCE_R16_BIAS(b)) << 52)
#define LSCE_R16_C(p, b) ((long long)(1023 + 52 + 1 - LSCE_R16_BIAS(b) - (p)) << 52)

#if LSCE_SIMD_W == 4
typedef __m256i vr16; /* 4 results in the low 16 bits of 64-bit lanes */
static inline vr16 vd_round16(vd x, const int p, const int b) {
  const __m256i bits = _mm256_castpd_si256(x);
  const __m256i a = _mm256_and_si256(bits, _mm256_set1_epi64x(LSCE_R16_ABS));
  const __m256i sign = _mm256_slli_epi64(_mm256_srli_epi64(bits, 63), 15);
  const __m256i expmask = _mm256_set1_epi64x(LSCE_R16_EXPMASK(p, b));
  const int s = LSCE_R16_S(p);
  /* normal range: all values here are below 2^63, so the signed compares are unsigned ones */
  __m256i hi = _mm256_srli_epi64(a, s);
  __m256i r = _mm256_add_epi64(a, _mm256_add_epi64(_mm256_set1_epi64x((1LL << (s - 1)) - 1),
                                                   _mm256_and_si256(hi, _mm256_set1_epi64x(1))));
  r = _mm256_sub_epi64(_mm256_srli_epi64(r, s), _mm256_set1_epi64x(LSCE_R16_REBIAS(p, b)));
  r = _mm256_blendv_epi8(r, expmask, _mm256_cmpgt_epi64(r, expmask));
  /* subnormal range */
  const __m256d C = _mm256_castsi256_pd(_mm256_set1_epi64x(LSCE_R16_C(p, b)));
  __m256i sub = _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(_mm256_castsi256_pd(a), C)), _mm256_castpd_si256(C));
  r = _mm256_blendv_epi8(r, sub, _mm256_cmpgt_epi64(_mm256_set1_epi64x(LSCE_R16_MINNORM(b)), a));
  /* NaN */
  __m256i nan = _mm256_or_si256(_mm256_set1_epi64x(LSCE_R16_EXPMASK(p, b) | (1LL << (p - 1))),
                                _mm256_and_si256(hi, _mm256_set1_epi64x((1LL << p) - 1)));
  r = _mm256_blendv_epi8(r, nan, _mm256_cmpgt_epi64(a, _mm256_set1_epi64x(LSCE_R16_INF)));
  return _mm256_or_si256(r, sign);
}
/* 2W = 8 entries: lo's 4 then hi's 4, stored as 16-bit patterns */
static inline void vr16_store2(uint16_t *out, vr16 lo, vr16 hi) {
  const __m256i idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7); /* the low halves of the 64-bit lanes first */
  __m128i l = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(lo, idx));
  __m128i h = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(hi, idx));
  _mm_storeu_si128((__m128i *)out, _mm_packus_epi32(l, h)); /* values < 2^16: no saturation */
}
#elif LSCE_SIMD_W == 8
typedef __m512i vr16;
static inline vr16 vd_round16(vd x, const int p, const int b) {
  const __m512i bits = _mm512_castpd_si512(x);
  const __m512i a = _mm512_and_si512(bits, _mm512_set1_epi64(LSCE_R16_ABS));
  const __m512i sign = _mm512_slli_epi64(_mm512_srli_epi64(bits, 63), 15);
  const int s = LSCE_R16_S(p);
  __m512i hi = _mm512_srli_epi64(a, s);
  __m512i r = _mm512_add_epi64(a, _mm512_add_epi64(_mm512_set1_epi64((1LL << (s - 1)) - 1),
                                                   _mm512_and_si512(hi, _mm512_set1_epi64(1))));
  r = _mm512_sub_epi64(_mm512_srli_epi64(r, s), _mm512_set1_epi64(LSCE_R16_REBIAS(p, b)));
  /* unsigned min: below-range lanes wrap to huge values and are replaced by the subnormal ones */
  r = _mm512_min_epu64(r, _mm512_set1_epi64(LSCE_R16_EXPMASK(p, b)));
  const __m512d C = _mm512_castsi512_pd(_mm512_set1_epi64(LSCE_R16_C(p, b)));
  __m512i sub = _mm512_sub_epi64(_mm512_castpd_si512(_mm512_add_pd(_mm512_castsi512_pd(a), C)), _mm512_castpd_si512(C));
  r = _mm512_mask_blend_epi64(_mm512_cmplt_epu64_mask(a, _mm512_set1_epi64(LSCE_R16_MINNORM(b))), r, sub);
  __m512i nan = _mm512_or_si512(_mm512_set1_epi64(LSCE_R16_EXPMASK(p, b) | (1LL << (p - 1))),
                                _mm512_and_si512(hi, _mm512_set1_epi64((1LL << p) - 1)));
  r = _mm512_mask_blend_epi64(_mm512_cmpgt_epu64_mask(a, _mm512_set1_epi64(LSCE_R16_INF)), r, nan);
  return _mm512_or_si512(r, sign);
}
static inline void vr16_store2(uint16_t *out, vr16 lo, vr16 hi) {
  _mm_storeu_si128((__m128i *)out, _mm512_cvtepi64_epi16(lo)); /* vpmovqw: truncation, values < 2^16 */
  _mm_storeu_si128((__m128i *)(out + 8), _mm512_cvtepi64_epi16(hi));
}
#endif

/* 2W gradient entries (g0's lanes then g1's) rounded once to bfloat16 (bf16 != 0) or float16 */
static inline void vd_store16x2(uint16_t *out, vd g0, vd g1, int bf16) {
  if (bf16) vr16_store2(out, vd_round16(g0, 7, 8), vd_round16(g1, 7, 8));
  else vr16_store2(out, vd_round16(g0, 10, 5), vd_round16(g1, 10, 5));
}
#endif
