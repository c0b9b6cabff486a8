/* cli/problem_args.h: the PROBLEM options shared by reference, run, check and compare, validated in
 * the contract's order: argument errors in argv order, then missing required options in synopsis
 * order; then the files (lsce_problem_load). */
#ifndef LSCE_CLI_PROBLEM_ARGS_H
#define LSCE_CLI_PROBLEM_ARGS_H
#include "args.h"
#include "lsce/problem.h"

typedef enum { LSCE_CMD_REFERENCE, LSCE_CMD_RUN, LSCE_CMD_CHECK, LSCE_CMD_COMPARE } lsce_cmd;

/* Extra per-command value checks (e.g. check's --loss) called for options that are not PROBLEM
 * options, in argv order. Returns LSCE_OK or an error. */
typedef int (*lsce_extra_check)(const char *name, const char *value, void *user, lsce_err *err);

typedef struct {
  lsce_cmd cmd;
  const char *cmdname;
  long start_prec;       /* --precision, default 64 */
  long max_prec;
  const char *logits, *targets, *weights;
  const char *sample_weights; /* --sample-weights (issue #15) */
} lsce_problem_args;

/* Parses argv into a (with the command's option table), fills p's options (not its files).
 * `required_extra` lists extra required options in synopsis order, placed before (run: --impl)
 * or after (check: one of --loss/--loss-file, handled by the caller) the PROBLEM ones. */
int lsce_problem_args_parse(lsce_problem_args *pa, lsce_problem *p, lsce_args *a,
                            const lsce_opt *opts, int nopts, int argc, char **argv,
                            lsce_extra_check extra, void *user, lsce_err *err);
/* One option of issue #15 (--logit-scale, --softcap, --z-loss, --normalizer; --sample-weights sets
 * pa->sample_weights) read into p exactly as the command line reads it (verify's manifest "options"). */
int lsce_problem_option15(lsce_problem_args *pa, lsce_problem *p, const char *name, const char *v, lsce_err *err);
/* 1 when "--help" appears as an option (not as a value) in argv[first..). */
int lsce_wants_help(const lsce_opt *opts, int nopts, int argc, char **argv, int first);
#endif
