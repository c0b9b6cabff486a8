/* core/problem.c: loads a PROBLEM's files and validates them in the contract's order (docs/cli.md
 * "Errors and exit codes": structure, cross-checks, values). Rows outside V are never read. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "lsce/problem.h"
#include "lsce/megatron.h"

void lsce_problem_init(lsce_problem *p) {
  memset(p, 0, sizeof *p);
  mpq_init(p->e);
  p->variant = -1;
  p->reduction = LSCE_RED_MEAN;
  p->ignore_index = -100;
  p->pad_index = -1;
  mpq_inits(p->scale, p->softcap, p->zloss, NULL);
}

void lsce_problem_clear(lsce_problem *p) {
  lsce_npy_free(&p->logits);
  lsce_npy_free(&p->targets);
  if (p->has_weights) lsce_npy_free(&p->weights);
  if (p->has_sw) lsce_npy_free(&p->sw);
  mpq_clear(p->e);
  mpq_clears(p->scale, p->softcap, p->zloss, NULL);
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

static int check_targets(lsce_problem *p, const char *tp, lsce_err *err) {
  char sb[64];
  if (p->targets.ndim == 2) { /* soft targets (issue #15) */
    if (p->targets.dtype != LSCE_DT_F32 && p->targets.dtype != LSCE_DT_F64)
      return lsce_err_set(err, LSCE_EINPUT, "%s: soft targets must be float32 or float64, got %s", tp,
                          lsce_dtype_name(p->targets.dtype));
    p->soft = 1;
    return LSCE_OK;
  }
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

static int check_sw(const lsce_problem *p, const char *sp, lsce_err *err) {
  char sb[64];
  if (p->sw.ndim != 1)
    return lsce_err_set(err, LSCE_EINPUT, "%s: sample weights must be 1-D (N,), got shape %s", sp,
                        shape_str(sb, sizeof sb, &p->sw));
  if (p->sw.dtype != LSCE_DT_F32 && p->sw.dtype != LSCE_DT_F64)
    return lsce_err_set(err, LSCE_EINPUT, "%s: sample weights must be float32 or float64, got %s", sp,
                        lsce_dtype_name(p->sw.dtype));
  return LSCE_OK;
}

/* Soft (N, K) targets: k, k-logprob-weighted (the K form with no or logprob weights) and the
 * sigmoid family except bce-softmax-target (docs/formulations.md "Soft targets"). */
int lsce_variant_takes_soft(int v) {
  const lsce_variant *d = &lsce_variants[v];
  if (!strcmp(d->family, "sigmoid")) return strcmp(d->id, "bce-softmax-target") != 0;
  return d->off_divisor == 0 && !d->kl && !d->pad &&
         (d->weighting == LSCE_W_NONE || d->weighting == LSCE_W_LOGPROB);
}

/* issue #15's cross-checks: soft targets' shape, variant and index options; sample weights' length */
static int check_cross15(const lsce_problem *p, const char *tp, const char *sp, lsce_err *err) {
  char sb[64];
  if (p->soft) {
    if (p->targets.shape[0] != p->N || p->targets.shape[1] != p->K)
      return lsce_err_set(err, LSCE_EINPUT, "%s: soft targets have shape %s, logits have shape (%lld, %lld)",
                          tp, shape_str(sb, sizeof sb, &p->targets), (long long)p->N, (long long)p->K);
    if (p->variant >= 0 && !lsce_variant_takes_soft(p->variant))
      return lsce_err_set(err, LSCE_EINPUT, "%s: variant %s takes no soft (N, K) targets", tp,
                          lsce_variants[p->variant].id);
    if (p->ignore_given)
      return lsce_err_set(err, LSCE_EINPUT, "--ignore-index: soft targets have no ignore index");
    if (p->pad_given)
      return lsce_err_set(err, LSCE_EINPUT, "--pad-index: soft targets have no pad index");
  }
  if (p->has_sw && p->sw.shape[0] != p->N)
    return lsce_err_set(err, LSCE_EINPUT, "%s: sample weights have %lld entries, logits have N = %lld", sp,
                        (long long)p->sw.shape[0], (long long)p->N);
  return LSCE_OK;
}

