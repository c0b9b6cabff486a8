/* cli/check: `lsce check PROBLEM (--loss X | --loss-file O.npy) [--grad G.npy] ...`: a user's loss
 * (and gradient) measured in ulps against the certified reference; after a FAIL, the diagnosis
 * (verify/diagnose.c) tells whether the values are the claim computed inaccurately or another formulation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "lsce/diagnose.h"
#include "lsce/json.h"
#include "lsce/measure.h"
#include "output.h"
#include "problem_args.h"
#include "lsce/certify.h"
#include "progress.h"
#include "settings.h"
#include "lsce/reference.h"
#include "lsce/ulp.h"

static const lsce_opt chk_opts[] = {
  {"--logits", 1}, {"--targets", 1}, {"--weights", 1}, {"--variant", 1}, {"--smoothing", 1},
  {"--reduction", 1}, {"--ignore-index", 1}, {"--pad-index", 1}, {"--tp", 1}, {"--rank", 1},
  {"--loss", 1}, {"--loss-file", 1},
  {"--grad", 1}, {"--dtype", 1}, {"--loss-dtype", 1}, {"--grad-dtype", 1}, {"--max-ulp", 1},
  {"--max-grad-ulp", 1}, {"--json", 0}, {"--help", 0},
  /* issue #15 */
  {"--logit-scale", 1}, {"--softcap", 1}, {"--z-loss", 1}, {"--sample-weights", 1}, {"--normalizer", 1}};
#define NOPTS ((int)(sizeof chk_opts / sizeof chk_opts[0]))

static const char *chk_usage =
  "usage: lsce check PROBLEM (--loss X | --loss-file O.npy) [--grad G.npy] [--dtype T]\n"
  "                  [--loss-dtype T] [--grad-dtype T] [--max-ulp U] [--max-grad-ulp G] [--json]\n"
  "PROBLEM also takes [--logit-scale S] [--softcap C] [--z-loss Z] [--sample-weights S.npy]\n"
  "[--normalizer valid|rows|sample-weights|nonzero|N] and (N, K) soft targets (docs/cli.md).\n"
  "Measures a loss (and gradient) in ulps against the certified reference; exit 0 when within\n"
  "--max-ulp (default 1) and --max-grad-ulp (default 2), else 1, with the formulation it matches.\n";

typedef struct {
  mpq_t X;          /* --loss as typed, exact (when finite) */
  mpq_t half;       /* half a unit in its last typed digit (0 for hex, files) */
  double Xd;        /* --loss rounded later to the loss dtype */
  int X_finite, X_given;
  int dt_loss, dt_grad; /* -1 = the logits' dtype */
  double U, G;
  int dtype_pos;    /* for the --dtype conflict */
} chk_state;

static int extra(const char *name, const char *v, void *user, lsce_err *err) {
  chk_state *s = user;
  if (!strcmp(name, "--loss")) {
    s->X_given = 1;
    return lsce_parse_loss(s->X, &s->Xd, s->half, &s->X_finite, v, name, err);
  }
  if (!strcmp(name, "--dtype") || !strcmp(name, "--loss-dtype") || !strcmp(name, "--grad-dtype")) {
    int t = lsce_parse_dtype(v);
    if (t < 0) return lsce_err_set(err, LSCE_EINPUT, "%s: must be float64, float32, float16 or bfloat16, got '%s'", name, v);
    if (!strcmp(name, "--dtype")) s->dt_loss = s->dt_grad = t;
    else if (!strcmp(name, "--loss-dtype")) s->dt_loss = t;
    else s->dt_grad = t;
    return LSCE_OK;
  }
  if (!strcmp(name, "--max-ulp")) return lsce_parse_ulp(&s->U, v, name, err);
  if (!strcmp(name, "--max-grad-ulp")) return lsce_parse_ulp(&s->G, v, name, err);
  return LSCE_OK;
}

/* exact rational rounded to nearest in T */
static double q_round_to(const mpq_t q, lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F32: return lsce_q_round_fmt(q, 24, -148, 128);
  case LSCE_DT_F16: return lsce_q_round_fmt(q, 11, -23, 16);
  case LSCE_DT_BF16: return lsce_q_round_fmt(q, 8, -132, 128);
  default: return lsce_q_round(q);
  }
}

