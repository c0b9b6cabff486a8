/* mpi/mpi_agree.c: the collective error agreement and the row gather of lsce-mpi (mpi_agree.h).
 * No arithmetic: doubles travel as bytes, so every rank holds the very values computed. */
#include <mpi.h>
#include <string.h>
#include "mpi_agree.h"
#include "lsce/problem.h"

int lsce_mpi_rank(void) { int r = 0; MPI_Comm_rank(MPI_COMM_WORLD, &r); return r; }
int lsce_mpi_size(void) { int s = 1; MPI_Comm_size(MPI_COMM_WORLD, &s); return s; }

int lsce_mpi_agree(int rc, lsce_err *err) {
  int me = lsce_mpi_rank(), n = lsce_mpi_size();
  int mine = rc != LSCE_OK ? me : n, first = n;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first == n) return LSCE_OK;
  int code = rc;
  MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD);
  MPI_Bcast(err->line, (int)sizeof err->line, MPI_CHAR, first, MPI_COMM_WORLD);
  err->code = code;
  return code;
}

/* Each rank's block goes out as bytes, by broadcasts of at most 2^30 bytes from its owner. */
int lsce_mpi_allgather_rows(void *dst, const void *src, int64_t N, int64_t rowlen, size_t elsize) {
  int me = lsce_mpi_rank(), n = lsce_mpi_size();
  const int64_t chunk = (int64_t)1 << 30;
  for (int b = 0; b < n; b++) {
    int64_t lo, hi;
    lsce_row_block(N, b, n, &lo, &hi);
    int64_t len = (hi - lo) * rowlen * (int64_t)elsize;
    char *d = (char *)dst + lo * rowlen * (int64_t)elsize;
    if (b == me && len > 0 && d != (const char *)src) memcpy(d, src, (size_t)len);
    for (int64_t off = 0; off < len; off += chunk) {
      int c = (int)(len - off < chunk ? len - off : chunk);
      MPI_Bcast(d + off, c, MPI_BYTE, b, MPI_COMM_WORLD);
    }
  }
  return LSCE_OK;
}
