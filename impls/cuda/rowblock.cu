/* impls/cuda/rowblock.cu: CUDA rows for float32, bfloat16 and float16 logits.
 *   cuda_rowblock: a block of 256 threads per row, one pass of the online softmax per thread over
 *     its strided classes (coalesced loads), statistics merged by a shared-memory tree, then one
 *     sweep writing the gradient (in place over the logits, or to a separate buffer).
 *   cuda_warp: the same with a warp per row and 8 rows per block, for small K.
 *   cuda_split: several blocks per row (few rows, huge K): partial statistics to global memory,
 *     merged per row by a second kernel, then a gradient kernel over the whole grid; rows on
 *     gridDim.y (capped at 65535), each block looping over rows y, y + gridDim.y, ...
 * The decomposition and the per-thread steps are impls/cuda/rowkern.h (shared with the host
 * emulation, tests/test_cuda_emu.cpp); the numbers go through the shared combiner
 * (impls/combiner.h): statistics accumulated in double (error about K 2^-53) and combined in
 * double-double, so the accuracy claim is the CPU rows': loss <= 1 ulp float32, gradient <= 2 ulp
 * float32 / 1 ulp bf16, fp16 (docs/accuracy.md). Each row checks itself on the device with the CPU
 * rows' own a-posteriori bound (rowkern.h lsce_cu_row_guard, impls/rowbound.h) and reports (hi, lo,
 * E, flags); the host sends the rows it flags up the CPU rows' ladder (safe path, reference, or
 * flagged with LSCE_ROW_REFERENCE=0: cpu/rowguard.h lsce_guard_device_rows), which also checks
 * and reduces the loss, so the claim holds on adversarial inputs (the K-1 family's cancellation). The double-double routines need IEEE operations
 * exactly as written: impls/meson.build compiles this file with --fmad=false (tests/test_ptx_fma.py
 * checks the PTX). 64-bit indexing throughout. Every CUDA call, launch, copy and event is checked;
 * a failure returns 3 with its reason in lsce_cuda_reason() (lsce/cuda.h).
 * Issue #15's options and the sigmoid family (c->opt set): the three rows run the launches of
 * impls/cuda/optkern.h instead (run_opt, opt_block_kernel, opt_row_kernel), with the bounds of the
 * exact CPU rows (impls/optelem.h) and their reduction and reference rung (lsce_cpu_options_finish). */
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <stdio.h>

#include "cuda/elem_cu.h"
#include "cuda/rowkern.h"
#include "cuda/optkern.h"
extern "C" {
#include "cpu/elem.h"
#include "cpu/optrows.h"
}
#include "cpu/rowguard.h"
#include "cuda/opthost.h"
#include "lsce/config.h"
#include "lsce/cuda.h"

/* GROUP threads per row; blockDim.x = LSCE_CU_THREADS; dynamic shared memory: LSCE_CU_THREADS
 * statistics, then LSCE_CU_THREADS doubles (the threads' largest |g_j|) */
template <typename T, int GROUP>
__global__ void __launch_bounds__(LSCE_CU_THREADS)
rowgroup_kernel(double *R, T *grad, const T *z, const int64_t *tg, const double *w, lsce_params prm,
                int64_t N, int64_t K, lsce_cu_bounds bnd) {
  extern __shared__ __align__(16) unsigned char smem[];
  lsce_rowstats *sh = (lsce_rowstats *)smem;
  double *gm = (double *)(sh + LSCE_CU_THREADS);
  const int lane = threadIdx.x % GROUP, grp = threadIdx.x / GROUP, groups = blockDim.x / GROUP;
  lsce_rowstats *mine = sh + grp * GROUP;
  double *gmine = gm + grp * GROUP;
  for (int64_t base = (int64_t)blockIdx.x * groups; base < N; base += (int64_t)gridDim.x * groups) {
    int64_t i = base + grp;
    int active = lsce_cu_rowgroup_stats<T>(&mine[lane], z, tg, i, N, K, lane, GROUP, &prm, w);
    for (int off = GROUP / 2; off > 0; off /= 2) {
      __syncthreads();
      lsce_cu_tree_step(mine, lane, off);
    }
    __syncthreads();
    lsce_rowstats st = mine[0];
    __syncthreads(); /* mine[] is rewritten by the next row */
    double gl = 0;
    if (i < N) gl = lsce_cu_rowgroup_finish<T>(R, grad, z + i * K, i, K, lane, GROUP, active, tg[i], &st, &prm, w);
    gmine[lane] = gl;
    for (int off = GROUP / 2; off > 0; off /= 2) {
      __syncthreads();
      lsce_cu_max_step(gmine, lane, off);
    }
    __syncthreads();
    /* lane 0 wrote the loss itself; gm[] is rewritten only after the next row's tree barriers */
    if (i < N && active && lane == 0) lsce_cu_row_guard(R, i, K, tg[i], &st, grad != NULL, gmine[0], &prm, w, bnd);
  }
}

