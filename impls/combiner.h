/* impls/combiner.h: the shared combiner (C and CUDA): turns one row's statistics (docs/formulations.md
 * "Row statistics") into its loss and gradient coefficients for every catalog variant, with the
 * masked-class, zero-weight, masked-pad and exact-zero rules. Arithmetic is double-double, so the
 * combination adds about 2^-100 relative error to what the statistics carry. */
#ifndef LSCE_COMBINER_H
#define LSCE_COMBINER_H
#include <stdint.h>
#include "lsce/dd.h"
#include "lsce/params.h"

#ifndef LSCE_W_NONE_ID
#define LSCE_W_NONE_ID 0
#define LSCE_W_TORCH_ID 1
#define LSCE_W_LOGPROB_ID 2
#define LSCE_W_NLL_ID 3
#define LSCE_W_SHARD_ID 4
#endif

/* u_c comes from the call's weights: w_c (k-torch-weighted, the logprob forms) or the shard's
 * indicator (k1-megatron) */
LSCE_HD int lsce_weighted_u(const lsce_params *p) {
  return p->weighting == LSCE_W_TORCH_ID || p->weighting == LSCE_W_LOGPROB_ID || p->weighting == LSCE_W_SHARD_ID;
}

/* Statistics of one row, over its finite logits, shifted by the row maximum m. Partial statistics
 * (a slice of the classes) merge with lsce_stats_merge. */
typedef struct {
  double m;          /* max finite logit, -inf when the slice has none */
  int64_t jm;        /* first index attaining m (global class index) */
  lsce_dd s1;        /* sum_{finite c != jm} exp(z_c - m) */
  lsce_dd t;         /* sum_{finite c in S} u_c (z_c - m) */
  lsce_dd Uf;        /* sum_{finite c in S} u_c */
  int64_t Kf;        /* finite classes */
  int64_t n_eq;      /* finite classes equal to m */
  int64_t n_mask_u;  /* masked classes c != y in S with u_c > 0 */
  int y_masked, P_finite;
  double zy;         /* z_y (when finite) */
  int64_t nreb;      /* rebases to a larger maximum (online steps, merges): the error model counts them */
  double exp_rel;    /* the largest relative error of one exp the kernels used (0: the path's default, cpu/rowguard.h) */
  double reb_rel;    /* that of the exps of the rebases counted in nreb, when smaller (0: exp_rel's) */
  double t_abs;      /* an absolute error of t beyond the error model's (cpu/simd_f32pass.inc), 0 for the others */
} lsce_rowstats;

LSCE_HD void lsce_stats_empty(lsce_rowstats *st) {
  st->m = -INFINITY; st->jm = -1;
  st->s1 = lsce_dd_from(0.0); st->t = lsce_dd_from(0.0); st->Uf = lsce_dd_from(0.0);
  st->Kf = 0; st->n_eq = 0; st->n_mask_u = 0; st->y_masked = 0; st->P_finite = 0; st->zy = 0.0;
  st->nreb = 0; st->exp_rel = 0.0; st->reb_rel = 0.0; st->t_abs = 0.0;
}

/* Merge b into a (statistics of disjoint class slices). Rebasing to the larger maximum M: s1 gains
 * (1 + s1_lo) exp(m_lo - M) and t gains Uf_lo (m_lo - M); on a tie the smaller index stays jm. */
LSCE_HD void lsce_stats_merge(lsce_rowstats *a, const lsce_rowstats *b, int dd_exp) {
  a->n_mask_u += b->n_mask_u;
  a->y_masked |= b->y_masked;
  a->P_finite |= b->P_finite;
  a->zy += b->zy; /* only the slice holding y sets it */
  a->nreb += b->nreb;
  if (b->exp_rel > a->exp_rel) a->exp_rel = b->exp_rel;
  a->reb_rel = 0.0; /* the merged rebases: counted at exp_rel */
  a->t_abs += b->t_abs;
  if (b->Kf == 0) return;
  if (a->Kf == 0) {
    a->m = b->m; a->jm = b->jm; a->s1 = b->s1; a->t = b->t; a->Uf = b->Uf;
    a->Kf = b->Kf; a->n_eq = b->n_eq;
    return;
  }
  if (a->m == b->m) {
    a->s1 = lsce_dd_add(lsce_dd_add_d(a->s1, 1.0), b->s1);
    a->t = lsce_dd_add(a->t, b->t);
    a->n_eq += b->n_eq;
    if (b->jm < a->jm) a->jm = b->jm;
  } else {
    const lsce_rowstats *hi = a->m > b->m ? a : b, *lo = a->m > b->m ? b : a;
    lsce_dd d = lsce_two_sum(lo->m, -hi->m); /* m_lo - M < 0, exact as a pair */
    lsce_dd f = dd_exp ? lsce_dd_exp(d) : lsce_dd_from(exp(d.hi));
    lsce_dd s1 = lsce_dd_add(hi->s1, lsce_dd_mul(lsce_dd_add_d(lo->s1, 1.0), f));
    lsce_dd t = lsce_dd_add(lsce_dd_add(hi->t, lo->t), lsce_dd_mul(lo->Uf, d));
    a->m = hi->m; a->jm = hi->jm; a->n_eq = hi->n_eq;
    a->s1 = s1; a->t = t;
    a->nreb++;
  }
  a->Uf = lsce_dd_add(a->Uf, b->Uf);
  a->Kf += b->Kf;
}

