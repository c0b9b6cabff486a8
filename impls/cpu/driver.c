/* impls/cpu/driver.c: runs stats and gradient kernels over the rows (threads over rows, or over the
 * slices of one row when rows are few), merges slice statistics, and reduces the loss in
 * double-double in row order, so the result does not depend on the thread count. With kernels that
 * can keep a row's exps (the SIMD ones), the gradient sweep reuses them: the same values, computed
 * once. Every row's result is checked against its own error bound and escalated when that bound
 * cannot guarantee the declared one (rowguard.h); Lrow holds (hi, lo, bound) per row. Kernels with a
 * cheaper first-pass exp name their accurate twins (acc_stats, acc_grad): a row whose bound falls
 * short with the cheap exp is recomputed by those first (lvl bit 32), then climbs the ladder.
 * Narrow rows first take the float32 pass or the double single pass (simd_dblone.inc), as a
 * predictor says (first_pass below); a row the float32 pass could not certify takes the double single
 * pass next (its row in cache), then the accurate kernels: every pass carries its own bound. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/kernels.h"
#include "cpu/rowguard.h"
#include "lsce/config.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static void zero_row(void *grad, lsce_dtype gdt, int64_t i, int64_t K) {
  for (int64_t j = 0; j < K; j++) lsce_st(grad, gdt, i * K + j, 0.0);
}

/* statistics of row i over slices of `slice` classes, merged in class order */
static void row_stats(lsce_rowstats *st, const lsce_call *c, const lsce_kernels *k, int64_t i, int64_t slice) {
  const int64_t K = c->K;
  if (slice <= 0 || slice >= K) { k->stats(st, c, i, 0, K); return; }
  lsce_stats_empty(st);
  for (int64_t c0 = 0; c0 < K; c0 += slice) {
    lsce_rowstats part;
    k->stats(&part, c, i, c0, c0 + slice < K ? c0 + slice : K);
    lsce_stats_merge(st, &part, c->dd);
  }
}

/* Would the float32 pass's statistics of this row have been certified? The row's bound with the
 * exp_rel that pass would have recorded for these s1 and K (simd_f32pass.inc pass_finish: its single
 * pass's exp error at |m| (its minimum unknown here) and pair sums (beta u32), F within 2^-52; its
 * t_abs left out): a prediction for the next rows (first_pass), never a verdict on a row. */
static int f32_would_pass(lsce_dtype gdt, const lsce_call *c, int64_t i, const lsce_rowcoef *rc,
                          const lsce_rowstats *st, const lsce_gradcoef *g, lsce_dd L, double gmax) {
  lsce_rowstats s32 = *st;
  const double u = LSCE_U53, n = (double)st->Kf, s1 = lsce_dd_to_d(st->s1);
  const double e32 = lsce_exp_rel_f32(fabs(st->m), 0);
  const double rho = e32 + 0x1p-24 * (1 + e32) + (n + 3) * u + 0x1p-52 + u;
  if (!(s1 > 0)) return 0;
  s32.exp_rel = (rho * (1 + s1) + u * s1) / (1 - rho) / s1;
  return lsce_guard_fast_ok(gdt, c, i, rc, &s32, g, L, gmax);
}

/* The kernels of the double single pass first (kernels.h stats_one): its accurate rung as k's; with a
 * gradient (grad_dbl), rows without kept exps keep k's statistics (the driver's stats_dbl) */
static lsce_kernels one_kernels(const lsce_kernels *k, int grad_dbl) {
  lsce_kernels o = {grad_dbl ? k->stats : k->stats_one, k->grad, k->stats_keep_one, k->grad_reuse,
                    k->acc_stats, k->acc_grad, k->stats_dbl, NULL, NULL, NULL};
  return o;
}

/* A row's coefficients and loss from its statistics (finish_row's first half): what its gradient sweep
 * needs, and whether the loss alone already fails a cheaper first pass's bound */
typedef struct {
  lsce_rowcoef rc;
  lsce_dd L;
  lsce_gradcoef g; /* set where grad && !loss_bad */
  int cheap, loss_bad;
} row_head;

