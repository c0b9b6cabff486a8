/* verify/invoke.c: runs one registry row on a loaded problem: native-order inputs, the O(N)
 * parameter pre-pass, the call, and the gradient converted exactly to float64. Outputs are
 * poisoned with NaN (0x88 bytes for narrow types) before the call, so an unwritten element fails. */
#include <stdlib.h>
#include <string.h>
#include "cpu/elem.h"
#include "lsce/cuda.h"
#include "lsce/invoke.h"
#include "lsce/ref_options.h"

void *lsce_native_logits(const lsce_problem *p) {
  const int64_t n = p->N * p->K;
  lsce_dtype dt = p->logits.dtype;
  void *z = malloc(lsce_dtype_size(dt) * (size_t)(n > 0 ? n : 1));
  if (!z) return NULL;
  for (int64_t i = 0; i < n; i++) {
    double v = lsce_npy_get_f(&p->logits, i);
    switch (dt) {
    case LSCE_DT_F64: ((double *)z)[i] = v; break;
    case LSCE_DT_F32: ((float *)z)[i] = (float)v; break; /* exact: v came from a float */
    case LSCE_DT_F16: ((uint16_t *)z)[i] = lsce_double_to_f16(v); break;
    default: ((uint16_t *)z)[i] = lsce_double_to_bf16(v); break;
    }
  }
  return z;
}

int lsce_invoke(const lsce_impl *im, const lsce_problem *p, double *loss, double *grad,
                const char *who, lsce_err *err) {
  return lsce_invoke_counted(im, p, loss, grad, NULL, who, err);
}

int lsce_invoke_counted(const lsce_impl *im, const lsce_problem *p, double *loss, double *grad,
                        lsce_row_counts *counts, const char *who, lsce_err *err) {
  /* issue #15's options and the sigmoid family: the exact CPU rows compute them (impls/cpu/optrows.c,
   * through call.opt); every other row refuses them, never computing the catalog's loss in their place */
  const int opts = lsce_options_first(p) != NULL;
  int orc = lsce_impl_takes_options(im, p, err);
  if (orc) return orc;
  const int64_t N = p->N, K = p->K;
  lsce_dtype dt = p->logits.dtype;
  size_t es = lsce_dtype_size(dt);
  const void *z = p->logits.data;
  void *zcopy = NULL, *g = NULL;
  int64_t *t = malloc(sizeof(int64_t) * (size_t)(N > 0 ? N : 1));
  double *w = p->has_weights ? malloc(sizeof(double) * (size_t)K) : NULL;
  if (p->logits.swap && N * K > 0) z = zcopy = lsce_native_logits(p);
  if (grad && N * K > 0) g = malloc(es * (size_t)(N * K));
  if (!t || (p->has_weights && !w) || (p->logits.swap && N * K > 0 && !zcopy) ||
      (grad && N * K > 0 && !g)) {
    free(t); free(w); free(zcopy); free(g);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who);
  }
  for (int64_t i = 0; i < N; i++) t[i] = opts ? 0 : lsce_target(p, i); /* soft targets have no index */
  if (w) for (int64_t c = 0; c < K; c++) w[c] = lsce_weight(p, c);
  lsce_params prm;
  if (opts) memset(&prm, 0, sizeof prm); /* the options path reads the problem itself (call.opt) */
  else lsce_params_init(&prm, p->variant, p->reduction, p->e, N, K, t, w, p->ignore_index, p->pad_index);
  double *u = NULL; /* k1-megatron: rank r's shard indicator as the call's weights */
  if (lsce_params_shard_call(&prm, p->tp, p->rank, &u)) {
    free(t); free(w); free(zcopy); free(g);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who);
  }
  if (counts) { memset(counts, 0, sizeof *counts); prm.counts = counts; }
  lsce_call call = {z, dt, N, K, t, u ? u : lsce_variants[p->variant].weighting != LSCE_W_NONE ? w : NULL, &prm,
                    dt == LSCE_DT_F64, NULL, NULL, opts ? p : NULL};
  int64_t nloss = p->reduction == LSCE_RED_NONE ? N : 1;
  for (int64_t i = 0; i < nloss; i++) loss[i] = NAN;
  if (g) memset(g, 0x88, es * (size_t)(N * K));
  int rc = im->fn(loss, g, dt, &call);
  if (rc == 0 && g)
    for (int64_t i = 0; i < N * K; i++) grad[i] = lsce_ld(g, dt, i);
  free(t); free(w); free(zcopy); free(g); free(u);
  if (rc && !strcmp(im->device, "cuda")) /* the CUDA rows say why: no device, old driver, memory */
    return lsce_err_set(err, LSCE_EINCOMPLETE, "--impl: %s failed (status %d): %s", im->name, rc, lsce_cuda_reason());
  if (rc) return lsce_err_set(err, LSCE_EINCOMPLETE, "--impl: %s failed (status %d)", im->name, rc);
  return LSCE_OK;
}

/* the exact CPU rows compute issue #15's options (impls/cpu/optrows.c), and so do the CUDA rows
 * cuda_rowblock, cuda_warp, cuda_split and cuda_nccl_vocab (impls/cuda/optkern.h, sharded over the
 * ranks for the last) and the MPI row mpi_vocab_parallel (impls/vocab_options.c) */
int lsce_impl_computes_options(const lsce_impl *im) {
  return !strcmp(im->device, "cpu") || !strcmp(im->device, "mpi") || !strcmp(im->device, "cuda");
}

int lsce_impl_takes_options(const lsce_impl *im, const lsce_problem *p, lsce_err *err) {
  if (lsce_options_first(p) && !lsce_impl_computes_options(im))
    return lsce_err_set(err, LSCE_EINPUT, "--impl: %s does not take %s", im->name, lsce_options_first(p));
  return LSCE_OK;
}

int lsce_impl_takes(const lsce_impl *im, lsce_dtype dt) { return (im->dtypes & LSCE_DT_BIT(dt)) != 0; }

int lsce_impl_usable(const lsce_impl *im, lsce_dtype dt, lsce_err *err) {
  if (!lsce_impl_takes(im, dt))
    return lsce_err_set(err, LSCE_EINPUT, "--impl: %s does not take %s logits", im->name, lsce_dtype_name(dt));
  if (!im->available())
    return lsce_err_set(err, LSCE_EINCOMPLETE, "--impl: %s: no %s device is available here", im->name,
                        im->device);
  return LSCE_OK;
}
