/* bench/probes_avx512.c: the exp ceiling probes' inner loops at AVX-512 width (exp32: 16 float32
 * lanes; exp64: probes_exp64.inc at 8 doubles),
 * built with -mavx512f (this file only): the same arithmetic as lsce_probe_exp32_avx2 (clamp to
 * [-87, 0], n = round(x log2 e), r = x - n ln2 in two parts, Taylor to degree 7, times 2^n by an
 * exponent add, summed). probes.c calls it instead of the AVX2 loop where the CPU has AVX-512F, so
 * the ceiling is the widest this machine can do. */
#include "probes.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define LSCE_SIMD_W 8
#include "cpu/simd.h"
#define LSCE_PROBE_EXP64 lsce_probe_exp64_avx512
#include "probes_exp64.inc"

const int lsce_probe_avx512_built = 1;

float lsce_probe_exp32_avx512(const void *src, size_t bytes) {
  const float *p = (const float *)src;
  size_t n = bytes / 4;
  const __m512 lo = _mm512_set1_ps(-87.0f), zero = _mm512_setzero_ps();
  const __m512 log2e = _mm512_set1_ps(1.44269504f), ln2hi = _mm512_set1_ps(0.693145752f),
               ln2lo = _mm512_set1_ps(1.42860677e-6f);
  const __m512 c7 = _mm512_set1_ps(1.0f / 5040), c6 = _mm512_set1_ps(1.0f / 720),
               c5 = _mm512_set1_ps(1.0f / 120), c4 = _mm512_set1_ps(1.0f / 24),
               c3 = _mm512_set1_ps(1.0f / 6), c2 = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  __m512 acc[2] = {zero, zero};
  for (size_t i = 0; i < n; i += 32) {
    for (int u = 0; u < 2; u++) {
      __m512 x = _mm512_load_ps(p + i + 16 * u);
      x = _mm512_min_ps(_mm512_max_ps(x, lo), zero);
      __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      __m512 r = _mm512_fnmadd_ps(k, ln2hi, x);
      r = _mm512_fnmadd_ps(k, ln2lo, r);
      __m512 q = _mm512_fmadd_ps(c7, r, c6);
      q = _mm512_fmadd_ps(q, r, c5);
      q = _mm512_fmadd_ps(q, r, c4);
      q = _mm512_fmadd_ps(q, r, c3);
      q = _mm512_fmadd_ps(q, r, c2);
      q = _mm512_fmadd_ps(q, r, one);
      q = _mm512_fmadd_ps(q, r, one);
      __m512i e = _mm512_slli_epi32(_mm512_cvtps_epi32(k), 23);
      acc[u] = _mm512_add_ps(acc[u], _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(q), e)));
    }
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
}
#else
const int lsce_probe_avx512_built = 0;
float lsce_probe_exp32_avx512(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
double lsce_probe_exp64_avx512(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
#endif
