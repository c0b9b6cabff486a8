/* impls/cuda/nccl_vocab.cu: cuda_nccl_vocab, the vocabulary-parallel CUDA row over NCCL (issue #17),
 * the GPU counterpart of mpi_vocab_parallel, in the global semantics (the loss is the unsharded one).
 * P ranks = the visible devices (LSCE_NCCL_RANKS caps it), one communicator per device in this process
 * (ncclCommInitAll). Rank r owns the classes lsce_row_block(K, r, P) and holds only their logits:
 *   1. per row, its shard's statistics (a block of LSCE_CU_THREADS threads, each an online softmax
 *      over its strided classes, merged by rowkern.h's shared-memory tree);
 *   2. ncclAllGather of every rank's per-row statistics (bytes), then on every rank the P partial
 *      statistics of a row merged in rank (= class) order with lsce_stats_merge, as cpu_sharded and
 *      mpi_vocab_parallel merge theirs, and the loss and gradient coefficients formed by the shared
 *      combiner (impls/combiner.h);
 *   3. each rank writes the gradient of its own columns; the host copies the column blocks back;
 *   4. the rows' own bound (issue #11, impls/rowbound.h through rowkern.h): the merge checks each
 *      row's loss (lsce_cu_row_guard, gradient off), every rank its shard of the row's gradient
 *      (lsce_cu_grad_ok on the shard's largest |g_j|); the host ORs the ranks' verdicts into the
 *      row's flags and sends the flagged rows up the CPU rows' ladder (cpu/rowguard.h
 *      lsce_guard_device_rows: safe path, reference or flagged, the checked reduction, the counts).
 * Accuracy: the statistics are accumulated and combined exactly as the other CUDA rows' (double
 * sums, double-double combination, the same merge), so the row declares their bounds (loss 1 ulp
 * float32, gradient 2 ulp float32 / 1 ulp bf16, fp16: docs/accuracy.md); `lsce verify` measures it.
 * NCCL is loaded at run time (dlopen of libnccl.so.2, or the toolkit's copy): lsce links no NCCL and
 * starts without it; the row is available when the library loads and a communicator over the
 * devices can be made. Compiled when -Dnccl finds nccl.h (impls/meson.build); not run on a GPU so
 * far (none lent): its kernels' steps are impls/cuda/ncclkern.h, run by the host emulation, and the
 * test cuda_nccl runs the row on the recording CUDA runtime with 1..3 mock devices and a fake NCCL
 * (tests/fake_nccl.c). Issue #15's options (c->opt): run_opt below, impls/cuda/optkern.h's launches
 * on every rank over its own classes, the same bounds and host ladder as the other CUDA rows. */
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <math.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/elem_cu.h"
#include "cuda/rowkern.h"
#include "cuda/ncclkern.h"
#include "cuda/optkern.h"
extern "C" {
#include "cpu/elem.h"
#include "cpu/optrows.h"
}
#include "cpu/rowguard.h"
#include "cuda/opthost.h"
#include "lsce/cuda.h"
#include "lsce/problem.h"

#ifndef LSCE_NCCL_DIR
#define LSCE_NCCL_DIR "/usr/local/cuda/lib64"
#endif
enum { MAXR = 16 };

/* ---- NCCL, resolved at run time ----------------------------------------------------------------- */
static struct {
  int tried, ok, ranks, version;
  ncclResult_t (*getVersion)(int *);
  ncclResult_t (*commInitAll)(ncclComm_t *, int, const int *);
  ncclResult_t (*commDestroy)(ncclComm_t);
  ncclResult_t (*allGather)(const void *, void *, size_t, ncclDataType_t, ncclComm_t, cudaStream_t);
  ncclResult_t (*groupStart)(void);
  ncclResult_t (*groupEnd)(void);
  const char *(*errorString)(ncclResult_t);
  ncclComm_t comm[MAXR];
  char why[256];
} nc;

