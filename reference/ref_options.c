/* The reference for the options and the sigmoid family of issue #15 (docs/formulations.md "Options
 * and the sigmoid family"): logit scale S, soft cap C, z-loss Z, sample weights s_i, the mean's
 * normalizer, soft (N, K) targets, and bce / bce-multilabel / bce-softmax-target. lsce_reference
 * comes here whenever a problem uses one of them; without them the catalog's own path
 * (ref_loss.c) runs, so "off" is exactly the catalog.
 *
 * Claim: every float64 output (and, with want_lo, lo = RN(r - hi)) is the correctly rounded value of
 * the exact one, or the command exits 3 (never a wrong value). The argument: each output is an Arb
 * ball (a rigorous enclosure) recomputed at doubling precision until both endpoints round alike
 * (lsce_ball_round); the inputs (doubles, the exact rationals e, S, C, Z, the weights) enter exactly
 * or as balls of their exact values. Values that can be exactly zero or rational are decided in GMP
 * mpq, never by the loop: rows outside V, rows with s_i = 0, terms with kappa_c = 0, masked entries
 * (-kappa_j times S, or 0 under a cap), rows whose finite logits are all equal (p_c = 1/K_f), a
 * sigmoid element at z = 0 (sigmoid = 1/2), the chain factor at z = 0 (sech 0 = 1). Tied logits get
 * exactly equal x and exactly 1 = exp(x_c - x_m). Every other output involves exp, log or tanh of a
 * nonzero rational argument; the loop ends when it is not exactly a float64 rounding boundary, which
 * is the case for every input seen; a value that were one would exit 3 at LSCE_MAX_PRECISION.
 * check's diagnosis alone also computes two wrong cap forms here (lsce/problem.h LSCE_CAP_*:
 * x tanh(x/C), and -inf capped to -C), under the same enclosure argument. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/ref_options.h"

/* ---- one output: an exact rational, or a ball ------------------------------------------------ */
typedef struct {
  int exact;   /* 1: q holds the value; 0: b encloses it */
  mpq_t q;
  arb_t b;
} oval;

static void oval_init(oval *v) { v->exact = 1; mpq_init(v->q); arb_init(v->b); }
static void oval_clear(oval *v) { mpq_clear(v->q); arb_clear(v->b); }

/* q = the exact value of a finite arf */
static void arf_q(mpq_t q, const arf_t a) {
  fmpz_t man, e2;
  fmpz_init(man); fmpz_init(e2);
  mpq_set_ui(q, 0, 1);
  if (!arf_is_zero(a)) {
    arf_get_fmpz_2exp(man, e2, a);
    fmpz_get_mpz(mpq_numref(q), man);
    slong e = fmpz_get_si(e2);
    if (e >= 0) mpz_mul_2exp(mpq_numref(q), mpq_numref(q), (mp_bitcnt_t)e);
    else mpz_mul_2exp(mpq_denref(q), mpq_denref(q), (mp_bitcnt_t)(-e));
    mpq_canonicalize(q);
  }
  fmpz_clear(man); fmpz_clear(e2);
}

/* hi (lo, rs) of one output; returns 1 when settled. An exact ball is handed to the rational path. */
static int oval_round(double *hi, double *lo, signed char *rs, oval *v, int final, slong prec) {
  if (!v->exact && arb_is_exact(v->b) && arb_is_finite(v->b)) {
    arf_q(v->q, arb_midref(v->b));
    v->exact = 1;
  }
  if (v->exact) {
    lsce_q_round2(hi, lo, v->q);
    if (rs) {
      if (!isfinite(*hi)) *rs = 0;
      else {
        mpq_t t;
        mpq_init(t);
        mpq_set_d(t, *hi);
        mpq_sub(t, v->q, t);
        if (lo) { mpq_t u; mpq_init(u); mpq_set_d(u, *lo); mpq_sub(t, t, u); mpq_clear(u); }
        *rs = (signed char)mpq_sgn(t);
        mpq_clear(t);
      }
    }
    return 1;
  }
  if (!lsce_ball_round(hi, v->b)) return 0;
  if (!lo) return 1;
  if (!isfinite(*hi)) { *lo = 0; if (rs) *rs = 0; return 1; }
  arb_t d;
  arb_init(d);
  arb_set_d(d, *hi);
  arb_sub(d, v->b, d, prec + 64);
  int ok = 1;
  if (!lsce_ball_round(lo, d)) {
    if (!final) ok = 0;
    else *lo = lsce_arf_round(arb_midref(d));
  }
  if (ok && rs) {
    arb_t l;
    arb_init(l);
    arb_set_d(l, *lo);
    arb_sub(d, d, l, prec + 64);
    *rs = arb_is_positive(d) ? 1 : arb_is_negative(d) ? -1 : 0;
    arb_clear(l);
  }
  arb_clear(d);
  return ok;
}

/* ---- the problem's exact constants --------------------------------------------------------- */
typedef struct {
  const lsce_problem *p;
  int v, sig;          /* variant; 1 for the sigmoid family */
  int has_z;           /* a z-loss term (Z > 0, softmax family) */
  mpq_t Dn, Dz;        /* the denominators (1 for sum and none); k-nll-weighted: Dn unused */
  mpq_t a, b;          /* k-nll-weighted: NLL part times a, smoothing part times b */
  mpq_t qt, qo;        /* index targets: q_y, q_c (catalog) */
  int nan_mean;
} octx;

static double sw_of(const lsce_problem *p, int64_t i) { return p->has_sw ? lsce_sample_weight(p, i) : 1.0; }

