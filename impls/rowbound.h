/* impls/rowbound.h: the exact-tier rows' own a-posteriori error bound, as inline host+device
 * functions (LSCE_HD of lsce/dd.h: `static inline` in C, `__host__ __device__` under nvcc), so the
 * CPU rows (cpu/rowguard.c, their ladder) and the CUDA rows (cuda/rowkern.h, on the device next to
 * each row) compute the same bound with the same code:
 *   - the error constants of the exps and of double-double arithmetic;
 *   - the error model of the fast row statistics s1, t, Uf (lsce_stat_err_of);
 *   - the bound E of the fast loss, from the magnitudes the row handled (c log1p(s1), A (m - z_y),
 *     B t, C: not |L|, so the cancellation of the K-1 family at e = 1 shows in E), and of every
 *     fast gradient entry (lsce_guard_loss_err, lsce_guard_grad_err);
 *   - the acceptance test against the declared ulp bound under the metric of docs/accuracy.md
 *     (lsce_guard_ok, with the floors tau) and the whole fast-path check of one row (lsce_guard_fast).
 * Notation: u = 2^-53 (double), U = 2^-104 (one double-double operation, relative), K the classes
 * of the row. All bounds are first order in u and U; every figure is multiplied by (1 + 2^-20) at
 * the end (LSCE_SLACK), which covers the second-order terms and the double rounding of the bound's
 * own evaluation (a few dozen operations, each 2^-53 relative, on nonnegative quantities). Claim:
 * where lsce_guard_fast accepts a row, its loss and gradient are within the declared bounds. */
#ifndef LSCE_ROWBOUND_H
#define LSCE_ROWBOUND_H
#include <math.h>
#include <stdint.h>
#include "combiner.h"
#include "lsce/ulp.h"

#define LSCE_U53 0x1p-53
#define LSCE_U_DD 0x1p-104        /* one double-double operation, relative */
#define LSCE_EXP_REL_SIMD 0x1p-46 /* simd.h vd_exp on [-708, 0] (tests/test_simd_exp.c) */
#define LSCE_EXP_REL_TAB 0x1p-42  /* simd.h vd_exp_tab on [-708, 0]: argued below 2^-42.4 there, measured by tests/test_simd_exp.c */
#define LSCE_EXP_REL_ONE 0x1p-34  /* simd.h vd_exp_one, the double single pass's: argued below 2^-34.45 there, measured likewise */
#define LSCE_EXP_REL_F64 0x1p-54  /* simd.h vd_exp2x of an exact pair: argued below 2^-55.1 there, measured likewise */
#define LSCE_EXP_REL_F64X 0x1p-61 /* simd.h vd_exp2xx, the float64 accurate rung's: argued below 2^-61.9 there, measured likewise */
/* simd_f32pass.inc vf_exp32: its error grows with |k| = |round(x log2 e)| (one fma reduces by the float
 * ln2, 1.9047e-9 above ln2): LSCE_EXP_REL_F32 + |k| LSCE_EXP_REL_F32K of the logit itself (l = 0),
 * 2^-26 more for a pair s + l; argued below 1.82 2^-24 + |k| 1.9047e-9 there, measured by
 * tests/test_simd_exp.c. LSCE_EXP_REL_F32 is also the floor of every float32-pass row's exp_rel. */
#define LSCE_EXP_REL_F32 0x1.d8p-24
#define LSCE_EXP_REL_F32K 0x1.06p-29
/* a bound on |k| in vf_exp32 over arguments of size at most a (floats; a in double): |k| <=
 * floor(|fl(x log2e_f)| + 1/2), and 1.4427 covers log2e_f (1.93e-8 low of log2 e), the product's
 * rounding (2^-24 relative) and an argument s = fl(z - M) up to 2^-24 above |z - M| */
static inline double lsce_exp32_kmax(double a) { return floor(a * 1.4427 + 0.5); }
/* vf_exp32's relative error on arguments of size at most a, of the logit itself (pair 0) or of an
 * exact pair s + l (pair 1) */
