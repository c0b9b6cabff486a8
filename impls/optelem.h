/* impls/optelem.h: the per-element and per-row pieces of the exact rows on issue #15's options
 * (logit scale S, soft cap C, z-loss, sample weights, the normalizer, soft targets, the sigmoid
 * family), as inline host+device functions (LSCE_HD of lsce/dd.h), so the CPU rows
 * (impls/cpu/optrows.c) and the CUDA rows (impls/cuda/optkern.h, on the device) compute the same
 * values with the same bounds: the transform with its per-element bound and chain factor, the
 * coefficients kappa', the softmax statistics (m, s1) with their merge, the softmax row's loss bound
 * and gradient entries, the sigmoid element. The arguments behind every bound are optrows.c's (each
 * function names the paragraph there); this file only moves the code where both sides can call it.
 *
 * The libm on both sides: glibc (CPU rows, the CUDA host emulation) has exp below 1 ulp and log1p,
 * tanh below 2 ulps (glibc's libm-test-ulps for x86_64); CUDA's libdevice has exp, log1p and tanh
 * below 1 ulp (CUDA C Programming Guide, "Double-Precision Floating-Point Functions"), and IEEE
 * double division and sqrt by default; nvcc compiles with --fmad=false (no contraction), so every
 * product and sum rounds as written, as in the C code (-ffp-contract=off). The constants below
 * are the larger (glibc's) figures. u = 2^-53; every bound is first order in u, SL = 1 + 2^-20
 * covers the second-order terms and the rounding of the bound's own evaluation. */
#ifndef LSCE_OPTELEM_H
#define LSCE_OPTELEM_H
#include <math.h>
#include <stdint.h>
#include "rowbound.h"
#ifdef __cplusplus
extern "C" {
#endif
#include "lsce/ref_options.h"
#ifdef __cplusplus
}
#endif

#define LSCE_OPT_U LSCE_U53
#define LSCE_OPT_SL (1.0 + 0x1p-20)
/* an exact rational rounded by mpq_get_d (2 u), then at most 6 roundings of nonnegative products
 * and sums (kappa' = ((al t + be) or q) w s_i / D, t' and 1 - t', w_c s_i / D): < 8 u + 2 u each of
 * at most 3 converted constants; 16 u with margin */
#define LSCE_OPT_KREL (16 * LSCE_OPT_U)
/* an exp of a rounded difference: exp below 1 ulp (2 u relative, LSCE_EXP_REL_LIBM) and the
 * argument's rounding, u |x_j - m| <= 746 u where the exp is not below 2^-1020 (rowguard.h's same
 * argument); smaller exps are counted absolutely (LSCE_EXP_ABS each) */
#define LSCE_OPT_EREL (LSCE_EXP_REL_LIBM + 746.0 * LSCE_OPT_U)
/* log1p and tanh: below 2 ulps, i.e. 4 u relative */
#define LSCE_OPT_LIBM2 (4 * LSCE_OPT_U)

/* ---- the transform: x = S z, then C tanh(x / C); -inf stays -inf (optrows.c "the transform") -- */
LSCE_HD double lsce_opt_transform(const lsce_opt_consts *k, double z, double *dx, double *ch, double *dch) {
  const double U = LSCE_OPT_U;
  if (z == -INFINITY) {
    *dx = 0;
    *ch = k->has_cap ? 0.0 : k->S;
    *dch = k->has_cap || !k->has_scale ? 0.0 : 2 * U * k->S;
    return -INFINITY;
  }
  double y = k->has_scale ? k->S * z : z;
  *ch = k->S;
  *dch = k->has_scale ? 2 * U * k->S : 0.0;
  if (!k->has_cap) {
    *dx = k->has_scale ? 3 * U * fabs(y) + 0x1p-1074 : 0.0;
    return y;
  }
  double a = y / k->C;
  double x = k->C * tanh(a);
  *dx = 16 * U * fabs(x) + (k->C + 1) * 0x1p-1068; /* a subnormal tanh: C times a few 2^-1074 */
  if (z == 0) { *dch = k->has_scale ? 2 * U * k->S : 0.0; return x; } /* sech 0 = 1 */
  double E = exp(-2 * fabs(a)), d = 1 + E;
  *ch = k->S * (4 * E / (d * d));
  /* E subnormal or 0 (|a| > 354): within 2^-1074 absolutely, times 4 S */
  *dch = (12 * fabs(a) + 20) * U * *ch + k->S * 0x1p-1068;
  return x;
}