static int nccl_load(void) {
  if (nc.tried) return nc.ok;
  nc.tried = 1;
  if (!lsce_cuda_available()) { snprintf(nc.why, sizeof nc.why, "NCCL: %s", lsce_cuda_reason()); return 0; }
  void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen(LSCE_NCCL_DIR "/libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) { snprintf(nc.why, sizeof nc.why, "NCCL: libnccl.so.2 not loadable (%s)", dlerror()); return 0; }
#define SYM(field, name) \
  if (!(*(void **)&nc.field = dlsym(h, name))) { snprintf(nc.why, sizeof nc.why, "NCCL: no symbol %s", name); return 0; }
  SYM(getVersion, "ncclGetVersion")
  SYM(commInitAll, "ncclCommInitAll")
  SYM(commDestroy, "ncclCommDestroy")
  SYM(allGather, "ncclAllGather")
  SYM(groupStart, "ncclGroupStart")
  SYM(groupEnd, "ncclGroupEnd")
  SYM(errorString, "ncclGetErrorString")
#undef SYM
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n < 1) {
    cudaGetLastError();
    snprintf(nc.why, sizeof nc.why, "NCCL: no CUDA device");
    return 0;
  }
  const char *cap = getenv("LSCE_NCCL_RANKS");
  if (cap && atoi(cap) >= 1 && atoi(cap) < n) n = atoi(cap);
  if (n > MAXR) n = MAXR;
  int devs[MAXR];
  for (int r = 0; r < n; r++) devs[r] = r;
  ncclResult_t e = nc.commInitAll(nc.comm, n, devs);
  if (e != ncclSuccess) { snprintf(nc.why, sizeof nc.why, "NCCL: ncclCommInitAll over %d devices: %s", n, nc.errorString(e)); return 0; }
  nc.getVersion(&nc.version);
  nc.ranks = n;
  nc.ok = 1;
  return 1;
}

extern "C" int lsce_nccl_available(void) {
  int ok = nccl_load();
  if (!ok) lsce_cuda_set_reason(LSCE_CUDA_NO_DEVICE, nc.why);
  return ok;
}

extern "C" const char *lsce_isa_nccl(void) {
  static char name[64];
  if (!nccl_load()) return "none";
  snprintf(name, sizeof name, "nccl%d_x%d", nc.version, nc.ranks);
  return name;
}

/* ---- kernels (their steps: impls/cuda/ncclkern.h, shared with the host emulation) ---------------- */
/* Row i's statistics over the shard [c0, c1) held as zs (N x (c1 - c0)); one block per row (grid-stride). */
template <typename T>
__global__ void __launch_bounds__(LSCE_CU_THREADS)
shard_stats_kernel(lsce_rowstats *st, const T *zs, const int64_t *tg, const double *w, lsce_params prm,
                   int64_t N, int64_t c0, int64_t c1) {
  __shared__ lsce_rowstats sh[LSCE_CU_THREADS];
  for (int64_t i = blockIdx.x; i < N; i += gridDim.x) {
    lsce_cu_shard_stats<T>(&sh[threadIdx.x], zs, tg, i, c0, c1, threadIdx.x, blockDim.x, &prm, w);
    for (int off = blockDim.x / 2; off > 0; off /= 2) {
      __syncthreads();
      lsce_cu_tree_step(sh, threadIdx.x, off);
    }
    __syncthreads();
    if (threadIdx.x == 0) st[i] = sh[0];
    __syncthreads();
  }
}

/* Row i: the P gathered partials (layout [rank][row]) merged in rank order (lsce_cu_rank_merge). */
__global__ void rank_merge_kernel(double *R, lsce_gradcoef *gc, double *mrow, lsce_rowstats *mst, const lsce_rowstats *all,
                                  const int64_t *tg, const double *w, lsce_params prm, int64_t N, int64_t K, int P,
                                  lsce_cu_bounds bnd) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < N; i += (int64_t)gridDim.x * blockDim.x)
    lsce_cu_rank_merge(R, gc, mrow, mst, all, i, N, K, P, tg[i], &prm, w, bnd);
}

/* The gradient of the shard's columns: gs (N x (c1 - c0)) from zs, one block per row; the shard's
 * largest |g_j| (a shared-memory max tree) checked against the row's bound: gflag[i] =
 * LSCE_GUARD_GRAD_BAD where it cannot vouch for the shard, else 0. */