static void row_begin(row_head *h, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_kernels *k, int64_t i,
                      const lsce_rowstats *st) {
  const lsce_params *p = c->prm;
  int64_t y = c->targets[i];
  h->rc = lsce_row_coef(p, y, c->weights);
  h->L = lsce_row_loss(p, &h->rc, st);
  /* a cheaper first pass (st->exp_rel) whose loss alone already fails its bound: the row goes to the
   * next rung, which sweeps the gradient again, so this pass's sweep is skipped (a row of the float32
   * pass that its predictor misjudged then costs one read of the row, not a read and a sweep) */
  h->cheap = k->acc_stats && st->exp_rel > 0;
  h->loss_bad = h->cheap && grad && !lsce_guard_fast_ok(gdt, c, i, &h->rc, st, NULL, h->L, 0.0);
  if (grad && !h->loss_bad) h->g = lsce_grad_coef(p, &h->rc, st, y, c->weights, lsce_weighted_u(p));
  else memset(&h->g, 0, sizeof h->g); /* not used: a defined value to copy */
}

static void row_end(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c,
                    const lsce_kernels *k, int64_t i, const lsce_rowstats *st, row_head *h, double gmax,
                    int par_slices, int64_t slice, int threads, double *e, int *f32ok);

/* f32ok (NULL: none asked): set to whether the float32 pass certified this row, or would have
 * (f32_would_pass), for the predictor (first_pass) */
static void finish_row(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c,
                       const lsce_kernels *k, int64_t i, const lsce_rowstats *st, int par_slices,
                       int64_t slice, int threads, double *e, int kept, int *f32ok) {
  row_head h;
  row_begin(&h, grad, gdt, c, k, i, st);
  const lsce_gradcoef g = h.g;
  double gmax = 0;
  if (grad && !h.loss_bad) {
    const int64_t K = c->K;
    if (par_slices) {
      int64_t ns = (K + slice - 1) / slice;
      double *gm = malloc(sizeof(double) * (size_t)ns);
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int64_t s = 0; s < ns; s++) {
        double v = k->grad(grad, gdt, c, i, s * slice, (s + 1) * slice < K ? (s + 1) * slice : K, &g, st->m);
        if (gm) gm[s] = v;
      }
      gmax = gm ? 0 : NAN; /* no memory for the slices' maxima: the row is checked on the safe path */
      for (int64_t s = 0; gm && s < ns; s++) gmax = lsce_gmax2(gmax, gm[s]);
      free(gm);
    } else if (e) {
      gmax = k->grad_reuse(grad, gdt, c, i, 0, K, &g, st->m, e, kept);
    } else {
      gmax = k->grad(grad, gdt, c, i, 0, K, &g, st->m);
    }
  }
  row_end(Lrow, lvl, grad, gdt, c, k, i, st, &h, gmax, par_slices, slice, threads, e, f32ok);
}

/* finish_row's second half, after the row's gradient sweep (gmax: its largest |g|): the row's check,
 * the predictor's verdict (f32ok), and the ladder where the check fails (e: this thread's K doubles, free
 * for the next rung's kept exps; NULL: none) */