/* the row's largest dx over its finite x (dX), largest chain factor and largest relative bound of
 * one (chrel), taken element by element and merged by max (any order gives the same) */
typedef struct { double dX, chmax, chrel; } lsce_opt_tacc;
LSCE_HD void lsce_opt_tacc_init(lsce_opt_tacc *a) { a->dX = 0; a->chmax = 0; a->chrel = 0; }
LSCE_HD void lsce_opt_tacc_push(lsce_opt_tacc *a, double x, double dx, double ch, double dch) {
  if (x != -INFINITY && dx > a->dX) a->dX = dx;
  if (ch > a->chmax) a->chmax = ch;
  if (ch > 0 && dch / ch > a->chrel) a->chrel = dch / ch;
}
LSCE_HD void lsce_opt_tacc_merge(lsce_opt_tacc *a, const lsce_opt_tacc *b) {
  if (b->dX > a->dX) a->dX = b->dX;
  if (b->chmax > a->chmax) a->chmax = b->chmax;
  if (b->chrel > a->chrel) a->chrel = b->chrel;
}

/* ---- kappa'_c of a row (optrows.c kappas): y its index target (soft: t its target t_c), wy the
 * weight of y (read only for k-nll-weighted), wc the weight of c, f = s_i / D_norm; *lq = log q_c
 * for the KL variants (else 0) */
LSCE_HD double lsce_opt_kappa(const lsce_opt_consts *k, int64_t c, int64_t y, double t, double wy, double wc,
                              int64_t pad_index, double f, double *lq) {
  double q;
  if (k->soft) q = k->al * t + k->be;
  else if (k->weighting == LSCE_W_NLL) q = k->qo * k->b + (c == y ? k->qd * wy * k->a : 0.0);
  else q = c == y ? k->qt : (k->pad && c == pad_index) ? 0.0 : k->qo;
  *lq = k->kl && q > 0 ? log(q) : 0.0;
  if (k->weighting == LSCE_W_TORCH || k->weighting == LSCE_W_LOGPROB) q *= wc;
  return q * f;
}

/* ---- the softmax statistics of x over some classes: m, its first index jm, s1 = sum_{j != jm}
 * e^{x_j - m}, the rebases nreb and the finite classes Kf (optrows.c stats_range, stats_merge) --- */
typedef struct { double m, s1; int64_t jm, nreb, Kf; } lsce_opt_stats;
LSCE_HD void lsce_opt_stats_empty(lsce_opt_stats *st) {
  st->m = -INFINITY; st->s1 = 0; st->jm = -1; st->nreb = 0; st->Kf = 0;
}
/* one step of the online pass (classes pushed in increasing j) */
LSCE_HD void lsce_opt_stats_push(lsce_opt_stats *st, double x, int64_t j) {
  if (x == -INFINITY) return;
  st->Kf++;
  if (x > st->m) {
    if (st->jm >= 0) { st->s1 = (st->s1 + 1.0) * exp(st->m - x); st->nreb++; }
    st->m = x; st->jm = j;
  } else st->s1 += exp(x - st->m);
}
/* a merge rebases the smaller maximum's part: one exp and three roundings, counted as a rebase */
LSCE_HD void lsce_opt_stats_merge(lsce_opt_stats *a, const lsce_opt_stats *b) {
  if (b->Kf == 0) return;
  if (a->Kf == 0) { *a = *b; return; }
  const lsce_opt_stats *hi = a->m >= b->m ? a : b, *lo = a->m >= b->m ? b : a;
  double s1 = hi->s1 + (lo->s1 + 1.0) * exp(lo->m - hi->m);
  int64_t jm = a->m == b->m ? (a->jm < b->jm ? a->jm : b->jm) : hi->jm;
  a->nreb += b->nreb + 1;
  a->Kf += b->Kf;
  a->m = hi->m; a->jm = jm; a->s1 = s1;
}

