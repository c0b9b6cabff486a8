/* impls/cpu/rowguard.h: the exact-tier CPU rows' own error bound and escalation ladder.
 *
 * Next to each row result the rows compute a rigorous a-posteriori bound E on |computed - exact|
 * from the magnitudes they actually handled (the row statistics s1, t, Uf and the coefficient
 * terms c log1p(s1), A (m - z_y), B t, C), using the error constants below. When E cannot
 * guarantee the row's declared ulp bound (the registry's, lsce_target_bounds) for the loss or for
 * the row-normwise gradient, the row climbs a ladder (rowguard.c):
 *   1. the fast path (the row kernels and the combiner, unchanged);
 *   2. the safe path: the row recomputed in scaled double-double in a cancellation-free form (the
 *      target's terms combined into kappa_y (m - z_y), every term >= 0; logit differences and weights
 *      rescaled by powers of two against overflow and underflow), with its own bound;
 *   3. the certified reference (reference/, which impls/ links: lsce_core is a lower layer) for that
 *      row alone; with LSCE_ROW_REFERENCE=0 (or lsce_row_reference_disabled) the row is flagged
 *      instead, and keeps its safe-path value.
 * The counts of rows that climbed are returned through lsce_params.counts.
 *
 * Error constants: relative errors of the exps each path uses. LSCE_EXP_REL_SIMD and LSCE_EXP_REL_TAB
 * are the claims tests/test_simd_exp.c checks against MPFR for simd.h's vd_exp and vd_exp_tab; the
 * exp error is a parameter of the bound: the kernels record the one they used in
 * lsce_rowstats.exp_rel (0: LSCE_EXP_REL_SIMD), so a row of the cheaper first pass
 * (vd_exp_tab) whose bound falls short is recomputed by the accurate kernels (1.5 of the ladder:
 * driver.c, lsce_guard_fast_ok) before the safe path. The argument z - m of a narrow logit is formed in double
 * (relative error 2^-53 of |z - m| <= 746 where exp is not below the underflow floor), hence the
 * 746 u term of LSCE_EXP_REL_NARROW. */
#ifndef LSCE_CPU_ROWGUARD_H
#define LSCE_CPU_ROWGUARD_H
#include "combiner.h"
#include "lsce/registry.h"

#define LSCE_U53 0x1p-53
#define LSCE_U_DD 0x1p-104        /* one double-double operation, relative */
#define LSCE_EXP_REL_SIMD 0x1p-46 /* simd.h vd_exp on [-708, 0] (tests/test_simd_exp.c) */
#define LSCE_EXP_REL_TAB 0x1p-42  /* simd.h vd_exp_tab on [-708, 0]: argued below 2^-42.4 there, measured by tests/test_simd_exp.c */
#define LSCE_EXP_REL_F64 0x1p-54  /* simd.h vd_exp2x of an exact pair: argued below 2^-55.1 there, measured likewise */
#define LSCE_EXP_REL_F32 0x1.8p-23 /* simd_f32pass.inc vf_exp32 of an exact pair s + l: argued below 2.65 2^-24 there, measured by tests/test_simd_exp.c */
/* st->exp_rel above this: a float32-precision first pass (simd_f32pass.inc); for a reduction its rows
 * must also meet about 2^-(p+1) relative alone (lsce_guard_fast_ok) */
#define LSCE_EXP_REL_COARSE 0x1p-30
#define LSCE_EXP_REL_LIBM 0x1p-52 /* glibc exp: below 1 ulp of double */
#define LSCE_EXP_REL_DD 0x1p-97   /* dd.h lsce_dd_exp (table 2^-98, series 2^-94 on the device only) */
#define LSCE_LOG1P_REL_DD 0x1p-89 /* dd.h lsce_dd_log1p (tests/test_dd.c: 2^-90) */
/* exp of a narrow logit difference formed in double: the exp's own error and 746 u of the argument */
#define LSCE_EXP_REL_NARROW (LSCE_EXP_REL_SIMD + 746.0 * LSCE_U53)
/* exp results below this are 0 or subnormal in some path: an absolute error per term */
#define LSCE_EXP_ABS 0x1p-1020

/* What a path's statistics of one row may be off by, relative to their computed values. */
typedef struct {
  double s1_rel, t_rel, uf_rel; /* s1 (sum of exps), t (sum of u (z - m)), Uf (sum of u) */
  double abs;                   /* absolute floor added to s1, t and Uf (underflowed terms) */
  double e_rel;                 /* one exp(z_j - m) of the gradient sweep */
  double g_u;                   /* the unit of the gradient's final double operations (2^-53, or 2^-104 for dd) */
} lsce_stat_err;

