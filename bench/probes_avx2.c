/* bench/probes_avx2.c: the inner loops of the bandwidth probes, built with -mavx2 -mfma (this file
 * only): 256-bit loads summed in four independent accumulators (read), 256-bit loads and
 * non-temporal 256-bit stores (copy), and the exp ceiling (exp32): the buffer read as float32, each
 * value clamped to [-87, 0] and its exp summed, with the arithmetic of a float32-accurate exp and
 * nothing else (n = round(x log2 e), r = x - n ln2 with ln2 in two parts, Taylor to degree 7:
 * remainder below 2^-27, times 2^n by an exponent add): 8 lanes, about 16 instructions a vector.
 * The exact rows' exp ceiling (exp64, probes_exp64.inc) is here too. probes_avx512.c has the same loops at twice the width, used instead where the CPU has AVX-512F. No row
 * that evaluates one exp per logit in float32 or wider can read its logits faster than this.
 * Callers check the CPU for AVX2 (and FMA for exp32) before calling. */
#include "probes.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define LSCE_SIMD_W 4
#include "cpu/simd.h"
#define LSCE_PROBE_EXP64 lsce_probe_exp64_avx2
#include "probes_exp64.inc"

const int lsce_probe_avx2_built = 1;

uint64_t lsce_probe_read_avx2(const void *src, size_t bytes) {
  const __m256i *p = (const __m256i *)src;
  size_t n = bytes / 32;
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 4) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(p + i));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(p + i + 1));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(p + i + 2));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(p + i + 3));
  }
  __m256i a = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  uint64_t out[4];
  _mm256_storeu_si256((__m256i *)out, a);
  return out[0] + out[1] + out[2] + out[3];
}

void lsce_probe_copy_avx2(void *dst, const void *src, size_t bytes) {
  const __m256i *s = (const __m256i *)src;
  __m256i *d = (__m256i *)dst;
  size_t n = bytes / 32;
  for (size_t i = 0; i < n; i += 4) {
    __m256i v0 = _mm256_load_si256(s + i), v1 = _mm256_load_si256(s + i + 1);
    __m256i v2 = _mm256_load_si256(s + i + 2), v3 = _mm256_load_si256(s + i + 3);
    _mm256_stream_si256(d + i, v0);
    _mm256_stream_si256(d + i + 1, v1);
    _mm256_stream_si256(d + i + 2, v2);
    _mm256_stream_si256(d + i + 3, v3);
  }
  _mm_sfence();
}

float lsce_probe_exp32_avx2(const void *src, size_t bytes) {
  const float *p = (const float *)src;
  size_t n = bytes / 4;
  const __m256 lo = _mm256_set1_ps(-87.0f), zero = _mm256_setzero_ps();
  const __m256 log2e = _mm256_set1_ps(1.44269504f), ln2hi = _mm256_set1_ps(0.693145752f),
               ln2lo = _mm256_set1_ps(1.42860677e-6f);
  const __m256 c7 = _mm256_set1_ps(1.0f / 5040), c6 = _mm256_set1_ps(1.0f / 720),
               c5 = _mm256_set1_ps(1.0f / 120), c4 = _mm256_set1_ps(1.0f / 24),
               c3 = _mm256_set1_ps(1.0f / 6), c2 = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  __m256 acc[4] = {zero, zero, zero, zero};
  for (size_t i = 0; i < n; i += 32) {
    for (int u = 0; u < 4; u++) {
      __m256 x = _mm256_load_ps(p + i + 8 * u);
      x = _mm256_min_ps(_mm256_max_ps(x, lo), zero);
      __m256 k = _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m256 r = _mm256_fnmadd_ps(k, ln2hi, x);
      r = _mm256_fnmadd_ps(k, ln2lo, r);
      __m256 q = _mm256_fmadd_ps(c7, r, c6);
      q = _mm256_fmadd_ps(q, r, c5);
      q = _mm256_fmadd_ps(q, r, c4);
      q = _mm256_fmadd_ps(q, r, c3);
      q = _mm256_fmadd_ps(q, r, c2);
      q = _mm256_fmadd_ps(q, r, one);
      q = _mm256_fmadd_ps(q, r, one);
      __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(k), 23);
      acc[u] = _mm256_add_ps(acc[u], _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(q), e)));
    }
  }
  __m256 a = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
  float out[8];
  _mm256_storeu_ps(out, a);
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}
#else
const int lsce_probe_avx2_built = 0;
float lsce_probe_exp32_avx2(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
double lsce_probe_exp64_avx2(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
uint64_t lsce_probe_read_avx2(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
void lsce_probe_copy_avx2(void *dst, const void *src, size_t bytes) {
  (void)dst; (void)src; (void)bytes;
}
#endif
