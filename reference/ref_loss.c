/* The literal reference: for each row of V it builds kappa_c = (target distribution q) x (class
 * weight) per class as exact rationals, evaluates L_i = sum_c kappa_c (-lp_c) [- H(q)] and
 * dL_i/dz_j = (sum_c kappa_c) p_j - kappa_j in Arb balls, and raises the precision (Ziv) until every
 * float64 output is certainly correctly rounded. Exact zeros and rational entries are decided in
 * GMP mpq (FORMULATIONS.md "Edge semantics"). Claim: every output is the correctly rounded float64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/reference.h"

/* ---- per-problem exact constants ------------------------------------------------------------ */
typedef struct {
  const lsce_problem *p;
  const lsce_variant *d;
  int v;
  mpq_t qt, qo;      /* q_y and q_c (c != y, c != P) */
  mpq_t Wall;        /* sum_c w_c, exact */
  mpq_t W;           /* sum_{i in V} w[y_i], exact */
  int64_t nV;
  int64_t n_off;     /* classes holding qo in a row: K-1, or K-2 for k2-pad-kl */
  mpq_t a, b;        /* k-nll-weighted: the NLL part is scaled by a, the smooth part by b */
  mpq_t invD;        /* 1/D for a mean, 1 for sum and none */
  int nan_mean;      /* a mean whose denominator is 0: NaN */
} ctx;

static void ctx_init(ctx *x, const lsce_problem *p) {
  x->p = p;
  x->v = p->variant;
  x->d = &lsce_variants[p->variant];
  mpq_inits(x->qt, x->qo, x->Wall, x->W, x->a, x->b, x->invD, NULL);
  lsce_variant_q(x->qt, x->qo, x->v, p->e, p->K);
  x->n_off = p->K - 1 - (x->v == LSCE_V_K2_PAD_KL ? 1 : 0);
  mpq_t t;
  mpq_init(t);
  if (x->d->weighting != LSCE_W_NONE) {
    for (int64_t c = 0; c < p->K; c++) { mpq_set_d(t, lsce_weight(p, c)); mpq_add(x->Wall, x->Wall, t); }
  }
  x->nV = 0;
  for (int64_t i = 0; i < p->N; i++) {
    if (!lsce_row_in_V(p, x->v, i)) continue;
    x->nV++;
    if (x->d->weighting != LSCE_W_NONE) {
      mpq_set_d(t, lsce_weight(p, lsce_target(p, i)));
      mpq_add(x->W, x->W, t);
    }
  }
  mpq_set_ui(x->a, 1, 1);
  mpq_set_ui(x->b, 1, 1);
  mpq_set_ui(x->invD, 1, 1);
  x->nan_mean = 0;
  if (p->reduction == LSCE_RED_MEAN) {
    if (x->d->weighting == LSCE_W_NLL) {
      /* NLL part by W, smooth part by |V|; the mean itself divides by 1 */
      if (mpq_sgn(x->W) == 0 || x->nV == 0) x->nan_mean = 1;
      else { mpq_inv(x->a, x->W); mpq_set_si(x->b, 1, 1); mpq_set_si(t, (long)x->nV, 1); mpq_inv(x->b, t); }
    } else if (x->d->weighting == LSCE_W_TORCH) {
      if (mpq_sgn(x->W) == 0) x->nan_mean = 1; else mpq_inv(x->invD, x->W);
    } else {
      if (x->nV == 0) x->nan_mean = 1; else { mpq_set_si(t, (long)x->nV, 1); mpq_inv(x->invD, t); }
    }
  }
  mpq_clear(t);
}

static void ctx_clear(ctx *x) { mpq_clears(x->qt, x->qo, x->Wall, x->W, x->a, x->b, x->invD, NULL); }