static inline double lsce_exp_rel_f32(double a, int pair) {
  return LSCE_EXP_REL_F32 + (pair ? 0x1p-26 : 0.0) + lsce_exp32_kmax(a) * LSCE_EXP_REL_F32K;
}
#define LSCE_EXP_REL_T16 0x1p-52  /* cpu/tab16.c: glibc exp of a 16-bit logit, below 1 ulp of double; measured by tests/test_simd_exp.c */
/* st->exp_rel above this: a float32-precision first pass (simd_f32pass.inc); for a reduction its rows
 * must also meet about 2^-(p+1) relative alone (lsce_guard_fast_ok) */
#define LSCE_EXP_REL_COARSE 0x1p-30
#define LSCE_EXP_REL_LIBM 0x1p-52 /* glibc exp: below 1 ulp of double */
/* combiner.h lsce_exp_pair, the scalar rows' float64 first pass (exp of an exact pair as a pair, the
 * 256-entry table and a degree-5 polynomial in double): argued below 2^-59.8 there, measured by
 * tests/test_simd_exp.c */
#define LSCE_EXP_REL_PAIR 0x1p-58
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
  double g_abs;                 /* an absolute error of one exp of the gradient sweep, times alpha_rs (the float64
                                 * first pass's vector sweep: LSCE_EXP_ABS; 0 otherwise) */
} lsce_stat_err;


#define LSCE_SLACK (1.0 + 0x1p-20)

/* A double-double coefficient rounded from its exact value (or formed by a few double-double
 * operations) is within U |x| + 2^-1073 of it: below 2^-969 the low part, and below 2^-1022 the high
 * part, are subnormal. crel(x) is the second term relative to |x|: it makes subnormal coefficients
 * (a weight of 1e-310, 1/D for D = sum w near DBL_MAX) count in the bounds. */
LSCE_HD double lsce_crel(double x) { return x != 0 ? 0x1p-1073 / fabs(x) : 0.0; }
/* the factors inside A, B and 1/D (nll_scale = 1/W may be subnormal while A = a w_y / W is not) */
LSCE_HD double lsce_crel_params(const lsce_params *p) {
  return lsce_crel(lsce_dd_to_d(p->nll_scale)) + lsce_crel(lsce_dd_to_d(p->smooth_scale)) + lsce_crel(lsce_dd_to_d(p->inv_D));
}
/* the absolute floor of a few dozen double-double operations whose results are below 2^-969 */
#define LSCE_ABS_FLOOR 0x1p-1067

/* the largest finite value of T (FLT_MAX, 65504, bfloat16's 0x7f7f, DBL_MAX) */
LSCE_HD double lsce_guard_max_finite(lsce_dtype t) {
  return t == LSCE_DT_F32 ? 0x1.fffffep127 : t == LSCE_DT_F16 ? 65504.0 : t == LSCE_DT_BF16 ? 0x1.fep127 : 0x1.fffffffffffffp1023;
}

/* The metric (docs/accuracy.md): err = |y - r| / ulp_T(max(|r|, tau)), y = RN_T(x). With |x - r| <= E:
 * |y - r| <= |y - x| + E <= ulp_T(x)/2 + E (ulp_T of x's binade, the subnormal spacing below), and
 * |r| >= |x| - E, so, ulp_T being nondecreasing, the denominator is at least ulp_T(max(|x| - E, tau)).
 * Near the overflow threshold the rounding may go to an infinity either way: refused. */
LSCE_HD int lsce_guard_ok(double x, double E, double tau, lsce_dtype T, double bound) {
  if (!(E >= 0) || !isfinite(E) || !isfinite(x)) return 0;
  if (fabs(x) + E >= lsce_guard_max_finite(T)) return 0;
  double lo = fabs(x) - E;
  /* For T = float64 the rows pass x already rounded to T (a double-double's high part, a gradient
   * entry rounded once): E bounds the value before that rounding, so |r| >= |x| - ulp(x)/2 - E
   * (that value may lie below a power of two that x reached by rounding up) */
  if (T == LSCE_DT_F64) lo -= 0.5 * lsce_ulp_of_hd(x, T);
  if (lo < tau) lo = tau;
  return E + 0.5 * lsce_ulp_of_hd(x, T) <= bound * lsce_ulp_of_hd(lo, T) * (1.0 - 0x1p-30);
}

/* tau = 2^-(p+3) M, M = |L| + 2 H for one KL row (H = C), |L| for the others (verify/measure.c); a
 * lower bound from |L| >= Lmin. */
