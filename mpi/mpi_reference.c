/* mpi/mpi_reference.c: lsce_reference across MPI ranks (lsce-mpi links it in place of the
 * single-process entry point with ld --wrap, so `reference`, `check` and `verify` run unchanged).
 * Rank r certifies the rows of lsce_row_block(N, r, P) with the reference's own code (row_lo/row_hi
 * of lsce_ref_opts): per-row outputs (none losses, gradient rows, their lo and rs) are the very
 * values the single process computes for those rows, gathered byte for byte. A mean/sum total is
 * merged EXACTLY: each rank sends its rows' parts CE_i = Q_i + T_i as pass 1 left them (Q_i an exact
 * rational as base-16 text, T_i an Arb ball as arb_dump_str text, both exact), and rank 0 runs the
 * reference's own pass 2 on them (lsce_ref_total: sum Q_i exact, sum T_i in row order at the same
 * precision, round_qt with the sign of T deciding dyadic midpoints). Rank 0 therefore forms the very
 * ball and rational that `lsce reference` forms, so loss, lo and rs are bit-identical for every P,
 * even where rs is left 0 (undecided) at the last precision. Where the first precision does not
 * decide the rounding, rank 0 alone recomputes the rows at higher precision (rare: not parallel). The
 * NaN / +inf / exact-zero cases are the reference's own (any_inf OR-ed, all_zero AND-ed).
 * Issue #15's options (reference/ref_options.c) go the same way: each block's rows send their share
 * L_i and s_i lse_i^2 as Arb balls at the first precision, rank 0 sums them in row order with the
 * z term applied after the sum (lsce_ref_options_total, the options reference's own pass 2). */
#include <arb.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/ref_options.h"
#include "lsce/reference.h"
#include "mpi_agree.h"

int __real_lsce_reference(lsce_ref_result *r, const lsce_problem *p, const lsce_ref_opts *o,
                          const char *who, lsce_err *err);
int __wrap_lsce_reference(lsce_ref_result *r, const lsce_problem *p, const lsce_ref_opts *o,
                          const char *who, lsce_err *err);

/* Each row's part as text: a flag byte ('1': enters the total, '0': not), then for a '1' row Q_i
 * (mpq_get_str base 16) and T_i (arb_dump_str), each ended by '\0'. With issue #15's options
 * (part->ce_z set) the two strings are L_i = ce_t and s_i lse_i^2 = ce_z, both arb_dump_str. */
static char *pack_parts(const lsce_ref_result *part, int *len) {
  size_t cap = 64, n = 0;
  char *buf = malloc(cap);
  for (int64_t k = 0; buf && k < (part->ce_q ? part->nce : 0); k++) {
    char *q = NULL, *t = NULL;
    if (part->ce_use[k]) {
      if (part->ce_z) {
        q = arb_dump_str(part->ce_t[k]);
        t = arb_dump_str(part->ce_z[k]);
      } else {
        const mpq_srcptr x = part->ce_q[k];
        q = malloc(mpz_sizeinbase(mpq_numref(x), 16) + mpz_sizeinbase(mpq_denref(x), 16) + 3);
        if (!q) MPI_Abort(MPI_COMM_WORLD, 3);
        mpq_get_str(q, 16, x);
        t = arb_dump_str(part->ce_t[k]);
      }
    }
    size_t need = 1 + (q ? strlen(q) + strlen(t) + 2 : 0);
    if (n + need + 1 > cap) {
      while (n + need + 1 > cap) cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) { free(buf); buf = NULL; }
      else buf = nb;
    }
    if (buf) {
      buf[n++] = q ? '1' : '0';
      if (q) { strcpy(buf + n, q); n += strlen(q) + 1; strcpy(buf + n, t); n += strlen(t) + 1; }
    }
    if (part->ce_z && q) flint_free(q);
    else free(q);
    if (t) flint_free(t);
  }
  if (!buf || n > 0x7fffffff) MPI_Abort(MPI_COMM_WORLD, 3);
  *len = (int)n;
  return buf;
}

