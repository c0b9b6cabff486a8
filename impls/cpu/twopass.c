/* impls/cpu/twopass.c: cpu_twopass, the baseline a reader checks at a glance: per row, pass 1 finds
 * the maximum, pass 2 sums exp(z - m) and the weighted shifts (compensated, in double-double), the
 * shared combiner forms the loss, a last sweep writes the gradient (online.c's gradient kernels).
 * The rows run over lsce_cpu_drive with one thread, so every row is checked against its own error
 * bound and escalated when needed (rowguard.h):
 *   float64 logits: a first pass with lsce_exp_pair (combiner.h: exp of the exact pair z - m as a
 *     pair, a table and a polynomial in double, within LSCE_EXP_REL_PAIR = 2^-58, recorded in
 *     lsce_rowstats.exp_rel) instead of the double-double exp, double-double sums; a row
 *     whose bound falls short is recomputed with the double-double exp (lsce_stats_twopass,
 *     lsce_grad_scalar: driver.c's accurate rung), then climbs the ladder;
 *   narrow logits: libm exp of z - m formed in double (LSCE_EXP_REL_NARROW covers both), summed as
 *     double terms into double-double (lsce_dd_add_d: far inside the (K + 4) 2^-53 the bound assumes).
 * Built twice (twopass_fma.c: AVX2+FMA, picked at run time as online.c's kernels are).
 * Claim: the declared bounds (loss <= 1 ulp float32 / 2 ulp float64, gradient 1-4 ulp). */
#include <math.h>
#ifdef LSCE_TWOPASS_FMA /* twopass_fma.c: the same kernels under their _fma names */
#define lsce_stats_twopass lsce_stats_twopass_fma
#define lsce_stats_twopass_first lsce_stats_twopass_first_fma
#endif
#include "combiner.h"
#include "cpu/elem.h"
#include "cpu/kernels.h"
#include "cpu/optrows.h"
#include "cpu/rowguard.h"
#include "lsce/registry.h"

/* Classes [c0, c1) of row i. mode: 0 double (narrow logits), 1 double-double exp (c->dd: float64), 2 float64
 * with lsce_exp_pair (the first pass). */
static inline void stats_mode(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1, int mode) {
  const lsce_params *p = c->prm;
  const lsce_dtype dt = c->dtype;
  const int64_t base = i * c->K, y = c->targets[i];
  const int weighted_u = lsce_weighted_u(p);
  const double *w = c->weights;
  lsce_stats_empty(st);
  for (int64_t j = c0; j < c1; j++) {
    double v = lsce_ld(c->logits, dt, base + j);
    if (v == -INFINITY) {
      if (j == y) st->y_masked = 1;
      else if (j != p->pad_index && (weighted_u ? w[j] : 1.0) > 0) st->n_mask_u++;
      continue;
    }
    st->Kf++;
    if (v > st->m) { st->m = v; st->jm = j; }
  }
  if (y >= c0 && y < c1 && !st->y_masked) st->zy = lsce_ld(c->logits, dt, base + y);
  if (p->pad_index >= c0 && p->pad_index < c1) st->P_finite = lsce_ld(c->logits, dt, base + p->pad_index) != -INFINITY;
  for (int64_t j = c0; j < c1; j++) {
    double v = lsce_ld(c->logits, dt, base + j);
    if (v == -INFINITY) continue;
    if (v == st->m) st->n_eq++;
    lsce_dd d = lsce_two_sum(v, -st->m); /* z_j - m exactly, <= 0 */
    if (j != st->jm) {
      if (mode) st->s1 = lsce_dd_add(st->s1, mode == 2 ? lsce_exp_pair(d) : lsce_dd_exp(d));
      else st->s1 = lsce_dd_add_d(st->s1, exp(d.hi));
    }
    if (j == p->pad_index) continue;
    double u = weighted_u ? w[j] : 1.0;
    if (mode) st->t = lsce_dd_add(st->t, u == 1.0 ? d : lsce_dd_mul_d(d, u)); /* u = 1: the pair itself */
    else st->t = lsce_dd_add_d(st->t, u * d.hi); /* u (z - m): 2 roundings, as the bound assumes */
    st->Uf = lsce_dd_add_d(st->Uf, u);
  }
  if (mode == 2) st->exp_rel = LSCE_EXP_REL_PAIR;
}

void lsce_stats_twopass(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1) {
  stats_mode(st, c, i, c0, c1, c->dd);
}
void lsce_stats_twopass_first(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1) {
  stats_mode(st, c, i, c0, c1, lsce_scalar_first_f64(c) ? 2 : c->dd);
}

#ifndef LSCE_TWOPASS_FMA
int lsce_cpu_twopass(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  if (c->opt) return lsce_cpu_options(loss, grad, gdt, c, 0, 1, 0); /* issue #15: two passes */
  return lsce_cpu_scalar_drive(loss, grad, gdt, c, lsce_stats_twopass_first, lsce_stats_twopass,
                               lsce_stats_twopass_first_fma, lsce_stats_twopass_fma);
}
#endif
