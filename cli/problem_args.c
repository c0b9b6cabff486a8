/* cli/problem_args.c: PROBLEM option values and their cross-checks (docs/cli.md "Arguments"). */
#include <string.h>
#include "problem_args.h"
#include "settings.h"
#include "lsce/reference.h"

int lsce_wants_help(const lsce_opt *opts, int nopts, int argc, char **argv, int first) {
  for (int i = first; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0) return 1;
    for (int j = 0; j < nopts; j++)
      if (opts[j].takes_value && strcmp(argv[i], opts[j].name) == 0) { i++; break; }
  }
  return 0;
}

static int check_value(lsce_problem_args *pa, lsce_problem *p, const char *name, const char *v,
                       lsce_extra_check extra, void *user, lsce_err *err) {
  if (!strcmp(name, "--variant")) {
    p->variant = lsce_variant_find(v);
    if (p->variant < 0) return lsce_err_set(err, LSCE_EINPUT, "--variant: unknown variant '%s' (see lsce variants)", v);
  } else if (!strcmp(name, "--smoothing")) {
    return lsce_parse_smoothing(p->e, v, name, err);
  } else if (!strcmp(name, "--reduction")) {
    if (!strcmp(v, "mean")) p->reduction = LSCE_RED_MEAN;
    else if (!strcmp(v, "sum")) p->reduction = LSCE_RED_SUM;
    else if (!strcmp(v, "none") && pa->cmd != LSCE_CMD_COMPARE) p->reduction = LSCE_RED_NONE;
    else return lsce_err_set(err, LSCE_EINPUT, "--reduction: must be %s, got '%s'",
                             pa->cmd == LSCE_CMD_COMPARE ? "mean or sum" : "mean, sum or none", v);
  } else if (!strcmp(name, "--ignore-index")) {
    return lsce_parse_int64(&p->ignore_index, v, 1, name, err);
  } else if (!strcmp(name, "--pad-index")) {
    return lsce_parse_int64(&p->pad_index, v, 0, name, err);
  } else if (!strcmp(name, "--precision")) {
    int64_t b;
    int rc = lsce_parse_int64(&b, v, 0, name, err);
    if (rc) return rc;
    if (b < 16 || b > pa->max_prec)
      return lsce_err_set(err, LSCE_EINPUT, "--precision: %s is outside [16, %ld]", v, pa->max_prec);
    pa->start_prec = (long)b;
  } else if (!strcmp(name, "--logits")) { pa->logits = v;
  } else if (!strcmp(name, "--targets")) { pa->targets = v;
  } else if (!strcmp(name, "--weights")) { pa->weights = v;
  } else if (extra) {
    return extra(name, v, user, err);
  }
  return LSCE_OK;
}

int lsce_problem_args_parse(lsce_problem_args *pa, lsce_problem *p, lsce_args *a,
                            const lsce_opt *opts, int nopts, int argc, char **argv,
                            lsce_extra_check extra, void *user, lsce_err *err) {
  lsce_err perr;
  pa->start_prec = LSCE_DEFAULT_PRECISION;
  pa->logits = pa->targets = pa->weights = NULL;
  int prc = lsce_args_parse(a, opts, nopts, argc, argv, 2, pa->cmdname, &perr);
  /* values of the options before the first grammar error, in argv order */
  int idx[32], n;
  lsce_args_order(a, idx, &n);
  for (int k = 0; k < n; k++) {
    if (a->pos[idx[k]] >= a->fail_pos && prc) break;
    int rc = check_value(pa, p, opts[idx[k]].name, a->values[idx[k]], extra, user, err);
    if (rc) return rc;
  }
  if (prc) { *err = perr; return prc; }
  /* LSCE_MAX_PRECISION below the default starting precision: the rule --precision obeys */
  if (pa->cmd != LSCE_CMD_RUN && !lsce_arg_given(a, "--precision")) {
    int rc = lsce_settings_check_precision(pa->start_prec, 0, err);
    if (rc) return rc;
  }
  /* options that the chosen variant does not take (reference and run only), in argv order */
  int strict = pa->cmd == LSCE_CMD_REFERENCE || pa->cmd == LSCE_CMD_RUN;
  if (strict && p->variant >= 0)
    for (int k = 0; k < n; k++) {
      int rc = lsce_variant_takes(p->variant, opts[idx[k]].name, err);
      if (rc) return rc;
    }
  return LSCE_OK;
}
