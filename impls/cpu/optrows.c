/* impls/cpu/optrows.c: the exact CPU rows on issue #15's options (logit scale S, soft cap C, z-loss
 * Z, sample weights, the normalizer, soft targets) and the sigmoid family (docs/formulations.md
 * "Options and the sigmoid family"). Claim: every output meets the row's declared bound
 * (lsce_target_bounds, the same as the catalog's), or the row is recomputed by the certified
 * reference (with LSCE_ROW_REFERENCE=0: flagged, counted in lsce_params.counts).
 *
 * What is shared and what is each row's own: the per-element transform, the coefficients, the
 * sigmoid kernel, the bounds and the reduction are this file's, shared by the five rows; each row
 * keeps its own schedule of the softmax statistics (m, s1) over the transformed row: cpu_twopass
 * and cpu_avx2 two passes (max, then the sum; cpu_avx2's SIMD kernels read the catalog's input
 * dtypes only, so under the options it runs this scalar two-pass path), cpu_online one pass with
 * the running maximum (s1 rescaled at each new maximum), cpu_threads two passes with OpenMP over
 * rows, cpu_sharded S vocabulary shards (LSCE_SHARDS) whose (m, s1) merge as an all-reduce would.
 *
 * The method, per row: x_j = T(z_j) in double with a bound dx_j (transform()), the statistics and
 * the row's terms in double, an a-posteriori bound E on |computed - exact| for the row's loss and
 * for each gradient entry, and the acceptance test lsce_guard_ok against the declared ulps (with the
 * loss floor tau = 0, which only tightens the test; the gradient floor from a lower bound of the
 * metric's sigma_i, lsce_ref_options_floors). A row that fails (float64 inputs always do: double
 * arithmetic cannot give 2 ulps of float64) takes the reference's values for that row: the
 * reference of the whole problem, computed once per call when any row needs it (its row blocks do
 * not take the options). u = 2^-53. Every bound is first order in u; SL = 1 + 2^-20 covers the
 * second-order terms and the rounding of the bound's own evaluation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/kernels.h"
#include "cpu/optbounds.h"
#include "cpu/optrows.h"
#include "cpu/rowguard.h"
#include "lsce/ref_options.h"
#include "lsce/ulp.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* U, SL, KREL, EREL, LIBM2: cpu/optbounds.h */

typedef struct {
  const lsce_problem *p;
  lsce_opt_consts k;
  int online;       /* the statistics' schedule: 1 one pass, 0 two passes */
  int64_t slice;    /* > 0: shards of `slice` classes merged (cpu_sharded) */
  lsce_dtype LT, gdt;
  lsce_bound bound;
} octx;

/* ---- the transform: x = S z, then C tanh(x / C); -inf stays -inf -------------------------------
 * No cap: x = RN(S_d z), S_d within 2 u of S: |dx| <= 3 u |x| (+ 2^-1074 for an underflow); without
 * a scale x = z exactly. Cap: a = RN(RN(S_d z) / C_d) is within 6 u of S z / C (two constants of 2 u,
 * two roundings); tanh's relative sensitivity a sech^2(a) / tanh(a) = 2a / sinh(2a) <= 1 keeps 6 u,
 * glibc's tanh adds 4 u, C_d 2 u and the product u: 13 u; we use 16 u, and 2^-1070 absolute.
 * The chain factor x'(z) = S sech^2(a) = S 4 E / (1 + E)^2, E = e^{-2|a|} (never 1 - tanh^2, which
 * cancels at saturation): a's 6 u move log sech^2 by 2 tanh(a) 6 u |a| <= 12 u |a|; E (2 u), 1 + E,
 * the square, 4 E / ., times S_d: 12 more u at most; so (12 |a| + 20) u relative. A masked z: the
 * factor is S_d (no cap) or exactly 0 (a cap). */