template <typename T>
__global__ void __launch_bounds__(LSCE_CU_THREADS)
shard_grad_kernel(T *gs, const T *zs, const lsce_gradcoef *gc, const double *mrow, const lsce_rowstats *mst,
                  int *gflag, const int64_t *tg, const double *w, lsce_params prm, int64_t N, int64_t K,
                  int64_t c0, int64_t c1, lsce_cu_bounds bnd) {
  __shared__ double gm[LSCE_CU_THREADS];
  for (int64_t i = blockIdx.x; i < N; i += gridDim.x) {
    gm[threadIdx.x] = lsce_cu_shard_grad<T>(gs, zs, gc, mrow, i, c0, c1, threadIdx.x, blockDim.x, &prm, w);
    for (int off = blockDim.x / 2; off > 0; off /= 2) {
      __syncthreads();
      lsce_cu_max_step(gm, threadIdx.x, off);
    }
    __syncthreads();
    if (threadIdx.x == 0) gflag[i] = lsce_cu_shard_verdict(mrow, mst, i, K, tg[i], gm[0], &prm, w, bnd);
    __syncthreads(); /* gm[] is rewritten by the next row */
  }
}

/* ---- the row --------------------------------------------------------------------------------------- */
static int fail_cu(cudaError_t e, const char *what) {
  char b[300];
  snprintf(b, sizeof b, "cuda_nccl_vocab: %s: %s", what, cudaGetErrorString(e));
  cudaGetLastError();
  lsce_cuda_set_reason(e == cudaErrorMemoryAllocation ? LSCE_CUDA_NO_MEMORY : LSCE_CUDA_ERROR, b);
  return 3;
}
#define CK(call, what)                                   \
  do {                                                   \
    cudaError_t ck_e_ = (call);                          \
    if (ck_e_ != cudaSuccess) { rc = fail_cu(ck_e_, what); goto out; } \
  } while (0)

/* every rank's `bytes` from snd[r] gathered into rcv[r] (rank q's at q bytes), one NCCL group */
static int gather(const void *const *snd, void *const *rcv, const cudaStream_t *st, int P, size_t bytes, const char *what) {
  ncclResult_t e = nc.groupStart();
  if (e == ncclSuccess) {
    for (int r = 0; r < P && e == ncclSuccess; r++) e = nc.allGather(snd[r], rcv[r], bytes, ncclChar, nc.comm[r], st[r]);
    ncclResult_t e2 = nc.groupEnd(); /* closes the group even after a failed call */
    if (e == ncclSuccess) e = e2;
  }
  if (e == ncclSuccess) return 0;
  char m[300];
  snprintf(m, sizeof m, "cuda_nccl_vocab: ncclAllGather (%s): %s", what, nc.errorString(e));
  lsce_cuda_set_reason(LSCE_CUDA_ERROR, m);
  return 3;
}

typedef struct {
  void *zs, *gs;
  int64_t *t;
  double *w, *Lrow, *mrow; /* Lrow: LSCE_CU_RSTRIDE words per row (hi, lo, bound, flags) */
  lsce_rowstats *st, *all, *mst;
  lsce_gradcoef *gc;
  int *gflag;
  cudaStream_t s;
} rank_buf;

template <typename T>
static cudaError_t launch(rank_buf *b, const lsce_call *c, int64_t N, int64_t c0, int64_t c1, int stage, int P) {
  const unsigned blocks = (unsigned)(N < 65535 * 16 ? (N > 0 ? N : 1) : 65535 * 16);
  const lsce_bound bd = lsce_guard_bound(c->dtype);
  const lsce_cu_bounds bnd = {bd.loss_ulp, bd.grad_ulp, (int)c->dtype};
  if (stage == 0 && c1 > c0) /* (an empty shard's statistics are uploaded empty) */
    shard_stats_kernel<T><<<blocks, LSCE_CU_THREADS, 0, b->s>>>(b->st, (const T *)b->zs, b->t, b->w, *c->prm, N, c0, c1);
  if (stage == 1)
    rank_merge_kernel<<<(unsigned)lsce_cu_merge_blocks(N), LSCE_CU_MERGE_THREADS, 0, b->s>>>(
        b->Lrow, b->gc, b->mrow, b->mst, b->all, b->t, b->w, *c->prm, N, c->K, P, bnd);
  if (stage == 2 && c1 > c0)
    shard_grad_kernel<T><<<blocks, LSCE_CU_THREADS, 0, b->s>>>((T *)b->gs, (const T *)b->zs, b->gc, b->mrow, b->mst,
                                                              b->gflag, b->t, b->w, *c->prm, N, c->K, c0, c1, bnd);
  return cudaGetLastError(); /* the launch's own error, reported by the caller */
}

