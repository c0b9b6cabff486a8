/* test_grad_fd.c: the certified reference's float64 gradient against a high-precision central
 * finite difference of the test's own loss.
 *
 * The loss here is written from docs/formulations.md alone (it never calls the reference for a value):
 * an MPFR evaluation at 600 bits that builds q per class from the exact rational smoothing, forms
 * the variant's per-row loss literally (-sum_c kappa_c lp_c, the k-nll-weighted NLL + smooth split,
 * the KL forms sum_c q_c (log q_c - lp_c) with 0 log 0 = 0) and reduces it (mean with the variant's
 * denominator, sum, or one row for none). For every entry (i, j):
 *     FD_ij = (L(z + h e_ij) - L(z - h e_ij)) / (2h),  h = 2^-90
 * (truncation error ~h^2, rounding error ~2^-600/h: both far below 2^-120), and the reference's
 * gradient g must satisfy
 *     |g - FD_ij| <= ulp(g)/2 + 2^-120 max_j |FD_ij|
 * i.e. g is the correctly rounded exact derivative (the second term only absorbs the FD error).
 * For reduction none, row i of the gradient is dL_i/dz_i, so FD uses the per-row loss L_i.
 *
 * Masked classes (-inf logits) cannot be finite-differenced: their entry must be exactly the
 * rational -kappa_j/D rounded once (computed here in GMP from the table). The other entries of a
 * row with masked classes are differenced with each masked class's -lp_c replaced by lse (dropping
 * the constant -z_c = +inf), which is the finite part whose derivative the spec's gradient formula
 * gives; when every masked class has kappa_c = 0 that is the loss itself (the class is absent).
 * The reference's loss is also checked against the test's own: within half an ulp when finite,
 * exactly +inf when some masked class has kappa_c > 0, exactly 0 for rows outside V.
 *
 * Cases (in-memory problems, lsce_problem_from_memory): N = 3, K = 5 and 7, float64 logits in [-4, 4]
 * from a fixed-seed xorshift64; ignored rows (target -100, some holding NaN/+inf/-inf, which are
 * never read); positive weights with one zero weight in some cases; pad index 1 for k2-pad-kl (rows
 * with y == P leave V); masked classes with kappa_c = 0 (pad class, zero-weight class) and with
 * kappa_c > 0 (a masked target). Every case runs all 8 variants x e in {0, 1/10, 3/10, 1} x
 * {mean, sum, none}. Counts are per (case, variant, smoothing, reduction). k1-megatron (kappa_c =
 * (1-e')[c == y] + e'/V_p [c in S_r], e' = e V_p/(V_p-1), docs/formulations.md) runs at T = 1 on
 * those cases and, on two K = 6 cases of its own (one with a masked target and a masked class),
 * at T = 1, 2, 3 and every rank r < T; smoothings whose e' passes 1 are left out (lsce refuses them).
 *
 * Standalone: `test_grad_fd` prints one line per failing entry and ends with
 * "N passed, M failed, 0 skipped"; exits 1 when anything failed. */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gmp.h>
#include <mpfr.h>

#include "lsce/megatron.h"
#include "lsce/npy.h"
#include "lsce/problem.h"
#include "lsce/reference.h"
#include "lsce/variants.h"

#define PREC 600
#define H_EXP (-90)   /* h = 2^-90 */
#define TOL_EXP (-120) /* FD error allowance, relative to the row's largest |FD| */
#define NMAX 3
#define KMAX 7
#define IGNORE (-100)
#define PAD 1

static int passed, failed;

/* ------------------------------------------------------------------------------------------------
 * Inputs */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t xorshift64(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}
static double unif01(void) { return (double)(xorshift64() >> 11) * 0x1p-53; } /* [0, 1), exact */

typedef struct {
  const char *name;
  int N, K;
  double z[NMAX * KMAX];
  int64_t y[NMAX];
  double w[KMAX];
} tcase;

enum { NCASES = 8, NMEGA_ONLY = 2 }; /* the last two: k1-megatron only */
static tcase cases[NCASES];

