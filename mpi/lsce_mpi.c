/* mpi/lsce_mpi.c: `mpirun -np P lsce-mpi <command> ...`: lsce's own commands (cli/main.c, compiled
 * with main renamed lsce_cli_main) run on every rank, with the reference, the problem loader and the
 * output files replaced by their collective versions (mpi_reference.c, mpi_wrap.c). Rank 0 alone
 * prints and writes; the others' stdout and stderr go to /dev/null, and `verify --json F` writes
 * F.rank<r> beside F on rank r > 0, removed at the end (so a directory that refuses F refuses it on
 * every rank alike). Every rank exits with the highest exit code of any rank.
 *
 * A rank that fails on its own: the command layer agrees on every failure it can foresee
 * (mpi_wrap.c, the rows' own agreements), but a rank can still fail alone (an allocation of the
 * command code, say), leaving the others waiting in the command's next collective on
 * MPI_COMM_WORLD. So the final exit-code reduction runs on a communicator of its own (exit_comm),
 * non-blocking: a rank whose command failed waits for it at most LSCE_MPI_ALONE_S seconds (default
 * 30; ranks that fail together reach it at once), then writes its own error line (a rank r > 0
 * keeps its standard error in a temporary file, emptied before each command, instead of /dev/null)
 * and `lsce: rank <r>: failed alone (exit <rc>); the job is aborted` to the standard error it was
 * started with, and aborts the job with that code. A rank that succeeded waits for ever, as before.
 *
 * `lsce-mpi batch FILE` (a test aid: one MPI start for many commands) runs each line of FILE, the
 * arguments after `lsce` split at spaces, and prints `== rc=N` after each; it exits 0. */
#include <errno.h>
#include <mpi.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mpi_agree.h"
#include "mpi_vocab.h"

int lsce_cli_main(int argc, char **argv);

static MPI_Comm exit_comm = MPI_COMM_NULL;
static FILE *own_stderr; /* this rank's standard error before /dev/null (rank 0: stderr itself) */

/* The highest rc of any rank, over exit_comm; a failed rank gives the others LSCE_MPI_ALONE_S seconds */
static int exit_code(int rc) {
  int all = rc;
  MPI_Request rq;
  MPI_Iallreduce(&rc, &all, 1, MPI_INT, MPI_MAX, exit_comm, &rq);
  if (rc == 0) {
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    return all;
  }
  const char *e = getenv("LSCE_MPI_ALONE_S");
  const double limit = e && atof(e) > 0 ? atof(e) : 30.0;
  struct timespec t0, t, nap = {0, 1000000};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int done = 0;;) {
    MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
    if (done) return all;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((double)(t.tv_sec - t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - t0.tv_nsec) > limit) break;
    nanosleep(&nap, NULL);
  }
  if (lsce_mpi_rank() != 0) { /* its own error line: the last line of its kept standard error */
    char line[1024] = "", buf[1024];
    fflush(stderr);
    FILE *f = fdopen(dup(2), "r");
    if (f) {
      rewind(f);
      while (fgets(buf, sizeof buf, f)) memcpy(line, buf, sizeof line);
      fclose(f);
    }
    if (line[0]) fputs(line, own_stderr);
  }
  fprintf(own_stderr, "lsce: rank %d: failed alone (exit %d); the job is aborted\n", lsce_mpi_rank(), rc);
  fflush(own_stderr);
  MPI_Abort(MPI_COMM_WORLD, rc);
  return rc;
}

/* Runs lsce_cli_main(argv) on every rank; rank > 0 gets `verify --json F.rank<r>`. Returns the
 * highest exit code of any rank. */
static int run_one(int argc, char **argv) {
  int me = lsce_mpi_rank();
  char *side = NULL;
  for (int i = 2; me != 0 && i + 1 < argc; i++)
    if (!strcmp(argv[1], "verify") && !strcmp(argv[i], "--json")) {
      size_t n = strlen(argv[i + 1]) + 32;
      side = malloc(n);
      if (!side) MPI_Abort(MPI_COMM_WORLD, 3);
      snprintf(side, n, "%s.rank%d", argv[i + 1], me);
      argv[i + 1] = side;
    }
  if (me != 0) { /* its standard error kept for exit_code(), this command's only */
    fflush(stderr);
    if (ftruncate(2, 0) == 0) lseek(2, 0, SEEK_SET);
  }
  int rc = lsce_cli_main(argc, argv);
  fflush(stdout);
  int all = exit_code(rc);
  if (side) { unlink(side); free(side); }
  return all;
}

static int run_batch(const char *prog, const char *path) {
  FILE *f = fopen(path, "r");
  int ok = f != NULL, all = 0;
  MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all) {
    fprintf(stderr, "lsce: %s: cannot open the batch file\n", path);
    if (f) fclose(f);
    return 2;
  }
  char line[16384];
  while (fgets(line, sizeof line, f)) {
    char *argv[256];
    int argc = 0;
    argv[argc++] = (char *)prog;
    for (char *t = strtok(line, " \t\n"); t && argc < 255; t = strtok(NULL, " \t\n")) argv[argc++] = t;
    argv[argc] = NULL;
    if (argc < 2) continue;
    int rc = run_one(argc, argv);
    printf("== rc=%d\n", rc);
    fflush(stdout);
    fflush(stderr);
  }
  fclose(f);
  return 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int me = lsce_mpi_rank();
  lsce_mpi_vocab_register();
  if (MPI_Comm_dup(MPI_COMM_WORLD, &exit_comm) != MPI_SUCCESS) MPI_Abort(MPI_COMM_WORLD, 3);
  own_stderr = stderr;
  if (me != 0) {
    int fd = dup(2);
    own_stderr = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!own_stderr) own_stderr = stderr; /* then the line goes to /dev/null; the abort still happens */
  }
  FILE *kept = me != 0 ? tmpfile() : NULL; /* rank r > 0's standard error (exit_code) */
  if (me != 0 && (!freopen("/dev/null", "w", stdout) || !kept || dup2(fileno(kept), 2) < 0))
    MPI_Abort(MPI_COMM_WORLD, 3);
  int rc = argc == 3 && !strcmp(argv[1], "batch") ? run_batch(argv[0], argv[2]) : run_one(argc, argv);
  MPI_Comm_free(&exit_comm);
  MPI_Finalize();
  /* lsce's main leaves stdout open here (LSCE_CLI_KEEP_STDOUT): the close is checked like lsce's */
  if (fclose(stdout) != 0 && rc != 2 && rc != 3) {
    fprintf(stderr, "lsce: standard output: cannot write: %s\n", strerror(errno ? errno : EIO));
    rc = 3;
  }
  return rc;
}
