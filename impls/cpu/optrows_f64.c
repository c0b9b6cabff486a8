/* impls/cpu/optrows_f64.c: one float64 row of the options path (impls/cpu/optrows.c) in double-double,
 * with an a-posteriori bound E on |computed - exact| for the row's loss share and for each gradient
 * entry. Claim: where the caller's acceptance test (lsce_guard_ok) passes on E, the output meets the
 * float64 bound (2 ulps loss, 4 ulps gradient); the caller climbs to the next rung otherwise.
 *
 * The same method and the same error model as optrows.c's double rows (the argument of each term is
 * written there; here u = 2^-53 becomes U = 2^-104, one double-double operation, relative), with:
 *  - the constants as pairs within 2^-104 of their exact rationals (lsce_options_consts_dd), so a
 *    coefficient q_c w_c s_i / D (at most 3 constants and 6 operations on nonnegative values) is within
 *    KQ = 16 U relative, + 2^-1070 absolute where it is subnormal;
 *  - the transform in double-double (tf64 below);
 *  - the statistics: the exps of the rung (acc 0: combiner.h lsce_exp_pair, LSCE_EXP_REL_PAIR = 2^-58,
 *    measured by tests/test_simd_exp.c; acc 1: dd.h lsce_dd_exp, LSCE_EXP_REL_DD) of the pair
 *    x_j - m formed by one accurate double-double subtraction (relative error below 3 2^-106 <= U, so
 *    the argument is off by U |x_j - m| <= 746 U where the exp does not underflow); the rebases and
 *    merges always take lsce_dd_exp; the sums in double-double: impls/rowbound.h's model
 *    (lsce_stat_err_of with double-double sums): s1_rel = (e + 3 U) + nreb (e_reb + 3 U) + (K + 4) U,
 *    + K LSCE_EXP_ABS absolute; log1p(s1) by lsce_dd_log1p (LSCE_LOG1P_REL_DD), dls by lsce_dls_of.
 * Every figure is first order in U; SL = 1 + 2^-20 covers the second-order terms and the rounding of
 * the bound's own evaluation. */
#include <math.h>
#include <stdlib.h>
#include "cpu/elem.h"
#include "cpu/optrows_f64.h"
#include "cpu/rowguard.h"
#include "lsce/ulp.h"

#define U LSCE_U_DD
#define SL LSCE_SLACK
#define KQ (16 * U)
/* one exp of the statistics (see the header comment): the rung's exp and the argument's 746 U */
#define EREL_OF(acc) (((acc) ? LSCE_EXP_REL_DD : LSCE_EXP_REL_PAIR) + 746.0 * U)
#define EREB (LSCE_EXP_REL_DD + 746.0 * U)
/* the transform's relative error with a cap (tf64): below 2^-96 + 3 U, claimed 2^-95 */
#define TX 0x1p-95
/* lsce_dd_log1p: LSCE_LOG1P_REL_DD; log1p_small below: 2^-99 (argued there) */
#define L1REL LSCE_LOG1P_REL_DD
#define NSER 26

typedef struct {
  lsce_dd *x, *ch, *kap, *lq;
  double *dx, *dch, *lqe;
  int64_t *bad;            /* gradient entries that the cheaper exp could not vouch for */
  int64_t off, n;          /* the columns [off, off + n) it holds: column j at index j - off */
  lsce_dd inv[NSER + 1];   /* 1/n, n = 1..26 (dd_div: within 8 U each) */
  lsce_dd ifac[2 * NSER];  /* 1/n!, n = 0..51 (products and quotients of exact integers: within 4 n U) */
} f64buf;

void *lsce_of64_buf(int64_t K) { return lsce_of64_buf_range(0, K); }

void *lsce_of64_buf_range(int64_t c0, int64_t c1) {
  size_t n = (size_t)(c1 > c0 ? c1 - c0 : 1);
  f64buf *b = malloc(sizeof *b + n * (4 * sizeof(lsce_dd) + 3 * sizeof(double) + sizeof(int64_t)));
  if (!b) return NULL;
  b->off = c0; b->n = c1 - c0;
  b->x = (lsce_dd *)(b + 1); b->ch = b->x + n; b->kap = b->ch + n; b->lq = b->kap + n;
  b->dx = (double *)(b->lq + n); b->dch = b->dx + n; b->lqe = b->dch + n; b->bad = (int64_t *)(b->lqe + n);
  b->ifac[0] = lsce_dd_from(1.0);
  for (int k = 1; k <= NSER; k++) b->inv[k] = lsce_dd_div(lsce_dd_from(1.0), lsce_dd_from((double)k));
  for (int k = 1; k < 2 * NSER; k++) b->ifac[k] = lsce_dd_div(b->ifac[k - 1], lsce_dd_from((double)k));
  return b;
}

static lsce_dd dabs(lsce_dd a) { return a.hi < 0 ? lsce_dd_neg(a) : a; }
static double dmag(lsce_dd a) { return fabs(a.hi + a.lo); }
/* a > b for normalized pairs (hi = RN(hi + lo)): the lexicographic order is the numeric one */
static int dgt(lsce_dd a, lsce_dd b) { return a.hi > b.hi || (a.hi == b.hi && a.lo > b.lo); }
static lsce_dd rexp(lsce_dd d, int acc) { return acc ? lsce_dd_exp(d) : lsce_exp_pair(d); }

