/* mpi/mpi_vocab.c: MPI_COMM_WORLD behind the row mpi_vocab_parallel (lsce/vocab_comm.h). The
 * statistics all-reduce uses a non-commutative MPI operation built on lsce_stats_merge, so MPI
 * combines the shards in rank order, which is class order (ties keep the smallest index as the
 * single-process merge does); columns and losses travel as bytes, and so do the per-row records of
 * issue #15's options (allgather: every rank merges them in rank order itself). */
#include <mpi.h>
#include <string.h>
#include "combiner.h"
#include "lsce/problem.h"
#include "lsce/vocab_comm.h"
#include "mpi_agree.h"
#include "mpi_vocab.h"

static int merge_dd; /* the call's dd flag, for the operation below (one call at a time) */

/* inout = in (lower ranks' classes) merged with inout (higher ranks' classes). */
static void merge_op(void *in, void *inout, int *len, MPI_Datatype *dt) {
  (void)dt;
  lsce_rowstats *a = in, *b = inout;
  for (int k = 0; k < *len; k++) {
    lsce_rowstats t = a[k];
    lsce_stats_merge(&t, &b[k], merge_dd);
    b[k] = t;
  }
}

static int allreduce_stats(void *st, int64_t n, size_t bytes, int dd) {
  if (bytes != sizeof(lsce_rowstats)) return 1;
  MPI_Datatype t;
  MPI_Op op;
  MPI_Type_contiguous((int)bytes, MPI_BYTE, &t);
  MPI_Type_commit(&t);
  MPI_Op_create(merge_op, 0, &op);
  merge_dd = dd;
  int rc = 0;
  const int64_t chunk = (int64_t)1 << 22;
  for (int64_t off = 0; off < n && !rc; off += chunk) {
    int c = (int)(n - off < chunk ? n - off : chunk);
    rc = MPI_Allreduce(MPI_IN_PLACE, (lsce_rowstats *)st + off, c, t, op, MPI_COMM_WORLD) != MPI_SUCCESS;
  }
  MPI_Op_free(&op);
  MPI_Type_free(&t);
  return rc;
}

static int allgather_cols(void *grad, size_t es, int64_t N, int64_t K) {
  int n = lsce_mpi_size();
  if (N <= 0 || K <= 0) return 0;
  if (N > 0x7fffffff || (double)K * (double)es > 0x7fffffff) return 1;
  for (int b = 0; b < n; b++) {
    int64_t c0, c1;
    lsce_row_block(K, b, n, &c0, &c1);
    if (c1 == c0) continue;
    MPI_Datatype t;
    MPI_Type_vector((int)N, (int)((c1 - c0) * (int64_t)es), (int)(K * (int64_t)es), MPI_BYTE, &t);
    MPI_Type_commit(&t);
    int rc = MPI_Bcast((char *)grad + c0 * (int64_t)es, 1, t, b, MPI_COMM_WORLD);
    MPI_Type_free(&t);
    if (rc != MPI_SUCCESS) return 1;
  }
  return 0;
}

static int bcast_loss(double *loss, int64_t n) {
  const int64_t chunk = (int64_t)1 << 27;
  for (int64_t off = 0; off < n; off += chunk) {
    int c = (int)(n - off < chunk ? n - off : chunk);
    if (MPI_Bcast(loss + off, c, MPI_DOUBLE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) return 1;
  }
  return 0;
}

static int allgather(void *all, const void *mine, size_t bytes) {
  if (bytes > 0x7fffffff) return 1;
  return MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD) != MPI_SUCCESS;
}

void lsce_mpi_vocab_register(void) {
  static lsce_vocab_comm c;
  c.rank = lsce_mpi_rank();
  c.size = lsce_mpi_size();
  c.allreduce_stats = allreduce_stats;
  c.allgather_cols = allgather_cols;
  c.bcast_loss = bcast_loss;
  c.allgather = allgather;
  lsce_vocab_comm_set(&c);
}
