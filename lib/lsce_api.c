/* lib/lsce_api.c: liblsce (include/lsce/lsce.h) over the code the command line runs. A problem is
 * the CLI's lsce_problem whose arrays describe the caller's memory in place; it is validated by
 * lsce_problem_validate, the checks lsce_problem_load makes on files, in the contract's order
 * (docs/cli.md "The order of errors"), and the options by the CLI's own parsers, so every error is
 * the CLI's line. The reference is lsce_reference (reference/), run is lsce_invoke (verify/), and
 * check's figures are lsce_measure (verify/measure.c) against the reference with its low parts, exactly
 * as `lsce check` computes them; no value here is computed any other way, so the accuracy claims
 * are those of docs/accuracy.md for the same commands. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/config.h"
#include "lsce/diagnose.h"
#include "lsce/measure.h"
#include "lsce/values.h"
#include "lsce/invoke.h"
#include "lsce/lsce.h"
#include "lsce/reference.h"
#include "lsce_version.h"

struct lsce_problem_s {
  lsce_problem p;
  char *smoothing; /* the smoothing as given (the diagnosis prints it back) */
};

static int fail(lsce_error *out, const lsce_err *e) {
  if (out) {
    out->code = e->code;
    snprintf(out->message, sizeof out->message, "%s", e->line);
  }
  return e->code;
}

void lsce_options_default(lsce_options *o) {
  memset(o, 0, sizeof *o);
  o->ignore_index = -100;
  o->pad_index = -1;
  o->tp = 0;
  o->rank = 0;
}

/* An lsce_npy that reads the caller's array in place (core/npy.c's lsce_npy_view). */
static int wrap(lsce_npy *a, const lsce_array *x, const char *name, lsce_err *err) {
  return lsce_npy_view(a, x->dtype, x->ndim, x->shape, x->data, name, err);
}

static int missing(const char *opt, lsce_err *err) {
  return lsce_err_set(err, LSCE_EINPUT, "%s: missing required option", opt);
}

/* The options in synopsis order: values (the CLI's grammars and messages), then what the variant
 * does not take (reference's strict rule), then what it needs. */
static int set_options(lsce_problem *p, const lsce_options *o, int has_weights, lsce_err *err) {
  int rc;
  if (o->variant && (p->variant = lsce_variant_find(o->variant)) < 0)
    return lsce_err_set(err, LSCE_EINPUT, "--variant: unknown variant '%s' (see lsce variants)", o->variant);
  if (o->smoothing && (rc = lsce_parse_smoothing(p->e, o->smoothing, "--smoothing", err))) return rc;
  const char *red = o->reduction ? o->reduction : "mean";
  if (!strcmp(red, "mean")) p->reduction = LSCE_RED_MEAN;
  else if (!strcmp(red, "sum")) p->reduction = LSCE_RED_SUM;
  else if (!strcmp(red, "none")) p->reduction = LSCE_RED_NONE;
  else return lsce_err_set(err, LSCE_EINPUT, "--reduction: must be mean, sum or none, got '%s'", red);
  p->ignore_index = o->ignore_index;
  if (o->pad_index < -1) { /* the CLI's grammar takes no sign: its message for the typed value */
    char s[32];
    snprintf(s, sizeof s, "%" PRId64, o->pad_index);
    return lsce_parse_int64(&p->pad_index, s, 0, "--pad-index", err);
  }
  p->pad_index = o->pad_index;
  if (p->variant >= 0) {
    if (has_weights && (rc = lsce_variant_takes(p->variant, "--weights", err))) return rc;
    if (p->pad_index >= 0 && (rc = lsce_variant_takes(p->variant, "--pad-index", err))) return rc;
  }
  if (p->variant >= 0 && lsce_variants[p->variant].needs_weights && !has_weights) return missing("--weights", err);
  if (!o->variant) return missing("--variant", err);
  if (!o->smoothing) return missing("--smoothing", err);
  if (lsce_variants[p->variant].needs_pad_index && p->pad_index < 0) return missing("--pad-index", err);
  /* k1-megatron's --tp and --rank (issue #17), with the CLI's grammar and messages: a negative
   * value gets the grammar's line for its text; tp = 0 means not given */
  const int64_t tpv[2] = {o->tp, o->rank};
  const char *tpn[2] = {"--tp", "--rank"};
  for (int k = 0; k < 2; k++)
    if (tpv[k] < 0) {
      char s[32];
      int64_t dummy;
      snprintf(s, sizeof s, "%" PRId64, tpv[k]);
      return lsce_parse_int64(&dummy, s, 0, tpn[k], err);
    }
  if (o->tp > 0 && (rc = lsce_variant_takes(p->variant, "--tp", err))) return rc;
  if (o->rank > 0 && (rc = lsce_variant_takes(p->variant, "--rank", err))) return rc;
  if (o->rank >= (o->tp > 0 ? o->tp : 1))
    return lsce_err_set(err, LSCE_EINPUT, "--rank: %lld is outside [0, %lld) (the ranks of --tp)",
                        (long long)o->rank, (long long)(o->tp > 0 ? o->tp : 1));
  if (lsce_variant_needs_tp(p->variant) && o->tp == 0) return missing("--tp", err);
  p->tp = o->tp;
  p->rank = o->rank;
  return LSCE_OK;
}