/* split rows: each of `parts` blocks per row computes partial statistics of a class slice */
template <typename T>
__global__ void __launch_bounds__(LSCE_CU_THREADS)
split_stats_kernel(lsce_rowstats *part, const T *z, const int64_t *tg, const double *w, lsce_params prm,
                   int64_t N, int64_t K, int parts) {
  extern __shared__ __align__(16) unsigned char smem[];
  lsce_rowstats *sh = (lsce_rowstats *)smem;
  for (int64_t i = blockIdx.y; i < N; i += gridDim.y) {
    lsce_cu_split_stats<T>(&sh[threadIdx.x], z, tg, i, K, parts, blockIdx.x, threadIdx.x, blockDim.x, &prm, w);
    for (int off = blockDim.x / 2; off > 0; off /= 2) {
      __syncthreads();
      lsce_cu_tree_step(sh, threadIdx.x, off);
    }
    __syncthreads();
    if (threadIdx.x == 0) part[i * parts + blockIdx.x] = sh[0];
    __syncthreads();
  }
}

__global__ void split_merge_kernel(double *R, lsce_gradcoef *gc, double *mrow, const lsce_rowstats *part,
                                   const int64_t *tg, const double *w, lsce_params prm, int64_t N, int parts,
                                   lsce_rowstats *st) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x)
    lsce_cu_split_merge(R, gc, mrow, part, i, parts, tg[i], &prm, w, st);
}

/* dynamic shared memory: blockDim.x doubles (the threads' largest |g_j|, reduced per row) */
template <typename T>
__global__ void __launch_bounds__(LSCE_CU_THREADS)
split_grad_kernel(T *grad, const T *z, const lsce_gradcoef *gc, const double *mrow, const double *w,
                  lsce_params prm, int64_t N, int64_t K, int parts, double *gpart) {
  extern __shared__ __align__(16) unsigned char smem[];
  double *gm = (double *)smem;
  for (int64_t i = blockIdx.y; i < N; i += gridDim.y) {
    gm[threadIdx.x] = lsce_cu_split_grad<T>(grad, z, gc, mrow, i, K, parts, blockIdx.x, threadIdx.x, blockDim.x, &prm, w);
    for (int off = blockDim.x / 2; off > 0; off /= 2) {
      __syncthreads();
      lsce_cu_max_step(gm, threadIdx.x, off);
    }
    __syncthreads();
    if (threadIdx.x == 0) gpart[i * parts + blockIdx.x] = gm[0];
    __syncthreads(); /* gm[] is rewritten by the next row */
  }
}

__global__ void split_guard_kernel(double *R, const lsce_rowstats *st, const double *gpart, const int64_t *tg,
                                   const double *w, lsce_params prm, int64_t N, int64_t K, int parts, int has_grad,
                                   lsce_cu_bounds bnd) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x)
    lsce_cu_split_guard(R, st, gpart, i, K, parts, has_grad, tg[i], &prm, w, bnd);
}

/* issue #15's options and the sigmoid family: opt_block_kernel and opt_row_kernel, impls/cuda/optkern.h */

/* ---- host side: status and reasons ------------------------------------------------------------- */
static lsce_cuda_status g_status = LSCE_CUDA_OK;
static char g_reason[512];
static lsce_cuda_status g_probe = LSCE_CUDA_OK;
static char g_probe_reason[512];
static int g_probed = 0;

extern "C" lsce_cuda_status lsce_cuda_last_status(void) { return g_status; }
extern "C" const char *lsce_cuda_reason(void) { return g_reason; }
extern "C" void lsce_cuda_set_reason(lsce_cuda_status s, const char *reason) {
  g_status = s;
  snprintf(g_reason, sizeof g_reason, "%s", reason);
}

static lsce_cuda_status classify(cudaError_t e) {
  switch (e) {
  case cudaErrorMemoryAllocation: return LSCE_CUDA_NO_MEMORY;
  case cudaErrorInsufficientDriver: return LSCE_CUDA_OLD_DRIVER;
  case cudaErrorNoDevice: return LSCE_CUDA_NO_DEVICE;
  default: return LSCE_CUDA_ERROR;
  }
}

/* records the failure of `what` and returns 3 (the registry's "could not complete") */
static int cu_fail(cudaError_t e, const char *what) {
  g_status = classify(e);
  const char *kind = g_status == LSCE_CUDA_NO_MEMORY ? "out of device memory"
                     : g_status == LSCE_CUDA_OLD_DRIVER ? "CUDA driver too old"
                     : g_status == LSCE_CUDA_NO_DEVICE ? "no CUDA device" : "CUDA error";
  snprintf(g_reason, sizeof g_reason, "%s: %s: %s (%s)", kind, what, cudaGetErrorString(e), cudaGetErrorName(e));
  cudaGetLastError(); /* clear a non-sticky error so the next call starts clean */
  return 3;
}

