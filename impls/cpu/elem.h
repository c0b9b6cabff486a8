/* impls/cpu/elem.h: reading one logit as an exact double and writing one gradient entry rounded
 * once (to nearest even) into the output dtype; used by the scalar CPU implementations. */
#ifndef LSCE_CPU_ELEM_H
#define LSCE_CPU_ELEM_H
#include <stdint.h>
#include <string.h>
#include "lsce/npy.h"

static inline double lsce_ld(const void *base, lsce_dtype t, int64_t i) {
  switch (t) {
  case LSCE_DT_F64: return ((const double *)base)[i];
  case LSCE_DT_F32: return (double)((const float *)base)[i];
  case LSCE_DT_F16: return lsce_f16_to_double(((const uint16_t *)base)[i]);
  case LSCE_DT_BF16: {
    uint32_t u = (uint32_t)((const uint16_t *)base)[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    return (double)f;
  }
  default: return 0.0;
  }
}

static inline void lsce_st(void *base, lsce_dtype t, int64_t i, double g) {
  switch (t) {
  case LSCE_DT_F64: ((double *)base)[i] = g; break;
  case LSCE_DT_F32: ((float *)base)[i] = (float)g; break;
  case LSCE_DT_F16: ((uint16_t *)base)[i] = lsce_double_to_f16(g); break;
  case LSCE_DT_BF16: ((uint16_t *)base)[i] = lsce_double_to_bf16(g); break;
  default: break;
  }
}
#endif
