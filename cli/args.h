/* cli/args.h: the command-line grammar of docs/cli.md "Arguments": --name VALUE or --name=VALUE, in
 * any order, each at most once; the argument after a value-taking option is always its value. */
#ifndef LSCE_CLI_ARGS_H
#define LSCE_CLI_ARGS_H
#include <stdint.h>
#include "lsce/npy.h"
#include "lsce/values.h" /* the value grammars (core/values.c) */

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

#endif