static cudaError_t launch_dt(lsce_dtype dt, rank_buf *b, const lsce_call *c, int64_t N, int64_t c0, int64_t c1, int stage, int P) {
  switch (dt) {
  case LSCE_DT_F32: return launch<float>(b, c, N, c0, c1, stage, P);
  case LSCE_DT_BF16: return launch<__nv_bfloat16>(b, c, N, c0, c1, stage, P);
  default: return launch<__half>(b, c, N, c0, c1, stage, P);
  }
}

/* ---- issue #15's options and the sigmoid family ----------------------------------------------------
 * optkern.h's five launches on every rank over its own columns (q.ranks = P, q.c0, q.Kl; one slice
 * per row, 256 threads), the partials of kernels 1 and 3 all-gathered between them, and the host's
 * part shared with the other CUDA rows (opthost.h: the rows the host takes, optrows.c's reduction and
 * reference rung through lsce_cpu_options_finish); each row's gradient verdict is OR-ed over the
 * ranks (every rank's Pg). */
typedef struct {
  void *z, *g;
  lsce_cu_orow *ri;
  double *w, *soft, *Rout, *Pg;
  lsce_cu_op1 *P1, *G1, *M1;
  lsce_opt_smrow *SR;
  lsce_cu_op2 *P2, *G2;
  cudaStream_t s;
} orank;

/* step 1..5: kernel `step` of optkern.h on rank buffers o (the row kernels 2 and 4 merge the gathered G1, G2) */
template <typename T>
static cudaError_t opt_launch(const orank *o, const lsce_cu_oprm *q, int step) {
  lsce_cu_obuf bl;
  memset(&bl, 0, sizeof bl);
  bl.ri = o->ri; bl.w = o->w; bl.soft = o->soft; bl.P1 = o->P1; bl.M1 = o->M1; bl.SR = o->SR; bl.P2 = o->P2;
  bl.Rout = o->Rout; bl.Pg = o->Pg;
  lsce_cu_obuf bg = bl;
  bg.P1 = o->G1; bg.P2 = o->G2;
  const dim3 grid(1u, (unsigned)lsce_cu_split_grid_y(q->N));
  const unsigned rb = (unsigned)lsce_cu_merge_blocks(q->N), th = LSCE_CU_THREADS;
  T *g = (T *)o->g;
  const T *z = (const T *)o->z;
  switch (step) {
  case 1: opt_block_kernel<T, lsce_cu_op1><<<grid, th, th * sizeof(lsce_cu_op1), o->s>>>(g, z, bl, *q); break;
  case 2: opt_row_kernel<<<rb, LSCE_CU_MERGE_THREADS, 0, o->s>>>(bg, *q, 0); break;
  case 3: opt_block_kernel<T, lsce_cu_op2><<<grid, th, th * sizeof(lsce_cu_op2), o->s>>>(g, z, bl, *q); break;
  case 4: opt_row_kernel<<<rb, LSCE_CU_MERGE_THREADS, 0, o->s>>>(bg, *q, 1); break;
  default: opt_block_kernel<T, double><<<grid, th, th * sizeof(double), o->s>>>(g, z, bl, *q); break;
  }
  return cudaGetLastError();
}

static cudaError_t opt_launch_dt(lsce_dtype dt, const orank *o, const lsce_cu_oprm *q, int step) {
  switch (dt) {
  case LSCE_DT_F32: return opt_launch<float>(o, q, step);
  case LSCE_DT_BF16: return opt_launch<__nv_bfloat16>(o, q, step);
  default: return opt_launch<__half>(o, q, step);
  }
}

