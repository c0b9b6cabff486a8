/* cli/measure.h: the ULP figures of one output set (an implementation's, or a user's) against the
 * certified reference, with the cancellation floors of DESIGN.md (M for losses, sigma_i for
 * gradient rows), and where the worst error sits. */
#ifndef LSCE_CLI_MEASURE_H
#define LSCE_CLI_MEASURE_H
#include "lsce/problem.h"
#include "lsce/reference.h"

typedef struct {
  double loss_ulp, grad_ulp;
  int64_t loss_row;            /* -1 for mean/sum */
  double loss_ref, loss_got;
  int64_t grad_row, grad_col;
  double grad_ref, grad_got;
} lsce_measure_t;

/* ref: a lsce_reference result with want_lo (and want_grad when grad != NULL). */
void lsce_measure(lsce_measure_t *m, const lsce_problem *p, const lsce_ref_result *ref,
                  const double *loss, const double *grad, lsce_dtype loss_dt, lsce_dtype grad_dt);
/* How far, in the ulps of the figures above, outputs within rel x (magnitude before cancellation)
 * of the exact values could move those figures: verify's test of the fast certifier's results. */
double lsce_measure_doubt(const lsce_problem *p, const lsce_ref_result *ref, double rel,
                          lsce_dtype loss_dt, lsce_dtype grad_dt);

/* The dtype a registry row's loss and gradient are judged in (DESIGN.md Targets). */
lsce_dtype lsce_loss_dtype_for(lsce_dtype logits);
#endif