static void octx_init(octx *x, const lsce_problem *p) {
  x->p = p;
  x->v = p->variant;
  x->sig = !strcmp(lsce_variants[p->variant].family, "sigmoid");
  x->has_z = !x->sig && p->has_zloss && mpq_sgn(p->zloss) > 0;
  mpq_inits(x->Dn, x->Dz, x->a, x->b, x->qt, x->qo, NULL);
  if (!x->sig) lsce_variant_q(x->qt, x->qo, x->v, p->e, p->K);
  int64_t nV = 0, nnz = 0;
  mpq_t W, S, t;
  mpq_inits(W, S, t, NULL);
  for (int64_t i = 0; i < p->N; i++) {
    if (!lsce_row_in_V(p, x->v, i)) continue;
    nV++;
    double s = sw_of(p, i);
    if (s != 0) nnz++;
    mpq_set_d(t, s);
    mpq_add(S, S, t);
    if (!p->soft && lsce_variants[x->v].weighting != LSCE_W_NONE) {
      mpq_set_d(t, lsce_weight(p, lsce_target(p, i)));
      mpq_add(W, W, t);
    }
  }
  mpq_set_ui(x->Dn, 1, 1);
  mpq_set_ui(x->Dz, 1, 1);
  mpq_set_ui(x->a, 1, 1);
  mpq_set_ui(x->b, 1, 1);
  x->nan_mean = 0;
  if (p->reduction == LSCE_RED_MEAN) {
    int64_t unit = x->sig ? p->K : 1;
    switch (p->normalizer) {
    case LSCE_NORM_DEFAULT:
      if (x->sig) mpq_set_si(x->Dn, (long)(nV * p->K), 1);
      else if (lsce_variants[x->v].weighting == LSCE_W_TORCH) mpq_set(x->Dn, W);
      else mpq_set_si(x->Dn, (long)nV, 1);
      mpq_set_si(x->Dz, (long)nV, 1);
      break;
    case LSCE_NORM_VALID: mpq_set_si(x->Dn, (long)(nV * unit), 1); break;
    case LSCE_NORM_ROWS: mpq_set_si(x->Dn, (long)(p->N * unit), 1); break;
    case LSCE_NORM_SAMPLE_WEIGHTS: mpq_set_si(t, (long)unit, 1); mpq_mul(x->Dn, S, t); break;
    case LSCE_NORM_NONZERO: mpq_set_si(x->Dn, (long)(nnz * unit), 1); break;
    case LSCE_NORM_COUNT: mpq_set_si(x->Dn, (long)p->normalizer_n, 1); break;
    }
    if (p->normalizer != LSCE_NORM_DEFAULT) mpq_set(x->Dz, x->Dn);
    if (lsce_variants[x->v].weighting == LSCE_W_NLL) {
      /* two denominators: NLL part by W, smoothing part by |V| (D_norm itself is 1) */
      if (mpq_sgn(W) == 0 || nV == 0) x->nan_mean = 1;
      else { mpq_inv(x->a, W); mpq_set_si(t, (long)nV, 1); mpq_inv(x->b, t); }
      mpq_set_ui(x->Dn, 1, 1);
      mpq_set_si(x->Dz, (long)nV, 1); /* it takes no normalizer (check and compare may pass one) */
    } else if (mpq_sgn(x->Dn) == 0) x->nan_mean = 1;
    if (x->has_z && mpq_sgn(x->Dz) == 0) x->nan_mean = 1;
  }
  mpq_clears(W, S, t, NULL);
}

static void octx_clear(octx *x) { mpq_clears(x->Dn, x->Dz, x->a, x->b, x->qt, x->qo, NULL); }

/* kappa'_c of row i: the coefficient of -lp_c in s_i CE_i / D (k-nll-weighted: its two parts with
 * their denominators), exactly; for the KL variants q_c s_i / D (the entropy term is separate). */
static void kappa_row(mpq_t *k, const octx *x, int64_t i) {
  const lsce_problem *p = x->p;
  const lsce_variant *d = &lsce_variants[x->v];
  const int64_t K = p->K;
  mpq_t f, w, t;
  mpq_inits(f, w, t, NULL);
  mpq_set_d(f, sw_of(p, i));
  mpq_div(f, f, x->Dn);                     /* s_i / D_norm */
  if (p->soft) {
    /* q_c = (1-e) t_c + e/K, times w_c for k-logprob-weighted */
    mpq_t one_e, eK;
    mpq_inits(one_e, eK, NULL);
    mpq_set_ui(one_e, 1, 1);
    mpq_sub(one_e, one_e, p->e);
    mpq_set_si(t, (long)K, 1);
    mpq_div(eK, p->e, t);
    for (int64_t c = 0; c < K; c++) {
      mpq_set_d(t, lsce_soft_target(p, i, c));
      mpq_mul(k[c], t, one_e);
      mpq_add(k[c], k[c], eK);
      if (d->weighting == LSCE_W_LOGPROB) { mpq_set_d(w, lsce_weight(p, c)); mpq_mul(k[c], k[c], w); }
      mpq_mul(k[c], k[c], f);
    }
    mpq_clears(one_e, eK, NULL);
  } else {
    int64_t y = lsce_target(p, i);
    for (int64_t c = 0; c < K; c++) {
      if (d->weighting == LSCE_W_NLL) {
        mpq_mul(k[c], x->qo, x->b);           /* (e/K) b */
        if (c == y) {
          mpq_sub(t, x->qt, x->qo);           /* 1 - e */
          mpq_set_d(w, lsce_weight(p, y));
          mpq_mul(t, t, w);
          mpq_mul(t, t, x->a);
          mpq_add(k[c], k[c], t);
        }
      } else {
        if (c == y) mpq_set(k[c], x->qt);
        else if (d->pad && c == p->pad_index) mpq_set_ui(k[c], 0, 1);
        else mpq_set(k[c], x->qo);
        if (d->weighting == LSCE_W_TORCH || d->weighting == LSCE_W_LOGPROB) {
          mpq_set_d(w, lsce_weight(p, c));
          mpq_mul(k[c], k[c], w);
        }
      }
      mpq_mul(k[c], k[c], f);
    }
  }
  mpq_clears(f, w, t, NULL);
}

/* t'_c of a sigmoid row, exactly */
static void bce_target(mpq_t *tp, const octx *x, int64_t i) {
  const lsce_problem *p = x->p;
  const int64_t K = p->K;
  mpq_t t, one_e, c2;
  mpq_inits(t, one_e, c2, NULL);
  for (int64_t c = 0; c < K; c++) {
    if (p->soft) mpq_set_d(t, lsce_soft_target(p, i, c));
    else mpq_set_ui(t, c == lsce_target(p, i) ? 1 : 0, 1);
    mpq_set_ui(one_e, 1, 1);
    if (x->v == LSCE_V_BCE) {                 /* (1-e) t + e/2 */
      mpq_sub(one_e, one_e, p->e);
      mpq_mul(tp[c], t, one_e);
      mpq_set_ui(c2, 2, 1);
      mpq_div(c2, p->e, c2);
      mpq_add(tp[c], tp[c], c2);
    } else if (x->v == LSCE_V_BCE_MULTILABEL) { /* (1-2e) t + e */
      mpq_add(c2, p->e, p->e);
      mpq_sub(one_e, one_e, c2);
      mpq_mul(tp[c], t, one_e);
      mpq_add(tp[c], tp[c], p->e);
    } else {                                  /* bce-softmax-target: (1-e) t + e/K */
      mpq_sub(one_e, one_e, p->e);
      mpq_mul(tp[c], t, one_e);
      mpq_set_si(c2, (long)K, 1);
      mpq_div(c2, p->e, c2);
      mpq_add(tp[c], tp[c], c2);
    }
  }
  mpq_clears(t, one_e, c2, NULL);
}