LSCE_HD double lsce_guard_tau_row(const lsce_params *p, double Lmin, lsce_dtype T) {
  double H = p->kl ? fabs(lsce_dd_to_d(p->C)) : 0.0;
  return lsce_tau_hd((Lmin > 0 ? Lmin : 0) + 2 * H, T) * (1 - 0x1p-40);
}
/* sigma_i = (|A_i| + B U_all) / D */
LSCE_HD double lsce_guard_tau_grad(const lsce_params *p, const lsce_rowcoef *rc, lsce_dtype G) {
  double s = (fabs(lsce_dd_to_d(rc->A)) + fabs(lsce_dd_to_d(rc->B)) * lsce_dd_to_d(p->U_all)) * lsce_dd_to_d(p->inv_D);
  return lsce_tau_hd(s, G) * (1 - 0x1p-40);
}


/* The fast statistics' error model (the kernels of cpu/online.c, cpu/simd_kernels.inc, cpu/twopass.c,
 * the merge of combiner.h, and the CUDA rows of cuda/rowkern.h, which run the same lsce_online_push
 * in double and lsce_stats_merge with a double exp; their exp, libdevice's (glibc's in the host
 * emulation), is within 1 ulp = 2^-52 relative, inside vd_exp's 2^-46 of e_rel):
 *  s1 = sum of exps (>= 0 terms). Each exp(z_j - m) is within e_rel of its exact value (narrow
 *    logits: the exp's own error and 746 u from forming z - m in double; float64: the double-double
 *    exp of the exact pair z - m). Each rebase to a larger maximum (online step or merge) multiplies
 *    the partial sum by one such exp and adds 1 (2 roundings); the sum of K terms of one sign in
 *    double (recursive or per lane, then the lanes) is within (K + 2) u relative. Hence
 *    s1_rel = (1 + nreb)(e_rel + 3 u) + (K + 4) u, or (e_rel + 3 u) + nreb (reb_rel + 3 u) + (K + 4) u
 *    where the rebases' exps are the more accurate (lsce_rowstats.reb_rel). Exps below 2^-1020 (0, or subnormal) add at most
 *    2^-1020 each: abs = K 2^-1020.
 *  t = sum u_c (z_c - m) (<= 0 terms): each term 2 roundings, the sum (K + 2) u, each rebase adds
 *    Uf (m_old - m_new) with Uf's own error: t_rel = (K + 4 + 3 nreb) u + uf_rel; the pad's term,
 *    added then removed by the SIMD kernels, is accounted by the caller (t_mag).
 *  Uf: K terms >= 0: (K + 2) u.
 * With double-double sums (float64 logits) u becomes U in every sum, and e_rel = LSCE_EXP_REL_DD (or
 * the exp the kernels recorded, st->exp_rel: LSCE_EXP_REL_F64 for the float64 first pass). */
LSCE_HD lsce_stat_err lsce_stat_err_of(int64_t K_, int dd, const lsce_rowstats *st) {
  lsce_stat_err se;
  double K = (double)K_, nreb = (double)st->nreb;
  double u = dd ? LSCE_U_DD : LSCE_U53;
  /* the exp the kernels recorded (st->exp_rel, e.g. LSCE_EXP_REL_TAB), never below vd_exp's, which
   * also covers glibc's exp of the scalar remainders and of merges */
  double er = st->exp_rel > LSCE_EXP_REL_SIMD ? st->exp_rel - LSCE_EXP_REL_SIMD : 0.0;
  se.e_rel = dd ? (st->exp_rel > 0 ? st->exp_rel : LSCE_EXP_REL_DD) : LSCE_EXP_REL_NARROW + er;
  /* the float64 first pass (simd_kernels.inc stats_f64, st->exp_rel set with dd) sums s1 and t per
   * lane as pairs: (n^2 + 2n) u^2 relative besides the double-double steps, n <= K per lane */
  double pair = dd && st->exp_rel > 0 ? (K * K + 2 * K) * LSCE_U53 * LSCE_U53 * (1 + 0x1p-40) : 0.0;
  se.uf_rel = (K + 2) * u;
  /* the rebases' exps: st->reb_rel where the kernels recorded a smaller one (online.c's float64 first
   * pass rebases with the double-double exp), else e_rel */
  double eb = st->reb_rel > 0 && st->reb_rel < se.e_rel ? st->reb_rel : se.e_rel;
  se.s1_rel = (se.e_rel + 3 * u) + nreb * (eb + 3 * u) + (K + 4) * u + pair;
  se.t_rel = (K + 4 + 3 * nreb) * u + se.uf_rel + pair;
  se.abs = K * LSCE_EXP_ABS;
  se.g_u = dd ? LSCE_U_DD : LSCE_U53;
  se.g_abs = 0.0;
  if (dd && st->exp_rel > 0) {
    /* float64 first-pass statistics: the gradient may come from the vector sweep
     * (simd_kernels.inc grad_f64, whose error is argued there): its double arithmetic stays within
     * 2^-102 (alpha_rs e_j + 3 kappa_j / D), covered by g_u = 2^-100, and its exp is within
     * st->exp_rel (e_rel above) plus LSCE_EXP_ABS absolute */
    se.g_u = 0x1p-100;
    se.g_abs = LSCE_EXP_ABS;
  }
  return se;
}