static void make_cases(void) {
  static const struct {
    const char *name;
    int K;
    int64_t y[NMAX];
    int zero_w; /* class with weight 0, or -1 */
  } spec[NCASES] = {
    {"k5", 5, {2, 0, 4}, -1},
    {"k7-ign", 7, {3, IGNORE, 1}, 3},       /* the zero weight sits on row 0's target */
    {"k5-ign-nan", 5, {IGNORE, 1, 3}, 0},   /* ignored row holds NaN / +inf / -inf */
    {"k7", 7, {6, 2, 0}, -1},
    {"k5-masked-pad", 5, {0, 1, 4}, 1},     /* column 1 (= P, weight 0) is -inf in rows 0, 2 */
    {"k7-masked-target", 7, {0, 5, IGNORE}, 6}, /* z[0][0] = -inf (target), z[1][6] = -inf */
    {"k6", 6, {1, IGNORE, 4}, -1},
    {"k6-masked", 6, {0, 5, 2}, -1},        /* z[0][0] = -inf (target), z[1][2] = -inf */
  };
  for (int c = 0; c < NCASES; c++) {
    tcase *t = &cases[c];
    memset(t, 0, sizeof *t);
    t->name = spec[c].name;
    t->N = NMAX;
    t->K = spec[c].K;
    for (int i = 0; i < t->N; i++) t->y[i] = spec[c].y[i];
    for (int k = 0; k < t->N * t->K; k++) t->z[k] = 8.0 * unif01() - 4.0;
    for (int k = 0; k < t->K; k++) t->w[k] = 0.25 + 2.0 * unif01();
    if (spec[c].zero_w >= 0) t->w[spec[c].zero_w] = 0.0;
  }
  /* k5-ign-nan: the ignored row 0 is never read */
  cases[2].z[0] = NAN;
  cases[2].z[1] = INFINITY;
  cases[2].z[2] = -INFINITY;
  /* k5-masked-pad: the pad class (weight 0) masked in rows 0 and 2 */
  cases[4].z[0 * 5 + 1] = -INFINITY;
  cases[4].z[2 * 5 + 1] = -INFINITY;
  /* k7-masked-target: a masked target (row 0), a masked zero-weight class (row 1), an ignored row
   * with no finite logit at all */
  cases[5].z[0 * 7 + 0] = -INFINITY;
  cases[5].z[1 * 7 + 6] = -INFINITY;
  for (int k = 0; k < 7; k++) cases[5].z[2 * 7 + k] = -INFINITY;
  cases[5].z[2 * 7 + 3] = NAN;
  cases[7].z[0 * 6 + 0] = -INFINITY;
  cases[7].z[1 * 6 + 2] = -INFINITY;
}

/* ------------------------------------------------------------------------------------------------
 * The test's own loss, from docs/formulations.md */

static const char *const eps_str[] = {"0", "1/10", "3/10", "1"};
static const char *const red_str[] = {"mean", "sum", "none"};

/* The catalog's columns (lsce/variants.inc) say which formula applies; the formulas are the test's. */
static int is_weighted(int v) {
  return lsce_variants[v].weighting != LSCE_W_NONE && lsce_variants[v].weighting != LSCE_W_SHARD; /* class weights */
}
static int is_kl(int v) { return lsce_variants[v].kl; }
static int is_pad(int v) { return lsce_variants[v].pad; }
/* The off-target mass is e / (K - off_div). */
static int off_div(int v) { return lsce_variants[v].off_divisor; }
static int in_V(const tcase *t, int v, int i) {
  return t->y[i] != IGNORE && !(is_pad(v) && t->y[i] == PAD);
}

/* k1-megatron's T and rank of the combo being run */
static int64_t g_tp = 1, g_rank = 0;

/* q_c for a row with target y: k1-megatron (1-e')[c == y] + e'/V_p [c in S_r]; K-forms 1-e+e/K / e/K; K-1 forms 1-e / e/(K-1); k2-pad-kl 1-e /
 * e/(K-2) with q_P = 0. */
static void q_of(mpq_t q, int v, const mpq_t e, int K, int c, int64_t y) {
  mpq_t off;
  mpq_init(off);
  if (v == LSCE_V_K1_MEGATRON) {
    int64_t vp = K / g_tp;
    mpq_t ep;
    mpq_init(ep);
    mpq_set_si(ep, (long)vp, (unsigned long)(vp - 1));
    mpq_mul(ep, ep, e);                                   /* e' */
    mpq_set_si(off, (long)vp, 1);
    mpq_div(off, ep, off);                                /* e'/V_p */
    if (c >= g_rank * vp && c < (g_rank + 1) * vp) mpq_set(q, off); else mpq_set_ui(q, 0, 1);
    if (c == y) {
      mpq_set_ui(off, 1, 1);
      mpq_sub(off, off, ep);
      mpq_add(q, q, off);
    }
    mpq_clears(ep, off, NULL);
    return;
  }
  mpq_set_si(off, K - off_div(v), 1);
  mpq_div(off, e, off);
  if (is_pad(v) && c == PAD) {
    mpq_set_ui(q, 0, 1);
  } else if (c == y) {
    mpq_set_ui(q, 1, 1);
    mpq_sub(q, q, e);
    if (off_div(v) == 0) mpq_add(q, q, off);
  } else {
    mpq_set(q, off);
  }
  mpq_clear(off);
}