/* log1p(x), 0 <= x <= 1. Below 1/16: the series sum_{n<=N} (-1)^(n+1) x^n / n by Horner with the
 * pairs 1/n, N = min(26, ceil(100 / -log2 x) + 1): the omitted tail is below 1.1 x^N/(N+1) < 2^-100
 * relative; each step's roundings (2 U of |x p|, U of |p| <= 1.04, the coefficient's 8 U / n) add at
 * most 12 U to p_1 >= 0.96, the last product 2 U: within 2^-99 relative in all, and a subnormal x
 * gives itself (the tail below x^2). From 1/16: lsce_dd_log1p (LSCE_LOG1P_REL_DD). */
static lsce_dd log1p_small(lsce_dd x, const f64buf *b) {
  if (x.hi == 0) return x;
  if (x.hi >= 0.0625) return lsce_dd_log1p(x);
  int e = ilogb(x.hi) + 1; /* x < 2^e, e <= -3 */
  int N = (int)ceil(100.0 / -e) + 1;
  if (N > NSER) N = NSER;
  lsce_dd p = lsce_dd_from(0.0);
  for (int n = N; n >= 1; n--) {
    lsce_dd cn = (n & 1) ? b->inv[n] : lsce_dd_neg(b->inv[n]);
    p = lsce_dd_add(cn, lsce_dd_mul(p, x));
  }
  return lsce_dd_mul(p, x);
}

/* The transform x = T(z) (S z, then C tanh(x / C)) with |x - T(z)| <= *dx, and the chain factor
 * x'(z) = *ch within *dch.
 * No cap: x = S z, the pair S within U |S|, the product within 2 U: dx = 3 U |x| (+ 2^-1070 where it
 * underflows); x' = S within U S.
 * Cap: a = (S z) / C within 8 U relative (two pairs, the product, the quotient) + 2^-1070.
 * tanh(a): |a| < 1/2: a sinh_s(a^2) / cosh_s(a^2), the two series of positive terms to degree 24 in a
 * (omitted terms below 2^-106 relative), Horner in double-double (each step U of a partial <= 1.13,
 * the coefficients 1/n! within 4 n U: about 30 U each), the product and quotient: below 2^-97;
 * |a| >= 1/2: (1 - E) / (1 + E), E = e^{-2|a|} <= e^-1 by lsce_dd_exp (2^-97): 1 - E carries E's error
 * times E / (1 - E) <= 0.59, 1 + E times 0.27, the operations 12 U: below 2^-97 + 12 U. tanh's relative
 * sensitivity to a is 2a / sinh(2a) <= 1 (a's 8 U), C's pair U and the product 2 U: TX = 2^-95 relative,
 * + (C + 1) 2^-1068 for subnormal parts. The chain factor S 4 E / (1 + E)^2 (never 1 - tanh^2):
 * d log / d log E = (1 - E) / (1 + E) <= 1 keeps E's 2^-97, the operations 13 U; a's error moves
 * log sech^2 by 2 |a| (8 U |a| + 2^-1070): dch = (16 a^2 U + 2^-96) ch, + 12 S 2^-1074 where E is
 * subnormal (its parts lose their bits below 2^-1074, the three operations on it likewise), + 2^-1074
 * for a subnormal product. Where E is 0 (2|a| > 745.2, so ch = 0): the exact factor is below
 * 4 S e^{-2|a_exact|}, |a_exact| >= |a| (1 - 2^-90), and e^{-x} <= e^{744.5 - x} 2^-1074 (744.5 > 1074 ln 2):
 * dch = 2^-1074 max(1, ceil(q)), q = 4 S e^{744.5 - 2|a| (1 - 2^-90)} (1 + 2^-40) (glibc's exp within 2^-52). */