/* |log1p(s1) - log1p(s1_exact)| with |s1 - s1_exact| <= ds: log1p is 1/(1+x)-Lipschitz on
 * [s1 - ds, inf); the double-double log1p adds LOG1P_REL of its value. */
LSCE_HD double lsce_dls_of(double s1, double ds, double ls) {
  double den = 1 + s1 - ds;
  if (!(den > 0)) return INFINITY;
  return ds / den + LSCE_LOG1P_REL_DD * ls;
}

/* The fast loss (tpad, upad: |u_P (z_P - m)| and u_P for a finite pad class, else 0)
 * L = c log1p(s1) + A (m - z_y) - B t - C, c = [y finite] A + B Uf (combiner.h), each
 * operation in double-double. With the statistics' errors ds, dt, dUf:
 *   |dL| <= |c| dls + |B| dUf (ls + dls) + |B| dt + 8 U (|c| ls + |A| |m - z_y| + |B| |t| + |C|),
 * the last term the roundings of the combination and of A, B, C themselves (each within U of its
 * exact rational). The terms |A| |m - z_y| and |B| |t| are what cancels in the K-1 family at e = 1:
 * the bound grows with them, not with |L|. */
LSCE_HD double lsce_guard_loss_err(const lsce_params *p, const lsce_rowcoef *rc, const lsce_rowstats *st,
                           const lsce_stat_err *se, double tpad, double upad) {
  int yf = !st->y_masked;
  double A = fabs(lsce_dd_to_d(rc->A)), B = fabs(lsce_dd_to_d(rc->B));
  double s1 = lsce_dd_to_d(st->s1), t = fabs(lsce_dd_to_d(st->t)), Uf = fabs(lsce_dd_to_d(st->Uf));
  double ls = log1p(s1) * (1 + 0x1p-50);
  /* the pad's terms, added and removed again by the SIMD kernels: the sums' magnitudes before that */
  double tmag = t + tpad;
  Uf += upad;
  double ds = se->s1_rel * s1 + se->abs;
  double dls = lsce_dls_of(s1, ds, ls);
  double cabs = B * Uf + (yf ? A : 0);
  double dUf = se->uf_rel * Uf + se->abs;
  double dt = se->t_rel * tmag + se->abs + st->t_abs; /* t_abs: the float32 first pass's own term */
  double dzy = yf ? fabs(st->m - st->zy) * (1 + LSCE_U53) : 0;
  double C = fabs(lsce_dd_to_d(p->C));
  double cr = lsce_crel(A) + lsce_crel(B) + lsce_crel(lsce_dd_to_d(rc->A) + lsce_dd_to_d(rc->B) * Uf) + lsce_crel_params(p);
  /* A = a w_y (or a w_y / W) that underflowed to 0 while the exact A > 0 (rc->A_pos): lsce_crel(A) is 0,
   * but A is off by up to 2^-1073, which A (m - z_y) and A log1p(s1) multiply (a fuzz finding:
   * 1e-4 2^-1074 times a gap of 1.7e300) */
  double Afl = (A == 0 && rc->A_pos) ? 0x1p-1073 : 0.0;
  double E = cabs * dls + B * dUf * (ls + dls) + B * dt + (8 * LSCE_U_DD + cr) * (cabs * ls + A * dzy + B * t + C) +
             Afl * (dzy + ls + dls) + LSCE_ABS_FLOOR;
  E *= LSCE_SLACK;
  return isnan(E) ? INFINITY : E;
}