#define CK(call, what)                                     \
  do {                                                     \
    cudaError_t ck_e_ = (call);                            \
    if (ck_e_ != cudaSuccess) { rc = cu_fail(ck_e_, what); goto out; } \
  } while (0)

static lsce_cuda_status probe(lsce_cuda_info *info) {
  int drv = 0, rt = 0, n = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv); /* 0 when no driver (libcuda.so.1) can be loaded */
  if (drv == 0) {
    g_status = LSCE_CUDA_NO_DEVICE;
    snprintf(g_reason, sizeof g_reason, "no CUDA device: no CUDA driver (libcuda.so.1 not loadable)");
    return g_status;
  }
  if (drv / 1000 < rt / 1000) { /* another major version: no compatibility (a minor one may work) */
    g_status = LSCE_CUDA_OLD_DRIVER;
    snprintf(g_reason, sizeof g_reason, "CUDA driver too old: it supports CUDA %d.%d, lsce's runtime is %d.%d",
             drv / 1000, drv % 1000 / 10, rt / 1000, rt % 1000 / 10);
    return g_status;
  }
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) { cu_fail(e, "cudaGetDeviceCount"); return g_status; }
  if (n < 1) {
    g_status = LSCE_CUDA_NO_DEVICE;
    snprintf(g_reason, sizeof g_reason, "no CUDA device: the driver sees none");
    return g_status;
  }
  if (info) {
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, 0);
    if (e != cudaSuccess) { cu_fail(e, "cudaGetDeviceProperties"); return g_status; }
    size_t fr = 0, tot = 0;
    e = cudaMemGetInfo(&fr, &tot);
    if (e != cudaSuccess) { cu_fail(e, "cudaMemGetInfo"); return g_status; }
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->major = prop.major; info->minor = prop.minor; info->sms = prop.multiProcessorCount;
    info->mem_total = tot; info->mem_free = fr; info->l2_bytes = (size_t)prop.l2CacheSize;
    info->driver_version = drv; info->runtime_version = rt;
  }
  g_status = LSCE_CUDA_OK;
  g_reason[0] = 0;
  return g_status;
}

extern "C" lsce_cuda_status lsce_cuda_probe(lsce_cuda_info *info) { return probe(info); }

/* the cached probe: sets the reason again for every caller that finds CUDA unavailable */
extern "C" int lsce_cuda_available(void) {
  if (!g_probed) {
    g_probe = probe(NULL);
    snprintf(g_probe_reason, sizeof g_probe_reason, "%s", g_reason);
    g_probed = 1;
  }
  if (g_probe != LSCE_CUDA_OK) {
    g_status = g_probe;
    snprintf(g_reason, sizeof g_reason, "%s", g_probe_reason);
  }
  return g_probe == LSCE_CUDA_OK;
}

extern "C" const char *lsce_isa_cuda(void) {
  static char name[64];
  if (!lsce_cuda_available()) return "none";
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) { cudaGetLastError(); return "cuda"; }
  snprintf(name, sizeof name, "sm_%d%d", prop.major, prop.minor);
  return name;
}

/* ---- host side: launching ----------------------------------------------------------------------- */
/* cuda_split's workspace, allocated outside any timed window */
typedef struct {
  lsce_rowstats *part;
  lsce_gradcoef *gc;
  double *mrow;
  lsce_rowstats *st; /* every row's merged statistics, for its guard */
  double *gpart;     /* every (row, block)'s largest |g_j| */
} split_ws;

static void ws_free(split_ws *ws) {
  cudaFree(ws->part); cudaFree(ws->gc); cudaFree(ws->mrow); cudaFree(ws->st); cudaFree(ws->gpart);
  memset(ws, 0, sizeof *ws);
}

static int ws_alloc(split_ws *ws, int shape, int64_t N, int64_t K) {
  int rc = 0;
  const size_t n = (size_t)(N > 0 ? N : 1);
  memset(ws, 0, sizeof *ws);
  if (shape != LSCE_CU_SHAPE_SPLIT) return 0;
  CK(cudaMalloc(&ws->part, sizeof(lsce_rowstats) * n * (size_t)lsce_cu_split_parts(K)), "cudaMalloc(split partials)");
  CK(cudaMalloc(&ws->gc, sizeof(lsce_gradcoef) * n), "cudaMalloc(split coefficients)");
  CK(cudaMalloc(&ws->mrow, sizeof(double) * n), "cudaMalloc(split maxima)");
  CK(cudaMalloc(&ws->st, sizeof(lsce_rowstats) * n), "cudaMalloc(split statistics)");
  CK(cudaMalloc(&ws->gpart, sizeof(double) * n * (size_t)lsce_cu_split_parts(K)), "cudaMalloc(split gradient maxima)");
out:
  if (rc) ws_free(ws);
  return rc;
}

/* Enqueues a row's kernels on stream s; no host synchronization. Every launch is checked. R_d:
 * LSCE_CU_RSTRIDE doubles per row (loss pair, bound, flags). */
