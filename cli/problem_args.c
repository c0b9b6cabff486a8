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

/* ---- the options of issue #15 (docs/cli.md "Options of issue #15") ---------------------------- */
int lsce_option15(const lsce_problem *p, const char *name) {
  (void)p;
  static const char *const names[] = {"--logit-scale", "--softcap", "--z-loss", "--sample-weights",
                                      "--normalizer"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    if (!strcmp(name, names[k])) return 1;
  return 0;
}

/* the smoothing grammar without its [0, 1] bound, read exactly (lsce_parse_loss's decimal branch;
 * a sign, a hex float, inf and nan are not decimals here) */
static int parse_rational(mpq_t q, const char *s, const char *opt, lsce_err *err) {
  lsce_err e2;
  mpq_t h;
  double d;
  int fin = 0;
  if (*s == '-' || strchr(s, 'x') || strchr(s, 'X') || strchr(s, 'n') || strchr(s, 'N'))
    return lsce_err_set(err, LSCE_EINPUT, "%s: not a decimal number: '%s'", opt, s);
  mpq_init(h);
  int rc = lsce_parse_loss(q, &d, h, &fin, s, opt, &e2);
  mpq_clear(h);
  if (rc && strstr(e2.line, "significant")) return lsce_err_set(err, LSCE_EINPUT, "%s: more than 40 significant digits", opt);
  if (rc || !fin) return lsce_err_set(err, LSCE_EINPUT, "%s: not a decimal number: '%s'", opt, s);
  return LSCE_OK;
}

static int check_option15(lsce_problem_args *pa, lsce_problem *p, const char *name, const char *v,
                          lsce_err *err) {
  int rc;
  if (!strcmp(name, "--logit-scale") || !strcmp(name, "--softcap")) {
    int scale = name[2] == 'l';
    mpq_ptr q = scale ? p->scale : p->softcap;
    if ((rc = parse_rational(q, v, name, err))) return rc;
    if (mpq_sgn(q) <= 0) return lsce_err_set(err, LSCE_EINPUT, "%s: %s must be > 0", name, v);
    if (scale) p->has_scale = 1; else p->has_softcap = 1;
  } else if (!strcmp(name, "--z-loss")) {
    if ((rc = parse_rational(p->zloss, v, name, err))) return rc;
    p->has_zloss = 1;
  } else if (!strcmp(name, "--sample-weights")) {
    pa->sample_weights = v;
  } else if (!strcmp(name, "--normalizer")) {
    static const char *const kinds[] = {"valid", "rows", "sample-weights", "nonzero"};
    for (int k = 0; k < 4; k++)
      if (!strcmp(v, kinds[k])) { p->normalizer = LSCE_NORM_VALID + k; return LSCE_OK; }
    int64_t n = 0;
    lsce_err e2;
    if (*v < '0' || *v > '9' || lsce_parse_int64(&n, v, 0, name, &e2) || n < 1)
      return lsce_err_set(err, LSCE_EINPUT,
                          "--normalizer: must be valid, rows, sample-weights, nonzero or a positive integer, got '%s'", v);
    p->normalizer = LSCE_NORM_COUNT;
    p->normalizer_n = n;
  }
  return LSCE_OK;
}

int lsce_problem_option15(lsce_problem_args *pa, lsce_problem *p, const char *name, const char *v, lsce_err *err) {
  if (!lsce_option15(p, name)) return lsce_err_set(err, LSCE_EINPUT, "%s: not an option of issue #15", name);
  return check_option15(pa, p, name, v, err);
}

/* reference and run: an option of issue #15 that variant v does not take (docs/formulations.md
 * "Which option goes with which variant") */
static int variant_takes15(const lsce_problem *p, int v, const char *opt, lsce_err *err) {
  const lsce_variant *d = &lsce_variants[v];
  int sigmoid = !strcmp(d->family, "sigmoid");
  if (!strcmp(opt, "--z-loss") && sigmoid)
    return lsce_err_set(err, LSCE_EINPUT, "--z-loss: variant %s takes no z-loss", d->id);
  if (!strcmp(opt, "--normalizer") && d->weighting == LSCE_W_NLL)
    return lsce_err_set(err, LSCE_EINPUT,
                        "--normalizer: variant %s has two denominators and takes no normalizer", d->id);
  (void)p;
  return LSCE_OK;
}

/* every command: --normalizer only with a mean; sample-weights/nonzero need --sample-weights */
static int normalizer_rules(const lsce_problem *p, const lsce_args *a, lsce_err *err) {
  if (!lsce_arg_given(a, "--normalizer")) return LSCE_OK;
  const char *v = lsce_arg(a, "--normalizer");
  if (p->reduction != LSCE_RED_MEAN)
    return lsce_err_set(err, LSCE_EINPUT, "--normalizer: only with --reduction mean");
  if ((p->normalizer == LSCE_NORM_SAMPLE_WEIGHTS || p->normalizer == LSCE_NORM_NONZERO) &&
      !lsce_arg_given(a, "--sample-weights"))
    return lsce_err_set(err, LSCE_EINPUT, "--normalizer: %s needs --sample-weights", v);
  return LSCE_OK;
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
  } else if (!strcmp(name, "--tp")) { /* k1-megatron's tensor-parallel size T >= 1 */
    int rc = lsce_parse_int64(&p->tp, v, 0, name, err);
    if (!rc && p->tp < 1) rc = lsce_err_set(err, LSCE_EINPUT, "--tp: must be at least 1, got '%s'", v);
    return rc;
  } else if (!strcmp(name, "--rank")) { /* k1-megatron's rank r in [0, T) */
    return lsce_parse_int64(&p->rank, v, 0, name, err);
  } else if (!strcmp(name, "--precision")) {
    int64_t b;
    int rc = lsce_parse_int64(&b, v, 0, name, err);
    if (rc) return rc;
    if (b < 16 || b > pa->max_prec)
      return lsce_err_set(err, LSCE_EINPUT, "--precision: %s is outside [16, %ld]", v, pa->max_prec);
    pa->start_prec = (long)b;
  } else if (lsce_option15(p, name)) {
    return check_option15(pa, p, name, v, err);
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
  pa->sample_weights = NULL;
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
  /* --rank against --tp (both values valid by now) */
  if (lsce_arg_given(a, "--rank") && p->rank >= (lsce_arg_given(a, "--tp") ? p->tp : 1))
    return lsce_err_set(err, LSCE_EINPUT, "--rank: %lld is outside [0, %lld) (the ranks of --tp)",
                        (long long)p->rank, (long long)(lsce_arg_given(a, "--tp") ? p->tp : 1));
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
      if (!rc) rc = variant_takes15(p, p->variant, opts[idx[k]].name, err);
      if (rc) return rc;
    }
  /* k1-megatron has no form with issue #15's options (reference/ref_options.c computes the catalog's
   * kappa, not the shard's): every command refuses the combination rather than compute another loss */
  if (p->variant >= 0 && lsce_variant_needs_tp(p->variant))
    for (int k = 0; k < n; k++)
      if (lsce_option15(p, opts[idx[k]].name))
        return lsce_err_set(err, LSCE_EINPUT, "%s: variant %s does not combine with it (no form with issue #15's options)",
                            opts[idx[k]].name, lsce_variants[p->variant].id);
  p->ignore_given = lsce_arg_given(a, "--ignore-index");
  p->pad_given = lsce_arg_given(a, "--pad-index");
  return normalizer_rules(p, a, err);
}
