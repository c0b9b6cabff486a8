/* cli/output.h: the contract's number format and all-or-nothing output files (temporary names in
 * the target directories, renamed only when every output is complete). */
#ifndef LSCE_CLI_OUTPUT_H
#define LSCE_CLI_OUTPUT_H
#include <stdio.h>
#include "lsce/npy.h"

/* "%.17g", "0" for either zero, "inf", "-inf", "nan" (never "-nan"). buf >= 32 bytes. */
const char *lsce_fmt_g17(char *buf, double x);
/* "%a" with the same non-finite spellings. */
const char *lsce_fmt_hex(char *buf, double x);

#define LSCE_MAX_OUTPUTS 4
typedef struct {
  int n;
  char final[LSCE_MAX_OUTPUTS][4096];
  char temp[LSCE_MAX_OUTPUTS][4200];
} lsce_outset;

void lsce_outset_init(lsce_outset *o);
/* Writes a float64 .npy to a temporary name beside `path`. */
int lsce_outset_add_f64(lsce_outset *o, const char *path, const double *data, int ndim,
                        const int64_t *shape, lsce_err *err);
/* Renames every temporary to its final name (LSCE_OK) or removes them all. */
int lsce_outset_commit(lsce_outset *o, lsce_err *err);
void lsce_outset_abort(lsce_outset *o);

/* Exit 3 before allocating when `bytes` exceed the memory available (MemAvailable of
 * /proc/meminfo; no check where it cannot be read). */
int lsce_check_memory(double bytes, const char *who, lsce_err *err);
#endif