/* |V| and W = sum_{i in V} w[y_i] (exact). */
static int64_t count_V(const tcase *t, int v, mpq_t W) {
  int64_t n = 0;
  mpq_t wq;
  mpq_init(wq);
  mpq_set_ui(W, 0, 1);
  for (int i = 0; i < t->N; i++) {
    if (!in_V(t, v, i)) continue;
    n++;
    mpq_set_d(wq, t->w[t->y[i]]);
    mpq_add(W, W, wq);
  }
  mpq_clear(wq);
  return n;
}

/* The exact gradient coefficient of class c in row i: d(reduced loss)/d z_ic = G p_c - coef, where
 * coef = kappa_c / D (k-nll-weighted: (1-e) w_y [c == y] / W + (e/K) / |V| for mean). A masked
 * class has p_c = 0, so its entry is exactly -coef. 0 for rows outside V. */
static void masked_coef(mpq_t coef, const tcase *t, int v, const mpq_t e, int red, int i, int c) {
  mpq_set_ui(coef, 0, 1);
  if (!in_V(t, v, i)) return;
  int64_t y = t->y[i];
  mpq_t W, q, wq, tmp;
  mpq_inits(W, q, wq, tmp, NULL);
  int64_t nV = count_V(t, v, W);
  if (lsce_variants[v].weighting == LSCE_W_NLL) {
    if (c == y) {
      mpq_set_ui(tmp, 1, 1);
      mpq_sub(tmp, tmp, e);
      mpq_set_d(wq, t->w[y]);
      mpq_mul(tmp, tmp, wq);
      if (red == LSCE_RED_MEAN) mpq_div(tmp, tmp, W);
      mpq_add(coef, coef, tmp);
    }
    mpq_set_si(tmp, t->K, 1);
    mpq_div(tmp, e, tmp);
    if (red == LSCE_RED_MEAN) {
      mpq_set_si(q, (long)nV, 1);
      mpq_div(tmp, tmp, q);
    }
    mpq_add(coef, coef, tmp);
  } else {
    q_of(q, v, e, t->K, c, y);
    if (is_weighted(v)) {
      mpq_set_d(wq, t->w[c]);
      mpq_mul(q, q, wq);
    }
    if (red == LSCE_RED_MEAN) {
      if (lsce_variants[v].weighting == LSCE_W_TORCH) mpq_div(q, q, W);
      else {
        mpq_set_si(tmp, (long)nV, 1);
        mpq_div(q, q, tmp);
      }
    }
    mpq_set(coef, q);
  }
  mpq_clears(W, q, wq, tmp, NULL);
}

/* The loss. red mean/sum: the reduced loss over V; none: the loss of row `row` (0 outside V).
 * finite_part: a masked class's -lp_c is replaced by lse (its -z_c = +inf dropped), so the value is
 * finite and has the spec's gradient on the finite entries; otherwise -lp_c = +inf there. Terms
 * whose coefficient is exactly 0 are skipped (0 log 0 = 0, never 0 * inf). */
