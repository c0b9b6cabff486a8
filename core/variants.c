/* core/variants.c: the catalog of docs/formulations.md as data (the rows of lsce/variants.inc), and
 * each variant's target distribution q as exact rationals (GMP mpq): no rounding happens here. */
#include <string.h>
#include "lsce/variants.h"

const lsce_variant lsce_variants[LSCE_V_COUNT] = {
#define LSCE_VARIANT(NAME, id, family, offdiv, weighting, kl, pad, partner, ident, ident_rhs, min_K,   \
                     needs_w, needs_pad, target_mass, off_mass, support, weights, mean_den, used_by) \
  {id, family, offdiv, weighting, kl, pad, partner, ident, ident_rhs, min_K, needs_w, needs_pad,      \
   target_mass, off_mass, support, weights, mean_den, used_by},
#include "lsce/variants.inc"
#undef LSCE_VARIANT
};

const char *lsce_weighting_name(lsce_weighting w) {
  static const char *const n[] = {"none", "torch", "logprob", "nll"};
  return (unsigned)w < 4 ? n[w] : "?";
}

const char *lsce_ident_name(lsce_ident_kind k) {
  static const char *const n[] = {NULL, "rescale", "weights", "nll", "kl"};
  return (unsigned)k < LSCE_IDENT_KINDS ? n[k] : NULL;
}

int lsce_variant_find(const char *id) {
  for (int v = 0; v < LSCE_V_COUNT; v++)
    if (strcmp(lsce_variants[v].id, id) == 0) return v;
  return -1;
}

void lsce_variant_q(mpq_t qt, mpq_t qo, int v, const mpq_t e, int64_t K) {
  const lsce_variant *d = &lsce_variants[v];
  mpq_t den;
  mpq_init(den);
  mpq_set_si(den, (long)(K - d->off_divisor), 1);
  mpq_div(qo, e, den);                   /* qo = e / (K - j) */
  mpq_set_ui(qt, 1, 1);
  mpq_sub(qt, qt, e);                    /* qt = 1 - e */
  if (d->off_divisor == 0) mpq_add(qt, qt, qo); /* K-form: the target also gets e/K */
  mpq_clear(den);
}