template <typename T>
static int enqueue(double *R_d, T *grad_d, const T *z_d, const int64_t *t_d, const double *w_d,
                   const lsce_params *prm, int64_t N, int64_t K, int shape, const split_ws *ws, cudaStream_t s,
                   lsce_dtype dt) {
  int rc = 0;
  if (N == 0) return 0;
  const lsce_bound b = lsce_guard_bound(dt);
  const lsce_cu_bounds bnd = {b.loss_ulp, b.grad_ulp, (int)dt};
  if (shape == LSCE_CU_SHAPE_SPLIT) {
    const int parts = lsce_cu_split_parts(K);
    dim3 grid((unsigned)parts, (unsigned)lsce_cu_split_grid_y(N));
    split_stats_kernel<T><<<grid, LSCE_CU_THREADS, LSCE_CU_THREADS * sizeof(lsce_rowstats), s>>>(
        ws->part, z_d, t_d, w_d, *prm, N, K, parts);
    CK(cudaGetLastError(), "launch of split_stats_kernel");
    split_merge_kernel<<<(unsigned)lsce_cu_merge_blocks(N), LSCE_CU_MERGE_THREADS, 0, s>>>(
        R_d, ws->gc, ws->mrow, ws->part, t_d, w_d, *prm, N, parts, ws->st);
    CK(cudaGetLastError(), "launch of split_merge_kernel");
    if (grad_d) {
      split_grad_kernel<T><<<grid, LSCE_CU_THREADS, LSCE_CU_THREADS * sizeof(double), s>>>(
          grad_d, z_d, ws->gc, ws->mrow, w_d, *prm, N, K, parts, ws->gpart);
      CK(cudaGetLastError(), "launch of split_grad_kernel");
    }
    split_guard_kernel<<<(unsigned)lsce_cu_merge_blocks(N), LSCE_CU_MERGE_THREADS, 0, s>>>(
        R_d, ws->st, ws->gpart, t_d, w_d, *prm, N, K, parts, grad_d != NULL, bnd);
    CK(cudaGetLastError(), "launch of split_guard_kernel");
    return 0;
  }
  {
    lsce_cu_rowgroup_geom g = lsce_cu_rowgroup(shape, N);
    size_t shm = (sizeof(lsce_rowstats) + sizeof(double)) * LSCE_CU_THREADS;
    if (g.group == 32)
      rowgroup_kernel<T, 32><<<(unsigned)g.blocks, LSCE_CU_THREADS, shm, s>>>(R_d, grad_d, z_d, t_d, w_d, *prm, N, K, bnd);
    else
      rowgroup_kernel<T, LSCE_CU_THREADS><<<(unsigned)g.blocks, LSCE_CU_THREADS, shm, s>>>(R_d, grad_d, z_d, t_d, w_d, *prm, N, K, bnd);
    CK(cudaGetLastError(), "launch of rowgroup_kernel");
  }
out:
  return rc;
}

static int enqueue_dt(lsce_dtype dt, double *L_d, void *g_d, const void *z_d, const int64_t *t_d,
                      const double *w_d, const lsce_params *prm, int64_t N, int64_t K, int shape,
                      const split_ws *ws, cudaStream_t s) {
  switch (dt) {
  case LSCE_DT_F32: return enqueue<float>(L_d, (float *)g_d, (const float *)z_d, t_d, w_d, prm, N, K, shape, ws, s, dt);
  case LSCE_DT_BF16:
    return enqueue<__nv_bfloat16>(L_d, (__nv_bfloat16 *)g_d, (const __nv_bfloat16 *)z_d, t_d, w_d, prm, N, K, shape, ws, s, dt);
  default: return enqueue<__half>(L_d, (__half *)g_d, (const __half *)z_d, t_d, w_d, prm, N, K, shape, ws, s, dt);
  }
}

/* a CUDA row's launch shape: its registry row's device argument (impls/registry.inc) */
static int shape_of(const char *impl) {
  const lsce_impl *im = lsce_impl_find(impl);
  return im ? im->devarg : LSCE_CU_SHAPE_BLOCK;
}

static size_t elem_size(lsce_dtype dt) { return dt == LSCE_DT_F32 ? 4 : 2; }

/* The loss and the flagged rows: the device's (hi, lo, E, flags) per row through the CPU rows'
 * ladder (cpu/rowguard.h lsce_guard_device_rows: safe path, reference, counts, the checked
 * reduction); the gradient rows it recomputes overwrite the device's in grad (host memory). */
static int guard_rows(double *loss, void *grad, const lsce_call *c, const double *R) {
  if (!lsce_guard_device_rows(loss, grad, c->dtype, c, R)) return 0;
  g_status = LSCE_CUDA_ERROR;
  snprintf(g_reason, sizeof g_reason, "out of host memory (the rows' guard)");
  return 3;
}