/* issue #15's values: soft targets in [0, 1] (binary for bce-multilabel), then sample weights */
static int check_values15(const lsce_problem *p, const char *tp, const char *sp, lsce_err *err) {
  if (p->soft) {
    int binary = p->variant >= 0 && !strcmp(lsce_variants[p->variant].id, "bce-multilabel");
    for (int64_t i = 0; i < p->N; i++)
      for (int64_t c = 0; c < p->K; c++) {
        double t = lsce_soft_target(p, i, c);
        if (isnan(t))
          return lsce_err_set(err, LSCE_EINPUT, "%s: row %lld, column %lld: soft target is NaN", tp,
                              (long long)i, (long long)c);
        if (!(t >= 0 && t <= 1))
          return lsce_err_set(err, LSCE_EINPUT, "%s: row %lld, column %lld: soft target %.17g is outside [0, 1]",
                              tp, (long long)i, (long long)c, t);
        if (binary && t != 0 && t != 1)
          return lsce_err_set(err, LSCE_EINPUT,
                              "%s: row %lld, column %lld: bce-multilabel takes binary targets (0 or 1), got %.17g",
                              tp, (long long)i, (long long)c, t);
      }
  }
  if (p->has_sw)
    for (int64_t i = 0; i < p->N; i++) {
      double s = lsce_npy_get_f(&p->sw, i);
      if (!isfinite(s))
        return lsce_err_set(err, LSCE_EINPUT, "%s: row %lld: sample weight is not finite", sp, (long long)i);
      if (s < 0)
        return lsce_err_set(err, LSCE_EINPUT, "%s: row %lld: sample weight %.17g is negative", sp,
                            (long long)i, s);
    }
  return LSCE_OK;
}

/* (3) cross-checks and (4) values, once every array's structure is known to be right */
static int check_cross_values(const lsce_problem *p, const char *lp, const char *tp, const char *wp,
                              const char *sp, lsce_err *err) {
  if (!p->soft && p->targets.shape[0] != p->N)
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
  int mrc = lsce_megatron_check(p, err); /* k1-megatron: --tp against K and e */
  if (mrc) return mrc;
  int rc15 = check_cross15(p, tp, sp, err);
  if (rc15) return rc15;
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
  for (int64_t i = 0; i < p->N && !p->soft; i++) {
    int64_t t = lsce_npy_get_i(&p->targets, i);
    if (t != p->ignore_index && (t < 0 || t >= p->K))
      return lsce_err_set(err, LSCE_EINPUT,
                          "%s: row %lld: target %lld is outside [0, %lld) and is not the ignore index %lld",
                          tp, (long long)i, (long long)t, (long long)p->K, (long long)p->ignore_index);
  }
  if ((rc15 = check_values15(p, tp, sp, err))) return rc15;
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
  const char *sp = p->sample_weights_path;
  if (sp) {
    if ((rc = lsce_npy_read(&p->sw, sp, err))) return rc;
    p->has_sw = 1;
    if ((rc = check_sw(p, sp, err))) return rc;
  }
  return check_cross_values(p, lp, tp, wp, sp, err);
}

int lsce_problem_validate(lsce_problem *p, const char *ln, const char *tn, const char *wn,
                          lsce_err *err) {
  int rc;
  if ((rc = check_logits(p, ln, err)) || (rc = check_targets(p, tn, err))) return rc;
  if (p->has_weights && (rc = check_weights(p, wn, err))) return rc;
  if (p->has_sw && (rc = check_sw(p, "sample_weights", err))) return rc;
  return check_cross_values(p, ln, tn, wn, "sample_weights", err);
}

int lsce_problem_from_memory(lsce_problem *p, lsce_dtype ldt, int64_t N, int64_t K, const void *logits,
                             const int64_t *targets, const double *weights, int own, lsce_err *err) {
  const int64_t zs[2] = {N, K}, ts[1] = {N}, ws[1] = {K};
  int rc = lsce_npy_view(&p->logits, ldt, 2, zs, logits, "logits", err);
  if (!rc) rc = lsce_npy_view(&p->targets, LSCE_DT_I64, 1, ts, targets, "targets", err);
  p->has_weights = weights != NULL;
  if (!rc && weights) rc = lsce_npy_view(&p->weights, LSCE_DT_F64, 1, ws, weights, "weights", err);
  if (own) { /* lsce_npy_free frees a buffer it does not map */
    p->logits.map = (void *)logits;
    p->targets.map = (void *)targets;
    if (weights) p->weights.map = (void *)weights;
  }
  if (rc) return rc;
  return lsce_problem_validate(p, "logits", "targets", "weights", err);
}

int lsce_variant_takes(int v, const char *opt, lsce_err *err) {
  const lsce_variant *d = &lsce_variants[v];
  if (!strcmp(opt, "--weights") && !d->needs_weights && strcmp(d->family, "sigmoid"))
    return lsce_err_set(err, LSCE_EINPUT, "--weights: variant %s takes no class weights", d->id);
  if (!strcmp(opt, "--pad-index") && !d->needs_pad_index)
    return lsce_err_set(err, LSCE_EINPUT, "--pad-index: variant %s takes no pad index", d->id);
  if ((!strcmp(opt, "--tp") || !strcmp(opt, "--rank")) && !lsce_variant_needs_tp(v))
    return lsce_err_set(err, LSCE_EINPUT, "%s: variant %s takes no tensor-parallel %s", opt, d->id,
                        !strcmp(opt, "--tp") ? "size" : "rank");
  return LSCE_OK;
}