/* The fast gradient: g_j = alpha_rs e_j - kappa_j / D (j != jm), alpha_rs = alpha / (D s), s = 1 + s1;
 * g_jm = ((alpha - kappa_jm) - alpha s1 / s) / D (combiner.h). alpha = A + B U_all is formed in
 * double-double from the exact-rounded A, B, U_all: within 4 U (|A| + B U_all). 1/s: relative
 * ds / (1 + s1 - ds) =: rs. For j != jm, e_j <= min(1, s1 + ds) =: emax (s1 sums them all), and the
 * exp is within e_rel, so with kmax the largest kappa_j over j != jm:
 *   |dg_j| <= emax (alpha_rs (rs + 8 U + g_u + e_rel) + 4 U (|A| + B U_all) / (D s))
 *             + 3 g_u kmax / D + g_u gmax
 * (g_u: the double roundings of alpha_rs, kappa_j / D, B/D * w_j and the fma, narrow logits; U with
 * double-double arithmetic), and at jm
 *   |dg_jm| <= (alpha ds/(s (s - ds)) + 8 U (alpha + kappa_jm + |A| + B U_all)) / D + g_u |g_jm|.
 * The bound is the sum of the two. Non-finite coefficients (weights near DBL_MAX) give +inf. */
LSCE_HD double lsce_guard_grad_err(const lsce_params *p, const lsce_rowcoef *rc, const lsce_gradcoef *g,
                           const lsce_rowstats *st, const lsce_stat_err *se, double gmax) {
  if (g->nan) return 0.0;
  double A = fabs(lsce_dd_to_d(rc->A)), B = fabs(lsce_dd_to_d(rc->B));
  double Uall = lsce_dd_to_d(p->U_all), invD = lsce_dd_to_d(p->inv_D);
  double alpha = fabs(lsce_dd_to_d(rc->alpha));
  double s1 = lsce_dd_to_d(st->s1), s = 1 + s1;
  double ds = se->s1_rel * s1 + se->abs;
  if (!(s - ds > 0)) return INFINITY;
  double rs = ds / (s - ds);
  double emax = s1 + ds < 1 ? s1 + ds : 1;
  double ars = fabs(g->alpha_rs);
  double umax = lsce_weighted_u(p) ? p->umax : 1.0;
  double ky = A + B * rc->uy;
  double koff = B * umax; /* kappa_j of a class j != y */
  double kmax = st->jm == g->y ? koff : (ky > koff ? ky : koff);
  double kjm = st->jm == g->y ? ky : koff;
  double Eg = emax * (ars * (rs + 8 * LSCE_U_DD + se->g_u + se->e_rel) + 4 * LSCE_U_DD * (A + B * Uall) * invD / s) +
              3 * se->g_u * kmax * invD + se->g_u * gmax;
  /* the vector float64 sweep (se->g_abs): an exp off by LSCE_EXP_ABS absolute (underflow), times
   * alpha_rs, and its five operations off by 2^-1075 each where they are subnormal */
  if (se->g_abs > 0) Eg += se->g_abs * ars + 0x1p-1072;
  double jm = fabs(lsce_dd_to_d(g->jm_val));
  /* jm_val = ((alpha - kappa_jm) - alpha s1 / s) / D (combiner.h) depends on s1 only through
   * alpha s1 / s = alpha (1 - 1/s): with |s1 - s1*| <= ds, |1/s - 1/s*| <= ds / (s (s - ds)) = rs / s
   * (s* >= s - ds), so the statistics cost alpha rs / s there (not alpha rs: a float32 first pass's
   * s1, 2^-22 relative, would otherwise fail every row's 2-ulp gradient bound at jm) */
  double Ejm = (alpha * rs / s + 8 * LSCE_U_DD * (alpha + kjm + A + B * Uall)) * invD + se->g_u * jm;
  double cr = lsce_crel(A) + lsce_crel(B) + lsce_crel(invD) + lsce_crel(ars) + lsce_crel(alpha) + lsce_crel_params(p);
  /* an underflowed A (see lsce_guard_loss_err): kappa_y and alpha each off by up to 2^-1073 */
  double Afl = (A == 0 && rc->A_pos) ? 0x1p-1073 : 0.0;
  /* kappa_j / D = [A/D at y] + (B/D) u_j (lsce_kappa_D): where A/D or B/D lies below 2^-969 its low
   * part is lost (and its high part may be subnormal or 0), an absolute 2^-1073 that u_j <= umax
   * multiplies (a fuzz finding: B/D = 4.7e-312 times w = 5.3e304, 1745 ulp accepted) */
  double AD = fabs(lsce_dd_to_d(g->A_D)), BD = fabs(lsce_dd_to_d(g->B_D));
  double Dfl = (AD < 0x1p-969 && (A > 0 || rc->A_pos) ? 0x1p-1073 : 0.0) + (BD < 0x1p-969 && B > 0 ? 0x1p-1073 * umax : 0.0);
  double E = (Eg + Ejm + cr * (ars + (kmax + alpha) * invD) + 2 * Afl * invD + Dfl + LSCE_ABS_FLOOR) * LSCE_SLACK;
  if (!isfinite(ars) || !isfinite(kmax * invD) || !isfinite(alpha) || !isfinite(gmax) || isnan(E)) return INFINITY;
  return E;
}