/* ---- host side: issue #15's options ------------------------------------------------------------ */
template <typename T>
static int opt_enqueue(T *grad_d, const T *z_d, const lsce_cu_obuf *b, const lsce_cu_oprm *q, int threads) {
  int rc = 0;
  dim3 grid((unsigned)q->parts, (unsigned)lsce_cu_split_grid_y(q->N));
  const unsigned rb = (unsigned)lsce_cu_merge_blocks(q->N);
  opt_block_kernel<T, lsce_cu_op1><<<grid, threads, threads * sizeof(lsce_cu_op1), 0>>>(grad_d, z_d, *b, *q);
  CK(cudaGetLastError(), "launch of opt_block_kernel (statistics)");
  opt_row_kernel<<<rb, LSCE_CU_MERGE_THREADS, 0, 0>>>(*b, *q, 0);
  CK(cudaGetLastError(), "launch of opt_row_kernel (begin)");
  opt_block_kernel<T, lsce_cu_op2><<<grid, threads, threads * sizeof(lsce_cu_op2), 0>>>(grad_d, z_d, *b, *q);
  CK(cudaGetLastError(), "launch of opt_block_kernel (terms)");
  opt_row_kernel<<<rb, LSCE_CU_MERGE_THREADS, 0, 0>>>(*b, *q, 1);
  CK(cudaGetLastError(), "launch of opt_row_kernel (finish)");
  if (grad_d && !q->k.sig) {
    opt_block_kernel<T, double><<<grid, threads, threads * sizeof(double), 0>>>(grad_d, z_d, *b, *q);
    CK(cudaGetLastError(), "launch of opt_block_kernel (gradient)");
  }
out:
  return rc;
}

/* The options path of a CUDA row (c->opt set): the host sorts the rows (outside V or of sample
 * weight 0: loss and gradient 0; a NaN mean: gradient NaN; constants the rows defer to the
 * reference: flagged to it, as optrows.c's do_row), the device computes the others (optkern.h), and
 * optrows.c's own reduction and reference rung finish (lsce_cpu_options_finish). */
