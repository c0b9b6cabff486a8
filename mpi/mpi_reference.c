/* mpi/mpi_reference.c: lsce_reference across MPI ranks (lsce-mpi links it in place of the
 * single-process entry point with ld --wrap, so `reference`, `check` and `verify` run unchanged).
 * Rank r certifies the rows of lsce_row_block(N, r, P) with the reference's own code (row_lo/row_hi
 * of lsce_ref_opts): per-row outputs (none losses, gradient rows) are the very doubles the single
 * process computes for those rows, gathered byte for byte. A mean/sum total is merged EXACTLY: each
 * rank sends its block's certified ball (lsce_ref_range_ball, exact midpoint and radius as text),
 * rank 0 adds the balls (the sum holds the exact total, since each ball holds its block's exact
 * part) and rounds once; if the rounding is not yet certain, every rank recomputes at twice the
 * precision (the reference's Ziv loop, run jointly). A certified correct rounding is unique, so the
 * result is bit-identical to `lsce reference` for every P (so are the lo parts, RN(exact - hi), that
 * check and verify ask for); the NaN / +inf / exact-zero cases follow
 * the reference's own order (empty mean, a masked class with weight, every row exactly zero). */
#include <arb.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/reference.h"
#include "mpi_agree.h"

int __real_lsce_reference(lsce_ref_result *r, const lsce_problem *p, const lsce_ref_opts *o,
                          const char *who, lsce_err *err);
int __wrap_lsce_reference(lsce_ref_result *r, const lsce_problem *p, const lsce_ref_opts *o,
                          const char *who, lsce_err *err);

/* Rank 0: the sum of every rank's ball (sent as arb_dump_str text, exact). */
static void gather_ball_sum(arb_t sum, const arb_t part, slong prec) {
  int me = lsce_mpi_rank(), n = lsce_mpi_size();
  char *s = arb_dump_str(part);
  int len = (int)strlen(s) + 1;
  int *lens = me == 0 ? malloc(sizeof(int) * (size_t)n) : NULL, *offs = NULL;
  MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
  char *all = NULL;
  if (me == 0) {
    offs = malloc(sizeof(int) * (size_t)n);
    int tot = 0;
    for (int b = 0; b < n; b++) { offs[b] = tot; tot += lens[b]; }
    all = malloc((size_t)tot);
  }
  MPI_Gatherv(s, len, MPI_CHAR, all, lens, offs, MPI_CHAR, 0, MPI_COMM_WORLD);
  flint_free(s);
  if (me == 0) {
    arb_t x;
    arb_init(x);
    arb_zero(sum);
    for (int b = 0; b < n; b++) {
      arb_load_str(x, all + offs[b]);
      arb_add(sum, sum, x, prec);
    }
    arb_clear(x);
    free(all); free(lens); free(offs);
  }
}

/* hi = RN(x) and, when lo is asked, lo = RN(x - hi): 1 when both are certain (the reference's rule). */
static int round_hi_lo(double *hi, double *lo, const arb_t x, slong prec) {
  if (!lsce_ball_round(hi, x)) return 0;
  if (!lo || !isfinite(*hi)) { if (lo) *lo = 0; return 1; }
  arb_t d;
  arb_init(d);
  arb_set_d(d, *hi);
  arb_sub(d, x, d, prec);
  int ok = arb_is_zero(d) ? (*lo = 0, 1) : lsce_ball_round(lo, d);
  arb_clear(d);
  return ok;
}

static long next_prec(long prec, long maxp) { return prec >= maxp ? 0 : (2 * prec > maxp ? maxp : 2 * prec); }

/* The mean/sum loss: the joint Ziv loop. */
static int merged_total(double *out, double *out_lo, long *reached, const lsce_problem *p, const lsce_ref_opts *o,
                        int64_t lo, int64_t hi, const char *who, lsce_err *err) {
  arb_t part, sum;
  arb_init(part);
  arb_init(sum);
  int rc = LSCE_OK;
  for (long prec = o->start_prec;;) {
    if (prec > *reached) *reached = prec;
    lsce_ref_flags f;
    int64_t nz = 0, nzall = 0;
    lsce_ref_range_ball(part, &f, &nz, p, lo, hi, prec);
    int fl[2] = {f.is_nan, f.is_inf}, flall[2];
    MPI_Allreduce(fl, flall, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&nz, &nzall, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    int done = 1;
    double v[2] = {0, 0};
    if (flall[0]) v[0] = NAN;
    else if (flall[1]) v[0] = INFINITY;
    else if (nzall > 0) {
      gather_ball_sum(sum, part, prec);
      if (lsce_mpi_rank() == 0) done = round_hi_lo(&v[0], out_lo ? &v[1] : NULL, sum, prec);
      MPI_Bcast(&done, 1, MPI_INT, 0, MPI_COMM_WORLD);
      MPI_Bcast(v, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    }
    *out = v[0];
    if (out_lo) *out_lo = v[1];
    if (done) break;
    prec = next_prec(prec, o->max_prec);
    if (!prec) {
      rc = lsce_err_set(err, LSCE_EINCOMPLETE, "%s: could not certify the float64 rounding within %ld bits",
                        who, o->max_prec);
      break;
    }
  }
  arb_clear(part);
  arb_clear(sum);
  return rc;
}

int __wrap_lsce_reference(lsce_ref_result *res, const lsce_problem *p, const lsce_ref_opts *o,
                          const char *who, lsce_err *err) {
  memset(res, 0, sizeof *res);
  const int64_t N = p->N, K = p->K;
  const int none = p->reduction == LSCE_RED_NONE;
  int64_t lo, hi;
  lsce_row_block(N, lsce_mpi_rank(), lsce_mpi_size(), &lo, &hi);
  lsce_ref_opts ob = *o;
  ob.row_lo = lo;
  ob.row_hi = hi;
  lsce_ref_result part;
  int rc = lsce_mpi_agree(__real_lsce_reference(&part, p, &ob, who, err), err);
  if (rc) return rc;
  res->nloss = none ? N : 1;
  res->loss = calloc((size_t)(res->nloss > 0 ? res->nloss : 1), sizeof(double));
  if (o->want_lo) res->loss_lo = calloc((size_t)(res->nloss > 0 ? res->nloss : 1), sizeof(double));
  if (o->want_grad && N * K > 0) {
    res->grad = malloc((size_t)(N * K) * sizeof(double));
    if (o->want_lo) res->grad_lo = malloc((size_t)(N * K) * sizeof(double));
  }
  int bad = !res->loss || (o->want_lo && !res->loss_lo) ||
            (o->want_grad && N * K > 0 && (!res->grad || (o->want_lo && !res->grad_lo)));
  rc = lsce_mpi_agree(bad ? lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory for the outputs", who)
                          : LSCE_OK, err);
  long reached = part.prec_reached;
  if (!rc && none) lsce_mpi_allgather_rows(res->loss, part.loss, N, 1);
  if (!rc && none && res->loss_lo) lsce_mpi_allgather_rows(res->loss_lo, part.loss_lo, N, 1);
  if (!rc && res->grad) lsce_mpi_allgather_rows(res->grad, part.grad, N, K);
  if (!rc && res->grad_lo) lsce_mpi_allgather_rows(res->grad_lo, part.grad_lo, N, K);
  if (!rc && !none) rc = merged_total(&res->loss[0], res->loss_lo, &reached, p, o, lo, hi, who, err);
  lsce_ref_result_free(&part);
  MPI_Allreduce(&reached, &res->prec_reached, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
  if (rc) lsce_ref_result_free(res);
  return rc;
}