static lsce_dd tf64(const lsce_of64_ctx *c, const f64buf *b, double z, double *dx, lsce_dd *ch, double *dch) {
  const lsce_opt_consts *k = c->k;
  const lsce_opt_consts_dd *kd = c->kd;
  if (z == -INFINITY) {
    *dx = 0;
    *ch = k->has_cap ? lsce_dd_from(0.0) : kd->S;
    *dch = k->has_cap || !k->has_scale ? 0.0 : U * k->S;
    return lsce_dd_from(-INFINITY);
  }
  lsce_dd y = k->has_scale ? lsce_dd_mul_d(kd->S, z) : lsce_dd_from(z);
  *ch = kd->S;
  *dch = k->has_scale ? U * k->S : 0.0;
  if (!k->has_cap) {
    *dx = k->has_scale ? 3 * U * dmag(y) + 0x1p-1070 : 0.0;
    return y;
  }
  if (z == 0) { *dx = 0; return lsce_dd_from(0.0); } /* tanh 0 = 0, sech 0 = 1 */
  lsce_dd a = lsce_dd_div(y, kd->C), aa = dabs(a);
  lsce_dd E = lsce_dd_exp(lsce_dd_mul_d(aa, -2.0)), t;
  if (aa.hi < 0.5) {
    lsce_dd a2 = lsce_dd_mul(a, a), sh = lsce_dd_from(0.0), co = lsce_dd_from(0.0);
    for (int n = 12; n >= 0; n--) {
      sh = lsce_dd_add(b->ifac[2 * n + 1], lsce_dd_mul(sh, a2));
      co = lsce_dd_add(b->ifac[2 * n], lsce_dd_mul(co, a2));
    }
    t = lsce_dd_div(lsce_dd_mul(aa, sh), co);
  } else {
    t = lsce_dd_div(lsce_dd_add_d(lsce_dd_neg(E), 1.0), lsce_dd_add_d(E, 1.0));
  }
  lsce_dd x = lsce_dd_mul(kd->C, t);
  if (a.hi < 0) x = lsce_dd_neg(x);
  *dx = TX * dmag(x) + (k->C + 1) * 0x1p-1068;
  lsce_dd d = lsce_dd_add_d(E, 1.0);
  *ch = lsce_dd_mul(kd->S, lsce_dd_div(lsce_dd_mul_d(E, 4.0), lsce_dd_mul(d, d)));
  double am = aa.hi;
  if (E.hi == 0) {
    double q = 4 * k->S * exp(744.5 - 2 * am * (1 - 0x1p-90)) * (1 + 0x1p-40);
    *dch = 0x1p-1074 * fmax(1.0, ceil(q));
  } else
    *dch = (16 * am * am * U + 0x1p-96) * dmag(*ch) + (E.hi < 0x1p-1020 ? 12 * k->S * 0x1p-1074 : 0.0) + 0x1p-1074;
  return x;
}

/* ---- the transform of the row's columns [c0, c1) into the buffer (indexed by column), with the
 * largest dx over the finite x (dX), the largest chain factor and its largest relative bound: taken
 * element by element and merged by max (any order, any shards give the same) */
void lsce_of64_transform(const lsce_of64_ctx *c, void *buf, int64_t i, int64_t c0, int64_t c1, lsce_of64_tacc *ta) {
  f64buf *b = buf;
  for (int64_t j = c0; j < c1; j++) {
    const int64_t q = j - b->off;
    b->x[q] = tf64(c, b, lsce_logit(c->p, i, j), &b->dx[q], &b->ch[q], &b->dch[q]);
    double chm = dmag(b->ch[q]);
    if (b->x[q].hi != -INFINITY && b->dx[q] > ta->dX) ta->dX = b->dx[q];
    if (chm > ta->chmax) ta->chmax = chm;
    if (chm > 0 && b->dch[q] / chm > ta->chrel) ta->chrel = b->dch[q] / chm;
  }
}

void lsce_of64_tacc_merge(lsce_of64_tacc *a, const lsce_of64_tacc *b) {
  if (b->dX > a->dX) a->dX = b->dX;
  if (b->chmax > a->chmax) a->chmax = b->chmax;
  if (b->chrel > a->chrel) a->chrel = b->chrel;
}

/* ---- the statistics of x[c0, c1) in double-double: m, its first index, s1 = sum_{j != jm} e^{x_j - m} */
typedef lsce_of64_stats dstats;

/* x[j - off] holds column j */
static void dstats_range(dstats *st, const lsce_dd *x, int64_t off, int64_t c0, int64_t c1, int online, int acc) {
  st->m = lsce_dd_from(-INFINITY); st->s1 = lsce_dd_from(0.0); st->jm = -1; st->nreb = 0; st->Kf = 0;
  if (online) {
    for (int64_t j = c0; j < c1; j++) {
      if (x[j - off].hi == -INFINITY) continue;
      st->Kf++;
      if (st->jm < 0 || dgt(x[j - off], st->m)) {
        if (st->jm >= 0) {
          st->s1 = lsce_dd_mul(lsce_dd_add_d(st->s1, 1.0), lsce_dd_exp(lsce_dd_sub(st->m, x[j - off])));
          st->nreb++;
        }
        st->m = x[j - off]; st->jm = j;
      } else st->s1 = lsce_dd_add(st->s1, rexp(lsce_dd_sub(x[j - off], st->m), acc));
    }
    return;
  }
  for (int64_t j = c0; j < c1; j++)
    if (x[j - off].hi != -INFINITY && (st->jm < 0 || dgt(x[j - off], st->m))) { st->m = x[j - off]; st->jm = j; }
  for (int64_t j = c0; j < c1; j++) {
    if (x[j - off].hi == -INFINITY) continue;
    st->Kf++;
    if (j != st->jm) st->s1 = lsce_dd_add(st->s1, rexp(lsce_dd_sub(x[j - off], st->m), acc));
  }
}

/* a merge rebases the smaller maximum's part (lsce_stats_merge's rule): one lsce_dd_exp, a rebase */
void lsce_of64_stats_merge(lsce_of64_stats *a, const lsce_of64_stats *b) {
  if (b->Kf == 0) return;
  if (a->Kf == 0) { *a = *b; return; }
  const int bh = dgt(b->m, a->m);
  const dstats *hi = bh ? b : a, *lo = bh ? a : b;
  lsce_dd s1 = lsce_dd_add(hi->s1, lsce_dd_mul(lsce_dd_add_d(lo->s1, 1.0), lsce_dd_exp(lsce_dd_sub(lo->m, hi->m))));
  int eq = !bh && !dgt(a->m, b->m);
  int64_t jm = eq ? (a->jm < b->jm ? a->jm : b->jm) : hi->jm;
  a->nreb += b->nreb + 1;
  a->Kf += b->Kf;
  a->m = hi->m; a->jm = jm; a->s1 = s1;
}