/* The fast path's check of one row against the declared bounds (loss_ulp of the loss dtype LT,
 * grad_ulp of the gradient dtype gdt): the loss of a row of reduction `none` (a reduction's rows
 * are checked as a sum by the caller, from E) and, when g is not NULL, the gradient row, normwise
 * (gmax the largest |g_j| written, before rounding). K, dd: the row's classes and whether its
 * statistics are double-double (lsce_stat_err_of). tpad, upad: |u_P (z_P - m)| and u_P of a finite
 * pad class (lsce_guard_pad), else 0. Returns E, the loss bound (0 for a row decided exactly:
 * lsce_row_loss_exact), and sets *ok_l, *ok_g. */
LSCE_HD double lsce_guard_fast(int *ok_l, int *ok_g, const lsce_params *p, int64_t K, int dd,
                               const lsce_rowcoef *rc, const lsce_rowstats *st, const lsce_gradcoef *g,
                               lsce_dd L, double gmax, double tpad, double upad, lsce_dtype LT,
                               lsce_dtype gdt, double loss_ulp, double grad_ulp) {
  lsce_stat_err se = lsce_stat_err_of(K, dd, st);
  lsce_dd Lx;
  double E = lsce_row_loss_exact(&Lx, p, rc, st) ? 0.0 : lsce_guard_loss_err(p, rc, st, &se, tpad, upad);
  *ok_l = 1;
  *ok_g = 1;
  if (p->reduction == 2 /* LSCE_RED_NONE */ && !(isinf(L.hi) && E == 0.0))
    *ok_l = lsce_guard_ok(L.hi, E, lsce_guard_tau_row(p, fabs(L.hi) - E, LT), LT, loss_ulp);
  if (g && !g->nan) {
    double Eg = lsce_guard_grad_err(p, rc, g, st, &se, gmax);
    *ok_g = lsce_guard_ok(gmax, Eg, lsce_guard_tau_grad(p, rc, gdt), gdt, grad_ulp);
  }
  return E;
}

/* max of two |g| figures; a NaN in either gives NaN (order-free: the rows' partial maxima of |g_j|
 * merge in any order to the same figure) */
LSCE_HD double lsce_gmax2(double a, double b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }

/* The verdicts of lsce_guard_fast as a device row reports them (lsce_guard_device_rows, cpu/rowguard.h) */
#define LSCE_GUARD_LOSS_BAD 1
#define LSCE_GUARD_GRAD_BAD 2

/* The pad class's terms that the SIMD kernels add and remove again (lsce_guard_loss_err's tpad,
 * upad): zP the pad's logit, wP its weight (1 without weights). */
LSCE_HD void lsce_guard_pad(double *tpad, double *upad, const lsce_params *p, const lsce_rowstats *st,
                            double zP, double wP) {
  *tpad = *upad = 0.0;
  if (st->P_finite && p->pad_index >= 0) {
    *upad = lsce_weighted_u(p) ? wP : 1.0;
    *tpad = *upad * fabs(zP - st->m) * (1 + 0x1p-50);
  }
}
#endif