static int run_opt(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  static const char *const launch_what[6] = {"", "launch of opt_block_kernel (statistics)", "launch of opt_row_kernel (begin)",
                                             "launch of opt_block_kernel (terms)", "launch of opt_row_kernel (finish)",
                                             "launch of opt_block_kernel (gradient)"};
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int P = nc.ranks;
  const int64_t N = p->N, K = p->K;
  const size_t n1 = (size_t)(N ? N : 1), k1 = (size_t)(K ? K : 1), es = c->dtype == LSCE_DT_F32 ? 4 : 2;
  orank o[MAXR];
  memset(o, 0, sizeof o);
  lsce_cu_oprm q[MAXR];
  lsce_cu_orow *ri = (lsce_cu_orow *)malloc(sizeof(lsce_cu_orow) * n1);
  double *w = (double *)malloc(sizeof(double) * k1), *soft = NULL;
  double *Rout = (double *)malloc(sizeof(double) * LSCE_CU_RSTRIDE * n1), *Pg = (double *)calloc(n1 * (size_t)P, sizeof(double));
  double *Lrow = (double *)malloc(sizeof(double) * 3 * n1); /* (hi, lo, bound) per row: optrows.h */
  unsigned char *lvl = (unsigned char *)malloc(n1);
  if (p->soft) soft = (double *)malloc(sizeof(double) * n1 * k1);
  int rc = 0;
  if (!ri || !w || !Rout || !Pg || !Lrow || !lvl || (p->soft && !soft)) {
    lsce_cuda_set_reason(LSCE_CUDA_ERROR, "cuda_nccl_vocab: out of host memory");
    rc = 3;
    goto out;
  }
  for (int r = 0; r < P; r++) {
    lsce_cu_opt_prepare(&q[r], ri, w, soft, c, gdt, grad != NULL, 1);
    q[r].ranks = P;
    lsce_row_block(K, r, P, &q[r].c0, &q[r].Kl);
    q[r].Kl -= q[r].c0;
  }
  for (int r = 0; r < P; r++) {
    const int64_t c0 = q[r].c0, Kl = q[r].Kl;
    const size_t nz = (size_t)N * (size_t)Kl * es;
    CK(cudaSetDevice(r), "cudaSetDevice");
    CK(cudaStreamCreate(&o[r].s), "cudaStreamCreate");
    CK(cudaMalloc(&o[r].z, nz ? nz : 1), "cudaMalloc(logit shard)");
    if (grad) CK(cudaMalloc(&o[r].g, nz ? nz : 1), "cudaMalloc(gradient shard)");
    CK(cudaMalloc(&o[r].ri, sizeof(lsce_cu_orow) * n1), "cudaMalloc(rows)");
    CK(cudaMalloc(&o[r].w, sizeof(double) * k1), "cudaMalloc(weights)");
    if (soft) CK(cudaMalloc(&o[r].soft, sizeof(double) * n1 * (size_t)(Kl ? Kl : 1)), "cudaMalloc(soft target shard)");
    CK(cudaMalloc(&o[r].P1, sizeof(lsce_cu_op1) * n1), "cudaMalloc(options partials 1)");
    CK(cudaMalloc(&o[r].G1, sizeof(lsce_cu_op1) * n1 * (size_t)P), "cudaMalloc(gathered partials 1)");
    CK(cudaMalloc(&o[r].M1, sizeof(lsce_cu_op1) * n1), "cudaMalloc(options statistics)");
    CK(cudaMalloc(&o[r].SR, sizeof(lsce_opt_smrow) * n1), "cudaMalloc(options rows)");
    CK(cudaMalloc(&o[r].P2, sizeof(lsce_cu_op2) * n1), "cudaMalloc(options partials 2)");
    CK(cudaMalloc(&o[r].G2, sizeof(lsce_cu_op2) * n1 * (size_t)P), "cudaMalloc(gathered partials 2)");
    CK(cudaMalloc(&o[r].Rout, sizeof(double) * LSCE_CU_RSTRIDE * n1), "cudaMalloc(row shares)");
    CK(cudaMalloc(&o[r].Pg, sizeof(double) * n1), "cudaMalloc(gradient checks)");
    if (nz) CK(cudaMemcpy2D(o[r].z, (size_t)Kl * es, (const char *)c->logits + (size_t)c0 * es, (size_t)K * es,
                            (size_t)Kl * es, (size_t)N, cudaMemcpyHostToDevice), "cudaMemcpy2D(logit shard to device)");
    if (N) CK(cudaMemcpy(o[r].ri, ri, sizeof(lsce_cu_orow) * (size_t)N, cudaMemcpyHostToDevice), "cudaMemcpy(rows)");
    if (K) CK(cudaMemcpy(o[r].w, w, sizeof(double) * (size_t)K, cudaMemcpyHostToDevice), "cudaMemcpy(weights)");
    if (soft && nz) CK(cudaMemcpy2D(o[r].soft, sizeof(double) * (size_t)Kl, soft + c0, sizeof(double) * (size_t)K,
                                    sizeof(double) * (size_t)Kl, (size_t)N, cudaMemcpyHostToDevice), "cudaMemcpy2D(soft target shard)");
  }
  /* kernel 1 on every rank, its partials gathered; 2 and 3, gathered; 4 and 5 */
  for (int step = 1; step <= 5 && N; step++) {
    if (step == 5 && (!grad || q[0].k.sig)) break;
    for (int r = 0; r < P; r++) {
      CK(cudaSetDevice(r), "cudaSetDevice");
      CK(opt_launch_dt(c->dtype, &o[r], &q[r], step), launch_what[step]);
    }
    if (step == 1 || step == 3) {
      const void *snd[MAXR];
      void *rcv[MAXR];
      cudaStream_t st[MAXR];
      for (int r = 0; r < P; r++) {
        snd[r] = step == 1 ? (const void *)o[r].P1 : (const void *)o[r].P2;
        rcv[r] = step == 1 ? (void *)o[r].G1 : (void *)o[r].G2;
        st[r] = o[r].s;
      }
      if ((rc = gather(snd, rcv, st, P, (step == 1 ? sizeof(lsce_cu_op1) : sizeof(lsce_cu_op2)) * (size_t)N,
                       step == 1 ? "options statistics" : "options terms")))
        goto out;
    }
  }
  for (int r = 0; r < P; r++) {
    const int64_t c0 = q[r].c0, Kl = q[r].Kl;
    CK(cudaSetDevice(r), "cudaSetDevice");
    CK(cudaStreamSynchronize(o[r].s), "kernel execution");
    if (r == 0 && N) CK(cudaMemcpy(Rout, o[r].Rout, sizeof(double) * LSCE_CU_RSTRIDE * (size_t)N, cudaMemcpyDeviceToHost),
                        "cudaMemcpy(row shares)");
    if (grad && N && !q[r].k.sig) /* rank r's verdicts into Pg[i P + r] */
      CK(cudaMemcpy2D(Pg + r, sizeof(double) * (size_t)P, o[r].Pg, sizeof(double), sizeof(double), (size_t)N,
                      cudaMemcpyDeviceToHost), "cudaMemcpy2D(gradient checks)");
    if (grad && N && Kl)
      CK(cudaMemcpy2D((char *)grad + (size_t)c0 * es, (size_t)K * es, o[r].g, (size_t)Kl * es, (size_t)Kl * es, (size_t)N,
                      cudaMemcpyDeviceToHost), "cudaMemcpy2D(gradient shard)");
  }
  lsce_cu_opt_collect(Lrow, lvl, grad, gdt, &q[0], ri, Rout, Pg, P);
  if (lsce_cpu_options_finish(loss, grad, gdt, c, &q[0].k, Lrow, lvl)) { /* the reference rung out of memory */
    lsce_cuda_set_reason(LSCE_CUDA_ERROR, "cuda_nccl_vocab: out of host memory (the reference rung)");
    rc = 3;
  }
out:
  for (int r = 0; r < P; r++) {
    if (cudaSetDevice(r) != cudaSuccess) cudaGetLastError();
    cudaFree(o[r].z); cudaFree(o[r].g); cudaFree(o[r].ri); cudaFree(o[r].w); cudaFree(o[r].soft);
    cudaFree(o[r].P1); cudaFree(o[r].G1); cudaFree(o[r].M1); cudaFree(o[r].SR); cudaFree(o[r].P2); cudaFree(o[r].G2);
    cudaFree(o[r].Rout); cudaFree(o[r].Pg);
    if (o[r].s) cudaStreamDestroy(o[r].s);
  }
  cudaSetDevice(0);
  free(ri); free(w); free(soft); free(Rout); free(Pg); free(Lrow); free(lvl);
  return rc;
}

