/* core/problem.c: loads a PROBLEM's files and validates them in the contract's order (docs/cli.md
 * "Errors and exit codes": structure, cross-checks, values). Rows outside V are never read. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "lsce/problem.h"

void lsce_problem_init(lsce_problem *p) {
  memset(p, 0, sizeof *p);
  mpq_init(p->e);
  p->variant = -1;
  p->reduction = LSCE_RED_MEAN;
  p->ignore_index = -100;
  p->pad_index = -1;
}

void lsce_problem_clear(lsce_problem *p) {
  lsce_npy_free(&p->logits);
  lsce_npy_free(&p->targets);
  if (p->has_weights) lsce_npy_free(&p->weights);
  mpq_clear(p->e);
}

static const char *shape_str(char *buf, size_t n, const lsce_npy *a) {
  if (a->ndim == 0) snprintf(buf, n, "()");
  else if (a->ndim == 1) snprintf(buf, n, "(%lld,)", (long long)a->shape[0]);
  else snprintf(buf, n, "(%lld, %lld)", (long long)a->shape[0], (long long)a->shape[1]);
  return buf;
}

/* (2) structure of each array, in the order logits, targets, weights */
static int check_logits(lsce_problem *p, const char *lp, lsce_err *err) {
  char sb[64];
  if (p->logits.ndim != 2)
    return lsce_err_set(err, LSCE_EINPUT, "%s: logits must be 2-D (N, K), got shape %s", lp,
                        shape_str(sb, sizeof sb, &p->logits));
  if (p->logits.dtype > LSCE_DT_BF16)
    return lsce_err_set(err, LSCE_EINPUT,
                        "%s: logits must be float64, float32, float16 or uint16 (bfloat16), got %s",
                        lp, lsce_dtype_name(p->logits.dtype));
  if (p->logits.shape[1] < 1)
    return lsce_err_set(err, LSCE_EINPUT, "%s: logits need K >= 1 classes, got shape %s", lp,
                        shape_str(sb, sizeof sb, &p->logits));
  p->N = p->logits.shape[0];
  p->K = p->logits.shape[1];
  return LSCE_OK;
}

static int check_targets(const lsce_problem *p, const char *tp, lsce_err *err) {
  char sb[64];
  if (p->targets.ndim != 1)
    return lsce_err_set(err, LSCE_EINPUT, "%s: targets must be 1-D (N,), got shape %s", tp,
                        shape_str(sb, sizeof sb, &p->targets));
  if (p->targets.dtype != LSCE_DT_I32 && p->targets.dtype != LSCE_DT_I64)
    return lsce_err_set(err, LSCE_EINPUT, "%s: targets must be int32 or int64, got %s", tp,
                        lsce_dtype_name(p->targets.dtype));
  return LSCE_OK;
}

static int check_weights(const lsce_problem *p, const char *wp, lsce_err *err) {
  char sb[64];
  if (p->weights.ndim != 1)
    return lsce_err_set(err, LSCE_EINPUT, "%s: weights must be 1-D (K,), got shape %s", wp,
                        shape_str(sb, sizeof sb, &p->weights));
  if (p->weights.dtype != LSCE_DT_F32 && p->weights.dtype != LSCE_DT_F64)
    return lsce_err_set(err, LSCE_EINPUT, "%s: weights must be float32 or float64, got %s", wp,
                        lsce_dtype_name(p->weights.dtype));
  return LSCE_OK;
}

