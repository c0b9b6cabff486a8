/* impls/cpu/online.c: cpu_online: one pass per row with the online softmax: a running maximum m,
 * s1 rescaled by exp(m_old - m_new) when it grows, t rebased by Uf (m_old - m_new). Narrow inputs
 * accumulate in double (error about K 2^-53, far below a float32 ulp); float64 inputs in
 * double-double. The gradient is a second sweep. Two kernel pairs:
 *   lsce_stats_online / lsce_grad_scalar: float64 with the double-double exp (the accurate kernels,
 *     also the scalar fallback of the SIMD kernels and verify's fast certifier);
 *   lsce_stats_online_first / lsce_grad_scalar_first: float64 of an ordinary call with the cheaper
 *     exp lsce_exp_pair of the exact pair z - m (combiner.h, LSCE_EXP_REL_PAIR = 2^-58, recorded in
 *     lsce_rowstats.exp_rel so the row's bound carries it); a row whose bound then falls short is
 *     recomputed by the accurate pair (driver.c's accurate rung). Narrow inputs: the same code.
 * cpu_online runs the first pair over lsce_cpu_drive with one thread, compiled for AVX2+FMA
 * (online_fma.c) where the CPU has it, so each fma is an instruction instead of a call into libm.
 * Claim: the bounds of docs/accuracy.md "Targets". */
#include <math.h>
#ifdef LSCE_ONLINE_FMA /* online_fma.c: the same kernels under their _fma names */
#define lsce_stats_online lsce_stats_online_fma
#define lsce_grad_scalar lsce_grad_scalar_fma
#define lsce_stats_online_first lsce_stats_online_first_fma
#define lsce_grad_scalar_first lsce_grad_scalar_first_fma
#endif
#include "cpu/elem.h"
#include "cpu/kernels.h"
#include "cpu/optrows.h"
#include "cpu/rowguard.h"
#include "lsce/config.h"

/* mode: lsce_online's dd (0 double, 1 double-double exp, 2 the float64 first pass) */
static inline void stats_mode(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1, int mode) {
  const lsce_params *p = c->prm;
  const int64_t K = c->K, y = c->targets[i];
  const int wu = lsce_weighted_u(p);
  lsce_stats_empty(st);
  lsce_online o;
  lsce_online_init(&o, mode);
  for (int64_t j = c0; j < c1; j++)
    lsce_online_push(&o, st, lsce_ld(c->logits, c->dtype, i * K + j), j, y, p, wu ? c->weights[j] : 1.0);
  lsce_online_finish(&o, st);
  if (mode == 2) { st->exp_rel = LSCE_EXP_REL_PAIR; st->reb_rel = LSCE_EXP_REL_DD; } /* combiner.h: rebases in dd */
}

void lsce_stats_online(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1) {
  stats_mode(st, c, i, c0, c1, c->dd);
}
void lsce_stats_online_first(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1) {
  stats_mode(st, c, i, c0, c1, lsce_scalar_first_f64(c) ? 2 : c->dd);
}

/* The gradient sweep: g_j from exp(z_j - m) by the statistics' own exp (mode as above; mode 2 is
 * within LSCE_EXP_REL_PAIR, the e_rel of the row's gradient bound, and its entries are formed in
 * double-double as mode 1's, so the bound's g_u stays U). */
static inline double grad_mode(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                               int64_t c1, const lsce_gradcoef *g, double m, int mode) {
  const lsce_params *p = c->prm;
  const int64_t K = c->K;
  const int wu = lsce_weighted_u(p);
  double gmax = 0;
  for (int64_t j = c0; j < c1; j++) {
    double v = lsce_ld(c->logits, c->dtype, i * K + j);
    double uj = wu ? c->weights[j] : 1.0, gj;
    if (mode) {
      lsce_dd d = lsce_two_sum(v, -m);
      lsce_dd e = v == -INFINITY ? lsce_dd_from(0.0) : mode == 2 ? lsce_exp_pair(d) : lsce_dd_exp(d);
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

double lsce_grad_scalar(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                        int64_t c1, const lsce_gradcoef *g, double m) {
  return grad_mode(grad, gdt, c, i, c0, c1, g, m, c->dd);
}
double lsce_grad_scalar_first(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                              int64_t c1, const lsce_gradcoef *g, double m) {
  return grad_mode(grad, gdt, c, i, c0, c1, g, m, lsce_scalar_first_f64(c) ? 2 : c->dd);
}

#ifndef LSCE_ONLINE_FMA
/* The scalar rows' kernels built for AVX2+FMA (online_fma.c, twopass_fma.c) where the CPU has it and
 * LSCE_ISA does not ask for scalar code: the same code and bounds, fma as one instruction. */
int lsce_scalar_use_fma(void) { return lsce_config_get()->isa != 0 && lsce_cpu_has_avx2(); }

int lsce_cpu_online(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  if (c->opt) return lsce_cpu_options(loss, grad, gdt, c, 1, 1, 0); /* issue #15: one online pass */
  return lsce_cpu_scalar_drive(loss, grad, gdt, c, lsce_stats_online_first, lsce_stats_online,
                               lsce_stats_online_first_fma, lsce_stats_online_fma);
}

int lsce_cpu_scalar_drive(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c,
                          lsce_stats_kern first, lsce_stats_kern acc, lsce_stats_kern first_fma,
                          lsce_stats_kern acc_fma) {
  const lsce_kernels plain = {first, lsce_grad_scalar_first, NULL, NULL, acc, lsce_grad_scalar};
  const lsce_kernels fmak = {first_fma, lsce_grad_scalar_first_fma, NULL, NULL, acc_fma, lsce_grad_scalar_fma};
  return lsce_cpu_drive(loss, grad, gdt, c, lsce_scalar_use_fma() ? &fmak : &plain, 1, 0);
}
#endif
