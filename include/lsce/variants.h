/* lsce/variants.h: the catalog of label-smoothing formulations (docs/formulations.md), in catalog order.
 * Ids are part of the command-line contract. Exact coefficients are built from the rational
 * smoothing by lsce_variant_coeffs (reference/variants.c). */
#ifndef LSCE_VARIANTS_H
#define LSCE_VARIANTS_H
#include <gmp.h>
#include <stdint.h>

typedef enum {
  LSCE_V_K = 0, LSCE_V_K1, LSCE_V_K_TORCH_W, LSCE_V_K_LOGPROB_W, LSCE_V_K1_LOGPROB_W,
  LSCE_V_K_NLL_W, LSCE_V_K1_KL, LSCE_V_K2_PAD_KL, LSCE_V_COUNT
} lsce_variant_id;

typedef enum { LSCE_RED_MEAN = 0, LSCE_RED_SUM, LSCE_RED_NONE } lsce_reduction;

typedef enum { LSCE_W_NONE = 0, LSCE_W_TORCH, LSCE_W_LOGPROB, LSCE_W_NLL } lsce_weighting;

typedef struct {
  const char *id;
  const char *target_mass, *off_mass; /* human-readable q */
  const char *support;                /* "all" or "all but P" */
  const char *weights;                /* how class weights enter */
  const char *mean_denominator;
  const char *used_by;
  int off_divisor;    /* 0: K, 1: K-1, 2: K-2 (the off-target mass is e / (K - off_divisor)) */
  lsce_weighting weighting;
  int kl;             /* subtracts the entropy H(q) */
  int needs_weights, needs_pad_index;
  int min_K;
} lsce_variant;

extern const lsce_variant lsce_variants[LSCE_V_COUNT];
int lsce_variant_find(const char *id); /* index or -1 */

/* Target distribution of a row as exact rationals: q_y = qt, q_c = qo for c != y (and c != P for
 * k2-pad-kl, where q_P = 0). Requires K >= min_K. */
void lsce_variant_q(mpq_t qt, mpq_t qo, int v, const mpq_t e, int64_t K);
#endif
