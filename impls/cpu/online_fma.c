/* impls/cpu/online_fma.c: the scalar online kernels of online.c compiled again for AVX2+FMA (in
 * the avx2 library), so each double-double fma is one instruction instead of a call into libm:
 * about 1.5x faster double-double rows. Picked at run time where the CPU has AVX2+FMA (verify's fast
 * certifier, float64 inputs and masked rows of cpu_avx2). Same code, same bounds as online.c. */
#define LSCE_ONLINE_FMA 1
#include "online.c"
