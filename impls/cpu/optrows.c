/* impls/cpu/optrows.c: the exact CPU rows on issue #15's options (logit scale S, soft cap C, z-loss
 * Z, sample weights, the normalizer, soft targets) and the sigmoid family (docs/formulations.md
 * "Options and the sigmoid family"). Claim: every output meets the row's declared bound
 * (lsce_target_bounds, the same as the catalog's), or the row is recomputed by the certified
 * reference (with LSCE_ROW_REFERENCE=0: flagged, counted in lsce_params.counts).
 *
 * What is shared and what is each row's own: the per-element transform, the coefficients, the
 * sigmoid kernel, the bounds and the reduction are this file's, shared by the five rows (the
 * element and row pieces as inline host+device functions in impls/optelem.h, which the CUDA rows
 * call too, impls/cuda/optkern.h; the reduction as lsce_cpu_options_finish); each row
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
#include "cpu/optrows.h"
#include "cpu/optrows_f64.h"
#include "cpu/rowguard.h"
#include "lsce/ref_options.h"
#include "lsce/ulp.h"
#include "optelem.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* the constants and their arguments are impls/optelem.h's (shared with the CUDA rows) */
#define U LSCE_OPT_U
#define SL LSCE_OPT_SL
#define KREL LSCE_OPT_KREL
#define EREL LSCE_OPT_EREL
#define LIBM2 LSCE_OPT_LIBM2

typedef struct {
  const lsce_problem *p;
  lsce_opt_consts k;
  int online;       /* the statistics' schedule: 1 one pass, 0 two passes */
  int64_t slice;    /* > 0: shards of `slice` classes merged (cpu_sharded) */
  lsce_dtype LT, gdt;
  lsce_bound bound;
  const lsce_of64_ctx *f64; /* float64 logits: the rows in double-double (optrows_f64.c), else NULL */
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
  return lsce_opt_transform(&o->k, z, dx, ch, dch); /* impls/optelem.h */
}

/* ---- the softmax statistics of x[c0, c1): m, its first index, s1 = sum_{j != jm} e^{x_j - m} --- */
typedef lsce_opt_stats ostats; /* impls/optelem.h */

