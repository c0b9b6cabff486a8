/* bench/validate.h: validation before timing (as checkasm and llm.c do): the row runs on the full
 * timed input with reduction none, and three sampled rows (first, middle, last) of its loss (and
 * gradient) are measured in ULPs against the certified reference of a small problem made of those
 * rows, within the registry row's bound. References are cached per (dtype, N, K). */
#ifndef LSCE_BENCH_VALIDATE_H
#define LSCE_BENCH_VALIDATE_H
#include "inputs.h"
#include "lsce/params.h"
#include "lsce/registry.h"

typedef struct {
  double loss_ulp, grad_ulp;   /* worst over the sampled rows (grad_ulp 0 without a gradient) */
  double call_s;               /* wall time of the row's call on the full input */
  lsce_row_counts counts;      /* the rows each rung of the row's ladder settled in that call */
  char msg[640];               /* why it failed, one line (empty on a pass) */
} lsce_val_result;

/* Runs `im` on `in` (variant k, e = 0.1, reduction none). grad: NULL (loss only) or an (N, K)
 * buffer of the input dtype that the call may overwrite. Returns 0 on a pass, 1 when a sampled row
 * exceeds its bound, 2 when validation could not run (out of memory, the reference failed, the
 * row returned an error status); out->msg says which. */
int lsce_validate(lsce_val_result *out, const lsce_impl *im, const lsce_bench_inputs *in,
                  void *grad);
/* The exact smoothing of the benchmarks, 1/10. */
void lsce_bench_smoothing(mpq_t e);
#endif
