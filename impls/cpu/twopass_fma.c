/* impls/cpu/twopass_fma.c: twopass.c's statistics kernels compiled again for AVX2+FMA (in the avx2
 * library), so each double-double fma is one instruction instead of a call into libm. Picked at run
 * time by lsce_cpu_twopass where lsce_scalar_use_fma(). Same code, same bounds as twopass.c. */
#define LSCE_TWOPASS_FMA 1
#include "twopass.c"
