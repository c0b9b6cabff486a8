/* impls/cuda/nccl_stub.c: the NCCL row cuda_nccl_vocab when lsce is built without NCCL (-Dnccl=disabled,
 * no nccl.h in the toolkit, or no CUDA): it stays in the registry, is never available, and `lsce
 * run` exits 3 for it with the reason "lsce was built without NCCL". */
#include "lsce/cuda.h"

static const char reason[] = "lsce was built without NCCL (impls/cuda/nccl_stub.c)";

int lsce_nccl_available(void) {
  lsce_cuda_set_reason(LSCE_CUDA_NOT_BUILT, reason);
  return 0;
}
const char *lsce_isa_nccl(void) { return "none"; }
int lsce_cuda_nccl_vocab(double *l, void *g, lsce_dtype t, const lsce_call *c) {
  (void)l; (void)g; (void)t; (void)c;
  lsce_cuda_set_reason(LSCE_CUDA_NOT_BUILT, reason);
  return 3;
}