static void dstats_row(dstats *st, const lsce_of64_ctx *c, const lsce_dd *x, int64_t K, int acc) {
  if (c->slice <= 0 || c->slice >= K) { dstats_range(st, x, 0, 0, K, c->online, acc); return; }
  dstats_range(st, x, 0, 0, c->slice, c->online, acc);
  for (int64_t c0 = c->slice; c0 < K; c0 += c->slice) {
    dstats part;
    dstats_range(&part, x, 0, c0, c0 + c->slice < K ? c0 + c->slice : K, c->online, acc);
    lsce_of64_stats_merge(st, &part);
  }
}


void lsce_of64_stats_range(lsce_of64_stats *st, const void *buf, int64_t c0, int64_t c1, int online, int acc) {
  const f64buf *b = buf;
  dstats_range(st, b->x, b->off, c0, c1, online, acc);
}

/* log q in double-double by one Newton step from glibc's log: y0 = log q within delta <= 2^-52 (|y| + 1)
 * (log's ulp and q's rounding to double), y1 = y0 + (q e^{-y0} - 1) = y + O(delta^2) (<= 2^-104 (|y| + 1)^2
 * with margin), the exp 2^-97 of a value near 1, the product and sums 3 U, q's own KQ: returns log q,
 * *err its bound */
static lsce_dd dlog(lsce_dd q, double *err) {
  double y0 = log(q.hi + q.lo);
  lsce_dd t = lsce_dd_mul(q, lsce_dd_exp(lsce_dd_from(-y0)));
  lsce_dd y = lsce_dd_add_d(lsce_dd_add_d(t, -1.0), y0);
  double m = fabs(y0) + 1;
  *err = KQ + 0x1p-96 + 0x1p-103 * m * m;
  return y;
}

/* kappa'_c (pairs, within KQ) and their sum; log q_c for the KL forms */
static lsce_dd kappas(const lsce_of64_ctx *c, int64_t i, f64buf *b, lsce_dd f) {
  const lsce_problem *p = c->p;
  const lsce_opt_consts *k = c->k;
  const lsce_opt_consts_dd *kd = c->kd;
  const int64_t K = p->K;
  lsce_dd sum = lsce_dd_from(0.0), lastq = lsce_dd_from(-1.0), lastl = lsce_dd_from(0.0);
  double laste = 0;
  int64_t y = p->soft ? -1 : lsce_target(p, i);
  for (int64_t cc = 0; cc < K; cc++) {
    lsce_dd q;
    if (p->soft) q = lsce_dd_add(lsce_dd_mul_d(kd->al, lsce_soft_target(p, i, cc)), kd->be);
    else if (k->weighting == LSCE_W_NLL) {
      q = lsce_dd_mul(kd->qo, kd->b);
      if (cc == y) q = lsce_dd_add(q, lsce_dd_mul(lsce_dd_mul_d(kd->qd, lsce_weight(p, y)), kd->a));
    } else q = cc == y ? kd->qt : (k->pad && cc == p->pad_index) ? lsce_dd_from(0.0) : kd->qo;
    const int64_t qc = cc - b->off, held = qc >= 0 && qc < b->n;
    if (held) { b->lq[qc] = lsce_dd_from(0.0); b->lqe[qc] = 0; }
    if (k->kl && q.hi > 0) {
      if (q.hi != lastq.hi || q.lo != lastq.lo) { lastq = q; lastl = dlog(q, &laste); }
      if (held) { b->lq[qc] = lastl; b->lqe[qc] = laste; }
    }
    if (k->weighting == LSCE_W_TORCH || k->weighting == LSCE_W_LOGPROB) q = lsce_dd_mul_d(q, lsce_weight(p, cc));
    const lsce_dd kc = lsce_dd_mul(q, f);
    if (held) b->kap[qc] = kc;
    sum = lsce_dd_add(sum, kc);
  }
  return sum;
}

/* sigma_i's lower bound -> the metric's floor (as optrows.c) */
static double tau_of(double sig, double chrel, lsce_dtype gdt) {
  return sig > 0 && chrel < 0x1p-30 ? lsce_tau(sig, gdt) * (1 - 0x1p-40) : 0.0;
}

/* The sample weight s_i is applied last, to the row's share and to each gradient entry (a subnormal s_i
 * would otherwise make every coefficient subnormal, each with its own absolute error): v s_i as a pair
 * within 2 U |v s_i| + 2^-1074 (a subnormal product loses its bits below 2^-1074), the bound times s_i
 * (rounded up by the factor 1 + 2^-52). */
static void sw_scale(lsce_dd *v, double *E, double sw) {
  if (sw == 1.0) return;
  *v = lsce_dd_mul_d(*v, sw);
  *E = *E * sw * (1 + 0x1p-52) + 2 * U * dmag(*v) + 0x1p-1074;
}


