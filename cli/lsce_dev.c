/* cli/lsce_dev.c: `lsce-dev`, the test-only companion of lsce. It prints what `lsce` must never
 * print: the reference's double-double goldens (hi = RN(exact), lo = RN(exact - hi), both
 * certified) and the working precision the Ziv loop reached.
 *   lsce-dev golden PROBLEM [--precision BITS] [--grad] [--grad-rows I,J,...]
 * prints "precision <bits>", then "loss <i> <hi %a> <lo %a>" per loss value (i = -1 for mean/sum),
 * then with --grad "grad <i> <j> <hi> <lo>" per gradient entry (only rows I, J, ... with
 * --grad-rows; negative indices count from the end: -1 is the last row).
 * --cap-form x-tanh|mask-to-C computes the soft cap in one of the diagnosis's two wrong forms
 * (lsce/problem.h cap_form: x tanh(x/C), or -inf turned into -C), for the independent oracle's
 * check of them (tests/test_oracle_catalog.py); `lsce` itself never sets them.
 *   lsce-dev gpuprobe | gpuverify | gpubench: the GPU commands of scripts/gpu-check (lsce_dev_gpu.c). */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "output.h"
#include "problem_args.h"
#include "settings.h"
#include "lsce/reference.h"
#include "lsce/registry.h"

static const lsce_opt dev_opts[] = {
  {"--logits", 1}, {"--targets", 1}, {"--weights", 1}, {"--variant", 1}, {"--smoothing", 1},
  {"--reduction", 1}, {"--ignore-index", 1}, {"--pad-index", 1}, {"--tp", 1}, {"--rank", 1},
  {"--precision", 1}, {"--grad", 0}, {"--grad-rows", 1}, {"--help", 0},
  /* issue #15's options (the options fixture set's goldens) */
  {"--logit-scale", 1}, {"--softcap", 1}, {"--z-loss", 1}, {"--sample-weights", 1}, {"--normalizer", 1},
  {"--cap-form", 1}};
#define NOPTS ((int)(sizeof dev_opts / sizeof dev_opts[0]))

int lsce_problem_require(const lsce_args *a, const lsce_problem *p, lsce_err *err);

int lsce_fail(const lsce_err *err) {
  fprintf(stderr, "lsce-dev: %s\n", err->line);
  return err->code;
}

int lsce_require(const void *args, const char *name, lsce_err *err) {
  if (lsce_arg_given((const lsce_args *)args, name)) return LSCE_OK;
  return lsce_err_set(err, LSCE_EINPUT, "%s: missing required option", name);
}

/* lsce-dev gpuprobe | gpuverify | gpubench: cli/lsce_dev_gpu.c */
int lsce_dev_gpu(int argc, char **argv);

int main(int argc, char **argv) {
  lsce_err serr; /* the LSCE_* knobs, read once and handed to the libraries (cli/settings.c) */
  if (lsce_settings_load(&serr)) return lsce_fail(&serr);
  if (argc >= 2 && strncmp(argv[1], "gpu", 3) == 0) return lsce_dev_gpu(argc, argv);
  if (argc < 2 || strcmp(argv[1], "golden") != 0 ||
      lsce_wants_help(dev_opts, NOPTS, argc, argv, 2)) {
    fputs("usage: lsce-dev golden PROBLEM [--precision BITS] [--grad] [--grad-rows I,J,...] [--cap-form x-tanh|mask-to-C]\n", argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  lsce_problem p;
  lsce_problem_init(&p);
  lsce_args a;
  lsce_err err;
  lsce_ref_opts ro;
  lsce_ref_opts_default(&ro);
  lsce_problem_args pa = {.cmd = LSCE_CMD_REFERENCE, .cmdname = "golden"};
  int rc = lsce_ref_opts_env(&ro, &err);
  pa.max_prec = ro.max_prec;
  if (!rc) rc = lsce_problem_args_parse(&pa, &p, &a, dev_opts, NOPTS, argc, argv, NULL, NULL, &err);
  if (!rc) rc = lsce_problem_require(&a, &p, &err);
  const char *cf = rc ? NULL : lsce_arg(&a, "--cap-form");
  const int form = !cf ? LSCE_CAP_TANH : strcmp(cf, "x-tanh") == 0 ? LSCE_CAP_X_TANH
                   : strcmp(cf, "mask-to-C") == 0 ? LSCE_CAP_MASK_TO_C : -1;
  if (form < 0) rc = lsce_err_set(&err, LSCE_EINPUT, "--cap-form: '%s' is not x-tanh or mask-to-C", cf);
  p.sample_weights_path = pa.sample_weights;
  if (!rc) rc = lsce_problem_load(&p, pa.logits, pa.targets, pa.weights, &err);
  p.cap_form = form;
  lsce_ref_result r = {0};
  if (!rc) {
    ro.start_prec = pa.start_prec;
    ro.want_grad = lsce_arg_given(&a, "--grad") || lsce_arg_given(&a, "--grad-rows");
    ro.want_lo = 1;
    rc = lsce_reference(&r, &p, &ro, "golden", &err);
  }
  if (rc) { lsce_problem_clear(&p); return lsce_fail(&err); }
  char b1[48], b2[48];
  printf("precision %ld\n", r.prec_reached);
  for (int64_t i = 0; i < r.nloss; i++)
    printf("loss %lld %s %s\n", (long long)(r.nloss == 1 && p.reduction != LSCE_RED_NONE ? -1 : i),
           lsce_fmt_hex(b1, r.loss[i]), lsce_fmt_hex(b2, r.loss_lo[i]));
  const char *rows = lsce_arg(&a, "--grad-rows");
  if (r.grad)
    for (int64_t i = 0; i < p.N; i++) {
      if (rows) { /* is i listed? */
        int listed = 0;
        for (const char *c = rows; *c;) {
          char *end;
          long long v = strtoll(c, &end, 10);
          if (end == c) break;
          if (v < 0) v += p.N;
          if (v == i) listed = 1;
          c = *end == ',' ? end + 1 : end;
        }
        if (!listed) continue;
      }
      for (int64_t j = 0; j < p.K; j++)
        printf("grad %lld %lld %s %s\n", (long long)i, (long long)j,
               lsce_fmt_hex(b1, r.grad[i * p.K + j]), lsce_fmt_hex(b2, r.grad_lo[i * p.K + j]));
    }
  lsce_ref_result_free(&r);
  lsce_problem_clear(&p);
  return 0;
}
