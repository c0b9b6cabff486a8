/* lsce/params.h: what a fast implementation needs besides the logits: the variant's coefficients
 * as double-double values rounded from the exact rationals, and the O(N) pre-pass over targets and
 * weights (|V|, W, 1/D), so a fused kernel can write the scaled gradient in one pass. */
#ifndef LSCE_PARAMS_H
#define LSCE_PARAMS_H
#include <stdint.h>
#include <gmp.h>
#include "lsce/dd.h"

/* Rows of one call by the rung of the exact CPU rows' escalation ladder that gave their result
 * (impls/cpu/rowguard.h): rows = rows in V; safe = recomputed on the safe path; reference =
 * recomputed by the certified reference; flagged = no rung could guarantee the bound (the
 * reference off or out of precision): their values are the safe path's; accurate = recomputed by the
 * accurate kernels after a cheaper first pass (impls/cpu/kernels.h acc_stats), before any of these. */
typedef struct { int64_t rows, safe, reference, flagged, accurate; } lsce_row_counts;

typedef struct {
  int variant;              /* lsce_variant_id */
  int reduction;            /* lsce_reduction */
  int weighting;            /* lsce_weighting */
  int kl;
  int64_t K, ignore_index, pad_index; /* pad_index -1 unless k2-pad-kl (then rows y == P leave V) */
  /* Per row i in V: A_i = a_y * (w_y or 1) [NLL: * nll_scale], B = b [NLL: * smooth_scale],
   * u_c = w_c (TORCH, LOGPROB) or 1, S = all classes but P. */
  lsce_dd a;                /* qt - qo: 1-e or 1-e-e/(K-j) */
  lsce_dd b;                /* qo = e/(K-j) */
  lsce_dd nll_scale, smooth_scale; /* k-nll-weighted mean: 1/W and 1/|V|; else 1 */
  lsce_dd C;                /* the KL entropy H(q) (0 otherwise) */
  lsce_dd inv_D;            /* 1/D for a mean (1 for sum and none; 1 for k-nll-weighted) */
  int nan_mean;             /* a mean whose denominator is 0 */
  int64_t nV;
  lsce_dd W;                /* sum over V of w[y_i] */
  lsce_dd U_all;            /* sum over S of u_c (all classes), for the gradient */
  int64_t qt_inv, qo_inv;   /* 1/q_y and 1/q_c when those are integers, else 0 (exact zeros) */
  /* For the CPU rows' safe path and their last resort (impls/cpu/rowguard.c): */
  lsce_dd qt;               /* q_y, so kappa_y = qt (w_y) has no cancellation (0 exactly when q_y is) */
  double umax;              /* the largest weight (0 without weights) */
  lsce_dd inv_D_m;          /* 1/D = inv_D_m 2^inv_D_e, inv_D_m in [1/2, 2) from the exact 1/D */
  int inv_D_e;
  lsce_dd nll_m;            /* nll_scale = nll_m 2^nll_e, the same way */
  int nll_e;
  int64_t shard_lo, shard_hi; /* k1-megatron (weighting SHARD): rank r's classes; the call's weights
                             * are then the shard's indicator u_c = [c in S_r] (0 and 1) */
  mpq_srcptr e;             /* the exact smoothing (the caller's; outlives the parameters) */
  lsce_row_counts *counts;  /* NULL (lsce_params_init), or where the CPU rows count escalations */
} lsce_params;

/* Builds the parameters from the exact smoothing (e) and the O(N) pre-pass over targets and
 * weights (weights NULL when the variant takes none). Exact rationals are rounded once to
 * double-double. */
#ifdef __cplusplus
extern "C"
#endif
void lsce_params_init(lsce_params *p, int variant, int reduction, const mpq_t e, int64_t N,
                      int64_t K, const int64_t *targets, const double *weights,
                      int64_t ignore_index, int64_t pad_index);
/* k1-megatron: rank r of T (T divides K, K >= 2T): a = 1 - e', b = e'/V_p, q_y = a + b (kappa_y of a
 * row whose target is in the shard), U_all = V_p, the shard's bounds; after lsce_params_init. */
#ifdef __cplusplus
extern "C"
#endif
void lsce_params_set_shard(lsce_params *p, int64_t T, int64_t r);
/* For a k1-megatron call (p->weighting SHARD; tp = 0 means T = 1): lsce_params_set_shard and *u =
 * the shard's indicator (K doubles, the call's weights; the caller frees it). Nothing for other
 * variants (*u = NULL). Returns 0, or 1 when out of memory. */
#ifdef __cplusplus
extern "C"
#endif
int lsce_params_shard_call(lsce_params *p, int64_t tp, int64_t rank, double **u);
/* Row i is in V. */
LSCE_HD int lsce_params_in_V(const lsce_params *p, int64_t y) {
  return y != p->ignore_index && !(p->pad_index >= 0 && y == p->pad_index);
}
#endif