lsce_dd lsce_of64_kappas(const lsce_of64_ctx *c, int64_t i, void *buf) {
  return kappas(c, i, buf, lsce_dd_mul_d(c->kd->inv_Dn, 1.0));
}

/* ---- Softmax family: optrows.c row_softmax's terms and bounds with u -> U, KREL -> KQ, EREL -> the
 * rung's exp (see there for each term's argument); the KL terms' logs from dlog with their own bound.
 * The row is computed for s_i = 1, then its share and each gradient entry are scaled by s_i (sw_scale).
 * In pieces, so that a vocabulary shard computes its columns' parts (impls/vocab_options_f64.c): the
 * statistics' bounds hold for any schedule of merges (each merge is counted as a rebase, nreb), and
 * every sum below is of nonnegative terms (or of H, bounded by sum |h|) whose bound holds in any order
 * and grouping of the summation (each term takes part in at most K additions), the shard parts included.
 *
 * From the statistics: s1, its bound ds (the header's model; erel the exp of the terms), ls = log1p(s1)
 * within dls, lse = m + ls within dL (the transform's dX, dls, the sum's U). Leaves r->tau alone. */
int lsce_of64_sm_begin(lsce_of64_sm *r, const lsce_of64_stats *st, lsce_dd Ksd, const lsce_of64_tacc *ta, int64_t K,
                       int acc) {
  if (st->Kf == 0 || !isfinite(st->m.hi)) return -1;
  const double Kd = (double)K;
  r->m = st->m; r->s1dd = st->s1; r->jm = st->jm;
  r->Ksd = Ksd; r->Ksum = dmag(Ksd);
  r->dX = ta->dX; r->chmax = ta->chmax; r->chrel = ta->chrel;
  r->erel = EREL_OF(acc);
  r->s1 = dmag(st->s1);
  r->ds = r->s1 * ((r->erel + 3 * U) + (double)st->nreb * (EREB + 3 * U) + (Kd + 4) * U) + Kd * LSCE_EXP_ABS;
  r->ls = lsce_dd_log1p(st->s1);
  r->dls = lsce_dls_of(r->s1, r->ds, dmag(r->ls));
  r->lse = lsce_dd_add(st->m, r->ls);
  r->alse = dmag(r->lse);
  r->dL = r->dX + r->dls + U * r->alse;
  return isfinite(r->dls) ? 0 : -1;
}

void lsce_of64_terms_init(lsce_of64_terms *t, double prop0) {
  t->CE = lsce_dd_from(0.0); t->H = lsce_dd_from(0.0);
  t->prop = prop0; t->Habs = 0; t->EH = 0; t->tmax = 0; t->inf = 0;
}

/* the terms kappa'_c (lse - x_c) (and the KL part) of the columns [c0, c1) */
void lsce_of64_terms_range(lsce_of64_terms *t, const lsce_of64_ctx *c, const void *buf, const lsce_of64_sm *r,
                           int64_t c0, int64_t c1) {
  const f64buf *b = buf;
  for (int64_t j0 = c0; j0 < c1; j0++) {
    const int64_t j = j0 - b->off;
    if (b->kap[j].hi == 0) continue;
    if (b->x[j].hi == -INFINITY) { t->inf = 1; continue; }
    lsce_dd tj = lsce_dd_add(lsce_dd_sub(r->m, b->x[j]), r->ls);
    double kj = dmag(b->kap[j]);
    if (tj.hi > t->tmax) t->tmax = tj.hi;
    t->CE = lsce_dd_add(t->CE, lsce_dd_mul(b->kap[j], tj));
    t->prop += kj * b->dx[j];
    if (c->k->kl) {
      lsce_dd h = lsce_dd_mul(b->kap[j], b->lq[j]);
      t->H = lsce_dd_add(t->H, h);
      t->Habs += dmag(h);
      t->EH += kj * b->lqe[j] + KQ * dmag(h) + 0x1p-1070 * fabs(b->lq[j].hi);
    }
  }
}

void lsce_of64_terms_merge(lsce_of64_terms *a, const lsce_of64_terms *b) {
  a->CE = lsce_dd_add(a->CE, b->CE); a->H = lsce_dd_add(a->H, b->H);
  a->prop += b->prop; a->Habs += b->Habs; a->EH += b->EH;
  if (b->tmax > a->tmax) a->tmax = b->tmax;
  a->inf |= b->inf;
}

/* the row's share R (the terms, the KL part, the z part zq lse^2; times s_i) and its bound E */
int lsce_of64_sm_loss(lsce_dd *Rout, double *Eout, const lsce_of64_sm *r, const lsce_of64_ctx *c, int64_t K,
                      const lsce_of64_terms *t, double sw) {
  const double s = 1.0;
  const lsce_opt_consts *k = c->k;
  const double Kd = (double)K;
  lsce_dd Zd = lsce_dd_from(0.0);
  double Z = 0, EZ = 0;
  if (k->has_z) {
    Zd = lsce_dd_mul(lsce_dd_mul_d(c->kd->zq, s), lsce_dd_mul(r->lse, r->lse));
    Z = dmag(Zd);
    EZ = k->zq * s * (2 * r->alse * r->dL + r->dL * r->dL) * (1 + KQ + 4 * U) + (KQ + 6 * U) * Z;
  }
  if (t->inf) { *Rout = lsce_dd_from(INFINITY); *Eout = 0; return 0; }
  const double CE = dmag(t->CE);
  *Rout = lsce_dd_add(lsce_dd_add(t->CE, t->H), Zd);
  double ECE = CE * (KQ + (Kd + 6) * U) + r->Ksum * r->dls + t->prop + Kd * 0x1p-1070 * (t->tmax + 1);
  double EH = t->EH + (Kd + 2) * U * t->Habs;
  *Eout = (ECE + EH + EZ + 2 * U * (CE + t->Habs + Z)) * SL;
  sw_scale(Rout, Eout, sw);
  return !isfinite(Rout->hi) || !isfinite(*Eout) ? -1 : 0;
}