static double transform(const octx *o, double z, double *dx, double *ch, double *dch) {
  const lsce_opt_consts *k = &o->k;
  if (z == -INFINITY) {
    *dx = 0;
    *ch = k->has_cap ? 0.0 : k->S;
    *dch = k->has_cap || !k->has_scale ? 0.0 : 2 * U * k->S;
    return -INFINITY;
  }
  double y = k->has_scale ? k->S * z : z;
  *ch = k->S;
  *dch = k->has_scale ? 2 * U * k->S : 0.0;
  if (!k->has_cap) {
    *dx = k->has_scale ? 3 * U * fabs(y) + 0x1p-1074 : 0.0;
    return y;
  }
  double a = y / k->C;
  double x = k->C * tanh(a);
  *dx = 16 * U * fabs(x) + (k->C + 1) * 0x1p-1068; /* a subnormal tanh: C times a few 2^-1074 */
  if (z == 0) { *dch = k->has_scale ? 2 * U * k->S : 0.0; return x; } /* sech 0 = 1 */
  double E = exp(-2 * fabs(a)), d = 1 + E;
  *ch = k->S * (4 * E / (d * d));
  /* E subnormal or 0 (|a| > 354): within 2^-1074 absolutely, times 4 S */
  *dch = (12 * fabs(a) + 20) * U * *ch + k->S * 0x1p-1068;
  return x;
}

/* ---- the softmax statistics of x[c0, c1): m, its first index, s1 = sum_{j != jm} e^{x_j - m} --- */
typedef struct { double m, s1; int64_t jm, nreb, Kf; } ostats;

static void stats_range(ostats *st, const double *x, int64_t c0, int64_t c1, int online) {
  st->m = -INFINITY; st->s1 = 0; st->jm = -1; st->nreb = 0; st->Kf = 0;
  if (online) {
    for (int64_t j = c0; j < c1; j++) {
      if (x[j] == -INFINITY) continue;
      st->Kf++;
      if (x[j] > st->m) {
        if (st->jm >= 0) { st->s1 = (st->s1 + 1.0) * exp(st->m - x[j]); st->nreb++; }
        st->m = x[j]; st->jm = j;
      } else st->s1 += exp(x[j] - st->m);
    }
    return;
  }
  for (int64_t j = c0; j < c1; j++)
    if (x[j] != -INFINITY && x[j] > st->m) { st->m = x[j]; st->jm = j; }
  for (int64_t j = c0; j < c1; j++) {
    if (x[j] == -INFINITY) continue;
    st->Kf++;
    if (j != st->jm) st->s1 += exp(x[j] - st->m);
  }
}

/* a merge rebases the smaller maximum's part: one exp and three roundings, counted as a rebase */
static void stats_merge(ostats *a, const ostats *b) {
  if (b->Kf == 0) return;
  if (a->Kf == 0) { *a = *b; return; }
  const ostats *hi = a->m >= b->m ? a : b, *lo = a->m >= b->m ? b : a;
  double s1 = hi->s1 + (lo->s1 + 1.0) * exp(lo->m - hi->m);
  int64_t jm = a->m == b->m ? (a->jm < b->jm ? a->jm : b->jm) : hi->jm;
  a->nreb += b->nreb + 1;
  a->Kf += b->Kf;
  a->m = hi->m; a->jm = jm; a->s1 = s1;
}

static void row_stats(ostats *st, const octx *o, const double *x, int64_t K) {
  if (o->slice <= 0 || o->slice >= K) { stats_range(st, x, 0, K, o->online); return; }
  stats_range(st, x, 0, o->slice, o->online);
  for (int64_t c0 = o->slice; c0 < K; c0 += o->slice) {
    ostats part;
    stats_range(&part, x, c0, c0 + o->slice < K ? c0 + o->slice : K, o->online);
    stats_merge(st, &part);
  }
}

/* ---- one row ------------------------------------------------------------------------------ */
typedef struct { double *x, *dx, *ch, *dch, *kap, *lq; } obuf;

static int obuf_init(obuf *b, int64_t K) {
  size_t n = (size_t)(K > 0 ? K : 1);
  b->x = malloc(sizeof(double) * n * 6);
  if (!b->x) return -1;
  b->dx = b->x + n; b->ch = b->dx + n; b->dch = b->ch + n; b->kap = b->dch + n; b->lq = b->kap + n;
  return 0;
}

/* Row i's share R (none: L_i; mean, sum: its part of the total, the z term included) and its bound
 * E; *gok = 0 when a gradient entry misses the bound. Returns 0, or -1 when the row cannot be
 * vouched for at all (its loss too). */
typedef struct { double R, E; int gok; } orow;