static void row_end(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c,
                    const lsce_kernels *k, int64_t i, const lsce_rowstats *st, row_head *h, double gmax,
                    int par_slices, int64_t slice, int threads, double *e, int *f32ok) {
  const int cheap = h->cheap, loss_bad = h->loss_bad;
  const lsce_rowcoef rc = h->rc;
  const lsce_dd L = h->L;
  const lsce_gradcoef g = h->g;
  /* the accurate rung: a first pass with a cheaper exp (st->exp_rel) whose bound falls short is
   * recomputed by the accurate kernels (statistics and gradient row), then checked as usual */
  const int ok = !cheap || (!loss_bad && lsce_guard_fast_ok(gdt, c, i, &rc, st, grad ? &g : NULL, L, gmax));
  /* the float32 pass took the row: its exp_rel is at least E32 (pass_finish's rho); the double single
   * pass's (2^-34 exps) reaches that too for s1 below about 2^-11, one class dominating, whose rows
   * it sends on to the accurate rung (float64 rows never take either: their single pass's exp_rel can
   * exceed E32 too). The prediction asks f32_would_pass of every certified row, so such a row of the
   * double pass does not send the next rows to the float32 pass, which could not certify them. */
  const int was_f32 = c->dtype != LSCE_DT_F64 && st->exp_rel >= LSCE_EXP_REL_F32;
  if (f32ok && cheap) *f32ok = ok && f32_would_pass(gdt, c, i, &rc, st, grad ? &g : NULL, L, gmax);
  /* the double single pass after the float32 pass (simd_dblone.inc): the row again, from cache */
  if (!ok && was_f32 && k->stats_one) {
    const lsce_kernels one = one_kernels(k, 0);
    lsce_rowstats so;
    int kp = 0;
    if (e && !par_slices) kp = k->stats_keep_one(&so, c, i, 0, c->K, e);
    else row_stats(&so, c, &one, i, par_slices ? slice : 0);
    finish_row(Lrow, lvl, grad, gdt, c, &one, i, &so, par_slices, slice, threads, kp ? e : NULL, kp, NULL);
    return;
  }
  if (!ok) {
    lsce_kernels acc = {k->acc_stats, k->acc_grad, NULL, NULL, NULL, NULL, NULL};
    /* float64: a row of the single pass (simd_f64pass.inc stats_f64_one, exp_rel above
     * LSCE_EXP_REL_F64) takes the two passes first (stats_dbl, from cache), their own rung the
     * accurate kernels */
    if (c->dtype == LSCE_DT_F64 && k->stats_dbl && st->exp_rel > LSCE_EXP_REL_F64)
      acc = (lsce_kernels){k->stats_dbl, k->grad, NULL, NULL, k->acc_stats, k->acc_grad, NULL};
    lsce_rowstats sa;
    row_stats(&sa, c, &acc, i, par_slices ? slice : 0);
    finish_row(Lrow, lvl, grad, gdt, c, &acc, i, &sa, par_slices, slice, threads, NULL, 0, NULL);
    lvl[i] |= 32;
    return;
  }
  lsce_guard_row(Lrow, lvl, grad, gdt, c, i, &rc, st, grad ? &g : NULL, L, gmax);
}

/* e: this thread's K doubles for the kept exps of a whole row (NULL: none kept); pred: the
 * predictor's state (first_pass), updated with this row's verdict */
static void do_row(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_kernels *k,
                   int64_t i, int slices_parallel, int64_t slice, int threads, double *e, int *pred) {
  const lsce_params *p = c->prm;
  const int64_t K = c->K;
  int64_t y = c->targets[i];
  if (!lsce_params_in_V(p, y)) {
    Lrow[3 * i] = Lrow[3 * i + 1] = Lrow[3 * i + 2] = 0.0;
    lvl[i] = 0;
    if (grad) zero_row(grad, gdt, i, K);
    return;
  }
  lsce_kernels one;
  if (k->stats_one && !*pred) { /* the float32 pass failed on the row before: the double single pass first */
    one = one_kernels(k, grad != NULL);
    k = &one;
  }
  lsce_rowstats st;
  lsce_rowstats *parts = NULL;
  int kept = 0; /* what stats_keep kept in e (kernels.h) */
  int64_t ns = slices_parallel ? (K + slice - 1) / slice : 0;
  if (slices_parallel) parts = malloc(sizeof(lsce_rowstats) * (size_t)ns);
  if (parts) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t s = 0; s < ns; s++)
      k->stats(&parts[s], c, i, s * slice, (s + 1) * slice < K ? (s + 1) * slice : K);
    lsce_stats_empty(&st);
    for (int64_t s = 0; s < ns; s++) lsce_stats_merge(&st, &parts[s], c->dd);
    free(parts);
  } else if (e) {
    if (!(kept = k->stats_keep(&st, c, i, 0, K, e))) e = NULL;
  } else {
    row_stats(&st, c, k, i, slice);
  }
  finish_row(Lrow, lvl, grad, gdt, c, k, i, &st, slices_parallel, slice, threads, e, kept, pred);
}

