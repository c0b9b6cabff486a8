/* verify/measure.c: see lsce/measure.h. M = |L| + 2 H |V| / D (the loss before the KL entropy cancels;
 * M = L for non-KL forms, whose terms are all >= 0); sigma_i = (|A_i| + B_i sum_S u_c) / D.
 * Against the fast certifier (|hi + lo - r| <= E per output), a figure |y - r| / u moves by at most
 * E / u provided u, the ulp it divides by, is the same for every r in [hi + lo - E, hi + lo + E]
 * (checked at both ends, with the floor tau moving with M) and no such r crosses the threshold
 * where T rounds to infinity; otherwise its doubt is infinite. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "combiner.h"
#include "lsce/measure.h"
#include "lsce/params.h"
#include "lsce/ulp.h"
#include "lsce/ref_options.h"

int lsce_use_fast(const lsce_problem *p, int force) {
  /* the fast certifier has no k1-megatron form (impls/certify.c declines it): the reference decides */
  if (p->variant >= 0 && lsce_variant_needs_tp(p->variant)) return 0;
  if (lsce_uses_options(p)) return 0; /* the fast certifier knows the catalog only */
  if (force) return force == 1;
  return p->N * p->K >= (1 << 20);
}

lsce_dtype lsce_loss_dtype_for(lsce_dtype logits) { return logits == LSCE_DT_F64 ? LSCE_DT_F64 : LSCE_DT_F32; }

/* What the cancellation floors need: the variant's parameters over the problem's targets/weights. */
typedef struct {
  int64_t *t;
  double *w;
  const double *wv;
  double *u;        /* k1-megatron: the shard indicator (wv points to it) */
  lsce_params prm;
  double H;
  double *M15, *sigma15; /* issue #15 problems: lsce_ref_options_floors (NULL otherwise) */
} floors;

static void floors_clear(floors *f) { free(f->t); free(f->w); free(f->u); free(f->M15); free(f->sigma15); }

/* 0, or -1 (out of memory; nothing left allocated) */
static int floors_init(floors *f, const lsce_problem *p) {
  const int64_t N = p->N, K = p->K;
  f->M15 = f->sigma15 = NULL;
  f->u = NULL;
  f->t = NULL; f->w = NULL; f->wv = NULL; f->H = 0;
  if (lsce_uses_options(p)) {
    f->M15 = calloc((size_t)(N > 0 ? N : 1), sizeof(double));
    f->sigma15 = calloc((size_t)(N > 0 ? N : 1), sizeof(double));
    if (!f->M15 || !f->sigma15) { floors_clear(f); return -1; }
    lsce_ref_options_floors(f->M15, f->sigma15, p);
    return 0;
  }
  f->t = malloc(sizeof(int64_t) * (size_t)(N > 0 ? N : 1));
  f->w = p->has_weights ? malloc(sizeof(double) * (size_t)(K > 0 ? K : 1)) : NULL;
  if (!f->t || (p->has_weights && !f->w)) { floors_clear(f); return -1; }
  for (int64_t i = 0; i < N; i++) f->t[i] = lsce_target(p, i);
  if (f->w) for (int64_t c = 0; c < K; c++) f->w[c] = lsce_weight(p, c);
  f->wv = lsce_variants[p->variant].weighting != LSCE_W_NONE ? f->w : NULL;
  lsce_params_init(&f->prm, p->variant, p->reduction, p->e, N, K, f->t, f->wv, p->ignore_index, p->pad_index);
  if (lsce_params_shard_call(&f->prm, p->tp, p->rank, &f->u) == 0 && f->u) f->wv = f->u;
  f->H = lsce_dd_to_d(f->prm.C);
  return 0;
}