/* kappa'_c of row i in double (see KREL), its sum, and for the KL variants log q_c */
static double kappas(const octx *o, int64_t i, const obuf *b, double f) {
  const lsce_problem *p = o->p;
  const lsce_opt_consts *k = &o->k;
  const int64_t K = p->K;
  double sum = 0;
  int64_t y = p->soft ? -1 : lsce_target(p, i);
  for (int64_t c = 0; c < K; c++) {
    double q;
    if (p->soft) q = k->al * lsce_soft_target(p, i, c) + k->be;
    else if (k->weighting == LSCE_W_NLL) q = k->qo * k->b + (c == y ? k->qd * lsce_weight(p, y) * k->a : 0.0);
    else q = c == y ? k->qt : (k->pad && c == p->pad_index) ? 0.0 : k->qo;
    b->lq[c] = k->kl && q > 0 ? log(q) : 0.0;
    if (k->weighting == LSCE_W_TORCH || k->weighting == LSCE_W_LOGPROB) q *= lsce_weight(p, c);
    b->kap[c] = q * f;
    sum += b->kap[c];
  }
  return sum;
}

/* Softmax family. With exact x, CE = sum_c kappa'_c (lse - x_c), every term >= 0.
 * The transform: |d lse| <= max_j dx_j = dX (lse is 1-Lipschitz in the max norm), so the terms move
 * by at most Ksum dX + sum_c kappa'_c dx_c.
 * The statistics: s1's terms within EREL each, each rebase (1 + nreb) adds EREL + 3 u, the sum of K
 * nonnegative terms (K + 4) u, exps below 2^-1020 K 2^-1020 absolutely (rowguard.h's model):
 * ds; ls = log1p(s1) within ds / (1 + s1 - ds) + LIBM2 ls.
 * The terms t_c = RN(RN(m - x_c) + ls) are within 2 u t_c of (m - x_c + ls) and ls's error; the
 * products with kappa' (KREL + u) and their sum ((K + 2) u, all >= 0): CE (KREL + (K + 6) u) + Ksum dls.
 * A kappa' below 2^-1022 (tiny weights or s_i / D) has an absolute error of a few 2^-1074 instead
 * of KREL: 2^-1070 per coefficient, added to the loss (times its term), to Ksum and to each A_j.
 * KL: + sum kappa'_c log q_c, each within kappa'_c (|log q_c| (KREL + 3 u) + 3 u) (q_c's own 2 u
 * moves its log by 2 u), their sum (K + 2) u of sum |.|.
 * The z part zq s_i lse^2: lse within dL = dX + dls + u |lse|; its square 2 |lse| dL + dL^2, the
 * products (zq 2 u, 3 roundings) 5 u.
 * The gradient, x'_j (Kz p_j - kappa'_j), Kz = Ksum + 2 zq s_i lse: p_j = e_j / (1 + s1) is within
 * rho_j p_j, rho_j = (dx_j + dX) [the transform, first order: log p_j = x_j - lse] + EREL_j + the
 * relative error of 1 + s1 (ds + u (1 + s1)) / (1 + s1 - ds) + 2 u; (taken times 1 + rho_j, exact for
 * rho_j <= 1/2, which is required). Kz within dKz = Ksum (KREL + (K + 2) u) + |zc| 4 u + 2 zq s_i dL
 * + u |Kz|; A_j = RN(RN(Kz p_j) - kappa'_j) within |Kz| p_j rho_j + p_j dKz + u |Kz p_j| + KREL
 * kappa'_j + u |A_j|; g_j = RN(x'_j A_j) within |x'_j| dA_j + dx'_j |A_j| + u |g_j|. */
