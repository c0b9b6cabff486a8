/* impls/cpu/tab16.h: exp of every 16-bit logit, one double table per 16-bit dtype (bfloat16,
 * float16), built once per process (tab16.c) for the table first pass (simd_tab16.inc). Claim: for
 * a pattern b whose value v is finite with |v| <= LSCE_TAB16_GUARD, T[b] = glibc's exp(v), within
 * LSCE_EXP_REL_T16 (rowbound.h) of exp(v) relative and a normal double; every other pattern (larger
 * |v|, +-inf, NaN) holds a NaN, so a sum over a slice that touches one is NaN and the pass declines
 * the slice. */
#ifndef LSCE_CPU_TAB16_H
#define LSCE_CPU_TAB16_H
#include "lsce/npy.h"
/* |v| <= 640: exp(v) in [2^-923.4, 2^923.4], normal, and a sum of fewer than 2^31 such terms stays
 * below 2^955 (no overflow); exp(-m) for such an m is normal too */
#define LSCE_TAB16_GUARD 640.0
/* the table of dtype dt (LSCE_DT_BF16 or LSCE_DT_F16; NULL for any other, or where the 512 KiB
 * could not be allocated); thread-safe, built on the first call */
const double *lsce_tab16_get(lsce_dtype dt);
#endif