/* exp(x.hi + x.lo) of an exact pair x = z - m (two_sum: x.hi <= 0, |x.lo| <= ulp(x.hi)/2) as a
 * pair hi + lo: the float64 first pass of the scalar CPU rows, lsce_dd_exp_table's reduction and
 * table (dd.h) with a degree-5 polynomial in double instead of double-double arithmetic.
 *  n = round(256 x.hi / ln2) (|n| < 2^18 for x.hi > -746), n = 256 k + j; r1 = x.hi - n c1 is exact
 *    (n c1 is exact, c1 having 34 bits; for n != 0, n c1 lies within a factor 2 of x.hi: Sterbenz);
 *    r = (r1 - n c2) + x.lo: the product's rounding 2^-53 2^18 2^-44 = 2^-79, the two sums' 2^-53 |r|
 *    each, |r| <= ln2/512 + 2^-43 < 2^-9.52, and the omitted n c3 (c1 + c2 + c3 = ln2/256 to 2^-150)
 *    below 2^-80: r is within 2^-61.4 of x - n ln2/256, so much relative in exp.
 *  e^r = 1 + q, q = r (1 + r/2 + r^2/6 + r^3/24 + r^4/120): truncation below |r|^6/720 (1.01) <
 *    2^-66.6; Horner in double: each step's rounding is absolute 2^-53 of its value (<= 1.0014),
 *    multiplied by |r| afterwards, so the inner sum is within 2^-53 (1.002) and q within 2^-52 |q|
 *    (< 2^-61.5); the coefficients' own roundings are below 2^-84.
 *  2^(j/256) = Th + Tl (lsce/exp2_table.h, within 2^-106); l = Th q + Tl rounds twice, 2^-53 of
 *    |Th q| + |Tl| < 1.42 2^-9.5 each, 2^-62 of Th; hi + lo = Th + l exactly (fast two_sum, |l| < Th).
 *  Times 2^k, exact while both parts stay normal (results >= 2^-969); below, each part loses at
 *    most 2^-1075 (absolute, within the rows' LSCE_EXP_ABS); x.hi <= -746 gives 0 (exact value
 *    below 2^-1076).
 * Sum: below 2^-61.4 + 2^-61.5 + 2^-66.6 + 2^-61 < 2^-59.8 relative; claimed LSCE_EXP_REL_PAIR =
 * 2^-58 (cpu/rowguard.h), measured against MPFR by tests/test_simd_exp.c. No fma (the plain build
 * would call libm's). The device (no host table) takes lsce_dd_exp, which is more accurate. */
LSCE_HD lsce_dd lsce_exp_pair(lsce_dd x) {
#if defined(__CUDA_ARCH__)
  return lsce_dd_exp(x);
#else
  const double inv = 0x1.71547652b82fep+8; /* 256/ln2 */
  const double c1 = 0x1.62e42fef80000p-9, c2 = 0x1.1cf79abc9e3b4p-44;
  if (!(x.hi > -746.0)) return lsce_dd_from(0.0); /* also x.hi = -inf (z - m overflowed), x.lo NaN */
  const double shifter = 0x1.8p52;
  double kd = (x.hi * inv + shifter) - shifter; /* round to nearest, |kd| < 2^18 */
  long n = (long)kd;
  int j = (int)(n & 255);
  long k = (n - j) / 256;
  double r = ((x.hi - kd * c1) - kd * c2) + x.lo;
  double p = 0x1.1111111111111p-7; /* 1/120 */
  p = p * r + 0x1.5555555555555p-5;  /* 1/24 */
  p = p * r + 0x1.5555555555555p-3;  /* 1/6 */
  p = p * r + 0.5;
  p = p * r + 1.0;
  double q = p * r;
  const double Th = lsce_exp2_tab[j][0], Tl = lsce_exp2_tab[j][1];
  return lsce_dd_scale_2k(lsce_fast_two_sum(Th, Th * q + Tl), k);
#endif
}