static int row_softmax(orow *out, const octx *o, int64_t i, obuf *b, void *grad, double s) {
  const lsce_problem *p = o->p;
  const lsce_opt_consts *k = &o->k;
  const int64_t K = p->K;
  const double f = s * k->inv_Dn;
  double dX = 0, chmax = 0, chrel = 0;
  for (int64_t j = 0; j < K; j++) {
    b->x[j] = transform(o, lsce_logit(p, i, j), &b->dx[j], &b->ch[j], &b->dch[j]);
    if (b->x[j] != -INFINITY && b->dx[j] > dX) dX = b->dx[j];
    if (b->ch[j] > chmax) chmax = b->ch[j];
    if (b->ch[j] > 0 && b->dch[j] / b->ch[j] > chrel) chrel = b->dch[j] / b->ch[j];
  }
  const double Ksum = kappas(o, i, b, f);
  ostats st;
  row_stats(&st, o, b->x, K);
  if (st.Kf == 0) return -1;
  const double m = st.m, s1 = st.s1;
  const double ds = s1 * ((1 + (double)st.nreb) * (EREL + 3 * U) + ((double)K + 4) * U) + (double)K * LSCE_EXP_ABS;
  const double ls = log1p(s1);
  if (!(1 + s1 - ds > 0)) return -1;
  const double dls = ds / (1 + s1 - ds) + LIBM2 * ls;
  const double lse = m + ls;
  const double dL = dX + dls + U * fabs(lse);
  int inf = 0;
  double CE = 0, prop = Ksum * dX, H = 0, Habs = 0, EH = 0, tmax = 0;
  for (int64_t c = 0; c < K; c++) {
    if (b->kap[c] == 0) continue;
    if (b->x[c] == -INFINITY) { inf = 1; continue; }
    double t = (m - b->x[c]) + ls;
    if (t > tmax) tmax = t;
    CE += b->kap[c] * t;
    prop += b->kap[c] * b->dx[c];
    if (k->kl) {
      double h = b->kap[c] * b->lq[c];
      H += h;
      Habs += fabs(h);
      EH += b->kap[c] * (fabs(b->lq[c]) * (KREL + 3 * U) + 3 * U) + 0x1p-1070 * fabs(b->lq[c]);
    }
  }
  double Z = 0, EZ = 0;
  if (k->has_z) {
    Z = k->zq * s * lse * lse;
    EZ = k->zq * s * (2 * fabs(lse) * dL + dL * dL) * (1 + 4 * U) + 5 * U * Z;
  }
  out->gok = 1;
  if (inf) { out->R = INFINITY; out->E = 0; }
  else {
    out->R = CE + H + Z;
    double ECE = CE * (KREL + ((double)K + 6) * U) + Ksum * dls + prop + (double)K * 0x1p-1070 * (tmax + 1);
    EH += ((double)K + 2) * U * Habs;
    out->E = (ECE + EH + EZ + 2 * U * (CE + Habs + Z)) * SL;
    if (!isfinite(out->R) || !isfinite(out->E)) return -1;
  }
  if (!grad) return 0;
  /* the gradient */
  lsce_opt_gcoef q;
  const double tau = lsce_opt_gcoef_init(&q, k, K, s, Ksum, lse, dL, m, s1, ds, st.jm, dX, chmax, chrel, o->gdt);
  for (int64_t j = 0; j < K; j++) {
    double dg, g = lsce_opt_gentry(&q, j, b->x[j], b->dx[j], b->ch[j], b->dch[j], b->kap[j], &dg, &out->gok);
    lsce_st(grad, o->gdt, i * K + j, g);
    if (!lsce_guard_ok(g, dg, tau, o->gdt, o->bound.grad_ulp)) out->gok = 0;
  }
  return 0;
}

/* row_softmax's gradient coefficients (its argument above); returns the floor tau */
double lsce_opt_gcoef_init(lsce_opt_gcoef *q, const lsce_opt_consts *k, int64_t K, double s, double Ksum, double lse,
                           double dL, double m, double s1, double ds, int64_t jm, double dX, double chmax,
                           double chrel, lsce_dtype gdt) {
  const double zc = k->has_z ? 2 * k->zq * s * lse : 0.0;
  q->Kz = Ksum + zc;
  q->dKz = (Ksum * (KREL + ((double)K + 2) * U) + (double)K * 0x1p-1070 + fabs(zc) * 4 * U +
            (k->has_z ? 2 * k->zq * s * dL : 0) + U * fabs(q->Kz)) * SL;
  q->is = 1.0 / (1.0 + s1);
  q->r1 = (ds + U * (1 + s1)) / (1 + s1 - ds) + 2 * U;
  q->m = m; q->dX = dX; q->jm = jm; q->has_cap = k->has_cap;
  /* sigma_i (the metric's floor, lsce_ref_options_floors) from below: max_j x'_j (Ksum + 2 zq s |lse|),
   * each factor lowered by its relative error bound */
  double zmag = k->has_z ? 2 * k->zq * s * fmax(fabs(lse) - dL, 0) * (1 - 4 * U) : 0.0;
  double sig = chmax * (1 - chrel) * (Ksum * (1 - KREL - ((double)K + 4) * U) + zmag) * (1 - 4 * U);
  return sig > 0 && chrel < 0x1p-30 ? lsce_tau(sig, gdt) * (1 - 0x1p-40) : 0.0;
}

