/* verify/certify.c: the fast certifier of `lsce verify` and `lsce check` (LSCE_CERTIFY=fast, or
 * problems of 2^20 logits or more). Each output comes as a double-double hi + lo together with a
 * rigorous absolute error bound (loss_err per loss output, grad_err per gradient row); a caller
 * keeps a figure only when that bound cannot change it (verify/measure.c) and otherwise asks the MPFR
 * reference.
 *
 * It does not evaluate the shared row form A (m - z_y) - B t (impls/combiner.h), whose two terms
 * can exceed the loss by 30 orders of magnitude when kappa_y = A + B u_y vanishes (k1 at e = 1,
 * k1-kl): it evaluates the cancellation-free form
 *     CE_i = kappa_y (d_y + ls) + B (sum_{c != y} u_c d_c + U_f ls),  d_c = m - z_c >= 0,
 *     ls = log1p(s1) >= 0,  s1 = sum_{c != jm} exp(z_c - m),
 * in which every term is a product of non-negative factors (kappa_c = q_c x weight >= 0), so no
 * subtraction happens before the KL entropy H (subtracted once, L_i = CE_i - H). The bound is taken
 * against the magnitude of everything added, Mag_i = CE_i + H, never against |L|:
 *   - d_c is exact (two_sum; an overflowing one makes the case uncertifiable);
 *   - exp within 2^-98 relative (dd.h; results below 2^-1022 lose their bits under 2^-1074),
 *     log1p within 2^-90 relative, and log1p's derivative 1/(1+s1) <= log1p(s1)/s1 carries the
 *     relative error of s1 over unchanged;
 *   - each double-double add or multiply of non-negative operands within 2^-102 relative, a row
 *     adds at most Kf of them, so every non-negative total is within (Kf + 16) 2^-100 relative;
 *   - the exact rationals (q_t, q_o, 1/D, the weight scales) and H are rounded once to
 *     double-double (2^-104).
 *   Hence |L_i - exact| <= gamma Mag_i + (Ksum + 1) (Kf + 8) 2^-1060 with gamma = 2^-88 +
 *   (Kf + 16) 2^-100, the absolute term covering every rounding in the subnormal range (an exp or
 *   a product below 2^-1022 is off by up to 2^-1074 absolute, and log1p(s1) carries s1's absolute
 *   error into a term multiplied by Ksum = sum_c kappa_c; B <= 1 multiplies the rest). A sum over rows adds
 *   N 2^-100 sum Mag_i. Gradient row i: g_j = (Ksum e_j / s - kappa_j) / D, at jm
 *   ((Ksum - kappa_jm) - Ksum s1 / s) / D with Ksum - kappa_jm summed directly (no cancellation),
 *   so |g_j - exact| <= gamma (Ksum + max_c kappa_c) / D + 2^-1058.
 * Values beyond 2^1000 make the bound infinite (the caller then uses the reference). Exact zeros,
 * infinities (a masked class with kappa_c > 0) and NaN (a mean over an empty denominator) follow
 * the reference's exact rules and carry a zero bound. Checked against the reference on every
 * committed fixture and on cancellation inputs (tests/test_certify.py). */
#include <arb.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/certify.h"
#include "lsce/dd.h"
#include "lsce/variants.h"

#define BIG 0x1p1000

typedef struct {
  const lsce_problem *p;
  int weighting, kl, nan_mean, none;
  int qt_pos, qo_pos, nllc_pos;
  mpq_t qt, qo;
  lsce_dd qt_d, B, nllc, invD, H; /* kappa_c = B u_c (c != y); NLL: kappa_y = nllc w_y + B */
  double *u;                      /* u_c per class: w_c or 1, 0 at P */
  int wild;                       /* a rational or weight outside [2^-900, 2^900]: no bound (below) */
} cctx;

static lsce_dd q_dd(const mpq_t q) {
  lsce_dd r;
  lsce_q_round2(&r.hi, &r.lo, q);
  return r;
}