/* The online softmax over one row's classes, one class at a time (CPU and CUDA share it): a
 * running maximum m, s1 rescaled by exp(m_old - m_new) when it grows, t rebased by
 * Uf (m_old - m_new). In double (narrow inputs: error about K 2^-53) or double-double (dd 1), or
 * double-double sums of the cheaper exp lsce_exp_pair (dd 2: the scalar rows' float64 first pass;
 * its rebases keep the double-double exp). */
typedef struct {
  double m, s1, t, Uf;
  lsce_dd s1d, td, Ufd;
  int64_t jm, Kf, n_eq, nreb;
  int dd;
} lsce_online;

LSCE_HD void lsce_online_init(lsce_online *o, int dd) {
  o->m = -INFINITY; o->s1 = o->t = o->Uf = 0.0;
  o->s1d = o->td = o->Ufd = lsce_dd_from(0.0);
  o->jm = -1; o->Kf = o->n_eq = o->nreb = 0;
  o->dd = dd;
}

/* Class j (logit v, weight u) of a row with target y; masked classes only count into st. */
LSCE_HD void lsce_online_push(lsce_online *o, lsce_rowstats *st, double v, int64_t j, int64_t y,
                              const lsce_params *p, double u) {
  int inS = j != p->pad_index;
  if (v == -INFINITY) {
    if (j == y) st->y_masked = 1;
    else if (inS && u > 0) st->n_mask_u++;
    return;
  }
  if (j == y) st->zy = v;
  if (j == p->pad_index) st->P_finite = 1;
  o->Kf++;
  if (v > o->m) {
    if (o->jm >= 0) { /* rebase to the new maximum: the old maximum's term joins s1 */
      o->nreb++;
      if (o->dd) {
        lsce_dd d = lsce_two_sum(o->m, -v);
        /* dd 2 too: a rebase multiplies all of s1 by its exp, so its error counts once per rebase
         * (cpu/rowguard.h): the double-double exp keeps it at LSCE_EXP_REL_DD (st->reb_rel) */
        o->s1d = lsce_dd_mul(lsce_dd_add_d(o->s1d, 1.0), lsce_dd_exp(d));
        o->td = lsce_dd_add(o->td, lsce_dd_mul(o->Ufd, d));
      } else {
        double d = o->m - v;
        o->s1 = (o->s1 + 1.0) * exp(d);
        o->t += o->Uf * d;
      }
    }
    o->m = v; o->jm = j; o->n_eq = 1;
  } else {
    if (v == o->m) o->n_eq++;
    if (o->dd) {
      lsce_dd d = lsce_two_sum(v, -o->m);
      o->s1d = lsce_dd_add(o->s1d, o->dd == 2 ? lsce_exp_pair(d) : lsce_dd_exp(d));
    }
    else o->s1 += exp(v - o->m);
  }
  if (inS) {
    if (o->dd) { /* u = 1 skips lsce_dd_mul_d, which would return the pair unchanged */
      lsce_dd d = lsce_two_sum(v, -o->m);
      o->td = lsce_dd_add(o->td, u == 1.0 ? d : lsce_dd_mul_d(d, u));
      o->Ufd = lsce_dd_add_d(o->Ufd, u);
    }
    else { o->t += u * (v - o->m); o->Uf += u; }
  }
}

LSCE_HD void lsce_online_finish(const lsce_online *o, lsce_rowstats *st) {
  st->m = o->m; st->jm = o->jm; st->Kf = o->Kf; st->n_eq = o->n_eq; st->nreb += o->nreb;
  if (o->dd) { st->s1 = o->s1d; st->t = o->td; st->Uf = o->Ufd; }
  else { st->s1 = lsce_dd_from(o->s1); st->t = lsce_dd_from(o->t); st->Uf = lsce_dd_from(o->Uf); }
}