/* ---- the softmax row (optrows.c row_softmax: the argument of every bound is there) ----------- */
typedef struct {
  double m, s1, ls, ds, dls, lse, dL; /* the statistics, log1p(s1) and their bounds */
  int64_t jm;
  double Ksum, dX, chmax, chrel;      /* sum kappa', the transform's largest dx and chain factors */
  double Kz, dKz, is, r1, tau;        /* the gradient's constants (lsce_opt_sm_gcoef) */
} lsce_opt_smrow;

/* from the statistics: ls = log1p(s1) and the bounds ds, dls, dL; -1 when the row cannot be vouched
 * for (no finite class, or s1's bound reaches 1 + s1) */
LSCE_HD int lsce_opt_sm_begin(lsce_opt_smrow *r, const lsce_opt_stats *st, int64_t K, double Ksum,
                              const lsce_opt_tacc *ta) {
  const double U = LSCE_OPT_U;
  if (st->Kf == 0) return -1;
  r->m = st->m; r->s1 = st->s1; r->jm = st->jm;
  r->Ksum = Ksum; r->dX = ta->dX; r->chmax = ta->chmax; r->chrel = ta->chrel;
  r->ds = r->s1 * ((1 + (double)st->nreb) * (LSCE_OPT_EREL + 3 * U) + ((double)K + 4) * U) + (double)K * LSCE_EXP_ABS;
  r->ls = log1p(r->s1);
  if (!(1 + r->s1 - r->ds > 0)) return -1;
  r->dls = r->ds / (1 + r->s1 - r->ds) + LSCE_OPT_LIBM2 * r->ls;
  r->lse = r->m + r->ls;
  r->dL = r->dX + r->dls + U * fabs(r->lse);
  return 0;
}

/* the row's terms kappa'_c (lse - x_c) (and the KL part), pushed class by class in any order:
 * sums of nonnegative terms (CE, prop, Habs, EH) and of H, whose bounds hold in any order;
 * prop starts at Ksum dX (lsce_opt_terms_init) */
typedef struct { double CE, prop, H, Habs, EH, tmax; int inf; } lsce_opt_terms;
LSCE_HD void lsce_opt_terms_init(lsce_opt_terms *a, double prop0) {
  a->CE = 0; a->prop = prop0; a->H = 0; a->Habs = 0; a->EH = 0; a->tmax = 0; a->inf = 0;
}
LSCE_HD void lsce_opt_terms_push(lsce_opt_terms *a, const lsce_opt_consts *k, double kap, double lq, double x,
                                 double dx, double m, double ls) {
  const double U = LSCE_OPT_U;
  if (kap == 0) return;
  if (x == -INFINITY) { a->inf = 1; return; }
  double t = (m - x) + ls;
  if (t > a->tmax) a->tmax = t;
  a->CE += kap * t;
  a->prop += kap * dx;
  if (k->kl) {
    double h = kap * lq;
    a->H += h;
    a->Habs += fabs(h);
    a->EH += kap * (fabs(lq) * (LSCE_OPT_KREL + 3 * U) + 3 * U) + 0x1p-1070 * fabs(lq);
  }
}
LSCE_HD void lsce_opt_terms_merge(lsce_opt_terms *a, const lsce_opt_terms *b) {
  a->CE += b->CE; a->prop += b->prop; a->H += b->H; a->Habs += b->Habs; a->EH += b->EH;
  if (b->tmax > a->tmax) a->tmax = b->tmax;
  a->inf |= b->inf;
}

