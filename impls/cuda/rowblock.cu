/* impls/cuda/rowblock.cu: CUDA rows for float32, bfloat16 and float16 logits.
 *   cuda_rowblock: a block of 256 threads per row, one pass of the online softmax per thread over
 *     its strided classes (coalesced loads), statistics merged by a shared-memory tree, then one
 *     sweep writing the gradient (in place over the logits, or to a separate buffer).
 *   cuda_warp: the same with a warp per row and 8 rows per block, for small K.
 *   cuda_split: several blocks per row (few rows, huge K): partial statistics to global memory,
 *     merged per row by a second kernel, then a gradient kernel over the whole grid.
 * Every variant goes through the shared combiner (impls/combiner.h, __host__ __device__): the
 * statistics are accumulated in double (error about K 2^-53) and combined in double-double, so the
 * accuracy claim is the CPU rows': loss <= 1 ulp float32, gradient <= 2 ulp float32 / 1 ulp bf16,
 * fp16 (DESIGN.md). 64-bit indexing throughout. */
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <stdio.h>
#include "combiner.h"
#include "lsce/registry.h"

template <typename T> __device__ __forceinline__ double ld(const T *p, int64_t i);
template <> __device__ __forceinline__ double ld<float>(const float *p, int64_t i) { return (double)p[i]; }
template <> __device__ __forceinline__ double ld<__nv_bfloat16>(const __nv_bfloat16 *p, int64_t i) {
  return (double)__bfloat162float(p[i]);
}
template <> __device__ __forceinline__ double ld<__half>(const __half *p, int64_t i) { return (double)__half2float(p[i]); }

/* round once from double to the output type */
template <typename T> __device__ __forceinline__ void store(T *p, int64_t i, double g);
template <> __device__ __forceinline__ void store<float>(float *p, int64_t i, double g) { p[i] = __double2float_rn(g); }
template <> __device__ __forceinline__ void store<__nv_bfloat16>(__nv_bfloat16 *p, int64_t i, double g) {
  p[i] = __double2bfloat16(g);
}
template <> __device__ __forceinline__ void store<__half>(__half *p, int64_t i, double g) { p[i] = __double2half(g); }

/* online statistics over classes c0, c0 + step, ... < c1 of one row */
template <typename T>
__device__ void stats_strided(lsce_rowstats *st, const T *row, int64_t c0, int64_t c1, int64_t step,
                              int64_t y, const lsce_params *p, const double *w) {
  const int wu = p->weighting == LSCE_W_TORCH_ID || p->weighting == LSCE_W_LOGPROB_ID;
  lsce_stats_empty(st);
  lsce_online o;
  lsce_online_init(&o, 0);
  for (int64_t j = c0; j < c1; j += step) lsce_online_push(&o, st, ld<T>(row, j), j, y, p, wu ? w[j] : 1.0);
  lsce_online_finish(&o, st);
}

/* merge the statistics of `n` consecutive threads (n a power of two) in shared memory */
__device__ void tree_merge(lsce_rowstats *sh, int lane, int n) {
  for (int off = n / 2; off > 0; off /= 2) {
    __syncthreads();
    if (lane < off) lsce_stats_merge(&sh[lane], &sh[lane + off], 0);
  }
  __syncthreads();
}

template <typename T, typename G>
__device__ void write_grad(G *grad, const T *row, int64_t i, int64_t K, int64_t c0, int64_t step,
                           const lsce_gradcoef *g, double m, const lsce_params *p, const double *w) {
  const int wu = p->weighting == LSCE_W_TORCH_ID || p->weighting == LSCE_W_LOGPROB_ID;
  for (int64_t j = c0; j < K; j += step) {
    double v = ld<T>(row, j); /* read before the (possibly in-place) write of the same element */
    double e = v == -INFINITY ? 0.0 : exp(v - m);
    store<G>(grad, i * K + j, lsce_grad_entry_d(g, j, e, wu ? w[j] : 1.0, p->pad_index));
  }
}