/* M of loss i (none) or of the reduced loss, for a loss value L */
static double loss_M(const floors *f, const lsce_problem *p, double L, int64_t i) {
  if (f->M15) return fmax(fabs(L), f->M15[p->reduction == LSCE_RED_NONE ? i : 0]);
  if (p->reduction == LSCE_RED_NONE) return fabs(L) + (lsce_row_in_V(p, p->variant, i) ? 2 * f->H : 0);
  return fabs(L) + 2 * f->H * (double)f->prm.nV * lsce_dd_to_d(f->prm.inv_D);
}

static double loss_tau(const floors *f, const lsce_problem *p, double L, int64_t i, lsce_dtype t) {
  if (p->reduction == LSCE_RED_NONE && !lsce_row_in_V(p, p->variant, i)) return 0;
  return lsce_tau(loss_M(f, p, L, i), t);
}

/* sigma_i of gradient row i (0 outside V) */
static double row_sigma(const floors *f, const lsce_problem *p, int64_t i) {
  if (f->sigma15) return f->sigma15[i];
  if (!lsce_row_in_V(p, p->variant, i)) return 0;
  lsce_rowcoef rc = lsce_row_coef(&f->prm, f->t[i], f->wv);
  return (fabs(lsce_dd_to_d(rc.A)) + lsce_dd_to_d(rc.B) * lsce_dd_to_d(f->prm.U_all)) * lsce_dd_to_d(f->prm.inv_D);
}

static double umax(double a, double b) { return a > b ? a : b; }

/* The doubt of one figure whose exact value x (>= 0 magnitude) lies in [c - E, c + E]: the ulp of
 * max(x, tau) at both ends (tau_lo, tau_hi: the floor at both ends), and the infinity threshold. */
static double doubt_one(double c, double E, double tau_lo, double tau_hi, lsce_dtype t) {
  if (!(E > 0)) return 0;
  if (!isfinite(E)) return INFINITY;
  /* the ends rounded outward: c -+ E can round back to c */
  double a = nextafter(c - E, 0.0), b = nextafter(c + E, INFINITY);
  if (a < 0) a = 0;
  double u1 = lsce_ulp_of(umax(a, tau_lo), t), u2 = lsce_ulp_of(umax(b, tau_hi), t);
  if (u1 != u2) return INFINITY;
  double X = lsce_inf_threshold(t);
  if (a < X && b >= X) return INFINITY;
  return E / u1 * (1 + 0x1p-40);
}

static void doubts(double *dl, double *dg, const floors *f, const lsce_problem *p,
                   const lsce_ref_result *ref, lsce_dtype loss_dt, lsce_dtype grad_dt) {
  const int64_t N = p->N, K = p->K;
  *dl = *dg = 0;
  if (!ref->loss_err) return;
  for (int64_t i = 0; i < ref->nloss; i++) {
    double h = ref->loss[i], E = ref->loss_err[i];
    if (!isfinite(h)) { /* non-finite values are decided exactly (a zero bound), else overflowed */
      if (E != 0) *dl = INFINITY;
      continue;
    }
    double c = fabs(h + ref->loss_lo[i]);
    double d = doubt_one(c, E, loss_tau(f, p, c - E, i, loss_dt), loss_tau(f, p, c + E, i, loss_dt), loss_dt);
    if (d > *dl) *dl = d;
  }
  for (int64_t i = 0; ref->grad && ref->grad_err && i < N; i++) {
    double E = ref->grad_err[i], rmax = 0;
    if (!(E > 0)) continue;
    if (!isfinite(E)) { *dg = INFINITY; break; }
    double X = lsce_inf_threshold(grad_dt);
    for (int64_t j = 0; j < K; j++) {
      double v = fabs(ref->grad[i * K + j] + ref->grad_lo[i * K + j]);
      if (!isfinite(v)) { rmax = INFINITY; break; } /* the bound is finite: not an exact NaN */
      if (v > rmax) rmax = v;
      if (v - E < X && v + E >= X) rmax = INFINITY; /* the infinity rule undecided */
    }
    double tau = lsce_tau(row_sigma(f, p, i), grad_dt);
    double d = isinf(rmax) ? INFINITY : doubt_one(rmax, E, tau, tau, grad_dt);
    if (d > *dg) *dg = d;
  }
}