/* the row's share R (loss terms, KL part, z part zq s lse^2) and its bound E; -1 when not finite */
LSCE_HD int lsce_opt_sm_loss(double *R, double *E, const lsce_opt_smrow *r, const lsce_opt_consts *k, int64_t K,
                             double s, const lsce_opt_terms *tm) {
  const double U = LSCE_OPT_U;
  double Z = 0, EZ = 0;
  if (k->has_z) {
    Z = k->zq * s * r->lse * r->lse;
    EZ = k->zq * s * (2 * fabs(r->lse) * r->dL + r->dL * r->dL) * (1 + 4 * U) + 5 * U * Z;
  }
  if (tm->inf) { *R = INFINITY; *E = 0; return 0; }
  *R = tm->CE + tm->H + Z;
  double ECE = tm->CE * (LSCE_OPT_KREL + ((double)K + 6) * U) + r->Ksum * r->dls + tm->prop +
               (double)K * 0x1p-1070 * (tm->tmax + 1);
  double EH = tm->EH + ((double)K + 2) * U * tm->Habs;
  *E = (ECE + EH + EZ + 2 * U * (tm->CE + tm->Habs + Z)) * LSCE_OPT_SL;
  return !isfinite(*R) || !isfinite(*E) ? -1 : 0;
}

/* the gradient's constants: Kz = Ksum + 2 zq s lse and its bound, 1 / (1 + s1) and its relative
 * bound r1, and the floor tau from a lower bound of the metric's sigma_i */
LSCE_HD void lsce_opt_sm_gcoef(lsce_opt_smrow *r, const lsce_opt_consts *k, int64_t K, double s, lsce_dtype gdt) {
  const double U = LSCE_OPT_U;
  const double zc = k->has_z ? 2 * k->zq * s * r->lse : 0.0;
  r->Kz = r->Ksum + zc;
  r->dKz = (r->Ksum * (LSCE_OPT_KREL + ((double)K + 2) * U) + (double)K * 0x1p-1070 + fabs(zc) * 4 * U +
            (k->has_z ? 2 * k->zq * s * r->dL : 0) + U * fabs(r->Kz)) * LSCE_OPT_SL;
  r->is = 1.0 / (1.0 + r->s1);
  r->r1 = (r->ds + U * (1 + r->s1)) / (1 + r->s1 - r->ds) + 2 * U;
  double zmag = k->has_z ? 2 * k->zq * s * fmax(fabs(r->lse) - r->dL, 0.0) * (1 - 4 * U) : 0.0;
  double sig = r->chmax * (1 - r->chrel) * (r->Ksum * (1 - LSCE_OPT_KREL - ((double)K + 4) * U) + zmag) * (1 - 4 * U);
  r->tau = sig > 0 && r->chrel < 0x1p-30 ? lsce_tau_hd(sig, gdt) * (1 - 0x1p-40) : 0.0;
}

/* gradient entry j: x'_j (Kz p_j - kappa'_j) with its bound *dg; *ok = 0 when the entry misses the
 * declared bound (or rho_j > 1/2) */
