/* impls/cuda/stub.c: the CUDA rows when lsce is built without CUDA (-Dcuda=disabled): they stay in
 * the registry, report no device, and `lsce run` exits 3 for them. */
#include "lsce/registry.h"

int lsce_cuda_available(void) { return 0; }
const char *lsce_isa_cuda(void) { return "none"; }
static int no_device(double *l, void *g, lsce_dtype t, const lsce_call *c) { (void)l; (void)g; (void)t; (void)c; return 3; }
int lsce_cuda_rowblock(double *l, void *g, lsce_dtype t, const lsce_call *c) { return no_device(l, g, t, c); }
int lsce_cuda_warp(double *l, void *g, lsce_dtype t, const lsce_call *c) { return no_device(l, g, t, c); }
int lsce_cuda_split(double *l, void *g, lsce_dtype t, const lsce_call *c) { return no_device(l, g, t, c); }
int lsce_cuda_time(double *ms, const char *impl, lsce_dtype dt, int64_t N, int64_t K, int fwdbwd, int reps) {
  (void)ms; (void)impl; (void)dt; (void)N; (void)K; (void)fwdbwd; (void)reps;
  return 3;
}
int lsce_cuda_copy_ms(double *ms, size_t bytes, int reps) { (void)ms; (void)bytes; (void)reps; return 3; }
