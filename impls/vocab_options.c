/* impls/vocab_options.c: mpi_vocab_parallel on issue #15's options and the sigmoid family
 * (docs/formulations.md "Options and the sigmoid family"), vocabulary-parallel: rank r of P holds
 * the classes [c0, c1) = lsce_row_block(K, r, P) and transforms, exponentiates and differentiates
 * only those. Claim: every output meets the row's declared bound (lsce_target_bounds, as the CPU
 * rows), or the row takes the certified reference's values (LSCE_ROW_REFERENCE=0: flagged).
 *
 * The method is impls/cpu/optrows.c's, with its pieces (optrows.h): the transform S z, C tanh(x/C)
 * with its bound dx_j and chain factor is elementwise, so local to each shard; per row
 *   softmax: 1. each rank its shard's statistics (m_r, s1_r) two-pass, max dx, max x', its
 *            relative error; gathered, merged on every rank in rank (= class) order by optrows.c's
 *            merge (one rebase counted per merge, as its cpu_sharded schedule counts them);
 *            2. with the global m and ls = log1p(s1), each rank its columns' parts of the loss terms
 *            kappa'_c (m - x_c + ls) >= 0, of sum kappa'_c dx_c and of the KL term; gathered and
 *            summed in rank order. The z-loss needs the global lse, so its term Z s_i lse^2 is added
 *            after the merge. The bound is optrows.c's row_softmax bound unchanged: every sum there
 *            is a sum of K nonnegative terms whose (K + 2) u (or (K + 6) u) covers any order of
 *            summation, the shard parts included; each term is formed from the same m, ls as there.
 *            3. each rank its columns of the gradient x'_j (Kz p_j - kappa'_j), with the same bound
 *            and acceptance test (lsce_guard_ok with the floor from sigma_i).
 *   sigmoid: no cross-shard softmax: each rank its columns' elements w_c s_i / D ((1 - t') sp(x) +
 *            t' sp(-x)) and their bounds, gathered and summed; the gradient is local, checked with
 *            the global sigma_i floor (max x' and max w_c over every shard).
 * kappa'_c depends on the targets and weights only; every rank forms the row's K values (optrows.c's
 * kappas), so their sum is the same number on every rank. Sample weights and the normalizer enter
 * through kappa' (s_i / D) and the z factor (Z / D_z). The rows' shares and bounds then go through
 * optrows.c's reduction and reference ladder (lsce_opt_finish), with each row's verdict OR-ed over
 * the ranks, so every rank takes the same rows from the reference. Every rank therefore forms the
 * same loss (rank 0's is broadcast by the caller) and its own columns of the gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/optbounds.h"
#include "cpu/optrows.h"
#include "cpu/rowguard.h"
#include "lsce/problem.h"
#include "lsce/vocab_comm.h"

/* step 1's record of one row on one rank (softmax: the statistics; sigmoid: the elements' sums) */
typedef struct {
  lsce_opt_stats st;
  double dX, chmax, chrel, R, ER, wmax;
  int64_t inf;
} rec1;
/* step 2's record (softmax): the parts of the row's sums over this rank's columns */
typedef struct { double CE, prop, H, Habs, EH, tmax; int64_t inf; } rec2;

typedef struct {
  const lsce_problem *p;
  lsce_opt_consts k;
  const lsce_vocab_comm *cm;
  int64_t c0, c1;
  lsce_dtype LT, gdt;
  lsce_bound bound;
  double *x, *dx, *ch, *dch, *kap, *lq; /* K each, indexed by column */
} vctx;

/* the row's columns [c0, c1) transformed, and their max dx (finite x), max x', max relative error of x' */
static void shard_transform(vctx *o, int64_t i, rec1 *r) {
  lsce_opt_transform_range(&o->k, o->p, i, o->c0, o->c1, o->x, o->dx, o->ch, o->dch);
  r->dX = r->chmax = r->chrel = 0;
  for (int64_t j = o->c0; j < o->c1; j++) {
    if (o->x[j] != -INFINITY && o->dx[j] > r->dX) r->dX = o->dx[j];
    if (o->ch[j] > r->chmax) r->chmax = o->ch[j];
    if (o->ch[j] > 0 && o->dch[j] / o->ch[j] > r->chrel) r->chrel = o->dch[j] / o->ch[j];
  }
}

/* Sigmoid elements of this rank's columns (optrows.c row_sigmoid's terms and bounds, argued there):
 * their sum R and bound ER into r; with tau >= 0 the gradient entries too, each checked against the
 * declared ulps (returns 0 when one misses). */
