/* cli/output.h: the contract's number format and all-or-nothing output files. Every regular output
 * is written to a short temporary name in its target's directory; only when all of them (and
 * standard output) are complete are they renamed, with the cleanup signals held back; on any
 * failure, or on SIGINT/SIGTERM/SIGHUP/SIGPIPE/SIGQUIT during the write phase, every temporary is
 * removed. A special file (character device, FIFO, ...) is written directly, never renamed over. */
#ifndef LSCE_CLI_OUTPUT_H
#define LSCE_CLI_OUTPUT_H
#include <stdio.h>
#include "lsce/json.h" /* lsce_fmt_g17, lsce_fmt_hex (core/json.c) */
#include "lsce/npy.h"


#define LSCE_MAX_OUTPUTS 4
#define LSCE_PATH_MAX 4096
typedef struct {
  int n;
  char final[LSCE_MAX_OUTPUTS][LSCE_PATH_MAX];
  char temp[LSCE_MAX_OUTPUTS][LSCE_PATH_MAX]; /* "" for a special file, written directly */
} lsce_outset;

/* Usage check before any work: LSCE_EINPUT "<opt>: names the same file as <opt'>" when two of the
 * given paths (NULL entries skipped) name one file: the same st_dev/st_ino when both exist, the same
 * canonical directory and name otherwise. */
int lsce_outputs_distinct(const char *const *opts, const char *const *paths, int n, lsce_err *err);

void lsce_outset_init(lsce_outset *o);
/* Writes a float64 .npy for `path` (to its temporary, or directly to a special file). On failure
 * every temporary of the set is removed and err is "<path>: cannot write: <why>" (exit 3). */
int lsce_outset_add_f64(lsce_outset *o, const char *path, const double *data, int ndim,
                        const int64_t *shape, lsce_err *err);
/* Opens a text output for `path` (its temporary, or the special file itself); close it with
 * lsce_outset_close before the commit. NULL and err set on failure (the set is aborted). */
FILE *lsce_outset_open(lsce_outset *o, const char *path, lsce_err *err);
int lsce_outset_close(lsce_outset *o, FILE *f, const char *path, lsce_err *err);
/* Checks that standard output took every byte so far (fflush, ferror): on failure aborts the set
 * and sets "standard output: cannot write: <why>". */
int lsce_outset_check_stdout(lsce_outset *o, lsce_err *err);
/* Renames every temporary to its final name (LSCE_OK) or removes them all. */
int lsce_outset_commit(lsce_outset *o, lsce_err *err);
void lsce_outset_abort(lsce_outset *o);

/* Exit 3 before allocating when `bytes` exceed the memory available (MemAvailable of
 * /proc/meminfo; no check where it cannot be read). */
int lsce_check_memory(double bytes, const char *who, lsce_err *err);
#endif
