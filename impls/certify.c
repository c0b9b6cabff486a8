/* impls/certify.c: verify's fast certifier. The row form of FORMULATIONS.md evaluated entirely in
 * double-double (double-double exp and log1p, compensated sums; threads over rows; the kernels of
 * online.c, compiled for FMA where the CPU has it) gives the loss and gradient as hi + lo. Error
 * bound: each exp (the table version of dd.h) is within 2^-98 relative and each log1p within 2^-90 (exp results below
 * 2^-960: 2^-1050 absolute, nothing next to a row sum s >= 1; tests/test_dd.c measures them
 * against MPFR), each double-double operation within 2^-104, and a row sums at most
 * K <= 2^24 terms of one sign, so every output is within 2^-80 of its magnitude before cancellation
 * (M for a loss, sigma_i + max|g| for a gradient row). `lsce verify` accepts an ulp figure from
 * here only when that bound is below 2^-20 of the ulp it is measured in, and otherwise recomputes
 * the case with the MPFR reference; the certifier itself is checked against the reference on every
 * fixture (tests/test_certify.py). */
#include <stdlib.h>
#include <string.h>
#include "cpu/kernels.h"
#include "lsce/certify.h"
#include "lsce/invoke.h"
#include "lsce/variants.h"

int lsce_certify_fast(lsce_ref_result *r, const lsce_problem *p, int threads, lsce_err *err) {
  const int64_t N = p->N, K = p->K;
  memset(r, 0, sizeof *r);
  r->nloss = p->reduction == LSCE_RED_NONE ? N : 1;
  size_t nl = (size_t)(r->nloss > 0 ? r->nloss : 1), ng = (size_t)(N * K > 0 ? N * K : 1);
  r->loss = calloc(nl, sizeof(double));
  r->loss_lo = calloc(nl, sizeof(double));
  r->grad = calloc(ng, sizeof(double));
  r->grad_lo = calloc(ng, sizeof(double));
  int64_t *t = malloc(sizeof(int64_t) * (size_t)(N > 0 ? N : 1));
  double *w = p->has_weights ? malloc(sizeof(double) * (size_t)K) : NULL;
  if (!r->loss || !r->loss_lo || !r->grad || !r->grad_lo || !t || (p->has_weights && !w)) {
    free(t); free(w);
    lsce_ref_result_free(r);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "verify: out of memory for the fast certifier");
  }
  for (int64_t i = 0; i < N; i++) t[i] = lsce_target(p, i);
  if (w) for (int64_t c = 0; c < K; c++) w[c] = lsce_weight(p, c);
  const double *wv = lsce_variants[p->variant].weighting != LSCE_W_NONE ? w : NULL;
  /* native-order logits: byte-swapped files are converted by lsce_invoke's rule */
  const void *z = p->logits.data;
  void *copy = NULL;
  if (p->logits.swap && N * K > 0) {
    z = copy = lsce_native_logits(p);
    if (!copy) { free(t); free(w); lsce_ref_result_free(r); return lsce_err_set(err, LSCE_EINCOMPLETE, "verify: out of memory"); }
  }
  lsce_params prm;
  lsce_params_init(&prm, p->variant, p->reduction, p->e, N, K, t, wv, p->ignore_index, p->pad_index);
  lsce_call c = {z, p->logits.dtype, N, K, t, wv, &prm, 1, r->loss_lo, r->grad_lo};
  const lsce_kernels k = lsce_cpu_has_avx2() ? (lsce_kernels){lsce_stats_online_fma, lsce_grad_scalar_fma, NULL, NULL}
                                             : (lsce_kernels){lsce_stats_online, lsce_grad_scalar, NULL, NULL};
  int rc = lsce_cpu_drive(r->loss, r->grad, LSCE_DT_F64, &c, &k, threads, 0);
  r->prec_reached = 106;
  free(t); free(w); free(copy);
  if (rc) { lsce_ref_result_free(r); return lsce_err_set(err, LSCE_EINCOMPLETE, "verify: the fast certifier failed"); }
  return LSCE_OK;
}