/* kappa_c for a row with target y, exactly. */
static void kappa_q(mpq_t k, const ctx *x, int64_t c, int64_t y) {
  const lsce_problem *p = x->p;
  switch (x->d->weighting) {
  case LSCE_W_NONE:
    if (c == y) mpq_set(k, x->qt);
    else if (x->v == LSCE_V_K2_PAD_KL && c == p->pad_index) mpq_set_ui(k, 0, 1);
    else mpq_set(k, x->qo);
    return;
  case LSCE_W_TORCH:
  case LSCE_W_LOGPROB: {
    mpq_t w;
    mpq_init(w);
    mpq_set_d(w, lsce_weight(p, c));
    mpq_mul(k, c == y ? x->qt : x->qo, w);
    mpq_clear(w);
    return;
  }
  case LSCE_W_NLL: {
    mpq_mul(k, x->qo, x->b); /* the smooth part, (e/K) b */
    if (c == y) {
      mpq_t w, n;
      mpq_inits(w, n, NULL);
      mpq_set_d(w, lsce_weight(p, y));
      mpq_sub(n, x->qt, x->qo); /* 1 - e */
      mpq_mul(n, n, w);
      mpq_mul(n, n, x->a);
      mpq_add(k, k, n);
      mpq_clears(w, n, NULL);
    }
    return;
  }
  }
}

/* sum_c kappa_c for a row with target y, exactly. */
static void ksum_q(mpq_t s, const ctx *x, int64_t y) {
  mpq_t t, w;
  mpq_inits(t, w, NULL);
  switch (x->d->weighting) {
  case LSCE_W_NONE:
    mpq_set_si(t, (long)x->n_off, 1);
    mpq_mul(t, t, x->qo);
    mpq_add(s, x->qt, t);
    break;
  case LSCE_W_TORCH:
  case LSCE_W_LOGPROB:
    mpq_set_d(w, lsce_weight(x->p, y));
    mpq_mul(s, x->qt, w);
    mpq_sub(t, x->Wall, w);
    mpq_mul(t, t, x->qo);
    mpq_add(s, s, t);
    break;
  case LSCE_W_NLL:
    mpq_set_d(w, lsce_weight(x->p, y));
    mpq_sub(s, x->qt, x->qo);
    mpq_mul(s, s, w);
    mpq_mul(s, s, x->a);
    mpq_set_si(t, (long)x->p->K, 1);
    mpq_mul(t, t, x->qo);
    mpq_mul(t, t, x->b);
    mpq_add(s, s, t);
    break;
  }
  mpq_clears(t, w, NULL);
}

/* ---- one row --------------------------------------------------------------------------------- */
typedef struct {
  double m;        /* the row maximum over finite logits */
  int64_t jm;      /* first index attaining it */
  int64_t Kf;      /* finite logits */
  int uniform;     /* all finite logits equal: p_c = 1/Kf is rational */
  int inf;         /* some masked class has kappa_c > 0: the loss is +inf */
  int zero;        /* the loss is exactly 0 */
  int64_t y;
} rowinfo;

typedef struct {
  arb_t *ex;       /* exp(z_c - m) for finite c (1 at jm) */
  int64_t cap;
  arb_t s1, s, ls, t, u, kap, ks, qt, qo, qlogq;
  mpq_t kq, ksq, tq;
} scratch;

static void scratch_init(scratch *s, int64_t K) {
  s->cap = K;
  s->ex = malloc(sizeof(arb_t) * (size_t)(K > 0 ? K : 1));
  for (int64_t c = 0; c < K; c++) arb_init(s->ex[c]);
  arb_init(s->s1); arb_init(s->s); arb_init(s->ls); arb_init(s->t); arb_init(s->u);
  arb_init(s->kap); arb_init(s->ks); arb_init(s->qt); arb_init(s->qo); arb_init(s->qlogq);
  mpq_inits(s->kq, s->ksq, s->tq, NULL);
}

static void scratch_clear(scratch *s) {
  for (int64_t c = 0; c < s->cap; c++) arb_clear(s->ex[c]);
  free(s->ex);
  arb_clear(s->s1); arb_clear(s->s); arb_clear(s->ls); arb_clear(s->t); arb_clear(s->u);
  arb_clear(s->kap); arb_clear(s->ks); arb_clear(s->qt); arb_clear(s->qo); arb_clear(s->qlogq);
  mpq_clears(s->kq, s->ksq, s->tq, NULL);
}