int lsce_problem_create(lsce_problem_t **out, const lsce_array *logits, const lsce_array *targets,
                        const lsce_array *weights, const lsce_options *o, lsce_error *error) {
  *out = NULL;
  lsce_err err;
  lsce_problem_t *h = calloc(1, sizeof *h);
  if (!h) return fail(error, &(lsce_err){LSCE_EINCOMPLETE, "liblsce: out of memory"});
  lsce_problem *p = &h->p;
  lsce_problem_init(p);
  int rc = LSCE_OK;
  if (!logits) rc = missing("--logits", &err);
  else if (!targets) rc = missing("--targets", &err);
  if (!rc) rc = set_options(p, o, weights != NULL, &err);
  if (!rc && !(h->smoothing = strdup(o->smoothing)))
    rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "liblsce: out of memory");
  if (!rc) rc = wrap(&p->logits, logits, "logits", &err);
  if (!rc) rc = wrap(&p->targets, targets, "targets", &err);
  if (!rc && weights) {
    p->has_weights = 1;
    rc = wrap(&p->weights, weights, "weights", &err);
  }
  if (!rc) rc = lsce_problem_validate(p, "logits", "targets", "weights", &err);
  if (rc) {
    lsce_problem_destroy(h);
    return fail(error, &err);
  }
  *out = h;
  return LSCE_OK;
}

void lsce_problem_destroy(lsce_problem_t *h) {
  if (!h) return;
  lsce_problem_clear(&h->p);
  free(h->smoothing);
  free(h);
}

int64_t lsce_problem_rows(const lsce_problem_t *h) { return h->p.N; }
int64_t lsce_problem_classes(const lsce_problem_t *h) { return h->p.K; }
int64_t lsce_problem_nloss(const lsce_problem_t *h) { return h->p.reduction == LSCE_RED_NONE ? h->p.N : 1; }

static void copy_out(double *dst, const double *src, int64_t n) {
  if (dst && src && n > 0) memcpy(dst, src, sizeof(double) * (size_t)n);
}

int lsce_reference_compute(const lsce_problem_t *h, double *loss, double *grad, lsce_error *error) {
  lsce_err err;
  lsce_ref_opts ro;
  lsce_ref_opts_default(&ro);
  lsce_ref_opts_env(&ro, &err); /* LSCE_MAX_PRECISION as lsce_set_config set it (no environment) */
  ro.want_grad = grad != NULL;
  lsce_ref_result r = {0};
  int rc = lsce_reference(&r, &h->p, &ro, "reference", &err);
  if (!rc) {
    copy_out(loss, r.loss, r.nloss);
    copy_out(grad, r.grad, h->p.N * h->p.K);
  }
  lsce_ref_result_free(&r);
  return rc ? fail(error, &err) : LSCE_OK;
}

int lsce_impl_count(void) { return lsce_nimpls; }
const char *lsce_impl_name(int i) { return i >= 0 && i < lsce_nimpls ? lsce_impls[i].name : NULL; }

int lsce_run(const lsce_problem_t *h, const char *impl, double *loss, double *grad, lsce_error *error) {
  lsce_err err;
  const lsce_problem *p = &h->p;
  const lsce_impl *im = impl ? lsce_impl_find(impl) : NULL;
  int rc;
  if (!impl) rc = missing("--impl", &err);
  else if (!im) rc = lsce_err_set(&err, LSCE_EINPUT, "--impl: unknown implementation '%s' (see lsce impls)", impl);
  else rc = lsce_impl_usable(im, p->logits.dtype, &err);
  int64_t nloss = lsce_problem_nloss(h);
  double *l = rc ? NULL : calloc((size_t)(nloss > 0 ? nloss : 1), sizeof(double));
  if (!rc && !l) rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "run: out of memory");
  if (!rc) rc = lsce_invoke(im, p, l, grad, "run", &err);
  if (!rc) copy_out(loss, l, nloss);
  free(l);
  return rc ? fail(error, &err) : LSCE_OK;
}

