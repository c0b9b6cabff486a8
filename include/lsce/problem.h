/* lsce/problem.h: one label-smoothing problem (inputs, variant, exact smoothing, reduction) and its
 * validation exactly as docs/cli.md "Input files" and "Errors and exit codes" order them. */
#ifndef LSCE_PROBLEM_H
#define LSCE_PROBLEM_H
#include <gmp.h>
#include <stdint.h>
#include "lsce/npy.h"
#include "lsce/variants.h"

typedef struct {
  lsce_npy logits;      /* (N, K) float64/float32/float16/bfloat16 */
  lsce_npy targets;     /* (N,) int32/int64 */
  lsce_npy weights;     /* (K,) float32/float64, or count 0 with has_weights = 0 */
  int has_weights;
  int64_t N, K;
  int variant;          /* index into lsce_variants */
  mpq_t e;              /* the smoothing, the exact rational typed */
  lsce_reduction reduction;
  int64_t ignore_index;
  int64_t pad_index;    /* -1 when not given */
  int64_t tp, rank;     /* k1-megatron: --tp (0 when not given: T = 1) and --rank (default 0) */
  int validate_all;     /* validate every row whose target is not ignored (check, compare) */
  int nblocks, block;   /* lsce-mpi (nblocks > 1): validate only the logits of lsce_row_block's rows */
  /* issue #15 (docs/formulations.md "Options and the sigmoid family"); all off by default */
  int soft;             /* targets is (N, K) float32/float64 (soft targets; every row is in V) */
  int has_scale, has_softcap, has_zloss; /* --logit-scale, --softcap, --z-loss given */
  mpq_t scale, softcap, zloss;           /* their exact rationals (initialised by lsce_problem_init) */
  int has_sw;           /* --sample-weights given */
  lsce_npy sw;          /* (N,) float32/float64 */
  int normalizer;       /* LSCE_NORM_* */
  int64_t normalizer_n; /* LSCE_NORM_COUNT: the given count */
  int ignore_given, pad_given; /* --ignore-index / --pad-index typed (soft targets refuse them) */
  const char *sample_weights_path; /* lsce_problem_load reads it after the weights (NULL: none) */
  int cap_form;         /* LSCE_CAP_*: check's diagnosis only (verify/diagnose_opts.c); never set by
                         * the command line, so every other path computes LSCE_CAP_TANH */
} lsce_problem;

/* The soft cap's form (with --softcap C): the contract's C tanh(x/C), or one of the cited bugs that
 * check's diagnosis models on the reference: x tanh(x/C) (unsloth-zoo #593), or C tanh(x/C) applied
 * to a masked class too, so that -inf becomes -C (the padded-vocabulary bug class). */
enum { LSCE_CAP_TANH = 0, LSCE_CAP_X_TANH, LSCE_CAP_MASK_TO_C };

/* --normalizer: the mean's denominator (docs/formulations.md "Sample weights and the normalizer") */
enum { LSCE_NORM_DEFAULT = 0, LSCE_NORM_VALID, LSCE_NORM_ROWS, LSCE_NORM_SAMPLE_WEIGHTS,
       LSCE_NORM_NONZERO, LSCE_NORM_COUNT };

void lsce_problem_init(lsce_problem *p);
void lsce_problem_clear(lsce_problem *p);


static inline double lsce_logit(const lsce_problem *p, int64_t i, int64_t c) {
  return lsce_npy_get_f(&p->logits, i * p->K + c);
}
static inline double lsce_weight(const lsce_problem *p, int64_t c) {
  return p->has_weights ? lsce_npy_get_f(&p->weights, c) : 1.0;
}
static inline double lsce_soft_target(const lsce_problem *p, int64_t i, int64_t c) {
  return lsce_npy_get_f(&p->targets, i * p->K + c);
}
static inline double lsce_sample_weight(const lsce_problem *p, int64_t i) {
  return p->has_sw ? lsce_npy_get_f(&p->sw, i) : 1.0;
}
static inline int64_t lsce_target(const lsce_problem *p, int64_t i) {
  return lsce_npy_get_i(&p->targets, i);
}
/* Block b of n of the rows [0, N): contiguous, in order, sizes differing by at most one (the first
 * N % n blocks one row longer; blocks past N are empty). */
static inline void lsce_row_block(int64_t N, int b, int n, int64_t *lo, int64_t *hi) {
  int64_t q = N / n, r = N % n;
  *lo = (int64_t)b * q + (b < r ? b : r);
  *hi = *lo + q + (b < r ? 1 : 0);
}

/* Row i is in V for variant v: its target is not the ignore index (and, for a variant with the pad
 * column set, not P). v = LSCE_V_NONE: the rows that no variant ignores for their pad. */
static inline int lsce_row_in_V(const lsce_problem *p, int v, int64_t i) {
  int64_t t = lsce_target(p, i);
  return t != p->ignore_index && !(v >= 0 && lsce_variants[v].pad && t == p->pad_index);
}

/* 1 when variant v takes soft (N, K) targets (docs/formulations.md "Soft targets") */
int lsce_variant_takes_soft(int v);

/* Load the files (weights_path may be NULL) and check them in the contract's order: each file's
 * structure (logits, targets, weights), the cross-checks (targets length, weights length, K below
 * the minimum of p->variant when it is >= 0, P outside [0, K)), then the values (weights, targets,
 * logits rows of V). With p->variant < 0 (compare), V is every row whose target is not the ignore
 * index. Messages name the paths as typed. Returns LSCE_OK, LSCE_EINPUT or LSCE_EINCOMPLETE. */
int lsce_problem_load(lsce_problem *p, const char *logits_path, const char *targets_path,
                      const char *weights_path, lsce_err *err);
/* The same checks, in the same order, on arrays already in p (e.g. caller-owned memory described by an lsce_npy,
 * with p->has_weights set when there are weights); the messages use the names given ("logits",
 * "targets", "weights" in liblsce) where lsce_problem_load uses the paths. Sets p->N and p->K. */
int lsce_problem_validate(lsce_problem *p, const char *logits_name, const char *targets_name,
                          const char *weights_name, lsce_err *err);
/* p (its options set) over in-memory arrays, no files: logits (N, K) of dtype ldt, int64 targets (N,),
 * float64 weights (K,) or NULL, read in place (lsce_npy_view); with `own` set they are malloc'd
 * buffers that the problem frees (lsce_problem_clear, which the caller calls on failure too).
 * Validated as lsce_problem_load validates files, naming "logits", "targets", "weights". */
int lsce_problem_from_memory(lsce_problem *p, lsce_dtype ldt, int64_t N, int64_t K, const void *logits,
                             const int64_t *targets, const double *weights, int own, lsce_err *err);
/* reference and run (and liblsce): LSCE_EINPUT when variant v takes no `opt` ("--weights",
 * "--pad-index"). */
int lsce_variant_takes(int v, const char *opt, lsce_err *err);
#endif