/* GROUP threads per row; blockDim.x = GROUP * rows_per_block */
template <typename T, int GROUP>
__global__ void rowgroup_kernel(double *Lrow, T *grad, const T *z, const int64_t *tg, const double *w,
                                lsce_params prm, int64_t N, int64_t K) {
  extern __shared__ unsigned char smem[];
  lsce_rowstats *sh = (lsce_rowstats *)smem;
  const int lane = threadIdx.x % GROUP, grp = threadIdx.x / GROUP, groups = blockDim.x / GROUP;
  lsce_rowstats *mine = sh + grp * GROUP;
  for (int64_t base = (int64_t)blockIdx.x * groups; base < N; base += (int64_t)gridDim.x * groups) {
    int64_t i = base + grp;
    int active = i < N && lsce_params_in_V(&prm, tg[i]);
    const T *row = z + (i < N ? i : 0) * K;
    int64_t y = i < N ? tg[i] : 0;
    if (active) stats_strided<T>(&mine[lane], row, lane, K, GROUP, y, &prm, w);
    else lsce_stats_empty(&mine[lane]);
    tree_merge(mine, lane, GROUP);
    lsce_rowstats st = mine[0];
    __syncthreads();
    if (i < N && !active) {
      if (lane == 0) { Lrow[2 * i] = 0; Lrow[2 * i + 1] = 0; }
      if (grad) for (int64_t j = lane; j < K; j += GROUP) store<T>(grad, i * K + j, 0.0);
      continue;
    }
    if (!active) continue;
    lsce_rowcoef rc = lsce_row_coef(&prm, y, w);
    if (lane == 0) {
      lsce_dd L = lsce_row_loss(&prm, &rc, &st);
      Lrow[2 * i] = L.hi;
      Lrow[2 * i + 1] = L.lo;
    }
    if (grad) {
      const int wu = prm.weighting == LSCE_W_TORCH_ID || prm.weighting == LSCE_W_LOGPROB_ID;
      lsce_gradcoef g = lsce_grad_coef(&prm, &rc, &st, y, w, wu);
      write_grad<T, T>(grad, row, i, K, lane, GROUP, &g, st.m, &prm, w);
    }
  }
}

/* split rows: each of `parts` blocks per row computes partial statistics of a class slice */
template <typename T>
__global__ void split_stats_kernel(lsce_rowstats *part, const T *z, const int64_t *tg, const double *w,
                                   lsce_params prm, int64_t N, int64_t K, int parts) {
  extern __shared__ unsigned char smem[];
  lsce_rowstats *sh = (lsce_rowstats *)smem;
  int64_t i = blockIdx.y;
  int b = blockIdx.x;
  int64_t slice = (K + parts - 1) / parts, c0 = b * slice, c1 = c0 + slice < K ? c0 + slice : K;
  if (i >= N) return;
  if (lsce_params_in_V(&prm, tg[i]) && c0 < c1)
    stats_strided<T>(&sh[threadIdx.x], z + i * K, c0 + threadIdx.x, c1, blockDim.x, tg[i], &prm, w);
  else lsce_stats_empty(&sh[threadIdx.x]);
  tree_merge(sh, threadIdx.x, blockDim.x);
  if (threadIdx.x == 0) part[i * parts + b] = sh[0];
}

__global__ void split_merge_kernel(double *Lrow, lsce_gradcoef *gc, double *mrow, lsce_rowstats *part,
                                   const int64_t *tg, const double *w, lsce_params prm, int64_t N, int parts) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= N) return;
  if (!lsce_params_in_V(&prm, tg[i])) { Lrow[2 * i] = Lrow[2 * i + 1] = 0; mrow[i] = NAN; return; }
  lsce_rowstats st;
  lsce_stats_empty(&st);
  for (int b = 0; b < parts; b++) lsce_stats_merge(&st, &part[i * parts + b], 0);
  lsce_rowcoef rc = lsce_row_coef(&prm, tg[i], w);
  lsce_dd L = lsce_row_loss(&prm, &rc, &st);
  Lrow[2 * i] = L.hi;
  Lrow[2 * i + 1] = L.lo;
  const int wu = prm.weighting == LSCE_W_TORCH_ID || prm.weighting == LSCE_W_LOGPROB_ID;
  gc[i] = lsce_grad_coef(&prm, &rc, &st, tg[i], w, wu);
  mrow[i] = st.m;
}

