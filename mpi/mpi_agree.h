/* mpi/mpi_agree.h: lsce-mpi's collective helpers. Every rank runs the same command code; after each
 * step that can fail, the ranks agree on one outcome: the error of the lowest failing rank (ranks
 * own ascending blocks of rows, so that is the globally first error in the contract's order). */
#ifndef LSCE_MPI_AGREE_H
#define LSCE_MPI_AGREE_H
#include "lsce/npy.h"

int lsce_mpi_rank(void);
int lsce_mpi_size(void);
/* Collective: returns LSCE_OK on every rank when rc is LSCE_OK on every rank, else the code of the
 * lowest failing rank, with that rank's error line copied into *err on every rank. */
int lsce_mpi_agree(int rc, lsce_err *err);
/* Collective: dst (on every rank) = the blocks src of every rank in rank order, rows of `rowlen`
 * elements of `elsize` bytes (lsce_row_block's sizes; any count, chunked below MPI's int limit). */
int lsce_mpi_allgather_rows(void *dst, const void *src, int64_t N, int64_t rowlen, size_t elsize);
#endif