static void row_scan(rowinfo *r, const ctx *x, scratch *s, int64_t i) {
  const lsce_problem *p = x->p;
  r->y = lsce_target(p, i);
  r->m = -INFINITY; r->jm = -1; r->Kf = 0; r->uniform = 1; r->inf = 0; r->zero = 0;
  for (int64_t c = 0; c < p->K; c++) {
    double z = lsce_logit(p, i, c);
    if (z == -INFINITY) {
      kappa_q(s->kq, x, c, r->y);
      if (mpq_sgn(s->kq) > 0) r->inf = 1;
      continue;
    }
    if (r->Kf > 0 && z != r->m) r->uniform = 0;
    if (z > r->m) { r->m = z; r->jm = c; }
    r->Kf++;
  }
  ksum_q(s->ksq, x, r->y);
  if (r->inf) return;
  if (mpq_sgn(s->ksq) == 0) { r->zero = 1; return; } /* every kappa_c is 0 */
  if (!r->uniform) return;
  /* A uniform row: -lp_c = log Kf on finite classes. */
  if (!x->d->kl) {
    /* sum kappa_c log Kf = 0 iff Kf = 1 (all kappa sit on the one finite class: masked ones are 0) */
    r->zero = (r->Kf == 1);
  } else {
    /* KL(q || p) = 0 iff q_c = 1/Kf on every finite class */
    int eq = 1;
    mpq_set_si(s->tq, 1, (unsigned long)r->Kf);
    for (int64_t c = 0; c < p->K && eq; c++) {
      if (lsce_logit(p, i, c) == -INFINITY) continue;
      kappa_q(s->kq, x, c, r->y);
      eq = mpq_equal(s->kq, s->tq);
    }
    r->zero = eq;
  }
}

/* sum_{q_c > 0} q_c log q_c (= -H(q)) for the KL variants, at prec. */
static void neg_entropy(arb_t out, const ctx *x, scratch *s, slong prec) {
  arb_zero(out);
  if (mpq_sgn(x->qt) > 0) {
    lsce_arb_set_q(s->t, x->qt, prec);
    arb_log(s->u, s->t, prec);
    arb_addmul(out, s->t, s->u, prec);
  }
  if (mpq_sgn(x->qo) > 0 && x->n_off > 0) {
    lsce_arb_set_q(s->t, x->qo, prec);
    arb_log(s->u, s->t, prec);
    arb_mul(s->u, s->u, s->t, prec);
    arb_mul_si(s->u, s->u, (slong)x->n_off, prec);
    arb_add(out, out, s->u, prec);
  }
}

/* kappa_c as a ball (qt/qo times w_c; exact inputs, one rounding). */
static void kappa_ball(arb_t k, const ctx *x, scratch *s, int64_t c, int64_t y, slong prec) {
  const lsce_problem *p = x->p;
  switch (x->d->weighting) {
  case LSCE_W_NONE:
    if (c == y) arb_set(k, s->qt);
    else if (x->v == LSCE_V_K2_PAD_KL && c == p->pad_index) arb_zero(k);
    else arb_set(k, s->qo);
    return;
  case LSCE_W_TORCH:
  case LSCE_W_LOGPROB:
    arb_set_d(k, lsce_weight(p, c));
    arb_mul(k, k, c == y ? s->qt : s->qo, prec);
    return;
  case LSCE_W_NLL:
    kappa_q(s->kq, x, c, y);
    lsce_arb_set_q(k, s->kq, prec);
    return;
  }
}

/* The row's cross-entropy part CE_i = sum_c kappa_c (-lp_c) as a ball, with ex[] and s1 filled.
 * lse = m + log1p(s1), s1 = sum_{finite c != jm} exp(z_c - m): every exp argument is <= 0, so
 * s1 lies in [0, K-1] and nothing overflows. */