/* ---- the transform ------------------------------------------------------------------------- */
/* a masked class (-inf) that stays masked: always, except under the diagnosis's LSCE_CAP_MASK_TO_C
 * (lsce/problem.h), where the cap makes it the finite -C */
#define MASKED(p, z) ((z) == -INFINITY && !((p)->has_softcap && (p)->cap_form == LSCE_CAP_MASK_TO_C))

/* x = S z, then C tanh(x / C); z finite (or -inf under LSCE_CAP_MASK_TO_C: x = -C exactly). The
 * diagnosis's LSCE_CAP_X_TANH computes x tanh(x / C) instead (an even function: x_m below need not
 * be the largest x then; every value stays an Arb enclosure, so only the precision argument's
 * "terms >= 0" is lost, not correctness). */
static void xform(arb_t x, const lsce_problem *p, double z, slong prec) {
  arb_t t;
  arb_init(t);
  if (z == -INFINITY) { lsce_arb_set_q(x, p->softcap, prec); arb_neg(x, x); arb_clear(t); return; }
  arb_set_d(x, z);
  if (p->has_scale) { lsce_arb_set_q(t, p->scale, prec); arb_mul(x, x, t, prec); }
  if (p->has_softcap) {
    lsce_arb_set_q(t, p->softcap, prec);
    if (p->cap_form == LSCE_CAP_X_TANH) {
      arb_div(t, x, t, prec);
      arb_tanh(t, t, prec);
      arb_mul(x, x, t, prec);
    } else {
      arb_div(x, x, t, prec);
      arb_tanh(x, x, prec);
      arb_mul(x, x, t, prec);
    }
  }
  arb_clear(t);
}

/* the chain factor x'(z) as an oval: S (exact) without a cap or at z = 0; S sech^2(S z / C) as a
 * ball otherwise (no 1 - tanh^2: docs/formulations.md pitfall 8); at a masked z: S, or 0 under a cap */
static void chain(oval *f, const lsce_problem *p, double z, slong prec) {
  if (p->has_scale) mpq_set(f->q, p->scale); else mpq_set_ui(f->q, 1, 1);
  f->exact = 1;
  if (!p->has_softcap || z == 0) return;
  if (z == -INFINITY) { mpq_set_ui(f->q, 0, 1); return; }
  arb_t u, s, w;
  arb_init(u); arb_init(s); arb_init(w);
  lsce_arb_set_q(s, f->q, prec);
  arb_set_d(u, z);
  arb_mul(u, u, s, prec);
  lsce_arb_set_q(f->b, p->softcap, prec);
  arb_div(u, u, f->b, prec);
  if (p->cap_form == LSCE_CAP_X_TANH) {     /* d/dx x tanh(x/C) = tanh(u) + u sech^2(u) */
    arb_sech(w, u, prec);
    arb_sqr(w, w, prec);
    arb_mul(w, w, u, prec);
    arb_tanh(u, u, prec);
    arb_add(u, u, w, prec);
  } else {
    arb_sech(u, u, prec);
    arb_sqr(u, u, prec);
  }
  arb_mul(f->b, u, s, prec);
  f->exact = 0;
  arb_clear(u); arb_clear(s); arb_clear(w);
}

/* out = f * (qpart + bpart): qpart exact, bpart a ball (has_b = 0: absent) */
static void combine(oval *out, const oval *f, const mpq_t qpart, const arb_t bpart, int has_b,
                    slong prec) {
  if (!has_b && f->exact) { mpq_mul(out->q, f->q, qpart); out->exact = 1; return; }
  if (!has_b && mpq_sgn(qpart) == 0) { mpq_set_ui(out->q, 0, 1); out->exact = 1; return; }
  if (f->exact && mpq_sgn(f->q) == 0) { mpq_set_ui(out->q, 0, 1); out->exact = 1; return; }
  arb_t t;
  arb_init(t);
  lsce_arb_set_q(out->b, qpart, prec);
  if (has_b) arb_add(out->b, out->b, bpart, prec);
  if (f->exact) { lsce_arb_set_q(t, f->q, prec); arb_mul(out->b, out->b, t, prec); }
  else arb_mul(out->b, out->b, f->b, prec);
  out->exact = 0;
  arb_clear(t);
}

/* softplus(x) >= 0 without cancellation */
static void softplus(arb_t r, const arb_t x, slong prec) {
  arb_t t;
  arb_init(t);
  if (arb_is_nonnegative(x)) { arb_neg(t, x); arb_exp(t, t, prec); arb_log1p(t, t, prec); arb_add(r, t, x, prec); }
  else if (arb_is_negative(x)) { arb_exp(t, x, prec); arb_log1p(r, t, prec); }
  else { /* straddles 0: log(1 + e^x) directly (no cancellation either) */
    arb_exp(t, x, prec); arb_log1p(r, t, prec);
  }
  arb_clear(t);
}

/* ---- one row at one precision ------------------------------------------------------------- */
typedef struct {
  mpq_t *k, *tp;       /* kappa'_c (softmax) / t'_c (sigmoid) */
  arb_t *x, *ex;
  oval *g;             /* gradient entries */
  oval loss;           /* s_i (CE_i + Z lse^2) / D parts, i.e. the row's share of the output */
  arb_t zpart;         /* s_i lse^2 (softmax with z-loss) */
  int64_t cap;
} rowbuf;

/* 0, or -1 out of memory (then nothing is held: cap 0, rowbuf_clear is a no-op) */
static int rowbuf_init(rowbuf *r, int64_t K) {
  r->cap = K > 0 ? K : 1;
  r->k = malloc(sizeof(mpq_t) * (size_t)r->cap);
  r->tp = malloc(sizeof(mpq_t) * (size_t)r->cap);
  r->x = malloc(sizeof(arb_t) * (size_t)r->cap);
  r->ex = malloc(sizeof(arb_t) * (size_t)r->cap);
  r->g = malloc(sizeof(oval) * (size_t)r->cap);
  oval_init(&r->loss);
  arb_init(r->zpart);
  if (!r->k || !r->tp || !r->x || !r->ex || !r->g) {
    r->cap = 0;
    return -1;
  }
  for (int64_t c = 0; c < r->cap; c++) {
    mpq_init(r->k[c]); mpq_init(r->tp[c]); arb_init(r->x[c]); arb_init(r->ex[c]); oval_init(&r->g[c]);
  }
  return 0;
}

