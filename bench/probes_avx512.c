/* bench/probes_avx512.c: the read and copy probes and the two exp ceilings (probes_exp32.inc,
 * probes_exp64.inc over impls/cpu/simd.h) at AVX-512 width, built with -mavx512f on top of the AVX2
 * flags (this file only); probes.c calls them instead of the AVX2 loops where the CPU has AVX-512F,
 * so the probes are the widest this machine can do: read sums 512-bit loads into eight independent
 * accumulators (512 bytes an iteration), copy streams 512-bit non-temporal stores likewise. */
#include "probes.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define LSCE_SIMD_W 8
#include "cpu/simd.h"
#define LSCE_PROBE_EXP32 lsce_probe_exp32_avx512
#include "probes_exp32.inc"
#define LSCE_PROBE_EXP64 lsce_probe_exp64_avx512
#define LSCE_PROBE_EXPF64 lsce_probe_expf64_avx512
#include "probes_exp64.inc"
#define LSCE_PROBE_TAB16 lsce_probe_tab16_avx512
#include "probes_tab16.inc"

const int lsce_probe_avx512_built = 1;

uint64_t lsce_probe_read_avx512(const void *src, size_t bytes) {
  const __m512i *p = (const __m512i *)src;
  size_t n = bytes / 64;
  __m512i a[8];
  for (int k = 0; k < 8; k++) a[k] = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) a[k] = _mm512_add_epi64(a[k], _mm512_load_si512(p + i + k));
  for (; i < n; i++) a[0] = _mm512_add_epi64(a[0], _mm512_load_si512(p + i));
  for (int k = 1; k < 8; k++) a[0] = _mm512_add_epi64(a[0], a[k]);
  return (uint64_t)_mm512_reduce_add_epi64(a[0]);
}

void lsce_probe_copy_avx512(void *dst, const void *src, size_t bytes) {
  const __m512i *s = (const __m512i *)src;
  __m512i *d = (__m512i *)dst;
  size_t n = bytes / 64, i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512i v[8];
    for (int k = 0; k < 8; k++) v[k] = _mm512_load_si512(s + i + k);
    for (int k = 0; k < 8; k++) _mm512_stream_si512(d + i + k, v[k]);
  }
  for (; i < n; i++) _mm512_stream_si512(d + i, _mm512_load_si512(s + i));
  _mm_sfence();
}
#else
const int lsce_probe_avx512_built = 0;
float lsce_probe_exp32_avx512(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
double lsce_probe_exp64_avx512(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
double lsce_probe_expf64_avx512(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
double lsce_probe_tab16_avx512(const void *src, size_t bytes, const double *tab) { (void)src; (void)bytes; (void)tab; return 0; }
uint64_t lsce_probe_read_avx512(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
void lsce_probe_copy_avx512(void *dst, const void *src, size_t bytes) { (void)dst; (void)src; (void)bytes; }
#endif