/* H(q) = -(q_t log q_t + n_off q_o log q_o) through a 256-bit ball, rounded to double-double */
static lsce_dd entropy(const cctx *x, int64_t n_off) {
  arb_t H, a, l;
  arb_init(H); arb_init(a); arb_init(l);
  if (mpq_sgn(x->qt) > 0) { lsce_arb_set_q(a, x->qt, 256); arb_log(l, a, 256); arb_submul(H, a, l, 256); }
  if (mpq_sgn(x->qo) > 0 && n_off > 0) {
    lsce_arb_set_q(a, x->qo, 256); arb_log(l, a, 256); arb_mul(l, l, a, 256);
    arb_mul_si(l, l, (slong)n_off, 256); arb_sub(H, H, l, 256);
  }
  double hi = lsce_arf_round(arb_midref(H));
  arb_set_d(a, hi);
  arb_sub(a, H, a, 256);
  double lo = lsce_arf_round(arb_midref(a));
  arb_clear(H); arb_clear(a); arb_clear(l);
  return lsce_dd_make(hi, lo);
}

static void cctx_init(cctx *x, const lsce_problem *p) {
  const lsce_variant *d = &lsce_variants[p->variant];
  const int64_t K = p->K;
  x->p = p;
  x->weighting = d->weighting;
  x->kl = d->kl;
  x->none = p->reduction == LSCE_RED_NONE;
  mpq_inits(x->qt, x->qo, NULL);
  lsce_variant_q(x->qt, x->qo, p->variant, p->e, K);
  x->u = malloc(sizeof(double) * (size_t)(K > 0 ? K : 1));
  for (int64_t c = 0; c < K; c++) {
    x->u[c] = (x->weighting == LSCE_W_TORCH || x->weighting == LSCE_W_LOGPROB) ? lsce_weight(p, c) : 1.0;
    if (lsce_variants[p->variant].pad && c == p->pad_index) x->u[c] = 0.0;
  }
  /* |V| and W = sum_V w_y exactly */
  mpq_t W, t, a, b, nc;
  mpq_inits(W, t, a, b, nc, NULL);
  int64_t nV = 0;
  for (int64_t i = 0; i < p->N; i++) {
    if (!lsce_row_in_V(p, p->variant, i)) continue;
    nV++;
    if (x->weighting != LSCE_W_NONE) { mpq_set_d(t, lsce_weight(p, lsce_target(p, i))); mpq_add(W, W, t); }
  }
  mpq_set_ui(a, 1, 1);
  mpq_set_ui(b, 1, 1);
  mpq_set_ui(t, 1, 1); /* 1/D */
  x->nan_mean = 0;
  if (p->reduction == LSCE_RED_MEAN) {
    if (x->weighting == LSCE_W_NLL) {
      if (mpq_sgn(W) == 0 || nV == 0) x->nan_mean = 1;
      else { mpq_inv(a, W); mpq_set_si(b, 1, (unsigned long)nV); }
    } else if (x->weighting == LSCE_W_TORCH) {
      if (mpq_sgn(W) == 0) x->nan_mean = 1; else mpq_inv(t, W);
    } else {
      if (nV == 0) x->nan_mean = 1; else mpq_set_si(t, 1, (unsigned long)nV);
    }
  }
  x->invD = q_dd(t);
  x->qt_d = q_dd(x->qt);
  x->qt_pos = mpq_sgn(x->qt) > 0;
  x->qo_pos = mpq_sgn(x->qo) > 0;
  mpq_mul(nc, x->qo, b);
  x->B = q_dd(nc);                     /* the NLL form's smooth part is q_o b on every class */
  mpq_sub(nc, x->qt, x->qo);
  mpq_mul(nc, nc, a);
  x->nllc = q_dd(nc);
  x->nllc_pos = mpq_sgn(nc) > 0;
  x->H = x->kl ? entropy(x, K - 1 - (lsce_variants[p->variant].pad)) : lsce_dd_from(0.0);
  /* The bound above takes every rounded rational to be within 2^-104 relative and every product of
   * rationals and weights to stay normal and finite. A rational or a class weight outside
   * [2^-900, 2^900] (a subnormal 1/W, a weight near DBL_MAX) can break both: a subnormal rational
   * keeps only an absolute 2^-1074, which a huge weight then multiplies. There the certifier
   * declines (every bound infinite) and the caller takes the MPFR reference. */
  const double rat[] = {x->invD.hi, x->qt_d.hi, x->B.hi, x->nllc.hi};
  x->wild = 0;
  for (size_t k = 0; k < sizeof rat / sizeof rat[0]; k++)
    if (rat[k] != 0 && !(fabs(rat[k]) >= 0x1p-900 && fabs(rat[k]) <= 0x1p900)) x->wild = 1;
  for (int64_t c = 0; p->has_weights && c < K; c++) {
    double w = lsce_weight(p, c);
    if (w != 0 && !(w >= 0x1p-900 && w <= 0x1p900)) x->wild = 1;
  }
  mpq_clears(W, t, a, b, nc, NULL);
}

