/* cli/main.c: `lsce` dispatches to its subcommands; exit codes 0 success, 1 verdict failed, 2 bad
 * input or usage, 3 could not complete. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "args.h"
#include "probe.h"
#include "progress.h"
#include "settings.h"

static const char *usage =
  "usage: lsce <command> [options]\n"
  "\n"
  "  lsce variants [--json]\n"
  "  lsce impls [--json]\n"
  "  lsce reference PROBLEM [--precision BITS] [--out O.npy] [--grad-out G.npy]\n"
  "  lsce run --impl NAME PROBLEM [--out O.npy] [--grad-out G.npy]\n"
  "  lsce check PROBLEM (--loss X | --loss-file O.npy) [--grad G.npy] [--dtype T]\n"
  "             [--loss-dtype T] [--grad-dtype T] [--max-ulp U] [--max-grad-ulp G] [--json]\n"
  "  lsce compare --logits L.npy --targets T.npy [--weights W.npy] --smoothing E\n"
  "             [--reduction mean|sum] [--ignore-index I] [--pad-index P] [--tp T [--rank R]]\n"
  "             [--json]\n"
  "  lsce verify [--impl NAME|all] [--quick] [--fixtures DIR] [--json FILE]\n"
  "  lsce probe --out DIR [--dtype T]\n"
  "  lsce identify --probe DIR --outputs ODIR [--json]\n"
  "\n"
  "  PROBLEM = --logits L.npy --targets T.npy [--weights W.npy] --variant ID --smoothing E\n"
  "            [--reduction mean|sum|none] [--ignore-index I] [--pad-index P]\n"
  "            [--tp T [--rank R]]   (k1-megatron: T ranks, rank R's loss; R defaults to 0)\n"
  "  T = float64 | float32 | float16 | bfloat16\n"
  "\n"
  "Exit codes: 0 success, 1 a verdict failed, 2 bad input or usage, 3 could not complete.\n";

int lsce_fail(const lsce_err *err) {
  lsce_progress_clear();
  fprintf(stderr, "lsce: %s\n", err->line);
  return err->code;
}

/* lsce chooses its thread count itself (LSCE_THREADS). The OpenMP runtime reads OMP_NUM_THREADS and
 * OMP_THREAD_LIMIT in its constructor, before main, and warns on stderr about junk there; this runs
 * earlier still (an executable's preinit_array precedes every shared library's initialiser) and
 * drops both from the environment array in place (no allocation this early). */
static void drop_omp_thread_vars(int argc, char **argv, char **envp) {
  (void)argc; (void)argv;
  if (!envp) return;
  char **w = envp;
  for (char **r = envp; *r; r++)
    if (strncmp(*r, "OMP_NUM_THREADS=", 16) != 0 && strncmp(*r, "OMP_THREAD_LIMIT=", 17) != 0) *w++ = *r;
  *w = NULL;
}
__attribute__((section(".preinit_array"), used))
static void (*const lsce_preinit)(int, char **, char **) = drop_omp_thread_vars;

/* Every byte for standard output reached it: flushed and closed without error. Otherwise exit 3
 * with one line (unless the command already failed with its own line). lsce-mpi (mpi/), which runs
 * this main more than once in a process, builds it with LSCE_CLI_KEEP_STDOUT: flushed and checked,
 * left open (lsce_mpi.c closes it at the end). */
#ifdef LSCE_CLI_KEEP_STDOUT
#define LSCE_CLOSE_STDOUT 0
#else
#define LSCE_CLOSE_STDOUT 1
#endif
static int finish_stdout(int rc) {
  lsce_progress_clear();
  errno = 0;
  int bad = fflush(stdout) != 0 || ferror(stdout);
  int en = errno;
  if (LSCE_CLOSE_STDOUT && fclose(stdout) != 0 && !bad) { bad = 1; en = errno; }
  if (!bad || rc == 2 || rc == 3) return rc;
  fprintf(stderr, "lsce: standard output: cannot write: %s\n", strerror(en ? en : EIO));
  return 3;
}

static int dispatch(int argc, char **argv) {
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return 0;
  }
  lsce_err err;
  if (lsce_settings_load(&err)) return lsce_fail(&err);
  if (!strcmp(cmd, "variants")) return lsce_cmd_variants(argc, argv);
  if (!strcmp(cmd, "reference") || !strcmp(cmd, "run")) return lsce_cmd_reference(argc, argv);
  if (!strcmp(cmd, "impls")) return lsce_cmd_impls(argc, argv);
  if (!strcmp(cmd, "verify")) return lsce_cmd_verify(argc, argv);
  if (!strcmp(cmd, "check")) return lsce_cmd_check(argc, argv);
  if (!strcmp(cmd, "compare")) return lsce_cmd_compare(argc, argv);
  if (!strcmp(cmd, "probe")) return lsce_cmd_probe(argc, argv);
  if (!strcmp(cmd, "identify")) return lsce_cmd_identify(argc, argv);
  fprintf(stderr, "lsce: %s: unknown command (see lsce --help)\n", cmd);
  return 2;
}

int lsce_require(const void *args, const char *name, lsce_err *err) {
  if (lsce_arg_given((const lsce_args *)args, name)) return LSCE_OK;
  return lsce_err_set(err, LSCE_EINPUT, "%s: missing required option", name);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "lsce: usage: no command given (see lsce --help)\n");
    return 2;
  }
  /* a full disk under RLIMIT_FSIZE is a write error (EFBIG, exit 3), not a killing signal */
  signal(SIGXFSZ, SIG_IGN);
  /* A closed standard stream would hand its number to the next file opened (an output's bytes
   * would then go where the stream's should): hold it with /dev/null opened the wrong way round,
   * so that writes to it fail and are reported. */
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) == -1 && open("/dev/null", fd ? O_RDONLY : O_WRONLY) != fd) return 3;
  return finish_stdout(dispatch(argc, argv));
}
