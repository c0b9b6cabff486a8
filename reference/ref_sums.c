/* reference/ref_sums.c: the per-row sums of lsce/ref_sums.h in Arb balls. Every term -lp_c is
 * >= 0, so each total has no cancellation, and a masked class makes its total +inf only where its
 * coefficient is positive; the variants' coefficients (q_y, q_c, weights) are all >= 0. */
#include <math.h>
#include <stdlib.h>
#include "lsce/megatron.h"
#include "lsce/ref_sums.h"

static void tot_init(lsce_tot *t) { arb_init(t->v); t->inf = 0; }
static void tot_clear(lsce_tot *t) { arb_clear(t->v); }

void lsce_ref_sums_init(lsce_ref_sums *s) {
  tot_init(&s->nll); tot_init(&s->so); tot_init(&s->wnll); tot_init(&s->swo);
  tot_init(&s->nll2); tot_init(&s->sop2);
  mpq_init(s->W);
  s->nV = s->nV2 = 0;
  s->col = NULL;
  s->ncol = 0;
}

void lsce_ref_sums_clear(lsce_ref_sums *s) {
  tot_clear(&s->nll); tot_clear(&s->so); tot_clear(&s->wnll); tot_clear(&s->swo);
  tot_clear(&s->nll2); tot_clear(&s->sop2);
  for (int64_t c = 0; c < s->ncol; c++) tot_clear(&s->col[c]);
  free(s->col);
  s->col = NULL;
  s->ncol = 0;
  mpq_clear(s->W);
}

/* t += c * x, where x may be +inf (x_inf); c >= 0 exact double */
static void acc(lsce_tot *t, double c, const arb_t x, int x_inf, slong prec) {
  if (c == 0) return;
  if (x_inf) { t->inf = 1; return; }
  arb_t y;
  arb_init(y);
  arb_set_d(y, c);
  arb_mul(y, y, x, prec);
  arb_add(t->v, t->v, y, prec);
  arb_clear(y);
}

void lsce_ref_sums_compute(lsce_ref_sums *s, const lsce_problem *p, slong prec) {
  s->prec = prec;
  const int64_t K = p->K;
  arb_t lse, t, u, nl;
  arb_init(lse); arb_init(t); arb_init(u); arb_init(nl);
  mpq_t w;
  mpq_init(w);
  s->col = malloc(sizeof(lsce_tot) * (size_t)(K > 0 ? K : 1));
  if (s->col) { s->ncol = K; for (int64_t c = 0; c < K; c++) tot_init(&s->col[c]); }
  for (int64_t i = 0; i < p->N; i++) {
    int64_t y = lsce_target(p, i);
    if (y == p->ignore_index) continue;
    int in2 = !(p->pad_index >= 0 && y == p->pad_index);
    s->nV++;
    if (in2) s->nV2++;
    double wy = lsce_weight(p, y);
    mpq_set_d(w, wy);
    mpq_add(s->W, s->W, w);
    /* lse = m + log sum exp(z_c - m) over finite classes */
    double m = -INFINITY;
    for (int64_t c = 0; c < K; c++) { double z = lsce_logit(p, i, c); if (z > m) m = z; }
    arb_zero(t);
    for (int64_t c = 0; c < K; c++) {
      double z = lsce_logit(p, i, c);
      if (z == -INFINITY) continue;
      arb_set_d(u, z);
      arb_set_d(nl, m);
      arb_sub(u, u, nl, prec); /* z_c - m <= 0: no overflow in exp */
      arb_exp(u, u, prec);
      arb_add(t, t, u, prec);
    }
    arb_log(lse, t, prec);
    arb_set_d(u, m);
    arb_add(lse, lse, u, prec);
    for (int64_t c = 0; c < K; c++) {
      double z = lsce_logit(p, i, c);
      int minf = z == -INFINITY;
      if (!minf) { arb_set_d(u, z); arb_sub(nl, lse, u, prec); } /* -lp_c >= 0 */
      double wc = lsce_weight(p, c);
      if (s->col) acc(&s->col[c], 1.0, nl, minf, prec);
      if (c == y) {
        acc(&s->nll, 1.0, nl, minf, prec);
        acc(&s->wnll, wy, nl, minf, prec);
        if (in2) acc(&s->nll2, 1.0, nl, minf, prec);
      } else {
        acc(&s->so, 1.0, nl, minf, prec);
        acc(&s->swo, wc, nl, minf, prec);
        if (in2 && c != p->pad_index) acc(&s->sop2, 1.0, nl, minf, prec);
      }
    }
  }
  mpq_clear(w);
  arb_clear(lse); arb_clear(t); arb_clear(u); arb_clear(nl);
}

/* out += q * tot (q >= 0 exact rational); inf propagates only for q > 0 */
static void addq(arb_t out, int *inf, const mpq_t q, const lsce_tot *t, slong prec) {
  if (mpq_sgn(q) == 0) return;
  if (t->inf) { *inf = 1; return; }
  arb_t x;
  arb_init(x);
  lsce_arb_set_q(x, q, prec);
  arb_addmul(out, x, t->v, prec);
  arb_clear(x);
}