static void stats_range(ostats *st, const double *x, int64_t c0, int64_t c1, int online) {
  lsce_opt_stats_empty(st);
  if (online) {
    for (int64_t j = c0; j < c1; j++) lsce_opt_stats_push(st, x[j], j);
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

static void stats_merge(ostats *a, const ostats *b) { lsce_opt_stats_merge(a, b); } /* impls/optelem.h */

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
typedef struct { double *x, *dx, *ch, *dch, *kap, *lq; void *fb; } obuf;

static int obuf_init(obuf *b, int64_t K) {
  size_t n = (size_t)(K > 0 ? K : 1);
  b->x = malloc(sizeof(double) * n * 6);
  b->fb = NULL;
  if (!b->x) return -1;
  b->dx = b->x + n; b->ch = b->dx + n; b->dch = b->ch + n; b->kap = b->dch + n; b->lq = b->kap + n;
  return 0;
}

/* Row i's share R (none: L_i; mean, sum: its part of the total, the z term included) and its bound
 * E; *gok = 0 when a gradient entry misses the bound. Returns 0, or -1 when the row cannot be
 * vouched for at all (its loss too). */
typedef struct { double R, E; int gok; } orow;

/* kappa'_c of row i in double (see KREL), its sum, and for the KL variants log q_c */
/* optrows.h: row i's kappa'_c and log q_c over all K classes, and their sum */
double lsce_opt_kappas(const lsce_opt_consts *k, const lsce_problem *p, int64_t i, double f, double *kap, double *lq) {
  const int64_t K = p->K;
  double sum = 0;
  int64_t y = p->soft ? -1 : lsce_target(p, i);
  const double wy = !p->soft && k->weighting == LSCE_W_NLL ? lsce_weight(p, y) : 1.0;
  for (int64_t c = 0; c < K; c++) {
    kap[c] = lsce_opt_kappa(k, c, y, p->soft ? lsce_soft_target(p, i, c) : 0.0, wy, lsce_weight(p, c),
                            p->pad_index, f, &lq[c]); /* impls/optelem.h */
    sum += kap[c];
  }
  return sum;
}

static double kappas(const octx *o, int64_t i, const obuf *b, double f) {
  return lsce_opt_kappas(&o->k, o->p, i, f, b->kap, b->lq);
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
  lsce_opt_tacc ta; /* impls/optelem.h: the row's pieces, shared with the CUDA rows */
  lsce_opt_tacc_init(&ta);
  for (int64_t j = 0; j < K; j++) {
    b->x[j] = transform(o, lsce_logit(p, i, j), &b->dx[j], &b->ch[j], &b->dch[j]);
    lsce_opt_tacc_push(&ta, b->x[j], b->dx[j], b->ch[j], b->dch[j]);
  }
  const double Ksum = kappas(o, i, b, f);
  ostats st;
  row_stats(&st, o, b->x, K);
  lsce_opt_smrow r;
  if (lsce_opt_sm_begin(&r, &st, K, Ksum, &ta)) return -1;
  lsce_opt_terms tm;
  lsce_opt_terms_init(&tm, Ksum * r.dX);
  for (int64_t c = 0; c < K; c++) lsce_opt_terms_push(&tm, k, b->kap[c], b->lq[c], b->x[c], b->dx[c], r.m, r.ls);
  out->gok = 1;
  if (lsce_opt_sm_loss(&out->R, &out->E, &r, k, K, s, &tm)) return -1;
  if (!grad) return 0;
  /* the gradient; sigma_i (the metric's floor, lsce_ref_options_floors) from below: max_j x'_j
   * (Ksum + 2 zq s |lse|), each factor lowered by its relative error bound */
  lsce_opt_sm_gcoef(&r, k, K, s, o->gdt);
  for (int64_t j = 0; j < K; j++) {
    double dg;
    double g = lsce_opt_sm_gentry(&dg, &out->gok, &r, k, b->x[j], b->dx[j], b->ch[j], b->dch[j], b->kap[j],
                                  j == st.jm, o->gdt, o->bound.grad_ulp);
    lsce_st(grad, o->gdt, i * K + j, g);
  }
  return 0;
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
  double R = 0, ER = 0, wmax = 0;
  int inf = 0;
  lsce_opt_tacc ta;
  lsce_opt_tacc_init(&ta);
  out->gok = 1;
  for (int64_t c = 0; c < K; c++) {
    double dx, ch, dch;
    double x = transform(o, lsce_logit(p, i, c), &dx, &ch, &dch);
    double w = lsce_weight(p, c);
    if (w > wmax) wmax = w;
    lsce_opt_tacc_push(&ta, x, dx, ch, dch);
    double wf = w * f;
    double t = p->soft ? lsce_soft_target(p, i, c) : (c == y ? 1.0 : 0.0);
    if (wf == 0) { /* exactly 0: the element and its gradient (the reference's rule) */
      if (grad) { lsce_st(grad, o->gdt, i * K + c, 0.0); b->x[c] = 0; b->dx[c] = 0; } /* checked below */
      continue;
    }
    double dg, g = lsce_opt_sig_elem(&dg, &R, &ER, &inf, k, x, dx, ch, dch, wf, t, grad != NULL); /* optelem.h */
    if (grad) {
      lsce_st(grad, o->gdt, i * K + c, g);
      b->x[c] = g; b->dx[c] = dg; /* checked once the row's sigma is known */
    }
  }
  if (lsce_opt_sig_row(&out->R, &out->E, R, ER, inf, K)) return -1;
  if (grad) {
    /* sigma_i = max_j x'_j s_i max_c w_c / D_norm, from below */
    double tau = lsce_opt_sig_tau(ta.chmax, ta.chrel, wmax, f, o->gdt);
    for (int64_t c = 0; c < K; c++)
      if (!lsce_guard_ok(b->x[c], b->dx[c], tau, o->gdt, o->bound.grad_ulp)) out->gok = 0;
  }
  return 0;
}

/* Row i of float64 logits (o->f64): the double-double rungs of optrows_f64.c, the cheaper exp first
 * (acc 0), the accurate one (acc 1, lvl bit 4) where the row's bound needs it; the row's share as a
 * pair (Lrow[3i], Lrow[3i + 1]), its bound Lrow[3i + 2] */
static int do_row_f64(orow *r, double *Rlo, unsigned char *lv, void *grad, const octx *o, int64_t i, obuf *b, double s) {
  const int none = o->p->reduction == LSCE_RED_NONE;
  int rc = -1;
  for (int acc = 0; acc <= 1; acc++) {
    lsce_dd R;
    int accurate = 0;
    rc = lsce_of64_row(&R, &r->E, &r->gok, &accurate, o->f64, i, s, grad, acc, b->fb);
    if (accurate) *lv |= 4;
    if (rc) continue;
    r->R = R.hi; *Rlo = R.lo;
    int lok = !none || (isinf(R.hi) && r->E == 0) || lsce_guard_ok(R.hi, r->E, 0.0, o->LT, o->bound.loss_ulp);
    if (lok && (!grad || r->gok)) break;
  }
  return rc;
}

/* lvl bits: 1 the loss (none) needs the reference, 2 the gradient does, 4 the accurate rung (float64),
 * 8 taken from the reference, 16 flagged */
static void do_row(double *Lrow, unsigned char *lvl, void *grad, const octx *o, int64_t i, obuf *b) {
  const lsce_problem *p = o->p;
  const int64_t K = p->K;
  const int none = p->reduction == LSCE_RED_NONE;
  Lrow[3 * i] = Lrow[3 * i + 1] = Lrow[3 * i + 2] = 0;
  lvl[i] = 0;
  const int kind = lsce_opt_row_kind(p, &o->k, i);
  if (kind == LSCE_OPT_ROW_ZERO || kind == LSCE_OPT_ROW_NAN) { /* outside V or s_i = 0: exactly 0; a NaN mean */
    if (grad) for (int64_t j = 0; j < K; j++) lsce_st(grad, o->gdt, i * K + j, kind == LSCE_OPT_ROW_NAN ? NAN : 0.0);
    return;
  }
  double s = lsce_sample_weight(p, i);
  orow r;
  int rc = kind == LSCE_OPT_ROW_DEFER ? -1 : o->f64 ? do_row_f64(&r, &Lrow[3 * i + 1], &lvl[i], grad, o, i, b, s)
           : o->k.sig ? row_sigmoid(&r, o, i, b, grad, s) : row_softmax(&r, o, i, b, grad, s);
  if (rc) { lvl[i] |= 1 | (grad ? 2 : 0); Lrow[3 * i] = NAN; Lrow[3 * i + 2] = INFINITY; return; }
  Lrow[3 * i] = r.R;
  Lrow[3 * i + 2] = r.E;
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
  /* -2: out of memory (the run fails, exit 3); -1 otherwise (the rows' values stand, flagged) */
  *have = lsce_reference_local(r, p, &ro, "row", &err) == LSCE_OK ? 1 : strstr(err.line, "out of memory") ? -2 : -1;
  return *have > 0 ? 0 : -1;
}

int lsce_cpu_options(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, int online, int threads,
                     int64_t slice) {
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int64_t N = p->N, K = p->K;
  octx o = {.p = p, .online = online, .slice = slice, .LT = lsce_guard_loss_dtype(c->dtype), .gdt = gdt,
            .bound = lsce_guard_bound(c->dtype)};
  lsce_opt_consts_dd kd;
  lsce_of64_ctx f64 = {.p = p, .k = &o.k, .kd = &kd, .online = online, .slice = slice, .gdt = gdt,
                       .grad_ulp = o.bound.grad_ulp};
  if (c->dtype == LSCE_DT_F64) { lsce_options_consts_dd(&o.k, &kd, p); o.f64 = &f64; }
  else lsce_options_consts(&o.k, p);
  double *Lrow = malloc(sizeof(double) * 3 * (size_t)(N > 0 ? N : 1));
  unsigned char *lvl = malloc((size_t)(N > 0 ? N : 1));
  if (!Lrow || !lvl) { free(Lrow); free(lvl); return 1; }
#ifndef _OPENMP
  threads = 1;
#endif
  if (threads < 1) threads = 1;
  int fail = 0;
#pragma omp parallel num_threads(threads) if (threads > 1 && N > 1)
  {
    obuf b = {0};
    int ok = obuf_init(&b, K) == 0 && (!o.f64 || (b.fb = lsce_of64_buf(K)) != NULL);
    if (!ok) {
#pragma omp atomic write
      fail = 1;
    }
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < N; i++)
      if (ok) do_row(Lrow, lvl, grad, &o, i, &b);
    free(b.x);
    free(b.fb);
  }
  if (fail) { free(Lrow); free(lvl); return 1; }
  const int frc = lsce_cpu_options_finish(loss, grad, gdt, c, &o.k, Lrow, lvl);
  free(Lrow);
  free(lvl);
  return frc;
}

/* optrows.h: the reduction and the reference rung after every row (also the CUDA rows') */
int lsce_cpu_options_finish(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_opt_consts *k,
                            double *Lrow, unsigned char *lvl) {
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int64_t N = p->N, K = p->K;
  const int none = p->reduction == LSCE_RED_NONE;
  octx o = {.p = p, .k = *k, .LT = lsce_guard_loss_dtype(c->dtype), .gdt = gdt, .bound = lsce_guard_bound(c->dtype)};
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
      if (isinf(Lrow[3 * i]) && Lrow[3 * i + 2] == 0) { any_inf = 1; continue; }
      tot = lsce_dd_add(tot, lsce_dd_make(Lrow[3 * i], Lrow[3 * i + 1]));
      E += Lrow[3 * i + 2];
      mag += fabs(Lrow[3 * i]);
    }
    E = (E + 2 * (double)N * LSCE_U_DD * mag) * SL;
    if (!any_inf && (tot_bad || !lsce_guard_ok(tot.hi + tot.lo, E, 0.0, o.LT, o.bound.loss_ulp))) tot_bad = 1;
    else tot_bad = 0;
  }
  /* rung 3: the reference's values for the rows (and the total) not vouched for */
  int need = tot_bad;
  for (int64_t i = 0; i < N; i++) if ((none && (lvl[i] & 1)) || (lvl[i] & 2)) need = 1;
  int refok = need ? reference(&ref, &have, p, want_g) == 0 : 0;
  if (have == -2) return 1; /* the reference rung ran out of memory: nothing vouches for those rows */
  for (int64_t i = 0; i < N; i++) {
    int lossref = none && (lvl[i] & 1), gref = grad && (lvl[i] & 2);
    if (!lossref && !gref) continue;
    if (!refok) { lvl[i] |= 16; continue; }
    if (lossref) { Lrow[3 * i] = ref.loss[i]; Lrow[3 * i + 1] = 0; }
    if (gref) for (int64_t j = 0; j < K; j++) lsce_st(grad, gdt, i * K + j, ref.grad[i * K + j]);
    lvl[i] |= 8;
  }
  if (none) for (int64_t i = 0; i < N; i++) loss[i] = Lrow[3 * i];
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
      if ((lvl[i] & 4) && !(lvl[i] & 8)) kc->accurate++;
      if (lvl[i] & 16) kc->flagged++;
    }
  }
  return 0;
}
