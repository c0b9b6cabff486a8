/* bench/probes_avx512.c: the two exp ceilings (probes_exp32.inc, probes_exp64.inc over
 * impls/cpu/simd.h) at AVX-512 width, built with -mavx512f on top of the AVX2 flags (this file
 * only); probes.c calls them instead of the AVX2 loops where the CPU has AVX-512F, so the ceilings
 * are the widest this machine can do. */
#include "probes.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define LSCE_SIMD_W 8
#include "cpu/simd.h"
#define LSCE_PROBE_EXP32 lsce_probe_exp32_avx512
#include "probes_exp32.inc"
#define LSCE_PROBE_EXP64 lsce_probe_exp64_avx512
#include "probes_exp64.inc"

const int lsce_probe_avx512_built = 1;
#else
const int lsce_probe_avx512_built = 0;
float lsce_probe_exp32_avx512(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
double lsce_probe_exp64_avx512(const void *src, size_t bytes) { (void)src; (void)bytes; return 0; }
#endif