/* The predictor of the first pass (issue #12): a row starts with the float32 pass (state 1) or with
 * the double single pass (0) as the float32 pass certified, or would have certified, the row before it
 * (finish_row's f32ok). So that the choice, and with it the result, does not depend on the thread
 * count, the state lives in blocks of LSCE_PRED_ROWS rows (rows i0 + b LSCE_PRED_ROWS on: the
 * schedule's chunks, each run in order by one thread), each block starting from `hint`: row 0's
 * verdict in calls of LSCE_PRED_HINT_MIN rows or more (row 0 runs first, alone: i0 = 1), else 1 (the
 * float32 pass; i0 = 0, so a call of few rows keeps all its rows in parallel). */
#define LSCE_PRED_ROWS 16
#define LSCE_PRED_HINT_MIN 64
/* the pipeline's ranges of rows a thread takes (run_pipe): whole blocks of the predictor; each range's
 * last row is swept alone */
#define LSCE_PIPE_ROWS (4 * LSCE_PRED_ROWS)
/* calls whose logits fit in this VM's 32 MiB L3 run one row at a time (LSCE_PIPE=all: every call): there the fused loop measured
 * slower (lsce-kernel-ab 32 32000 1 41: 1.60 against 1.41 cycles per logit; its streaming stores do
 * not overlap the exps), from memory faster (4096 32000 1 3: 1.54-1.59 against 1.63-1.69) */
#define LSCE_PIPE_MIN_BYTES (32.0 * 1024 * 1024)
static void first_pass(int *pred, int hint, int64_t i, int64_t i0) {
  if ((i - i0) % LSCE_PRED_ROWS == 0) *pred = hint;
}

/* The software pipeline (issue #12, LSCE_PIPE; simd_pipe.inc): rows [ib, ie) in order on this thread,
 * float32 logits and gradient, whole rows. A row the float32 single pass takes (its statistics and
 * float32 exps kept in one of this thread's two K-double buffers, e2) is left pending: its coefficients
 * formed (row_begin), its sweep not yet run. The next row, when the predictor would give it the float32
 * pass too, runs that pass in one loop with the pending row's sweep (stats_keep_pipe); then the pending
 * row is checked (row_end: its own bound, the predictor's verdict, the ladder where it fails, rewriting
 * its gradient row, with the buffer its exps have left free), exactly as finish_row would check it.
 * Every row therefore gets the statistics, gradient, bound and verdict it gets one row at a time:
 *  - the next row's first pass is chosen before the pending row's verdict exists: assumed certified
 *    (the predictor's 1, or `hint` at a block start, where the verdict does not count). Where the
 *    verdict then says otherwise, the next row's statistics are dropped and it runs as before (do_row
 *    with the predictor's real state): its result is what it would have been, at the cost of one pass;
 *  - where the next row's single pass declines (stats_keep_pipe returns 0), it runs as before too;
 *  - a row whose loss alone fails (loss_bad), or any row not of this form, finishes at once as before;
 *  - the last pending row of the range is swept alone (grad_reuse) and checked.
 * Ranges start at a predictor block (ib - i0 a multiple of LSCE_PRED_ROWS), so the result does not
 * depend on the thread count, nor on LSCE_PIPE. */
static int pipe_takes(const lsce_call *c, const lsce_kernels *k, int64_t i, int pred) {
  return lsce_params_in_V(c->prm, c->targets[i]) && (!k->stats_one || pred);
}

/* row i, its statistics st taken by the float32 single pass (exps kept in e): returns i, the row left
 * pending (*pst, *ph set), or -1 where its loss alone fails (then finished here, as finish_row would) */
static int64_t pipe_hold(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c,
                         const lsce_kernels *k, int64_t i, const lsce_rowstats *st, int threads, double *e,
                         int *pred, lsce_rowstats *pst, row_head *ph) {
  row_begin(ph, grad, gdt, c, k, i, st);
  if (!ph->loss_bad) {
    *pst = *st;
    return i;
  }
  row_end(Lrow, lvl, grad, gdt, c, k, i, st, ph, 0.0, 0, 0, threads, e, pred);
  return -1;
}

