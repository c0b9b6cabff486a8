/* verify/check.c: check's figures of a user's (loss, grad) against the certifier `lsce verify` would
 * use (lsce_use_fast): the fast certifier where its bound decides each figure against the bounds U
 * and G, else the MPFR reference. The figures are lsce_measure's (verify/measure.c), so their
 * accuracy is that of docs/accuracy.md "The ulp metric"; no other arithmetic happens here. */
#include "lsce/certify.h"
#include "lsce/measure.h"

static const char *const cert_names[3] = {"fast", "reference", "fast+reference"};
const char *lsce_certifier_name(int c) { return c >= 0 && c < 3 ? cert_names[c] : "?"; }

int lsce_check_measure(lsce_ref_result *ref, lsce_measure_t *m, int cert[2], const lsce_problem *p,
                       const lsce_ref_opts *ro, const double *loss, const double *grad, lsce_dtype ldt,
                       lsce_dtype gdt, double U, double G, int force, lsce_err *err) {
  int rc;
  if (lsce_use_fast(p, force)) {
    if ((rc = lsce_certify_fast(ref, p, grad != NULL, 2, err))) return rc;
    if (lsce_measure_doubt(p, ref, ldt, gdt) <= LSCE_DOUBT_MAX) {
      if (lsce_measure(m, p, ref, loss, grad, ldt, gdt)) return lsce_err_set(err, LSCE_EINCOMPLETE, "check: out of memory");
      int vl = lsce_within(m->loss_ulp, m->loss_td, m->loss_doubt, U);
      int vg = grad ? lsce_within(m->grad_ulp, m->grad_td, m->grad_doubt, G) : 1;
      cert[0] = vl < 0 ? 2 : 0;
      cert[1] = vg < 0 ? 2 : 0;
      if (vl >= 0 && vg >= 0) return LSCE_OK;
    } else cert[0] = cert[1] = 2;
    lsce_ref_result_free(ref);
  }
  if ((rc = lsce_reference(ref, p, ro, "check", err))) return rc;
  lsce_measure_t e;
  if (lsce_measure(&e, p, ref, loss, grad, ldt, gdt)) return lsce_err_set(err, LSCE_EINCOMPLETE, "check: out of memory");
  if (cert[0] != 0) {
    m->loss_ulp = e.loss_ulp; m->loss_row = e.loss_row; m->loss_ref = e.loss_ref; m->loss_got = e.loss_got;
    m->loss_td = e.loss_td; m->loss_doubt = e.loss_doubt;
  }
  if (cert[1] != 0) {
    m->grad_ulp = e.grad_ulp; m->grad_row = e.grad_row; m->grad_col = e.grad_col; m->grad_ref = e.grad_ref;
    m->grad_got = e.grad_got; m->grad_td = e.grad_td; m->grad_doubt = e.grad_doubt;
  }
  return LSCE_OK;
}

