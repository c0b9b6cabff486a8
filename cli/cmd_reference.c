/* cli/cmd_reference.c: `lsce reference PROBLEM [--precision BITS] [--out O.npy] [--grad-out G.npy]`:
 * the correctly rounded float64 loss (and gradient) of the certified reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "output.h"
#include "problem_args.h"
#include "progress.h"
#include "settings.h"
#include "lsce/invoke.h"
#include "lsce/reference.h"
#include "lsce/ref_options.h"

static const lsce_opt ref_opts[] = {
  {"--logits", 1}, {"--targets", 1}, {"--weights", 1}, {"--variant", 1}, {"--smoothing", 1},
  {"--reduction", 1}, {"--ignore-index", 1}, {"--pad-index", 1}, {"--tp", 1}, {"--rank", 1},
  {"--precision", 1}, {"--out", 1}, {"--grad-out", 1}, {"--help", 0},
  /* issue #15 */
  {"--logit-scale", 1}, {"--softcap", 1}, {"--z-loss", 1}, {"--sample-weights", 1}, {"--normalizer", 1}};
#define NOPTS ((int)(sizeof ref_opts / sizeof ref_opts[0]))

static const lsce_opt run_opts[] = {
  {"--impl", 1}, {"--logits", 1}, {"--targets", 1}, {"--weights", 1}, {"--variant", 1},
  {"--smoothing", 1}, {"--reduction", 1}, {"--ignore-index", 1}, {"--pad-index", 1},
  {"--tp", 1}, {"--rank", 1}, {"--out", 1}, {"--grad-out", 1}, {"--help", 0},
  /* issue #15 */
  {"--logit-scale", 1}, {"--softcap", 1}, {"--z-loss", 1}, {"--sample-weights", 1}, {"--normalizer", 1}};
#define NRUN ((int)(sizeof run_opts / sizeof run_opts[0]))

static const char *run_usage =
  "usage: lsce run --impl NAME --logits L.npy --targets T.npy [--weights W.npy] --variant ID\n"
  "                --smoothing E [--reduction mean|sum|none] [--ignore-index I] [--pad-index P]\n"
  "                [--tp T [--rank R]] [--out O.npy] [--grad-out G.npy] [--logit-scale S]\n"
  "                [--softcap C] [--z-loss Z] [--sample-weights S.npy]\n"
  "                [--normalizer valid|rows|sample-weights|nonzero|N]\n"
  "Prints the implementation's loss converted exactly to float64 (see lsce impls).\n";

static int check_impl(const char *name, const char *value, void *user, lsce_err *err) {
  if (strcmp(name, "--impl") != 0) return LSCE_OK;
  const lsce_impl **im = user;
  *im = lsce_impl_find(value);
  if (!*im) return lsce_err_set(err, LSCE_EINPUT, "--impl: unknown implementation '%s' (see lsce impls)", value);
  return LSCE_OK;
}

static const char *ref_usage =
  "usage: lsce reference --logits L.npy --targets T.npy [--weights W.npy] --variant ID\n"
  "                      --smoothing E [--reduction mean|sum|none] [--ignore-index I]\n"
  "                      [--pad-index P] [--tp T [--rank R]] [--precision BITS] [--out O.npy]\n"
  "                      [--grad-out G.npy] [--logit-scale S] [--softcap C] [--z-loss Z]\n"
  "                      [--sample-weights S.npy] [--normalizer valid|rows|sample-weights|nonzero|N]\n"
  "Prints the correctly rounded float64 loss (mean/sum: one line; none: N lines).\n"
  "--precision is the Ziv loop's starting precision (it changes the time, never an output).\n";

/* Missing required PROBLEM options, in synopsis order. */
int lsce_problem_require(const lsce_args *a, const lsce_problem *p, lsce_err *err) {
  int rc;
  if ((rc = lsce_require(a, "--logits", err))) return rc;
  if ((rc = lsce_require(a, "--targets", err))) return rc;
  if (p->variant >= 0 && lsce_variants[p->variant].needs_weights &&
      (rc = lsce_require(a, "--weights", err)))
    return rc;
  if ((rc = lsce_require(a, "--variant", err))) return rc;
  if ((rc = lsce_require(a, "--smoothing", err))) return rc;
  if (p->variant >= 0 && lsce_variants[p->variant].needs_pad_index &&
      (rc = lsce_require(a, "--pad-index", err)))
    return rc;
  if (p->variant >= 0 && lsce_variant_needs_tp(p->variant) && (rc = lsce_require(a, "--tp", err)))
    return rc;
  return LSCE_OK;
}

/* Writes --out/--grad-out to their temporaries, prints the loss lines, and renames the outputs only
 * when standard output took every byte: all or nothing. */