/* row_softmax's gradient entry j: g_j = x'_j (Kz p_j - kappa'_j) and its bound *dg; *gok = 0 when
 * p_j's relative error bound exceeds 1/2 */
double lsce_opt_gentry(const lsce_opt_gcoef *q, int64_t j, double x, double dx, double ch, double dch, double kap,
                       double *dg, int *gok) {
  double A, dA;
  if (x == -INFINITY) { A = -kap; dA = KREL * kap + 0x1p-1070; }
  else {
    double e = j == q->jm ? 1.0 : exp(x - q->m);
    double pj = e * q->is;
    double rho = (dx + q->dX) + (j == q->jm ? 0 : EREL) + q->r1 + 2 * U;
    if (!(rho <= 0.5)) { *gok = 0; rho = INFINITY; }
    rho *= 1 + rho;
    A = q->Kz * pj - kap;
    dA = fabs(q->Kz) * pj * rho + pj * q->dKz + U * fabs(q->Kz * pj) + KREL * kap + 0x1p-1070 + U * fabs(A);
  }
  double g = ch * A;
  *dg = (ch * dA + dch * fabs(A) + U * fabs(g)) * SL;
  if (q->has_cap && x == -INFINITY) { g = 0; *dg = 0; } /* x'(-inf) = 0 under a cap: exact */
  return g;
}

/* Sigmoid family, per element c: w_c s_i / D ((1 - t') softplus(x) + t' softplus(-x)), both terms
 * >= 0; softplus(+-x) = log1p(e^{-|x|}) (+ |x|): E = e^{-|x|} 2 u, log1p's 4 u and E's 2 u carried
 * with factor E / ((1 + E) log1p E) <= 1, the sum u: 7 u each. t' and 1 - t' = al (1 - t) + ga are
 * formed without cancellation (1 - t within u): KREL. The element: its value (KREL + 7 u + 3 u);
 * the transform moves it by at most dx (|sigma(x) - t'| + dx / 4) (its derivative is sigma(x) - t',
 * and sigma is 1/4-Lipschitz). The row: w_c s_i / D (KREL), the sum of nonnegative terms (K + 2) u.
 * The gradient, x'(z) w_c s_i / D (sigma(x) - t'): for x >= 0 as (1 - t') - sigma(-x), for x < 0 as
 * sigma(x) - t', with the small sigmoid sg = E / (1 + E) within 5 u sg; the transform moves it by at
 * most dx sg (1 - sg) + dx^2 / 10 (|sigma''| < 1/10); so D = A1 - sg is within KREL A1 + 5 u sg +
 * dx sg + dx^2 / 10 + u |D|, and g = RN(RN(wf D) x') within |wf| (x' dD + dx' |D|) + (KREL + 2 u) |g|.
 * A wf below 2^-1022 has an absolute error of a few 2^-1074 instead of KREL: 2^-1070 times the
 * element (loss) and times x' |D| (gradient), added. */