static void my_loss(mpfr_t out, mpfr_t *z, const tcase *t, int v, const mpq_t e, int red, int row,
                    int finite_part) {
  const int K = t->K;
  mpfr_t s, lse, nlp, term, rowl, tot, nll_tot, sm_tot, nll_i, sm_i, qf, lq;
  mpfr_inits2(PREC, s, lse, nlp, term, rowl, tot, nll_tot, sm_tot, nll_i, sm_i, qf, lq,
              (mpfr_ptr)0);
  mpq_t q, wq, a, W, tmp;
  mpq_inits(q, wq, a, W, tmp, NULL);
  mpfr_set_ui(tot, 0, MPFR_RNDN);
  mpfr_set_ui(nll_tot, 0, MPFR_RNDN);
  mpfr_set_ui(sm_tot, 0, MPFR_RNDN);
  mpfr_set_ui(out, 0, MPFR_RNDN);
  int64_t nV = count_V(t, v, W);

  for (int i = 0; i < t->N; i++) {
    if (!in_V(t, v, i)) continue;
    if (red == LSCE_RED_NONE && i != row) continue;
    const int64_t y = t->y[i];
    /* lse = log sum_c exp(z_c) (exp(-inf) = 0) */
    mpfr_set_ui(s, 0, MPFR_RNDN);
    for (int c = 0; c < K; c++) {
      mpfr_exp(term, z[i * K + c], MPFR_RNDN);
      mpfr_add(s, s, term, MPFR_RNDN);
    }
    mpfr_log(lse, s, MPFR_RNDN);
#define NEG_LP(c)                                                                 \
  do {                                                                            \
    if (mpfr_inf_p(z[i * K + (c)]) && finite_part) mpfr_set(nlp, lse, MPFR_RNDN); \
    else mpfr_sub(nlp, lse, z[i * K + (c)], MPFR_RNDN); /* -lp_c = lse - z_c */   \
  } while (0)

    if (lsce_variants[v].weighting == LSCE_W_NLL) {
      /* (1-e) w_y (-lp_y)  +  (e/K) sum_c (-lp_c) */
      mpfr_set_ui(nll_i, 0, MPFR_RNDN);
      mpfr_set_ui(sm_i, 0, MPFR_RNDN);
      mpq_set_ui(a, 1, 1);
      mpq_sub(a, a, e);
      mpq_set_d(wq, t->w[y]);
      mpq_mul(a, a, wq);
      if (mpq_sgn(a) != 0) {
        NEG_LP(y);
        mpfr_set_q(qf, a, MPFR_RNDN);
        mpfr_mul(nll_i, qf, nlp, MPFR_RNDN);
      }
      if (mpq_sgn(e) != 0) {
        for (int c = 0; c < K; c++) {
          NEG_LP(c);
          mpfr_add(sm_i, sm_i, nlp, MPFR_RNDN);
        }
        mpq_set_si(tmp, K, 1);
        mpq_div(tmp, e, tmp);
        mpfr_set_q(qf, tmp, MPFR_RNDN);
        mpfr_mul(sm_i, sm_i, qf, MPFR_RNDN);
      }
      mpfr_add(nll_tot, nll_tot, nll_i, MPFR_RNDN);
      mpfr_add(sm_tot, sm_tot, sm_i, MPFR_RNDN);
      continue;
    }
    mpfr_set_ui(rowl, 0, MPFR_RNDN);
    for (int c = 0; c < K; c++) {
      q_of(q, v, e, K, c, y);
      if (is_weighted(v)) {
        mpq_set_d(wq, t->w[c]);
        mpq_mul(q, q, wq); /* kappa_c = q_c w_c */
      }
      if (mpq_sgn(q) == 0) continue;
      NEG_LP(c);
      mpfr_set_q(qf, q, MPFR_RNDN);
      if (is_kl(v)) {
        /* q_c (log q_c - lp_c) */
        mpfr_log(lq, qf, MPFR_RNDN);
        mpfr_add(term, lq, nlp, MPFR_RNDN);
        mpfr_mul(term, term, qf, MPFR_RNDN);
      } else {
        mpfr_mul(term, qf, nlp, MPFR_RNDN); /* kappa_c (-lp_c) */
      }
      mpfr_add(rowl, rowl, term, MPFR_RNDN);
    }
    mpfr_add(tot, tot, rowl, MPFR_RNDN);
#undef NEG_LP
  }

  if (lsce_variants[v].weighting == LSCE_W_NLL) {
    if (red == LSCE_RED_MEAN) {
      /* NLL part by W, smooth part by |V| (the cases keep both nonzero) */
      mpfr_div_q(nll_tot, nll_tot, W, MPFR_RNDN);
      mpfr_div_ui(sm_tot, sm_tot, (unsigned long)nV, MPFR_RNDN);
    }
    mpfr_add(out, nll_tot, sm_tot, MPFR_RNDN);
  } else {
    mpfr_set(out, tot, MPFR_RNDN);
    if (red == LSCE_RED_MEAN) {
      if (lsce_variants[v].weighting == LSCE_W_TORCH) mpfr_div_q(out, out, W, MPFR_RNDN);
      else mpfr_div_ui(out, out, (unsigned long)nV, MPFR_RNDN);
    }
  }
  mpfr_clears(s, lse, nlp, term, rowl, tot, nll_tot, sm_tot, nll_i, sm_i, qf, lq, (mpfr_ptr)0);
  mpq_clears(q, wq, a, W, tmp, NULL);
}

/* ------------------------------------------------------------------------------------------------
 * Checks */