static void row_ce(arb_t ce, const ctx *x, scratch *s, const rowinfo *r, int64_t i, slong prec) {
  const lsce_problem *p = x->p;
  arb_zero(s->s1);
  for (int64_t c = 0; c < p->K; c++) {
    double z = lsce_logit(p, i, c);
    if (z == -INFINITY) continue;
    if (c == r->jm) { arb_one(s->ex[c]); continue; }
    arb_set_d(s->t, z);
    arb_set_d(s->u, r->m);
    arb_sub(s->t, s->t, s->u, prec); /* z_c - m, exact when prec covers both exponents */
    arb_exp(s->ex[c], s->t, prec);
    arb_add(s->s1, s->s1, s->ex[c], prec);
  }
  arb_log1p(s->ls, s->s1, prec);       /* log s = lse - m */
  arb_zero(ce);
  for (int64_t c = 0; c < p->K; c++) {
    double z = lsce_logit(p, i, c);
    if (z == -INFINITY) continue;      /* masked classes have kappa_c = 0 here (else the row is inf) */
    kappa_ball(s->kap, x, s, c, r->y, prec);
    if (arb_is_zero(s->kap)) continue;
    arb_set_d(s->t, r->m);
    arb_set_d(s->u, z);
    arb_sub(s->t, s->t, s->u, prec);
    arb_add(s->t, s->t, s->ls, prec);  /* -lp_c = (m - z_c) + log s >= 0 */
    arb_addmul(ce, s->kap, s->t, prec);
  }
}

/* ---- rounding of one output (hi and optionally lo) -------------------------------------------- */
static int round_ball(double *hi, double *lo, const arb_t v, arb_t tmp, slong prec) {
  if (!lsce_ball_round(hi, v)) return 0;
  if (!lo) return 1;
  if (!isfinite(*hi)) { *lo = 0; return 1; }
  arb_set_d(tmp, *hi);
  arb_sub(tmp, v, tmp, prec);
  if (arb_is_zero(tmp)) { *lo = 0; return 1; }
  return lsce_ball_round(lo, tmp);
}

static void round_q(double *hi, double *lo, const mpq_t q) {
  *hi = lsce_q_round(q);
  if (!lo) return;
  if (!isfinite(*hi)) { *lo = 0; return; }
  mpq_t t;
  mpq_init(t);
  mpq_set_d(t, *hi);
  mpq_sub(t, q, t);
  *lo = lsce_q_round(t);
  mpq_clear(t);
}

/* Gradient row: g_j = invD (Ksum p_j - kappa_j). Returns 1 when every entry is settled at prec. */
static int row_grad(double *g, double *glo, const ctx *x, scratch *s, const rowinfo *r, int64_t i,
                    slong prec) {
  const lsce_problem *p = x->p;
  int64_t K = p->K;
  mpq_t e, invD;
  mpq_init(e);
  mpq_init(invD);
  mpq_set(invD, x->invD);
  int rational_row = r->uniform || mpq_sgn(s->ksq) == 0;
  int ok = 1;
  arb_t invDb, v, sinv;
  arb_init(invDb); arb_init(v); arb_init(sinv);
  if (!rational_row) {
    lsce_arb_set_q(invDb, invD, prec);
    lsce_arb_set_q(s->ks, s->ksq, prec);
    arb_add_ui(s->s, s->s1, 1, prec);
    arb_inv(sinv, s->s, prec);
  }
  for (int64_t j = 0; j < K && ok; j++) {
    double z = lsce_logit(p, i, j);
    if (rational_row || z == -INFINITY) {
      /* p_j = 0 (masked) or 1/Kf (uniform row); Ksum = 0 leaves -kappa_j: all exact rationals */
      kappa_q(s->kq, x, j, r->y);
      if (z == -INFINITY || mpq_sgn(s->ksq) == 0) mpq_set_ui(e, 0, 1);
      else { mpq_set_si(e, 1, (unsigned long)r->Kf); mpq_mul(e, e, s->ksq); }
      mpq_sub(e, e, s->kq);
      mpq_mul(e, e, invD);
      round_q(&g[j], glo ? &glo[j] : NULL, e);
      continue;
    }
    kappa_ball(s->kap, x, s, j, r->y, prec);
    if (j == r->jm) {
      /* p_jm = 1 - s1/s: write Ksum p_jm - kappa = (Ksum - kappa) - Ksum s1/s, exact first term */
      kappa_q(s->kq, x, j, r->y);
      mpq_sub(e, s->ksq, s->kq);
      lsce_arb_set_q(v, e, prec);
      arb_mul(s->t, s->ks, s->s1, prec);
      arb_mul(s->t, s->t, sinv, prec);
      arb_sub(v, v, s->t, prec);
    } else {
      arb_mul(v, s->ks, s->ex[j], prec);
      arb_mul(v, v, sinv, prec);
      arb_sub(v, v, s->kap, prec);
    }
    arb_mul(v, v, invDb, prec);
    ok = round_ball(&g[j], glo ? &glo[j] : NULL, v, s->t, prec);
  }
  arb_clear(invDb); arb_clear(v); arb_clear(sinv);
  mpq_clear(e);
  mpq_clear(invD);
  return ok;
}

