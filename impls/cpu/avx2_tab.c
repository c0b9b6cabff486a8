/* impls/cpu/avx2_tab.c: the first-pass AVX2 + FMA + F16C row kernels: simd_kernels.inc at 4 doubles a vector
 * with simd.h's table exp vd_exp_tab (relative error LSCE_EXP_REL_TAB, cpu/rowguard.h) in place of
 * the degree-11 vd_exp, and for float64 logits vd_exp2x with pair sums. Each row's statistics carry that error to the row's bound; a row whose bound
 * cannot guarantee the declared ulps is recomputed by avx2.c's kernels, then climbs the ladder
 * (driver.c, rowguard.h). Compiled and chosen as avx2.c. */
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/kernels.h"
#include "cpu/rowguard.h"
#define LSCE_SIMD_W 4
#define LSCE_SIMD_FN(x) lsce_##x##_tab_avx2
#define LSCE_SIMD_EXP vd_exp_tab
#define LSCE_SIMD_EXP_REL LSCE_EXP_REL_TAB
#define LSCE_SIMD_F64 1 /* and the float64 first pass (vd_exp2x, LSCE_EXP_REL_F64) */
#define LSCE_SIMD_F32PASS 1 /* and the float32-precision first pass of narrow rows (simd_f32pass.inc) */
#include "cpu/simd.h"
#include "cpu/simd_kernels.inc"