int lsce_cmd_check(int argc, char **argv) {
  if (lsce_wants_help(chk_opts, NOPTS, argc, argv, 2)) { fputs(chk_usage, stdout); return 0; }
  lsce_problem p;
  lsce_problem_init(&p);
  p.validate_all = 1;
  lsce_args a;
  lsce_err err;
  lsce_ref_opts ro;
  lsce_ref_opts_default(&ro);
  chk_state s;
  mpq_inits(s.X, s.half, NULL);
  s.X_finite = s.X_given = 0;
  s.dt_loss = s.dt_grad = -1;
  s.U = 1;
  s.G = 2;
  lsce_problem_args pa = {.cmd = LSCE_CMD_CHECK, .cmdname = "check"};
  int rc = lsce_ref_opts_env(&ro, &err);
  pa.max_prec = ro.max_prec;
  if (!rc) rc = lsce_problem_args_parse(&pa, &p, &a, chk_opts, NOPTS, argc, argv, extra, &s, &err);
  /* usage conflicts, in argv order of the second option */
  if (!rc && lsce_arg_given(&a, "--dtype") && (lsce_arg_given(&a, "--loss-dtype") || lsce_arg_given(&a, "--grad-dtype")))
    rc = lsce_err_set(&err, LSCE_EINPUT, "--dtype: sets both dtypes; do not combine it with --loss-dtype or --grad-dtype");
  if (!rc && lsce_arg_given(&a, "--loss") && lsce_arg_given(&a, "--loss-file"))
    rc = lsce_err_set(&err, LSCE_EINPUT, "--loss-file: give either --loss or --loss-file, not both");
  if (!rc && lsce_arg_given(&a, "--loss") && p.reduction == LSCE_RED_NONE)
    rc = lsce_err_set(&err, LSCE_EINPUT, "--loss: a single value needs --reduction mean or sum (use --loss-file for none)");
  if (!rc) {
    if ((rc = lsce_require(&a, "--logits", &err)) || (rc = lsce_require(&a, "--targets", &err))) {}
    else if (p.variant >= 0 && lsce_variants[p.variant].needs_weights && (rc = lsce_require(&a, "--weights", &err))) {}
    else if ((rc = lsce_require(&a, "--variant", &err)) || (rc = lsce_require(&a, "--smoothing", &err))) {}
    else if (p.variant >= 0 && lsce_variants[p.variant].needs_pad_index && (rc = lsce_require(&a, "--pad-index", &err))) {}
    else if (p.variant >= 0 && lsce_variant_needs_tp(p.variant) && (rc = lsce_require(&a, "--tp", &err))) {}
    else if (!lsce_arg_given(&a, "--loss") && !lsce_arg_given(&a, "--loss-file"))
      rc = lsce_err_set(&err, LSCE_EINPUT, "--loss: missing required option (or --loss-file)");
  }
  p.sample_weights_path = pa.sample_weights;
  if (!rc) rc = lsce_problem_load(&p, pa.logits, pa.targets, pa.weights, &err);
  const int64_t N = p.N, K = p.K;
  const int64_t nloss = p.reduction == LSCE_RED_NONE ? N : 1;
  double *loss = NULL, *grad = NULL;
  lsce_dtype ldt = LSCE_DT_F64, gdt = LSCE_DT_F64;
  if (!rc) {
    ldt = s.dt_loss >= 0 ? (lsce_dtype)s.dt_loss : p.logits.dtype;
    gdt = s.dt_grad >= 0 ? (lsce_dtype)s.dt_grad : p.logits.dtype;
    loss = calloc((size_t)(nloss > 0 ? nloss : 1), sizeof(double));
    if (!loss) rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "check: out of memory");
  }
  const char *lf = lsce_arg(&a, "--loss-file"), *gf = lsce_arg(&a, "--grad");
  if (!rc && lf) {
    lsce_npy o;
    if (!(rc = lsce_npy_read(&o, lf, &err))) {
      int shape_ok = p.reduction == LSCE_RED_NONE ? (o.ndim == 1 && o.shape[0] == N)
                                                  : (o.ndim == 0 || (o.ndim == 1 && o.shape[0] == 1));
      if (o.dtype > LSCE_DT_BF16)
        rc = lsce_err_set(&err, LSCE_EINPUT, "%s: a loss must be float64, float32, float16 or uint16 (bfloat16), got %s", lf, lsce_dtype_name(o.dtype));
      else if (!shape_ok)
        rc = lsce_err_set(&err, LSCE_EINPUT, "%s: expected shape %s for reduction %s", lf,
                          p.reduction == LSCE_RED_NONE ? "(N,)" : "() or (1,)", lsce_red_name(p.reduction));
      else
        for (int64_t i = 0; i < nloss; i++) loss[i] = lsce_npy_get_f(&o, i);
      lsce_npy_free(&o);
    }
  } else if (!rc) {
    if (s.X_finite && s.Xd == 0) loss[0] = q_round_to(s.X, ldt);
    else loss[0] = s.Xd; /* inf, -inf, nan */
  }
  if (!rc && gf) {
    lsce_npy g;
    if (!(rc = lsce_npy_read(&g, gf, &err))) {
      if (g.dtype > LSCE_DT_BF16)
        rc = lsce_err_set(&err, LSCE_EINPUT, "%s: a gradient must be float64, float32, float16 or uint16 (bfloat16), got %s", gf, lsce_dtype_name(g.dtype));
      else if (g.ndim != 2 || g.shape[0] != N || g.shape[1] != K)
        rc = lsce_err_set(&err, LSCE_EINPUT, "%s: expected shape (%lld, %lld) like the logits", gf, (long long)N, (long long)K);
      else if (!(grad = malloc(sizeof(double) * (size_t)(N * K > 0 ? N * K : 1))))
        rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "check: out of memory");
      else
        for (int64_t i = 0; i < N * K; i++) grad[i] = lsce_npy_get_f(&g, i);
      lsce_npy_free(&g);
    }
  }
  lsce_ref_result ref = {0};
  lsce_measure_t m;
  int cert[2] = {1, 1}; /* per figure (loss, grad): 0 fast, 1 reference, 2 fast+reference */
  if (!rc) {
    ro.start_prec = pa.start_prec;
    ro.want_grad = gf != NULL;
    ro.want_lo = 1;
    lsce_progress_attach(&ro, "check");
    rc = lsce_check_measure(&ref, &m, cert, &p, &ro, loss, grad, ldt, gdt, s.U, s.G,
                            lsce_settings_get()->certify, &err);
    lsce_progress_clear();
    ro.progress = NULL; /* the diagnosis's own calls run silent */
  }
  if (rc) {
    free(loss); free(grad);
    mpq_clears(s.X, s.half, NULL);
    lsce_problem_clear(&p);
    return lsce_fail(&err);
  }
  int pass = lsce_within(m.loss_ulp, m.loss_td, m.loss_doubt, s.U) == 1 &&
             (!grad || lsce_within(m.grad_ulp, m.grad_td, m.grad_doubt, s.G) == 1);

  /* the diagnosis (verify/diagnose.c): which formulation, at which e, the values compute */
  lsce_diagnosis dg = {0};
  if (!pass) {
    lsce_dg_input in = {&p, loss, grad, ldt, gdt, s.X_given && s.X_finite ? (const mpq_t *)&s.X : NULL,
                        mpq_get_d(s.half), lsce_arg(&a, "--loss")};
    if ((rc = lsce_diagnose(&dg, &in, &ro, &err))) {
      lsce_ref_result_free(&ref);
      free(loss); free(grad);
      mpq_clears(s.X, s.half, NULL);
      lsce_problem_clear(&p);
      return lsce_fail(&err);
    }
  }
  char b1[48], b2[48], u1[32];
  if (!lsce_arg_given(&a, "--json")) {
    printf("loss ulp=%s row=%lld ref=%s got=%s\n", lsce_fmt_ulp(u1, m.loss_ulp), (long long)m.loss_row,
           lsce_fmt_hex(b1, m.loss_ref), lsce_fmt_hex(b2, m.loss_got));
    if (grad)
      printf("grad ulp=%s row=%lld col=%lld ref=%s got=%s\n", lsce_fmt_ulp(u1, m.grad_ulp), (long long)m.grad_row,
             (long long)m.grad_col, lsce_fmt_hex(b1, m.grad_ref), lsce_fmt_hex(b2, m.grad_got));
    printf("%s max_ulp=%g max_grad_ulp=%g\n", pass ? "PASS" : "FAIL", s.U, s.G);
    if (!pass) lsce_diagnosis_print(stdout, &dg, &p, lsce_arg(&a, "--smoothing"));
  } else {
    fputs("{\"loss\": {\"ulp\": ", stdout); lsce_json_num(stdout, m.loss_ulp);
    printf(", \"row\": %lld, \"ref\": ", (long long)m.loss_row); lsce_json_hex(stdout, m.loss_ref);
    fputs(", \"got\": ", stdout); lsce_json_hex(stdout, m.loss_got);
    fputs(", \"certifier\": ", stdout); lsce_json_str(stdout, lsce_certifier_name(cert[0]));
    fputs("}, \"grad\": ", stdout);
    if (grad) {
      fputs("{\"ulp\": ", stdout); lsce_json_num(stdout, m.grad_ulp);
      printf(", \"row\": %lld, \"col\": %lld, \"ref\": ", (long long)m.grad_row, (long long)m.grad_col);
      lsce_json_hex(stdout, m.grad_ref);
      fputs(", \"got\": ", stdout); lsce_json_hex(stdout, m.grad_got);
      fputs(", \"certifier\": ", stdout); lsce_json_str(stdout, lsce_certifier_name(cert[1]));
      fputs("}", stdout);
    } else fputs("null", stdout);
    printf(", \"pass\": %s, \"max_ulp\": ", pass ? "true" : "false"); lsce_json_num(stdout, s.U);
    fputs(", \"max_grad_ulp\": ", stdout); lsce_json_num(stdout, s.G);
    fputs(", \"loss_dtype\": ", stdout); lsce_json_str(stdout, lsce_dtype_name(ldt));
    fputs(", \"grad_dtype\": ", stdout); lsce_json_str(stdout, lsce_dtype_name(gdt));
    fputs(", ", stdout);
    if (pass) fputs("\"match\": null, \"cause\": null", stdout);
    else lsce_diagnosis_json(stdout, &dg, &p, lsce_arg(&a, "--smoothing"));
    fputs("}\n", stdout);
  }
  lsce_diagnosis_free(&dg);
  lsce_ref_result_free(&ref);
  free(loss); free(grad);
  mpq_clears(s.X, s.half, NULL);
  lsce_problem_clear(&p);
  return pass ? 0 : 1;
}