/* ---- the whole problem ------------------------------------------------------------------------ */
void lsce_ref_opts_default(lsce_ref_opts *o) {
  o->start_prec = LSCE_DEFAULT_PRECISION;
  o->max_prec = LSCE_MAX_PRECISION_DEFAULT;
  o->want_grad = 0;
  o->want_lo = 0;
  o->row_lo = 0;
  o->row_hi = -1;
}

int lsce_ref_opts_env(lsce_ref_opts *o, lsce_err *err) {
  const char *s = getenv("LSCE_MAX_PRECISION");
  if (!s || !*s) return LSCE_OK;
  long v = 0;
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9' || v > 100000000L)
      return lsce_err_set(err, LSCE_EINPUT, "LSCE_MAX_PRECISION: not a precision in bits: '%s'", s);
    v = v * 10 + (*c - '0');
  }
  if (v < 16) return lsce_err_set(err, LSCE_EINPUT, "LSCE_MAX_PRECISION: must be at least 16");
  o->max_prec = v;
  return LSCE_OK;
}

static void set_q_balls(const ctx *x, scratch *s, slong prec) {
  lsce_arb_set_q(s->qt, x->qt, prec);
  lsce_arb_set_q(s->qo, x->qo, prec);
  if (x->d->kl) neg_entropy(s->qlogq, x, s, prec);
}

static long next_prec(long prec, long maxp) { return prec >= maxp ? 0 : (2 * prec > maxp ? maxp : 2 * prec); }

