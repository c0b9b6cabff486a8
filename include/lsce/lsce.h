/* lsce/lsce.h: liblsce, the public C API. One label-smoothing cross-entropy problem is built from
 * the caller's arrays (no files, no copies) and then
 *   - lsce_reference_compute: the certified reference: the correctly rounded float64 loss (and
 *     gradient) of the exact value (docs/accuracy.md), as `lsce reference` prints it;
 *   - lsce_run: one registry row (`lsce impls`) on the same problem, as `lsce run` does;
 *   - lsce_check: a caller's loss (and gradient) measured in ulps against the reference, with
 *     check's PASS/FAIL verdict (docs/cli.md "check").
 * Status codes are the command line's exit codes (LSCE_OK, LSCE_EINPUT = 2 for bad input,
 * LSCE_EINCOMPLETE = 3 when the work could not complete) and the messages are its error lines
 * without the "lsce: " prefix, with `logits`, `targets`, `weights`, `loss`, `grad` in place of the
 * file names (docs/cli.md "Errors and exit codes"). The library reads no environment variable:
 * the command line's LSCE_* knobs are set through lsce_set_config.
 * Link with `pkg-config --cflags --libs lsce`. */
#ifndef LSCE_LSCE_H
#define LSCE_LSCE_H
#include <stddef.h>
#include <stdint.h>
#include "lsce/types.h" /* lsce_dtype (LSCE_DT_F64 ...), LSCE_OK, LSCE_EINPUT, LSCE_EINCOMPLETE */

#ifdef __cplusplus
extern "C" {
#endif

/* A caller-owned array: C order, native byte order, `ndim` in 0..2 (shape[k] for k < ndim).
 * bfloat16 is given as its uint16 bit patterns with dtype LSCE_DT_BF16. The memory must stay
 * valid and unchanged for as long as a problem built on it is used: liblsce reads it in place. */
typedef struct {
  const void *data;
  lsce_dtype dtype;
  int ndim;
  int64_t shape[2];
} lsce_array;

/* An error: code (LSCE_EINPUT or LSCE_EINCOMPLETE) and the one-line message. */
typedef struct {
  int code;
  char message[1024];
} lsce_error;

/* The problem's options, the command line's PROBLEM options (docs/cli.md "Arguments"). */
typedef struct {
  const char *variant;    /* an id of `lsce variants`: "k", "k1", ... (required) */
  const char *smoothing;  /* the smoothing as a decimal string, exact: "0.1" (required) */
  const char *reduction;  /* "mean" (also when NULL), "sum" or "none" */
  int64_t ignore_index;   /* default -100 */
  int64_t pad_index;      /* the pad class P of k2-pad-kl; -1 when not given */
  int64_t tp;             /* k1-megatron's tensor-parallel size T (--tp); 0 when not given */
  int64_t rank;           /* k1-megatron's rank r in [0, T) (--rank); default 0 */
} lsce_options;

void lsce_options_default(lsce_options *o);

typedef struct lsce_problem_s lsce_problem_t; /* opaque */

/* Validates the arrays and options in the command line's order (the first error is reported) and
 * builds the problem; weights may be NULL. Returns LSCE_OK (and *out) or an error. */
int lsce_problem_create(lsce_problem_t **out, const lsce_array *logits, const lsce_array *targets,
                        const lsce_array *weights, const lsce_options *o, lsce_error *err);
void lsce_problem_destroy(lsce_problem_t *p);
int64_t lsce_problem_rows(const lsce_problem_t *p);    /* N */
int64_t lsce_problem_classes(const lsce_problem_t *p); /* K */
int64_t lsce_problem_nloss(const lsce_problem_t *p);   /* N for reduction none, else 1 */

/* The correctly rounded float64 loss into loss[0 .. nloss) and, when grad is not NULL, the
 * gradient dloss/dlogits into grad[0 .. N*K) (C order). */
int lsce_reference_compute(const lsce_problem_t *p, double *loss, double *grad, lsce_error *err);

/* Registry row `impl` (see lsce_impl_count / lsce_impl_name): its loss and gradient in its output
 * dtype, converted exactly to float64. LSCE_EINCOMPLETE when its device is absent. */
int lsce_run(const lsce_problem_t *p, const char *impl, double *loss, double *grad, lsce_error *err);
int lsce_impl_count(void);
const char *lsce_impl_name(int i); /* NULL outside [0, lsce_impl_count()) */

/* What check measured. The ulp figures, rows and columns are those of `lsce check` (row -1 for a
 * mean/sum loss); pass is its verdict: loss_ulp <= max_ulp and, with a gradient, grad_ulp <=
 * max_grad_ulp. diagnosis holds check's lines after a FAIL (which formulation the values compute)
 * when has_diagnosis is 1. */
typedef struct {
  int pass;
  double loss_ulp;
  int64_t loss_row;
  double loss_ref, loss_got;
  int has_grad;
  double grad_ulp;
  int64_t grad_row, grad_col;
  double grad_ref, grad_got;
  lsce_dtype loss_dtype, grad_dtype;
  int has_diagnosis;
  char diagnosis[2048];
} lsce_check_result;

/* check's thresholds when the caller has none (`--max-ulp`, `--max-grad-ulp` defaults). */
#define LSCE_CHECK_MAX_ULP 1.0
#define LSCE_CHECK_MAX_GRAD_ULP 2.0

/* Measures the caller's loss (shape () or (1,) for mean/sum, (N,) for none; any float dtype; its
 * values taken as they are, like check's --loss-file) and, when grad is not NULL, gradient ((N, K))
 * against the reference. Like check, every row whose target is not ignored must have valid logits. loss_dtype and grad_dtype are the
 * dtypes the values are judged in (check's --loss-dtype, --grad-dtype), -1 for the logits' dtype.
 * Returns LSCE_OK with the verdict in r->pass (a FAIL is not an error), or an error. */
int lsce_check(const lsce_problem_t *p, const lsce_array *loss, const lsce_array *grad,
               int loss_dtype, int grad_dtype, double max_ulp, double max_grad_ulp,
               lsce_check_result *r, lsce_error *err);

/* The run-time settings (lsce_config in lsce/types.h), the command line's LSCE_* environment knobs
 * (docs/cli.md "Environment"), which liblsce never reads: lsce_config_default fills the values of an
 * empty environment; lsce_set_config checks every field (LSCE_EINPUT naming the knob, nothing set;
 * what each accepts is its row in lsce/knobs.h; a count above its cap reads as the cap) and sets
 * them for every later call of the process (not while a call runs); lsce_get_config reads them back. */
void lsce_config_default(lsce_config *c);
int lsce_set_config(const lsce_config *c, lsce_error *err);
void lsce_get_config(lsce_config *c);

/* The library's version ("0.1.0") and the commit it was built from. */
const char *lsce_library_version(void);
const char *lsce_library_commit(void);
#ifdef __cplusplus
}
#endif
#endif
