/* cli/cmd_reference.c: `lsce reference PROBLEM [--precision BITS] [--out O.npy] [--grad-out G.npy]`:
 * the correctly rounded float64 loss (and gradient) of the certified reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "output.h"
#include "problem_args.h"
#include "lsce/reference.h"

static const lsce_opt ref_opts[] = {
  {"--logits", 1}, {"--targets", 1}, {"--weights", 1}, {"--variant", 1}, {"--smoothing", 1},
  {"--reduction", 1}, {"--ignore-index", 1}, {"--pad-index", 1}, {"--precision", 1},
  {"--out", 1}, {"--grad-out", 1}, {"--help", 0}};
#define NOPTS ((int)(sizeof ref_opts / sizeof ref_opts[0]))

static const char *ref_usage =
  "usage: lsce reference --logits L.npy --targets T.npy [--weights W.npy] --variant ID\n"
  "                      --smoothing E [--reduction mean|sum|none] [--ignore-index I]\n"
  "                      [--pad-index P] [--precision BITS] [--out O.npy] [--grad-out G.npy]\n"
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
  return LSCE_OK;
}

/* Prints the loss lines and writes --out/--grad-out atomically. */
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
  if ((rc = lsce_outset_commit(&os, err))) return rc;
  char b[48];
  for (int64_t i = 0; i < nloss; i++) printf("%s\n", lsce_fmt_g17(b, loss[i]));
  return LSCE_OK;
}

int lsce_cmd_reference(int argc, char **argv) {
  if (lsce_wants_help(ref_opts, NOPTS, argc, argv, 2)) { fputs(ref_usage, stdout); return 0; }
  lsce_problem p;
  lsce_problem_init(&p);
  lsce_args a;
  lsce_err err;
  lsce_ref_opts ro;
  lsce_ref_opts_default(&ro);
  lsce_problem_args pa = {.cmd = LSCE_CMD_REFERENCE, .cmdname = "reference"};
  int rc = lsce_ref_opts_env(&ro, &err);
  pa.max_prec = ro.max_prec;
  if (!rc) rc = lsce_problem_args_parse(&pa, &p, &a, ref_opts, NOPTS, argc, argv, NULL, NULL, &err);
  if (!rc) rc = lsce_problem_require(&a, &p, &err);
  if (!rc) rc = lsce_problem_load(&p, pa.logits, pa.targets, pa.weights, &err);
  lsce_ref_result r = {0};
  if (!rc) {
    ro.start_prec = pa.start_prec;
    ro.want_grad = lsce_arg_given(&a, "--grad-out");
    rc = lsce_reference(&r, &p, &ro, "reference", &err);
  }
  if (!rc) {
    fflush(stdout);
    rc = lsce_emit_results(&a, &p, r.loss, r.nloss, r.grad, &err);
  }
  lsce_ref_result_free(&r);
  lsce_problem_clear(&p);
  if (rc) return lsce_fail(&err);
  if (fflush(stdout) != 0) return 3;
  return 0;
}