static int run_opt(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, int shape) {
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int64_t N = p->N, K = p->K;
  const size_t n1 = (size_t)(N ? N : 1), es = elem_size(c->dtype), nz = (size_t)N * (size_t)K * es;
  const int inplace = lsce_config_get()->cuda_inplace;
  const int threads = shape == LSCE_CU_SHAPE_WARP ? 32 : LSCE_CU_THREADS;
  lsce_cu_oprm q;
  const int parts = shape == LSCE_CU_SHAPE_SPLIT ? lsce_cu_split_parts(K) : 1;
  const size_t np = n1 * (size_t)parts;
  lsce_cu_orow *ri = (lsce_cu_orow *)malloc(sizeof(lsce_cu_orow) * n1);
  double *w = (double *)malloc(sizeof(double) * (size_t)(K ? K : 1)), *soft = NULL, *Rout = NULL, *Pg = NULL;
  double *Lrow = (double *)malloc(sizeof(double) * 3 * n1); /* (hi, lo, bound) per row: optrows.h */
  unsigned char *lvl = (unsigned char *)malloc(n1);
  void *z_d = NULL, *g_d = NULL;
  lsce_cu_obuf b;
  memset(&b, 0, sizeof b);
  lsce_cu_orow *ri_d = NULL;
  double *w_d = NULL, *soft_d = NULL;
  int rc = 0;
  if (p->soft) soft = (double *)malloc(sizeof(double) * n1 * (size_t)(K ? K : 1));
  Rout = (double *)malloc(sizeof(double) * LSCE_CU_RSTRIDE * n1);
  Pg = (double *)malloc(sizeof(double) * np);
  if (!ri || !w || !Lrow || !lvl || !Rout || !Pg || (p->soft && !soft)) {
    rc = 3; g_status = LSCE_CUDA_ERROR; snprintf(g_reason, sizeof g_reason, "out of host memory"); goto out;
  }
  lsce_cu_opt_prepare(&q, ri, w, soft, c, gdt, grad != NULL, parts);
  CK(cudaMalloc(&z_d, nz ? nz : 1), "cudaMalloc(logits)");
  if (grad && !inplace) CK(cudaMalloc(&g_d, nz ? nz : 1), "cudaMalloc(gradient)");
  if (grad && inplace) g_d = z_d;
  CK(cudaMalloc(&ri_d, sizeof(lsce_cu_orow) * n1), "cudaMalloc(rows)");
  CK(cudaMalloc(&w_d, sizeof(double) * (size_t)(K ? K : 1)), "cudaMalloc(weights)");
  if (soft) CK(cudaMalloc(&soft_d, sizeof(double) * n1 * (size_t)(K ? K : 1)), "cudaMalloc(soft targets)");
  CK(cudaMalloc(&b.P1, sizeof(lsce_cu_op1) * np), "cudaMalloc(options partials 1)");
  CK(cudaMalloc(&b.M1, sizeof(lsce_cu_op1) * n1), "cudaMalloc(options statistics)");
  CK(cudaMalloc(&b.SR, sizeof(lsce_opt_smrow) * n1), "cudaMalloc(options rows)");
  CK(cudaMalloc(&b.P2, sizeof(lsce_cu_op2) * np), "cudaMalloc(options partials 2)");
  CK(cudaMalloc(&b.Rout, sizeof(double) * LSCE_CU_RSTRIDE * n1), "cudaMalloc(row shares)");
  CK(cudaMalloc(&b.Pg, sizeof(double) * np), "cudaMalloc(gradient checks)");
  b.ri = ri_d; b.w = w_d; b.soft = soft_d;
  if (nz) CK(cudaMemcpy(z_d, c->logits, nz, cudaMemcpyHostToDevice), "cudaMemcpy(logits to device)");
  if (N) CK(cudaMemcpy(ri_d, ri, sizeof(lsce_cu_orow) * N, cudaMemcpyHostToDevice), "cudaMemcpy(rows to device)");
  if (K) CK(cudaMemcpy(w_d, w, sizeof(double) * K, cudaMemcpyHostToDevice), "cudaMemcpy(weights to device)");
  if (soft && nz) CK(cudaMemcpy(soft_d, soft, sizeof(double) * N * K, cudaMemcpyHostToDevice), "cudaMemcpy(soft targets to device)");
  if (N) {
    switch (c->dtype) {
    case LSCE_DT_F32: rc = opt_enqueue<float>((float *)g_d, (const float *)z_d, &b, &q, threads); break;
    case LSCE_DT_BF16: rc = opt_enqueue<__nv_bfloat16>((__nv_bfloat16 *)g_d, (const __nv_bfloat16 *)z_d, &b, &q, threads); break;
    default: rc = opt_enqueue<__half>((__half *)g_d, (const __half *)z_d, &b, &q, threads); break;
    }
    if (rc) goto out;
  }
  CK(cudaStreamSynchronize(0), "kernel execution");
  if (N) CK(cudaMemcpy(Rout, b.Rout, sizeof(double) * LSCE_CU_RSTRIDE * N, cudaMemcpyDeviceToHost), "cudaMemcpy(row shares to host)");
  /* kernel 5 (softmax with a gradient) wrote every (row, slice)'s check */
  if (N && grad && !q.k.sig) CK(cudaMemcpy(Pg, b.Pg, sizeof(double) * np, cudaMemcpyDeviceToHost), "cudaMemcpy(gradient checks to host)");
  if (grad && nz) CK(cudaMemcpy(grad, g_d, nz, cudaMemcpyDeviceToHost), "cudaMemcpy(gradient to host)");
  lsce_cu_opt_collect(Lrow, lvl, grad, gdt, &q, ri, Rout, Pg, q.parts);
  if (lsce_cpu_options_finish(loss, grad, gdt, c, &q.k, Lrow, lvl)) { /* the reference rung out of memory */
    rc = 3; g_status = LSCE_CUDA_ERROR; snprintf(g_reason, sizeof g_reason, "out of host memory (the reference rung)");
  }
out:
  free(ri); free(w); free(soft); free(Rout); free(Pg); free(Lrow); free(lvl);
  cudaFree(z_d); cudaFree(ri_d); cudaFree(w_d); cudaFree(soft_d);
  cudaFree(b.P1); cudaFree(b.M1); cudaFree(b.SR); cudaFree(b.P2); cudaFree(b.Rout); cudaFree(b.Pg);
  if (g_d && g_d != z_d) cudaFree(g_d);
  return rc;
}