static int sig_shard(vctx *o, int64_t i, double f, rec1 *r, void *grad, double tau) {
  const lsce_problem *p = o->p;
  const lsce_opt_consts *k = &o->k;
  const int64_t K = p->K;
  int64_t y = p->soft ? -1 : lsce_target(p, i);
  int gok = 1, inf = 0;
  r->R = r->ER = r->wmax = 0;
  for (int64_t c = o->c0; c < o->c1; c++) {
    double x = o->x[c], dx = o->dx[c], ch = o->ch[c], dch = o->dch[c];
    double w = lsce_weight(p, c);
    if (w > r->wmax) r->wmax = w;
    double wf = w * f;
    double t = p->soft ? lsce_soft_target(p, i, c) : (c == y ? 1.0 : 0.0);
    double tp = k->al * t + k->be, up = k->al * (1.0 - t) + k->ga;
    if (wf == 0) { if (grad && tau >= 0) lsce_st(grad, o->gdt, i * K + c, 0.0); continue; }
    double dg, g = lsce_opt_sig_elem(x, dx, ch, dch, wf, tp, up, &r->R, &r->ER, &inf, &dg);
    if (grad && tau >= 0) {
      lsce_st(grad, o->gdt, i * K + c, g);
      if (!lsce_guard_ok(g, dg * SL, tau, o->gdt, o->bound.grad_ulp)) gok = 0;
    }
  }
  r->inf = inf;
  return gok;
}

/* the row's global quantities after step 1 (softmax), the same expressions as row_softmax's */
typedef struct { double Ksum, ds, ls, dls, lse, dL; int fail; } glob;

static void softmax_glob(glob *gl, const vctx *o, const rec1 *m) {
  const int64_t K = o->p->K;
  const double s1 = m->st.s1;
  gl->fail = m->st.Kf == 0;
  gl->ds = s1 * ((1 + (double)m->st.nreb) * (EREL + 3 * U) + ((double)K + 4) * U) + (double)K * LSCE_EXP_ABS;
  gl->ls = log1p(s1);
  if (!(1 + s1 - gl->ds > 0)) gl->fail = 1;
  gl->dls = gl->ds / (1 + s1 - gl->ds) + LIBM2 * gl->ls;
  gl->lse = m->st.m + gl->ls;
  gl->dL = m->dX + gl->dls + U * fabs(gl->lse);
}

/* step 2: this rank's columns' parts of the loss sums (row_softmax's loop) */
static void softmax_parts(rec2 *r, const vctx *o, const glob *gl, double m) {
  r->CE = r->prop = r->H = r->Habs = r->EH = r->tmax = 0;
  r->inf = 0;
  for (int64_t c = o->c0; c < o->c1; c++) {
    if (o->kap[c] == 0) continue;
    if (o->x[c] == -INFINITY) { r->inf = 1; continue; }
    double t = (m - o->x[c]) + gl->ls;
    if (t > r->tmax) r->tmax = t;
    r->CE += o->kap[c] * t;
    r->prop += o->kap[c] * o->dx[c];
    if (o->k.kl) {
      double h = o->kap[c] * o->lq[c];
      r->H += h;
      r->Habs += fabs(h);
      r->EH += o->kap[c] * (fabs(o->lq[c]) * (KREL + 3 * U) + 3 * U) + 0x1p-1070 * fabs(o->lq[c]);
    }
  }
}

/* step 3: the row's share R and bound E from every rank's parts (rank order), then this rank's
 * gradient columns; returns 0 when a gradient entry misses the bound (row_softmax's expressions) */