extern "C" int lsce_cuda_nccl_vocab(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  if (!lsce_nccl_available()) return 3;
  if (c->dtype == LSCE_DT_F64 || (grad && gdt != c->dtype)) return 2;
  if (c->opt) return run_opt(loss, grad, gdt, c); /* issue #15 */
  const int P = nc.ranks;
  const int64_t N = c->N, K = c->K, n1 = N > 0 ? N : 1;
  const size_t es = c->dtype == LSCE_DT_F32 ? 4 : 2;
  rank_buf b[MAXR];
  memset(b, 0, sizeof b);
  double *Lrow = (double *)malloc(sizeof(double) * LSCE_CU_RSTRIDE * (size_t)n1);
  int *gflag = grad ? (int *)malloc(sizeof(int) * (size_t)n1) : NULL;
  lsce_rowstats *empty = K < P ? (lsce_rowstats *)malloc(sizeof(lsce_rowstats) * (size_t)n1) : NULL;
  int rc = Lrow && (!grad || gflag) && (K >= P || empty) ? 0 : 3;
  if (rc) lsce_cuda_set_reason(LSCE_CUDA_ERROR, "cuda_nccl_vocab: out of host memory");
  for (int64_t i = 0; empty && i < N; i++) lsce_stats_empty(&empty[i]);
  for (int r = 0; r < P && !rc; r++) {
    int64_t c0, c1;
    lsce_row_block(K, r, P, &c0, &c1);
    const size_t nz = (size_t)N * (size_t)(c1 - c0) * es;
    CK(cudaSetDevice(r), "cudaSetDevice");
    CK(cudaStreamCreate(&b[r].s), "cudaStreamCreate");
    CK(cudaMalloc(&b[r].zs, nz ? nz : 1), "cudaMalloc(logit shard)");
    if (grad) CK(cudaMalloc(&b[r].gs, nz ? nz : 1), "cudaMalloc(gradient shard)");
    CK(cudaMalloc(&b[r].t, sizeof(int64_t) * (size_t)n1), "cudaMalloc(targets)");
    if (c->weights) CK(cudaMalloc(&b[r].w, sizeof(double) * (size_t)(K ? K : 1)), "cudaMalloc(weights)");
    CK(cudaMalloc(&b[r].Lrow, sizeof(double) * LSCE_CU_RSTRIDE * (size_t)n1), "cudaMalloc(row losses)");
    CK(cudaMalloc(&b[r].mst, sizeof(lsce_rowstats) * (size_t)n1), "cudaMalloc(merged statistics)");
    if (grad) CK(cudaMalloc(&b[r].gflag, sizeof(int) * (size_t)n1), "cudaMalloc(gradient verdicts)");
    CK(cudaMalloc(&b[r].mrow, sizeof(double) * (size_t)n1), "cudaMalloc(row maxima)");
    CK(cudaMalloc(&b[r].st, sizeof(lsce_rowstats) * (size_t)n1), "cudaMalloc(shard statistics)");
    CK(cudaMalloc(&b[r].all, sizeof(lsce_rowstats) * (size_t)n1 * (size_t)P), "cudaMalloc(gathered statistics)");
    CK(cudaMalloc(&b[r].gc, sizeof(lsce_gradcoef) * (size_t)n1), "cudaMalloc(gradient coefficients)");
    if (nz) CK(cudaMemcpy2D(b[r].zs, (size_t)(c1 - c0) * es, (const char *)c->logits + (size_t)c0 * es, (size_t)K * es,
                            (size_t)(c1 - c0) * es, (size_t)N, cudaMemcpyHostToDevice), "cudaMemcpy2D(logit shard to device)");
    if (N) CK(cudaMemcpy(b[r].t, c->targets, sizeof(int64_t) * (size_t)N, cudaMemcpyHostToDevice), "cudaMemcpy(targets)");
    if (c->weights && K) CK(cudaMemcpy(b[r].w, c->weights, sizeof(double) * (size_t)K, cudaMemcpyHostToDevice), "cudaMemcpy(weights)");
    if (c1 == c0 && N)
      CK(cudaMemcpy(b[r].st, empty, sizeof(lsce_rowstats) * (size_t)N, cudaMemcpyHostToDevice), "cudaMemcpy(empty statistics)");
    CK(launch_dt(c->dtype, &b[r], c, N, c0, c1, 0, P), "launch of shard_stats_kernel");
  }
  if (!rc && N) {
    const void *snd[MAXR];
    void *rcv[MAXR];
    cudaStream_t st[MAXR];
    for (int r = 0; r < P; r++) { snd[r] = b[r].st; rcv[r] = b[r].all; st[r] = b[r].s; }
    rc = gather(snd, rcv, st, P, sizeof(lsce_rowstats) * (size_t)N, "shard statistics");
  }
  for (int stage = 1; stage <= 2 && !rc; stage++)
    for (int r = 0; r < P && !rc; r++) {
      int64_t c0, c1;
      lsce_row_block(K, r, P, &c0, &c1);
      CK(cudaSetDevice(r), "cudaSetDevice");
      if (stage == 2 && !grad) continue;
      CK(launch_dt(c->dtype, &b[r], c, N, c0, c1, stage, P), stage == 1 ? "launch of rank_merge_kernel" : "launch of shard_grad_kernel");
    }
  for (int r = 0; r < P && !rc; r++) {
    int64_t c0, c1;
    lsce_row_block(K, r, P, &c0, &c1);
    CK(cudaSetDevice(r), "cudaSetDevice");
    CK(cudaStreamSynchronize(b[r].s), "kernel execution");
    if (r == 0 && N) CK(cudaMemcpy(Lrow, b[r].Lrow, sizeof(double) * LSCE_CU_RSTRIDE * (size_t)N, cudaMemcpyDeviceToHost), "cudaMemcpy(row losses)");
    if (grad && N && c1 > c0) {
      CK(cudaMemcpy2D((char *)grad + (size_t)c0 * es, (size_t)K * es, b[r].gs, (size_t)(c1 - c0) * es,
                      (size_t)(c1 - c0) * es, (size_t)N, cudaMemcpyDeviceToHost), "cudaMemcpy2D(gradient shard)");
      CK(cudaMemcpy(gflag, b[r].gflag, sizeof(int) * (size_t)N, cudaMemcpyDeviceToHost), "cudaMemcpy(gradient verdicts)");
      for (int64_t i = 0; i < N; i++) /* the row's flags: its loss's (rank 0, copied first) and every shard's */
        Lrow[LSCE_CU_RSTRIDE * i + 3] = (double)((int)Lrow[LSCE_CU_RSTRIDE * i + 3] | gflag[i]);
    }
  }
  if (!rc && lsce_guard_device_rows(loss, grad, c->dtype, c, Lrow)) {
    lsce_cuda_set_reason(LSCE_CUDA_ERROR, "cuda_nccl_vocab: out of host memory (the rows' guard)");
    rc = 3;
  }
out:
  for (int r = 0; r < P; r++) {
    /* freed even when the device cannot be made current (cudaFree finds a pointer's device itself) */
    if (cudaSetDevice(r) != cudaSuccess) cudaGetLastError();
    cudaFree(b[r].zs); cudaFree(b[r].gs); cudaFree(b[r].t); cudaFree(b[r].w); cudaFree(b[r].Lrow);
    cudaFree(b[r].mrow); cudaFree(b[r].st); cudaFree(b[r].all); cudaFree(b[r].gc); cudaFree(b[r].mst);
    cudaFree(b[r].gflag);
    if (b[r].s) cudaStreamDestroy(b[r].s);
  }
  cudaSetDevice(0);
  free(Lrow);
  free(gflag);
  free(empty);
  return rc;
}