/* The gradient's constants from the statistics: Kz = Ksum + 2 zq lse and its bound, 1 / (1 + s1) and its
 * relative bound r1; with_tau: the floor tau from a lower bound of the metric's sigma_i */
void lsce_of64_sm_gcoef(lsce_of64_sm *r, const lsce_of64_ctx *c, int64_t K, double sw, int with_tau) {
  const double s = 1.0;
  const lsce_opt_consts *k = c->k;
  const double Kd = (double)K;
  if (with_tau) {
    double zmag = k->has_z ? 2 * k->zq * s * fmax(r->alse - r->dL, 0) * (1 - KQ - 4 * U) : 0.0;
    double sig = r->chmax * (1 - r->chrel) * (r->Ksum * (1 - KQ - (Kd + 4) * U) + zmag) * (1 - 4 * U);
    r->tau = tau_of(sig * sw * (1 - 0x1p-52), r->chrel, c->gdt);
  }
  const lsce_dd zcd = k->has_z ? lsce_dd_mul(lsce_dd_mul_d(c->kd->zq, 2 * s), r->lse) : lsce_dd_from(0.0);
  r->Kz = lsce_dd_add(r->Ksd, zcd);
  const double zc = dmag(zcd);
  r->aKz = dmag(r->Kz);
  r->dKz = (r->Ksum * (KQ + (Kd + 2) * U) + Kd * 0x1p-1070 + zc * (KQ + 4 * U) +
            (k->has_z ? 2 * k->zq * s * r->dL * (1 + KQ) : 0) + U * r->aKz) * SL;
  r->is = lsce_dd_div(lsce_dd_from(1.0), lsce_dd_add_d(r->s1dd, 1.0));
  r->r1 = (r->ds + U * (1 + r->s1)) / (1 + r->s1 - r->ds) + 8 * U;
}

/* Gradient entry j of row i from the statistics of rung `pass` (its exp): written to grad (rounded to
 * gdt); returns it in double, its bound in *dg (for lsce_guard_ok against r->tau) */
double lsce_of64_sm_gentry(double *dg_out, const lsce_of64_sm *r, const lsce_of64_ctx *c, const void *buf, int64_t i,
                           int64_t j, int pass, double sw, void *grad) {
  const f64buf *b = buf;
  const int64_t q = j - b->off;
  lsce_dd A;
  double dA;
  const double kj = dmag(b->kap[q]);
  if (b->x[q].hi == -INFINITY) { A = lsce_dd_neg(b->kap[q]); dA = KQ * kj + 0x1p-1070; }
  else {
    lsce_dd e = j == r->jm ? lsce_dd_from(1.0) : rexp(lsce_dd_sub(b->x[q], r->m), pass);
    lsce_dd pj = lsce_dd_mul(e, r->is);
    double pm = dmag(pj);
    double rho = (b->dx[q] + r->dX) + (j == r->jm ? 0 : r->erel) + r->r1 + 2 * U;
    if (!(rho <= 0.5)) rho = INFINITY;
    rho *= 1 + rho;
    lsce_dd kp = lsce_dd_mul(r->Kz, pj);
    A = lsce_dd_sub(kp, b->kap[q]);
    dA = r->aKz * pm * rho + pm * r->dKz + 2 * U * dmag(kp) + KQ * kj + 0x1p-1070 + LSCE_EXP_ABS * r->aKz +
         U * dmag(A);
  }
  lsce_dd g = lsce_dd_mul(b->ch[q], A);
  double dg = (dmag(b->ch[q]) * dA + b->dch[q] * dmag(A) + 2 * U * dmag(g) + 0x1p-1074) * SL;
  if (c->k->has_cap && b->x[q].hi == -INFINITY) { g = lsce_dd_from(0.0); dg = 0; } /* x'(-inf) = 0 under a cap */
  sw_scale(&g, &dg, sw);
  double gd = g.hi + g.lo;
  lsce_st(grad, c->gdt, i * c->p->K + j, gd);
  *dg_out = dg;
  return gd;
}

/* The row whole. Each entry is computed from the statistics of the row's rung; where its bound misses (an
 * entry whose A = Kz p_j - kappa'_j cancels needs p_j, and so s1, to about 2^-(53 + 60) of Kz p_j: the
 * floor tau is 2^-56 sigma_i), the statistics are recomputed with the accurate exp (acc 1: ds, ls, lse, Kz
 * with it) and only those entries again; entries already accepted keep their values and their bounds. */