static int softmax_finish(double *R, double *E, const vctx *o, int64_t i, const glob *gl, const rec1 *m,
                          const rec2 *parts, int P, double s, void *grad) {
  const lsce_opt_consts *k = &o->k;
  const int64_t K = o->p->K;
  const double Ksum = gl->Ksum, lse = gl->lse, dL = gl->dL, s1 = m->st.s1;
  double CE = 0, prop = Ksum * m->dX, H = 0, Habs = 0, EH = 0, tmax = 0;
  int inf = 0;
  for (int r = 0; r < P; r++) {
    CE += parts[r].CE; prop += parts[r].prop; H += parts[r].H; Habs += parts[r].Habs; EH += parts[r].EH;
    if (parts[r].tmax > tmax) tmax = parts[r].tmax;
    if (parts[r].inf) inf = 1;
  }
  double Z = 0, EZ = 0;
  if (k->has_z) { /* after the merge: lse is the global one */
    Z = k->zq * s * lse * lse;
    EZ = k->zq * s * (2 * fabs(lse) * dL + dL * dL) * (1 + 4 * U) + 5 * U * Z;
  }
  if (inf) { *R = INFINITY; *E = 0; }
  else {
    *R = CE + H + Z;
    double ECE = CE * (KREL + ((double)K + 6) * U) + Ksum * gl->dls + prop + (double)K * 0x1p-1070 * (tmax + 1);
    EH += ((double)K + 2) * U * Habs;
    *E = (ECE + EH + EZ + 2 * U * (CE + Habs + Z)) * SL;
    if (!isfinite(*R) || !isfinite(*E)) return -1;
  }
  if (!grad) return 1;
  lsce_opt_gcoef q;
  const double tau = lsce_opt_gcoef_init(&q, k, K, s, Ksum, lse, dL, m->st.m, s1, gl->ds, m->st.jm, m->dX, m->chmax,
                                         m->chrel, o->gdt);
  int gok = 1;
  for (int64_t j = o->c0; j < o->c1; j++) {
    double dg, g = lsce_opt_gentry(&q, j, o->x[j], o->dx[j], o->ch[j], o->dch[j], o->kap[j], &dg, &gok);
    lsce_st(grad, o->gdt, i * K + j, g);
    if (!lsce_guard_ok(g, dg, tau, o->gdt, o->bound.grad_ulp)) gok = 0;
  }
  return gok;
}

/* every rank's n records of `sz` bytes: all[r * n + k] (rank order) */
static int gather(const vctx *o, void *all, const void *mine, int64_t n, size_t sz) {
  return o->cm->allgather(all, mine, (size_t)n * sz);
}

