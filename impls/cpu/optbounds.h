/* impls/cpu/optbounds.h: the error constants of the options rows' a-posteriori bounds (optrows.c,
 * where each is argued in its use, and impls/vocab_options.c, which uses the same), u = 2^-53. */
#ifndef LSCE_CPU_OPTBOUNDS_H
#define LSCE_CPU_OPTBOUNDS_H
#include "rowbound.h" /* LSCE_U53, LSCE_EXP_REL_LIBM, LSCE_EXP_ABS */
#define U LSCE_U53
#define SL (1.0 + 0x1p-20)
/* an exact rational rounded by mpq_get_d (2 u), then at most 6 roundings of nonnegative products
 * and sums (kappa' = ((al t + be) or q) w s_i / D, t' and 1 - t', w_c s_i / D): < 8 u + 2 u each of
 * at most 3 converted constants; 16 u with margin */
#define KREL (16 * U)
/* an exp of a rounded difference: glibc's exp (below 1 ulp, 2 u relative, LSCE_EXP_REL_LIBM) and the
 * argument's rounding, u |x_j - m| <= 746 u where the exp is not below 2^-1020 (rowguard.h's same
 * argument); smaller exps are counted absolutely (LSCE_EXP_ABS each) */
#define EREL (LSCE_EXP_REL_LIBM + 746.0 * U)
/* glibc's log1p and tanh: below 2 ulps (glibc's libm-test-ulps for x86_64), i.e. 4 u relative */
#define LIBM2 (4 * U)
#endif