static void rowbuf_clear(rowbuf *r) {
  for (int64_t c = 0; c < r->cap; c++) {
    mpq_clear(r->k[c]); mpq_clear(r->tp[c]); arb_clear(r->x[c]); arb_clear(r->ex[c]); oval_clear(&r->g[c]);
  }
  free(r->k); free(r->tp); free(r->x); free(r->ex); free(r->g);
  oval_clear(&r->loss);
  arb_clear(r->zpart);
}

/* The row's share of the output, r->loss: s_i CE_i / D_norm for mean and sum (k-nll-weighted: its
 * two parts with their denominators), s_i (CE_i + Z lse_i^2) for none; r->zpart = s_i lse_i^2 (mean
 * and sum: the caller multiplies by Z / D_z); r->Mpart the same share with every term counted
 * positive (the KL entropy added back, docs/accuracy.md's M); the gradient entries when want_grad.
 * The caller skips rows outside V and rows with s_i = 0, and handles a NaN mean. Returns 1 when
 * the row's loss is +inf. */
static int row_eval(rowbuf *r, const octx *x, int64_t i, int want_grad, int ce_only, arb_t Mpart,
                    slong prec) {
  const lsce_problem *p = x->p;
  const int64_t K = p->K;
  const int none = p->reduction == LSCE_RED_NONE;
  int inf = 0;
  arb_t t, b, s1, ls, lse, zc, sinv, L;
  arb_init(t); arb_init(b); arb_init(s1); arb_init(ls); arb_init(lse); arb_init(zc); arb_init(sinv);
  arb_init(L);
  mpq_t q, f, Ks;
  mpq_inits(q, f, Ks, NULL);
  oval ch;
  oval_init(&ch);
  arb_zero(r->zpart);
  if (Mpart) arb_zero(Mpart);
  if (x->sig) {
    bce_target(r->tp, x, i);
    mpq_set_d(f, sw_of(p, i));
    mpq_div(f, f, x->Dn);                                   /* s_i / D */
    for (int64_t c = 0; c < K; c++) {
      double z = lsce_logit(p, i, c);
      mpq_set_d(q, lsce_weight(p, c));
      mpq_mul(q, q, f);                                     /* w_c s_i / D */
      if (mpq_sgn(q) == 0) { if (want_grad) { mpq_set_ui(r->g[c].q, 0, 1); r->g[c].exact = 1; } continue; }
      if (want_grad) chain(&ch, p, z, prec);
      if (MASKED(p, z)) {                                 /* sigmoid = 0: -w t' (times S or 0) */
        if (mpq_sgn(r->tp[c]) > 0) inf = 1;
        if (want_grad) { mpq_mul(r->g[c].q, q, r->tp[c]); mpq_neg(r->g[c].q, r->g[c].q);
                         combine(&r->g[c], &ch, r->g[c].q, NULL, 0, prec); }
        continue;
      }
      xform(r->x[c], p, z, prec);
      /* w_c s_i / D ((1 - t') softplus(x) + t' softplus(-x)), both terms >= 0 */
      softplus(t, r->x[c], prec);
      mpq_set_ui(Ks, 1, 1);
      mpq_sub(Ks, Ks, r->tp[c]);
      lsce_arb_set_q(b, Ks, prec);
      arb_mul(t, t, b, prec);
      arb_neg(b, r->x[c]);
      softplus(b, b, prec);
      lsce_arb_set_q(sinv, r->tp[c], prec);
      arb_addmul(t, b, sinv, prec);
      lsce_arb_set_q(b, q, prec);
      arb_addmul(L, t, b, prec);
      if (!want_grad) continue;
      /* w s / D (sigmoid(x) - t'): z = 0 gives the rational 1/2 - t'; x > 0: (1 - t') - 1/(1+e^x);
       * x < 0: 1/(1+e^-x) - t' (the subtracted sigmoid is the small one) */
      if (z == 0) {
        mpq_set_ui(Ks, 1, 2);
        mpq_sub(Ks, Ks, r->tp[c]);
        mpq_mul(Ks, Ks, q);
        combine(&r->g[c], &ch, Ks, NULL, 0, prec);
        continue;
      }
      if (z > 0) {
        mpq_set_ui(Ks, 1, 1);
        mpq_sub(Ks, Ks, r->tp[c]);
        arb_exp(t, r->x[c], prec);
        arb_add_ui(t, t, 1, prec);
        arb_inv(t, t, prec);
        arb_neg(t, t);
      } else {
        mpq_neg(Ks, r->tp[c]);
        arb_neg(t, r->x[c]);
        arb_exp(t, t, prec);
        arb_add_ui(t, t, 1, prec);
        arb_inv(t, t, prec);
      }
      mpq_mul(Ks, Ks, q);
      lsce_arb_set_q(b, q, prec);
      arb_mul(t, t, b, prec);
      combine(&r->g[c], &ch, Ks, t, 1, prec);
    }
    if (Mpart) arb_set(Mpart, L);
    arb_set(r->loss.b, L);
    r->loss.exact = 0;
    goto done;
  }
  /* ---- softmax family */
  kappa_row(r->k, x, i);
  mpq_set_ui(Ks, 0, 1);
  for (int64_t c = 0; c < K; c++) mpq_add(Ks, Ks, r->k[c]);
  int64_t jm = -1, Kf = 0;
  int uniform = 1;
  double m = -INFINITY;
  for (int64_t c = 0; c < K; c++) {
    double z = lsce_logit(p, i, c);
    if (MASKED(p, z)) { if (mpq_sgn(r->k[c]) > 0) inf = 1; continue; }
    if (Kf > 0 && z != m) uniform = 0;
    if (z > m) { m = z; jm = c; }
    Kf++;
  }
  xform(r->x[jm], p, m, prec);
  arb_zero(s1);
  for (int64_t c = 0; c < K; c++) {
    double z = lsce_logit(p, i, c);
    if (MASKED(p, z) || c == jm) continue;
    if (z == m) { arb_set(r->x[c], r->x[jm]); arb_one(r->ex[c]); }
    else {
      xform(r->x[c], p, z, prec);
      arb_sub(t, r->x[c], r->x[jm], prec);
      arb_exp(r->ex[c], t, prec);
    }
    arb_add(s1, s1, r->ex[c], prec);
  }
  arb_one(r->ex[jm]);
  arb_log1p(ls, s1, prec);                                  /* lse - x_m >= 0 */
  arb_add(lse, r->x[jm], ls, prec);
  /* CE share: sum_c kappa'_c (x_m - x_c + ls), every term >= 0; KL: + sum_c kappa'_c log q_c */
  int kl = lsce_variants[x->v].kl;
  int kl_zero = 0;
  if (kl && uniform) {                                      /* q = p exactly: KL is exactly 0 */
    mpq_t inv;
    mpq_init(inv);
    mpq_set_d(f, sw_of(p, i));
    mpq_div(f, f, x->Dn);
    mpq_set_si(inv, 1, (unsigned long)Kf);
    kl_zero = 1;
    for (int64_t c = 0; c < K && kl_zero; c++) {
      if (MASKED(p, lsce_logit(p, i, c))) { kl_zero = mpq_sgn(r->k[c]) == 0; continue; }
      mpq_div(q, r->k[c], f);
      kl_zero = mpq_equal(q, inv);
    }
    mpq_clear(inv);
  }
  if (!inf && !kl_zero) {
    for (int64_t c = 0; c < K; c++) {
      if (mpq_sgn(r->k[c]) == 0 || MASKED(p, lsce_logit(p, i, c))) continue;
      if (lsce_logit(p, i, c) == m) arb_set(t, ls);
      else { arb_sub(t, r->x[jm], r->x[c], prec); arb_add(t, t, ls, prec); }
      lsce_arb_set_q(b, r->k[c], prec);
      arb_addmul(L, t, b, prec);
    }
    if (Mpart) arb_set(Mpart, L);
    if (kl && !ce_only) {
      /* + sum_c kappa'_c log q_c, q_c = kappa'_c / (s_i / D) */
      mpq_set_d(f, sw_of(p, i));
      mpq_div(f, f, x->Dn);
      for (int64_t c = 0; c < K; c++) {
        if (mpq_sgn(r->k[c]) == 0) continue;
        mpq_div(q, r->k[c], f);
        lsce_arb_set_q(t, q, prec);
        arb_log(t, t, prec);
        lsce_arb_set_q(b, r->k[c], prec);
        arb_addmul(L, t, b, prec);
        if (Mpart) arb_submul(Mpart, t, b, prec); /* M adds the entropy back: C_i >= 0 */
      }
    }
  }
  if (x->has_z) {
    arb_sqr(t, lse, prec);
    arb_set_d(b, sw_of(p, i));
    arb_mul(t, t, b, prec);
    arb_set(r->zpart, t);
    if (none && !inf) {
      lsce_arb_set_q(b, p->zloss, prec);
      arb_addmul(L, t, b, prec);
      if (Mpart) arb_addmul(Mpart, t, b, prec);
    }
  }
  arb_set(r->loss.b, L);
  r->loss.exact = 0;
  if (!want_grad) goto done;
  /* gradient: x'(z_j) [ Ksum' p_j - kappa'_j + zc p_j ], zc = 2 Z s_i lse / D_z */
  int hz = x->has_z;
  if (hz) {
    mpq_set_d(q, sw_of(p, i));
    mpq_mul(q, q, p->zloss);
    mpq_mul_2exp(q, q, 1);
    if (!none) mpq_div(q, q, x->Dz);
    lsce_arb_set_q(t, q, prec);
    arb_mul(zc, lse, t, prec);
  }
  arb_add_ui(sinv, s1, 1, prec);
  arb_inv(sinv, sinv, prec);                                /* 1/s */
  for (int64_t j = 0; j < K; j++) {
    double z = lsce_logit(p, i, j);
    chain(&ch, p, z, prec);
    if (MASKED(p, z)) {                                   /* p_j = 0 */
      mpq_neg(q, r->k[j]);
      combine(&r->g[j], &ch, q, NULL, 0, prec);
      continue;
    }
    if (uniform) {                                          /* p_j = 1/Kf exactly */
      mpq_set_si(q, 1, (unsigned long)Kf);
      mpq_mul(q, q, Ks);
      mpq_sub(q, q, r->k[j]);
      if (hz) { arb_div_si(t, zc, (slong)Kf, prec); combine(&r->g[j], &ch, q, t, 1, prec); }
      else combine(&r->g[j], &ch, q, NULL, 0, prec);
      continue;
    }
    if (j == jm) {                                          /* Ksum p - k = (Ksum - k) - Ksum s1/s */
      mpq_sub(q, Ks, r->k[j]);
      lsce_arb_set_q(b, Ks, prec);
      arb_mul(t, b, s1, prec);
      arb_neg(t, t);
      if (hz) arb_add(t, t, zc, prec);
      arb_mul(t, t, sinv, prec);
    } else {
      mpq_neg(q, r->k[j]);
      lsce_arb_set_q(b, Ks, prec);
      if (hz) arb_add(b, b, zc, prec);
      arb_mul(t, b, r->ex[j], prec);
      arb_mul(t, t, sinv, prec);
    }
    combine(&r->g[j], &ch, q, t, 1, prec);
  }
done:
  oval_clear(&ch);
  mpq_clears(q, f, Ks, NULL);
  arb_clear(t); arb_clear(b); arb_clear(s1); arb_clear(ls); arb_clear(lse); arb_clear(zc); arb_clear(sinv);
  arb_clear(L);
  return inf;
}

