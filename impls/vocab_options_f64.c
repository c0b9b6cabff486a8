/* impls/vocab_options_f64.c: mpi_vocab_parallel on issue #15's options for float64 logits, vocabulary-
 * parallel in double-double: rank r of P holds the classes [c0, c1) = lsce_row_block(K, r, P) and
 * computes their parts of each row with the pieces of the CPU rows' float64 path (cpu/optrows_f64.c,
 * lsce_of64_*: the same values and the same a-posteriori bounds), so a float64 result meets the float64
 * bounds (2 ulps loss, 4 ulps gradient) as the CPU rows do, without the reference.
 * Claim: every output meets the row's declared bound, or the row takes the certified reference's values
 * (LSCE_ROW_REFERENCE=0: flagged), as on the CPU rows.
 *
 * The schedule, per block of rows (impls/vocab_options.c's, with optrows_f64.c's rungs):
 *   rung 0 (acc 0, the exps of combiner.h lsce_exp_pair, 2^-58):
 *     1. each rank its shard's double-double statistics (m, s1, online; sigmoid: its elements' sums) and
 *        the transform's largest dx and chain factors; gathered and merged on every rank in rank (=
 *        class) order, each merge one accurate exp counted as a rebase: the same merge and the same
 *        bound as cpu_sharded's slices (optrows_f64.c dstats_row), the shards being the slices;
 *     2. softmax: kappa' over all K columns on every rank (their sum in class order, the same number on
 *        every rank); with the merged statistics each rank its columns' terms; gathered and merged in
 *        rank order (sums of nonnegative terms, or of H bounded by sum |h|: bounds that hold for any
 *        grouping); the row's share and bound (the z term from the merged lse);
 *     3. each rank its gradient columns, each entry checked against the declared ulps; the entries
 *        that miss are kept in a list.
 *     The verdicts (loss, gradient, row not vouched for) OR-ed over the ranks.
 *   rung 1 (acc 1, lsce_dd_exp, 2^-97), the rows any rank flagged: the statistics again with the
 *     accurate exp (gathered, merged); a row whose gradient alone missed recomputes only the listed
 *     entries (optrows_f64.c's per-entry rung); a row whose loss missed, or that could not be vouched
 *     for, is recomputed whole (its loss and every gradient column: the whole-row rung).
 *   rung 2: what still misses takes the reference (lsce_cpu_options_finish), each row's verdict OR-ed
 *     over the ranks so that every rank takes the same rows.
 * Every rank forms the same shares (the same merged records in the same order), so the same loss.
 * Each row of a block keeps its shard's columns (lsce_of64_buf_range: x, x', their bounds, kappa', log q;
 * for the sigmoid its gradient entries and their bounds), so each row is transformed and its kappa'
 * formed once, and rung 1 reads them again. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/optrows.h"
#include "cpu/optrows_f64.h"
#include "cpu/rowguard.h"
#include "lsce/problem.h"
#include "lsce/vocab_comm.h"

/* step 1's record of one row on one rank */
typedef struct {
  lsce_of64_stats st;
  lsce_of64_tacc ta;
  lsce_of64_sig sg;
} rec1;