/* The mean/sum loss: every rank's parts to rank 0, which runs the reference's pass 2. */
static int merged_total(double *out, double *out_lo, signed char *out_rs, long *reached,
                        const lsce_problem *p, const lsce_ref_opts *o, const lsce_ref_result *part,
                        const char *who, lsce_err *err) {
  int me = lsce_mpi_rank(), n = lsce_mpi_size();
  int fl[2] = {part->any_inf, part->all_zero}, any_inf = 0, all_zero = 1;
  MPI_Allreduce(&fl[0], &any_inf, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Allreduce(&fl[1], &all_zero, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  int len = 0;
  char *s = pack_parts(part, &len);
  int *lens = me == 0 ? malloc(sizeof(int) * (size_t)n) : NULL, *offs = NULL;
  MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
  char *all = NULL;
  if (me == 0) {
    offs = malloc(sizeof(int) * (size_t)n);
    long long tot = 0;
    for (int b = 0; b < n; b++) { offs[b] = (int)tot; tot += lens[b]; }
    if (tot > 0x7fffffff) MPI_Abort(MPI_COMM_WORLD, 3);
    all = malloc((size_t)(tot > 0 ? tot : 1));
    if (!all) MPI_Abort(MPI_COMM_WORLD, 3);
  }
  MPI_Gatherv(s, len, MPI_CHAR, all, lens, offs, MPI_CHAR, 0, MPI_COMM_WORLD);
  free(s);
  int rc = LSCE_OK;
  double v[2] = {0, 0};
  signed char rs = 0;
  if (me == 0) {
    const int64_t N = p->N;
    const int opts = lsce_uses_options(p); /* the second string is s_i lse_i^2 (ref_options.c) */
    mpq_t *Q = malloc(sizeof(mpq_t) * (size_t)(N > 0 ? N : 1));
    arb_t *T = malloc(sizeof(arb_t) * (size_t)(N > 0 ? N : 1));
    arb_t *Z = opts ? malloc(sizeof(arb_t) * (size_t)(N > 0 ? N : 1)) : NULL;
    unsigned char *use = calloc((size_t)(N > 0 ? N : 1), 1);
    if (!Q || !T || !use || (opts && !Z)) MPI_Abort(MPI_COMM_WORLD, 3);
    const char *c;
    for (int64_t i = 0; i < N; i++) {
      mpq_init(Q[i]);
      arb_init(T[i]);
      if (Z) arb_init(Z[i]);
    }
    /* the blocks arrive in rank order = row order; a block of a mean/sum holds one byte per row */
    for (int b = 0; b < n; b++) {
      int64_t lo, hi;
      lsce_row_block(N, b, n, &lo, &hi);
      c = all + offs[b];
      for (int64_t i = lo; i < hi; i++) {
        if (*c++ != '1') continue;
        use[i] = 1;
        if (opts) arb_load_str(T[i], c);
        else mpq_set_str(Q[i], c, 16);
        c += strlen(c) + 1;
        arb_load_str(opts ? Z[i] : T[i], c);
        c += strlen(c) + 1;
      }
    }
    rc = opts ? lsce_ref_options_total(&v[0], out_lo ? &v[1] : NULL, out_rs ? &rs : NULL, reached, p, o, T, Z,
                                       use, any_inf, all_zero, who, err)
              : lsce_ref_total(&v[0], out_lo ? &v[1] : NULL, out_rs ? &rs : NULL, reached, p, o, Q, T, use,
                               any_inf, all_zero, who, err);
    for (int64_t i = 0; i < N; i++) { mpq_clear(Q[i]); arb_clear(T[i]); if (Z) arb_clear(Z[i]); }
    free(Q); free(T); free(Z); free(use); free(all); free(lens); free(offs);
  }
  rc = lsce_mpi_agree(rc, err);
  MPI_Bcast(v, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Bcast(&rs, 1, MPI_SIGNED_CHAR, 0, MPI_COMM_WORLD);
  *out = v[0];
  if (out_lo) *out_lo = v[1];
  if (out_rs) *out_rs = rs;
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
  const size_t nl = (size_t)(none ? (N > 0 ? N : 1) : 1);
  res->nloss = none ? N : 1;
  res->loss = calloc(nl, sizeof(double));
  if (o->want_lo) { res->loss_lo = calloc(nl, sizeof(double)); res->loss_rs = calloc(nl, 1); }
  if (o->want_grad && N * K > 0) {
    res->grad = malloc((size_t)(N * K) * sizeof(double));
    if (o->want_lo) { res->grad_lo = malloc((size_t)(N * K) * sizeof(double)); res->grad_rs = malloc((size_t)(N * K)); }
  }
  int bad = !res->loss || (o->want_lo && (!res->loss_lo || !res->loss_rs)) ||
            (o->want_grad && N * K > 0 && (!res->grad || (o->want_lo && (!res->grad_lo || !res->grad_rs))));
  rc = lsce_mpi_agree(bad ? lsce_err_set(err, LSCE_EINCOMPLETE, "%s: out of memory for the outputs", who)
                          : LSCE_OK, err);
  long reached = part.prec_reached;
  const size_t d = sizeof(double);
  if (!rc && none) lsce_mpi_allgather_rows(res->loss, part.loss, N, 1, d);
  if (!rc && none && res->loss_lo) lsce_mpi_allgather_rows(res->loss_lo, part.loss_lo, N, 1, d);
  if (!rc && none && res->loss_rs) lsce_mpi_allgather_rows(res->loss_rs, part.loss_rs, N, 1, 1);
  if (!rc && res->grad) lsce_mpi_allgather_rows(res->grad, part.grad, N, K, d);
  if (!rc && res->grad_lo) lsce_mpi_allgather_rows(res->grad_lo, part.grad_lo, N, K, d);
  if (!rc && res->grad_rs) lsce_mpi_allgather_rows(res->grad_rs, part.grad_rs, N, K, 1);
  if (!rc && !none)
    rc = merged_total(&res->loss[0], res->loss_lo, res->loss_rs, &reached, p, o, &part, who, err);
  lsce_ref_result_free(&part);
  MPI_Allreduce(&reached, &res->prec_reached, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
  if (rc) lsce_ref_result_free(res);
  return rc;
}
