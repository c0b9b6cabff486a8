/* cli/args.h: the command-line grammar of docs/cli.md "Arguments": --name VALUE or --name=VALUE, in
 * any order, each at most once; the argument after a value-taking option is always its value. */
#ifndef LSCE_CLI_ARGS_H
#define LSCE_CLI_ARGS_H
#include <gmp.h>
#include <stdint.h>
#include "lsce/npy.h"

typedef struct {
  const char *name;   /* "--smoothing" */
  int takes_value;    /* 0 for flags */
} lsce_opt;

typedef struct {
  const lsce_opt *opts;
  int nopts;
  const char *values[32]; /* value (or "" for a given flag) per option, NULL when absent */
  int pos[32];            /* argv index where each option appeared */
  int fail_pos;           /* argv index of the first grammar error, or argc */
} lsce_args;

/* Parses argv[first..argc). Per-argument grammar errors are the caller's (validate in argv order
 * with lsce_args_order). Returns LSCE_OK or LSCE_EINPUT. */
int lsce_args_parse(lsce_args *a, const lsce_opt *opts, int nopts, int argc, char **argv, int first,
                    const char *cmd, lsce_err *err);
const char *lsce_arg(const lsce_args *a, const char *name);
int lsce_arg_given(const lsce_args *a, const char *name);
/* Option indices sorted by their position in argv (for validating values in argv order). */
void lsce_args_order(const lsce_args *a, int *idx, int *n);

/* Value grammars. Each returns LSCE_OK or sets err naming the option. */
int lsce_parse_smoothing(mpq_t e, const char *s, const char *opt, lsce_err *err);
int lsce_parse_int64(int64_t *v, const char *s, int allow_sign, const char *opt, lsce_err *err);
/* float64 | float32 | float16 | bfloat16 -> lsce_dtype, or -1 */
int lsce_parse_dtype(const char *v);
/* --max-ulp: a decimal >= 0 or inf */
int lsce_parse_ulp(double *v, const char *s, const char *opt, lsce_err *err);
/* --loss: the smoothing grammar with an optional '-', a C99 hex float, inf, -inf or nan. Stores the
 * exact rational in q (when finite), the double nearest in *d, and the number of the last typed
 * digit's unit (half of it is the typed tolerance) in halfunit (0 for hex floats and non-finite). */
int lsce_parse_loss(mpq_t q, double *d, mpq_t halfunit, int *finite, const char *s, const char *opt,
                    lsce_err *err);
#endif