int lsce_emit_results(const lsce_args *a, const lsce_problem *p, const double *loss, int64_t nloss,
                      const double *grad, lsce_err *err) {
  lsce_outset os;
  lsce_outset_init(&os);
  const char *out = lsce_arg(a, "--out"), *gout = lsce_arg(a, "--grad-out");
  int rc;
  if (out) {
    int64_t shape[1] = {nloss};
    if ((rc = lsce_outset_add_f64(&os, out, loss, p->reduction == LSCE_RED_NONE ? 1 : 0, shape, err)))
      return rc;
  }
  if (gout) {
    int64_t shape[2] = {p->N, p->K};
    if ((rc = lsce_outset_add_f64(&os, gout, grad, 2, shape, err))) return rc;
  }
  char b[48];
  for (int64_t i = 0; i < nloss; i++) printf("%s\n", lsce_fmt_g17(b, loss[i]));
  if ((rc = lsce_outset_check_stdout(&os, err))) return rc;
  return lsce_outset_commit(&os, err);
}

/* --out and --grad-out must name two files (usage, exit 2). */
static int lsce_outputs_check(const lsce_args *a, lsce_err *err) {
  static const char *const names[2] = {"--out", "--grad-out"};
  const char *paths[2] = {lsce_arg(a, "--out"), lsce_arg(a, "--grad-out")};
  return lsce_outputs_distinct(names, paths, 2, err);
}

int lsce_cmd_reference(int argc, char **argv) {
  const int run = strcmp(argv[1], "run") == 0;
  const lsce_opt *opts = run ? run_opts : ref_opts;
  const int nopts = run ? NRUN : NOPTS;
  if (lsce_wants_help(opts, nopts, argc, argv, 2)) { fputs(run ? run_usage : ref_usage, stdout); return 0; }
  const lsce_impl *im = NULL;
  lsce_problem p;
  lsce_problem_init(&p);
  lsce_args a;
  lsce_err err;
  lsce_ref_opts ro;
  lsce_ref_opts_default(&ro);
  lsce_problem_args pa = {.cmd = run ? LSCE_CMD_RUN : LSCE_CMD_REFERENCE, .cmdname = argv[1]};
  lsce_settings_ref_opts(&ro);
  int rc = LSCE_OK;
  pa.max_prec = ro.max_prec;
  if (!rc) rc = lsce_problem_args_parse(&pa, &p, &a, opts, nopts, argc, argv, check_impl, &im, &err);
  if (!rc && run) rc = lsce_require(&a, "--impl", &err);
  if (!rc) rc = lsce_problem_require(&a, &p, &err);
  if (!rc) rc = lsce_outputs_check(&a, &err);
  p.sample_weights_path = pa.sample_weights;
  if (!rc) rc = lsce_problem_load(&p, pa.logits, pa.targets, pa.weights, &err);
  lsce_ref_result r = {0};
  if (!rc && lsce_arg_given(&a, "--grad-out")) /* the gradient (and a float64 copy to write) */
    rc = lsce_check_memory(((double)p.N * (double)p.K) * (run ? 8.0 + 8.0 : 8.0 * 2), argv[1], &err);
  if (!rc && run) {
    /* the dtype first, then issue #15's options (the CPU rows and mpi_vocab_parallel compute them,
     * the others refuse them: exit 2 whether or not their device is here), then the device
     * (docs/cli.md) */
    if (!lsce_impl_takes(im, p.logits.dtype)) rc = lsce_impl_usable(im, p.logits.dtype, &err);
    if (!rc) rc = lsce_impl_takes_options(im, &p, &err);
    if (!rc) rc = lsce_impl_usable(im, p.logits.dtype, &err);
    if (!rc) {
      r.nloss = p.reduction == LSCE_RED_NONE ? p.N : 1;
      r.loss = calloc((size_t)(r.nloss > 0 ? r.nloss : 1), sizeof(double));
      if (lsce_arg_given(&a, "--grad-out")) r.grad = calloc((size_t)(p.N * p.K > 0 ? p.N * p.K : 1), sizeof(double));
      if (!r.loss || (lsce_arg_given(&a, "--grad-out") && !r.grad))
        rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "run: out of memory");
      else if (!(rc = lsce_threads_preflight(im->name, &err)))
        rc = lsce_invoke(im, &p, r.loss, r.grad, "run", &err);
    }
  } else if (!rc) {
    ro.start_prec = pa.start_prec;
    ro.want_grad = lsce_arg_given(&a, "--grad-out");
    lsce_progress_attach(&ro, "reference");
    rc = lsce_reference(&r, &p, &ro, "reference", &err);
    lsce_progress_clear(); /* before the loss lines, which may go to the same terminal */
  }
  if (!rc) rc = lsce_emit_results(&a, &p, r.loss, r.nloss, r.grad, &err);
  lsce_ref_result_free(&r);
  lsce_problem_clear(&p);
  if (rc) return lsce_fail(&err);
  return 0;
}
