/* lsce/measure.h (verify/measure.c): the ULP figures of one output set (an implementation's, or a user's) against the
 * certified reference or the fast certifier, with the cancellation floors of docs/accuracy.md (M for
 * losses, sigma_i for gradient rows), where the worst error sits, and how sure each figure is. */
#ifndef LSCE_MEASURE_H
#define LSCE_MEASURE_H
#include "lsce/problem.h"
#include "lsce/reference.h"

typedef struct {
  double loss_ulp, grad_ulp;
  int64_t loss_row;            /* -1 for mean/sum */
  double loss_ref, loss_got;
  int64_t grad_row, grad_col;
  double grad_ref, grad_got;
  /* against the reference: the sign of (exact figure - figure), so a figure equal to a bound is
   * judged exactly (the sign of r - hi - lo decides ties) */
  int loss_td, grad_td;
  /* against the fast certifier: how far the exact figure can be from the one given (INFINITY when
   * the certifier's bound leaves its ulp or its infinity rule undecided); 0 against the reference */
  double loss_doubt, grad_doubt;
} lsce_measure_t;

/* ref: a lsce_reference result with want_lo (and want_grad when grad != NULL), or the fast
 * certifier's (loss_err/grad_err set). Returns 0, or -1 when out of memory (m not written). */
int lsce_measure(lsce_measure_t *m, const lsce_problem *p, const lsce_ref_result *ref,
                 const double *loss, const double *grad, lsce_dtype loss_dt, lsce_dtype grad_dt);
/* The larger of the two doubts above (they do not depend on the outputs measured); INFINITY when out
 * of memory (so the caller takes the reference). */
double lsce_measure_doubt(const lsce_problem *p, const lsce_ref_result *ref, lsce_dtype loss_dt,
                          lsce_dtype grad_dt);
/* Is the exact figure within the bound U? 1 yes, 0 no, -1 the fast certifier cannot tell. */
static inline int lsce_within(double f, int td, double doubt, double U) {
  if (doubt > 0) return f + doubt <= U ? 1 : f - doubt > U ? 0 : -1;
  return f < U || (f == U && td <= 0);
}
/* The certifier choice of check and verify alike: force 1 (LSCE_CERTIFY=fast) or 2 (=reference, as
 * read by cli/settings.c) decides; 0 (unset): problems of 2^20 logits or more use the fast one
 * (verify/certify.c), smaller ones the MPFR reference. */
int lsce_use_fast(const lsce_problem *p, int force);
/* The fast certifier's figures are kept when their doubt is below this (else the reference). */
#define LSCE_DOUBT_MAX 0x1p-20

/* The dtype a registry row's loss and gradient are judged in (docs/accuracy.md "Targets"). */
lsce_dtype lsce_loss_dtype_for(lsce_dtype logits);
/* check's figures (verify/check.c): against the certifier lsce_use_fast(p, force) picks, the fast
 * one where its bound decides each figure against U (loss) and G (gradient), else the reference
 * (ro: its options, want_lo set). cert[k] per figure (loss, grad): 0 fast, 1 reference, 2 fast then
 * reference; lsce_certifier_name(cert[k]) is "fast", "reference" or "fast+reference". ref holds
 * the certifier's result (free with lsce_ref_result_free). */
int lsce_check_measure(lsce_ref_result *ref, lsce_measure_t *m, int cert[2], const lsce_problem *p,
                       const lsce_ref_opts *ro, const double *loss, const double *grad, lsce_dtype ldt,
                       lsce_dtype gdt, double U, double G, int force, lsce_err *err);
const char *lsce_certifier_name(int c);
#endif