int lsce_reference(lsce_ref_result *res, const lsce_problem *p, const lsce_ref_opts *o,
                   const char *who, lsce_err *err) {
  memset(res, 0, sizeof *res);
  const int64_t N = p->N, K = p->K;
  const int none = p->reduction == LSCE_RED_NONE;
  /* rows [lo, hi); a block (lsce-mpi) writes its rows from index 0 and forms no total */
  const int64_t i0 = o->row_hi < 0 ? 0 : o->row_lo, i1 = o->row_hi < 0 ? N : o->row_hi;
  const int64_t nb = i1 - i0;
  const int block = o->row_hi >= 0;
  res->nloss = none ? nb : 1;
  res->loss = calloc((size_t)res->nloss, sizeof(double));
  if (o->want_lo) res->loss_lo = calloc((size_t)res->nloss, sizeof(double));
  if (o->want_grad && nb * K > 0) {
    res->grad = calloc((size_t)(nb * K), sizeof(double));
    if (o->want_lo) res->grad_lo = calloc((size_t)(nb * K), sizeof(double));
  }
  if (!res->loss || (o->want_lo && !res->loss_lo) ||
      (o->want_grad && nb * K > 0 && (!res->grad || (o->want_lo && !res->grad_lo)))) {
    lsce_ref_result_free(res);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory for the outputs", who);
  }
  ctx x;
  ctx_init(&x, p);
  scratch s;
  scratch_init(&s, K);
  rowinfo *ri = calloc((size_t)(N > 0 ? N : 1), sizeof(rowinfo));
  arb_t *ce = NULL;
  int status = LSCE_OK;
  long reached = o->start_prec;
  if (!none && !block) {
    ce = malloc(sizeof(arb_t) * (size_t)(N > 0 ? N : 1));
    for (int64_t i = 0; i < N; i++) arb_init(ce[i]);
  }
  arb_t rowl, tmp;
  arb_init(rowl);
  arb_init(tmp);

  /* Pass 1: every row at its own precision (Ziv per row for none losses and gradient rows). */
  int any_inf = 0, all_zero = 1;
  for (int64_t i = i0; i < i1 && status == LSCE_OK; i++) {
    if (!lsce_row_in_V(p, x.v, i)) continue; /* outputs stay 0 */
    rowinfo *r = &ri[i];
    double *li = none ? res->loss + (i - i0) : NULL;
    row_scan(r, &x, &s, i);
    if (r->inf) any_inf = 1;
    if (!r->zero) all_zero = 0;
    int need_grad = o->want_grad;
    double *g = need_grad ? res->grad + (i - i0) * K : NULL;
    double *glo = need_grad && o->want_lo ? res->grad_lo + (i - i0) * K : NULL;
    if (need_grad && x.nan_mean) {
      for (int64_t j = 0; j < K; j++) { g[j] = NAN; if (glo) glo[j] = 0; }
      need_grad = 0;
    }
    if (none && r->inf) { *li = INFINITY; }
    else if (none && r->zero) { *li = 0; }
    int need_loss = none && !r->inf && !r->zero;
    int need_ce = !none && !block && !r->inf && !r->zero;
    if (need_grad && (r->uniform || mpq_sgn(s.ksq) == 0)) {
      /* p_j = 1/Kf or Ksum = 0: an exact rational row, no ball needed */
      row_grad(g, glo, &x, &s, r, i, o->start_prec);
      need_grad = 0;
    }
    for (long prec = o->start_prec; need_loss || need_grad || need_ce; ) {
      if (prec > reached) reached = prec;
      set_q_balls(&x, &s, prec);
      row_ce(rowl, &x, &s, r, i, prec);
      if (x.d->kl) arb_add(rowl, rowl, s.qlogq, prec);
      if (need_ce) { arb_set(ce[i], rowl); need_ce = 0; }
      if (need_loss && round_ball(li, res->loss_lo ? &res->loss_lo[i - i0] : NULL, rowl, tmp, prec))
        need_loss = 0;
      if (need_grad && row_grad(g, glo, &x, &s, r, i, prec)) need_grad = 0;
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

  /* Pass 2 (mean, sum): the total, raising every row's precision together until it rounds. */
  if (!none && !block && status == LSCE_OK) {
    double *lo = res->loss_lo;
    if (x.nan_mean) { res->loss[0] = NAN; if (lo) lo[0] = 0; }
    else if (any_inf) { res->loss[0] = INFINITY; if (lo) lo[0] = 0; }
    else if (all_zero) { res->loss[0] = 0; if (lo) lo[0] = 0; }
    else {
      arb_t tot, invD;
      arb_init(tot);
      arb_init(invD);
      for (long prec = o->start_prec;;) {
        if (prec > reached) reached = prec;
        arb_zero(tot);
        for (int64_t i = 0; i < N; i++)
          if (lsce_row_in_V(p, x.v, i) && !ri[i].zero) arb_add(tot, tot, ce[i], prec);
        lsce_arb_set_q(invD, x.invD, prec);
        arb_mul(tot, tot, invD, prec);
        if (round_ball(&res->loss[0], lo, tot, tmp, prec)) break;
        prec = next_prec(prec, o->max_prec);
        if (!prec) {
          status = lsce_err_set(err, LSCE_EINCOMPLETE,
                                "%s: could not certify the float64 rounding within %ld bits", who,
                                o->max_prec);
          break;
        }
        set_q_balls(&x, &s, prec);
        for (int64_t i = 0; i < N; i++) {
          if (!lsce_row_in_V(p, x.v, i) || ri[i].zero) continue;
          row_scan(&ri[i], &x, &s, i); /* refreshes the row's exact Ksum in scratch */
          row_ce(ce[i], &x, &s, &ri[i], i, prec);
          if (x.d->kl) arb_add(ce[i], ce[i], s.qlogq, prec);
        }
      }
      arb_clear(tot);
      arb_clear(invD);
    }
  }
  res->prec_reached = reached;
  arb_clear(rowl);
  arb_clear(tmp);
  if (ce) { for (int64_t i = 0; i < N; i++) arb_clear(ce[i]); free(ce); }
  free(ri);
  scratch_clear(&s);
  ctx_clear(&x);
  if (status != LSCE_OK) lsce_ref_result_free(res);
  return status;
}

void lsce_ref_result_free(lsce_ref_result *r) {
  free(r->loss); free(r->loss_lo); free(r->grad); free(r->grad_lo);
  r->loss = r->loss_lo = r->grad = r->grad_lo = NULL;
}

/* Rows [i0, i1) of lsce_ref_total_ball, before the factor invD; skip_zero leaves the reference's
 * exactly-zero rows out of total (they add an exact 0) and counts the others in *nonzero. */
static void range_total(arb_t total, arb_t M, lsce_ref_flags *f, int64_t *nonzero, const ctx *x,
                        const lsce_problem *p, int ce_only, int skip_zero, int64_t i0, int64_t i1,
                        slong prec) {
  scratch s;
  scratch_init(&s, p->K);
  set_q_balls(x, &s, prec);
  f->is_inf = f->is_nan = 0;
  *nonzero = 0;
  arb_zero(total);
  arb_zero(M);
  arb_t rowl;
  arb_init(rowl);
  if (x->nan_mean) f->is_nan = 1;
  for (int64_t i = i0; i < i1 && !f->is_nan; i++) {
    if (!lsce_row_in_V(p, x->v, i)) continue;
    rowinfo r;
    row_scan(&r, x, &s, i);
    if (r.inf) { f->is_inf = 1; continue; }
    if (mpq_sgn(s.ksq) == 0) continue;
    if (skip_zero && r.zero) continue;
    (*nonzero)++;
    row_ce(rowl, x, &s, &r, i, prec);
    arb_add(M, M, rowl, prec);
    if (x->d->kl && !ce_only) {
      arb_add(rowl, rowl, s.qlogq, prec);
      arb_sub(M, M, s.qlogq, prec); /* + H(q) >= 0 */
    }
    arb_add(total, total, rowl, prec);
  }
  arb_clear(rowl);
  scratch_clear(&s);
}

void lsce_ref_range_ball(arb_t part, lsce_ref_flags *f, int64_t *nonzero, const lsce_problem *p,
                         int64_t i0, int64_t i1, slong prec) {
  ctx x;
  ctx_init(&x, p);
  arb_t M, invD;
  arb_init(M);
  arb_init(invD);
  range_total(part, M, f, nonzero, &x, p, 0, 1, i0, i1, prec);
  lsce_arb_set_q(invD, x.invD, prec);
  arb_mul(part, part, invD, prec);
  arb_clear(M);
  arb_clear(invD);
  ctx_clear(&x);
}

void lsce_ref_total_ball(arb_t total, arb_t M, lsce_ref_flags *f, const lsce_problem *p,
                         int ce_only, slong prec) {
  ctx x;
  ctx_init(&x, p);
  arb_t invD;
  arb_init(invD);
  int64_t nonzero;
  range_total(total, M, f, &nonzero, &x, p, ce_only, 0, 0, p->N, prec);
  lsce_arb_set_q(invD, x.invD, prec);
  arb_mul(total, total, invD, prec);
  arb_mul(M, M, invD, prec);
  arb_clear(invD);
  ctx_clear(&x);
}

int lsce_ref_optimum(double *out, const lsce_problem *p, int64_t y) {
  ctx x;
  ctx_init(&x, p);
  mpq_t k, ks;
  mpq_inits(k, ks, NULL);
  ksum_q(ks, &x, y);
  int ok = mpq_sgn(ks) != 0;
  for (int64_t c = 0; ok && c < p->K; c++) {
    kappa_q(k, &x, c, y);
    mpq_div(k, k, ks);
    out[c] = lsce_q_round(k);
  }
  mpq_clears(k, ks, NULL);
  ctx_clear(&x);
  return ok;
}
