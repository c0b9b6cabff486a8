/* impls/cpu/avx2.c: the AVX2 + FMA + F16C row kernels (simd_kernels.inc at 4 doubles a vector;
 * compiled with -mavx2 -mfma -mf16c, chosen at run time by lsce_cpu_has_avx2). Accuracy and claim:
 * simd_kernels.inc (the bounds of docs/accuracy.md "Targets" for float32, bfloat16 and float16; float64
 * logits, the rows' accurate rung: simd_f64pass.inc with vd_exp2xx). */
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/kernels.h"
#define LSCE_SIMD_W 4
#define LSCE_SIMD_FN(x) lsce_##x##_avx2
#define LSCE_SIMD_F64 1 /* float64: the two passes with vd_exp2xx (simd_f64pass.inc), the rows' accurate rung */
#define LSCE_SIMD_F64_EXP2 vd_exp2xx
#define LSCE_SIMD_F64_REL LSCE_EXP_REL_F64X
#include "cpu/simd.h"

int lsce_cpu_has_avx2(void) {
  /* CPUID leaf 1: FMA is ECX bit 12, F16C ECX bit 29, OSXSAVE ECX bit 27; leaf 7: AVX2 EBX bit 5
   * (clang 14's __builtin_cpu_supports does not know "f16c") */
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, osxsave = (c >> 27) & 1;
  if (!osxsave || !(( _xgetbv(0) & 6) == 6)) return 0; /* the OS saves the YMM state */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return fma && f16c && ((b >> 5) & 1);
}

#include "cpu/simd_kernels.inc"
