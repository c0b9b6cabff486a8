/* cli/measure.c: see measure.h. M = |L| + 2 H |V| / D (the loss before the KL entropy cancels;
 * M = L for non-KL forms, whose terms are all >= 0); sigma_i = (|A_i| + B_i sum_S u_c) / D. */
#include <math.h>
#include <stdlib.h>
#include "combiner.h"
#include "measure.h"
#include "lsce/params.h"
#include "lsce/ulp.h"

lsce_dtype lsce_loss_dtype_for(lsce_dtype logits) { return logits == LSCE_DT_F64 ? LSCE_DT_F64 : LSCE_DT_F32; }

/* What the cancellation floors need: the variant's parameters over the problem's targets/weights. */
typedef struct {
  int64_t *t;
  double *w;
  const double *wv;
  lsce_params prm;
  double H;
} floors;

static void floors_init(floors *f, const lsce_problem *p) {
  const int64_t N = p->N, K = p->K;
  f->t = malloc(sizeof(int64_t) * (size_t)(N > 0 ? N : 1));
  f->w = p->has_weights ? malloc(sizeof(double) * (size_t)K) : NULL;
  for (int64_t i = 0; i < N; i++) f->t[i] = lsce_target(p, i);
  if (f->w) for (int64_t c = 0; c < K; c++) f->w[c] = lsce_weight(p, c);
  f->wv = lsce_variants[p->variant].weighting != LSCE_W_NONE ? f->w : NULL;
  lsce_params_init(&f->prm, p->variant, p->reduction, p->e, N, K, f->t, f->wv, p->ignore_index, p->pad_index);
  f->H = lsce_dd_to_d(f->prm.C);
}

static void floors_clear(floors *f) { free(f->t); free(f->w); }

/* M of loss i (none) or of the reduced loss */
static double loss_M(const floors *f, const lsce_problem *p, const lsce_ref_result *ref, int64_t i) {
  if (p->reduction == LSCE_RED_NONE) return fabs(ref->loss[i]) + (lsce_row_in_V(p, p->variant, i) ? 2 * f->H : 0);
  return fabs(ref->loss[0]) + 2 * f->H * (double)f->prm.nV * lsce_dd_to_d(f->prm.inv_D);
}

/* sigma_i of gradient row i (0 outside V) */
static double row_sigma(const floors *f, const lsce_problem *p, int64_t i) {
  if (!lsce_row_in_V(p, p->variant, i)) return 0;
  lsce_rowcoef rc = lsce_row_coef(&f->prm, f->t[i], f->wv);
  return (fabs(lsce_dd_to_d(rc.A)) + lsce_dd_to_d(rc.B) * lsce_dd_to_d(f->prm.U_all)) * lsce_dd_to_d(f->prm.inv_D);
}

void lsce_measure(lsce_measure_t *m, const lsce_problem *p, const lsce_ref_result *ref,
                  const double *loss, const double *grad, lsce_dtype loss_dt, lsce_dtype grad_dt) {
  const int64_t N = p->N, K = p->K;
  floors f;
  floors_init(&f, p);
  m->loss_ulp = 0; m->grad_ulp = 0; m->loss_row = -1; m->grad_row = -1; m->grad_col = -1;
  m->loss_ref = ref->nloss > 0 ? ref->loss[0] : 0; /* none on an empty batch has no loss */
  m->loss_got = ref->nloss > 0 ? loss[0] : 0;
  m->grad_ref = m->grad_got = 0;
  for (int64_t i = 0; i < ref->nloss; i++) {
    double tau = (p->reduction == LSCE_RED_NONE && !lsce_row_in_V(p, p->variant, i)) ? 0 : lsce_tau(loss_M(&f, p, ref, i), loss_dt);
    double e = lsce_ulp_err(loss[i], ref->loss[i], ref->loss_lo ? ref->loss_lo[i] : 0, tau, loss_dt);
    if (e >= m->loss_ulp || i == 0) {
      if (e >= m->loss_ulp) {
        m->loss_ulp = e;
        m->loss_row = p->reduction == LSCE_RED_NONE ? i : -1;
        m->loss_ref = ref->loss[i];
        m->loss_got = loss[i];
      }
    }
  }
  if (grad && ref->grad) {
    for (int64_t i = 0; i < N; i++) {
      int64_t j;
      double e = lsce_ulp_err_row(grad + i * K, ref->grad + i * K, ref->grad_lo ? ref->grad_lo + i * K : NULL,
                                  K, lsce_tau(row_sigma(&f, p, i), grad_dt), grad_dt, &j);
      if (e >= m->grad_ulp || m->grad_row < 0) {
        if (e >= m->grad_ulp) {
          m->grad_ulp = e;
          m->grad_row = i;
          m->grad_col = j;
          m->grad_ref = ref->grad[i * K + j];
          m->grad_got = grad[i * K + j];
        }
      }
    }
  }
  floors_clear(&f);
}

double lsce_measure_doubt(const lsce_problem *p, const lsce_ref_result *ref, double rel,
                          lsce_dtype loss_dt, lsce_dtype grad_dt) {
  const int64_t N = p->N, K = p->K;
  floors f;
  floors_init(&f, p);
  double doubt = 0;
  for (int64_t i = 0; i < ref->nloss; i++) {
    if (!isfinite(ref->loss[i])) continue; /* non-finite values are decided exactly */
    double M = loss_M(&f, p, ref, i), tau = lsce_tau(M, loss_dt), r = fabs(ref->loss[i]);
    double d = rel * M / lsce_ulp_of(r > tau ? r : tau, loss_dt);
    if (d > doubt) doubt = d;
  }
  for (int64_t i = 0; ref->grad && i < N; i++) {
    if (!lsce_row_in_V(p, p->variant, i)) continue;
    double sigma = row_sigma(&f, p, i), rmax = 0;
    for (int64_t j = 0; j < K; j++) if (fabs(ref->grad[i * K + j]) > rmax) rmax = fabs(ref->grad[i * K + j]);
    if (!isfinite(rmax)) continue;
    double tau = lsce_tau(sigma, grad_dt);
    double d = rel * (sigma + rmax) / lsce_ulp_of(rmax > tau ? rmax : tau, grad_dt);
    if (d > doubt) doubt = d;
  }
  floors_clear(&f);
  return doubt;
}