/* fl bits of a row after rung 0: 1 the loss (none) missed, 2 a gradient entry missed, 4 not vouched for */
int lsce_vocab_options_f64(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_vocab_comm *cm) {
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int64_t N = p->N, K = p->K;
  const int P = cm->size, none = p->reduction == LSCE_RED_NONE;
  lsce_opt_consts k;
  lsce_opt_consts_dd kd;
  lsce_options_consts_dd(&k, &kd, p);
  const lsce_bound bound = lsce_guard_bound(c->dtype);
  const lsce_dtype LT = lsce_guard_loss_dtype(c->dtype);
  const lsce_of64_ctx fc = {.p = p, .k = &k, .kd = &kd, .online = 1, .slice = 0, .gdt = gdt,
                            .grad_ulp = bound.grad_ulp};
  int64_t c0, c1;
  lsce_row_block(K, cm->rank, P, &c0, &c1);
  /* rows per exchange: each row of a block keeps its shard's columns (lsce_of64_buf_range, about
   * 104 bytes a column), so that each is transformed once and its kappa' formed once; blocks cut to
   * keep these under 8 MiB. B depends on K and P only (the widest shard): the same on every rank. */
  const int64_t wmax = (K + P - 1) / P;
  int64_t B = ((int64_t)8 << 20) / (104 * (wmax > 0 ? wmax : 1));
  if (B > 256) B = 256;
  if (B < 1) B = 1;
  const size_t nB = (size_t)B, nP = (size_t)P;
  void **bufs = calloc(nB, sizeof(void *));
  lsce_of64_tacc *tal = malloc(sizeof(lsce_of64_tacc) * nB); /* this rank's transform maxima, per row */
  double *Lrow = calloc(3 * (size_t)(N > 0 ? N : 1), sizeof(double)); /* (hi, lo, bound): optrows.h */
  unsigned char *lvl = calloc((size_t)(N > 0 ? N : 1), 1), *fl = malloc(nB), *flall = malloc(nB * nP);
  rec1 *r1 = malloc(sizeof(rec1) * nB), *a1 = malloc(sizeof(rec1) * nB * nP);
  lsce_of64_terms *r2 = malloc(sizeof(lsce_of64_terms) * nB), *a2 = malloc(sizeof(lsce_of64_terms) * nB * nP);
  lsce_of64_sm *sm = malloc(sizeof(lsce_of64_sm) * nB);
  unsigned char *smfail = malloc(nB);
  int64_t *bad = NULL; /* (row in block, column) of the entries rung 0 could not vouch for */
  size_t nbad = 0, capbad = 0;
  int rc = !bufs || !tal || !Lrow || !lvl || !fl || !flall || !r1 || !a1 || !r2 || !a2 || !sm || !smfail;
  for (int64_t b = 0; !rc && b < B; b++) rc = !(bufs[b] = lsce_of64_buf_range(c0, c1));
  rc = lsce_vocab_agree(cm, rc); /* the allocations' verdict: a rank that stopped alone would leave the others waiting */
  for (int64_t i0 = 0; !rc && i0 < N; i0 += B) {
    const int64_t n = N - i0 < B ? N - i0 : B;
    nbad = 0;
    memset(fl, 0, (size_t)n);
    for (int acc = 0; !rc && acc <= 1; acc++) {
      if (acc == 1) {
        int any = 0;
        for (int64_t b = 0; b < n; b++) any |= fl[b];
        if (!any) break; /* the same on every rank: fl is OR-ed over the ranks */
      }
      /* step 1: this rank's records of the rows of this rung */
      for (int64_t b = 0; b < n; b++) {
        const int64_t i = i0 + b;
        const int kind = lsce_opt_row_kind(p, &k, i);
        void *fb = bufs[b];
        memset(&r1[b], 0, sizeof r1[b]); /* its padding too: the record travels as bytes */
        lsce_of64_stats_range(&r1[b].st, fb, c0, c0, 1, acc); /* empty */
        lsce_of64_sig_init(&r1[b].sg);
        if (acc == 0 && kind != 0) {
          if ((kind == LSCE_OPT_ROW_ZERO || kind == LSCE_OPT_ROW_NAN) && grad)
            for (int64_t j = c0; j < c1; j++) lsce_st(grad, gdt, i * K + j, kind == LSCE_OPT_ROW_NAN ? NAN : 0.0);
          if (kind == LSCE_OPT_ROW_DEFER) { lvl[i] = 1 | (grad ? 2 : 0); Lrow[3 * i] = NAN; Lrow[3 * i + 2] = INFINITY; }
          continue;
        }
        if (acc == 1 && !fl[b]) continue;
        /* sigmoid: the elements' sums, and the gradient entries written and kept for step 3 */
        if (k.sig) {
          lsce_of64_sig_range(&r1[b].sg, &fc, fb, i, c0, c1, lsce_sample_weight(p, i), grad, acc);
          continue;
        }
        if (acc == 0) { /* the transform, once: rung 1 reads it again */
          lsce_of64_tacc ta = {0, 0, 0};
          lsce_of64_transform(&fc, fb, i, c0, c1, &ta);
          tal[b] = ta;
        }
        r1[b].ta = tal[b];
        lsce_of64_stats_range(&r1[b].st, fb, c0, c1, 1, acc);
      }
      if ((rc = cm->allgather(a1, r1, (size_t)n * sizeof(rec1)))) break;
      for (int64_t b = 0; b < n; b++) { /* merged in rank (= class) order into r1[b] */
        r1[b] = a1[b];
        for (int r = 1; r < P; r++) {
          const rec1 *q = &a1[(int64_t)r * n + b];
          lsce_of64_stats_merge(&r1[b].st, &q->st);
          lsce_of64_tacc_merge(&r1[b].ta, &q->ta);
          lsce_of64_sig_merge(&r1[b].sg, &q->sg);
        }
      }
      /* step 2 (softmax): the row's constants, this rank's parts of the loss terms */
      if (!k.sig) {
        for (int64_t b = 0; b < n; b++) {
          const int64_t i = i0 + b;
          memset(&r2[b], 0, sizeof r2[b]);
          lsce_of64_terms_init(&r2[b], 0.0);
          smfail[b] = 1;
          if (acc == 0 ? lsce_opt_row_kind(p, &k, i) != LSCE_OPT_ROW_COMPUTED : !fl[b]) continue;
          void *fb = bufs[b];
          /* kappa' once (their sum over all K; this shard's kept): rung 1 reads them again */
          if (acc == 0) sm[b].Ksd = lsce_of64_kappas(&fc, i, fb);
          smfail[b] = lsce_of64_sm_begin(&sm[b], &r1[b].st, sm[b].Ksd, &r1[b].ta, K, acc) != 0;
          if (smfail[b] || (acc == 1 && !(fl[b] & 5))) continue; /* rung 1 for the gradient alone: no loss */
          lsce_of64_terms_range(&r2[b], &fc, fb, &sm[b], c0, c1);
        }
        if ((rc = cm->allgather(a2, r2, (size_t)n * sizeof(lsce_of64_terms)))) break;
      }
      /* step 3: the row's share and bound, this rank's gradient columns, the verdicts */
      size_t qb = 0; /* the cursor in the list of missed entries (rung 1) */
      for (int64_t b = 0; b < n; b++) {
        const int64_t i = i0 + b;
        if (acc == 0 ? lsce_opt_row_kind(p, &k, i) != LSCE_OPT_ROW_COMPUTED : !fl[b]) continue;
        const double s = lsce_sample_weight(p, i);
        void *fb = bufs[b];
        const int whole = acc == 0 || (fl[b] & 5); /* the loss and every column at this rung */
        int rowfail = 0, gbad = 0, lost = 0; /* lost: the list of missed entries could not grow */
        lsce_dd R = lsce_dd_from(0.0);
        double E = 0;
        if (k.sig) {
          if (whole) rowfail = lsce_of64_sig_share(&R, &E, &r1[b].sg, K, s) != 0;
          if (!rowfail && grad) gbad = !lsce_of64_sig_check(&r1[b].sg, &fc, fb, c0, c1, s);
        } else if (smfail[b]) rowfail = 1;
        else {
          lsce_of64_sm *r = &sm[b];
          if (whole) {
            lsce_of64_terms tm;
            lsce_of64_terms_init(&tm, r->Ksum * r->dX);
            for (int q = 0; q < P; q++) lsce_of64_terms_merge(&tm, &a2[(int64_t)q * n + b]);
            rowfail = lsce_of64_sm_loss(&R, &E, r, &fc, K, &tm, s) != 0;
          }
          if (!rowfail && grad) {
            lsce_of64_sm_gcoef(r, &fc, K, s, 1);
            /* rung 1 for the gradient alone: the listed entries of row b only */
            size_t q0 = qb;
            int64_t cnt = c1 - c0;
            if (!whole) {
              while (qb < nbad && bad[2 * qb] < b) qb++;
              for (q0 = qb; qb < nbad && bad[2 * qb] == b;) qb++;
              cnt = (int64_t)(qb - q0);
            }
            for (int64_t t = 0; t < cnt; t++) {
              const int64_t j = whole ? c0 + t : bad[2 * (q0 + (size_t)t) + 1];
              double dg, gd = lsce_of64_sm_gentry(&dg, r, &fc, fb, i, j, acc, s, grad);
              if (lsce_guard_ok(gd, dg, r->tau, gdt, bound.grad_ulp)) continue;
              gbad = 1;
              if (acc == 0) {
                if (nbad == capbad) {
                  size_t nc = capbad ? 2 * capbad : 1024;
                  int64_t *nb = realloc(bad, sizeof(int64_t) * 2 * nc);
                  if (!nb) { lost = 1; break; } /* the whole row climbs instead (no rank stops alone) */
                  bad = nb; capbad = nc;
                }
                bad[2 * nbad] = b; bad[2 * nbad + 1] = j; nbad++;
              }
            }
            if (lost) break;
          }
        }
        if (acc == 0) {
          if (rowfail || lost) { fl[b] = 4; continue; }
          Lrow[3 * i] = R.hi; Lrow[3 * i + 1] = R.lo; Lrow[3 * i + 2] = E;
          if (none && !(isinf(R.hi) && E == 0) && !lsce_guard_ok(R.hi, E, 0.0, LT, bound.loss_ulp)) fl[b] |= 1;
          if (grad && gbad) fl[b] |= 2;
          continue;
        }
        lvl[i] |= 4;
        if (rowfail) { lvl[i] |= 1 | (grad ? 2 : 0); Lrow[3 * i] = NAN; Lrow[3 * i + 1] = 0; Lrow[3 * i + 2] = INFINITY; continue; }
        if (whole) {
          Lrow[3 * i] = R.hi; Lrow[3 * i + 1] = R.lo; Lrow[3 * i + 2] = E;
          if (none && !(isinf(R.hi) && E == 0) && !lsce_guard_ok(R.hi, E, 0.0, LT, bound.loss_ulp)) lvl[i] |= 1;
        }
        if (grad && gbad) lvl[i] |= 2;
      }
      if (rc) break;
      if (acc == 0) { /* the verdicts OR-ed over the ranks: every rank climbs for the same rows */
        if ((rc = cm->allgather(flall, fl, (size_t)n))) break;
        for (int64_t b = 0; b < n; b++)
          for (int r = 0; r < P; r++) fl[b] |= flall[(int64_t)r * n + b];
      }
    }
    /* the final verdicts OR-ed over the ranks: a row any rank cannot vouch for takes the reference on all */
    if (!rc && (rc = cm->allgather(flall, lvl + i0, (size_t)n))) break;
    for (int64_t b = 0; !rc && b < n; b++)
      for (int r = 0; r < P; r++) lvl[i0 + b] |= flall[(int64_t)r * n + b];
  }
  if (!rc) rc = lsce_vocab_agree(cm, lsce_cpu_options_finish(loss, grad, gdt, c, &k, Lrow, lvl)); /* each rank's reference rung */
  for (int64_t b = 0; bufs && b < B; b++) free(bufs[b]);
  free(bufs); free(tal); free(Lrow); free(lvl); free(fl); free(flall); free(r1); free(a1); free(r2); free(a2); free(sm);
  free(smfail); free(bad);
  return rc;
}
