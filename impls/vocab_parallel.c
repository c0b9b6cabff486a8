/* impls/vocab_parallel.c: the registry row mpi_vocab_parallel, tensor-parallel cross-entropy in the
 * global semantics. Rank r of P owns the classes lsce_row_block(K, r, P) (K/P each, the first K % P
 * ranks one more). It computes its shard's row statistics with the CPU row kernels (cpu/rows.c's
 * choice of ISA), merges every row's statistics across ranks with one all-reduce (lsce_stats_merge
 * in class order, as cpu_sharded merges its slices), then runs the CPU driver on the merged
 * statistics: every rank forms the same loss (rank 0's is broadcast), and writes the gradient of
 * its own columns only; the shards are then gathered so the caller sees the whole (N, K) gradient.
 * Accuracy: the statistics and the combination are the CPU rows' (same kernels, same merge), so the
 * row inherits cpu_sharded's bounds; `lsce-mpi verify` measures it against the reference.
 * Issue #15's options and the sigmoid family go to impls/vocab_options.c (the same sharding). */
#include <stdlib.h>
#include "cpu/kernels.h"
#include "lsce/problem.h"
#include "lsce/vocab_comm.h"

/* issue #15's options and the sigmoid family (c->opt set): impls/vocab_options.c */
int lsce_vocab_options(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_vocab_comm *cm);

static const lsce_vocab_comm *comm;
void lsce_vocab_comm_set(const lsce_vocab_comm *c) { comm = c; }
const lsce_vocab_comm *lsce_vocab_comm_get(void) { return comm; }

int lsce_vocab_available(void) { return comm != NULL; }

int lsce_vocab_agree(const lsce_vocab_comm *cm, int rc) {
  int all[cm->size];
  if (cm->allgather(all, &rc, sizeof rc)) return 1;
  for (int r = 0; r < cm->size; r++) rc |= all[r];
  return rc != 0;
}
size_t lsce_ws_vocab(int64_t N, int64_t K) {
  return lsce_ws_rows(N, K) + (size_t)(N > 0 ? N : 1) * sizeof(lsce_rowstats);
}

/* The driver's kernels for one call (it runs one thread, so file-scope state is safe). */
static struct {
  const lsce_rowstats *merged;
  lsce_kernels base;
  int64_t c0, c1;
} cur;

static void stats_merged(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1) {
  (void)c; (void)c0; (void)c1;
  *st = cur.merged[i];
}

/* Returns the largest |g| formed, as the row guard (impls/cpu/rowguard.h) expects; only this rank's
 * columns are formed, so it is at most the row's largest: the guard's acceptance test is then at
 * least as strict as on the whole row (it may escalate more, never less). */
static double grad_own(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0, int64_t c1,
                       const lsce_gradcoef *g, double m) {
  (void)c0; (void)c1;
  return cur.c1 > cur.c0 ? cur.base.grad(grad, gdt, c, i, cur.c0, cur.c1, g, m) : 0.0;
}

int lsce_mpi_vocab_parallel(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  if (!comm) return 2;
  const int64_t N = c->N, K = c->K;
  int64_t c0, c1;
  lsce_row_block(K, comm->rank, comm->size, &c0, &c1);
  lsce_kernels base = lsce_cpu_kernels();
  lsce_rowstats *st = c->opt ? NULL : malloc(sizeof(lsce_rowstats) * (size_t)(N > 0 ? N : 1));
  if (c->opt) {
    int orc = lsce_vocab_options(loss, grad, gdt, c, comm);
    if (!orc) orc = comm->bcast_loss(loss, ((const lsce_problem *)c->opt)->reduction == LSCE_RED_NONE ? N : 1);
    if (!orc && grad) orc = comm->allgather_cols(grad, lsce_dtype_size(gdt), N, K);
    return orc;
  }
  if (lsce_vocab_agree(comm, !st)) { free(st); return 1; } /* every rank stops, or none */
  for (int64_t i = 0; i < N; i++) {
    if (c1 > c0) (base.stats_dbl ? base.stats_dbl : base.stats)(&st[i], c, i, c0, c1); /* no accurate rung here */
    else lsce_stats_empty(&st[i]);
  }
  int rc = comm->allreduce_stats(st, N, sizeof(lsce_rowstats), c->dd);
  if (!rc) {
    cur.merged = st;
    cur.base = base;
    cur.c0 = c0;
    cur.c1 = c1;
    lsce_kernels k = {stats_merged, grad_own, NULL, NULL, NULL, NULL};
    rc = lsce_vocab_agree(comm, lsce_cpu_drive(loss, grad, gdt, c, &k, 1, 0)); /* its own allocations */
  }
  free(st);
  if (!rc) rc = comm->bcast_loss(loss, c->prm->reduction == 2 ? N : 1);
  if (!rc && grad) rc = comm->allgather_cols(grad, lsce_dtype_size(gdt), N, K);
  return rc;
}