/* The row's coefficients: A (target), B (smoothing), u_y. */
typedef struct {
  lsce_dd A, B, alpha; /* alpha = A + B U_all = sum_c kappa_c */
  double uy;
  int y_in_S;
  int A_pos;         /* A > 0 exactly (a > 0 and w_y > 0): decided even where A underflows */
} lsce_rowcoef;

LSCE_HD lsce_rowcoef lsce_row_coef(const lsce_params *p, int64_t y, const double *w) {
  lsce_rowcoef rc;
  double wy = w ? w[y] : 1.0;
  rc.A = p->a;
  const int shard = p->weighting == LSCE_W_SHARD_ID; /* A = 1 - e' unweighted, u_c = [c in S_r] */
  if (p->weighting != LSCE_W_NONE_ID && !shard) rc.A = lsce_dd_mul_d(rc.A, wy);
  rc.B = p->b;
  if (p->weighting == LSCE_W_NLL_ID) {
    rc.A = lsce_dd_mul(rc.A, p->nll_scale);
    rc.B = lsce_dd_mul(rc.B, p->smooth_scale);
  }
  rc.uy = lsce_weighted_u(p) ? wy : 1.0;
  rc.y_in_S = y != p->pad_index;
  rc.A_pos = p->a.hi > 0.0 && (p->weighting == LSCE_W_NONE_ID || shard || wy > 0.0);
  rc.alpha = lsce_dd_add(rc.A, lsce_dd_mul(rc.B, p->U_all));
  return rc;
}

/* The row losses decided exactly, without arithmetic: +inf when a masked class carries
 * kappa_c > 0, 0 for a uniform row of a KL form whose q is uniform. Returns 1 and sets *L then. */
LSCE_HD int lsce_row_loss_exact(lsce_dd *L, const lsce_params *p, const lsce_rowcoef *rc,
                                const lsce_rowstats *st) {
  int B_pos = rc->B.hi > 0.0;
  lsce_dd kappa_y = rc->A;
  if (rc->y_in_S) kappa_y = lsce_dd_add(kappa_y, lsce_dd_mul_d(rc->B, rc->uy));
  /* The sign of kappa_y exactly, though its double-double may underflow to 0 (w_y near 2^-1074,
   * w_y / W below it): kappa_y = q_y u_y except for k-nll-weighted, where A = a w_y / W and
   * B = b / |V|: positive when a >= 0 and either term is; with a < 0 the computed sign. */
  int ky_pos;
  if (p->weighting == LSCE_W_SHARD_ID) ky_pos = rc->A_pos || (rc->uy > 0.0 && B_pos); /* a + b [y in S_r] */
  else if (p->weighting != LSCE_W_NLL_ID) ky_pos = rc->y_in_S && p->qt.hi > 0.0 && rc->uy > 0.0;
  else ky_pos = kappa_y.hi > 0.0 || rc->A_pos || (p->a.hi >= 0.0 && rc->y_in_S && B_pos);
  if ((B_pos && st->n_mask_u > 0) || (st->y_masked && ky_pos)) { *L = lsce_dd_from(INFINITY); return 1; }
  int yf = !st->y_masked;
  if (p->kl && st->n_eq == st->Kf) {
    /* a uniform row: KL(q || p) = 0 exactly when q_c = 1/Kf on every finite class */
    int64_t off = st->Kf - yf - st->P_finite;
    if (!st->P_finite && (!yf || p->qt_inv == st->Kf) && (off == 0 || p->qo_inv == st->Kf)) {
      *L = lsce_dd_from(0.0);
      return 1;
    }
  }
  return 0;
}

/* The row loss L_i (before 1/D), or +inf when a masked class carries kappa_c > 0. */
LSCE_HD lsce_dd lsce_row_loss(const lsce_params *p, const lsce_rowcoef *rc, const lsce_rowstats *st) {
  lsce_dd Lx;
  if (lsce_row_loss_exact(&Lx, p, rc, st)) return Lx;
  int yf = !st->y_masked;
  lsce_dd ls = lsce_dd_log1p(st->s1);
  lsce_dd c = lsce_dd_mul(rc->B, st->Uf);
  if (yf) c = lsce_dd_add(c, rc->A);
  lsce_dd L = lsce_dd_mul(c, ls);
  if (yf) L = lsce_dd_add(L, lsce_dd_mul(rc->A, lsce_two_sum(st->m, -st->zy)));
  L = lsce_dd_sub(L, lsce_dd_mul(rc->B, st->t));
  if (p->kl) L = lsce_dd_sub(L, p->C);
  return L;
}