static long next_prec(long prec, long maxp) { return prec >= maxp ? 0 : (2 * prec > maxp ? maxp : 2 * prec); }

const char *lsce_options_first(const lsce_problem *p) {
  if (p->variant >= 0 && !strcmp(lsce_variants[p->variant].family, "sigmoid")) return "the sigmoid family";
  if (p->has_scale) return "--logit-scale";
  if (p->has_softcap) return "--softcap";
  if (p->has_zloss) return "--z-loss";
  if (p->has_sw) return "--sample-weights";
  if (p->normalizer != LSCE_NORM_DEFAULT) return "--normalizer";
  if (p->soft) return "soft targets";
  return NULL;
}

int lsce_uses_options(const lsce_problem *p) { return lsce_options_first(p) != NULL; }

/* Pass 2 (mean, sum): the total, all rows together at each precision: sum_i L_i + (Z / D_z) sum_i
 * zpart_i over the rows with use[i], in row order. T0, Z0 (NULL: computed here): every row's L_i and
 * zpart_i at o->start_prec as pass 1 (or lsce-mpi's row blocks) left them, so the first precision's
 * ball is the very one the single process forms; a higher precision recomputes every row here. */
static int options_total(double *hi, double *lo, signed char *rs, long *reached, const octx *x, rowbuf *rb,
                         const lsce_ref_opts *o, arb_t *T0, arb_t *Z0, const unsigned char *use, int any_inf,
                         int any_row, const char *who, lsce_err *err) {
  const lsce_problem *p = x->p;
  const int64_t N = p->N;
  int status = LSCE_OK;
  if (rs) *rs = 0;
  if (x->nan_mean) { *hi = NAN; if (lo) *lo = 0; }
  else if (any_inf) { *hi = INFINITY; if (lo) *lo = 0; }
  else if (!any_row) { *hi = 0; if (lo) *lo = 0; }
  else {
    oval tot;
    oval_init(&tot);
    arb_t zs, c;
    arb_init(zs); arb_init(c);
    for (long prec = o->start_prec;;) {
      if (prec > *reached) *reached = prec;
      arb_zero(tot.b);
      arb_zero(zs);
      tot.exact = 0;
      for (int64_t i = 0; i < N; i++) {
        if (!use[i]) continue;
        if (T0 && prec == o->start_prec) {
          arb_add(tot.b, tot.b, T0[i], prec);
          arb_add(zs, zs, Z0[i], prec);
          continue;
        }
        row_eval(rb, x, i, 0, 0, NULL, prec);
        arb_add(tot.b, tot.b, rb->loss.b, prec);
        arb_add(zs, zs, rb->zpart, prec);
      }
      if (x->has_z) {
        mpq_t zq;
        mpq_init(zq);
        mpq_div(zq, p->zloss, x->Dz);
        lsce_arb_set_q(c, zq, prec);
        arb_addmul(tot.b, zs, c, prec);
        mpq_clear(zq);
      }
      if (oval_round(hi, lo, rs, &tot, prec >= o->max_prec, prec)) break;
      prec = next_prec(prec, o->max_prec);
      if (!prec) {
        status = lsce_err_set(err, LSCE_EINCOMPLETE,
                              "%s: could not certify the float64 rounding within %ld bits", who, o->max_prec);
        break;
      }
    }
    arb_clear(zs); arb_clear(c);
    oval_clear(&tot);
  }
  return status;
}