static void cctx_clear(cctx *x) { mpq_clears(x->qt, x->qo, NULL); free(x->u); }

/* kappa_y of a row with target y (double-double) and whether it is exactly positive */
static lsce_dd kappa_y(const cctx *x, int64_t y, int *pos) {
  double wy = lsce_weight(x->p, y);
  switch (x->weighting) {
  case LSCE_W_TORCH:
  case LSCE_W_LOGPROB:
    *pos = x->qt_pos && wy > 0;
    return lsce_dd_mul_d(x->qt_d, wy);
  case LSCE_W_NLL:
    *pos = (x->nllc_pos && wy > 0) || x->qo_pos;
    return lsce_dd_add(lsce_dd_mul_d(x->nllc, wy), x->B);
  default:
    *pos = x->qt_pos;
    return x->qt_d;
  }
}

/* A KL row whose finite logits are all equal is exactly 0 when q_c = 1/Kf on every finite class. */
static int kl_uniform_zero(const cctx *x, const double *z, int64_t y, int64_t Kf) {
  mpq_t inv;
  mpq_init(inv);
  mpq_set_si(inv, 1, (unsigned long)Kf);
  int eq = 1;
  for (int64_t c = 0; c < x->p->K && eq; c++) {
    if (z[c] == -INFINITY) continue;
    if (lsce_variants[x->p->variant].pad && c == x->p->pad_index) eq = 0;
    else eq = mpq_equal(c == y ? x->qt : x->qo, inv);
  }
  mpq_clear(inv);
  return eq;
}

typedef struct { lsce_dd L; double mag, err; int inf; } rowout;

