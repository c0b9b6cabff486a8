/* lsce/registry.h: the implementation registry. One X-macro list (impls/registry.inc) names every
 * implementation with its device, input dtypes, tier, accuracy bounds per dtype and entry point;
 * tests, `lsce run`, `lsce verify`, `lsce impls` and the benchmarks all iterate it. */
#ifndef LSCE_REGISTRY_H
#define LSCE_REGISTRY_H
#include <stddef.h>
#include <stdint.h>
#include "lsce/npy.h"
#include "lsce/params.h"

/* The inputs of one call, in native byte order and C order. */
#ifdef __cplusplus
extern "C" {
#endif


typedef struct {
  const void *logits;       /* (N, K) of `dtype` */
  lsce_dtype dtype;         /* F64, F32, F16 or BF16 */
  int64_t N, K;
  const int64_t *targets;   /* (N,) */
  const double *weights;    /* (K,) or NULL */
  const lsce_params *prm;   /* variant coefficients and the O(N) pre-pass (D, W, |V|) */
  int dd;                   /* double-double exp and sums (float64 inputs; the fast certifier) */
  double *loss_lo, *grad_lo; /* the fast certifier only: the low parts of loss and float64 gradient */
  /* issue #15: the lsce_problem (lsce/problem.h) when it uses an option or the sigmoid family
   * (lsce_invoke sets it; the exact CPU rows compute it, impls/cpu/optrows.h), else NULL */
  const void *opt;
} lsce_call;

/* Outputs: loss has 1 (mean, sum) or N (none) entries, accumulated and returned in double.
 * grad (NULL for forward only) is (N, K) of grad_dtype: the input dtype, F32 or F64. */
typedef int (*lsce_impl_fn)(double *loss, void *grad, lsce_dtype grad_dtype, const lsce_call *c);

typedef struct { double loss_ulp, grad_ulp; } lsce_bound;

typedef struct {
  const char *name;
  const char *device;          /* "cpu", "cuda" or "mpi" (CPU kernels across MPI ranks) */
  unsigned dtypes;             /* bit (1u << lsce_dtype) per accepted logits dtype */
  const char *tier;            /* "exact" or "fast" */
  lsce_bound bounds[4];        /* indexed by lsce_dtype F64, F32, F16, BF16 */
  lsce_impl_fn fn;
  int (*available)(void);      /* 1 when the device (or ISA) is present */
  const char *(*isa)(void);    /* the code path chosen at run time */
  size_t (*workspace)(int64_t N, int64_t K); /* bytes it allocates, high-water mark */
  int devarg;                  /* the device argument: a CUDA row's launch shape (0 elsewhere) */
} lsce_impl;

extern const lsce_impl lsce_impls[];
extern const int lsce_nimpls;
const lsce_impl *lsce_impl_find(const char *name);

int lsce_always(void);
const char *lsce_isa_scalar(void);
size_t lsce_no_workspace(int64_t N, int64_t K);
size_t lsce_ws_rows(int64_t N, int64_t K);    /* the drivers' per-row loss buffer */
size_t lsce_ws_rows_guard(int64_t N, int64_t K); /* the CPU rows' (hi, lo, bound, level) per row */
size_t lsce_ws_rows_cuda(int64_t N, int64_t K);  /* the CUDA rows' host side: the device's 4 words and the ladder's */
size_t lsce_ws_rows_keep(int64_t N, int64_t K); /* that and the kept exps of a row (2 threads) */
const char *lsce_isa_cpu(void);               /* "avx512", "avx2" or "scalar" (LSCE_ISA caps) */
int lsce_vocab_available(void);               /* lsce-mpi registered its communicator */
size_t lsce_ws_vocab(int64_t N, int64_t K);   /* lsce_ws_rows and every row's statistics */
int lsce_cuda_available(void);                /* a CUDA device is present (never links -lcuda) */
const char *lsce_isa_cuda(void);              /* "sm_90", or "none" */
int lsce_nccl_available(void);                /* NCCL loads and a communicator over the GPUs exists */
const char *lsce_isa_nccl(void);              /* "nccl<version>_x<ranks>", or "none" */
/* Why CUDA is unavailable or a CUDA call failed, device timing: lsce/cuda.h. */

/* The Targets table of docs/accuracy.md: no `exact` row may declare a looser bound. */
extern const lsce_bound lsce_target_bounds[4];

#define LSCE_DT_BIT(t) (1u << (t))
#define LSCE_DT_FLOATS (LSCE_DT_BIT(LSCE_DT_F64) | LSCE_DT_BIT(LSCE_DT_F32) | \
                        LSCE_DT_BIT(LSCE_DT_F16) | LSCE_DT_BIT(LSCE_DT_BF16))
#ifdef __cplusplus
}
#endif
#endif