int lsce_reference_options(lsce_ref_result *res, const lsce_problem *p, const lsce_ref_opts *o,
                           const char *who, lsce_err *err) {
  memset(res, 0, sizeof *res);
  if (p->soft && !lsce_variant_takes_soft(p->variant)) /* validation refuses it; never compute another form */
    return lsce_err_set(err, LSCE_EINPUT, "%s: variant %s takes no soft (N, K) targets", who,
                        lsce_variants[p->variant].id);
  const int64_t N = p->N, K = p->K;
  const int none = p->reduction == LSCE_RED_NONE;
  /* rows [i0, i1); a block (lsce-mpi) writes its rows from index 0 and, for a mean or sum, hands its
   * rows' parts at the first precision over (ce_t: L_i, ce_z: zpart_i) instead of the total */
  const int block = o->row_hi >= 0;
  const int64_t i0 = block ? o->row_lo : 0, i1 = block ? o->row_hi : N, nb = i1 - i0;
  int arc = lsce_ref_result_alloc(res, none ? nb : 1, o->want_grad ? nb * K : 0, o->want_lo, who, err);
  if (arc) return arc;
  octx x;
  octx_init(&x, p);
  rowbuf rb;
  const int rb_bad = rowbuf_init(&rb, K);
  int status = LSCE_OK, any_inf = 0, any_row = 0;
  long reached = o->start_prec;
  unsigned char *done = malloc((size_t)(K > 0 ? K : 1));
  const int64_t nkeep = !none && block ? (nb > 0 ? nb : 1) : 0;
  mpq_t *Qk = nkeep ? malloc(sizeof(mpq_t) * (size_t)nkeep) : NULL;
  arb_t *Tk = nkeep ? malloc(sizeof(arb_t) * (size_t)nkeep) : NULL, *Zk = nkeep ? malloc(sizeof(arb_t) * (size_t)nkeep) : NULL;
  unsigned char *use = nkeep ? calloc((size_t)nkeep, 1) : NULL;
  if (rb_bad || !done || (nkeep && (!Qk || !Tk || !Zk || !use))) {
    free(done); free(Qk); free(Tk); free(Zk); free(use);
    rowbuf_clear(&rb);
    octx_clear(&x);
    lsce_ref_result_free(res);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who);
  }
  for (int64_t k = 0; k < nkeep; k++) { mpq_init(Qk[k]); arb_init(Tk[k]); arb_init(Zk[k]); }
  /* pass 1: per row, the none loss and the gradient, each settled at its own precision */
  for (int64_t i = i0; i < i1 && status == LSCE_OK; i++) {
    if (o->progress) o->progress(o->progress_user, i - i0, nb);
    if (!lsce_row_in_V(p, x.v, i)) continue;
    const int64_t ob = i - i0; /* the row's index in the outputs */
    double *g = res->grad ? res->grad + ob * K : NULL;
    double *glo = res->grad_lo ? res->grad_lo + ob * K : NULL;
    signed char *grs = res->grad_rs ? res->grad_rs + ob * K : NULL;
    if (g && x.nan_mean) for (int64_t j = 0; j < K; j++) g[j] = NAN;
    if (sw_of(p, i) == 0) continue;                         /* exactly 0: loss and gradient */
    int need_loss = none, need_grad = g && !x.nan_mean;
    if (!none && !x.nan_mean) {
      /* +inf rows decide the total without any ball */
      if (row_eval(&rb, &x, i, 0, 0, NULL, o->start_prec)) any_inf = 1;
      else {
        any_row = 1;
        if (nkeep) { use[ob] = 1; arb_set(Tk[ob], rb.loss.b); arb_set(Zk[ob], rb.zpart); }
      }
    }
    memset(done, 0, (size_t)(K > 0 ? K : 1));
    for (long prec = o->start_prec; need_loss || need_grad;) {
      if (prec > reached) reached = prec;
      int final = prec >= o->max_prec;
      int inf = row_eval(&rb, &x, i, need_grad, 0, NULL, prec);
      if (need_loss) {
        if (inf) { res->loss[ob] = INFINITY; need_loss = 0; }
        else if (oval_round(&res->loss[ob], res->loss_lo ? &res->loss_lo[ob] : NULL,
                            res->loss_rs ? &res->loss_rs[ob] : NULL, &rb.loss, final, prec))
          need_loss = 0;
      }
      if (need_grad) {
        int all = 1;
        for (int64_t j = 0; j < K; j++) {
          if (done[j]) continue;
          if (oval_round(&g[j], glo ? &glo[j] : NULL, grs ? &grs[j] : NULL, &rb.g[j], final, prec)) done[j] = 1;
          else all = 0;
        }
        if (all) need_grad = 0;
      }
      if (!need_loss && !need_grad) break;
      prec = next_prec(prec, o->max_prec);
      if (!prec) {
        status = lsce_err_set(err, LSCE_EINCOMPLETE,
                              "%s: row %lld: could not certify the float64 rounding within %ld bits",
                              who, (long long)i, o->max_prec);
        break;
      }
    }
  }
  if (!none && status == LSCE_OK && block) {
    /* the block's parts go to the caller (lsce_ref_options_total over every block's rows) */
    res->ce_q = Qk; res->ce_t = Tk; res->ce_z = Zk; res->ce_use = use; res->nce = nkeep;
    res->any_inf = any_inf; res->all_zero = !any_row;
    Qk = NULL; Tk = NULL; Zk = NULL; use = NULL;
  } else if (!none && status == LSCE_OK) {
    /* pass 2: the mean or sum, all rows together at each precision */
    unsigned char *all = malloc((size_t)(N > 0 ? N : 1));
    if (!all) status = lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who);
    else {
      for (int64_t i = 0; i < N; i++) all[i] = lsce_row_in_V(p, x.v, i) && sw_of(p, i) != 0;
      status = options_total(&res->loss[0], res->loss_lo, res->loss_rs, &reached, &x, &rb, o, NULL, NULL, all,
                             any_inf, any_row, who, err);
      free(all);
    }
  }
  for (int64_t k = 0; Qk && k < nkeep; k++) { mpq_clear(Qk[k]); arb_clear(Tk[k]); arb_clear(Zk[k]); }
  free(Qk); free(Tk); free(Zk); free(use);
  res->prec_reached = reached;
  free(done);
  rowbuf_clear(&rb);
  octx_clear(&x);
  if (status != LSCE_OK) lsce_ref_result_free(res);
  return status;
}