/* A caller's loss or gradient as float64 (exact: every supported dtype embeds in double), checked
 * as check checks --loss-file and --grad (the same messages, `loss` and `grad` for the paths). */
static int read_values(double **out, const lsce_array *x, const lsce_problem *p, int is_grad,
                       lsce_err *err) {
  const char *name = is_grad ? "grad" : "loss";
  lsce_npy a;
  int rc = wrap(&a, x, name, err);
  if (rc) return rc;
  if (a.dtype > LSCE_DT_BF16)
    return lsce_err_set(err, LSCE_EINPUT, "%s: a %s must be float64, float32, float16 or uint16 (bfloat16), got %s",
                        name, is_grad ? "gradient" : "loss", lsce_dtype_name(a.dtype));
  const int none = p->reduction == LSCE_RED_NONE;
  if (is_grad && (a.ndim != 2 || a.shape[0] != p->N || a.shape[1] != p->K))
    return lsce_err_set(err, LSCE_EINPUT, "%s: expected shape (%lld, %lld) like the logits", name,
                        (long long)p->N, (long long)p->K);
  if (!is_grad && !(none ? (a.ndim == 1 && a.shape[0] == p->N) : (a.ndim == 0 || (a.ndim == 1 && a.shape[0] == 1))))
    return lsce_err_set(err, LSCE_EINPUT, "%s: expected shape %s for reduction %s", name,
                        none ? "(N,)" : "() or (1,)", p->reduction == LSCE_RED_SUM ? "sum" : none ? "none" : "mean");
  *out = malloc(sizeof(double) * (size_t)(a.count > 0 ? a.count : 1));
  if (!*out) return lsce_err_set(err, LSCE_EINCOMPLETE, "check: out of memory");
  for (int64_t i = 0; i < a.count; i++) (*out)[i] = lsce_npy_get_f(&a, i);
  return LSCE_OK;
}

static int check_dtype(int *dt, int given, lsce_dtype logits, const char *opt, lsce_err *err) {
  if (given < 0) { *dt = (int)logits; return LSCE_OK; }
  if (given > LSCE_DT_BF16)
    return lsce_err_set(err, LSCE_EINPUT, "%s: must be float64, float32, float16 or bfloat16, got %d", opt, given);
  *dt = given;
  return LSCE_OK;
}

/* The diagnosis of a FAIL (verify/diagnose.c, the same as `lsce check`): which formulation, at which
 * smoothing, the values compute; its `match` and `cause` lines go into r->diagnosis. */
static int lib_diagnose(lsce_check_result *r, const lsce_problem *p, const char *given,
                        const double *loss, const double *grad, lsce_dtype ldt, lsce_dtype gdt,
                        const lsce_ref_opts *ro, lsce_err *err) {
  lsce_diagnosis dg = {0};
  lsce_dg_input in = {p, loss, grad, ldt, gdt, NULL, 0.0, NULL};
  int rc = lsce_diagnose(&dg, &in, ro, err);
  if (rc) return rc;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) {
    lsce_diagnosis_free(&dg);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "check: out of memory");
  }
  lsce_diagnosis_print(f, &dg, p, given);
  fclose(f);
  snprintf(r->diagnosis, sizeof r->diagnosis, "%s", buf ? buf : "");
  r->has_diagnosis = 1;
  free(buf);
  lsce_diagnosis_free(&dg);
  return LSCE_OK;
}