/* ulp(g)/2 for a double g (2^-1075 at 0). */
static void half_ulp(mpfr_t out, double g) {
  long k = -1074;
  if (g != 0 && isfinite(g)) {
    k = (long)ilogb(g) - 52;
    if (k < -1074) k = -1074;
  }
  mpfr_set_ui_2exp(out, 1, k - 1, MPFR_RNDN);
}

/* The exact rational rounded once to float64 (the values here are far from the subnormal range). */
static double q_to_double(const mpq_t q) {
  mpfr_t t;
  mpfr_init2(t, 53);
  mpfr_set_q(t, q, MPFR_RNDN);
  double d = mpfr_get_d(t, MPFR_RNDN);
  mpfr_clear(t);
  return d;
}

static int run_combo(const tcase *t, int v, int ei, int red) {
  const int N = t->N, K = t->K;
  const char *vid = lsce_variants[v].id;
  int ok = 1;
  lsce_problem p;
  lsce_problem_init(&p);
  p.variant = v;
  mpq_set_str(p.e, eps_str[ei], 10);
  mpq_canonicalize(p.e);
  p.reduction = (lsce_reduction)red;
  p.ignore_index = IGNORE;
  p.pad_index = lsce_variants[v].needs_pad_index ? PAD : -1;
  if (v == LSCE_V_K1_MEGATRON) { p.tp = g_tp; p.rank = g_rank; }
  lsce_err err;
  memset(&err, 0, sizeof err);
  lsce_ref_result r;
  memset(&r, 0, sizeof r);
  /* the case's own arrays, in memory (read in place) */
  int rc = lsce_problem_from_memory(&p, LSCE_DT_F64, t->N, t->K, t->z, t->y, is_weighted(v) ? t->w : NULL, 0, &err);
  if (!rc) {
    lsce_ref_opts o;
    lsce_ref_opts_default(&o);
    o.want_grad = 1;
    rc = lsce_reference(&r, &p, &o, "test", &err);
  }
  if (rc) {
    printf("FAIL: case %s variant %s e %s reduction %s: reference returned %d: %s\n", t->name, vid,
           eps_str[ei], red_str[red], rc, err.line);
    lsce_problem_clear(&p);
    return 0;
  }

  mpfr_t z[NMAX * KMAX], fd[NMAX * KMAX], h, Lp, Lm, L, diff, bound, tol, mx;
  for (int k = 0; k < N * K; k++) {
    mpfr_init2(z[k], PREC);
    mpfr_init2(fd[k], PREC);
    mpfr_set_d(z[k], t->z[k], MPFR_RNDN);
  }
  mpfr_inits2(PREC, h, Lp, Lm, L, diff, bound, tol, mx, (mpfr_ptr)0);
  mpfr_set_ui_2exp(h, 1, H_EXP, MPFR_RNDN);
  mpq_t coef;
  mpq_init(coef);

  /* The loss itself: RN of the exact value (the test's loss at 600 bits), +inf, or exactly 0. */
  for (int64_t li = 0; li < r.nloss; li++) {
    my_loss(L, z, t, v, p.e, red, (int)li, 0);
    double rl = r.loss[li];
    int lok;
    if (mpfr_inf_p(L)) lok = isinf(rl) && rl > 0;
    else if (mpfr_zero_p(L)) lok = rl == 0;
    else {
      mpfr_sub_d(diff, L, rl, MPFR_RNDN);
      mpfr_abs(diff, diff, MPFR_RNDN);
      half_ulp(bound, rl);
      mpfr_mul_2si(tol, L, -500, MPFR_RNDN);
      mpfr_abs(tol, tol, MPFR_RNDN);
      mpfr_add(bound, bound, tol, MPFR_RNDN);
      lok = isfinite(rl) && mpfr_lessequal_p(diff, bound);
    }
    if (!lok) {
      ok = 0;
      mpfr_printf("FAIL: case %s variant %s e %s reduction %s row %lld column loss: loss %a own %Ra\n",
                  t->name, vid, eps_str[ei], red_str[red], (long long)li, rl, L);
    }
  }

  /* FD of every finite entry (rows outside V included: their FD is exactly 0) */
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < K; j++) {
      mpfr_ptr zij = z[i * K + j];
      if (mpfr_inf_p(zij) && mpfr_sgn(zij) < 0) continue; /* masked: checked exactly below */
      mpfr_t save;
      mpfr_init2(save, PREC);
      mpfr_set(save, zij, MPFR_RNDN);
      mpfr_add(zij, save, h, MPFR_RNDN); /* exact at 600 bits */
      my_loss(Lp, z, t, v, p.e, red, i, 1);
      mpfr_sub(zij, save, h, MPFR_RNDN);
      my_loss(Lm, z, t, v, p.e, red, i, 1);
      mpfr_set(zij, save, MPFR_RNDN);
      mpfr_clear(save);
      mpfr_sub(fd[i * K + j], Lp, Lm, MPFR_RNDN);
      mpfr_mul_2si(fd[i * K + j], fd[i * K + j], -H_EXP - 1, MPFR_RNDN); /* / (2h) */
    }
  }
  for (int i = 0; i < N; i++) {
    mpfr_set_ui(mx, 0, MPFR_RNDN);
    for (int j = 0; j < K; j++) {
      if (mpfr_inf_p(z[i * K + j]) && mpfr_sgn(z[i * K + j]) < 0) continue;
      mpfr_abs(tol, fd[i * K + j], MPFR_RNDN);
      if (mpfr_greater_p(tol, mx)) mpfr_set(mx, tol, MPFR_RNDN);
    }
    for (int j = 0; j < K; j++) {
      double g = r.grad[i * K + j];
      if (mpfr_inf_p(z[i * K + j]) && mpfr_sgn(z[i * K + j]) < 0) {
        /* masked class: exactly RN(-kappa_j / D) */
        masked_coef(coef, t, v, p.e, red, i, j);
        mpq_neg(coef, coef);
        double want = q_to_double(coef);
        if (!(g == want)) {
          ok = 0;
          printf("FAIL: case %s variant %s e %s reduction %s row %d column %d: g %a expected exactly "
                 "%a (masked class, -kappa/D)\n",
                 t->name, vid, eps_str[ei], red_str[red], i, j, g, want);
        }
        continue;
      }
      mpfr_ptr f = fd[i * K + j];
      int eok = isfinite(g) && mpfr_number_p(f);
      if (eok) {
        mpfr_sub_d(diff, f, g, MPFR_RNDN);
        mpfr_abs(diff, diff, MPFR_RNDN);
        half_ulp(bound, g);
        mpfr_mul_2si(tol, mx, TOL_EXP, MPFR_RNDN);
        mpfr_add(bound, bound, tol, MPFR_RNDN);
        eok = mpfr_lessequal_p(diff, bound);
      }
      if (!eok) {
        ok = 0;
        mpfr_printf("FAIL: case %s variant %s e %s reduction %s row %d column %d: g %a FD %Ra\n",
                    t->name, vid, eps_str[ei], red_str[red], i, j, g, f);
      }
    }
  }

  mpq_clear(coef);
  for (int k = 0; k < N * K; k++) {
    mpfr_clear(z[k]);
    mpfr_clear(fd[k]);
  }
  mpfr_clears(h, Lp, Lm, L, diff, bound, tol, mx, (mpfr_ptr)0);
  lsce_ref_result_free(&r);
  lsce_problem_clear(&p);
  return ok;
}

