/* impls/params.c: a variant's coefficients for the fast implementations, from the exact rational
 * smoothing (GMP) and an O(N) pre-pass over targets and weights; every value is the exact one
 * rounded once to double-double (the entropy H(q) through a 256-bit Arb ball). */
#include <arb.h>
#include "lsce/params.h"
#include "lsce/reference.h"
#include "lsce/variants.h"

static lsce_dd q_to_dd(const mpq_t q) {
  double hi = lsce_q_round(q);
  if (!isfinite(hi)) return lsce_dd_from(hi);
  mpq_t t;
  mpq_init(t);
  mpq_set_d(t, hi);
  mpq_sub(t, q, t);
  double lo = lsce_q_round(t);
  mpq_clear(t);
  return lsce_dd_make(hi, lo);
}

static lsce_dd arb_to_dd(const arb_t x) {
  double hi = lsce_arf_round(arb_midref(x));
  arb_t t;
  arb_init(t);
  arb_set_d(t, hi);
  arb_sub(t, x, t, 256);
  double lo = lsce_arf_round(arb_midref(t));
  arb_clear(t);
  return lsce_dd_make(hi, lo);
}

/* q = m 2^e with m in [1/2, 2) rounded once to double-double: exact scaling, so a q whose double-double
 * would be subnormal (1/D for D = sum w near DBL_MAX) keeps every bit */
static lsce_dd q_to_dd_scaled(const mpq_t q, int *e) {
  *e = 0;
  if (mpq_sgn(q) == 0) return lsce_dd_from(0.0);
  *e = (int)mpz_sizeinbase(mpq_numref(q), 2) - (int)mpz_sizeinbase(mpq_denref(q), 2);
  mpq_t m;
  mpq_init(m);
  if (*e >= 0) mpq_div_2exp(m, q, (mp_bitcnt_t)*e); else mpq_mul_2exp(m, q, (mp_bitcnt_t)(-*e));
  lsce_dd r = q_to_dd(m);
  mpq_clear(m);
  return r;
}

/* 1/q when that is an integer, else 0 */
static int64_t inv_int(const mpq_t q) {
  if (mpq_sgn(q) <= 0 || mpz_cmp_ui(mpq_numref(q), 1) != 0) return 0;
  if (!mpz_fits_slong_p(mpq_denref(q))) return 0;
  return (int64_t)mpz_get_si(mpq_denref(q));
}

void lsce_params_init(lsce_params *p, int variant, int reduction, const mpq_t e, int64_t N,
                      int64_t K, const int64_t *targets, const double *weights,
                      int64_t ignore_index, int64_t pad_index) {
  const lsce_variant *d = &lsce_variants[variant];
  p->variant = variant;
  p->reduction = reduction;
  p->weighting = d->weighting;
  p->kl = d->kl;
  p->K = K;
  p->ignore_index = ignore_index;
  p->pad_index = lsce_variants[variant].pad ? pad_index : -1;
  mpq_t qt, qo, t, W, Wall, one;
  mpq_inits(qt, qo, t, W, Wall, one, NULL);
  mpq_set_ui(one, 1, 1);
  lsce_variant_q(qt, qo, variant, e, K);
  mpq_sub(t, qt, qo);
  p->a = q_to_dd(t);
  p->qt = q_to_dd(qt);
  p->e = e;
  p->counts = NULL;
  p->umax = 0.0;
  if (weights) for (int64_t c = 0; c < K; c++) if (weights[c] > p->umax) p->umax = weights[c];
  p->b = q_to_dd(qo);
  p->qt_inv = inv_int(qt);
  p->qo_inv = inv_int(qo);
  /* the pre-pass: |V| and W exactly */
  p->nV = 0;
  for (int64_t i = 0; i < N; i++) {
    if (!lsce_params_in_V(p, targets[i])) continue;
    p->nV++;
    if (weights) { mpq_set_d(t, weights[targets[i]]); mpq_add(W, W, t); }
  }
  p->W = q_to_dd(W);
  int weighted_u = d->weighting == LSCE_W_TORCH || d->weighting == LSCE_W_LOGPROB;
  if (weighted_u) {
    for (int64_t c = 0; c < K; c++) { mpq_set_d(t, weights[c]); mpq_add(Wall, Wall, t); }
    p->U_all = q_to_dd(Wall);
  } else {
    p->U_all = lsce_dd_from((double)(K - (p->pad_index >= 0 ? 1 : 0)));
  }
  p->nll_scale = p->smooth_scale = p->inv_D = lsce_dd_from(1.0);
  p->inv_D_m = lsce_dd_from(1.0);
  p->inv_D_e = 0;
  p->nll_m = lsce_dd_from(1.0);
  p->nll_e = 0;
  p->nan_mean = 0;
  if (reduction == LSCE_RED_MEAN) {
    mpq_set_si(t, (long)p->nV, 1);
    if (d->weighting == LSCE_W_NLL) {
      if (mpq_sgn(W) == 0 || p->nV == 0) p->nan_mean = 1;
      else {
        mpq_inv(W, W);
        p->nll_scale = q_to_dd(W);
        p->nll_m = q_to_dd_scaled(W, &p->nll_e);
        mpq_inv(t, t);
        p->smooth_scale = q_to_dd(t);
      }
    } else if (d->weighting == LSCE_W_TORCH) {
      if (mpq_sgn(W) == 0) p->nan_mean = 1; else { mpq_inv(W, W); p->inv_D = q_to_dd(W); p->inv_D_m = q_to_dd_scaled(W, &p->inv_D_e); }
    } else {
      if (p->nV == 0) p->nan_mean = 1; else { mpq_inv(t, t); p->inv_D = q_to_dd(t); p->inv_D_m = q_to_dd_scaled(t, &p->inv_D_e); }
    }
  }
  /* H(q) = -(qt log qt + n_off qo log qo), 0 log 0 = 0 */
  p->C = lsce_dd_from(0.0);
  if (d->kl) {
    arb_t H, x, l;
    arb_init(H); arb_init(x); arb_init(l);
    if (mpq_sgn(qt) > 0) { lsce_arb_set_q(x, qt, 256); arb_log(l, x, 256); arb_submul(H, x, l, 256); }
    if (mpq_sgn(qo) > 0) {
      lsce_arb_set_q(x, qo, 256); arb_log(l, x, 256); arb_mul(l, l, x, 256);
      arb_mul_si(l, l, (slong)(K - 1 - (lsce_variants[variant].pad)), 256);
      arb_sub(H, H, l, 256);
    }
    p->C = arb_to_dd(H);
    arb_clear(H); arb_clear(x); arb_clear(l);
  }
  mpq_clears(qt, qo, t, W, Wall, one, NULL);
}
