/* mpi/lsce_mpi.c: `mpirun -np P lsce-mpi <command> ...`: lsce's own commands (cli/main.c, compiled
 * with main renamed lsce_cli_main) run on every rank, with the reference, the problem loader and the
 * output files replaced by their collective versions (mpi_reference.c, mpi_wrap.c). Rank 0 alone
 * prints and writes; the others' stdout and stderr go to /dev/null, and `verify --json F` writes
 * F.rank<r> beside F on rank r > 0, removed at the end (so a directory that refuses F refuses it on
 * every rank alike). Every rank exits with the highest exit code of any rank.
 *
 * `lsce-mpi batch FILE` (a test aid: one MPI start for many commands) runs each line of FILE, the
 * arguments after `lsce` split at spaces, and prints `== rc=N` after each; it exits 0. */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mpi_agree.h"
#include "mpi_vocab.h"

int lsce_cli_main(int argc, char **argv);

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
  int rc = lsce_cli_main(argc, argv), all = rc;
  fflush(stdout);
  MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
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
  if (me != 0 && (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)))
    MPI_Abort(MPI_COMM_WORLD, 3);
  int rc = argc == 3 && !strcmp(argv[1], "batch") ? run_batch(argv[0], argv[2]) : run_one(argc, argv);
  MPI_Finalize();
  /* lsce's main leaves stdout open here (LSCE_CLI_KEEP_STDOUT): the close is checked like lsce's */
  if (fclose(stdout) != 0 && rc != 2 && rc != 3) {
    fprintf(stderr, "lsce: standard output: cannot write: %s\n", strerror(errno ? errno : EIO));
    rc = 3;
  }
  return rc;
}
