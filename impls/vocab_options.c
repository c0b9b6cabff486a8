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
 * The rows work in double: float64 rows fail their 2 ulps and take the reference (the CPU rows'
 * double-double path, optrows_f64.c, is not sharded). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/optrows.h"
#include "cpu/rowguard.h"
#include "optelem.h"
#include "lsce/problem.h"
#include "lsce/vocab_comm.h"

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
  double *x, *dx, *ch, *dch, *kap, *lq; /* K each, indexed by column */
} vctx;

/* the row's columns [c0, c1) transformed (optelem.h), with their largest dx, x' and relative x' bound */
static void shard_transform(vctx *o, int64_t i, lsce_opt_tacc *ta) {
  lsce_opt_tacc_init(ta);
  for (int64_t j = o->c0; j < o->c1; j++) {
    o->x[j] = lsce_opt_transform(&o->k, lsce_logit(o->p, i, j), &o->dx[j], &o->ch[j], &o->dch[j]);
    lsce_opt_tacc_push(ta, o->x[j], o->dx[j], o->ch[j], o->dch[j]);
  }
}

/* Sigmoid elements of this rank's (transformed) columns: their sum R, bound ER, largest weight and
 * -inf verdict into r; with tau >= 0 the gradient entries too, each checked against the declared
 * ulps (returns 0 when one misses) */
static int sig_shard(vctx *o, int64_t i, double f, rec1 *r, void *grad, double tau) {
  const lsce_problem *p = o->p;
  const int64_t K = p->K;
  const int want_g = grad && tau >= 0;
  int64_t y = p->soft ? -1 : lsce_target(p, i);
  int gok = 1, inf = 0;
  r->R = r->ER = r->wmax = 0;
  for (int64_t c = o->c0; c < o->c1; c++) {
    double w = lsce_weight(p, c);
    if (w > r->wmax) r->wmax = w;
    double wf = w * f;
    double t = p->soft ? lsce_soft_target(p, i, c) : (c == y ? 1.0 : 0.0);
    if (wf == 0) { if (want_g) lsce_st(grad, o->gdt, i * K + c, 0.0); continue; }
    double dg, g = lsce_opt_sig_elem(&dg, &r->R, &r->ER, &inf, &o->k, o->x[c], o->dx[c], o->ch[c], o->dch[c], wf, t,
                                     want_g);
    if (want_g) {
      lsce_st(grad, o->gdt, i * K + c, g);
      if (!lsce_guard_ok(g, dg, tau, o->gdt, o->bound.grad_ulp)) gok = 0;
    }
  }
  r->inf = inf;
  return gok;
}

/* every rank's n records of `sz` bytes: all[r * n + k] (rank order) */
static int gather(const vctx *o, void *all, const void *mine, int64_t n, size_t sz) {
  return o->cm->allgather(all, mine, (size_t)n * sz);
}

/* 1 on every rank when rc is nonzero on any (a collective: every rank calls it) */
static int agree(const vctx *o, int rc) {
  int all[o->cm->size];
  if (gather(o, all, &rc, 1, sizeof rc)) return 1;
  for (int r = 0; r < o->cm->size; r++) rc |= all[r];
  return rc != 0;
}

/* row i of the batch: computed by the rows (0), outside V or s_i = 0 (1), a NaN mean (2), deferred to
 * the reference (3: constants the rows do not take) */