int lsce_check(const lsce_problem_t *h, const lsce_array *loss, const lsce_array *grad,
               int loss_dtype, int grad_dtype, double max_ulp, double max_grad_ulp,
               lsce_check_result *r, lsce_error *error) {
  lsce_err err;
  memset(r, 0, sizeof *r);
  lsce_problem q = h->p; /* check validates every row that is not ignored (it searches them all) */
  q.validate_all = 1;
  int ldt = 0, gdt = 0, rc;
  double *l = NULL, *g = NULL;
  if (!(rc = lsce_problem_validate(&q, "logits", "targets", "weights", &err)) &&
      !(rc = check_dtype(&ldt, loss_dtype, q.logits.dtype, "--loss-dtype", &err)) &&
      !(rc = check_dtype(&gdt, grad_dtype, q.logits.dtype, "--grad-dtype", &err))) {
    if (!loss) rc = lsce_err_set(&err, LSCE_EINPUT, "--loss: missing required option (or --loss-file)");
    else rc = read_values(&l, loss, &q, 0, &err);
  }
  if (!rc && grad) rc = read_values(&g, grad, &q, 1, &err);
  lsce_ref_opts ro;
  lsce_ref_opts_default(&ro);
  lsce_ref_opts_env(&ro, &err); /* LSCE_MAX_PRECISION as lsce_set_config set it */
  ro.want_grad = grad != NULL;
  ro.want_lo = 1; /* the ulp metric needs the exact value's second part */
  lsce_ref_result ref = {0};
  if (!rc) rc = lsce_reference(&ref, &q, &ro, "check", &err);
  if (!rc) {
    lsce_measure_t m;
    lsce_measure(&m, &q, &ref, l, g, (lsce_dtype)ldt, (lsce_dtype)gdt);
    r->loss_ulp = m.loss_ulp; r->loss_row = m.loss_row; r->loss_ref = m.loss_ref; r->loss_got = m.loss_got;
    r->has_grad = g != NULL;
    r->grad_ulp = m.grad_ulp; r->grad_row = m.grad_row; r->grad_col = m.grad_col;
    r->grad_ref = m.grad_ref; r->grad_got = m.grad_got;
    r->loss_dtype = (lsce_dtype)ldt;
    r->grad_dtype = (lsce_dtype)gdt;
    /* check's verdict, against the reference (no doubt): the remainder's sign decides exact ties */
    r->pass = lsce_within(m.loss_ulp, m.loss_td, 0, max_ulp) == 1 &&
              (!g || lsce_within(m.grad_ulp, m.grad_td, 0, max_grad_ulp) == 1);
    if (!r->pass) rc = lib_diagnose(r, &q, h->smoothing, l, g, (lsce_dtype)ldt, (lsce_dtype)gdt, &ro, &err);
  }
  lsce_ref_result_free(&ref);
  free(l);
  free(g);
  return rc ? fail(error, &err) : LSCE_OK;
}

int lsce_set_config(const lsce_config *c, lsce_error *error) {
  lsce_err err;
  int rc = LSCE_OK;
  if (c->isa < -1 || c->isa > 2)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_ISA: must be -1 (the widest), 0 (scalar), 1 (avx2) or 2 (avx512), got %d", c->isa);
  else if (c->threads < 0)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_THREADS: %d is below 1", c->threads);
  else if (c->split < 0)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_SPLIT: %lld is below 0", c->split);
  else if (c->shards < 0)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_SHARDS: %lld is below 1", c->shards);
  else if (c->keep != 0 && c->keep != 1)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_KEEP: must be 0 or 1, got %d", c->keep);
  else if (c->row_reference != 0 && c->row_reference != 1)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_ROW_REFERENCE: must be 0 or 1, got %d", c->row_reference);
  else if (c->cuda_inplace != 0 && c->cuda_inplace != 1)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_CUDA_INPLACE: must be 0 or 1, got %d", c->cuda_inplace);
  else if (c->f32pass < 0 || c->f32pass > 2)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_F32PASS: must be 0, 1 or 2, got %d", c->f32pass);
  else if (c->f32one != 0 && c->f32one != 1)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_F32ONE: must be 0 or 1, got %d", c->f32one);
  else if (c->dblone != 0 && c->dblone != 1)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_DBLONE: must be 0 or 1, got %d", c->dblone);
  else if (c->tab16 < 0 || c->tab16 > 2)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_TAB16: must be 0, 1 or 2, got %d", c->tab16);
  else if (c->f64one != 0 && c->f64one != 1)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_F64ONE: must be 0 or 1, got %d", c->f64one);
  else if (c->pipe < 0 || c->pipe > 2)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_PIPE: must be 0, 1 or 2, got %d", c->pipe);
  else if (c->max_precision != 0 && c->max_precision < 16)
    rc = lsce_err_set(&err, LSCE_EINPUT, "LSCE_MAX_PRECISION: must be at least 16");
  if (rc) return fail(error, &err);
  lsce_config s = *c;
  if (s.threads > 256) s.threads = 256; /* as the command line caps LSCE_THREADS */
  lsce_config_set(&s);
  return LSCE_OK;
}

void lsce_get_config(lsce_config *c) { *c = *lsce_config_get(); }

const char *lsce_library_version(void) { return LSCE_LIB_VERSION; }
const char *lsce_library_commit(void) { return LSCE_COMMIT; }
