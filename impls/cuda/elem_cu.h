/* impls/cuda/elem_cu.h: the CUDA rows' element loads (exact) and stores (rounded once to nearest
 * even) for float32, bfloat16 and float16, as impls/cuda/rowkern.h expects them (device code). */
#ifndef LSCE_CUDA_ELEM_CU_H
#define LSCE_CUDA_ELEM_CU_H
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
static __device__ __forceinline__ double lsce_cu_ld(const float *p, int64_t i) { return (double)p[i]; }
static __device__ __forceinline__ double lsce_cu_ld(const __nv_bfloat16 *p, int64_t i) { return (double)__bfloat162float(p[i]); }
static __device__ __forceinline__ double lsce_cu_ld(const __half *p, int64_t i) { return (double)__half2float(p[i]); }
static __device__ __forceinline__ void lsce_cu_st(float *p, int64_t i, double g) { p[i] = __double2float_rn(g); }
static __device__ __forceinline__ void lsce_cu_st(__nv_bfloat16 *p, int64_t i, double g) { p[i] = __double2bfloat16(g); }
static __device__ __forceinline__ void lsce_cu_st(__half *p, int64_t i, double g) { p[i] = __double2half(g); }
#endif