int lsce_vocab_options(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_vocab_comm *cm) {
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int64_t N = p->N, K = p->K;
  const int P = cm->size, none = p->reduction == LSCE_RED_NONE;
  vctx o = {.p = p, .cm = cm, .LT = lsce_guard_loss_dtype(c->dtype), .gdt = gdt, .bound = lsce_guard_bound(c->dtype)};
  lsce_options_consts(&o.k, p);
  lsce_row_block(K, cm->rank, P, &o.c0, &o.c1);
  /* rows per exchange: the records of a block travel together */
  const int64_t B = 256;
  const size_t nK = (size_t)(K > 0 ? K : 1);
  double *buf = malloc(sizeof(double) * nK * 6);
  double *Lrow = malloc(sizeof(double) * 2 * (size_t)(N > 0 ? N : 1));
  unsigned char *lvl = calloc((size_t)(N > 0 ? N : 1), 1), *lvall = malloc((size_t)B * (size_t)P);
  rec1 *r1 = malloc(sizeof(rec1) * (size_t)B), *a1 = malloc(sizeof(rec1) * (size_t)B * (size_t)P);
  rec2 *r2 = malloc(sizeof(rec2) * (size_t)B), *a2 = malloc(sizeof(rec2) * (size_t)B * (size_t)P);
  rec2 *pr = malloc(sizeof(rec2) * (size_t)P);
  glob *gl = malloc(sizeof(glob) * (size_t)B);
  int rc = !buf || !Lrow || !lvl || !lvall || !r1 || !a1 || !r2 || !a2 || !pr || !gl;
  if (!rc) {
    o.x = buf; o.dx = buf + nK; o.ch = o.dx + nK; o.dch = o.ch + nK; o.kap = o.dch + nK; o.lq = o.kap + nK;
  }
  for (int64_t i0 = 0; !rc && i0 < N; i0 += B) {
    const int64_t n = N - i0 < B ? N - i0 : B;
    /* step 1: rows to compute (the same on every rank: they depend on no logit), their shard records */
    for (int64_t b = 0; b < n; b++) {
      const int64_t i = i0 + b;
      memset(&r1[b], 0, sizeof r1[b]);
      r1[b].st.m = -INFINITY; r1[b].st.jm = -1;
      Lrow[2 * i] = Lrow[2 * i + 1] = 0;
      const int inV = lsce_row_in_V(p, p->variant, i);
      const double s = inV ? lsce_sample_weight(p, i) : 0;
      if (!inV || o.k.nan_mean || s == 0) { /* outside V or s_i = 0: 0; a NaN mean: NaN (optrows.c's do_row) */
        if (grad) for (int64_t j = o.c0; j < o.c1; j++) lsce_st(grad, gdt, i * K + j, inV && o.k.nan_mean ? NAN : 0.0);
        continue;
      }
      if (o.k.neg) continue; /* deferred to the reference below */
      shard_transform(&o, i, &r1[b]);
      if (o.k.sig) sig_shard(&o, i, s * o.k.inv_Dn, &r1[b], NULL, -1);
      else lsce_opt_stats_range(&r1[b].st, o.x, o.c0, o.c1);
    }
    if ((rc = gather(&o, a1, r1, n, sizeof(rec1)))) break;
    /* merge in rank order (into r1[b]); step 2 (softmax): this rank's parts of the sums */
    for (int64_t b = 0; b < n; b++) {
      const int64_t i = i0 + b;
      rec1 *m = &r1[b];
      *m = a1[b];
      for (int r = 1; r < P; r++) {
        const rec1 *q = &a1[(int64_t)r * n + b];
        lsce_opt_stats_merge(&m->st, &q->st);
        m->dX = fmax(m->dX, q->dX); m->chmax = fmax(m->chmax, q->chmax); m->chrel = fmax(m->chrel, q->chrel);
        m->R += q->R; m->ER += q->ER; m->wmax = fmax(m->wmax, q->wmax); m->inf |= q->inf;
      }
      memset(&r2[b], 0, sizeof r2[b]);
      if (o.k.sig || !lsce_row_in_V(p, p->variant, i) || o.k.nan_mean || lsce_sample_weight(p, i) == 0 || o.k.neg)
        continue;
      softmax_glob(&gl[b], &o, m);
      if (gl[b].fail) continue;
      const double f = lsce_sample_weight(p, i) * o.k.inv_Dn;
      gl[b].Ksum = lsce_opt_kappas(&o.k, p, i, f, o.kap, o.lq);
      lsce_opt_transform_range(&o.k, p, i, o.c0, o.c1, o.x, o.dx, o.ch, o.dch);
      softmax_parts(&r2[b], &o, &gl[b], m->st.m);
    }
    if (!o.k.sig && (rc = gather(&o, a2, r2, n, sizeof(rec2)))) break;
    /* step 3: the row's share and bound, this rank's gradient columns, the verdicts */
    for (int64_t b = 0; b < n; b++) {
      const int64_t i = i0 + b;
      lvl[i] = 0;
      if (!lsce_row_in_V(p, p->variant, i) || o.k.nan_mean) continue;
      const double s = lsce_sample_weight(p, i);
      if (s == 0) continue;
      const rec1 *m = &r1[b];
      double R = 0, E = 0;
      int ok;
      if (o.k.neg) ok = -1;
      else if (o.k.sig) {
        const double f = s * o.k.inv_Dn;
        R = m->inf ? INFINITY : m->R;
        E = m->inf ? 0 : (m->ER + ((double)K + 2) * U * m->R) * SL;
        ok = !m->inf && (!isfinite(R) || !isfinite(E)) ? -1 : 1;
        if (ok > 0 && grad) {
          double sig = m->chmax * (1 - m->chrel) * m->wmax * f * (1 - KREL);
          double tau = sig > 0 && m->chrel < 0x1p-30 ? lsce_tau(sig, gdt) * (1 - 0x1p-40) : 0.0;
          rec1 mine;
          lsce_opt_transform_range(&o.k, p, i, o.c0, o.c1, o.x, o.dx, o.ch, o.dch);
          ok = sig_shard(&o, i, f, &mine, grad, tau);
        }
      } else if (gl[b].fail) ok = -1;
      else {
        for (int r = 0; r < P; r++) pr[r] = a2[(int64_t)r * n + b];
        lsce_opt_kappas(&o.k, p, i, s * o.k.inv_Dn, o.kap, o.lq);
        lsce_opt_transform_range(&o.k, p, i, o.c0, o.c1, o.x, o.dx, o.ch, o.dch);
        ok = softmax_finish(&R, &E, &o, i, &gl[b], m, pr, P, s, grad);
      }
      if (ok < 0) { lvl[i] = 1 | (grad ? 2 : 0); Lrow[2 * i] = NAN; Lrow[2 * i + 1] = INFINITY; continue; }
      Lrow[2 * i] = R;
      Lrow[2 * i + 1] = E;
      if (none && !(isinf(R) && E == 0) && !lsce_guard_ok(R, E, 0.0, o.LT, o.bound.loss_ulp)) lvl[i] |= 1;
      if (grad && !ok) lvl[i] |= 2;
    }
    /* the verdicts OR-ed over the ranks: a row any rank cannot vouch for takes the reference on all */
    if ((rc = gather(&o, lvall, lvl + i0, n, 1))) break;
    for (int64_t b = 0; b < n; b++)
      for (int r = 0; r < P; r++) lvl[i0 + b] |= lvall[(int64_t)r * n + b];
  }
  if (!rc) rc = lsce_opt_finish(loss, grad, gdt, c, Lrow, lvl);
  free(buf); free(Lrow); free(lvl); free(lvall); free(r1); free(a1); free(r2); free(a2); free(pr); free(gl);
  return rc;
}
