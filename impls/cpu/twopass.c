/* impls/cpu/twopass.c: cpu_twopass, the baseline a reader checks at a glance: per row, pass 1 finds
 * the maximum, pass 2 sums exp(z - m) and the weighted shifts (compensated, in double-double), the
 * shared combiner forms the loss, pass 3 writes the gradient. float64 inputs use double-double exp
 * throughout; narrower inputs use the libm exp (<= 1 ulp of double, far below their output ulp).
 * Each row is checked against its own error bound and escalated when needed (rowguard.h).
 * Claim: the declared bounds (loss <= 1 ulp float32 / 2 ulp float64, gradient 1-4 ulp). */
#include <math.h>
#include <stdlib.h>
#include "combiner.h"
#include "cpu/elem.h"
#include "cpu/kernels.h"
#include "cpu/optrows.h"
#include "cpu/rowguard.h"
#include "lsce/registry.h"

static void row_stats(lsce_rowstats *st, const void *z, lsce_dtype dt, int64_t base, int64_t K,
                      int64_t y, const lsce_params *p, const double *w, int weighted_u) {
  lsce_stats_empty(st);
  int dd = dt == LSCE_DT_F64; /* the baseline keeps its own rule */
  for (int64_t c = 0; c < K; c++) {
    double v = lsce_ld(z, dt, base + c);
    if (v == -INFINITY) {
      if (c == y) st->y_masked = 1;
      else if (c != p->pad_index && (weighted_u ? w[c] : 1.0) > 0) st->n_mask_u++;
      continue;
    }
    st->Kf++;
    if (v > st->m) { st->m = v; st->jm = c; }
  }
  if (!st->y_masked) st->zy = lsce_ld(z, dt, base + y);
  if (p->pad_index >= 0) st->P_finite = lsce_ld(z, dt, base + p->pad_index) != -INFINITY;
  for (int64_t c = 0; c < K; c++) {
    double v = lsce_ld(z, dt, base + c);
    if (v == -INFINITY) continue;
    if (v == st->m) st->n_eq++;
    lsce_dd d = lsce_two_sum(v, -st->m); /* z_c - m exactly, <= 0 */
    if (c != st->jm) {
      lsce_dd e = dd ? lsce_dd_exp(d) : lsce_dd_from(exp(d.hi));
      st->s1 = lsce_dd_add(st->s1, e);
    }
    if (c == p->pad_index) continue;
    double u = weighted_u ? w[c] : 1.0;
    st->t = lsce_dd_add(st->t, lsce_dd_mul_d(d, u));
    st->Uf = lsce_dd_add_d(st->Uf, u);
  }
}

int lsce_cpu_twopass(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  if (c->opt) return lsce_cpu_options(loss, grad, gdt, c, 0, 1, 0); /* issue #15: two passes */
  const lsce_params *p = c->prm;
  const int64_t N = c->N, K = c->K;
  const int weighted_u = lsce_weighted_u(p);
  const int dd = c->dtype == LSCE_DT_F64;
  double *Lrow = malloc(sizeof(double) * 3 * (size_t)(N > 0 ? N : 1));
  unsigned char *lvl = malloc((size_t)(N > 0 ? N : 1));
  if (!Lrow || !lvl) { free(Lrow); free(lvl); return 1; }
  for (int64_t i = 0; i < N; i++) {
    int64_t y = c->targets[i];
    int64_t base = i * K;
    lvl[i] = 0;
    Lrow[3 * i] = Lrow[3 * i + 1] = Lrow[3 * i + 2] = 0.0;
    if (!lsce_params_in_V(p, y)) {
      if (grad) for (int64_t j = 0; j < K; j++) lsce_st(grad, gdt, base + j, 0.0);
      continue;
    }
    lsce_rowstats st;
    row_stats(&st, c->logits, c->dtype, base, K, y, p, c->weights, weighted_u);
    lsce_rowcoef rc = lsce_row_coef(p, y, c->weights);
    lsce_dd L = lsce_row_loss(p, &rc, &st);
    lsce_gradcoef g;
    double gmax = 0;
    if (grad) {
      g = lsce_grad_coef(p, &rc, &st, y, c->weights, weighted_u);
      for (int64_t j = 0; j < K; j++) {
        double v = lsce_ld(c->logits, c->dtype, base + j);
        double uj = weighted_u ? c->weights[j] : 1.0;
        double gj;
        if (dd) {
          lsce_dd e = v == -INFINITY ? lsce_dd_from(0.0) : lsce_dd_exp(lsce_two_sum(v, -st.m));
          gj = lsce_grad_entry_dd(&g, j, e, uj, p->pad_index);
        } else {
          double e = v == -INFINITY ? 0.0 : exp(v - st.m);
          gj = lsce_grad_entry_d(&g, j, e, uj, p->pad_index);
        }
        gmax = lsce_gmax2(gmax, fabs(gj));
        lsce_st(grad, gdt, base + j, gj);
      }
    }
    lsce_guard_row(Lrow, lvl, grad, gdt, c, i, &rc, &st, grad ? &g : NULL, L, gmax);
  }
  lsce_guard_finish(loss, grad, gdt, c, Lrow, lvl);
  free(Lrow);
  free(lvl);
  return 0;
}
