/* impls/vocab_options.c: mpi_vocab_parallel on issue #15's options and the sigmoid family
 * (docs/formulations.md "Options and the sigmoid family"), vocabulary-parallel: rank r of P holds
 * the classes [c0, c1) = lsce_row_block(K, r, P) and transforms, exponentiates and differentiates
 * only those. Claim: every output meets the row's declared bound (lsce_target_bounds, as the CPU
 * rows), or the row takes the certified reference's values (LSCE_ROW_REFERENCE=0: flagged).
 *
 * Every number and every bound is impls/optelem.h's, the functions the CPU rows (cpu/optrows.c)
 * and the CUDA rows call; what is this file's is the schedule over the ranks, per row:
 *   softmax: 1. each rank its shard's statistics (m_r, s1_r, online), its largest dx, chain factor
 *            and relative chain bound; gathered, merged on every rank in rank (= class) order by
 *            lsce_opt_stats_merge (one rebase counted per merge, as cpu_sharded's shards and the CUDA
 *            rows' tree count them);
 *            2. with the global m and ls = log1p(s1) (lsce_opt_sm_begin), each rank its columns'
 *            parts of the loss sums (lsce_opt_terms_push); gathered and merged in rank order. Every
 *            sum there is a sum of nonnegative terms (or of H, bounded by sum |h|) whose bound holds
 *            in any order of summation, the shard parts included. The z-loss needs the global lse,
 *            so its term zq s_i lse^2 enters in lsce_opt_sm_loss after the merge;
 *            3. each rank its columns of the gradient x'_j (Kz p_j - kappa'_j) with the same bound
 *            and acceptance test (lsce_opt_sm_gentry).
 *   sigmoid: no cross-shard softmax: each rank its columns' elements and their bounds
 *            (lsce_opt_sig_elem), gathered and summed; the gradient is local, checked against the
 *            global sigma_i floor (max x' and max w_c over every shard, lsce_opt_sig_tau).
 * kappa'_c depends on the targets and weights only; every rank forms the row's K values
 * (lsce_opt_kappas), so their sum is the same number on every rank. Sample weights and the
 * normalizer enter through kappa' (s_i / D) and the z factor. The rows' shares and bounds then go
 * through optrows.c's reduction and reference ladder (lsce_cpu_options_finish), with each row's
 * verdict OR-ed over the ranks, so every rank takes the same rows from the reference. Every rank
 * therefore forms the same loss (rank 0's is broadcast by the caller) and its own gradient columns.
 * The rows work in double; float64 logits go to impls/vocab_options_f64.c (the CPU rows' double-double
 * pieces, optrows_f64.c, per shard). Each row's shard is transformed once, in step 1, into a buffer
 * of the block's rows (x, dx, x', dx', then kappa' and log q, or the sigmoid's gradient entries and
 * their bounds), which steps 2 and 3 read: every value is the one the row computed before (the same
 * functions on the same inputs), so the outputs are bit for bit those of transforming in each step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/optrows.h"
#include "cpu/rowguard.h"
#include "optelem.h"
#include "lsce/problem.h"
#include "lsce/vocab_comm.h"

/* the block buffer's size: rows per exchange are cut to keep 6 doubles per column under it */
#define VO_BLK_BYTES ((int64_t)8 << 20)

/* step 1's record of one row on one rank (softmax: the statistics; sigmoid: the elements' sums) */
typedef struct {
  lsce_opt_stats st;
  lsce_opt_tacc ta;
  double R, ER, wmax;
  int64_t inf;
} rec1;

typedef struct {
  const lsce_problem *p;
  lsce_opt_consts k;
  const lsce_vocab_comm *cm;
  int64_t c0, c1;
  lsce_dtype LT, gdt;
  lsce_bound bound;
  int64_t w;                             /* c1 - c0 */
  double *blk;                           /* the block's rows: 6 w each (row_at) */
  double *kfull, *lqfull;                /* K each: one row's kappa' and log q over every class */
  double *x, *dx, *ch, *dch, *kap, *lq;  /* the current row's slice of blk, index j - c0 */
} vctx;

