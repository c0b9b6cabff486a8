/* impls/registry.c: expands impls/registry.inc into the lsce_impls table. */
#include <string.h>
#include "lsce/cuda.h"
#include "lsce/registry.h"

#define LSCE_B(l, g) {(double)(l), (double)(g)}
/* the entry points; a CUDA row's is a thunk that passes its launch shape to lsce_cuda_run */
#define LSCE_IMPL(name, dev, dt, tier, bounds, fn, av, isa, ws) \
  int fn(double *, void *, lsce_dtype, const lsce_call *);
#define LSCE_CUDA_IMPL(name, dt, tier, bounds, shape)                                      \
  static int lsce_row_##name(double *l, void *g, lsce_dtype t, const lsce_call *c) { \
    return lsce_cuda_run(l, g, t, c, shape);                                          \
  }
#include "registry.inc"
#undef LSCE_IMPL
#undef LSCE_CUDA_IMPL

int lsce_always(void) { return 1; }
const char *lsce_isa_scalar(void) { return "scalar"; }
size_t lsce_no_workspace(int64_t N, int64_t K) { (void)N; (void)K; return 0; }

const lsce_impl lsce_impls[] = {
#define LSCE_IMPL(name, dev, dt, tier, bounds, fn, av, isa, ws) \
  {#name, dev, dt, tier, {bounds}, fn, av, isa, ws, 0},
#define LSCE_CUDA_IMPL(name, dt, tier, bounds, shape) \
  {#name, "cuda", dt, tier, {bounds}, lsce_row_##name, lsce_cuda_available, lsce_isa_cuda, lsce_ws_rows_cuda, shape},
#include "registry.inc"
#undef LSCE_IMPL
#undef LSCE_CUDA_IMPL
};
const int lsce_nimpls = (int)(sizeof lsce_impls / sizeof lsce_impls[0]);

/* docs/accuracy.md "Targets": float64 2/4 ulp; float32 1/2; float16 1/1; bfloat16 1/1. */
const lsce_bound lsce_target_bounds[4] = {{2, 4}, {1, 2}, {1, 1}, {1, 1}};

const lsce_impl *lsce_impl_find(const char *name) {
  for (int k = 0; k < lsce_nimpls; k++)
    if (strcmp(lsce_impls[k].name, name) == 0) return &lsce_impls[k];
  return NULL;
}