/* One row i of V: its loss (before 1/D) and, when g != NULL, its gradient row and bound. */
static rowout row_eval(const cctx *x, int64_t i, double *z, lsce_dd *ex, double *g, double *glo,
                       double *gerr) {
  const lsce_problem *p = x->p;
  const int64_t K = p->K, y = lsce_target(p, i);
  rowout o = {lsce_dd_from(0.0), 0.0, 0.0, 0};
  int ky_pos;
  lsce_dd ky = kappa_y(x, y, &ky_pos);
  double m = -INFINITY, umax = 0.0;
  int64_t jm = -1, Kf = 0;
  int uniform = 1;
  for (int64_t c = 0; c < K; c++) {
    z[c] = lsce_logit(p, i, c);
    if (c != y && x->u[c] > umax) umax = x->u[c];
    if (z[c] == -INFINITY) {
      if (c == y ? ky_pos : (x->qo_pos && x->u[c] > 0)) o.inf = 1;
      continue;
    }
    if (Kf > 0 && z[c] != m) uniform = 0;
    if (z[c] > m) { m = z[c]; jm = c; }
    Kf++;
  }
  /* sums over c != y of u_c (all, and without jm), exact-sign zero test of Ksum */
  lsce_dd Uoff = lsce_dd_from(0.0), Unojm = lsce_dd_from(0.0), Uf = lsce_dd_from(0.0), tu = lsce_dd_from(0.0),
          s1 = lsce_dd_from(0.0), dy = lsce_dd_from(0.0);
  int bad = 0;
  for (int64_t c = 0; c < K; c++) {
    double u = c == y ? 0.0 : x->u[c];
    Uoff = lsce_dd_add_d(Uoff, u);
    if (c != jm) Unojm = lsce_dd_add_d(Unojm, u);
    if (z[c] == -INFINITY) { ex[c] = lsce_dd_from(0.0); continue; }
    lsce_dd d = lsce_two_sum(m, -z[c]); /* m - z_c >= 0, exact */
    if (!isfinite(d.hi)) bad = 1;
    ex[c] = c == jm ? lsce_dd_from(1.0) : lsce_dd_exp(lsce_dd_neg(d));
    if (c != jm) s1 = lsce_dd_add(s1, ex[c]);
    if (c == y) dy = d;
    else if (u != 0.0 && x->qo_pos) { tu = lsce_dd_add(tu, lsce_dd_mul_d(d, u)); Uf = lsce_dd_add_d(Uf, u); }
  }
  lsce_dd Ksum = lsce_dd_add(ky, lsce_dd_mul(x->B, Uoff));
  int ksum_zero = !ky_pos && !(x->qo_pos && Uoff.hi > 0);
  const double gamma = 0x1p-88 + (double)(Kf + 16) * 0x1p-100;
  if (!o.inf && !ksum_zero && Kf > 0) {
    if (x->kl && uniform && kl_uniform_zero(x, z, y, Kf)) {
      /* exactly 0: o.L, o.mag, o.err stay 0 */
    } else {
      lsce_dd ls = lsce_dd_log1p(s1);
      lsce_dd ce = x->qo_pos ? lsce_dd_mul(x->B, lsce_dd_add(tu, lsce_dd_mul(Uf, ls))) : lsce_dd_from(0.0);
      if (ky_pos && z[y] != -INFINITY) ce = lsce_dd_add(ce, lsce_dd_mul(ky, lsce_dd_add(dy, ls)));
      o.L = x->kl ? lsce_dd_sub(ce, x->H) : ce;
      o.mag = lsce_dd_to_d(ce) + lsce_dd_to_d(x->H);
      o.err = (gamma * o.mag + (lsce_dd_to_d(Ksum) + 1) * (double)(Kf + 8) * 0x1p-1060) * (1 + 0x1p-40);
      if (bad || !(o.mag <= BIG) || !isfinite(tu.hi) || !isfinite(o.L.hi)) o.err = INFINITY;
    }
  }
  if (!g) return o;
  /* the gradient row */
  if (x->nan_mean) {
    for (int64_t j = 0; j < K; j++) { g[j] = NAN; glo[j] = 0.0; }
    *gerr = 0.0;
    return o;
  }
  lsce_dd s = lsce_dd_add_d(s1, 1.0);
  lsce_dd ars = lsce_dd_div(lsce_dd_mul(Ksum, x->invD), s);
  for (int64_t j = 0; j < K; j++) {
    lsce_dd kj = j == y ? ky : lsce_dd_mul_d(x->B, x->u[j]);
    lsce_dd v;
    if (ksum_zero) v = lsce_dd_from(0.0);
    else if (z[j] == -INFINITY || Kf == 0) v = lsce_dd_neg(lsce_dd_mul(kj, x->invD));
    else if (j == jm) {
      lsce_dd rest = j == y ? lsce_dd_mul(x->B, Uoff) : lsce_dd_add(ky, lsce_dd_mul(x->B, Unojm));
      v = lsce_dd_sub(rest, lsce_dd_div(lsce_dd_mul(Ksum, s1), s));
      v = lsce_dd_mul(v, x->invD);
    } else v = lsce_dd_sub(lsce_dd_mul(ars, ex[j]), lsce_dd_mul(kj, x->invD));
    lsce_dd n = lsce_fast_two_sum(v.hi, v.lo);
    g[j] = n.hi;
    glo[j] = isfinite(n.hi) ? n.lo : 0.0;
  }
  double kmax = lsce_dd_to_d(ky);
  if (lsce_dd_to_d(x->B) * umax > kmax) kmax = lsce_dd_to_d(x->B) * umax;
  double magg = (lsce_dd_to_d(Ksum) + kmax) * lsce_dd_to_d(x->invD);
  *gerr = ksum_zero ? 0.0 : (gamma * magg + 0x1p-1058) * (1 + 0x1p-40);
  if (!ksum_zero && (bad || !(magg <= BIG))) *gerr = INFINITY;
  return o;
}