static int row_sigmoid(orow *out, const octx *o, int64_t i, obuf *b, void *grad, double s) {
  const lsce_problem *p = o->p;
  const lsce_opt_consts *k = &o->k;
  const int64_t K = p->K;
  const double f = s * k->inv_Dn;
  int64_t y = p->soft ? -1 : lsce_target(p, i);
  double R = 0, ER = 0, chmax = 0, chrel = 0, wmax = 0;
  int inf = 0;
  out->gok = 1;
  for (int64_t c = 0; c < K; c++) {
    double dx, ch, dch;
    double x = transform(o, lsce_logit(p, i, c), &dx, &ch, &dch);
    double w = lsce_weight(p, c);
    if (w > wmax) wmax = w;
    if (ch > chmax) chmax = ch;
    if (ch > 0 && dch / ch > chrel) chrel = dch / ch;
    double wf = w * f;
    double t = p->soft ? lsce_soft_target(p, i, c) : (c == y ? 1.0 : 0.0);
    double tp = k->al * t + k->be, up = k->al * (1.0 - t) + k->ga;
    double g = 0, dg = 0;
    if (wf == 0) { /* exactly 0: the element and its gradient (the reference's rule) */
      if (grad) lsce_st(grad, o->gdt, i * K + c, 0.0);
      continue;
    }
    g = lsce_opt_sig_elem(x, dx, ch, dch, wf, tp, up, &R, &ER, &inf, &dg);
    if (grad) {
      dg *= SL;
      lsce_st(grad, o->gdt, i * K + c, g);
      b->x[c] = g; b->dx[c] = dg; /* checked once the row's sigma is known */
    }
  }
  out->R = inf ? INFINITY : R;
  out->E = inf ? 0 : (ER + ((double)K + 2) * U * R) * SL;
  if (!inf && (!isfinite(out->R) || !isfinite(out->E))) return -1;
  if (grad) {
    /* sigma_i = max_j x'_j s_i max_c w_c / D_norm, from below */
    double sig = chmax * (1 - chrel) * wmax * f * (1 - KREL);
    double tau = sig > 0 && chrel < 0x1p-30 ? lsce_tau(sig, o->gdt) * (1 - 0x1p-40) : 0.0;
    for (int64_t c = 0; c < K; c++)
      if (!lsce_guard_ok(b->x[c], b->dx[c], tau, o->gdt, o->bound.grad_ulp)) out->gok = 0;
  }
  return 0;
}

/* One sigmoid element of row_sigmoid (its argument above): x within dx, x' = ch within dch, wf = w_c
 * s_i / D > 0, t' = tp, 1 - t' = up. Adds the element to *R and its bound to *ER (x finite), sets
 * *inf (x = -inf with t' > 0); returns the gradient entry, its bound in *dg (before SL). */
double lsce_opt_sig_elem(double x, double dx, double ch, double dch, double wf, double tp, double up, double *R,
                         double *ER, int *inf, double *dg) {
  if (x == -INFINITY) {
    if (tp > 0) *inf = 1;
    double g = -(wf * tp) * ch;
    *dg = (KREL + 3 * U) * fabs(g) + wf * tp * dch + 0x1p-1070 * ch;
    return g;
  }
  double a = fabs(x), E = exp(-a), l1 = log1p(E);
  double spx = x >= 0 ? a + l1 : l1, spm = x >= 0 ? l1 : a + l1; /* softplus(x), softplus(-x) */
  double el = up * spx + tp * spm;
  double sg = E / (1 + E);
  double D = x >= 0 ? up - sg : sg - tp;
  double A1 = x >= 0 ? up : tp;
  double dD = KREL * A1 + 5 * U * sg + dx * sg + dx * dx / 10 + U * fabs(D);
  double eel = el * (KREL + 10 * U) + dx * (fabs(D) + dD + dx / 4);
  *R += wf * el;
  *ER += wf * eel + wf * el * KREL + 0x1p-1070 * (el + eel);
  double g = (wf * D) * ch;
  *dg = wf * (ch * dD + dch * fabs(D)) + (KREL + 2 * U) * fabs(g) + 0x1p-1070 * ch * (fabs(D) + dD);
  return g;
}

/* lvl bits: 1 the loss (none) needs the reference, 2 the gradient does, 8 taken from it, 16 flagged */
static void do_row(double *Lrow, unsigned char *lvl, void *grad, const octx *o, int64_t i, obuf *b) {
  const lsce_problem *p = o->p;
  const int64_t K = p->K;
  const int none = p->reduction == LSCE_RED_NONE;
  Lrow[2 * i] = Lrow[2 * i + 1] = 0;
  lvl[i] = 0;
  if (!lsce_row_in_V(p, p->variant, i)) {
    if (grad) for (int64_t j = 0; j < K; j++) lsce_st(grad, o->gdt, i * K + j, 0.0);
    return;
  }
  if (o->k.nan_mean) {
    if (grad) for (int64_t j = 0; j < K; j++) lsce_st(grad, o->gdt, i * K + j, NAN);
    return;
  }
  double s = lsce_sample_weight(p, i);
  if (s == 0) { /* the row's loss and gradient are exactly 0 */
    if (grad) for (int64_t j = 0; j < K; j++) lsce_st(grad, o->gdt, i * K + j, 0.0);
    return;
  }
  orow r;
  int rc = o->k.neg ? -1 : o->k.sig ? row_sigmoid(&r, o, i, b, grad, s) : row_softmax(&r, o, i, b, grad, s);
  if (rc) { lvl[i] = 1 | (grad ? 2 : 0); Lrow[2 * i] = NAN; Lrow[2 * i + 1] = INFINITY; return; }
  Lrow[2 * i] = r.R;
  Lrow[2 * i + 1] = r.E;
  if (none && !(isinf(r.R) && r.E == 0) && !lsce_guard_ok(r.R, r.E, 0.0, o->LT, o->bound.loss_ulp)) lvl[i] |= 1;
  if (grad && !r.gok) lvl[i] |= 2;
}