/* row b of the block: its transformed columns, their kappa' and log q (softmax) or their gradient
 * entries and bounds (sigmoid), w each, indexed j - c0 */
static void row_at(vctx *o, int64_t b) {
  double *r = o->blk + (size_t)b * 6 * (size_t)o->w;
  o->x = r; o->dx = r + o->w; o->ch = o->dx + o->w; o->dch = o->ch + o->w; o->kap = o->dch + o->w;
  o->lq = o->kap + o->w;
}

/* the row's columns [c0, c1) transformed (optelem.h), with their largest dx, x' and relative x' bound */
static void shard_transform(vctx *o, int64_t i, lsce_opt_tacc *ta) {
  lsce_opt_tacc_init(ta);
  for (int64_t j = o->c0; j < o->c1; j++) {
    const int64_t q = j - o->c0;
    o->x[q] = lsce_opt_transform(&o->k, lsce_logit(o->p, i, j), &o->dx[q], &o->ch[q], &o->dch[q]);
    lsce_opt_tacc_push(ta, o->x[q], o->dx[q], o->ch[q], o->dch[q]);
  }
}

/* Sigmoid elements of this rank's (transformed) columns: their sum R, bound ER, largest weight and
 * -inf verdict into r; with want_g the gradient entries and their bounds too, kept in the row's kap
 * and lq slots (a zero weight: bound NaN, the entry exactly 0) for sig_grad */
static void sig_shard(vctx *o, int64_t i, double f, rec1 *r, int want_g) {
  const lsce_problem *p = o->p;
  int64_t y = p->soft ? -1 : lsce_target(p, i);
  int inf = 0;
  r->R = r->ER = r->wmax = 0;
  for (int64_t c = o->c0; c < o->c1; c++) {
    const int64_t q = c - o->c0;
    double w = lsce_weight(p, c);
    if (w > r->wmax) r->wmax = w;
    double wf = w * f;
    double t = p->soft ? lsce_soft_target(p, i, c) : (c == y ? 1.0 : 0.0);
    if (wf == 0) { if (want_g) { o->kap[q] = 0.0; o->lq[q] = NAN; } continue; }
    double dg, g = lsce_opt_sig_elem(&dg, &r->R, &r->ER, &inf, &o->k, o->x[q], o->dx[q], o->ch[q], o->dch[q], wf, t,
                                     want_g);
    if (want_g) { o->kap[q] = g; o->lq[q] = dg; }
  }
  r->inf = inf;
}

/* the kept gradient entries written, each checked against the declared ulps with the row's floor tau
 * (returns 0 when one misses) */
static int sig_grad(vctx *o, int64_t i, void *grad, double tau) {
  int gok = 1;
  for (int64_t c = o->c0; c < o->c1; c++) {
    const int64_t q = c - o->c0;
    lsce_st(grad, o->gdt, i * o->p->K + c, o->kap[q]);
    if (!isnan(o->lq[q]) && !lsce_guard_ok(o->kap[q], o->lq[q], tau, o->gdt, o->bound.grad_ulp)) gok = 0;
  }
  return gok;
}

/* every rank's n records of `sz` bytes: all[r * n + k] (rank order) */
static int gather(const vctx *o, void *all, const void *mine, int64_t n, size_t sz) {
  return o->cm->allgather(all, mine, (size_t)n * sz);
}


/* float64 logits: the double-double schedule of impls/vocab_options_f64.c */
int lsce_vocab_options_f64(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_vocab_comm *cm);