int lsce_certify_fast(lsce_ref_result *r, const lsce_problem *p, int want_grad, int threads, lsce_err *err) {
  const int64_t N = p->N, K = p->K;
  memset(r, 0, sizeof *r);
  r->nloss = p->reduction == LSCE_RED_NONE ? N : 1;
  size_t nl = (size_t)(r->nloss > 0 ? r->nloss : 1), ng = (size_t)(N * K > 0 ? N * K : 1), nr = (size_t)(N > 0 ? N : 1);
  r->loss = calloc(nl, sizeof(double));
  r->loss_lo = calloc(nl, sizeof(double));
  r->loss_err = calloc(nl, sizeof(double));
  if (want_grad) {
    r->grad = calloc(ng, sizeof(double));
    r->grad_lo = calloc(ng, sizeof(double));
    r->grad_err = calloc(nr, sizeof(double));
  }
  rowout *ro = calloc(nr, sizeof(rowout));
  if (!r->loss || !r->loss_lo || !r->loss_err || (want_grad && (!r->grad || !r->grad_lo || !r->grad_err)) || !ro) {
    free(ro);
    lsce_ref_result_free(r);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "certify: out of memory for the fast certifier");
  }
  cctx x;
  cctx_init(&x, p);
  int oom = 0;
  if (threads < 1) threads = 1;
#pragma omp parallel num_threads(threads)
  {
    double *z = malloc(sizeof(double) * (size_t)(K > 0 ? K : 1));
    lsce_dd *ex = malloc(sizeof(lsce_dd) * (size_t)(K > 0 ? K : 1));
    if (!z || !ex) {
#pragma omp atomic write
      oom = 1;
    }
#pragma omp for schedule(dynamic, 16)
    for (int64_t i = 0; i < N; i++) {
      if (!z || !ex || !lsce_row_in_V(p, p->variant, i)) continue; /* outputs stay 0 */
      ro[i] = want_grad ? row_eval(&x, i, z, ex, r->grad + i * K, r->grad_lo + i * K, &r->grad_err[i])
                        : row_eval(&x, i, z, ex, NULL, NULL, NULL);
    }
    free(z);
    free(ex);
  }
  if (oom) {
    free(ro); cctx_clear(&x); lsce_ref_result_free(r);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "certify: out of memory for the fast certifier");
  }
  if (x.none) {
    for (int64_t i = 0; i < N; i++) {
      lsce_dd n = lsce_fast_two_sum(ro[i].L.hi, ro[i].L.lo);
      r->loss[i] = ro[i].inf ? INFINITY : n.hi;
      r->loss_lo[i] = ro[i].inf ? 0.0 : n.lo;
      r->loss_err[i] = ro[i].inf ? 0.0 : ro[i].err;
    }
  } else if (x.nan_mean) {
    r->loss[0] = NAN;
  } else {
    /* the rows in index order (deterministic); every L_i >= -err_i, Mag_i >= 0 */
    lsce_dd tot = lsce_dd_from(0.0);
    double mag = 0.0, e = 0.0;
    int inf = 0;
    const double grow = 1 + (double)N * 0x1p-52 + 0x1p-40; /* the double sums of mag and err */
    for (int64_t i = 0; i < N; i++) {
      inf |= ro[i].inf;
      tot = lsce_dd_add(tot, ro[i].L);
      mag += ro[i].mag;
      e += ro[i].err;
    }
    double invD = lsce_dd_to_d(x.invD);
    tot = lsce_dd_mul(tot, x.invD);
    lsce_dd n = lsce_fast_two_sum(tot.hi, tot.lo);
    r->loss[0] = inf ? INFINITY : n.hi;
    r->loss_lo[0] = inf ? 0.0 : n.lo;
    r->loss_err[0] = inf ? 0.0 : (e + ((double)N + 8) * 0x1p-100 * mag) * invD * grow * grow;
    if (!inf && !(mag * invD <= BIG)) r->loss_err[0] = INFINITY;
  }
  if (x.wild) { /* outside the bound's assumptions (cctx_init): no figure is kept */
    for (int64_t i = 0; i < r->nloss; i++) r->loss_err[i] = INFINITY;
    for (int64_t i = 0; want_grad && i < N; i++) r->grad_err[i] = INFINITY;
  }
  r->prec_reached = 106;
  free(ro);
  cctx_clear(&x);
  return LSCE_OK;
}