/* the reference of the whole problem, computed once (want_grad when a gradient row needs it) */
static int reference(lsce_ref_result *r, int *have, const lsce_problem *p, int want_grad) {
  if (*have) return *have > 0 ? 0 : -1;
  if (lsce_row_reference_disabled()) { *have = -1; return -1; }
  lsce_ref_opts ro;
  lsce_err err;
  lsce_ref_opts_default(&ro);
  if (lsce_ref_opts_env(&ro, &err)) lsce_ref_opts_default(&ro);
  ro.want_grad = want_grad;
  *have = lsce_reference_local(r, p, &ro, "row", &err) == LSCE_OK ? 1 : -1;
  return *have > 0 ? 0 : -1;
}

int lsce_cpu_options(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, int online, int threads,
                     int64_t slice) {
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int64_t N = p->N, K = p->K;
  octx o = {.p = p, .online = online, .slice = slice, .LT = lsce_guard_loss_dtype(c->dtype), .gdt = gdt,
            .bound = lsce_guard_bound(c->dtype)};
  lsce_options_consts(&o.k, p);
  double *Lrow = malloc(sizeof(double) * 2 * (size_t)(N > 0 ? N : 1));
  unsigned char *lvl = malloc((size_t)(N > 0 ? N : 1));
  if (!Lrow || !lvl) { free(Lrow); free(lvl); return 1; }
#ifndef _OPENMP
  threads = 1;
#endif
  if (threads < 1) threads = 1;
  int fail = 0;
#pragma omp parallel num_threads(threads) if (threads > 1 && N > 1)
  {
    obuf b;
    int ok = obuf_init(&b, K) == 0;
    if (!ok) {
#pragma omp atomic write
      fail = 1;
    }
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < N; i++)
      if (ok) do_row(Lrow, lvl, grad, &o, i, &b);
    free(b.x);
  }
  if (fail) { free(Lrow); free(lvl); return 1; }
  int rc = lsce_opt_finish(loss, grad, gdt, c, Lrow, lvl);
  free(Lrow);
  free(lvl);
  return rc;
}

/* The rows' shares and bounds Lrow[2 i], Lrow[2 i + 1] and their lvl bits (1, 2: do_row's) into the
 * outputs: the reduction, rung 3 (the reference's values) or the flags, and the counts. Also the
 * vocabulary-parallel row's last step (impls/vocab_options.c). */
