/* The literal reference: for each row of V it builds kappa_c = (target distribution q) x (class
 * weight) per class as exact rationals, evaluates L_i = sum_c kappa_c (-lp_c) [- H(q)] and
 * dL_i/dz_j = (sum_c kappa_c) p_j - kappa_j in Arb balls, and raises the precision (Ziv) until every
 * float64 output is certainly correctly rounded. Exact zeros and rational entries are decided in
 * GMP mpq (docs/formulations.md "Edge semantics"). Claim: every output is the correctly rounded float64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/megatron.h"
#include "lsce/config.h"
#include "lsce/reference.h"
#include "lsce/ref_options.h"

/* ---- per-problem exact constants ------------------------------------------------------------ */
typedef struct {
  const lsce_problem *p;
  const lsce_variant *d;
  int v;
  mpq_t qt, qo;      /* q_y and q_c (c != y, c != P); k1-megatron: a = 1 - e' and b = e'/V_p */
  int64_t slo, shi;  /* k1-megatron: rank r's shard [slo, shi), where kappa_c gains b */
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
  x->slo = x->shi = 0;
  if (x->d->weighting == LSCE_W_SHARD) {
    int64_t T = lsce_megatron_T(p->tp);
    lsce_megatron_coeffs(x->qt, x->qo, p->e, p->K, T);
    lsce_megatron_shard(p->K, T, p->rank, &x->slo, &x->shi);
  } else lsce_variant_q(x->qt, x->qo, x->v, p->e, p->K);
  x->n_off = p->K - 1 - (lsce_variants[x->v].pad ? 1 : 0);
  mpq_t t;
  mpq_init(t);
  if (x->d->weighting != LSCE_W_NONE && x->d->weighting != LSCE_W_SHARD) {
    for (int64_t c = 0; c < p->K; c++) { mpq_set_d(t, lsce_weight(p, c)); mpq_add(x->Wall, x->Wall, t); }
  }
  x->nV = 0;
  for (int64_t i = 0; i < p->N; i++) {
    if (!lsce_row_in_V(p, x->v, i)) continue;
    x->nV++;
    if (x->d->weighting != LSCE_W_NONE && x->d->weighting != LSCE_W_SHARD) {
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
    else if (lsce_variants[x->v].pad && c == p->pad_index) mpq_set_ui(k, 0, 1);
    else mpq_set(k, x->qo);
    return;
  case LSCE_W_SHARD: /* a [c == y] + b [c in S_r] */
    if (c >= x->slo && c < x->shi) mpq_set(k, x->qo); else mpq_set_ui(k, 0, 1);
    if (c == y) mpq_add(k, k, x->qt);
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
  case LSCE_W_SHARD: /* a + b V_p (= 1) */
    mpq_set_si(t, (long)(x->shi - x->slo), 1);
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
  int64_t n0;      /* finite logits equal to m */
  int kl_split;    /* KL row with Ksum log n0 + sum q log q = 0 exactly: T = Ksum log1p(R / n0) > 0 */
  int oom;         /* memory ran out deciding kl_split: the caller cannot complete */
} rowinfo;

typedef struct {
  arb_t *ex;       /* exp(z_c - m) for finite c (1 at jm) */
  int64_t cap;
  arb_t s1, s, ls, t, u, kap, ks, qt, qo, qlogq;
  mpq_t kq, ksq, tq;
  arf_t S, d, w;   /* exact dyadic sums of the rational part */
  fmpz_t man, e2;
} scratch;

/* 0, or -1 when the K balls cannot be allocated (then s->cap = 0: scratch_clear still clears s) */
static int scratch_init(scratch *s, int64_t K) {
  s->ex = malloc(sizeof(arb_t) * (size_t)(K > 0 ? K : 1));
  s->cap = s->ex ? K : 0;
  for (int64_t c = 0; c < s->cap; c++) arb_init(s->ex[c]);
  arb_init(s->s1); arb_init(s->s); arb_init(s->ls); arb_init(s->t); arb_init(s->u);
  arb_init(s->kap); arb_init(s->ks); arb_init(s->qt); arb_init(s->qo); arb_init(s->qlogq);
  mpq_inits(s->kq, s->ksq, s->tq, NULL);
  arf_init(s->S); arf_init(s->d); arf_init(s->w);
  fmpz_init(s->man); fmpz_init(s->e2);
  return s->ex ? 0 : -1;
}

static void scratch_clear(scratch *s) {
  for (int64_t c = 0; c < s->cap; c++) arb_clear(s->ex[c]);
  free(s->ex);
  arb_clear(s->s1); arb_clear(s->s); arb_clear(s->ls); arb_clear(s->t); arb_clear(s->u);
  arb_clear(s->kap); arb_clear(s->ks); arb_clear(s->qt); arb_clear(s->qo); arb_clear(s->qlogq);
  mpq_clears(s->kq, s->ksq, s->tq, NULL);
  arf_clear(s->S); arf_clear(s->d); arf_clear(s->w);
  fmpz_clear(s->man); fmpz_clear(s->e2);
}

/* q = the exact value of a finite arf */
static void arf_to_q(mpq_t q, const arf_t a, scratch *s) {
  mpq_set_ui(q, 0, 1);
  if (arf_is_zero(a)) return;
  arf_get_fmpz_2exp(s->man, s->e2, a);
  fmpz_get_mpz(mpq_numref(q), s->man);
  slong e = fmpz_get_si(s->e2); /* |e| <= 1100 + log2 K for sums of products of doubles */
  if (e >= 0) mpz_mul_2exp(mpq_numref(q), mpq_numref(q), (mp_bitcnt_t)e);
  else mpz_mul_2exp(mpq_denref(q), mpq_denref(q), (mp_bitcnt_t)(-e));
  mpq_canonicalize(q);
}

/* ---- the sign of a KL row's transcendental part ------------------------------------------------
 * A KL row's CE part is Q + T with T = Ksum log s + sum_c q_c log q_c (q = kappa: the KL variants are
 * unweighted). With s = n0 + R (n0 logits tied at the maximum, R the other exps, R > 0 in a row that
 * is not uniform), T = T0 + Ksum log1p(R / n0) where T0 = Ksum log n0 + sum q log q is a rational
 * combination of logarithms of integers. Where T0 = 0 exactly, T is a positive ball of relative
 * precision (however small R is: p equal to q up to e^-40000 when the classes without q sit far
 * below), so its sign is known and its size settles at a low precision; otherwise T's ball is used
 * as it is. T0 = 0 is decided exactly: write each integer over a coprime basis (gcd refinement:
 * pairwise coprime integers > 1 are multiplicatively independent, so their logarithms are linearly
 * independent over Q) and test every basis element's rational coefficient for 0. */
typedef struct { mpz_t *v; int n, cap, oom; } zlist; /* oom: a push ran out of memory (and was dropped) */

static void zl_push(zlist *l, const mpz_t a) {
  if (l->oom || mpz_cmp_ui(a, 1) <= 0) return;
  for (int k = 0; k < l->n; k++) if (mpz_cmp(l->v[k], a) == 0) return;
  if (l->n == l->cap) {
    const int cap = l->cap ? 2 * l->cap : 8;
    mpz_t *v = realloc(l->v, sizeof(mpz_t) * (size_t)cap);
    if (!v) { l->oom = 1; return; }
    l->v = v;
    l->cap = cap;
  }
  mpz_init_set(l->v[l->n++], a);
}

/* refine to pairwise coprime: a pair (u, v) with g = gcd > 1 becomes u/g, v/g, g (the product
 * falls strictly, so this ends; every earlier element is a product of the new ones) */
static void zl_coprime(zlist *l) {
  mpz_t g, a, b;
  mpz_inits(g, a, b, NULL);
  for (int again = 1; again && !l->oom;) {
    again = 0;
    for (int i = 0; i < l->n && !again; i++)
      for (int j = i + 1; j < l->n && !again; j++) {
        mpz_gcd(g, l->v[i], l->v[j]);
        if (mpz_cmp_ui(g, 1) == 0) continue;
        mpz_divexact(a, l->v[i], g);
        mpz_divexact(b, l->v[j], g);
        for (int k = j;; k = i) { /* remove j, then i (< j) */
          mpz_clear(l->v[k]);
          if (k != --l->n) l->v[k][0] = l->v[l->n][0];
          if (k == i) break;
        }
        zl_push(l, a); zl_push(l, b); zl_push(l, g);
        again = 1;
      }
  }
  mpz_clears(g, a, b, NULL);
}

/* 1 when the terms cancel exactly, 0 when not, -1 when memory ran out */
static int kl_log_zero(const ctx *x, const mpq_t ksum, int64_t n0) {
  /* terms c_t log a_t: Ksum log n0, q log num(q) - q log den(q) for q = qt (once) and qo (n_off times) */
  mpz_t a[5];
  mpq_t c[5];
  int nt = 0;
  for (int k = 0; k < 5; k++) { mpz_init(a[k]); mpq_init(c[k]); }
  mpz_set_si(a[nt], (long)n0); mpq_set(c[nt], ksum); nt++;
  const __mpq_struct *qs[2] = {x->qt, x->qo};
  for (int k = 0; k < 2; k++) {
    if (mpq_sgn(qs[k]) <= 0 || (k == 1 && x->n_off <= 0)) continue;
    mpq_set(c[nt], qs[k]);
    if (k == 1) { mpq_t m; mpq_init(m); mpq_set_si(m, (long)x->n_off, 1); mpq_mul(c[nt], c[nt], m); mpq_clear(m); }
    mpz_set(a[nt], mpq_numref(qs[k]));
    mpq_neg(c[nt + 1], c[nt]);
    mpz_set(a[nt + 1], mpq_denref(qs[k]));
    nt += 2;
  }
  zlist l = {NULL, 0, 0, 0};
  for (int k = 0; k < nt; k++) zl_push(&l, a[k]);
  zl_coprime(&l);
  int zero = 1;
  mpq_t C, t;
  mpz_t r;
  mpq_inits(C, t, NULL);
  mpz_init(r);
  for (int b = 0; b < l.n && zero && !l.oom; b++) {
    mpq_set_ui(C, 0, 1);
    for (int k = 0; k < nt; k++) {
      long v = 0; /* the power of basis element b in a_k */
      mpz_set(r, a[k]);
      while (mpz_cmp_ui(r, 1) > 0 && mpz_divisible_p(r, l.v[b])) { mpz_divexact(r, r, l.v[b]); v++; }
      mpq_set_si(t, v, 1);
      mpq_mul(t, t, c[k]);
      mpq_add(C, C, t);
    }
    zero = mpq_sgn(C) == 0;
  }
  for (int b = 0; b < l.n; b++) mpz_clear(l.v[b]);
  free(l.v);
  mpq_clears(C, t, NULL);
  mpz_clear(r);
  for (int k = 0; k < 5; k++) { mpz_clear(a[k]); mpq_clear(c[k]); }
  return l.oom ? -1 : zero;
}

static void row_scan(rowinfo *r, const ctx *x, scratch *s, int64_t i) {
  const lsce_problem *p = x->p;
  r->y = lsce_target(p, i);
  r->m = -INFINITY; r->jm = -1; r->Kf = 0; r->uniform = 1; r->inf = 0; r->zero = 0; r->n0 = 0; r->kl_split = 0; r->oom = 0;
  for (int64_t c = 0; c < p->K; c++) {
    double z = lsce_logit(p, i, c);
    if (z == -INFINITY) {
      kappa_q(s->kq, x, c, r->y);
      if (mpq_sgn(s->kq) > 0) r->inf = 1;
      continue;
    }
    if (r->Kf > 0 && z != r->m) r->uniform = 0;
    if (z > r->m) { r->m = z; r->jm = c; r->n0 = 0; }
    if (z == r->m) r->n0++;
    r->Kf++;
  }
  ksum_q(s->ksq, x, r->y);
  if (r->inf) return;
  if (mpq_sgn(s->ksq) == 0) { r->zero = 1; return; } /* every kappa_c is 0 */
  if (!r->uniform) {
    if (x->d->kl) {
      const int z = kl_log_zero(x, s->ksq, r->n0);
      r->kl_split = z > 0;
      r->oom = z < 0;
    }
    return;
  }
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

/* The row's cross-entropy part CE_i = sum_c kappa_c (-lp_c) = Q + T as a ball ce, with
 * Q = sum_c kappa_c (m - z_c), an exact rational (dyadic sums in exact arf arithmetic times the
 * rational kappa), and T = Ksum log1p(s1) >= 0, a ball whose sign is known (ex[] and s1 filled).
 * lse = m + log1p(s1), s1 = sum_{finite c != jm} exp(z_c - m): every exp argument is <= 0, so s1
 * lies in [0, K-1] and nothing overflows. Masked classes have kappa_c = 0 here (else the row is
 * inf), so Ksum over the finite classes is the exact Ksum of row_scan. */
static void row_ce(arb_t ce, mpq_t Q, arb_t T, const ctx *x, scratch *s, const rowinfo *r, int64_t i,
                   slong prec) {
  const lsce_problem *p = x->p;
  arb_zero(s->s1);
  arf_zero(s->S);
  for (int64_t c = 0; c < p->K; c++) {
    double z = lsce_logit(p, i, c);
    if (z == -INFINITY) continue;
    if (c != r->jm) {
      arb_set_d(s->t, z);
      arb_set_d(s->u, r->m);
      arb_sub(s->t, s->t, s->u, prec); /* z_c - m, exact when prec covers both exponents */
      arb_exp(s->ex[c], s->t, prec);
      arb_add(s->s1, s->s1, s->ex[c], prec);
    } else arb_one(s->ex[c]);
    if (c == r->y) continue;
    /* off-target kappa_c = koff u_c: u_c = w_c (torch, logprob), 0 at P (k2-pad-kl), [c in S_r]
     * (k1-megatron), else 1 */
    double u = (x->d->weighting == LSCE_W_TORCH || x->d->weighting == LSCE_W_LOGPROB) ? lsce_weight(p, c) : 1.0;
    if (lsce_variants[x->v].pad && c == p->pad_index) u = 0.0;
    if (x->d->weighting == LSCE_W_SHARD && !(c >= x->slo && c < x->shi)) u = 0.0;
    if (u == 0.0 || z == r->m) continue;
    arf_set_d(s->d, r->m);
    arf_set_d(s->w, z);
    arf_sub(s->d, s->d, s->w, ARF_PREC_EXACT, ARF_RND_DOWN);
    arf_set_d(s->w, u);
    arf_mul(s->d, s->d, s->w, ARF_PREC_EXACT, ARF_RND_DOWN);
    arf_add(s->S, s->S, s->d, ARF_PREC_EXACT, ARF_RND_DOWN);
  }
  arb_log1p(s->ls, s->s1, prec);       /* log s = lse - m, >= 0 */
  /* Q = koff S + kappa_y (m - z_y); koff = q_o (times b for k-nll-weighted) */
  arf_to_q(Q, s->S, s);
  mpq_set(s->tq, x->qo);
  if (x->d->weighting == LSCE_W_NLL) mpq_mul(s->tq, s->tq, x->b);
  mpq_mul(Q, Q, s->tq);
  double zy = lsce_logit(p, i, r->y);
  if (zy != -INFINITY && zy != r->m) {
    kappa_q(s->kq, x, r->y, r->y);
    arf_set_d(s->d, r->m);
    arf_set_d(s->w, zy);
    arf_sub(s->d, s->d, s->w, ARF_PREC_EXACT, ARF_RND_DOWN);
    arf_to_q(s->tq, s->d, s);
    mpq_mul(s->tq, s->tq, s->kq);
    mpq_add(Q, Q, s->tq);
  }
  lsce_arb_set_q(s->ks, s->ksq, prec);
  arb_mul(T, s->ks, s->ls, prec);
  lsce_arb_set_q(ce, Q, prec);
  arb_add(ce, ce, T, prec);
}

/* A KL row's T (row_ce's T plus sum q log q), ex[] filled by row_ce: where T0 = 0 exactly
 * (kl_log_zero above), T = Ksum log1p(R / n0) with R summed from the exps below the maximum alone. */
static void row_kl_t(arb_t T, const ctx *x, scratch *s, const rowinfo *r, int64_t i, slong prec) {
  if (!r->kl_split) { arb_add(T, T, s->qlogq, prec); return; }
  const lsce_problem *p = x->p;
  arb_zero(s->u);
  for (int64_t c = 0; c < p->K; c++) {
    double z = lsce_logit(p, i, c);
    if (z != -INFINITY && z != r->m) arb_add(s->u, s->u, s->ex[c], prec);
  }
  arb_div_si(s->u, s->u, (slong)r->n0, prec);
  arb_log1p(s->u, s->u, prec);
  lsce_arb_set_q(s->t, s->ksq, prec);
  arb_mul(T, s->t, s->u, prec);
}

/* ---- rounding of one output (hi and optionally lo) -------------------------------------------- */
/* RN(x) for x = Q + T, T of sign sT != 0 and x in the ball B = Q + T: every x in (Q, ub B] (sT > 0;
 * [lb B, Q) for sT < 0) rounds alike when RN of the side of Q that x lies on, RN(Q + sT eps), equals
 * RN of the far endpoint. eps = 2^-1076 / den(Q): a rounding boundary (a multiple of 2^-1075) is Q
 * itself or at least 2^-1075 / den(Q) away, so Q + sT eps is on x's side of every boundary. This
 * decides a dyadic midpoint plus a transcendental remainder of known sign at any precision. */
static int round_side(double *out, const mpq_t Q, int sT, const arb_t B, scratch *s) {
  mpq_set_ui(s->tq, 1, 1);
  mpz_mul_2exp(mpq_denref(s->tq), mpq_denref(Q), 1076);
  mpq_canonicalize(s->tq);
  if (sT > 0) mpq_add(s->tq, Q, s->tq); else mpq_sub(s->tq, Q, s->tq);
  double a = lsce_q_round(s->tq);
  arf_t e;
  arf_init(e);
  slong bits = arf_bits(arb_midref(B)) + 64;
  if (sT > 0) arb_get_ubound_arf(e, B, bits < 128 ? 128 : bits);
  else arb_get_lbound_arf(e, B, bits < 128 ? 128 : bits);
  double b = lsce_arf_round(e);
  arf_clear(e);
  if (a != b || isnan(a)) return 0;
  if (a == 0.0) { /* the sign of a zero: the ball's when it excludes 0 (Q = -2^-1075 plus a tiny
                   * T > 0 is -0: a fuzz finding), else sT's when Q lies on that side of 0 too */
    if (arb_is_positive(B)) a = 0.0;
    else if (arb_is_negative(B)) a = -0.0;
    else if (sT * mpq_sgn(Q) < 0) return 0;
    else a = sT > 0 ? 0.0 : -0.0;
  }
  *out = a;
  return 1;
}

/* sign of a ball (0 when it contains 0 and is not exactly 0: then *known = 0) */
static int ball_sign(const arb_t T, int *known) {
  *known = 1;
  if (arb_is_zero(T)) return 0;
  if (arb_is_positive(T)) return 1;
  if (arb_is_negative(T)) return -1;
  *known = 0;
  return 0;
}

/* r = Q + T: hi = RN(r), lo = RN(r - hi), rs = sign(r - hi - lo), each through the ball or, where
 * the ball straddles a boundary that Q sits on, through the sign of T; r_pos: r > 0 is known (a KL
 * loss that is not exactly 0: KL(q || p) > 0 for p != q), so every r in (0, ub] rounds alike when
 * RN(ub) = RN(0+) = +0, which settles a KL whose value lies below 2^-1075 (p within e^-745 of q). At the last precision
 * (final) a lo that is still open is taken from the ball's midpoint (|r - hi| is then below 2^-prec
 * |r| or straddles a lo-level boundary) and rs = 0; hi is never guessed. */
static int round_qt(double *hi, double *lo, signed char *rs, const mpq_t Q, const arb_t T, int r_pos,
                    int final, scratch *s, slong prec) {
  arb_t B;
  arb_init(B);
  int known, sT = ball_sign(T, &known), ok = 1;
  lsce_arb_set_q(B, Q, prec);
  arb_add(B, B, T, prec);
  mpq_t zero;
  mpq_init(zero);
  if (!lsce_ball_round(hi, B) && !(known && sT != 0 && round_side(hi, Q, sT, B, s)) &&
      !(r_pos && round_side(hi, zero, 1, B, s)))
    ok = 0;
  mpq_clear(zero);
  if (ok && lo && r_pos && *hi == 0.0) {
    /* r > 0 rounds to +0: r - hi = r, below half the smallest subnormal */
    *lo = 0;
    if (rs) *rs = 1;
  } else if (ok && lo) {
    if (!isfinite(*hi)) { *lo = 0; if (rs) *rs = 0; }
    else {
      mpq_t Q1;
      mpq_init(Q1);
      mpq_set_d(Q1, *hi);
      mpq_sub(Q1, Q, Q1);             /* r - hi = Q1 + T */
      lsce_arb_set_q(B, Q1, prec);
      arb_add(B, B, T, prec);
      if (mpq_sgn(Q1) == 0 && known && sT == 0) *lo = 0;
      else if (!lsce_ball_round(lo, B) && !(known && sT != 0 && round_side(lo, Q1, sT, B, s))) {
        if (!final) ok = 0;
        else *lo = lsce_arf_round(arb_midref(B)), known = 0;
      }
      if (ok && rs) {
        mpq_set_d(s->kq, *lo);
        mpq_sub(Q1, Q1, s->kq);       /* r - hi - lo = Q1 + T */
        if (mpq_sgn(Q1) == 0) *rs = known ? (signed char)sT : 0;
        else {
          lsce_arb_set_q(B, Q1, prec);
          arb_add(B, B, T, prec);
          int k2, sg = ball_sign(B, &k2);
          *rs = k2 ? (signed char)sg : 0;
        }
      }
      mpq_clear(Q1);
    }
  }
  arb_clear(B);
  return ok;
}


/* ---- the gradient regrouped by tied logits ------------------------------------------------------
 * Ksum e_j - kappa_j s = e_j (Ksum - n_j kappa_j) - kappa_j E_j, n_j the classes whose logit equals
 * z_j and E_j = sum of e_c over the other logits (prefix and suffix sums over the distinct values,
 * all terms positive, no subtraction). Where q matches p on tied classes (k1-kl at e = 1 on
 * [0, 0, -60000] with target 2) the two terms of Ksum p_j - kappa_j cancel to e^-60000, but here
 * only the other logits' terms remain: a ball of relative precision, whatever its size. */
typedef struct { double z; int64_t c; } zc;
static int zc_cmp(const void *a, const void *b) {
  double x = ((const zc *)a)->z, y = ((const zc *)b)->z;
  return x < y ? -1 : x > y;
}

typedef struct {
  int64_t *grp, *n;  /* per class: its group (-1 masked); per group: its size */
  arb_t *E;          /* per group: sum of e_c over the other groups */
  int64_t ng;
} regroup;

/* 0, or -1 when memory runs out (nothing left allocated: rg needs no regroup_clear) */
static int regroup_build(regroup *rg, const ctx *x, scratch *s, int64_t i, slong prec) {
  const lsce_problem *p = x->p;
  const int64_t K = p->K;
  zc *v = malloc(sizeof(zc) * (size_t)K);
  rg->grp = malloc(sizeof(int64_t) * (size_t)K);
  rg->n = calloc((size_t)K, sizeof(int64_t));
  rg->E = malloc(sizeof(arb_t) * (size_t)K);
  arb_t *G = malloc(sizeof(arb_t) * (size_t)(K > 0 ? K : 1)); /* m <= K groups */
  if (!v || !rg->grp || !rg->n || !rg->E || !G) {
    free(v); free(rg->grp); free(rg->n); free(rg->E); free(G);
    return -1;
  }
  int64_t m = 0;
  for (int64_t c = 0; c < K; c++) {
    rg->grp[c] = -1;
    double z = lsce_logit(p, i, c);
    if (z != -INFINITY) { v[m].z = z; v[m].c = c; m++; }
  }
  qsort(v, (size_t)m, sizeof(zc), zc_cmp);
  rg->ng = 0;
  for (int64_t k = 0; k < m; k++) {
    if (k == 0 || v[k].z != v[k - 1].z) { arb_init(G[rg->ng]); arb_init(rg->E[rg->ng]); rg->ng++; }
    int64_t g = rg->ng - 1;
    rg->grp[v[k].c] = g;
    rg->n[g]++;
    arb_add(G[g], G[g], s->ex[v[k].c], prec);
  }
  arb_t acc;
  arb_init(acc);
  for (int64_t g = 0; g < rg->ng; g++) { arb_set(rg->E[g], acc); arb_add(acc, acc, G[g], prec); } /* below */
  arb_zero(acc);
  for (int64_t g = rg->ng - 1; g >= 0; g--) { arb_add(rg->E[g], rg->E[g], acc, prec); arb_add(acc, acc, G[g], prec); }
  arb_clear(acc);
  for (int64_t g = 0; g < rg->ng; g++) arb_clear(G[g]);
  free(G);
  free(v);
  return 0;
}

static void regroup_clear(regroup *rg) {
  for (int64_t g = 0; g < rg->ng; g++) arb_clear(rg->E[g]);
  free(rg->E); free(rg->grp); free(rg->n);
}

/* v = invD (e_j (Ksum - n_j kappa_j) - kappa_j E_j) / s, kappa_j in s->kq */
static void regroup_entry(arb_t v, const regroup *rg, scratch *s, int64_t j, const arb_t sinv,
                          const arb_t invDb, slong prec) {
  int64_t g = rg->grp[j];
  mpq_set_si(s->tq, (long)rg->n[g], 1);
  mpq_mul(s->tq, s->tq, s->kq);
  mpq_sub(s->tq, s->ksq, s->tq);
  arb_t a;
  arb_init(a);
  lsce_arb_set_q(a, s->tq, prec);
  arb_mul(v, a, s->ex[j], prec);
  lsce_arb_set_q(a, s->kq, prec);
  arb_submul(v, a, rg->E[g], prec);
  arb_mul(v, v, sinv, prec);
  arb_mul(v, v, invDb, prec);
  arb_clear(a);
}

/* Gradient row: g_j = invD (Ksum p_j - kappa_j) = Q + T with Q = -invD kappa_j and T = invD Ksum
 * e_j / s >= 0 (at the n0 classes tied at the maximum: Q = invD (Ksum/n0 - kappa_j),
 * T = -invD Ksum R / (n0 s) <= 0, R the exps below the maximum), rounded by
 * round_qt, or where that ball straddles a boundary, the regrouped form above. Returns 1 when every
 * entry is settled at prec (0 when not), -1 when memory ran out. */
static int row_grad(double *g, double *glo, signed char *grs, const ctx *x, scratch *s,
                    const rowinfo *r, int64_t i, int final, slong prec) {
  const lsce_problem *p = x->p;
  int64_t K = p->K;
  mpq_t e, invD;
  mpq_init(e);
  mpq_init(invD);
  mpq_set(invD, x->invD);
  int rational_row = r->uniform || mpq_sgn(s->ksq) == 0;
  int ok = 1, have_rg = 0;
  regroup rg;
  arb_t invDb, v, sinv;
  arb_t Rb;
  arb_init(invDb); arb_init(v); arb_init(sinv); arb_init(Rb);
  if (!rational_row) {
    for (int64_t c = 0; c < K; c++) {
      double zc = lsce_logit(p, i, c);
      if (zc != -INFINITY && zc != r->m) arb_add(Rb, Rb, s->ex[c], prec);
    }
    lsce_arb_set_q(invDb, invD, prec);
    lsce_arb_set_q(s->ks, s->ksq, prec);
    arb_add_ui(s->s, s->s1, 1, prec);
    arb_inv(sinv, s->s, prec);
  }
  for (int64_t j = 0; j < K && ok; j++) {
    double z = lsce_logit(p, i, j);
    kappa_q(s->kq, x, j, r->y);
    if (rational_row || z == -INFINITY) {
      /* p_j = 0 (masked) or 1/Kf (uniform row); Ksum = 0 leaves -kappa_j: all exact rationals */
      if (z == -INFINITY || mpq_sgn(s->ksq) == 0) mpq_set_ui(e, 0, 1);
      else { mpq_set_si(e, 1, (unsigned long)r->Kf); mpq_mul(e, e, s->ksq); }
      mpq_sub(e, e, s->kq);
      mpq_mul(e, e, invD);
      lsce_q_round2(&g[j], glo ? &glo[j] : NULL, e);
      if (grs) grs[j] = 0;
      continue;
    }
    if (z == r->m) {
      /* j tied at the maximum (n0 classes, s = n0 + R, R the exps below it): p_j = 1/n0 - R/(n0 s),
       * so Ksum p_j - kappa = (Ksum/n0 - kappa) - Ksum R/(n0 s): an exact first term and a ball of
       * known sign and relative precision however small R is (n0 = 1: p_jm = 1 - s1/s) */
      mpq_set_si(e, 1, (unsigned long)r->n0);
      mpq_mul(e, e, s->ksq);
      mpq_sub(e, e, s->kq);
      arb_mul(v, s->ks, Rb, prec);
      arb_div_si(v, v, (slong)r->n0, prec);
      arb_neg(v, v);
    } else {
      mpq_neg(e, s->kq);
      arb_mul(v, s->ks, s->ex[j], prec);
    }
    mpq_mul(e, e, invD);
    arb_mul(v, v, sinv, prec);
    arb_mul(v, v, invDb, prec);
    ok = round_qt(&g[j], glo ? &glo[j] : NULL, grs ? &grs[j] : NULL, e, v, 0, final && 0, s, prec);
    if (!ok) { /* the ball straddles a boundary: the regrouped form (exact ties cancel exactly) */
      if (!have_rg) {
        if (regroup_build(&rg, x, s, i, prec)) { ok = -1; break; }
        have_rg = 1;
      }
      regroup_entry(v, &rg, s, j, sinv, invDb, prec);
      mpq_set_ui(e, 0, 1);
      ok = round_qt(&g[j], glo ? &glo[j] : NULL, grs ? &grs[j] : NULL, e, v, 0, final, s, prec);
    }
  }
  if (have_rg) regroup_clear(&rg);
  arb_clear(invDb); arb_clear(v); arb_clear(sinv); arb_clear(Rb);
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
  o->progress = NULL;
  o->progress_user = NULL;
  o->row_lo = 0;
  o->row_hi = -1;
}

int lsce_ref_opts_env(lsce_ref_opts *o, lsce_err *err) {
  (void)err; /* the caller validated LSCE_MAX_PRECISION when it set it (cli/settings.c) */
  const long mp = lsce_config_get()->max_precision;
  if (mp >= 16) o->max_prec = mp;
  return LSCE_OK;
}

static void set_q_balls(const ctx *x, scratch *s, slong prec) {
  lsce_arb_set_q(s->qt, x->qt, prec);
  lsce_arb_set_q(s->qo, x->qo, prec);
  if (x->d->kl) neg_entropy(s->qlogq, x, s, prec);
}

static long next_prec(long prec, long maxp) { return prec >= maxp ? 0 : (2 * prec > maxp ? maxp : 2 * prec); }

/* Pass 2 (mean, sum): the total invD (sum Q_i + sum T_i) over the rows with use[i] (in row order),
 * raising every row's precision together until it rounds. Q, T: every row's CE_i = Q_i + T_i (KL term
 * included) as pass 1 left it, refreshed here at each higher precision. */
static int total_pass(double *hi, double *lo, signed char *rs, long *reached, const ctx *x, scratch *s,
                      const lsce_problem *p, const lsce_ref_opts *o, mpq_t *Qr, arb_t *Tr,
                      const unsigned char *use, int any_inf, int all_zero, const char *who, lsce_err *err) {
  const int64_t N = p->N;
  int status = LSCE_OK;
  if (rs) *rs = 0;
  if (x->nan_mean) { *hi = NAN; if (lo) *lo = 0; }
  else if (any_inf) { *hi = INFINITY; if (lo) *lo = 0; }
  else if (all_zero) { *hi = 0; if (lo) *lo = 0; }
  else {
    arb_t tot, invD, rowl;
    mpq_t Q;
    arb_init(tot);
    arb_init(invD);
    arb_init(rowl);
    mpq_init(Q);
    rowinfo r = {.oom = 0};
    for (long prec = o->start_prec;;) {
      if (prec > *reached) *reached = prec;
      arb_zero(tot);
      mpq_set_ui(Q, 0, 1);
      for (int64_t i = 0; i < N; i++)
        if (use[i]) { arb_add(tot, tot, Tr[i], prec); mpq_add(Q, Q, Qr[i]); }
      lsce_arb_set_q(invD, x->invD, prec);
      arb_mul(tot, tot, invD, prec);
      mpq_mul(Q, Q, x->invD);
      if (round_qt(hi, lo, rs, Q, tot, x->d->kl, prec >= o->max_prec, s, prec)) break;
      prec = next_prec(prec, o->max_prec);
      if (!prec) {
        status = lsce_err_set(err, LSCE_EINCOMPLETE,
                              "%s: could not certify the float64 rounding within %ld bits", who,
                              o->max_prec);
        break;
      }
      set_q_balls(x, s, prec);
      for (int64_t i = 0; i < N; i++) {
        if (!use[i]) continue;
        row_scan(&r, x, s, i); /* refreshes the row's exact Ksum in scratch */
        if (r.oom) break;
        row_ce(rowl, Qr[i], Tr[i], x, s, &r, i, prec);
        if (x->d->kl) row_kl_t(Tr[i], x, s, &r, i, prec);
      }
      if (r.oom) { status = lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who); break; }
    }
    arb_clear(tot);
    arb_clear(invD);
    arb_clear(rowl);
    mpq_clear(Q);
  }
  return status;
}

int lsce_ref_total(double *hi, double *lo, signed char *rs, long *reached, const lsce_problem *p,
                   const lsce_ref_opts *o, mpq_t *Q, arb_t *T, const unsigned char *use, int any_inf,
                   int all_zero, const char *who, lsce_err *err) {
  ctx x;
  ctx_init(&x, p);
  scratch s;
  int status = scratch_init(&s, p->K) ? lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who)
               : total_pass(hi, lo, rs, reached, &x, &s, p, o, Q, T, use, any_inf, all_zero, who, err);
  scratch_clear(&s);
  ctx_clear(&x);
  return status;
}

static int reference_run(lsce_ref_result *res, const lsce_problem *p, const lsce_ref_opts *o,
                         const char *who, lsce_err *err);

int lsce_reference(lsce_ref_result *res, const lsce_problem *p, const lsce_ref_opts *o,
                   const char *who, lsce_err *err) {
  return reference_run(res, p, o, who, err);
}

/* The same computation under a name nothing replaces: lsce-mpi puts a collective version under
 * lsce_reference (ld --wrap), and a caller that certifies a row for itself alone (the CPU rows'
 * reference rung, impls/cpu/rowguard.c) must not enter a collective that other ranks never join. */
int lsce_reference_local(lsce_ref_result *res, const lsce_problem *p, const lsce_ref_opts *o,
                         const char *who, lsce_err *err) {
  return reference_run(res, p, o, who, err);
}

static int reference_run(lsce_ref_result *res, const lsce_problem *p, const lsce_ref_opts *o,
                         const char *who, lsce_err *err) {
  if (lsce_uses_options(p)) return lsce_reference_options(res, p, o, who, err); /* issue #15 */
  memset(res, 0, sizeof *res);
  const int64_t N = p->N, K = p->K;
  const int none = p->reduction == LSCE_RED_NONE;
  /* rows [i0, i1); a block (lsce-mpi) writes its rows from index 0 and hands its rows' CE parts
   * over instead of forming the total (lsce_ref_total forms it from every block's parts) */
  const int block = o->row_hi >= 0;
  const int64_t i0 = block ? o->row_lo : 0, i1 = block ? o->row_hi : N, nb = i1 - i0;
  int arc = lsce_ref_result_alloc(res, none ? nb : 1, o->want_grad ? nb * K : 0, o->want_lo, who, err);
  if (arc) return arc;
  ctx x;
  ctx_init(&x, p);
  scratch s;
  const int sfail = scratch_init(&s, K);
  /* per row: CE_i = Q_i + T_i (T_i with the KL term); kept for the total of a mean or sum */
  const int64_t nkeep = none ? 1 : (nb > 0 ? nb : 1);
  arb_t *Tr = malloc(sizeof(arb_t) * (size_t)nkeep);
  mpq_t *Qr = malloc(sizeof(mpq_t) * (size_t)nkeep);
  unsigned char *use = calloc((size_t)nkeep, 1); /* the row enters the total */
  if (sfail || !Tr || !Qr || !use) {
    free(Tr); free(Qr); free(use);
    scratch_clear(&s);
    ctx_clear(&x);
    lsce_ref_result_free(res);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who);
  }
  for (int64_t i = 0; i < nkeep; i++) { arb_init(Tr[i]); mpq_init(Qr[i]); }
  int status = LSCE_OK;
  long reached = o->start_prec;
  arb_t rowl;
  arb_init(rowl);

  /* Pass 1: every row at its own precision (Ziv per row for none losses and gradient rows). */
  int any_inf = 0, all_zero = 1;
  for (int64_t i = i0; i < i1 && status == LSCE_OK; i++) {
    if (o->progress) o->progress(o->progress_user, i - i0, nb);
    if (!lsce_row_in_V(p, x.v, i)) continue; /* outputs stay 0 */
    const int64_t b = i - i0; /* the row's index in the outputs */
    rowinfo rr, *r = &rr;
    row_scan(r, &x, &s, i);
    if (r->oom) { status = lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who); break; }
    if (r->inf) any_inf = 1;
    if (!r->zero) all_zero = 0;
    if (!none && !r->zero) use[b] = 1;
    int need_grad = o->want_grad;
    double *g = need_grad ? res->grad + b * K : NULL;
    double *glo = need_grad && o->want_lo ? res->grad_lo + b * K : NULL;
    signed char *grs = need_grad && o->want_lo ? res->grad_rs + b * K : NULL;
    if (need_grad && x.nan_mean) {
      for (int64_t j = 0; j < K; j++) { g[j] = NAN; if (glo) glo[j] = 0; }
      need_grad = 0;
    }
    if (none && r->inf) { res->loss[b] = INFINITY; }
    else if (none && r->zero) { res->loss[b] = 0; }
    int need_loss = none && !r->inf && !r->zero;
    int need_ce = !none && !r->inf && !r->zero;
    if (need_grad && (r->uniform || mpq_sgn(s.ksq) == 0)) {
      /* p_j = 1/Kf or Ksum = 0: an exact rational row, no ball needed */
      row_grad(g, glo, grs, &x, &s, r, i, 1, o->start_prec);
      need_grad = 0;
    }
    const int64_t k = none ? 0 : b;
    for (long prec = o->start_prec; need_loss || need_grad || need_ce; ) {
      if (prec > reached) reached = prec;
      int final = prec >= o->max_prec;
      set_q_balls(&x, &s, prec);
      row_ce(rowl, Qr[k], Tr[k], &x, &s, r, i, prec);
      if (x.d->kl) row_kl_t(Tr[k], &x, &s, r, i, prec);
      need_ce = 0;
      if (need_loss && round_qt(&res->loss[b], res->loss_lo ? &res->loss_lo[b] : NULL,
                                res->loss_rs ? &res->loss_rs[b] : NULL, Qr[k], Tr[k], x.d->kl, final, &s, prec))
        need_loss = 0;
      if (need_grad) {
        const int gr = row_grad(g, glo, grs, &x, &s, r, i, final, prec);
        if (gr < 0) { status = lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory", who); break; }
        if (gr) need_grad = 0;
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
    /* the block's parts go to the caller (lsce_ref_total over every block's rows) */
    res->ce_q = Qr; res->ce_t = Tr; res->ce_use = use; res->nce = nkeep;
    res->any_inf = any_inf; res->all_zero = all_zero;
    Qr = NULL; Tr = NULL; use = NULL;
  } else if (!none && status == LSCE_OK)
    status = total_pass(&res->loss[0], res->loss_lo, res->loss_rs, &reached, &x, &s, p, o, Qr, Tr, use,
                        any_inf, all_zero, who, err);
  res->prec_reached = reached;
  arb_clear(rowl);
  if (Qr) {
    for (int64_t i = 0; i < nkeep; i++) { arb_clear(Tr[i]); mpq_clear(Qr[i]); }
    free(Tr);
    free(Qr);
    free(use);
  }
  scratch_clear(&s);
  ctx_clear(&x);
  if (status != LSCE_OK) lsce_ref_result_free(res);
  return status;
}

/* The outputs of a result: nloss losses and ngrad gradient entries (none when ngrad <= 0), with
 * their low parts and rounding sides when want_lo; all or nothing (exit 3 when memory runs out). */
int lsce_ref_result_alloc(lsce_ref_result *res, int64_t nloss, int64_t ngrad, int want_lo, const char *who,
                          lsce_err *err) {
  const size_t nl = (size_t)(nloss > 0 ? nloss : 1), ng = (size_t)(ngrad > 0 ? ngrad : 0);
  res->nloss = nloss;
  res->loss = calloc(nl, sizeof(double));
  if (want_lo) { res->loss_lo = calloc(nl, sizeof(double)); res->loss_rs = calloc(nl, 1); }
  if (ng) {
    res->grad = calloc(ng, sizeof(double));
    if (want_lo) { res->grad_lo = calloc(ng, sizeof(double)); res->grad_rs = calloc(ng, 1); }
  }
  if (!res->loss || (want_lo && (!res->loss_lo || !res->loss_rs)) ||
      (ng && (!res->grad || (want_lo && (!res->grad_lo || !res->grad_rs))))) {
    lsce_ref_result_free(res);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory for the outputs", who);
  }
  return LSCE_OK;
}

void lsce_ref_result_free(lsce_ref_result *r) {
  free(r->loss); free(r->loss_lo); free(r->grad); free(r->grad_lo);
  free(r->loss_rs); free(r->grad_rs); free(r->loss_err); free(r->grad_err);
  r->loss = r->loss_lo = r->grad = r->grad_lo = r->loss_err = r->grad_err = NULL;
  r->loss_rs = r->grad_rs = NULL;
  if (r->ce_q) {
    for (int64_t i = 0; i < r->nce; i++) { arb_clear(r->ce_t[i]); mpq_clear(r->ce_q[i]); }
    for (int64_t i = 0; r->ce_z && i < r->nce; i++) arb_clear(r->ce_z[i]);
    free(r->ce_q); free(r->ce_t); free(r->ce_use); free(r->ce_z);
    r->ce_q = NULL; r->ce_t = NULL; r->ce_use = NULL; r->ce_z = NULL; r->nce = 0;
  }
}

void lsce_ref_total_ball(arb_t total, arb_t M, lsce_ref_flags *f, const lsce_problem *p,
                         int ce_only, slong prec) {
  if (lsce_uses_options(p)) { lsce_ref_options_total_ball(total, M, f, p, ce_only, prec); return; }
  f->is_inf = f->is_nan = f->oom = 0;
  ctx x;
  ctx_init(&x, p);
  scratch s;
  if (scratch_init(&s, p->K)) { /* out of memory: a ball that claims nothing, and f->oom */
    f->oom = 1;
    arb_indeterminate(total);
    arb_indeterminate(M);
    scratch_clear(&s);
    ctx_clear(&x);
    return;
  }
  set_q_balls(&x, &s, prec);
  arb_zero(total);
  arb_zero(M);
  arb_t rowl, invD, T;
  mpq_t Q;
  arb_init(rowl);
  arb_init(T);
  mpq_init(Q);
  arb_init(invD);
  if (x.nan_mean) f->is_nan = 1;
  for (int64_t i = 0; i < p->N && !f->is_nan; i++) {
    if (!lsce_row_in_V(p, x.v, i)) continue;
    rowinfo r;
    row_scan(&r, &x, &s, i);
    if (r.oom) { /* out of memory: a ball that claims nothing, and f->oom */
      f->oom = 1;
      arb_indeterminate(total);
      arb_indeterminate(M);
      break;
    }
    if (r.inf) { f->is_inf = 1; continue; }
    if (mpq_sgn(s.ksq) == 0) continue;
    row_ce(rowl, Q, T, &x, &s, &r, i, prec);
    arb_add(M, M, rowl, prec);
    if (x.d->kl && !ce_only) {
      arb_add(rowl, rowl, s.qlogq, prec);
      arb_sub(M, M, s.qlogq, prec); /* + H(q) >= 0 */
    }
    arb_add(total, total, rowl, prec);
  }
  lsce_arb_set_q(invD, x.invD, prec);
  arb_mul(total, total, invD, prec);
  arb_mul(M, M, invD, prec);
  arb_clear(rowl);
  arb_clear(T);
  mpq_clear(Q);
  arb_clear(invD);
  scratch_clear(&s);
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