static int row_softmax(lsce_dd *Rout, double *Eout, int *gok, int *accurate, const lsce_of64_ctx *c, int64_t i,
                       double sw, void *grad, int acc, f64buf *b) {
  const int64_t K = c->p->K;
  lsce_of64_tacc ta = {0, 0, 0};
  lsce_of64_transform(c, b, i, 0, K, &ta);
  const lsce_dd Ksd = lsce_of64_kappas(c, i, b);
  dstats st;
  dstats_row(&st, c, b->x, K, acc);
  lsce_of64_sm r;
  if (lsce_of64_sm_begin(&r, &st, Ksd, &ta, K, acc)) return -1;
  lsce_of64_terms tm;
  lsce_of64_terms_init(&tm, r.Ksum * r.dX);
  lsce_of64_terms_range(&tm, c, b, &r, 0, K);
  *gok = 1;
  if (lsce_of64_sm_loss(Rout, Eout, &r, c, K, &tm, sw)) return -1;
  if (!grad) return 0;
  lsce_of64_sm_gcoef(&r, c, K, sw, 1);
  int64_t nbad = 0;
  for (int pass = acc; pass <= 1; pass++) {
    if (pass > acc) {
      if (nbad == 0) break;
      *accurate = 1;
      dstats_row(&st, c, b->x, K, 1);
      if (lsce_of64_sm_begin(&r, &st, Ksd, &ta, K, 1)) { *gok = 0; break; }
      lsce_of64_sm_gcoef(&r, c, K, sw, 0);
    }
    const int64_t n = pass > acc ? nbad : K;
    nbad = 0;
    for (int64_t q = 0; q < n; q++) {
      const int64_t j = pass > acc ? b->bad[q] : q;
      double dg, gd = lsce_of64_sm_gentry(&dg, &r, c, b, i, j, pass, sw, grad);
      if (!lsce_guard_ok(gd, dg, r.tau, c->gdt, c->grad_ulp)) b->bad[nbad++] = j;
    }
  }
  if (nbad > 0) *gok = 0;
  return 0;
}

/* ---- Sigmoid family: optrows.c row_sigmoid's terms with u -> U: E = e^{-|x|} by the rung's exp
 * (+ LSCE_EXP_ABS absolute), log1p(E) within L1REL (log1p_small; E's error carried with factor <= 1),
 * sg = E / (1 + E) within (e + 10 U) sg, the pairs t' = al t + be and 1 - t' = al (1 - t) + ga (1 - t
 * exact as a two_sum) within KQ, the element (both terms >= 0) within KQ + L1REL + e + 6 U.
 * The elements of the columns [c0, c1) into a (sums of nonnegative terms: any grouping); with grad,
 * each gradient entry written, and kept (value, bound) in the buffer's x, dx for lsce_of64_sig_check. */
void lsce_of64_sig_range(lsce_of64_sig *a, const lsce_of64_ctx *c, void *buf, int64_t i, int64_t c0, int64_t c1,
                         double sw, void *grad, int acc) {
  f64buf *b = buf;
  const double s = 1.0; /* the row is computed for s_i = 1, then scaled by sw (sw_scale) */
  const lsce_problem *p = c->p;
  const lsce_opt_consts_dd *kd = c->kd;
  const int64_t K = p->K;
  const double erel = acc ? LSCE_EXP_REL_DD : LSCE_EXP_REL_PAIR;
  const lsce_dd f = lsce_dd_mul_d(kd->inv_Dn, s);
  int64_t y = p->soft ? -1 : lsce_target(p, i);
  for (int64_t cc = c0; cc < c1; cc++) {
    double dx, dch;
    lsce_dd ch;
    lsce_dd x = tf64(c, b, lsce_logit(p, i, cc), &dx, &ch, &dch);
    double w = lsce_weight(p, cc), chm = dmag(ch);
    if (w > a->wmax) a->wmax = w;
    if (chm > a->chmax) a->chmax = chm;
    if (chm > 0 && dch / chm > a->chrel) a->chrel = dch / chm;
    lsce_dd wf = lsce_dd_mul_d(f, w);
    double t = p->soft ? lsce_soft_target(p, i, cc) : (cc == y ? 1.0 : 0.0);
    lsce_dd tp = lsce_dd_add(lsce_dd_mul_d(kd->al, t), kd->be);
    lsce_dd up = lsce_dd_add(lsce_dd_mul(kd->al, lsce_two_sum(1.0, -t)), kd->ga);
    lsce_dd g = lsce_dd_from(0.0);
    double dg = 0, awf = dmag(wf);
    if (wf.hi == 0) {
      if (grad) { lsce_st(grad, c->gdt, i * K + cc, 0.0); b->x[cc - b->off] = lsce_dd_from(0.0); b->dx[cc - b->off] = 0; }
      continue;
    }
    if (x.hi == -INFINITY) {
      if (tp.hi > 0) a->inf = 1;
      g = lsce_dd_neg(lsce_dd_mul(lsce_dd_mul(wf, tp), ch));
      dg = (KQ + 3 * U) * dmag(g) + awf * dmag(tp) * dch + 0x1p-1070 * chm;
    } else {
      lsce_dd ax = dabs(x), E = rexp(lsce_dd_neg(ax), acc), l1 = log1p_small(E, b);
      lsce_dd spx = x.hi >= 0 ? lsce_dd_add(ax, l1) : l1, spm = x.hi >= 0 ? l1 : lsce_dd_add(ax, l1);
      lsce_dd el = lsce_dd_add(lsce_dd_mul(up, spx), lsce_dd_mul(tp, spm));
      lsce_dd sg = lsce_dd_div(E, lsce_dd_add_d(E, 1.0));
      lsce_dd D = x.hi >= 0 ? lsce_dd_sub(up, sg) : lsce_dd_sub(sg, tp);
      double A1 = dmag(x.hi >= 0 ? up : tp), sgm = dmag(sg), aD = dmag(D), ael = dmag(el);
      double dD = KQ * A1 + (erel + 10 * U) * sgm + 2 * LSCE_EXP_ABS + dx * sgm + dx * dx / 10 + U * aD;
      double eel = ael * (KQ + L1REL + erel + 6 * U) + 4 * LSCE_EXP_ABS + dx * (aD + dD + dx / 4);
      lsce_dd r = lsce_dd_mul(wf, el);
      a->R = lsce_dd_add(a->R, r);
      a->Rabs += dmag(r);
      a->ER += awf * eel + dmag(r) * (KQ + 2 * U) + 0x1p-1070 * (ael + eel);
      if (grad) {
        g = lsce_dd_mul(lsce_dd_mul(wf, D), ch);
        dg = awf * (chm * dD + dch * aD) + (KQ + 4 * U) * dmag(g) + 0x1p-1070 * chm * (aD + dD);
      }
    }
    if (grad) {
      dg *= SL;
      sw_scale(&g, &dg, sw);
      double gd = g.hi + g.lo;
      lsce_st(grad, c->gdt, i * K + cc, gd);
      b->x[cc - b->off] = lsce_dd_from(gd); b->dx[cc - b->off] = dg; /* checked once the row's sigma is known */
    }
  }
}