int lsce_opt_finish(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, double *Lrow, unsigned char *lvl) {
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int64_t N = p->N, K = p->K;
  const int none = p->reduction == LSCE_RED_NONE;
  octx o = {.p = p, .LT = lsce_guard_loss_dtype(c->dtype), .gdt = gdt, .bound = lsce_guard_bound(c->dtype)};
  lsce_options_consts(&o.k, p);
  /* the reduction: the rows' shares summed in double-double, each within its E; the sum's own
   * roundings (N additions, each 2 U of a partial sum, at most sum |R_i|) */
  lsce_ref_result ref;
  int have = 0, want_g = 0;
  for (int64_t i = 0; i < N; i++) if (lvl[i] & 2) want_g = 1;
  lsce_dd tot = lsce_dd_from(0.0);
  int any_inf = 0, tot_bad = 0;
  if (!none && !o.k.nan_mean) {
    double E = 0, mag = 0;
    for (int64_t i = 0; i < N; i++) {
      if (lvl[i] & 1) { tot_bad = 1; continue; }
      if (isinf(Lrow[2 * i]) && Lrow[2 * i + 1] == 0) { any_inf = 1; continue; }
      tot = lsce_dd_add_d(tot, Lrow[2 * i]);
      E += Lrow[2 * i + 1];
      mag += fabs(Lrow[2 * i]);
    }
    E = (E + 2 * (double)N * LSCE_U_DD * mag) * SL;
    if (!any_inf && (tot_bad || !lsce_guard_ok(tot.hi + tot.lo, E, 0.0, o.LT, o.bound.loss_ulp))) tot_bad = 1;
    else tot_bad = 0;
  }
  /* rung 3: the reference's values for the rows (and the total) not vouched for */
  int need = tot_bad;
  for (int64_t i = 0; i < N; i++) if ((none && (lvl[i] & 1)) || (lvl[i] & 2)) need = 1;
  int refok = need ? reference(&ref, &have, p, want_g) == 0 : 0;
  for (int64_t i = 0; i < N; i++) {
    int lossref = none && (lvl[i] & 1), gref = grad && (lvl[i] & 2);
    if (!lossref && !gref) continue;
    if (!refok) { lvl[i] |= 16; continue; }
    if (lossref) Lrow[2 * i] = ref.loss[i];
    if (gref) for (int64_t j = 0; j < K; j++) lsce_st(grad, gdt, i * K + j, ref.grad[i * K + j]);
    lvl[i] |= 8;
  }
  if (none) for (int64_t i = 0; i < N; i++) loss[i] = Lrow[2 * i];
  else if (o.k.nan_mean) loss[0] = NAN;
  else if (any_inf) loss[0] = INFINITY;
  else if (tot_bad && refok) {
    loss[0] = ref.loss[0];
    int any = 0;
    for (int64_t i = 0; i < N; i++) if (lvl[i] & 1) { lvl[i] |= 8; any = 1; }
    if (!any && N > 0) lvl[0] |= 8;
  } else {
    loss[0] = tot.hi + tot.lo;
    if (tot_bad) {
      int any = 0;
      for (int64_t i = 0; i < N; i++) if (lvl[i] & 1) { lvl[i] |= 16; any = 1; }
      if (!any && N > 0) lvl[0] |= 16;
    }
  }
  if (have > 0) lsce_ref_result_free(&ref);
  if (c->prm && c->prm->counts) {
    lsce_row_counts *kc = c->prm->counts;
    memset(kc, 0, sizeof *kc);
    for (int64_t i = 0; i < N; i++) {
      if (!lsce_row_in_V(p, p->variant, i)) continue;
      kc->rows++;
      if (lvl[i] & 8) kc->reference++;
      if (lvl[i] & 16) kc->flagged++;
    }
  }
  return 0;
}

/* ---- the pieces the vocabulary-parallel row shares (optrows.h) ---------------------------------- */
void lsce_opt_transform_range(const lsce_opt_consts *k, const lsce_problem *p, int64_t i, int64_t c0, int64_t c1,
                              double *x, double *dx, double *ch, double *dch) {
  octx o = {.p = p, .k = *k};
  for (int64_t j = c0; j < c1; j++) x[j] = transform(&o, lsce_logit(p, i, j), &dx[j], &ch[j], &dch[j]);
}

static void stats_in(ostats *a, const lsce_opt_stats *b) { a->m = b->m; a->s1 = b->s1; a->jm = b->jm; a->nreb = b->nreb; a->Kf = b->Kf; }
static void stats_out(lsce_opt_stats *a, const ostats *b) { a->m = b->m; a->s1 = b->s1; a->jm = b->jm; a->nreb = b->nreb; a->Kf = b->Kf; }

void lsce_opt_stats_range(lsce_opt_stats *st, const double *x, int64_t c0, int64_t c1) {
  ostats t;
  stats_range(&t, x, c0, c1, 0);
  stats_out(st, &t);
}

void lsce_opt_stats_merge(lsce_opt_stats *a, const lsce_opt_stats *b) {
  ostats ta, tb;
  stats_in(&ta, a);
  stats_in(&tb, b);
  stats_merge(&ta, &tb);
  stats_out(a, &ta);
}

double lsce_opt_kappas(const lsce_opt_consts *k, const lsce_problem *p, int64_t i, double f, double *kap, double *lq) {
  octx o = {.p = p, .k = *k};
  obuf b = {.kap = kap, .lq = lq};
  return kappas(&o, i, &b, f);
}