template <typename T>
__global__ void split_grad_kernel(T *grad, const T *z, const lsce_gradcoef *gc, const double *mrow,
                                  const double *w, lsce_params prm, int64_t N, int64_t K, int parts) {
  int64_t i = blockIdx.y;
  int b = blockIdx.x;
  int64_t slice = (K + parts - 1) / parts, c0 = b * slice, c1 = c0 + slice < K ? c0 + slice : K;
  if (i >= N) return;
  if (mrow[i] != mrow[i]) { /* a row outside V */
    for (int64_t j = c0 + threadIdx.x; j < c1; j += blockDim.x) store<T>(grad, i * K + j, 0.0);
    return;
  }
  const int wu = prm.weighting == LSCE_W_TORCH_ID || prm.weighting == LSCE_W_LOGPROB_ID;
  lsce_gradcoef g = gc[i];
  for (int64_t j = c0 + threadIdx.x; j < c1; j += blockDim.x) {
    double v = ld<T>(z + i * K, j);
    double e = v == -INFINITY ? 0.0 : exp(v - mrow[i]);
    store<T>(grad, i * K + j, lsce_grad_entry_d(&g, j, e, wu ? w[j] : 1.0, prm.pad_index));
  }
}

/* ---- host side ---------------------------------------------------------------------------------- */
extern "C" int lsce_cuda_available(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) { cudaGetLastError(); return 0; }
  return n > 0;
}

extern "C" const char *lsce_isa_cuda(void) {
  static char name[64];
  if (!lsce_cuda_available()) return "none";
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "cuda";
  snprintf(name, sizeof name, "sm_%d%d", prop.major, prop.minor);
  return name;
}

enum { SHAPE_BLOCK, SHAPE_WARP, SHAPE_SPLIT };

template <typename T>
static int launch(double *Lrow_d, T *grad_d, const T *z_d, const int64_t *t_d, const double *w_d,
                  const lsce_params *prm, int64_t N, int64_t K, int shape) {
  if (N == 0) return 0;
  if (shape == SHAPE_SPLIT) {
    int parts = (int)((K + 32767) / 32768);
    if (parts < 2) parts = 2;
    lsce_rowstats *part;
    lsce_gradcoef *gc;
    double *mrow;
    if (cudaMalloc(&part, sizeof(lsce_rowstats) * N * parts) || cudaMalloc(&gc, sizeof(lsce_gradcoef) * N) ||
        cudaMalloc(&mrow, sizeof(double) * N))
      return 3;
    dim3 grid(parts, (unsigned)N);
    split_stats_kernel<T><<<grid, 256, 256 * sizeof(lsce_rowstats)>>>(part, z_d, t_d, w_d, *prm, N, K, parts);
    split_merge_kernel<<<(unsigned)((N + 127) / 128), 128>>>(Lrow_d, gc, mrow, part, t_d, w_d, *prm, N, parts);
    if (grad_d) split_grad_kernel<T><<<grid, 256>>>(grad_d, z_d, gc, mrow, w_d, *prm, N, K, parts);
    cudaError_t e = cudaDeviceSynchronize();
    cudaFree(part); cudaFree(gc); cudaFree(mrow);
    return e == cudaSuccess ? 0 : 3;
  }
  int64_t rows_per_block = shape == SHAPE_WARP ? 8 : 1;
  int group = shape == SHAPE_WARP ? 32 : 256;
  int64_t blocks = (N + rows_per_block - 1) / rows_per_block;
  if (blocks > 65535 * 16) blocks = 65535 * 16;
  size_t shm = sizeof(lsce_rowstats) * (size_t)(group * rows_per_block);
  if (shape == SHAPE_WARP)
    rowgroup_kernel<T, 32><<<(unsigned)blocks, 256, shm>>>(Lrow_d, grad_d, z_d, t_d, w_d, *prm, N, K);
  else
    rowgroup_kernel<T, 256><<<(unsigned)blocks, 256, shm>>>(Lrow_d, grad_d, z_d, t_d, w_d, *prm, N, K);
  return cudaDeviceSynchronize() == cudaSuccess ? 0 : 3;
}