/* LSCE_CUDA_INPLACE=1 writes the gradient over the device copy of the logits */
static int run(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, int shape) {
  if (!lsce_cuda_available()) return 3;
  if (c->dtype == LSCE_DT_F64 || (grad && gdt != c->dtype)) return 2;
  if (c->opt) return run_opt(loss, grad, gdt, c, shape); /* issue #15 */
  const int64_t N = c->N, K = c->K;
  const size_t nz = (size_t)N * (size_t)K * elem_size(c->dtype), n1 = (size_t)(N ? N : 1);
  const int inplace = lsce_config_get()->cuda_inplace; /* LSCE_CUDA_INPLACE=1 (lsce/config.h) */
  void *z_d = NULL, *g_d = NULL;
  int64_t *t_d = NULL;
  double *w_d = NULL, *L_d = NULL, *Lrow = NULL;
  split_ws ws;
  memset(&ws, 0, sizeof ws);
  int rc = 0;
  CK(cudaMalloc(&z_d, nz ? nz : 1), "cudaMalloc(logits)");
  CK(cudaMalloc(&t_d, sizeof(int64_t) * n1), "cudaMalloc(targets)");
  CK(cudaMalloc(&L_d, sizeof(double) * LSCE_CU_RSTRIDE * n1), "cudaMalloc(row losses)");
  if (c->weights) CK(cudaMalloc(&w_d, sizeof(double) * (size_t)(K ? K : 1)), "cudaMalloc(weights)");
  if (grad && !inplace) CK(cudaMalloc(&g_d, nz ? nz : 1), "cudaMalloc(gradient)");
  if (grad && inplace) g_d = z_d;
  if ((rc = ws_alloc(&ws, shape, N, K))) goto out;
  Lrow = (double *)malloc(sizeof(double) * LSCE_CU_RSTRIDE * n1);
  if (!Lrow) { rc = 3; g_status = LSCE_CUDA_ERROR; snprintf(g_reason, sizeof g_reason, "out of host memory"); goto out; }
  if (nz) CK(cudaMemcpy(z_d, c->logits, nz, cudaMemcpyHostToDevice), "cudaMemcpy(logits to device)");
  if (N) CK(cudaMemcpy(t_d, c->targets, sizeof(int64_t) * N, cudaMemcpyHostToDevice), "cudaMemcpy(targets to device)");
  if (c->weights && K) CK(cudaMemcpy(w_d, c->weights, sizeof(double) * K, cudaMemcpyHostToDevice), "cudaMemcpy(weights to device)");
  if ((rc = enqueue_dt(c->dtype, L_d, g_d, z_d, t_d, w_d, c->prm, N, K, shape, &ws, 0))) goto out;
  CK(cudaStreamSynchronize(0), "kernel execution");
  if (N) CK(cudaMemcpy(Lrow, L_d, sizeof(double) * LSCE_CU_RSTRIDE * N, cudaMemcpyDeviceToHost), "cudaMemcpy(row losses to host)");
  if (grad && nz) CK(cudaMemcpy(grad, g_d, nz, cudaMemcpyDeviceToHost), "cudaMemcpy(gradient to host)");
  rc = guard_rows(loss, grad, c, Lrow);
out:
  free(Lrow);
  ws_free(&ws);
  cudaFree(z_d); cudaFree(t_d); cudaFree(w_d); cudaFree(L_d);
  if (g_d && g_d != z_d) cudaFree(g_d);
  return rc;
}

/* every CUDA row of the registry (LSCE_CUDA_IMPL), its launch shape given by the row */
extern "C" int lsce_cuda_run(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, int shape) {
  return run(loss, grad, gdt, c, shape);
}

/* ---- device-resident timing (CUDA events) for lsce-dev gpubench ---------------------------------- */
/* The flush buffer (lsce_cuda_flush_bytes): written before every sample, so no sample starts with
 * its inputs in L2. */
static int flush_alloc(void **buf, size_t *bytes) {
  int rc = 0, l2 = 0, dev = 0;
  *buf = NULL;
  CK(cudaGetDevice(&dev), "cudaGetDevice");
  CK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev), "cudaDeviceGetAttribute(L2 size)");
  *bytes = lsce_cuda_flush_bytes((size_t)l2);
  CK(cudaMalloc(buf, *bytes), "cudaMalloc(L2 flush buffer)");
out:
  return rc;
}

