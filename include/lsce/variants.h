/* lsce/variants.h: the catalog of label-smoothing formulations (docs/formulations.md), in catalog order.
 * Ids are part of the command-line contract. Exact coefficients are built from the rational
 * smoothing by lsce_variant_q (core/variants.c); the table itself is lsce/variants.inc. */
#ifndef LSCE_VARIANTS_H
#define LSCE_VARIANTS_H
#include <gmp.h>
#include <stdint.h>

/* LSCE_V_<NAME> in catalog order (lsce/variants.inc), then LSCE_V_COUNT. */
typedef enum {
#define LSCE_VARIANT(NAME, ...) LSCE_V_##NAME,
#include "lsce/variants.inc"
#undef LSCE_VARIANT
  LSCE_V_COUNT
} lsce_variant_id;
#define LSCE_V_NONE (-1)

/* The exact identities of `lsce compare` (docs/formulations.md "Identities"), in the order they
 * print: a K-1 form equals its K-form partner at e' = eK/(K-1); PyTorch's weighted mean equals the
 * logprob-weighted one times |V|/W; the NLL-weighted form equals k under equal weights; a KL form
 * equals its right side minus the entropy H_j (j its off_divisor). */
typedef enum { LSCE_IDENT_NONE = 0, LSCE_IDENT_RESCALE, LSCE_IDENT_WEIGHTS, LSCE_IDENT_NLL,
               LSCE_IDENT_KL, LSCE_IDENT_KINDS } lsce_ident_kind;

typedef enum { LSCE_RED_MEAN = 0, LSCE_RED_SUM, LSCE_RED_NONE } lsce_reduction;

/* LSCE_W_SHARD: k1-megatron, u_c = [c in rank r's shard], A unweighted (lsce/megatron.h) */
typedef enum { LSCE_W_NONE = 0, LSCE_W_TORCH, LSCE_W_LOGPROB, LSCE_W_NLL, LSCE_W_SHARD } lsce_weighting;

/* One row of lsce/variants.inc; the columns are described there. */
typedef struct {
  const char *id;
  const char *family;
  int off_divisor;    /* 0: K, 1: K-1, 2: K-2 (the off-target mass is e / (K - off_divisor)) */
  lsce_weighting weighting;
  int kl;             /* subtracts the entropy H(q) */
  int pad;            /* the pad class is outside the support and V */
  int partner;        /* the K/K-1 partner, or LSCE_V_NONE */
  lsce_ident_kind ident;
  int ident_rhs;      /* a variant, or LSCE_V_NONE: the row's own cross-entropy part */
  int min_K;
  int needs_weights, needs_pad_index;
  const char *target_mass, *off_mass; /* human-readable q */
  const char *support;                /* "all" or "all but P" */
  const char *weights;                /* how class weights enter */
  const char *mean_denominator;
  const char *used_by;
} lsce_variant;

extern const lsce_variant lsce_variants[LSCE_V_COUNT];
int lsce_variant_find(const char *id); /* index or -1 */
const char *lsce_weighting_name(lsce_weighting w);   /* "none", "torch", "logprob", "nll", "shard" */
/* The variant needs --tp T (and takes --rank r): k1-megatron, the one weighted by its shard. */
static inline int lsce_variant_needs_tp(int v) { return lsce_variants[v].weighting == LSCE_W_SHARD; }
/* the variant of Megatron's partition form (the shard's weighting: a property of the table, not an
 * id); -1 when the catalog has none */
static inline int lsce_variant_shard(void) {
  for (int v = 0; v < LSCE_V_COUNT; v++) if (lsce_variant_needs_tp(v)) return v;
  return -1;
}
const char *lsce_ident_name(lsce_ident_kind k);      /* "rescale", "weights", "nll", "kl"; NULL for none */

/* Target distribution of a row as exact rationals: q_y = qt, q_c = qo for c != y (and c != P for
 * k2-pad-kl, where q_P = 0). Requires K >= min_K. */
void lsce_variant_q(mpq_t qt, mpq_t qo, int v, const mpq_t e, int64_t K);
#endif