/* The error model of the fast statistics of row i (st->nreb rebases, K classes) on call c. */
lsce_stat_err lsce_stat_err_fast(const lsce_call *c, const lsce_rowstats *st);

/* Would row i's fast result (loss L, gradient in gdt with largest |g| gmax; g NULL without one) be
 * accepted by lsce_guard_row as it is, without the safe path? */
int lsce_guard_fast_ok(lsce_dtype gdt, const lsce_call *c, int64_t i, const lsce_rowcoef *rc,
                       const lsce_rowstats *st, const lsce_gradcoef *g, lsce_dd L, double gmax);

/* E for lsce_row_loss's value L (absolute). +inf when the terms themselves overflowed. */
double lsce_guard_loss_err(const lsce_params *p, const lsce_rowcoef *rc, const lsce_rowstats *st,
                           const lsce_stat_err *se, double tpad, double upad);
/* E for every fast gradient entry of the row (absolute, before rounding to the output dtype). */
double lsce_guard_grad_err(const lsce_params *p, const lsce_rowcoef *rc, const lsce_gradcoef *g,
                           const lsce_rowstats *st, const lsce_stat_err *se, double gmax);

/* Does a value x (a double, before rounding to T), within E of the exact value, meet `bound` ulps of
 * T under the metric of docs/accuracy.md (ulp of max(|exact|, tau))? */
int lsce_guard_ok(double x, double E, double tau, lsce_dtype T, double bound);
/* The loss dtype of the bounds (float64 for float64 logits, else float32) and the declared bounds. */
lsce_dtype lsce_guard_loss_dtype(lsce_dtype logits);
lsce_bound lsce_guard_bound(lsce_dtype logits);
/* tau of one row's loss (none) and of a gradient row (docs/accuracy.md cancellation floors). */
double lsce_guard_tau_row(const lsce_params *p, double Lmin, lsce_dtype T);
double lsce_guard_tau_grad(const lsce_params *p, const lsce_rowcoef *rc, lsce_dtype G);

/* Rung 2: row i in scaled double-double, cancellation-free. Writes L (hi, lo) times post 2^post_e (1,
 * or 1/D = inv_D_m 2^inv_D_e for a reduction) and its bound E (when L is not NULL) and, when grad is not NULL, the gradient row in gdt. Returns a bit set: 1 the loss
 * meets its bound (or was not asked), 2 the gradient does (or was not asked). */
int lsce_row_safe(lsce_dd *L, double *E, void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i,
                  int want_loss_check, lsce_dd post, int post_e);
/* Rung 3: row i by the certified reference: its loss (L 2^(*Le) when Le is not NULL, else L) and,
 * when grad is not NULL, its gradient row (where no one-row problem gives it, a k-nll-weighted mean
 * or weights spanning more than double's range: the reference over the whole problem for row i
 * alone). Returns 0 on success, -1 when not possible (the reference off or gave up). */
int lsce_row_reference(lsce_dd *L, void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int *Le);
/* The whole problem's reduced loss by the reference (mean or sum): 0 on success. */
int lsce_total_reference(lsce_dd *r, const lsce_call *c);
/* The ladder for the drivers. After the fast path of row i (L its loss, gmax the largest |g_j| its
 * gradient kernels wrote, before rounding; g NULL without a gradient): checks the loss (reduction
 * none) and the gradient, runs the safe path when needed, stores Lrow[3i..3i+2] = (hi, lo, E) and
 * lvl[i]. Thread-safe (rows in parallel). */
void lsce_guard_row(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c,
                    int64_t i, const lsce_rowcoef *rc, const lsce_rowstats *st, const lsce_gradcoef *g,
                    lsce_dd L, double gmax);
/* After every row (serial): the reference for the rows left unsettled, the reduction (checked as a
 * whole; rows escalated when it fails), loss[] written, prm->counts filled. For verify's fast
 * certifier (c->loss_lo set) the ladder stops at the safe path, which writes both parts. */
void lsce_guard_finish(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, double *Lrow,
                       unsigned char *lvl);
/* Rung 3 is off: LSCE_ROW_REFERENCE=0, or set by lsce_row_reference_disable (tests, the fuzzer). */
int lsce_row_reference_disabled(void);
void lsce_row_reference_disable(int off);
#endif
