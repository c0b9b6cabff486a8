/* impls/cuda/stub.c: the CUDA rows when lsce is built without CUDA (-Dcuda=disabled): they stay in
 * the registry, report no device, and `lsce run` exits 3 for them with the reason "lsce was built
 * without CUDA" (lsce/cuda.h: status LSCE_CUDA_NOT_BUILT). */
#include "lsce/cuda.h"

static const char reason[] = "lsce was built without CUDA (impls/cuda/stub.c)";

lsce_cuda_status lsce_cuda_probe(lsce_cuda_info *info) { (void)info; return LSCE_CUDA_NOT_BUILT; }
lsce_cuda_status lsce_cuda_last_status(void) { return LSCE_CUDA_NOT_BUILT; }
const char *lsce_cuda_reason(void) { return reason; }
int lsce_cuda_available(void) { return 0; }
const char *lsce_isa_cuda(void) { return "none"; }
static int no_device(double *l, void *g, lsce_dtype t, const lsce_call *c) { (void)l; (void)g; (void)t; (void)c; return 3; }
int lsce_cuda_run(double *l, void *g, lsce_dtype t, const lsce_call *c, int shape) { (void)shape; return no_device(l, g, t, c); }
int lsce_cuda_time(double *ms, double *loss, void *grad, const char *impl, const lsce_call *c, int fwdbwd, int reps) {
  (void)ms; (void)loss; (void)grad; (void)impl; (void)c; (void)fwdbwd; (void)reps;
  return 3;
}
int lsce_cuda_copy_ms(double *ms, const void *src, size_t bytes, int reps) { (void)ms; (void)src; (void)bytes; (void)reps; return 3; }