static int row_kind(const vctx *o, int64_t i) {
  if (!lsce_row_in_V(o->p, o->p->variant, i)) return 1;
  if (o->k.nan_mean) return 2;
  if (lsce_sample_weight(o->p, i) == 0) return 1;
  return o->k.neg ? 3 : 0;
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
  double *Lrow = calloc(3 * (size_t)(N > 0 ? N : 1), sizeof(double)); /* (hi, lo, bound): optrows.h */
  unsigned char *lvl = calloc((size_t)(N > 0 ? N : 1), 1), *lvall = malloc((size_t)B * (size_t)P);
  rec1 *r1 = malloc(sizeof(rec1) * (size_t)B), *a1 = malloc(sizeof(rec1) * (size_t)B * (size_t)P);
  lsce_opt_terms *r2 = malloc(sizeof(lsce_opt_terms) * (size_t)B);
  lsce_opt_terms *a2 = malloc(sizeof(lsce_opt_terms) * (size_t)B * (size_t)P);
  lsce_opt_smrow *sm = malloc(sizeof(lsce_opt_smrow) * (size_t)B);
  int *smfail = malloc(sizeof(int) * (size_t)B);
  int rc = !buf || !Lrow || !lvl || !lvall || !r1 || !a1 || !r2 || !a2 || !sm || !smfail;
  rc = agree(&o, rc); /* the allocations' verdict: a rank that stopped alone would leave the others in gather() */
  if (!rc) {
    o.x = buf; o.dx = buf + nK; o.ch = o.dx + nK; o.dch = o.ch + nK; o.kap = o.dch + nK; o.lq = o.kap + nK;
  }
  for (int64_t i0 = 0; !rc && i0 < N; i0 += B) {
    const int64_t n = N - i0 < B ? N - i0 : B;
    /* step 1: the rows to compute (the same on every rank: they depend on no logit), their shard records */
    for (int64_t b = 0; b < n; b++) {
      const int64_t i = i0 + b;
      memset(&r1[b], 0, sizeof r1[b]);
      lsce_opt_stats_empty(&r1[b].st);
      lsce_opt_tacc_init(&r1[b].ta);
      const int kind = row_kind(&o, i);
      if (kind == 1 || kind == 2) { /* 0 (outside V, s_i = 0) or NaN (a NaN mean), as optrows.c's do_row */
        if (grad) for (int64_t j = o.c0; j < o.c1; j++) lsce_st(grad, gdt, i * K + j, kind == 2 ? NAN : 0.0);
        continue;
      }
      if (kind == 3) continue; /* deferred to the reference below */
      shard_transform(&o, i, &r1[b].ta);
      if (o.k.sig) sig_shard(&o, i, lsce_sample_weight(p, i) * o.k.inv_Dn, &r1[b], NULL, -1);
      else for (int64_t j = o.c0; j < o.c1; j++) lsce_opt_stats_push(&r1[b].st, o.x[j], j);
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
      if (o.k.sig || row_kind(&o, i) != 0) continue;
      const double Ksum = lsce_opt_kappas(&o.k, p, i, lsce_sample_weight(p, i) * o.k.inv_Dn, o.kap, o.lq);
      if ((smfail[b] = lsce_opt_sm_begin(&sm[b], &m->st, K, Ksum, &m->ta) != 0)) continue;
      shard_transform(&o, i, &(lsce_opt_tacc){0});
      for (int64_t j = o.c0; j < o.c1; j++)
        lsce_opt_terms_push(&r2[b], &o.k, o.kap[j], o.lq[j], o.x[j], o.dx[j], sm[b].m, sm[b].ls);
    }
    if (!o.k.sig && (rc = gather(&o, a2, r2, n, sizeof(lsce_opt_terms)))) break;
    /* step 3: the row's share and bound, this rank's gradient columns, the verdicts */
    for (int64_t b = 0; b < n; b++) {
      const int64_t i = i0 + b;
      lvl[i] = 0;
      const int kind = row_kind(&o, i);
      if (kind == 1 || kind == 2) continue;
      const double s = lsce_sample_weight(p, i), f = s * o.k.inv_Dn;
      const rec1 *m = &r1[b];
      double R = 0, E = 0;
      int ok;
      if (kind == 3) ok = -1;
      else if (o.k.sig) {
        ok = lsce_opt_sig_row(&R, &E, m->R, m->ER, (int)m->inf, K) ? -1 : 1;
        if (ok > 0 && grad) {
          const double tau = lsce_opt_sig_tau(m->ta.chmax, m->ta.chrel, m->wmax, f, gdt);
          rec1 mine;
          shard_transform(&o, i, &mine.ta);
          ok = sig_shard(&o, i, f, &mine, grad, tau);
        }
      } else if (smfail[b]) ok = -1;
      else {
        lsce_opt_smrow *r = &sm[b];
        lsce_opt_terms tm;
        lsce_opt_terms_init(&tm, r->Ksum * r->dX);
        for (int q = 0; q < P; q++) lsce_opt_terms_merge(&tm, &a2[(int64_t)q * n + b]);
        ok = lsce_opt_sm_loss(&R, &E, r, &o.k, K, s, &tm) ? -1 : 1;
        if (ok > 0 && grad) {
          lsce_opt_kappas(&o.k, p, i, f, o.kap, o.lq);
          shard_transform(&o, i, &(lsce_opt_tacc){0});
          lsce_opt_sm_gcoef(r, &o.k, K, s, gdt);
          for (int64_t j = o.c0; j < o.c1; j++) {
            double dg, g = lsce_opt_sm_gentry(&dg, &ok, r, &o.k, o.x[j], o.dx[j], o.ch[j], o.dch[j], o.kap[j],
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
  if (!rc) rc = agree(&o, lsce_cpu_options_finish(loss, grad, gdt, c, &o.k, Lrow, lvl)); /* each rank's reference rung */
  free(buf); free(Lrow); free(lvl); free(lvall); free(r1); free(a1); free(r2); free(a2); free(sm); free(smfail);
  return rc;
}