static void run_pipe(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c,
                     const lsce_kernels *k, int64_t ib, int64_t ie, int threads, double *e2, int *pred, int hint,
                     int64_t i0) {
  const int64_t K = c->K;
  double *ea = e2, *eb = e2 + K; /* ea: the pending row's kept exps; eb: the next row's */
  int64_t ip = -1;               /* the pending row (-1: none) */
  lsce_rowstats pst;
  row_head ph;
  for (int64_t i = ib; i < ie; i++) {
    if (ip >= 0) {
      const int start = (i - i0) % LSCE_PRED_ROWS == 0;
      if (pipe_takes(c, k, i, start ? hint : 1)) {
        lsce_rowstats st;
        double gmax;
        const int kept = k->stats_keep_pipe(&st, c, i, eb, grad, gdt, ip, &ph.g, pst.m, ea, &gmax);
        row_end(Lrow, lvl, grad, gdt, c, k, ip, &pst, &ph, gmax, 0, 0, threads, ea, pred);
        ip = -1;
        first_pass(pred, hint, i, i0);
        if (kept == 2 && pipe_takes(c, k, i, *pred)) { /* as do_row would have taken it */
          double *t = ea;
          ea = eb;
          eb = t;
          ip = pipe_hold(Lrow, lvl, grad, gdt, c, k, i, &st, threads, ea, pred, &pst, &ph);
        } else {
          do_row(Lrow, lvl, grad, gdt, c, k, i, 0, 0, threads, eb, pred);
        }
        continue;
      }
      /* the pending row alone */
      const double gmax = k->grad_reuse(grad, gdt, c, ip, 0, K, &ph.g, pst.m, ea, 2);
      row_end(Lrow, lvl, grad, gdt, c, k, ip, &pst, &ph, gmax, 0, 0, threads, ea, pred);
      ip = -1;
    }
    first_pass(pred, hint, i, i0);
    if (pipe_takes(c, k, i, *pred)) { /* do_row's statistics, then the row pending where it can be */
      lsce_rowstats st;
      const int kept = k->stats_keep(&st, c, i, 0, K, ea);
      if (kept == 2)
        ip = pipe_hold(Lrow, lvl, grad, gdt, c, k, i, &st, threads, ea, pred, &pst, &ph);
      else
        finish_row(Lrow, lvl, grad, gdt, c, k, i, &st, 0, 0, threads, kept ? ea : NULL, kept, pred);
      continue;
    }
    do_row(Lrow, lvl, grad, gdt, c, k, i, 0, 0, threads, ea, pred);
  }
  if (ip >= 0) {
    const double gmax = k->grad_reuse(grad, gdt, c, ip, 0, K, &ph.g, pst.m, ea, 2);
    row_end(Lrow, lvl, grad, gdt, c, k, ip, &pst, &ph, gmax, 0, 0, threads, ea, pred);
  }
}