/* Gradient coefficients of a row: g_j = (alpha e_j / s - kappa_j) / D, e_j = exp(z_j - m) (0 when
 * masked); at jm: ((alpha - kappa_jm) - alpha s1 / s) / D, with no cancellation inside 1/s. */
typedef struct {
  double alpha_rs;   /* alpha / s / D, double */
  lsce_dd alpha_rs_dd;
  lsce_dd A_D, B_D;  /* A / D, B / D */
  lsce_dd jm_val;    /* the gradient at jm, / D */
  int64_t jm;
  int64_t y;
  int y_in_S;
  int nan;           /* a mean with D = 0 */
} lsce_gradcoef;

LSCE_HD lsce_gradcoef lsce_grad_coef(const lsce_params *p, const lsce_rowcoef *rc,
                                     const lsce_rowstats *st, int64_t y, const double *w,
                                     int weighted_u) {
  lsce_gradcoef g;
  g.nan = p->nan_mean;
  g.jm = st->jm;
  g.y = y;
  g.y_in_S = rc->y_in_S;
  lsce_dd s = lsce_dd_add_d(st->s1, 1.0);
  lsce_dd ars = lsce_dd_div(lsce_dd_mul(rc->alpha, p->inv_D), s);
  g.alpha_rs_dd = ars;
  g.alpha_rs = ars.hi + ars.lo;
  g.A_D = lsce_dd_mul(rc->A, p->inv_D);
  g.B_D = lsce_dd_mul(rc->B, p->inv_D);
  if (st->jm >= 0) {
    int64_t j = st->jm;
    double uj = weighted_u ? w[j] : 1.0;
    lsce_dd kj = (j == y) ? rc->A : lsce_dd_from(0.0);
    if (j != p->pad_index) kj = lsce_dd_add(kj, lsce_dd_mul_d(rc->B, uj));
    lsce_dd v = lsce_dd_sub(rc->alpha, kj);
    v = lsce_dd_sub(v, lsce_dd_div(lsce_dd_mul(rc->alpha, st->s1), s));
    g.jm_val = lsce_dd_mul(v, p->inv_D);
  } else {
    g.jm_val = lsce_dd_from(0.0);
  }
  return g;
}

/* kappa_j / D */
LSCE_HD lsce_dd lsce_kappa_D(const lsce_gradcoef *g, int64_t j, double uj, int64_t pad) {
  lsce_dd k = (j == g->y) ? g->A_D : lsce_dd_from(0.0);
  if (j != pad) k = lsce_dd_add(k, lsce_dd_mul_d(g->B_D, uj));
  return k;
}

/* One entry in double (inputs narrower than float64): e = exp(z_j - m) (0 when masked). */
LSCE_HD double lsce_grad_entry_d(const lsce_gradcoef *g, int64_t j, double e, double uj, int64_t pad) {
  if (g->nan) return NAN;
  if (j == g->jm) return g->jm_val.hi + g->jm_val.lo;
  lsce_dd k = lsce_kappa_D(g, j, uj, pad);
  return fma(g->alpha_rs, e, -(k.hi + k.lo));
}

/* One entry in double-double, both parts (the fast certifier). */
LSCE_HD lsce_dd lsce_grad_entry_dd2(const lsce_gradcoef *g, int64_t j, lsce_dd e, double uj, int64_t pad) {
  if (g->nan) return lsce_dd_from(NAN);
  if (j == g->jm) return g->jm_val;
  lsce_dd k = lsce_kappa_D(g, j, uj, pad);
  return lsce_dd_sub(lsce_dd_mul(g->alpha_rs_dd, e), k);
}

/* One entry in double-double (float64 inputs): e as a double-double exp. */
LSCE_HD double lsce_grad_entry_dd(const lsce_gradcoef *g, int64_t j, lsce_dd e, double uj, int64_t pad) {
  if (g->nan) return NAN;
  if (j == g->jm) return g->jm_val.hi + g->jm_val.lo;
  lsce_dd k = lsce_kappa_D(g, j, uj, pad);
  lsce_dd v = lsce_dd_sub(lsce_dd_mul(g->alpha_rs_dd, e), k);
  return v.hi + v.lo;
}
#endif