int lsce_vocab_options(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_vocab_comm *cm) {
  if (c->dtype == LSCE_DT_F64) return lsce_vocab_options_f64(loss, grad, gdt, c, cm);
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int64_t N = p->N, K = p->K;
  const int P = cm->size, none = p->reduction == LSCE_RED_NONE;
  vctx o = {.p = p, .cm = cm, .LT = lsce_guard_loss_dtype(c->dtype), .gdt = gdt, .bound = lsce_guard_bound(c->dtype)};
  lsce_options_consts(&o.k, p);
  lsce_row_block(K, cm->rank, P, &o.c0, &o.c1);
  o.w = o.c1 - o.c0;
  /* rows per exchange: the records of a block travel together; the block's transformed shards are
   * kept (6 doubles a column, about VO_BLK_BYTES in all), so each row is transformed once and its
   * kappa' formed once. B depends on K and P only (the widest shard), the same on every rank. */
  const int64_t wmax = (K + P - 1) / P;
  int64_t B = VO_BLK_BYTES / (6 * (int64_t)sizeof(double) * (wmax > 0 ? wmax : 1));
  if (B > 256) B = 256;
  if (B < 1) B = 1;
  const size_t nK = (size_t)(K > 0 ? K : 1);
  double *kbuf = malloc(sizeof(double) * nK * 2);
  double *blk = malloc(sizeof(double) * 6 * (size_t)(o.w > 0 ? o.w : 1) * (size_t)B);
  double *Lrow = calloc(3 * (size_t)(N > 0 ? N : 1), sizeof(double)); /* (hi, lo, bound): optrows.h */
  unsigned char *lvl = calloc((size_t)(N > 0 ? N : 1), 1), *lvall = malloc((size_t)B * (size_t)P);
  rec1 *r1 = malloc(sizeof(rec1) * (size_t)B), *a1 = malloc(sizeof(rec1) * (size_t)B * (size_t)P);
  lsce_opt_terms *r2 = malloc(sizeof(lsce_opt_terms) * (size_t)B);
  lsce_opt_terms *a2 = malloc(sizeof(lsce_opt_terms) * (size_t)B * (size_t)P);
  lsce_opt_smrow *sm = malloc(sizeof(lsce_opt_smrow) * (size_t)B);
  int *smfail = malloc(sizeof(int) * (size_t)B);
  int rc = !kbuf || !blk || !Lrow || !lvl || !lvall || !r1 || !a1 || !r2 || !a2 || !sm || !smfail;
  rc = lsce_vocab_agree(o.cm, rc); /* the allocations' verdict: a rank that stopped alone would leave the others in gather() */
  if (!rc) { o.blk = blk; o.kfull = kbuf; o.lqfull = kbuf + nK; }
  for (int64_t i0 = 0; !rc && i0 < N; i0 += B) {
    const int64_t n = N - i0 < B ? N - i0 : B;
    /* step 1: the rows to compute (the same on every rank: they depend on no logit), their shard
     * transformed into the block buffer, their records */
    for (int64_t b = 0; b < n; b++) {
      const int64_t i = i0 + b;
      memset(&r1[b], 0, sizeof r1[b]);
      lsce_opt_stats_empty(&r1[b].st);
      lsce_opt_tacc_init(&r1[b].ta);
      const int kind = lsce_opt_row_kind(p, &o.k, i);
      if (kind == LSCE_OPT_ROW_ZERO || kind == LSCE_OPT_ROW_NAN) { /* 0 (outside V, s_i = 0) or NaN (a NaN mean), as optrows.c's do_row */
        if (grad) for (int64_t j = o.c0; j < o.c1; j++) lsce_st(grad, gdt, i * K + j, kind == LSCE_OPT_ROW_NAN ? NAN : 0.0);
        continue;
      }
      if (kind == LSCE_OPT_ROW_DEFER) continue; /* deferred to the reference below */
      row_at(&o, b);
      shard_transform(&o, i, &r1[b].ta);
      if (o.k.sig) sig_shard(&o, i, lsce_sample_weight(p, i) * o.k.inv_Dn, &r1[b], grad != NULL);
      else for (int64_t j = o.c0; j < o.c1; j++) lsce_opt_stats_push(&r1[b].st, o.x[j - o.c0], j);
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
        lsce_opt_tacc_merge(&m->ta, &q->ta);
        m->R += q->R; m->ER += q->ER; m->wmax = fmax(m->wmax, q->wmax); m->inf |= q->inf;
      }
      memset(&r2[b], 0, sizeof r2[b]); /* its padding too: the record travels as bytes */
      lsce_opt_terms_init(&r2[b], 0.0);
      smfail[b] = 0;
      if (o.k.sig || lsce_opt_row_kind(p, &o.k, i) != LSCE_OPT_ROW_COMPUTED) continue;
      row_at(&o, b);
      const double Ksum = lsce_opt_kappas(&o.k, p, i, lsce_sample_weight(p, i) * o.k.inv_Dn, o.kfull, o.lqfull);
      if (o.w > 0) {
        memcpy(o.kap, o.kfull + o.c0, sizeof(double) * (size_t)o.w);
        memcpy(o.lq, o.lqfull + o.c0, sizeof(double) * (size_t)o.w);
      }
      if ((smfail[b] = lsce_opt_sm_begin(&sm[b], &m->st, K, Ksum, &m->ta) != 0)) continue;
      for (int64_t q = 0; q < o.w; q++)
        lsce_opt_terms_push(&r2[b], &o.k, o.kap[q], o.lq[q], o.x[q], o.dx[q], sm[b].m, sm[b].ls);
    }
    if (!o.k.sig && (rc = gather(&o, a2, r2, n, sizeof(lsce_opt_terms)))) break;
    /* step 3: the row's share and bound, this rank's gradient columns, the verdicts */
    for (int64_t b = 0; b < n; b++) {
      const int64_t i = i0 + b;
      lvl[i] = 0;
      const int kind = lsce_opt_row_kind(p, &o.k, i);
      if (kind == LSCE_OPT_ROW_ZERO || kind == LSCE_OPT_ROW_NAN) continue;
      const double s = lsce_sample_weight(p, i), f = s * o.k.inv_Dn;
      const rec1 *m = &r1[b];
      double R = 0, E = 0;
      int ok;
      row_at(&o, b);
      if (kind == LSCE_OPT_ROW_DEFER) ok = -1;
      else if (o.k.sig) {
        ok = lsce_opt_sig_row(&R, &E, m->R, m->ER, (int)m->inf, K) ? -1 : 1;
        if (ok > 0 && grad) ok = sig_grad(&o, i, grad, lsce_opt_sig_tau(m->ta.chmax, m->ta.chrel, m->wmax, f, gdt));
      } else if (smfail[b]) ok = -1;
      else {
        lsce_opt_smrow *r = &sm[b];
        lsce_opt_terms tm;
        lsce_opt_terms_init(&tm, r->Ksum * r->dX);
        for (int q = 0; q < P; q++) lsce_opt_terms_merge(&tm, &a2[(int64_t)q * n + b]);
        ok = lsce_opt_sm_loss(&R, &E, r, &o.k, K, s, &tm) ? -1 : 1;
        if (ok > 0 && grad) {
          lsce_opt_sm_gcoef(r, &o.k, K, s, gdt);
          for (int64_t j = o.c0; j < o.c1; j++) {
            const int64_t q = j - o.c0;
            double dg, g = lsce_opt_sm_gentry(&dg, &ok, r, &o.k, o.x[q], o.dx[q], o.ch[q], o.dch[q], o.kap[q],
                                              j == r->jm, gdt, o.bound.grad_ulp);
            lsce_st(grad, gdt, i * K + j, g);
          }
        }
      }
      if (ok < 0) { lvl[i] = 1 | (grad ? 2 : 0); Lrow[3 * i] = NAN; Lrow[3 * i + 2] = INFINITY; continue; }
      Lrow[3 * i] = R;
      Lrow[3 * i + 2] = E;
      if (none && !(isinf(R) && E == 0) && !lsce_guard_ok(R, E, 0.0, o.LT, o.bound.loss_ulp)) lvl[i] |= 1;
      if (grad && !ok) lvl[i] |= 2;
    }
    /* the verdicts OR-ed over the ranks: a row any rank cannot vouch for takes the reference on all */
    if ((rc = gather(&o, lvall, lvl + i0, n, 1))) break;
    for (int64_t b = 0; b < n; b++)
      for (int r = 0; r < P; r++) lvl[i0 + b] |= lvall[(int64_t)r * n + b];
  }
  if (!rc) rc = lsce_vocab_agree(o.cm, lsce_cpu_options_finish(loss, grad, gdt, c, &o.k, Lrow, lvl)); /* each rank's reference rung */
  free(kbuf); free(blk); free(Lrow); free(lvl); free(lvall); free(r1); free(a1); free(r2); free(a2); free(sm);
  free(smfail);
  return rc;
}