double lsce_measure_doubt(const lsce_problem *p, const lsce_ref_result *ref, lsce_dtype loss_dt,
                          lsce_dtype grad_dt) {
  floors f;
  if (floors_init(&f, p)) return INFINITY; /* out of memory: no doubt ruled out (the reference decides) */
  double dl, dg;
  doubts(&dl, &dg, &f, p, ref, loss_dt, grad_dt);
  floors_clear(&f);
  return umax(dl, dg);
}

int lsce_measure(lsce_measure_t *m, const lsce_problem *p, const lsce_ref_result *ref,
                 const double *loss, const double *grad, lsce_dtype loss_dt, lsce_dtype grad_dt) {
  const int64_t N = p->N, K = p->K;
  floors f;
  if (floors_init(&f, p)) return -1;
  m->loss_ulp = 0; m->grad_ulp = 0; m->loss_row = -1; m->grad_row = -1; m->grad_col = -1;
  m->loss_ref = ref->nloss > 0 ? ref->loss[0] : 0; /* none on an empty batch has no loss */
  m->loss_got = ref->nloss > 0 ? loss[0] : 0;
  m->grad_ref = m->grad_got = 0;
  m->loss_td = m->grad_td = 0;
  double lu = 1, gu = 1;
  int64_t li = -1;
  for (int64_t i = 0; i < ref->nloss; i++) {
    int rs = ref->loss_rs ? ref->loss_rs[i] : 0;
    double lo = ref->loss_lo ? ref->loss_lo[i] : 0, u;
    double e = lsce_ulp_err_x(loss[i], ref->loss[i], lo, rs, loss_tau(&f, p, ref->loss[i], i, loss_dt), loss_dt, &u);
    if (e >= m->loss_ulp) {
      m->loss_ulp = e;
      m->loss_row = p->reduction == LSCE_RED_NONE ? i : -1;
      m->loss_ref = ref->loss[i];
      m->loss_got = loss[i];
      li = i;
      lu = u;
    }
  }
  if (li >= 0 && !ref->loss_err)
    m->loss_td = lsce_ulp_tie(m->loss_ulp, loss[li], ref->loss[li], ref->loss_lo ? ref->loss_lo[li] : 0,
                              ref->loss_rs ? ref->loss_rs[li] : 0, lu);
  if (grad && ref->grad) {
    for (int64_t i = 0; i < N; i++) {
      int64_t j;
      double u;
      double e = lsce_ulp_err_row_x(grad + i * K, ref->grad + i * K, ref->grad_lo ? ref->grad_lo + i * K : NULL,
                                    ref->grad_rs ? ref->grad_rs + i * K : NULL, K,
                                    lsce_tau(row_sigma(&f, p, i), grad_dt), grad_dt, &j, &u);
      if (e >= m->grad_ulp || m->grad_row < 0) {
        if (e >= m->grad_ulp) {
          m->grad_ulp = e;
          m->grad_row = i;
          m->grad_col = j;
          m->grad_ref = ref->grad[i * K + j];
          m->grad_got = grad[i * K + j];
          gu = u;
        }
      }
    }
    if (m->grad_row >= 0 && !ref->grad_err) {
      int64_t k = m->grad_row * K + m->grad_col;
      m->grad_td = lsce_ulp_tie(m->grad_ulp, grad[k], ref->grad[k], ref->grad_lo ? ref->grad_lo[k] : 0,
                                ref->grad_rs ? ref->grad_rs[k] : 0, gu);
    }
  }
  doubts(&m->loss_doubt, &m->grad_doubt, &f, p, ref, loss_dt, grad_dt);
  floors_clear(&f);
  return 0;
}
