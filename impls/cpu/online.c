/* impls/cpu/online.c: cpu_online: one pass per row with the online softmax: a running maximum m,
 * s1 rescaled by exp(m_old - m_new) when it grows, t rebased by Uf (m_old - m_new). Narrow inputs
 * accumulate in double (error about K 2^-53, far below a float32 ulp); float64 inputs in
 * double-double with double-double exp. The gradient is a second sweep. Claim: the bounds of docs/accuracy.md "Targets". */
#include <math.h>
#ifdef LSCE_ONLINE_FMA /* online_fma.c: the same kernels under their _fma names */
#define lsce_stats_online lsce_stats_online_fma
#define lsce_grad_scalar lsce_grad_scalar_fma
#endif
#include "cpu/elem.h"
#include "cpu/kernels.h"
#include "cpu/optrows.h"

void lsce_stats_online(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1) {
  const lsce_params *p = c->prm;
  const int64_t K = c->K, y = c->targets[i];
  const int wu = lsce_weighted_u(p);
  lsce_stats_empty(st);
  lsce_online o;
  lsce_online_init(&o, c->dd);
  for (int64_t j = c0; j < c1; j++)
    lsce_online_push(&o, st, lsce_ld(c->logits, c->dtype, i * K + j), j, y, p, wu ? c->weights[j] : 1.0);
  lsce_online_finish(&o, st);
}

double lsce_grad_scalar(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                        int64_t c1, const lsce_gradcoef *g, double m) {
  const lsce_params *p = c->prm;
  const int64_t K = c->K;
  const int wu = lsce_weighted_u(p);
  const int dd = c->dd;
  double gmax = 0;
  for (int64_t j = c0; j < c1; j++) {
    double v = lsce_ld(c->logits, c->dtype, i * K + j);
    double uj = wu ? c->weights[j] : 1.0, gj;
    if (dd) {
      lsce_dd e = v == -INFINITY ? lsce_dd_from(0.0) : lsce_dd_exp(lsce_two_sum(v, -m));
      if (c->grad_lo) { /* the certifier keeps both parts */
        lsce_dd r = lsce_grad_entry_dd2(g, j, e, uj, p->pad_index);
        ((double *)grad)[i * K + j] = r.hi;
        c->grad_lo[i * K + j] = r.lo;
        continue;
      }
      gj = lsce_grad_entry_dd(g, j, e, uj, p->pad_index);
    } else {
      gj = lsce_grad_entry_d(g, j, v == -INFINITY ? 0.0 : exp(v - m), uj, p->pad_index);
    }
    double a = fabs(gj);
    if (a > gmax || a != a) gmax = a; /* a NaN sticks */
    lsce_st(grad, gdt, i * K + j, gj);
  }
  return gmax;
}

#ifndef LSCE_ONLINE_FMA
int lsce_cpu_online(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  if (c->opt) return lsce_cpu_options(loss, grad, gdt, c, 1, 1, 0); /* issue #15: one online pass */
  const lsce_kernels k = {lsce_stats_online, lsce_grad_scalar, NULL, NULL, NULL, NULL};
  return lsce_cpu_drive(loss, grad, gdt, c, &k, 1, 0);
}
#endif
