/* impls/cpu/driver.c: runs stats and gradient kernels over the rows (threads over rows, or over the
 * slices of one row when rows are few), merges slice statistics, and reduces the loss in
 * double-double in row order, so the result does not depend on the thread count. With kernels that
 * can keep a row's exps (the SIMD ones), the gradient sweep reuses them: the same values, computed
 * once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/kernels.h"
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

static double finish_row(double *Lrow, void *grad, lsce_dtype gdt, const lsce_call *c,
                         const lsce_kernels *k, int64_t i, const lsce_rowstats *st, int par_slices,
                         int64_t slice, int threads, const double *e) {
  const lsce_params *p = c->prm;
  int64_t y = c->targets[i];
  const int wu = p->weighting == LSCE_W_TORCH_ID || p->weighting == LSCE_W_LOGPROB_ID;
  lsce_rowcoef rc = lsce_row_coef(p, y, c->weights);
  lsce_dd L = lsce_row_loss(p, &rc, st);
  Lrow[2 * i] = L.hi;
  Lrow[2 * i + 1] = L.lo;
  if (grad) {
    lsce_gradcoef g = lsce_grad_coef(p, &rc, st, y, c->weights, wu);
    const int64_t K = c->K;
    if (par_slices) {
      int64_t ns = (K + slice - 1) / slice;
#pragma omp parallel for schedule(static) num_threads(threads)
      for (int64_t s = 0; s < ns; s++)
        k->grad(grad, gdt, c, i, s * slice, (s + 1) * slice < K ? (s + 1) * slice : K, &g, st->m);
    } else if (e) {
      k->grad_reuse(grad, gdt, c, i, 0, K, &g, st->m, e);
    } else {
      k->grad(grad, gdt, c, i, 0, K, &g, st->m);
    }
  }
  return L.hi;
}

/* e: this thread's K doubles for the kept exps of a whole row (NULL: none kept) */
static void do_row(double *Lrow, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_kernels *k,
                   int64_t i, int slices_parallel, int64_t slice, int threads, double *e) {
  const lsce_params *p = c->prm;
  const int64_t K = c->K;
  int64_t y = c->targets[i];
  if (!lsce_params_in_V(p, y)) {
    Lrow[2 * i] = Lrow[2 * i + 1] = 0.0;
    if (grad) zero_row(grad, gdt, i, K);
    return;
  }
  lsce_rowstats st;
  lsce_rowstats *parts = NULL;
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
    if (!k->stats_keep(&st, c, i, 0, K, e)) e = NULL;
  } else {
    row_stats(&st, c, k, i, slice);
  }
  finish_row(Lrow, grad, gdt, c, k, i, &st, slices_parallel, slice, threads, e);
}

int lsce_cpu_drive(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_kernels *k,
                   int threads, int64_t slice) {
  const lsce_params *p = c->prm;
  const int64_t N = c->N, K = c->K;
  const int none = p->reduction == 2;
  (void)K;
  double *Lrow = malloc(sizeof(double) * 2 * (size_t)(N > 0 ? N : 1));
  if (!Lrow) return 1;
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
  const char *keep = getenv("LSCE_KEEP"); /* LSCE_KEEP=0: recompute (tests compare the two) */
  if (grad && k->stats_keep && !(keep && !strcmp(keep, "0")) && !slices_parallel &&
      (slice <= 0 || slice >= K) && K > 0 && K <= LSCE_KEEP_MAX_K)
    ebuf = malloc(sizeof(double) * (size_t)K * (size_t)nbuf); /* NULL: the exps are recomputed */
  if (rows_parallel) {
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (int64_t i = 0; i < N; i++) {
      double *e = NULL;
#ifdef _OPENMP
      if (ebuf) e = ebuf + (size_t)omp_get_thread_num() * (size_t)K;
#endif
      do_row(Lrow, grad, gdt, c, k, i, 0, slice, threads, e);
    }
  } else {
    /* one row at a time; its slices (if any) in parallel */
    for (int64_t i = 0; i < N; i++) do_row(Lrow, grad, gdt, c, k, i, slices_parallel, slice, threads, ebuf);
  }
  free(ebuf);
  if (none) {
    for (int64_t i = 0; i < N; i++) {
      lsce_dd l = lsce_fast_two_sum(Lrow[2 * i], Lrow[2 * i + 1]);
      loss[i] = l.hi;
      if (c->loss_lo) c->loss_lo[i] = isfinite(l.hi) ? l.lo : 0.0;
    }
  } else {
    lsce_dd total = lsce_dd_from(0.0);
    int any_inf = 0;
    for (int64_t i = 0; i < N; i++) {
      if (isinf(Lrow[2 * i])) any_inf = 1;
      else total = lsce_dd_add(total, lsce_dd_make(Lrow[2 * i], Lrow[2 * i + 1]));
    }
    if (p->nan_mean) loss[0] = NAN;
    else if (any_inf) loss[0] = INFINITY;
    else {
      lsce_dd r = lsce_dd_mul(total, p->inv_D);
      loss[0] = r.hi + r.lo;
      if (c->loss_lo) c->loss_lo[0] = r.lo - (loss[0] - r.hi);
    }
    if (c->loss_lo && !isfinite(loss[0])) c->loss_lo[0] = 0.0;
  }
  free(Lrow);
  return 0;
}
