/* tests/ptx_dd.cu: one kernel per double-double routine (lsce/dd.h) and per combiner routine
 * (impls/combiner.h), compiled to PTX only, by tests/test_ptx_fma.py. The explicit fma() calls and
 * libdevice's exp and log1p (which use fma inside) are out-of-line functions here, so any
 * fma.rn.f64 left in a kernel body is a contraction the compiler made. Never linked or run. */
#include <math.h>
#include <cuda_runtime.h>

__host__ __device__ __noinline__ double lsce_ptx_fma(double a, double b, double c) { return fma(a, b, c); }
__host__ __device__ __noinline__ double lsce_ptx_exp(double x) { return exp(x); }
__host__ __device__ __noinline__ double lsce_ptx_log1p(double x) { return log1p(x); }
#define fma lsce_ptx_fma
#define exp lsce_ptx_exp
#define log1p lsce_ptx_log1p
#include "combiner.h"

#define DD(i) lsce_dd_make(a[i], a[i + 1])
#define OUT(r) do { lsce_dd r_ = (r); o[0] = r_.hi; o[1] = r_.lo; } while (0)
#define KERNEL(name, body) extern "C" __global__ void name(double *o, const double *a) { body; }

KERNEL(k_two_sum, OUT(lsce_two_sum(a[0], a[1])))
KERNEL(k_fast_two_sum, OUT(lsce_fast_two_sum(a[0], a[1])))
KERNEL(k_two_prod, OUT(lsce_two_prod(a[0], a[1])))
KERNEL(k_dd_add, OUT(lsce_dd_add(DD(0), DD(2))))
KERNEL(k_dd_sub, OUT(lsce_dd_sub(DD(0), DD(2))))
KERNEL(k_dd_add_d, OUT(lsce_dd_add_d(DD(0), a[2])))
KERNEL(k_dd_mul, OUT(lsce_dd_mul(DD(0), DD(2))))
KERNEL(k_dd_mul_d, OUT(lsce_dd_mul_d(DD(0), a[2])))
KERNEL(k_dd_div, OUT(lsce_dd_div(DD(0), DD(2))))
KERNEL(k_dd_exp, OUT(lsce_dd_exp(DD(0))))
KERNEL(k_dd_log1p, OUT(lsce_dd_log1p(DD(0))))

extern "C" __global__ void k_stats_merge(lsce_rowstats *x, const lsce_rowstats *y, int dd_exp) {
  lsce_stats_merge(x, y, dd_exp);
}
extern "C" __global__ void k_online_push(lsce_online *o, lsce_rowstats *st, const double *v, int64_t n,
                                         int64_t y, const lsce_params *p, const double *u) {
  for (int64_t j = 0; j < n; j++) lsce_online_push(o, st, v[j], j, y, p, u[j]);
  lsce_online_finish(o, st);
}
extern "C" __global__ void k_row_loss(lsce_dd *L, const lsce_params *p, const lsce_rowstats *st, int64_t y,
                                      const double *w) {
  lsce_rowcoef rc = lsce_row_coef(p, y, w);
  *L = lsce_row_loss(p, &rc, st);
}
extern "C" __global__ void k_grad(double *g, const lsce_params *p, const lsce_rowstats *st, int64_t y,
                                  const double *w, const double *e, int64_t K) {
  lsce_rowcoef rc = lsce_row_coef(p, y, w);
  lsce_gradcoef c = lsce_grad_coef(p, &rc, st, y, w, 1);
  for (int64_t j = 0; j < K; j++) g[j] = lsce_grad_entry_d(&c, j, e[j], w[j], p->pad_index);
  for (int64_t j = 0; j < K; j++) g[K + j] = lsce_grad_entry_dd(&c, j, lsce_dd_make(e[j], 0.0), w[j], p->pad_index);
}
