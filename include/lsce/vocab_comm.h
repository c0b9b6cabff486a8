/* lsce/vocab_comm.h: the communicator behind the registry row mpi_vocab_parallel. impls/ holds the
 * row and knows no MPI; lsce-mpi (mpi/mpi_vocab.c) registers these operations at start-up. In
 * `lsce` nothing is registered and the row reports itself unavailable. */
#ifndef LSCE_VOCAB_COMM_H
#define LSCE_VOCAB_COMM_H
#include <stdint.h>
#include "lsce/npy.h"

typedef struct {
  int rank, size;
  /* Every rank's st[0..n) (its shard's row statistics) merged with lsce_stats_merge in rank
   * (= class) order, into st on every rank. Returns 0 on success. */
  int (*allreduce_stats)(void *st, int64_t n, size_t stat_bytes, int dd);
  /* grad (N, K) of element size es: rank r's columns lsce_row_block(K, r, size) copied from rank r
   * to every rank. Returns 0 on success. */
  int (*allgather_cols)(void *grad, size_t es, int64_t N, int64_t K);
  /* loss[0..n) from rank 0 to every rank. */
  int (*bcast_loss)(double *loss, int64_t n);
  /* every rank's `bytes` bytes at mine into all (size * bytes, rank order), on every rank
   * (issue #15's options: the rows' records, impls/vocab_options.c). Returns 0 on success. */
  int (*allgather)(void *all, const void *mine, size_t bytes);
} lsce_vocab_comm;

void lsce_vocab_comm_set(const lsce_vocab_comm *c);
/* 1 on every rank when rc is nonzero on any rank, else 0 (a collective: every rank calls it; a rank
 * that returned alone on a failure would leave the others waiting in the next collective) */
int lsce_vocab_agree(const lsce_vocab_comm *cm, int rc);
const lsce_vocab_comm *lsce_vocab_comm_get(void);
#endif