LSCE_HD double lsce_opt_sm_gentry(double *dg, int *ok, const lsce_opt_smrow *r, const lsce_opt_consts *k,
                                  double x, double dx, double ch, double dch, double kap, int is_jm,
                                  lsce_dtype gdt, double grad_ulp) {
  const double U = LSCE_OPT_U;
  double A, dA;
  if (x == -INFINITY) { A = -kap; dA = LSCE_OPT_KREL * kap + 0x1p-1070; }
  else {
    double e = is_jm ? 1.0 : exp(x - r->m);
    double pj = e * r->is;
    double rho = (dx + r->dX) + (is_jm ? 0 : LSCE_OPT_EREL) + r->r1 + 2 * U;
    if (!(rho <= 0.5)) { *ok = 0; rho = INFINITY; }
    rho *= 1 + rho;
    A = r->Kz * pj - kap;
    dA = fabs(r->Kz) * pj * rho + pj * r->dKz + U * fabs(r->Kz * pj) + LSCE_OPT_KREL * kap + 0x1p-1070 + U * fabs(A);
  }
  double g = ch * A;
  double d = (ch * dA + dch * fabs(A) + U * fabs(g)) * LSCE_OPT_SL;
  if (k->has_cap && x == -INFINITY) { g = 0; d = 0; } /* x'(-inf) = 0 under a cap: exact */
  if (!lsce_guard_ok(g, d, r->tau, gdt, grad_ulp)) *ok = 0;
  *dg = d;
  return g;
}

/* ---- the sigmoid family (optrows.c row_sigmoid) ---------------------------------------------
 * Element c of a row, wf = w_c s_i / D != 0, t its target: adds its value to *R and its bound to
 * *ER, sets *inf for a -inf logit with t' > 0; with want_g the gradient entry g (returned) and its
 * bound *dg. */
LSCE_HD double lsce_opt_sig_elem(double *dg, double *R, double *ER, int *inf, const lsce_opt_consts *k, double x,
                                 double dx, double ch, double dch, double wf, double t, int want_g) {
  const double U = LSCE_OPT_U, KREL = LSCE_OPT_KREL;
  double tp = k->al * t + k->be, up = k->al * (1.0 - t) + k->ga;
  double g = 0;
  *dg = 0;
  if (x == -INFINITY) {
    if (tp > 0) *inf = 1;
    g = -(wf * tp) * ch;
    *dg = (KREL + 3 * U) * fabs(g) + wf * tp * dch + 0x1p-1070 * ch;
  } else {
    double a = fabs(x), E = exp(-a), l1 = log1p(E);
    double spx = x >= 0 ? a + l1 : l1, spm = x >= 0 ? l1 : a + l1; /* softplus(x), softplus(-x) */
    double el = up * spx + tp * spm;
    double sg = E / (1 + E);
    double D = x >= 0 ? up - sg : sg - tp;
    double A1 = x >= 0 ? up : tp;
    double dD = KREL * A1 + 5 * U * sg + dx * sg + dx * dx / 10 + U * fabs(D);
    double eel = el * (KREL + 10 * U) + dx * (fabs(D) + dD + dx / 4);
    *R += wf * el;
    *ER += wf * eel + wf * el * KREL + 0x1p-1070 * (el + eel);
    if (want_g) {
      g = (wf * D) * ch;
      *dg = wf * (ch * dD + dch * fabs(D)) + (KREL + 2 * U) * fabs(g) + 0x1p-1070 * ch * (fabs(D) + dD);
    }
  }
  *dg *= LSCE_OPT_SL;
  return g;
}
/* the sigmoid row's floor: sigma_i = max_j x'_j s_i max_c w_c / D_norm, from below */
LSCE_HD double lsce_opt_sig_tau(double chmax, double chrel, double wmax, double f, lsce_dtype gdt) {
  double sig = chmax * (1 - chrel) * wmax * f * (1 - LSCE_OPT_KREL);
  return sig > 0 && chrel < 0x1p-30 ? lsce_tau_hd(sig, gdt) * (1 - 0x1p-40) : 0.0;
}
/* the sigmoid row's share and bound from the elements' sums (K classes); -1 when not finite */
LSCE_HD int lsce_opt_sig_row(double *Rout, double *E, double R, double ER, int inf, int64_t K) {
  *Rout = inf ? INFINITY : R;
  *E = inf ? 0 : (ER + ((double)K + 2) * LSCE_OPT_U * R) * LSCE_OPT_SL;
  return !inf && (!isfinite(*Rout) || !isfinite(*E)) ? -1 : 0;
}
#endif