/* LSCE_CUDA_INPLACE=1 writes the gradient over the device copy of the logits */
static int run(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, int shape) {
  if (!lsce_cuda_available()) return 3;
  if (c->dtype == LSCE_DT_F64 || (grad && gdt != c->dtype)) return 2;
  const int64_t N = c->N, K = c->K;
  const size_t es = c->dtype == LSCE_DT_F32 ? 4 : 2, nz = (size_t)(N * K) * es;
  const char *ip = getenv("LSCE_CUDA_INPLACE");
  int inplace = ip && !strcmp(ip, "1");
  void *z_d = NULL, *g_d = NULL;
  int64_t *t_d = NULL;
  double *w_d = NULL, *L_d = NULL;
  int rc = 3;
  if (cudaMalloc(&z_d, nz ? nz : 1) || cudaMalloc(&t_d, sizeof(int64_t) * (N ? N : 1)) ||
      cudaMalloc(&L_d, sizeof(double) * 2 * (N ? N : 1)) ||
      (c->weights && cudaMalloc(&w_d, sizeof(double) * K)) ||
      (grad && !inplace && cudaMalloc(&g_d, nz ? nz : 1)))
    goto out;
  if (grad && inplace) g_d = z_d;
  cudaMemcpy(z_d, c->logits, nz, cudaMemcpyHostToDevice);
  cudaMemcpy(t_d, c->targets, sizeof(int64_t) * N, cudaMemcpyHostToDevice);
  if (c->weights) cudaMemcpy(w_d, c->weights, sizeof(double) * K, cudaMemcpyHostToDevice);
  switch (c->dtype) {
  case LSCE_DT_F32: rc = launch<float>(L_d, (float *)g_d, (const float *)z_d, t_d, w_d, c->prm, N, K, shape); break;
  case LSCE_DT_BF16: rc = launch<__nv_bfloat16>(L_d, (__nv_bfloat16 *)g_d, (const __nv_bfloat16 *)z_d, t_d, w_d, c->prm, N, K, shape); break;
  default: rc = launch<__half>(L_d, (__half *)g_d, (const __half *)z_d, t_d, w_d, c->prm, N, K, shape); break;
  }
  if (rc == 0) {
    double *Lrow = (double *)malloc(sizeof(double) * 2 * (N ? N : 1));
    if (!Lrow) { rc = 3; goto out; }
    cudaMemcpy(Lrow, L_d, sizeof(double) * 2 * N, cudaMemcpyDeviceToHost);
    if (grad) cudaMemcpy(grad, g_d, nz, cudaMemcpyDeviceToHost);
    const lsce_params *p = c->prm;
    if (p->reduction == 2) {
      for (int64_t i = 0; i < N; i++) loss[i] = Lrow[2 * i] + Lrow[2 * i + 1];
    } else { /* reduced on the host in double-double, row order: deterministic */
      lsce_dd tot = lsce_dd_from(0.0);
      int inf = 0;
      for (int64_t i = 0; i < N; i++) {
        if (isinf(Lrow[2 * i])) inf = 1;
        else tot = lsce_dd_add(tot, lsce_dd_make(Lrow[2 * i], Lrow[2 * i + 1]));
      }
      lsce_dd r = lsce_dd_mul(tot, p->inv_D);
      loss[0] = p->nan_mean ? NAN : inf ? INFINITY : r.hi + r.lo;
    }
    free(Lrow);
  }
out:
  cudaFree(z_d); cudaFree(t_d); cudaFree(w_d); cudaFree(L_d);
  if (g_d && g_d != z_d) cudaFree(g_d);
  return rc;
}

extern "C" int lsce_cuda_rowblock(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  return run(loss, grad, gdt, c, SHAPE_BLOCK);
}
extern "C" int lsce_cuda_warp(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  return run(loss, grad, gdt, c, SHAPE_WARP);
}
extern "C" int lsce_cuda_split(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  return run(loss, grad, gdt, c, SHAPE_SPLIT);
}

/* ---- device-resident timing (CUDA events) for scripts/gpu-check --------------------------------- */
/* Best time in ms over `reps` launches of a row's kernels on device-resident N x K logits (N(0,1)-ish
 * from a fixed stream), variant k, e = 0.1, mean; fwdbwd writes the gradient in place. */