int lsce_ref_options_total(double *hi, double *lo, signed char *rs, long *reached, const lsce_problem *p,
                           const lsce_ref_opts *o, arb_t *T, arb_t *Z, const unsigned char *use, int any_inf,
                           int all_zero, const char *who, lsce_err *err) {
  octx x;
  octx_init(&x, p);
  rowbuf rb;
  if (rowbuf_init(&rb, p->K)) {
    rowbuf_clear(&rb);
    octx_clear(&x);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who);
  }
  int status = options_total(hi, lo, rs, reached, &x, &rb, o, T, Z, use, any_inf, !all_zero, who, err);
  rowbuf_clear(&rb);
  octx_clear(&x);
  return status;
}

void lsce_ref_options_total_ball(arb_t total, arb_t M, lsce_ref_flags *fl, const lsce_problem *p,
                                 int ce_only, slong prec) {
  octx x;
  octx_init(&x, p);
  rowbuf rb;
  fl->is_nan = fl->is_inf = fl->oom = 0;
  if (rowbuf_init(&rb, p->K)) { /* out of memory: a ball that claims nothing, and fl->oom */
    fl->oom = 1;
    arb_indeterminate(total);
    arb_indeterminate(M);
    rowbuf_clear(&rb);
    octx_clear(&x);
    return;
  }
  arb_t Mp, zs, zm, c;
  arb_init(Mp); arb_init(zs); arb_init(zm); arb_init(c);
  fl->is_nan = x.nan_mean;
  arb_zero(total);
  arb_zero(M);
  for (int64_t i = 0; i < p->N && !fl->is_nan; i++) {
    if (!lsce_row_in_V(p, x.v, i) || sw_of(p, i) == 0) continue;
    if (row_eval(&rb, &x, i, 0, ce_only, Mp, prec)) { fl->is_inf = 1; continue; }
    arb_add(total, total, rb.loss.b, prec);
    arb_add(M, M, Mp, prec);
    arb_add(zs, zs, rb.zpart, prec);
  }
  if (x.has_z && p->reduction != LSCE_RED_NONE) {
    mpq_t zq;
    mpq_init(zq);
    mpq_div(zq, p->zloss, x.Dz);
    lsce_arb_set_q(c, zq, prec);
    arb_addmul(total, zs, c, prec);
    arb_addmul(M, zs, c, prec);
    mpq_clear(zq);
  }
  arb_clear(Mp); arb_clear(zs); arb_clear(zm); arb_clear(c);
  rowbuf_clear(&rb);
  octx_clear(&x);
}

/* The magnitudes behind the ulp metric's cancellation floors (docs/formulations.md "Cancellation
 * floors for the new terms"), to about 2^-60 relative (they only place a floor): Mloss[k] for each
 * loss output (M of the mean or sum; M_i per row for none, 0 outside V) and sigma[i] per gradient
 * row: max_j x'(z_ij) (sum_c kappa'_c + 2 Z s_i |lse_i| / D_z) for the softmax family,
 * max_j x'(z_ij) s_i max_c w_c / D_norm for the sigmoid family; 0 outside V and where s_i = 0. */