int main(void) {
  make_cases();
  for (int c = 0; c < NCASES; c++) {
    for (int v = 0; v < LSCE_V_COUNT; v++) {
      if (strcmp(lsce_variants[v].family, "softmax")) continue; /* the sigmoid family: tests/test_oracle_catalog.py */
      const int mega = v == LSCE_V_K1_MEGATRON;
      if (c >= NCASES - NMEGA_ONLY && !mega) continue;
      for (g_tp = 1; g_tp <= cases[c].K; g_tp++) {
        if (!mega && g_tp > 1) break;
        if (mega && (cases[c].K % g_tp != 0 || cases[c].K < 2 * g_tp)) continue;
        for (g_rank = 0; g_rank < (mega ? g_tp : 1); g_rank++)
          for (int ei = 0; ei < 4; ei++) {
            mpq_t e;
            mpq_init(e);
            mpq_set_str(e, eps_str[ei], 10);
            mpq_canonicalize(e);
            int refused = mega && lsce_megatron_invalid(e, cases[c].K, g_tp) != 0;
            mpq_clear(e);
            if (refused) continue; /* e' > 1 */
            for (int red = LSCE_RED_MEAN; red <= LSCE_RED_NONE; red++) {
              if (run_combo(&cases[c], v, ei, red)) passed++;
              else failed++;
            }
          }
      }
      g_tp = 1;
      g_rank = 0;
    }
  }
  mpfr_free_cache();
  printf("%d passed, %d failed, 0 skipped\n", passed, failed);
  return failed ? 1 : 0;
}