int lsce_ref_sums_eval(arb_t L, arb_t M, lsce_ref_flags *f, const lsce_ref_sums *s,
                       const lsce_problem *p, int v, int reduction, const mpq_t e) {
  const lsce_variant *d = &lsce_variants[v];
  if (d->weighting == LSCE_W_SHARD)
    return lsce_ref_sums_eval_tp(L, M, f, s, p, reduction, e, lsce_megatron_T(p->tp), p->rank);
  if ((d->needs_weights && !p->has_weights) || (d->needs_pad_index && p->pad_index < 0) || p->K < d->min_K)
    return 0;
  slong prec = s->prec;
  f->is_inf = f->is_nan = f->oom = 0;
  arb_zero(L);
  arb_zero(M);
  mpq_t qt, qo, c, D;
  mpq_inits(qt, qo, c, D, NULL);
  lsce_variant_q(qt, qo, v, e, p->K);
  int64_t n = lsce_variants[v].pad ? s->nV2 : s->nV;
  mpq_set_si(D, (long)n, 1);
  int inf = 0;
  switch (d->weighting) {
  case LSCE_W_SHARD: /* k1-megatron: lsce_ref_sums_eval_tp above */
    break;
  case LSCE_W_NONE:
    if (lsce_variants[v].pad) { addq(L, &inf, qt, &s->nll2, prec); addq(L, &inf, qo, &s->sop2, prec); }
    else { addq(L, &inf, qt, &s->nll, prec); addq(L, &inf, qo, &s->so, prec); }
    break;
  case LSCE_W_TORCH:
  case LSCE_W_LOGPROB:
    addq(L, &inf, qt, &s->wnll, prec);
    addq(L, &inf, qo, &s->swo, prec);
    if (d->weighting == LSCE_W_TORCH) mpq_set(D, s->W);
    break;
  case LSCE_W_NLL: {
    /* (1-e) a sum w_y NLL + (e/K) b sum (NLL + SO); mean: a = 1/W, b = 1/|V|, D = 1 */
    mpq_sub(c, qt, qo);
    int nan = 0;
    if (reduction == LSCE_RED_MEAN) {
      if (mpq_sgn(s->W) == 0 || s->nV == 0) nan = 1;
      else mpq_div(c, c, s->W);
    }
    if (!nan) {
      addq(L, &inf, c, &s->wnll, prec);
      mpq_set(c, qo);
      if (reduction == LSCE_RED_MEAN) { mpq_set_si(D, (long)s->nV, 1); mpq_div(c, c, D); }
      addq(L, &inf, c, &s->nll, prec);
      addq(L, &inf, c, &s->so, prec);
    }
    mpq_set_ui(D, 1, 1);
    if (nan) mpq_set_ui(D, 0, 1);
    break;
  }
  }
  arb_set(M, L);
  if (d->kl) {
    arb_t H, x, l;
    arb_init(H); arb_init(x); arb_init(l);
    if (mpq_sgn(qt) > 0) { lsce_arb_set_q(x, qt, prec); arb_log(l, x, prec); arb_submul(H, x, l, prec); }
    if (mpq_sgn(qo) > 0) {
      lsce_arb_set_q(x, qo, prec); arb_log(l, x, prec); arb_mul(l, l, x, prec);
      arb_mul_si(l, l, (slong)(p->K - 1 - (lsce_variants[v].pad)), prec);
      arb_sub(H, H, l, prec);
    }
    arb_mul_si(H, H, (slong)n, prec);
    arb_sub(L, L, H, prec);
    arb_add(M, M, H, prec);
    arb_clear(H); arb_clear(x); arb_clear(l);
  }
  if (reduction == LSCE_RED_MEAN) {
    if (mpq_sgn(D) == 0) f->is_nan = 1;
    else {
      arb_t x;
      arb_init(x);
      mpq_inv(D, D);
      lsce_arb_set_q(x, D, prec);
      arb_mul(L, L, x, prec);
      arb_mul(M, M, x, prec);
      arb_clear(x);
    }
  }
  if (inf && !f->is_nan) f->is_inf = 1;
  mpq_clears(qt, qo, c, D, NULL);
  return 1;
}

int lsce_ref_sums_eval_tp(arb_t L, arb_t M, lsce_ref_flags *f, const lsce_ref_sums *s,
                          const lsce_problem *p, int reduction, const mpq_t e, int64_t T, int64_t r) {
  if (!s->col || s->ncol != p->K || T < 1 || p->K % T != 0 || p->K < 2 * T || r < 0 || r >= T) return 0;
  slong prec = s->prec;
  f->is_inf = f->is_nan = f->oom = 0;
  arb_zero(L);
  mpq_t a, b;
  mpq_inits(a, b, NULL);
  lsce_megatron_coeffs(a, b, e, p->K, T);
  int inf = 0;
  /* a < 0 (e' > 1) is outside the form: every coefficient must be >= 0 for addq */
  int ok = mpq_sgn(a) >= 0;
  if (ok) {
    int64_t lo, hi;
    lsce_megatron_shard(p->K, T, r, &lo, &hi);
    addq(L, &inf, a, &s->nll, prec);
    for (int64_t c = lo; c < hi; c++) addq(L, &inf, b, &s->col[c], prec);
    arb_set(M, L);
    if (reduction == LSCE_RED_MEAN) {
      if (s->nV == 0) f->is_nan = 1;
      else {
        arb_div_si(L, L, (slong)s->nV, prec);
        arb_div_si(M, M, (slong)s->nV, prec);
      }
    }
    if (inf && !f->is_nan) f->is_inf = 1;
  }
  mpq_clears(a, b, NULL);
  return ok;
}