/* (3) cross-checks and (4) values, once every array's structure is known to be right */
static int check_cross_values(const lsce_problem *p, const char *lp, const char *tp, const char *wp,
                              lsce_err *err) {
  if (p->targets.shape[0] != p->N)
    return lsce_err_set(err, LSCE_EINPUT, "%s: targets have %lld rows, logits have %lld", tp,
                        (long long)p->targets.shape[0], (long long)p->N);
  if (p->has_weights && p->weights.shape[0] != p->K)
    return lsce_err_set(err, LSCE_EINPUT, "%s: weights have %lld entries, logits have K = %lld", wp,
                        (long long)p->weights.shape[0], (long long)p->K);
  if (p->variant >= 0 && p->K < lsce_variants[p->variant].min_K)
    return lsce_err_set(err, LSCE_EINPUT, "--variant: %s needs K >= %d classes, the logits have %lld",
                        lsce_variants[p->variant].id, lsce_variants[p->variant].min_K,
                        (long long)p->K);
  if (p->pad_index >= 0 && p->pad_index >= p->K)
    return lsce_err_set(err, LSCE_EINPUT, "--pad-index: %lld is outside [0, %lld)",
                        (long long)p->pad_index, (long long)p->K);
  /* (4) values: weights, targets, logits rows of V in C order */
  if (p->has_weights)
    for (int64_t c = 0; c < p->K; c++) {
      double w = lsce_npy_get_f(&p->weights, c);
      if (!isfinite(w))
        return lsce_err_set(err, LSCE_EINPUT, "%s: column %lld: weight is not finite", wp, (long long)c);
      if (w < 0)
        return lsce_err_set(err, LSCE_EINPUT, "%s: column %lld: weight %.17g is negative", wp,
                            (long long)c, w);
    }
  for (int64_t i = 0; i < p->N; i++) {
    int64_t t = lsce_npy_get_i(&p->targets, i);
    if (t != p->ignore_index && (t < 0 || t >= p->K))
      return lsce_err_set(err, LSCE_EINPUT,
                          "%s: row %lld: target %lld is outside [0, %lld) and is not the ignore index %lld",
                          tp, (long long)i, (long long)t, (long long)p->K, (long long)p->ignore_index);
  }
  /* compare and check search other variants too: validate every row that is not ignored */
  int v = (p->variant >= 0 && !p->validate_all) ? p->variant : LSCE_V_NONE;
  int64_t i0 = 0, i1 = p->N;
  if (p->nblocks > 1) lsce_row_block(p->N, p->block, p->nblocks, &i0, &i1);
  for (int64_t i = i0; i < i1; i++) {
    if (!lsce_row_in_V(p, v, i)) continue;
    int finite = 0;
    for (int64_t c = 0; c < p->K; c++) {
      double z = lsce_logit(p, i, c);
      if (isnan(z))
        return lsce_err_set(err, LSCE_EINPUT, "%s: row %lld, column %lld: logit is NaN", lp,
                            (long long)i, (long long)c);
      if (z == INFINITY)
        return lsce_err_set(err, LSCE_EINPUT, "%s: row %lld, column %lld: logit is +inf", lp,
                            (long long)i, (long long)c);
      if (z != -INFINITY) finite = 1;
    }
    if (!finite)
      return lsce_err_set(err, LSCE_EINPUT, "%s: row %lld: no finite logit", lp, (long long)i);
  }
  return LSCE_OK;
}

int lsce_problem_load(lsce_problem *p, const char *lp, const char *tp, const char *wp,
                      lsce_err *err) {
  int rc;
  /* each file is read, then its structure checked, before the next is opened */
  if ((rc = lsce_npy_read(&p->logits, lp, err)) || (rc = check_logits(p, lp, err))) return rc;
  if ((rc = lsce_npy_read(&p->targets, tp, err)) || (rc = check_targets(p, tp, err))) return rc;
  if (wp) {
    if ((rc = lsce_npy_read(&p->weights, wp, err))) return rc;
    p->has_weights = 1;
    if ((rc = check_weights(p, wp, err))) return rc;
  }
  return check_cross_values(p, lp, tp, wp, err);
}

int lsce_problem_validate(lsce_problem *p, const char *ln, const char *tn, const char *wn,
                          lsce_err *err) {
  int rc;
  if ((rc = check_logits(p, ln, err)) || (rc = check_targets(p, tn, err))) return rc;
  if (p->has_weights && (rc = check_weights(p, wn, err))) return rc;
  return check_cross_values(p, ln, tn, wn, err);
}

int lsce_variant_takes(int v, const char *opt, lsce_err *err) {
  const lsce_variant *d = &lsce_variants[v];
  if (!strcmp(opt, "--weights") && !d->needs_weights)
    return lsce_err_set(err, LSCE_EINPUT, "--weights: variant %s takes no class weights", d->id);
  if (!strcmp(opt, "--pad-index") && !d->needs_pad_index)
    return lsce_err_set(err, LSCE_EINPUT, "--pad-index: variant %s takes no pad index", d->id);
  return LSCE_OK;
}