extern "C" int lsce_cuda_time(double *best_ms, double *loss, void *grad, const char *impl, const lsce_call *c,
                              int fwdbwd, int reps) {
  if (!lsce_cuda_available()) return 3;
  if (c->dtype == LSCE_DT_F64 || c->opt) return 2; /* timing: the catalog's calls only */
  const int shape = shape_of(impl);
  const int64_t N = c->N, K = c->K;
  const size_t nz = (size_t)N * (size_t)K * elem_size(c->dtype), n1 = (size_t)(N ? N : 1);
  void *z0_d = NULL, *z_d = NULL, *flush = NULL;
  size_t fbytes = 0;
  int64_t *t_d = NULL;
  double *w_d = NULL, *L_d = NULL, *Lrow = NULL;
  split_ws ws;
  memset(&ws, 0, sizeof ws);
  cudaEvent_t a = NULL, b = NULL;
  int rc = 0;
  *best_ms = INFINITY;
  CK(cudaEventCreate(&a), "cudaEventCreate");
  CK(cudaEventCreate(&b), "cudaEventCreate");
  CK(cudaMalloc(&z0_d, nz ? nz : 1), "cudaMalloc(logits)");
  if (fwdbwd) CK(cudaMalloc(&z_d, nz ? nz : 1), "cudaMalloc(logits, working copy)");
  CK(cudaMalloc(&t_d, sizeof(int64_t) * n1), "cudaMalloc(targets)");
  CK(cudaMalloc(&L_d, sizeof(double) * LSCE_CU_RSTRIDE * n1), "cudaMalloc(row losses)");
  if (c->weights) CK(cudaMalloc(&w_d, sizeof(double) * (size_t)(K ? K : 1)), "cudaMalloc(weights)");
  if ((rc = ws_alloc(&ws, shape, N, K))) goto out;
  if ((rc = flush_alloc(&flush, &fbytes))) goto out;
  Lrow = (double *)malloc(sizeof(double) * LSCE_CU_RSTRIDE * n1);
  if (!Lrow) { rc = 3; g_status = LSCE_CUDA_ERROR; snprintf(g_reason, sizeof g_reason, "out of host memory"); goto out; }
  if (nz) CK(cudaMemcpy(z0_d, c->logits, nz, cudaMemcpyHostToDevice), "cudaMemcpy(logits to device)");
  if (N) CK(cudaMemcpy(t_d, c->targets, sizeof(int64_t) * N, cudaMemcpyHostToDevice), "cudaMemcpy(targets to device)");
  if (c->weights && K) CK(cudaMemcpy(w_d, c->weights, sizeof(double) * K, cudaMemcpyHostToDevice), "cudaMemcpy(weights to device)");
  for (int r = 0; r < reps + 1; r++) {
    void *zin = fwdbwd ? z_d : z0_d;
    float ms = 0;
    if (fwdbwd && nz) CK(cudaMemcpyAsync(z_d, z0_d, nz, cudaMemcpyDeviceToDevice, 0), "cudaMemcpyAsync(fresh logits)");
    CK(cudaMemsetAsync(flush, r & 0xff, fbytes, 0), "cudaMemsetAsync(L2 flush)");
    CK(cudaEventRecord(a, 0), "cudaEventRecord");
    if ((rc = enqueue_dt(c->dtype, L_d, fwdbwd ? zin : NULL, zin, t_d, w_d, c->prm, N, K, shape, &ws, 0))) goto out;
    CK(cudaEventRecord(b, 0), "cudaEventRecord");
    CK(cudaEventSynchronize(b), "kernel execution (cudaEventSynchronize)");
    CK(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
    if (r > 0 && ms < *best_ms) *best_ms = ms; /* the first sample is a warm-up */
  }
  if (N) CK(cudaMemcpy(Lrow, L_d, sizeof(double) * LSCE_CU_RSTRIDE * N, cudaMemcpyDeviceToHost), "cudaMemcpy(row losses to host)");
  if (fwdbwd && grad && nz) CK(cudaMemcpy(grad, z_d, nz, cudaMemcpyDeviceToHost), "cudaMemcpy(gradient to host)");
  /* outside the timed window: the rows the device flagged climb the host ladder */
  rc = guard_rows(loss, fwdbwd ? grad : NULL, c, Lrow);
out:
  free(Lrow);
  ws_free(&ws);
  cudaFree(flush); cudaFree(z0_d); cudaFree(z_d); cudaFree(t_d); cudaFree(w_d); cudaFree(L_d);
  if (a) cudaEventDestroy(a);
  if (b) cudaEventDestroy(b);
  return rc;
}

extern "C" int lsce_cuda_copy_ms(double *best_ms, const void *src, size_t bytes, int reps) {
  if (!lsce_cuda_available()) return 3;
  void *s = NULL, *d = NULL, *flush = NULL, *back = NULL;
  size_t fbytes = 0;
  cudaEvent_t a = NULL, b = NULL;
  int rc = 0;
  *best_ms = INFINITY;
  CK(cudaEventCreate(&a), "cudaEventCreate");
  CK(cudaEventCreate(&b), "cudaEventCreate");
  CK(cudaMalloc(&s, bytes ? bytes : 1), "cudaMalloc(copy source)");
  CK(cudaMalloc(&d, bytes ? bytes : 1), "cudaMalloc(copy destination)");
  if ((rc = flush_alloc(&flush, &fbytes))) goto out;
  CK(cudaMemcpy(s, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy(copy source to device)");
  for (int r = 0; r < reps + 1; r++) {
    float ms = 0;
    CK(cudaMemsetAsync(d, 0, bytes, 0), "cudaMemsetAsync(copy destination)");
    CK(cudaMemsetAsync(flush, r & 0xff, fbytes, 0), "cudaMemsetAsync(L2 flush)");
    CK(cudaEventRecord(a, 0), "cudaEventRecord");
    CK(cudaMemcpyAsync(d, s, bytes, cudaMemcpyDeviceToDevice, 0), "cudaMemcpyAsync(device to device)");
    CK(cudaEventRecord(b, 0), "cudaEventRecord");
    CK(cudaEventSynchronize(b), "cudaEventSynchronize");
    CK(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
    if (r > 0 && ms < *best_ms) *best_ms = ms;
  }
  back = malloc(bytes ? bytes : 1);
  if (!back) { rc = 3; g_status = LSCE_CUDA_ERROR; snprintf(g_reason, sizeof g_reason, "out of host memory"); goto out; }
  CK(cudaMemcpy(back, d, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(copy destination to host)");
  if (memcmp(back, src, bytes)) {
    rc = 1;
    g_status = LSCE_CUDA_ERROR;
    snprintf(g_reason, sizeof g_reason, "the device-to-device copy's output differs from its input");
  }
out:
  free(back);
  cudaFree(flush); cudaFree(s); cudaFree(d);
  if (a) cudaEventDestroy(a);
  if (b) cudaEventDestroy(b);
  return rc;
}