extern "C" int lsce_cuda_time(double *best_ms, const char *impl, lsce_dtype dt, int64_t N, int64_t K,
                              int fwdbwd, int reps) {
  if (!lsce_cuda_available() || dt == LSCE_DT_F64) return 3;
  int shape = !strcmp(impl, "cuda_warp") ? SHAPE_WARP : !strcmp(impl, "cuda_split") ? SHAPE_SPLIT : SHAPE_BLOCK;
  const size_t es = dt == LSCE_DT_F32 ? 4 : 2, nz = (size_t)(N * K) * es;
  unsigned char *hz = (unsigned char *)malloc(nz);
  int64_t *ht = (int64_t *)malloc(sizeof(int64_t) * N);
  if (!hz || !ht) { free(hz); free(ht); return 3; }
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (int64_t i = 0; i < N * K; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    double v = ((double)(x >> 11) / 9007199254740992.0) * 6.0 - 3.0;
    if (dt == LSCE_DT_F32) ((float *)hz)[i] = (float)v;
    else if (dt == LSCE_DT_BF16) ((uint16_t *)hz)[i] = lsce_double_to_bf16(v);
    else ((uint16_t *)hz)[i] = lsce_double_to_f16(v);
  }
  for (int64_t i = 0; i < N; i++) ht[i] = (int64_t)((uint64_t)(i * 2654435761ULL) % (uint64_t)K);
  lsce_params prm;
  mpq_t e;
  mpq_init(e);
  mpq_set_si(e, 1, 10);
  lsce_params_init(&prm, 0, 0, e, N, K, ht, NULL, -100, -1);
  mpq_clear(e);
  void *z_d = NULL;
  int64_t *t_d = NULL;
  double *L_d = NULL;
  int rc = 3;
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  *best_ms = INFINITY;
  if (!cudaMalloc(&z_d, nz) && !cudaMalloc(&t_d, sizeof(int64_t) * N) && !cudaMalloc(&L_d, sizeof(double) * 2 * N)) {
    cudaMemcpy(t_d, ht, sizeof(int64_t) * N, cudaMemcpyHostToDevice);
    rc = 0;
    for (int r = 0; r < reps + 1 && !rc; r++) {
      cudaMemcpy(z_d, hz, nz, cudaMemcpyHostToDevice); /* fresh logits: the gradient overwrote them */
      cudaEventRecord(a);
      switch (dt) {
      case LSCE_DT_F32: rc = launch<float>(L_d, fwdbwd ? (float *)z_d : NULL, (const float *)z_d, t_d, NULL, &prm, N, K, shape); break;
      case LSCE_DT_BF16: rc = launch<__nv_bfloat16>(L_d, fwdbwd ? (__nv_bfloat16 *)z_d : NULL, (const __nv_bfloat16 *)z_d, t_d, NULL, &prm, N, K, shape); break;
      default: rc = launch<__half>(L_d, fwdbwd ? (__half *)z_d : NULL, (const __half *)z_d, t_d, NULL, &prm, N, K, shape); break;
      }
      cudaEventRecord(b);
      cudaEventSynchronize(b);
      float ms = 0;
      cudaEventElapsedTime(&ms, a, b);
      if (r > 0 && ms < *best_ms) *best_ms = ms; /* the first launch is a warm-up */
    }
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(z_d); cudaFree(t_d); cudaFree(L_d);
  free(hz); free(ht);
  return rc;
}

/* Device-to-device copy of `bytes`, best of `reps`, in ms (the bandwidth limit of the same run). */
extern "C" int lsce_cuda_copy_ms(double *best_ms, size_t bytes, int reps) {
  if (!lsce_cuda_available()) return 3;
  void *s = NULL, *d = NULL;
  if (cudaMalloc(&s, bytes) || cudaMalloc(&d, bytes)) { cudaFree(s); return 3; }
  cudaMemset(s, 1, bytes);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  *best_ms = INFINITY;
  for (int r = 0; r < reps + 1; r++) {
    cudaEventRecord(a);
    cudaMemcpy(d, s, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    if (r > 0 && ms < *best_ms) *best_ms = ms;
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(s); cudaFree(d);
  return 0;
}