int lsce_cpu_drive(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_kernels *k,
                   int threads, int64_t slice) {
  const lsce_params *p = c->prm;
  const int64_t N = c->N, K = c->K;
  (void)K;
  (void)p;
  double *Lrow = malloc(sizeof(double) * 3 * (size_t)(N > 0 ? N : 1));
  unsigned char *lvl = malloc((size_t)(N > 0 ? N : 1));
  if (!Lrow || !lvl) { free(Lrow); free(lvl); return 1; }
#ifdef _OPENMP
  if (threads < 1) threads = 1;
#else
  threads = 1;
#endif
  /* an explicit slice forces sliced rows (run in parallel when threads > 1) */
  int slices_parallel = threads > 1 && slice > 0 && slice < K;
  int rows_parallel = threads > 1 && !slices_parallel && N >= threads;
  if (threads > 1 && !rows_parallel && !slices_parallel && K >= 2 * 4096) {
    slice = (K + threads - 1) / threads; /* few rows, large K: split each row */
    slices_parallel = 1;
  }
  /* Whole rows with a gradient: the SIMD kernels keep each row's exps for its gradient sweep, in a
   * buffer of K doubles per thread (rows up to LSCE_KEEP_MAX_K classes, so it stays in cache). */
  double *ebuf = NULL;
  int nbuf = rows_parallel ? threads : 1;
  const int keep = lsce_config_get()->keep; /* LSCE_KEEP=0: recompute (tests compare the two) */
  /* LSCE_PIPE (run_pipe): float32 logits and gradient of LSCE_PIPE_MIN_BYTES or more take the
   * pipeline, two such buffers a thread */
  const int pipe = grad && k->stats_keep_pipe && lsce_config_get()->pipe && c->dtype == LSCE_DT_F32 &&
                   gdt == LSCE_DT_F32 && !c->dd &&
                   (lsce_config_get()->pipe == 2 || (double)N * (double)K * sizeof(float) >= LSCE_PIPE_MIN_BYTES);
  if (grad && k->stats_keep && keep && !slices_parallel &&
      (slice <= 0 || slice >= K) && K > 0 && K <= LSCE_KEEP_MAX_K)
    ebuf = malloc(sizeof(double) * (size_t)K * (size_t)nbuf * (pipe ? 2 : 1)); /* NULL: the exps are recomputed */
  const int piped = pipe && ebuf;
  /* with a gradient, statistics without the float32 first pass (kernels.h, stats_dbl) */
  lsce_kernels kg = *k;
  if (grad && k->stats_dbl) kg.stats = k->stats_dbl;
  if (!lsce_config_get()->dblone) kg.stats_one = NULL, kg.stats_keep_one = NULL; /* LSCE_DBLONE=0 */
  k = &kg;
  /* row 0 first (its verdict starts every block of the predictor, first_pass), then the others */
  int hint = 1;
  const int64_t i0 = N >= LSCE_PRED_HINT_MIN ? 1 : 0;
  if (i0) do_row(Lrow, lvl, grad, gdt, c, k, 0, slices_parallel, slice, threads, ebuf, &hint);
  if (piped && rows_parallel) {
    /* ranges of LSCE_PIPE_ROWS rows (whole predictor blocks), each run in order by one thread */
    const int64_t nb = (N - i0 + LSCE_PIPE_ROWS - 1) / LSCE_PIPE_ROWS;
    int pred = hint;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) firstprivate(pred)
    for (int64_t b = 0; b < nb; b++) {
      double *e2 = ebuf;
#ifdef _OPENMP
      e2 = ebuf + (size_t)omp_get_thread_num() * 2 * (size_t)K;
#endif
      const int64_t ib = i0 + b * LSCE_PIPE_ROWS;
      run_pipe(Lrow, lvl, grad, gdt, c, k, ib, ib + LSCE_PIPE_ROWS < N ? ib + LSCE_PIPE_ROWS : N, threads, e2, &pred,
               hint, i0);
    }
  } else if (piped && !slices_parallel) {
    int pred = hint;
    run_pipe(Lrow, lvl, grad, gdt, c, k, i0, N, threads, ebuf, &pred, hint, i0);
  } else if (rows_parallel) {
    int pred = hint;
#pragma omp parallel for schedule(dynamic, LSCE_PRED_ROWS) num_threads(threads) firstprivate(pred)
    for (int64_t i = i0; i < N; i++) {
      double *e = NULL;
#ifdef _OPENMP
      if (ebuf) e = ebuf + (size_t)omp_get_thread_num() * (size_t)K;
#endif
      first_pass(&pred, hint, i, i0);
      do_row(Lrow, lvl, grad, gdt, c, k, i, 0, slice, threads, e, &pred);
    }
  } else {
    /* one row at a time; its slices (if any) in parallel */
    int pred = hint;
    for (int64_t i = i0; i < N; i++) {
      first_pass(&pred, hint, i, i0);
      do_row(Lrow, lvl, grad, gdt, c, k, i, slices_parallel, slice, threads, ebuf, &pred);
    }
  }
  free(ebuf);
  lsce_guard_finish(loss, grad, gdt, c, Lrow, lvl);
  free(lvl);
  free(Lrow);
  return 0;
}