void lsce_of64_sig_init(lsce_of64_sig *a) {
  a->R = lsce_dd_from(0.0); a->ER = a->Rabs = a->chmax = a->chrel = a->wmax = 0; a->inf = 0;
}

void lsce_of64_sig_merge(lsce_of64_sig *a, const lsce_of64_sig *b) {
  a->R = lsce_dd_add(a->R, b->R); a->ER += b->ER; a->Rabs += b->Rabs;
  a->chmax = fmax(a->chmax, b->chmax); a->chrel = fmax(a->chrel, b->chrel); a->wmax = fmax(a->wmax, b->wmax);
  a->inf |= b->inf;
}

/* the row's share (times s_i) and its bound from the elements of all K columns */
int lsce_of64_sig_share(lsce_dd *Rout, double *Eout, const lsce_of64_sig *a, int64_t K, double sw) {
  *Rout = a->inf ? lsce_dd_from(INFINITY) : a->R;
  *Eout = a->inf ? 0 : (a->ER + ((double)K + 2) * U * a->Rabs) * SL;
  if (!a->inf) sw_scale(Rout, Eout, sw);
  return !a->inf && (!isfinite(Rout->hi) || !isfinite(*Eout)) ? -1 : 0;
}

/* the entries of [c0, c1) kept by lsce_of64_sig_range against the floor of sigma_i = max_j x'_j s_i
 * max_c w_c / D_norm, from below (optrows.c), a's maxima over all K columns: 1 when every one passes */
int lsce_of64_sig_check(const lsce_of64_sig *a, const lsce_of64_ctx *c, const void *buf, int64_t c0, int64_t c1,
                        double sw) {
  const f64buf *b = buf;
  double sig = a->chmax * (1 - a->chrel) * a->wmax * dmag(lsce_dd_mul_d(c->kd->inv_Dn, 1.0)) * (1 - KQ) * sw *
               (1 - 0x1p-52);
  double tau = tau_of(sig, a->chrel, c->gdt);
  int gok = 1;
  for (int64_t cc = c0; cc < c1; cc++)
    if (!lsce_guard_ok(b->x[cc - b->off].hi, b->dx[cc - b->off], tau, c->gdt, c->grad_ulp)) gok = 0;
  return gok;
}

static int row_sigmoid(lsce_dd *Rout, double *Eout, int *gok, const lsce_of64_ctx *c, int64_t i, double sw,
                       void *grad, int acc, f64buf *b) {
  const int64_t K = c->p->K;
  lsce_of64_sig a;
  lsce_of64_sig_init(&a);
  lsce_of64_sig_range(&a, c, b, i, 0, K, sw, grad, acc);
  *gok = 1;
  if (lsce_of64_sig_share(Rout, Eout, &a, K, sw)) return -1;
  if (grad) *gok = lsce_of64_sig_check(&a, c, b, 0, K, sw);
  return 0;
}

int lsce_of64_row(lsce_dd *R, double *E, int *gok, int *accurate, const lsce_of64_ctx *c, int64_t i, double s,
                  void *grad, int acc, void *buf) {
  *accurate = acc;
  return c->k->sig ? row_sigmoid(R, E, gok, c, i, s, grad, acc, (f64buf *)buf)
                   : row_softmax(R, E, gok, accurate, c, i, s, grad, acc, (f64buf *)buf);
}
