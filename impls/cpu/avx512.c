/* impls/cpu/avx512.c: the AVX-512 row kernels (simd_kernels.inc at 8 doubles a vector; compiled with
 * -mavx512f on top of the AVX2 flags, chosen at run time by lsce_cpu_has_avx512). The same
 * algorithm as avx2.c at twice the width: about 1.6x the AVX2 kernels on this machine's Zen 4 cores,
 * whose exp is instruction bound (measured: scripts/bench, rows cpu_avx2 with LSCE_ISA=avx2 and
 * avx512). Accuracy and claim: simd_kernels.inc (the bounds of docs/accuracy.md "Targets" for float32, bfloat16 and
 * float16; float64 logits, the rows' accurate rung: simd_f64pass.inc with vd_exp2xx). */
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/kernels.h"
#define LSCE_SIMD_W 8
#define LSCE_SIMD_FN(x) lsce_##x##_avx512
#define LSCE_SIMD_F64 1 /* float64: the two passes with vd_exp2xx (simd_f64pass.inc), the rows' accurate rung */
#define LSCE_SIMD_F64_EXP2 vd_exp2xx
#define LSCE_SIMD_F64_REL LSCE_EXP_REL_F64X
#include "cpu/simd.h"

int lsce_cpu_has_avx512(void) {
  /* AVX-512F is CPUID leaf 7 EBX bit 16; the OS must save the opmask and ZMM state (XCR0 bits 5-7)
   * besides the YMM state; the scalar fallbacks need the AVX2 set. */
  unsigned a, b, c, d;
  if (!lsce_cpu_has_avx2()) return 0;
  if ((_xgetbv(0) & 0xE6) != 0xE6) return 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b >> 16) & 1;
}

#include "cpu/simd_kernels.inc"