void lsce_ref_options_floors(double *Mloss, double *sigma, const lsce_problem *p) {
  const slong prec = 128;
  octx x;
  octx_init(&x, p);
  rowbuf rb;
  if (rowbuf_init(&rb, p->K)) { /* out of memory, no error channel: no floors (never more lenient) */
    const int none = p->reduction == LSCE_RED_NONE;
    for (int64_t i = 0; i < p->N; i++) sigma[i] = 0;
    for (int64_t i = 0; i < (none ? p->N : 1); i++) Mloss[i] = 0;
    rowbuf_clear(&rb);
    octx_clear(&x);
    return;
  }
  arb_t Mp, t, b;
  arb_init(Mp); arb_init(t); arb_init(b);
  oval ch;
  oval_init(&ch);
  mpq_t q;
  mpq_init(q);
  const int none = p->reduction == LSCE_RED_NONE;
  if (!none) {
    arb_t tot, M;
    arb_init(tot); arb_init(M);
    lsce_ref_flags fl;
    lsce_ref_options_total_ball(tot, M, &fl, p, 0, prec);
    Mloss[0] = (fl.is_inf || fl.is_nan || !arb_is_finite(M)) ? 0 : fabs(arf_get_d(arb_midref(M), ARF_RND_NEAR));
    arb_clear(tot); arb_clear(M);
  }
  for (int64_t i = 0; i < p->N; i++) {
    if (none) Mloss[i] = 0;
    sigma[i] = 0;
    if (!lsce_row_in_V(p, x.v, i) || sw_of(p, i) == 0 || x.nan_mean) continue;
    int inf = row_eval(&rb, &x, i, 0, 0, Mp, prec);
    if (none && !inf) Mloss[i] = fabs(arf_get_d(arb_midref(Mp), ARF_RND_NEAR));
    double cmax = 0;
    for (int64_t j = 0; j < p->K; j++) {
      chain(&ch, p, lsce_logit(p, i, j), prec);
      double c = ch.exact ? fabs(mpq_get_d(ch.q)) : fabs(arf_get_d(arb_midref(ch.b), ARF_RND_NEAR));
      if (c > cmax) cmax = c;
    }
    double mag = 0;
    if (x.sig) {
      double wm = 0;
      for (int64_t c = 0; c < p->K; c++) if (lsce_weight(p, c) > wm) wm = lsce_weight(p, c);
      mpq_set_d(q, sw_of(p, i));
      mpq_div(q, q, x.Dn);
      mag = mpq_get_d(q) * wm;
    } else {
      kappa_row(rb.k, &x, i);
      mpq_set_ui(q, 0, 1);
      for (int64_t c = 0; c < p->K; c++) mpq_add(q, q, rb.k[c]);
      mag = mpq_get_d(q);
      if (x.has_z) {
        /* 2 Z s_i |lse_i| / D_z: lse_i from the row's z part s_i lse_i^2 */
        arb_set_d(b, sw_of(p, i));
        arb_div(t, rb.zpart, b, prec);
        arb_sqrt(t, t, prec);
        mpq_set_d(q, sw_of(p, i));
        mpq_mul(q, q, p->zloss);
        mpq_mul_2exp(q, q, 1);
        if (!none) mpq_div(q, q, x.Dz);
        mag += mpq_get_d(q) * arf_get_d(arb_midref(t), ARF_RND_NEAR);
      }
    }
    sigma[i] = cmax * mag;
  }
  mpq_clear(q);
  oval_clear(&ch);
  arb_clear(Mp); arb_clear(t); arb_clear(b);
  rowbuf_clear(&rb);
  octx_clear(&x);
}

/* lsce_opt_consts (lsce/ref_options.h): the same rationals as octx, each rounded by mpq_get_d. */
/* q as a double (mpq_get_d: truncation) and, when dd is not NULL, as a pair hi + lo with lo the
 * truncation of the exact rational q - hi: |q - hi| < ulp(hi) <= 2^-52 |q|, |q - hi - lo| <= 2^-52 |q - hi|,
 * so the pair is within 2^-104 |q| (+ 2^-1074 where lo is subnormal), and 0 or of q's sign */
static double opt_put(lsce_dd *dd, const mpq_t q) {
  double hi = mpq_get_d(q);
  if (dd) {
    mpq_t r;
    mpq_init(r);
    mpq_set_d(r, hi);
    mpq_sub(r, q, r);
    *dd = lsce_dd_make(hi, mpq_get_d(r));
    mpq_clear(r);
  }
  return hi;
}

static void options_consts(lsce_opt_consts *k, lsce_opt_consts_dd *kd, const lsce_problem *p) {
  octx x;
  octx_init(&x, p);
  const lsce_variant *d = &lsce_variants[p->variant];
  memset(k, 0, sizeof *k);
  k->sig = x.sig;
  k->has_z = x.has_z;
  k->nan_mean = x.nan_mean;
  k->kl = d->kl;
  k->weighting = d->weighting;
  k->pad = d->pad;
  k->soft = p->soft;
  k->has_scale = p->has_scale;
  k->has_cap = p->has_softcap;
  k->S = p->has_scale ? opt_put(kd ? &kd->S : NULL, p->scale) : 1.0;
  k->C = p->has_softcap ? opt_put(kd ? &kd->C : NULL, p->softcap) : 0.0;
  mpq_t t, u;
  mpq_inits(t, u, NULL);
  if (mpq_sgn(x.Dn) != 0) { mpq_inv(t, x.Dn); k->inv_Dn = opt_put(kd ? &kd->inv_Dn : NULL, t); }
  if (x.has_z) {
    if (p->reduction == LSCE_RED_NONE || mpq_sgn(x.Dz) == 0) mpq_set(t, p->zloss);
    else mpq_div(t, p->zloss, x.Dz);
    k->zq = opt_put(kd ? &kd->zq : NULL, t);
  }
  k->a = opt_put(kd ? &kd->a : NULL, x.a);
  k->b = opt_put(kd ? &kd->b : NULL, x.b);
  if (!x.sig) {
    k->qt = opt_put(kd ? &kd->qt : NULL, x.qt);
    k->qo = opt_put(kd ? &kd->qo : NULL, x.qo);
    mpq_sub(t, x.qt, x.qo);
    k->qd = opt_put(kd ? &kd->qd : NULL, t);
  }
  /* (al, be): (1-e, e/K) for soft softmax targets and bce-softmax-target, (1-e, e/2) for bce,
   * (1-2e, e) for bce-multilabel */
  mpq_t al, be;
  mpq_inits(al, be, NULL);
  mpq_set_ui(al, 1, 1);
  if (p->variant == LSCE_V_BCE_MULTILABEL) { mpq_sub(al, al, p->e); mpq_sub(al, al, p->e); mpq_set(be, p->e); }
  else {
    mpq_sub(al, al, p->e);
    mpq_set_si(u, p->variant == LSCE_V_BCE ? 2 : (long)p->K, 1);
    mpq_div(be, p->e, u);
  }
  mpq_set_ui(t, 1, 1);
  mpq_sub(t, t, al);
  mpq_sub(t, t, be);
  k->al = opt_put(kd ? &kd->al : NULL, al);
  k->be = opt_put(kd ? &kd->be : NULL, be);
  k->ga = opt_put(kd ? &kd->ga : NULL, t);
  k->neg = mpq_sgn(al) < 0 || mpq_sgn(be) < 0 || mpq_sgn(t) < 0;
  mpq_clears(al, be, t, u, NULL);
  octx_clear(&x);
}

void lsce_options_consts(lsce_opt_consts *k, const lsce_problem *p) { options_consts(k, NULL, p); }
void lsce_options_consts_dd(lsce_opt_consts *k, lsce_opt_consts_dd *kd, const lsce_problem *p) {
  *kd = (lsce_opt_consts_dd){0};
  kd->S = lsce_dd_from(1.0);
  options_consts(k, kd, p);
}
