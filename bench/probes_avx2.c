/* bench/probes_avx2.c: the inner loops of the bandwidth probes, built with -mavx2 -mfma -mf16c (this
 * file only): 256-bit loads summed in four independent accumulators (read), 256-bit loads and
 * non-temporal 256-bit stores (copy), and the two exp ceilings at AVX2 width (probes_exp32.inc,
 * probes_exp64.inc over impls/cpu/simd.h). probes_avx512.c has the ceilings at AVX-512 width, used
 * instead where the CPU has AVX-512F. Callers check the CPU for AVX2 (and FMA, F16C for the
 * ceilings) before calling. */
#include "probes.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define LSCE_SIMD_W 4
#include "cpu/simd.h"
#define LSCE_PROBE_EXP32 lsce_probe_exp32_avx2
#include "probes_exp32.inc"
#define LSCE_PROBE_EXP64 lsce_probe_exp64_avx2
#define LSCE_PROBE_EXPF64 lsce_probe_expf64_avx2
#include "probes_exp64.inc"
#define LSCE_PROBE_TAB16 lsce_probe_tab16_avx2
#include "probes_tab16.inc"

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

#else
const int lsce_probe_avx2_built = 0;
float lsce_probe_exp32_avx2(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
double lsce_probe_exp64_avx2(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
double lsce_probe_expf64_avx2(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
double lsce_probe_tab16_avx2(const void *src, size_t bytes, const double *tab) { (void)src; (void)bytes; (void)tab; return 0; }
uint64_t lsce_probe_read_avx2(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
void lsce_probe_copy_avx2(void *dst, const void *src, size_t bytes) {
  (void)dst; (void)src; (void)bytes;
}
#endif
