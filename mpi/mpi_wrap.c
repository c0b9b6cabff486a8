/* mpi/mpi_wrap.c: the collective versions of the command layer's fallible steps, linked into
 * lsce-mpi with ld --wrap (the commands themselves are cli/'s, unchanged):
 *   lsce_problem_load   every rank reads (maps) the files and checks structure, cross-checks,
 *                       weights and targets (small); each checks the logits of its own block of rows
 *                       only; then the ranks agree on the lowest failing rank's error, which is the
 *                       globally first in the contract's order (blocks ascend with the rank).
 *   lsce_check_memory   each rank checks, all agree.
 *   lsce_outset_*       only rank 0 writes the outputs; the others take part in the agreement, so
 *                       a failed write on rank 0 fails every rank and nothing is left behind
 *                       (check_stdout: every rank checks its own, rank 0's is the real one). */
#include "lsce/problem.h"
#include "output.h"
#include "mpi_agree.h"

int __real_lsce_problem_load(lsce_problem *p, const char *lp, const char *tp, const char *wp, lsce_err *err);
int __wrap_lsce_problem_load(lsce_problem *p, const char *lp, const char *tp, const char *wp, lsce_err *err);
int __real_lsce_check_memory(double bytes, const char *who, lsce_err *err);
int __wrap_lsce_check_memory(double bytes, const char *who, lsce_err *err);
int __real_lsce_outset_add_f64(lsce_outset *o, const char *path, const double *data, int ndim,
                               const int64_t *shape, lsce_err *err);
int __wrap_lsce_outset_add_f64(lsce_outset *o, const char *path, const double *data, int ndim,
                               const int64_t *shape, lsce_err *err);
int __real_lsce_outset_check_stdout(lsce_outset *o, lsce_err *err);
int __wrap_lsce_outset_check_stdout(lsce_outset *o, lsce_err *err);
int __real_lsce_outset_commit(lsce_outset *o, lsce_err *err);
int __wrap_lsce_outset_commit(lsce_outset *o, lsce_err *err);

int __wrap_lsce_problem_load(lsce_problem *p, const char *lp, const char *tp, const char *wp, lsce_err *err) {
  p->nblocks = lsce_mpi_size();
  p->block = lsce_mpi_rank();
  return lsce_mpi_agree(__real_lsce_problem_load(p, lp, tp, wp, err), err);
}

int __wrap_lsce_check_memory(double bytes, const char *who, lsce_err *err) {
  return lsce_mpi_agree(__real_lsce_check_memory(bytes, who, err), err);
}

int __wrap_lsce_outset_add_f64(lsce_outset *o, const char *path, const double *data, int ndim,
                               const int64_t *shape, lsce_err *err) {
  int rc = lsce_mpi_rank() == 0 ? __real_lsce_outset_add_f64(o, path, data, ndim, shape, err) : LSCE_OK;
  return lsce_mpi_agree(rc, err); /* a failing add on rank 0 has removed its temporaries */
}

/* rank 0's standard output decides (the others' is /dev/null); a failure there fails every rank */
int __wrap_lsce_outset_check_stdout(lsce_outset *o, lsce_err *err) {
  return lsce_mpi_agree(__real_lsce_outset_check_stdout(o, err), err);
}

int __wrap_lsce_outset_commit(lsce_outset *o, lsce_err *err) {
  return lsce_mpi_agree(lsce_mpi_rank() == 0 ? __real_lsce_outset_commit(o, err) : LSCE_OK, err);
}
