/* impls/cpu/driver.c: runs stats and gradient kernels over the rows (threads over rows, or over the
 * slices of one row when rows are few), merges slice statistics, and reduces the loss in
 * double-double in row order, so the result does not depend on the thread count. With kernels that
 * can keep a row's exps (the SIMD ones), the gradient sweep reuses them: the same values, computed
 * once. Every row's result is checked against its own error bound and escalated when that bound
 * cannot guarantee the declared one (rowguard.h); Lrow holds (hi, lo, bound) per row. Kernels with a
 * cheaper first-pass exp name their accurate twins (acc_stats, acc_grad): a row whose bound falls
 * short with the cheap exp is recomputed by those first (lvl bit 32), then climbs the ladder. */
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

static void finish_row(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c,
                       const lsce_kernels *k, int64_t i, const lsce_rowstats *st, int par_slices,
                       int64_t slice, int threads, const double *e, int kept) {
  const lsce_params *p = c->prm;
  int64_t y = c->targets[i];
  const int wu = lsce_weighted_u(p);
  lsce_rowcoef rc = lsce_row_coef(p, y, c->weights);
  lsce_dd L = lsce_row_loss(p, &rc, st);
  lsce_gradcoef g;
  double gmax = 0;
  if (grad) {
    g = lsce_grad_coef(p, &rc, st, y, c->weights, wu);
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
  /* the accurate rung: a first pass with a cheaper exp (st->exp_rel) whose bound falls short is
   * recomputed by the accurate kernels (statistics and gradient row), then checked as usual */
  if (k->acc_stats && st->exp_rel > 0 && !lsce_guard_fast_ok(gdt, c, i, &rc, st, grad ? &g : NULL, L, gmax)) {
    lsce_kernels acc = {k->acc_stats, k->acc_grad, NULL, NULL, NULL, NULL, NULL};
    /* float64: a row of the single pass (simd_f64pass.inc stats_f64_one, exp_rel above
     * LSCE_EXP_REL_F64) takes the two passes first (stats_dbl, from cache), their own rung the
     * accurate kernels */
    if (c->dtype == LSCE_DT_F64 && k->stats_dbl && st->exp_rel > LSCE_EXP_REL_F64)
      acc = (lsce_kernels){k->stats_dbl, k->grad, NULL, NULL, k->acc_stats, k->acc_grad, NULL};
    lsce_rowstats sa;
    row_stats(&sa, c, &acc, i, par_slices ? slice : 0);
    finish_row(Lrow, lvl, grad, gdt, c, &acc, i, &sa, par_slices, slice, threads, NULL, 0);
    lvl[i] |= 32;
    return;
  }
  lsce_guard_row(Lrow, lvl, grad, gdt, c, i, &rc, st, grad ? &g : NULL, L, gmax);
}

/* e: this thread's K doubles for the kept exps of a whole row (NULL: none kept) */
static void do_row(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_kernels *k,
                   int64_t i, int slices_parallel, int64_t slice, int threads, double *e) {
  const lsce_params *p = c->prm;
  const int64_t K = c->K;
  int64_t y = c->targets[i];
  if (!lsce_params_in_V(p, y)) {
    Lrow[3 * i] = Lrow[3 * i + 1] = Lrow[3 * i + 2] = 0.0;
    lvl[i] = 0;
    if (grad) zero_row(grad, gdt, i, K);
    return;
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
  finish_row(Lrow, lvl, grad, gdt, c, k, i, &st, slices_parallel, slice, threads, e, kept);
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
  if (grad && k->stats_keep && keep && !slices_parallel &&
      (slice <= 0 || slice >= K) && K > 0 && K <= LSCE_KEEP_MAX_K)
    ebuf = malloc(sizeof(double) * (size_t)K * (size_t)nbuf); /* NULL: the exps are recomputed */
  /* with a gradient, statistics without the float32 first pass (kernels.h, stats_dbl) */
  lsce_kernels kg;
  if (grad && k->stats_dbl) {
    kg = *k;
    kg.stats = k->stats_dbl;
    k = &kg;
  }
  if (rows_parallel) {
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (int64_t i = 0; i < N; i++) {
      double *e = NULL;
#ifdef _OPENMP
      if (ebuf) e = ebuf + (size_t)omp_get_thread_num() * (size_t)K;
#endif
      do_row(Lrow, lvl, grad, gdt, c, k, i, 0, slice, threads, e);
    }
  } else {
    /* one row at a time; its slices (if any) in parallel */
    for (int64_t i = 0; i < N; i++) do_row(Lrow, lvl, grad, gdt, c, k, i, slices_parallel, slice, threads, ebuf);
  }
  free(ebuf);
  lsce_guard_finish(loss, grad, gdt, c, Lrow, lvl);
  free(lvl);
  free(Lrow);
  return 0;
}
