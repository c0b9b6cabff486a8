/* impls/cpu/rowguard.c: the exact CPU rows' a-posteriori error bounds and their escalation ladder
 * (rowguard.h): the bound of the fast path's loss and gradient of a row, the acceptance test against
 * the declared ulp bound, the safe path (scaled double-double, cancellation-free), the certified
 * reference for one row, and the reduction's check. Each bound's argument is written beside it
 * (the fast path's bounds and the acceptance test: impls/rowbound.h, shared with the CUDA rows).
 *
 * Notation: u = 2^-53 (double), U = 2^-104 (one double-double operation, relative), K the classes
 * of the row. All bounds are first order in u and U; every figure is multiplied by (1 + 2^-20) at
 * the end (SLACK), which covers the second-order terms and the double rounding of the bound's own
 * evaluation (a few dozen operations, each 2^-53 relative, on nonnegative quantities). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/rowguard.h"
#include "lsce/config.h"
#include "lsce/reference.h"
#include "lsce/ulp.h"

/* The bounds' constants and helpers of impls/rowbound.h under this file's short names */
#define SLACK LSCE_SLACK
#define ABS_FLOOR LSCE_ABS_FLOOR
#define crel lsce_crel

static int ref_off = -1; /* -1: as LSCE_ROW_REFERENCE was set (lsce/config.h) */
int lsce_row_reference_disabled(void) {
  return ref_off >= 0 ? ref_off : !lsce_config_get()->row_reference;
}
void lsce_row_reference_disable(int off) { ref_off = off ? 1 : 0; }

lsce_dtype lsce_guard_loss_dtype(lsce_dtype logits) { return logits == LSCE_DT_F64 ? LSCE_DT_F64 : LSCE_DT_F32; }
lsce_bound lsce_guard_bound(lsce_dtype logits) { return lsce_target_bounds[logits <= LSCE_DT_BF16 ? logits : 0]; }

lsce_stat_err lsce_stat_err_fast(const lsce_call *c, const lsce_rowstats *st) { return lsce_stat_err_of(c->K, c->dd, st); }

/* ---------------------------------------------------------------------------------------------- */
/* Rung 2: the safe path. */

static double pow2(int k) { return ldexp(1.0, k); }
static lsce_dd dd_scale(lsce_dd a, double s) { return lsce_dd_make(a.hi * s, a.lo * s); } /* s a power of 2 */

/* Row i recomputed in scaled double-double, in the cancellation-free form
 *   L = (kappa_y + B U'_y) log1p(s1) + kappa_y (m - z_y) - B t'_y - C,
 * U'_y, t'_y the sums of u_c and u_c (z_c - m) over the finite classes of S other than y, kappa_y =
 * A + B u_y formed as q_y (w_y) from the exact q_y (no cancellation; 0 exactly in the K-1 family
 * at e = 1, so the loss does not depend on z_y), or, for k-nll-weighted, as A + B within 4 U (|A| + B).
 * Every term is >= 0 (kappa >= 0, t' <= 0), so the sum does not cancel (the KL constant C aside,
 * which the metric's floor tau accounts for). Against overflow: logit differences are formed as
 * (z_c sc) - (m sc) with sc = 2^-(2 + bits(K)) when some |z| >= 2^(1021 - bits(K)) (exact as a two_sum; the exp takes the
 * unscaled pair, and below -745.2 is 0 within 2^-1075), weights as w_c ws with ws = 2^-k bringing the
 * largest relevant weight to [1, 2) when it is beyond 2^+-1000 (exact, save weights that fall to
 * subnormals: 2^-1075 each). The loss is L' = L sc ws and is unscaled at the end.
 * The bound (scaled units, then / (sc ws)):
 *   E' <= c' dls sc + dc' (ls + dls) sc + kerr |m - z_y| sc + B' dt' + 8 U (c' ls sc + kappa' |m - z_y| sc
 *         + B' |t'| + |C| sc) + K 2^-1070 (1 + max|z - m| sc) (underflowed weights and products),
 * dls from s1_rel = e_rel(dd) + (2K + 4) U, dt' = (2K + 4) U |t'|, dc' = 4 U c' + kerr + B' (K + 2) U U'_y.
 * The gradient g_j = (alpha e_j / s - kappa_j) / D with alpha = kappa_y + B U_all,y (again no
 * cancellation) and g_jm = ((alpha - kappa_jm) - alpha s1 / s) / D, alpha - kappa_jm summed without
 * kappa_jm (no cancellation); bound as in lsce_guard_grad_err with U for u. */
int lsce_row_safe(lsce_dd *Lout, double *Eout, void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i,
                  int want_loss_check, lsce_dd post, int post_e) {
  const lsce_params *p = c->prm;
  const int64_t K = c->K, y = c->targets[i], base = i * K;
  const int wu = lsce_weighted_u(p);
  const int nll = p->weighting == LSCE_W_NLL_ID, shard = p->weighting == LSCE_W_SHARD_ID;
  /* the weights scale kappa_y (k1-megatron's indicator only selects b: kappa_y = a + b [y in S_r]) */
  const int weighted = p->weighting != LSCE_W_NONE_ID && !shard;
  const double *w = c->weights;
  const lsce_bound bnd = lsce_guard_bound(c->dtype);
  const lsce_dtype LT = lsce_guard_loss_dtype(c->dtype);
  int res = 3;
  /* scan: m, jm and the masked-class facts, as twopass.c */
  lsce_rowstats st;
  lsce_stats_empty(&st);
  double zabs = 0;
  for (int64_t j = 0; j < K; j++) {
    double v = lsce_ld(c->logits, c->dtype, base + j);
    if (v == -INFINITY) {
      if (j == y) st.y_masked = 1;
      else if (j != p->pad_index && (wu ? w[j] : 1.0) > 0) st.n_mask_u++;
      continue;
    }
    st.Kf++;
    if (fabs(v) > zabs) zabs = fabs(v);
    if (v > st.m) { st.m = v; st.jm = j; st.n_eq = 1; }
    else if (v == st.m) st.n_eq++;
  }
  const int yf = !st.y_masked;
  if (yf) st.zy = lsce_ld(c->logits, c->dtype, base + y);
  if (p->pad_index >= 0) st.P_finite = lsce_ld(c->logits, c->dtype, base + p->pad_index) != -INFINITY;
  lsce_rowcoef rc = lsce_row_coef(p, y, w);
  /* sc = 2^-(2 + bits(K)) when 2 K |z|max may pass DBL_MAX: no difference, nor a sum of K of them, overflows */
  int kb = 0;
  while (kb < 62 && ((int64_t)1 << kb) < K) kb++;
  const double sc = zabs >= ldexp(1.0, 1021 - kb) ? ldexp(1.0, -2 - kb) : 1.0;
  double wbig = 0;
  if (weighted) wbig = wu ? (p->umax > w[y] ? p->umax : w[y]) : w[y];
  double ws = 1.0;
  if (wbig > 0x1p1000 || (wbig > 0 && wbig < 0x1p-1000)) ws = pow2(-ilogb(wbig));
  /* k-nll-weighted: A = a w_y nll_scale, nll_scale = nll_m 2^nll_e (1/W of a mean, perhaps
   * subnormal): the scale brings A to a w_y 2^-ilogb(w_y) nll_m, formed from exact factors */
  int nll_k = 0;
  int nll_kA = 0;
  if (nll && w[y] > 0 && (p->nll_e != 0 || ws != 1.0)) {
    /* the scale follows the larger of A and B (the smaller may then underflow: negligible next to it) */
    nll_kA = p->nll_e + ilogb(w[y]);
    nll_k = nll_kA;
    if (rc.B.hi != 0 && ilogb(rc.B.hi) > nll_k) nll_k = ilogb(rc.B.hi);
    if (nll_k == 0) nll_k = 1; /* nonzero marks the branch; 2^-1 costs nothing */
    ws = 1.0;
  }
  /* scaled coefficients */
  double wy = weighted ? w[y] * ws : 1.0;
  lsce_dd Bs = nll ? (nll_k ? lsce_dd_make(ldexp(rc.B.hi, -nll_k), ldexp(rc.B.lo, -nll_k)) : dd_scale(rc.B, ws)) : rc.B;
  lsce_dd As, ky;
  double kerr = 0;
  if (shard) { As = p->a; ky = w[y] > 0 ? p->qt : p->a; } /* a + b or a, each the exact one rounded */
  else if (!weighted) { As = p->a; ky = p->qt; }
  else {
    As = lsce_dd_mul_d(p->a, wy);
    if (nll && nll_k) {
      As = lsce_dd_mul(lsce_dd_mul_d(p->a, ldexp(w[y], -ilogb(w[y]))), p->nll_m);
      As = lsce_dd_make(ldexp(As.hi, nll_kA - nll_k), ldexp(As.lo, nll_kA - nll_k));
    }
    else if (nll) As = lsce_dd_mul(As, p->nll_scale);
    if (nll) { ky = lsce_dd_add(As, Bs); kerr = 4 * LSCE_U_DD * (fabs(lsce_dd_to_d(As)) + fabs(lsce_dd_to_d(Bs))); }
    else ky = lsce_dd_mul_d(p->qt, wy);
  }
  (void)As;
  const int wse = nll_k ? -nll_k : ilogb(ws); /* the weights' scale: L' = L 2^wse (B' scaled alike) */
  kerr += 0x1p-1073; /* kappa'_y, a double-double coefficient: its subnormal floor */
  /* the sums */
  lsce_dd s1 = lsce_dd_from(0.0), tS = lsce_dd_from(0.0), Uy = lsce_dd_from(0.0), Uall_y = lsce_dd_from(0.0),
         Uall_yjm = lsce_dd_from(0.0);
  double dmax = 0, umx = 0;
  const double ms = st.m * sc;
  for (int64_t j = 0; j < K; j++) {
    double v = lsce_ld(c->logits, c->dtype, base + j);
    int inS = j != p->pad_index;
    double uj = wu ? w[j] * ws : 1.0;
    if (inS && j != y) {
      Uall_y = lsce_dd_add_d(Uall_y, uj);
      if (j != st.jm) Uall_yjm = lsce_dd_add_d(Uall_yjm, uj);
      if (uj > umx) umx = uj;
    }
    if (v == -INFINITY) continue;
    lsce_dd d = lsce_two_sum(v * sc, -ms); /* (z_j - m) sc, exactly */
    if (-d.hi > dmax) dmax = -d.hi;
    if (j != st.jm) {
      lsce_dd df = dd_scale(d, 1.0 / sc);
      if (df.hi > -745.2) s1 = lsce_dd_add(s1, lsce_dd_exp(df));
    }
    if (inS && j != y) {
      tS = lsce_dd_add(tS, lsce_dd_mul_d(d, uj));
      Uy = lsce_dd_add_d(Uy, uj);
    }
  }
  const double Kd = (double)K;
  const double s1v = lsce_dd_to_d(s1);
  const double s1_rel = LSCE_EXP_REL_DD + (2 * Kd + 4) * LSCE_U_DD, sabs = Kd * 0x1p-1070;
  const double ds = s1_rel * s1v + sabs;
  const double absl = Kd * 0x1p-1070 * (1 + dmax);
  if (Lout) {
    lsce_dd Lx;
    double E = 0;
    if (lsce_row_loss_exact(&Lx, p, &rc, &st)) {
      *Lout = Lx;
    } else {
      lsce_dd ls = lsce_dd_log1p(s1);
      double lsv = lsce_dd_to_d(ls);
      lsce_dd kyf = yf ? ky : lsce_dd_from(0.0);
      lsce_dd cS = lsce_dd_add(kyf, lsce_dd_mul(Bs, Uy));
      lsce_dd dy = yf ? lsce_two_sum(ms, -st.zy * sc) : lsce_dd_from(0.0); /* (m - z_y) sc >= 0 */
      lsce_dd L = lsce_dd_mul(cS, dd_scale(ls, sc));
      if (yf && !lsce_dd_is_zero(ky)) L = lsce_dd_add(L, lsce_dd_mul(ky, dy));
      L = lsce_dd_sub(L, lsce_dd_mul(Bs, tS));
      if (p->kl) L = lsce_dd_sub(L, dd_scale(p->C, sc));
      double cv = fabs(lsce_dd_to_d(cS)), Bv = fabs(lsce_dd_to_d(Bs)), dyv = fabs(lsce_dd_to_d(dy));
      double tv = fabs(lsce_dd_to_d(tS)), kv = fabs(lsce_dd_to_d(kyf)), Cv = fabs(lsce_dd_to_d(p->C));
      double dls = lsce_dls_of(s1v, ds, lsv * (1 + 0x1p-50));
      double dc = 4 * LSCE_U_DD * cv + (yf ? kerr : 0) + Bv * ((Kd + 2) * LSCE_U_DD * fabs(lsce_dd_to_d(Uy)) + Kd * 0x1p-1074);
      double dt = (2 * Kd + 4) * LSCE_U_DD * tv + absl;
      double Es = cv * dls * sc + dc * (lsv + dls) * sc + (yf ? kerr : 0) * dyv + Bv * dt +
                  8 * LSCE_U_DD * (cv * lsv * sc + kv * dyv + Bv * tv + Cv * sc) + absl +
                  0x1p-1073 * (fabs(lsce_dd_to_d(Uy)) * lsv * sc + tv) + ABS_FLOOR; /* B' and the ops' floors */
      /* the reduction's factor (1/D, or 1) = post 2^post_e, post in [1/2, 2) rounded from the exact
       * value: post applied here, 2^post_e with the unscaling (a subnormal 1/D loses nothing) */
      int pe = post_e;
      lsce_dd pm = post;
      L = lsce_dd_mul(L, pm);
      double pv = fabs(lsce_dd_to_d(pm));
      Es = Es * pv * (1 + 4 * LSCE_U_DD) + 4 * LSCE_U_DD * fabs(lsce_dd_to_d(L)) + ABS_FLOOR;
      /* unscaling by 2^ue as an exponent (2^ue itself may be beyond double's range) */
      const int ue = pe - wse - ilogb(sc);
      *Lout = lsce_dd_make(ldexp(L.hi, ue), ldexp(L.lo, ue));
      E = ldexp(Es, ue) * SLACK + 0x1p-1074;
      if (isinf(Lout->hi) && !isnan(Es) && ldexp(fabs(lsce_dd_to_d(L)) - Es, ue) > DBL_MAX) {
        *Lout = lsce_dd_from(Lout->hi); /* beyond DBL_MAX even at its lower bound: +inf is the rounding */
        E = 0.0;
      } else if (!isfinite(Lout->hi)) {
        *Lout = lsce_dd_from(Lout->hi);
        E = INFINITY;
      } else {
        *Lout = lsce_fast_two_sum(Lout->hi, Lout->lo);
      }
      if (isnan(E) || isnan(Lout->hi)) E = INFINITY;
    }
    if (Eout) *Eout = E;
    if (want_loss_check && !(isinf(Lout->hi) && E == 0.0)) {
      double x = Lout->hi;
      if (!lsce_guard_ok(x, E, lsce_guard_tau_row(p, fabs(x) - E, LT), LT, bnd.loss_ulp)) res &= ~1;
    }
  }
  if (grad) {
    const int64_t ld = base;
    if (p->nan_mean) {
      for (int64_t j = 0; j < K; j++) lsce_st(grad, gdt, ld + j, NAN);
      return res;
    }
    lsce_dd alpha = lsce_dd_add(ky, lsce_dd_mul(Bs, Uall_y));
    lsce_dd s = lsce_dd_add_d(s1, 1.0);
    /* 1/D = invD 2^ie with invD in [1, 2): a subnormal 1/D (D = sum w near DBL_MAX) loses nothing */
    const int ie = p->inv_D_e;
    lsce_dd invD = p->inv_D_m;
    lsce_dd ars = lsce_dd_div(lsce_dd_mul(alpha, invD), s);
    lsce_dd BD = lsce_dd_mul(Bs, invD), kyD = lsce_dd_mul(ky, invD);
    /* alpha - kappa_jm, summed without kappa_jm */
    lsce_dd amk;
    if (st.jm < 0) amk = alpha;
    else if (st.jm == y) amk = lsce_dd_mul(Bs, Uall_y);
    else if (st.jm == p->pad_index) amk = alpha;
    else amk = lsce_dd_add(ky, lsce_dd_mul(Bs, Uall_yjm));
    lsce_dd gjm = lsce_dd_mul(lsce_dd_sub(amk, lsce_dd_div(lsce_dd_mul(alpha, s1), s)), invD);
    const int ue = ie - wse; /* g = g' 2^ue */
    double gmax = 0;
    for (int64_t j = 0; j < K; j++) {
      lsce_dd gj;
      if (j == st.jm) gj = gjm;
      else {
        double v = lsce_ld(c->logits, c->dtype, base + j);
        lsce_dd e = lsce_dd_from(0.0);
        if (v != -INFINITY) {
          lsce_dd df = dd_scale(lsce_two_sum(v * sc, -ms), 1.0 / sc);
          if (df.hi > -745.2) e = lsce_dd_exp(df);
        }
        lsce_dd k = j == y ? kyD : (j != p->pad_index ? lsce_dd_mul_d(BD, wu ? w[j] * ws : 1.0) : lsce_dd_from(0.0));
        gj = lsce_dd_sub(lsce_dd_mul(ars, e), k);
      }
      double gv = ldexp(gj.hi + gj.lo, ue);
      double a = fabs(gv);
      if (a > gmax || a != a) gmax = a;
      if (c->grad_lo) { /* the fast certifier keeps both parts (float64 output) */
        lsce_dd gs = lsce_fast_two_sum(ldexp(gj.hi, ue), ldexp(gj.lo, ue));
        ((double *)grad)[ld + j] = gs.hi;
        c->grad_lo[ld + j] = isfinite(gs.hi) ? gs.lo : 0.0;
        continue;
      }
      lsce_st(grad, gdt, ld + j, gv);
    }
    double alv = fabs(lsce_dd_to_d(alpha)), arsv = fabs(lsce_dd_to_d(ars)), iD = lsce_dd_to_d(invD);
    double kmax = fabs(lsce_dd_to_d(ky)) + fabs(lsce_dd_to_d(Bs)) * umx;
    double sv = 1 + s1v;
    double rs = (sv - ds > 0) ? ds / (sv - ds) : INFINITY;
    double Eg = arsv * (rs + 16 * LSCE_U_DD + LSCE_EXP_REL_DD) + kerr * iD / sv + 8 * LSCE_U_DD * kmax * iD;
    double Ejm = (alv * rs + 8 * LSCE_U_DD * (alv + kmax)) * iD + kerr * iD;
    double cr = crel(iD) + crel(arsv);
    double E = ldexp((Eg + Ejm + absl + cr * (arsv + (kmax + alv) * iD) + 0x1p-1073 * iD * (1 + umx) + ABS_FLOOR), ue) * SLACK +
               0x1p-1074;
    if (isnan(E) || !isfinite(gmax)) E = INFINITY;
    if (!lsce_guard_ok(gmax, E, lsce_guard_tau_grad(p, &rc, gdt), gdt, bnd.grad_ulp)) res &= ~2;
  }
  return res;
}

/* ---------------------------------------------------------------------------------------------- */
/* Rung 3: the certified reference (reference/ref_loss.c) on a one-row problem. */

static void npy_view(lsce_npy *a, lsce_dtype dt, int ndim, int64_t n0, int64_t n1, const void *data) {
  memset(a, 0, sizeof *a);
  a->dtype = dt;
  a->ndim = ndim;
  a->shape[0] = n0;
  a->shape[1] = n1;
  a->count = n0 * n1;
  a->data = (const unsigned char *)data;
}

/* A problem over rows [i0, i0 + n) of the call, reduction `red`. */
static void call_problem(lsce_problem *q, const lsce_call *c, int64_t i0, int64_t n, const int64_t *t, int red,
                         const double *w) {
  const lsce_params *p = c->prm;
  memset(q, 0, sizeof *q);
  const unsigned char *base = (const unsigned char *)c->logits; /* NULL for an empty batch */
  npy_view(&q->logits, c->dtype, 2, n, c->K, base ? base + (size_t)(i0 * c->K) * lsce_dtype_size(c->dtype) : NULL);
  npy_view(&q->targets, LSCE_DT_I64, 1, n, 1, t);
  if (w) { npy_view(&q->weights, LSCE_DT_F64, 1, c->K, 1, w); q->has_weights = 1; }
  q->N = n;
  q->K = c->K;
  q->variant = p->variant;
  mpq_init(q->e);
  mpq_set(q->e, p->e);
  q->reduction = (lsce_reduction)red;
  q->ignore_index = p->ignore_index;
  q->pad_index = p->pad_index;
  if (p->weighting == LSCE_W_SHARD_ID && p->shard_hi > p->shard_lo) { /* k1-megatron: T and r back */
    q->tp = c->K / (p->shard_hi - p->shard_lo);
    q->rank = p->shard_lo / (p->shard_hi - p->shard_lo);
  }
}

/* rows [lo, hi) of q (hi = -1: all rows): a block keeps the whole problem's 1/D, W and |V| */
static int run_reference_rows(lsce_ref_result *r, const lsce_problem *q, int want_grad, int64_t lo, int64_t hi) {
  lsce_ref_opts o;
  lsce_err err;
  lsce_ref_opts_default(&o);
  if (lsce_ref_opts_env(&o, &err)) lsce_ref_opts_default(&o);
  o.want_grad = want_grad;
  o.want_lo = 1;
  o.row_lo = lo;
  o.row_hi = hi;
  return lsce_reference_local(r, q, &o, "row", &err); /* never lsce-mpi's collective */
}

static int run_reference(lsce_ref_result *r, const lsce_problem *q, int want_grad) {
  return run_reference_rows(r, q, want_grad, 0, -1);
}

/* Row i's gradient of the call's own reduction, each entry rounded once from the exact value: the
 * reference over the whole problem in its block mode for row i alone (W, |V| and 1/D come from
 * every row, exactly; only row i is computed). Used where no one-row problem gives it: a
 * k-nll-weighted mean (its NLL part scales by 1/W, its smooth part by 1/|V|), and weights spanning
 * more than double's range (no power of two brings the row's gradient into it before 1/D). */
static int block_grad(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i) {
  lsce_problem q;
  call_problem(&q, c, 0, c->N, c->targets, c->prm->reduction, c->weights);
  lsce_ref_result r;
  int rc = run_reference_rows(&r, &q, 1, i, i + 1);
  mpq_clear(q.e);
  if (rc != LSCE_OK) return -1;
  for (int64_t j = 0; j < c->K; j++) lsce_st(grad, gdt, i * c->K + j, r.grad[j]);
  lsce_ref_result_free(&r);
  return 0;
}

/* A result of the reference on weights scaled by 2^k that is no longer finite. */
static int scaled_overflow(const lsce_ref_result *r, int want_grad, int64_t K) {
  if (!isfinite(r->loss[0])) return 1;
  for (int64_t j = 0; want_grad && r->grad && j < K; j++)
    if (!isfinite(r->grad[j])) return 1;
  return 0;
}

/* The loss of row i (reduction none: L_i before 1/D) as hi + lo (lo = RN(L_i - hi), certified), and
 * the gradient of L_i (the `none` gradient, D = 1), rounded once to gdt after the exact scaling by
 * 1/D in double-double (within U of the certified hi + lo: far inside any bound). A k-nll-weighted
 * mean scales its two parts differently (1/W, 1/|V|): its gradient comes from block_grad. */
int lsce_row_reference(lsce_dd *L, void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int *Le) {
  const lsce_params *p = c->prm;
  if (lsce_row_reference_disabled() || c->loss_lo || c->grad_lo) return -1; /* not for the fast certifier */
  if (lsce_variants[p->variant].pad && p->pad_index < 0) return -1;
  if (grad && p->weighting == LSCE_W_NLL_ID && p->reduction == LSCE_RED_MEAN) {
    /* the row's own loss (L) is not asked for here: a reduction's loss has its own ladder */
    if (L && lsce_row_reference(L, NULL, gdt, c, i, Le)) return -1;
    return block_grad(grad, gdt, c, i);
  }
  /* Weights below 1 that scale the loss and gradient alike (w_c in every kappa_c: k-torch-weighted,
   * the logprob forms) go to the reference times 2^k, k = -ilogb(max w) (exact: scaled up), so a
   * row of subnormal weights keeps its bits; the results are scaled back by 2^-k. */
  int k = 0;
  double *ws = NULL;
  const int wu = lsce_weighted_u(p);
  if (wu && p->umax > 0 && p->umax < 1.0) {
    k = -ilogb(p->umax);
    ws = malloc(sizeof(double) * (size_t)c->K);
    if (!ws) return -1;
    for (int64_t j = 0; j < c->K; j++) ws[j] = ldexp(c->weights[j], k);
  }
  lsce_problem q;
  call_problem(&q, c, i, 1, c->targets + i, LSCE_RED_NONE, ws ? ws : c->weights);
  lsce_ref_result r;
  int rc = run_reference(&r, &q, grad != NULL);
  mpq_clear(q.e);
  if (rc == LSCE_OK && ws && scaled_overflow(&r, grad != NULL, c->K)) {
    /* scaled up by 2^k the row left double's range (a huge shift times tiny weights; a fuzz
     * finding): the unscaled reference rounds the row itself correctly, and a true infinity (a
     * masked target) stays infinite in it */
    lsce_ref_result_free(&r);
    k = 0;
    call_problem(&q, c, i, 1, c->targets + i, LSCE_RED_NONE, c->weights);
    rc = run_reference(&r, &q, grad != NULL);
    mpq_clear(q.e);
  }
  if (rc != LSCE_OK) { free(ws); return -1; }
  if (L) { /* with Le, L stays scaled: the loss is L 2^Le (a reduction scales it by 1/D first) */
    int e = Le ? 0 : -k;
    if (Le) *Le = -k;
    *L = lsce_dd_make(ldexp(r.loss[0], e), r.loss_lo ? ldexp(r.loss_lo[0], e) : 0.0);
  }
  if (grad) {
    /* entries below 2^-969 carry fewer than 106 bits (their low part is subnormal): when 1/D then
     * scales them up, they cannot give the row's bound (weights spanning more than double's range,
     * which no power of two brings into it). Then the row's gradient comes from block_grad: each
     * entry rounded once from the exact value, whatever the exponents of the weights and of 1/D. */
    int small = 0;
    if (p->inv_D_e - k > 100) /* 1/D above 2^100 (W < 2^-100): an entry below 2^-969, or rounded to 0, may have lost bits */
      for (int64_t j = 0; j < c->K; j++)
        if (fabs(r.grad[j]) < 0x1p-969) small = 1;
    if (small) {
      int rc2 = block_grad(grad, gdt, c, i);
      lsce_ref_result_free(&r);
      free(ws);
      return rc2;
    }
    for (int64_t j = 0; j < c->K; j++) {
      lsce_dd g = lsce_dd_make(r.grad[j], r.grad_lo ? r.grad_lo[j] : 0.0);
      double v = g.hi;
      if (isfinite(g.hi)) { /* 1/D = inv_D_m 2^inv_D_e: exact even where 1/D itself leaves double's range */
        g = lsce_dd_mul(g, p->inv_D_m);
        v = ldexp(g.hi + g.lo, p->inv_D_e - k);
      }
      lsce_st(grad, gdt, i * c->K + j, v);
    }
  }
  lsce_ref_result_free(&r);
  free(ws);
  return 0;
}

int lsce_total_reference(lsce_dd *out, const lsce_call *c) {
  if (lsce_row_reference_disabled() || c->loss_lo || c->grad_lo) return -1;
  lsce_problem q;
  call_problem(&q, c, 0, c->N, c->targets, c->prm->reduction, c->weights);
  lsce_ref_result r;
  int rc = run_reference(&r, &q, 0);
  mpq_clear(q.e);
  if (rc != LSCE_OK) return -1;
  *out = lsce_dd_make(r.loss[0], r.loss_lo ? r.loss_lo[0] : 0.0);
  lsce_ref_result_free(&r);
  return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* The ladder, per row and per call. lvl bits: 1 safe path, 2 the loss needs the reference, 4 the
 * gradient does, 8 the reference answered, 16 flagged. */

/* The fast path's check of row i (lsce_guard_row's rung 1): E the loss bound; *ok_l, *ok_g. */
static double fast_check(int *ok_l, int *ok_g, const lsce_call *c, int64_t i, const lsce_rowcoef *rc,
                         const lsce_rowstats *st, const lsce_gradcoef *g, lsce_dd L, double gmax, int want_g,
                         lsce_dtype gdt) {
  const lsce_params *p = c->prm;
  const lsce_bound bnd = lsce_guard_bound(c->dtype);
  const lsce_dtype LT = lsce_guard_loss_dtype(c->dtype);
  double tpad, upad;
  lsce_guard_pad(&tpad, &upad, p, st, st->P_finite && p->pad_index >= 0 ? lsce_ld(c->logits, c->dtype, i * c->K + p->pad_index) : 0.0,
                 c->weights && p->pad_index >= 0 ? c->weights[p->pad_index] : 1.0);
  const int cert = c->loss_lo || c->grad_lo;
  if (!cert) /* the rows' own check (rowbound.h), the one the CUDA rows run on the device */
    return lsce_guard_fast(ok_l, ok_g, p, c->K, c->dd, rc, st, want_g ? g : NULL, L, gmax, tpad, upad, LT, gdt,
                           bnd.loss_ulp, bnd.grad_ulp);
  lsce_stat_err se = lsce_stat_err_fast(c, st);
  lsce_dd Lx;
  double E = lsce_row_loss_exact(&Lx, p, rc, st) ? 0.0 : lsce_guard_loss_err(p, rc, st, &se, tpad, upad);
  /* verify's fast certifier keeps hi + lo and claims 2^-80 of the magnitudes (lsce/certify.h):
   * a row stays on the fast path when its bound is within 2^-80 of its value (or floor) */
  double lo = fabs(L.hi) - E, tl = lsce_guard_tau_row(p, lo, LSCE_DT_F64);
  *ok_l = (isinf(L.hi) && E == 0.0) || (isfinite(L.hi) && E <= 0x1p-80 * (lo > tl ? lo : tl));
  *ok_g = 1;
  if (want_g && !g->nan) {
    double Eg = lsce_guard_grad_err(p, rc, g, st, &se, gmax), lg = gmax - Eg;
    double tg = lsce_guard_tau_grad(p, rc, LSCE_DT_F64);
    *ok_g = isfinite(gmax) && Eg <= 0x1p-80 * (lg > tg ? lg : tg);
  }
  return E;
}

int lsce_guard_fast_ok(lsce_dtype gdt, const lsce_call *c, int64_t i, const lsce_rowcoef *rc,
                       const lsce_rowstats *st, const lsce_gradcoef *g, lsce_dd L, double gmax) {
  int ok_l, ok_g;
  double E = fast_check(&ok_l, &ok_g, c, i, rc, st, g, L, gmax, g != NULL, gdt);
  /* A reduction checks only its total (lsce_guard_finish), and escalates rows to the safe path when
   * that fails. A float32-precision first pass (exp_rel above LSCE_EXP_REL_COARSE) keeps a row only
   * when E <= 0.985 2^-(p+1) |L|: summed over rows of one sign, E_total <= 0.985 2^-(p+1) |total|,
   * below half an ulp of the total in p-bit precision, so the total's check passes (but for a total
   * within E of a power of two, where it escalates: still sound). */
  /* (the float64 single pass too, simd_f64pass.inc: exp_rel above LSCE_EXP_REL_F64; its rows that
   * miss this take the two passes, from cache) */
  const int f64one = c->dtype == LSCE_DT_F64 && st->exp_rel > LSCE_EXP_REL_F64;
  if (c->prm->reduction != LSCE_RED_NONE && (st->exp_rel > LSCE_EXP_REL_COARSE || f64one) && !c->loss_lo)
    ok_l = ok_l && E <= ldexp(0.985 * fabs(L.hi), -(lsce_ulp_prec(lsce_guard_loss_dtype(c->dtype)) + 1));
  return ok_l && ok_g;
}

void lsce_guard_escalate(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c,
                         int64_t i, lsce_dd L, double E, int ok_l, int ok_g) {
  const int none = c->prm->reduction == LSCE_RED_NONE;
  /* the fast bound E is 0 exactly for the rows lsce_row_loss_exact decides (+inf, or 0), and at
   * least LSCE_ABS_FLOOR for every other row (rowbound.h lsce_guard_fast) */
  const int exact = E == 0.0;
  unsigned char lv = 0;
  if (!ok_l || !ok_g) {
    lv = 1;
    lsce_dd Ls;
    double Es;
    int r = lsce_row_safe(&Ls, &Es, ok_g ? NULL : grad, gdt, c, i, none, lsce_dd_from(1.0), 0);
    L = Ls;
    E = Es;
    /* an overflow to +inf of L_i alone is not the reduction's infinity: only the exact ones are */
    if (!none && isinf(L.hi) && !exact) E = INFINITY;
    if (none && !(r & 1)) lv |= 2;
    if (!ok_g && !(r & 2)) lv |= 4;
  }
  Lrow[3 * i] = L.hi;
  Lrow[3 * i + 1] = L.lo;
  Lrow[3 * i + 2] = E;
  lvl[i] = lv;
}

void lsce_guard_row(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt, const lsce_call *c,
                    int64_t i, const lsce_rowcoef *rc, const lsce_rowstats *st, const lsce_gradcoef *g,
                    lsce_dd L, double gmax) {
  int ok_l, ok_g;
  double E = fast_check(&ok_l, &ok_g, c, i, rc, st, g, L, gmax, grad != NULL, gdt);
  lsce_guard_escalate(Lrow, lvl, grad, gdt, c, i, L, E, ok_l, ok_g);
}

int lsce_guard_device_rows(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const double *R) {
  const int64_t N = c->N;
  double *Lrow = malloc(sizeof(double) * 3 * (size_t)(N > 0 ? N : 1));
  unsigned char *lvl = malloc((size_t)(N > 0 ? N : 1));
  if (!Lrow || !lvl) { free(Lrow); free(lvl); return 1; }
  for (int64_t i = 0; i < N; i++) {
    if (!lsce_params_in_V(c->prm, c->targets[i])) { /* loss 0; the device wrote its gradient's zeros */
      Lrow[3 * i] = Lrow[3 * i + 1] = Lrow[3 * i + 2] = 0.0;
      lvl[i] = 0;
      continue;
    }
    const int f = (int)R[4 * i + 3];
    lsce_guard_escalate(Lrow, lvl, grad, gdt, c, i, lsce_dd_make(R[4 * i], R[4 * i + 1]), R[4 * i + 2],
                        !(f & LSCE_GUARD_LOSS_BAD), !(f & LSCE_GUARD_GRAD_BAD));
  }
  lsce_guard_finish(loss, grad, gdt, c, Lrow, lvl);
  free(lvl);
  free(Lrow);
  return 0;
}

/* Is row i's loss within 2^-(p+6) of itself? (what a reduction asks of the rows it escalates) */
static int row_rel_ok(const double *Lrow, int64_t i, int prec) {
  double E = Lrow[3 * i + 2], x = fabs(Lrow[3 * i]);
  if (isinf(Lrow[3 * i]) && E == 0.0) return 1;
  return E >= 0 && E <= ldexp(x, -(prec + 6)) && isfinite(x);
}

/* A reduction sums the rows' L_i / D: each fast row's (hi, lo, E) is multiplied by 1/D in
 * double-double (within 4 U, and crel(1/D) for a subnormal 1/D); escalated rows come from the safe
 * path with 1/D applied in its scaled units (a row whose L_i overflows while L_i / D does not). */
static void row_times_invD(double *Lrow, int64_t i, const lsce_params *p) {
  if (isinf(Lrow[3 * i]) && Lrow[3 * i + 2] == 0.0) return; /* an exact infinity */
  /* 1/D = inv_D_m 2^inv_D_e (exact scaling; 1/D itself may be subnormal or beyond DBL_MAX) */
  double iD = fabs(lsce_dd_to_d(p->inv_D_m));
  lsce_dd v = lsce_dd_mul(lsce_dd_make(Lrow[3 * i], Lrow[3 * i + 1]), p->inv_D_m);
  double E = (Lrow[3 * i + 2] * iD * (1 + 4 * LSCE_U_DD) + 4 * LSCE_U_DD * fabs(lsce_dd_to_d(v))) * SLACK;
  v = lsce_dd_make(ldexp(v.hi, p->inv_D_e), ldexp(v.lo, p->inv_D_e));
  Lrow[3 * i + 2] = ldexp(E, p->inv_D_e) + ABS_FLOOR;
  if (!isfinite(v.hi)) { v = lsce_dd_from(v.hi); Lrow[3 * i + 2] = INFINITY; }
  Lrow[3 * i] = v.hi;
  Lrow[3 * i + 1] = v.lo;
}

/* r = sum_i (L_i / D) in double-double, and its bound: the rows' bounds and the sum's roundings (N
 * additions, each within 2 U of a partial sum, at most sum |L_i / D|). */
static void reduce(const lsce_call *c, const double *Lrow, lsce_dd *r, double *E, int *any_inf) {
  const lsce_params *p = c->prm;
  lsce_dd total = lsce_dd_from(0.0);
  double Es = 0, mag = 0, low = 0;
  *any_inf = 0;
  for (int64_t i = 0; i < c->N; i++) {
    if (!lsce_params_in_V(p, c->targets[i])) continue;
    if (isinf(Lrow[3 * i]) && Lrow[3 * i + 2] == 0.0) { *any_inf = 1; continue; }
    total = lsce_dd_add(total, lsce_dd_make(Lrow[3 * i], Lrow[3 * i + 1]));
    Es += Lrow[3 * i + 2];
    mag += fabs(Lrow[3 * i]);
    double l = Lrow[3 * i] - Lrow[3 * i + 2]; /* a lower bound of the row's exact L_i / D >= 0 */
    if (l > 0) low += l * 0x1p-4;
  }
  /* every exact row is >= 0, so when the lower bounds already sum past DBL_MAX + ulp/2 = 2^1024,
   * the reduction rounds to +inf exactly */
  if (low * (1 - 0x1p-50) >= 0x1p1020) *any_inf = 1;
  *r = total;
  *E = (Es + 2 * (double)c->N * LSCE_U_DD * mag + ABS_FLOOR) * SLACK;
  if (isnan(*E) || isnan(r->hi)) *E = INFINITY;
}

static int total_ok(const lsce_call *c, lsce_dd r, double E) {
  const lsce_params *p = c->prm;
  const lsce_dtype LT = lsce_guard_loss_dtype(c->dtype);
  double x = r.hi + r.lo;
  double H = p->kl ? fabs(lsce_dd_to_d(p->C)) * (double)p->nV * lsce_dd_to_d(p->inv_D) : 0.0;
  double lo = fabs(x) - E;
  double tau = lsce_tau((lo > 0 ? lo : 0) + 2 * H, LT) * (1 - 0x1p-40);
  return lsce_guard_ok(x, E, tau, LT, lsce_guard_bound(c->dtype).loss_ulp);
}

static void set_ref_row(double *Lrow, int64_t i, lsce_dd Lr) {
  Lrow[3 * i] = Lr.hi;
  Lrow[3 * i + 1] = Lr.lo;
  Lrow[3 * i + 2] = isfinite(Lr.hi) ? ldexp(fabs(Lr.hi), -105) : 0.0; /* lo = RN(L - hi), certified */
}

/* The reduction's ladder: the rows not within 2^-(p+6) of themselves on the safe path, then by the
 * reference (rows of V alone, except a k-nll-weighted mean, whose rows scale by W and |V| apart),
 * then the reference for the whole reduction; flagged when that is off. Returns the reduced loss. */
static lsce_dd reduce_checked(const lsce_call *c, double *Lrow, unsigned char *lvl, lsce_dtype gdt, int *any_inf) {
  const lsce_params *p = c->prm;
  const int64_t N = c->N;
  const int prec = lsce_ulp_prec(lsce_guard_loss_dtype(c->dtype));
  lsce_dd r;
  double E;
  for (int64_t i = 0; i < N; i++)
    if (lsce_params_in_V(p, c->targets[i])) row_times_invD(Lrow, i, p);
  reduce(c, Lrow, &r, &E, any_inf);
  if (p->nan_mean || *any_inf || total_ok(c, r, E)) return r;
  for (int64_t i = 0; i < N; i++) {
    if (!lsce_params_in_V(p, c->targets[i]) || row_rel_ok(Lrow, i, prec)) continue;
    lsce_dd Ls;
    double Es;
    lsce_row_safe(&Ls, &Es, NULL, gdt, c, i, 0, p->inv_D_m, p->inv_D_e);
    Lrow[3 * i] = Ls.hi; Lrow[3 * i + 1] = Ls.lo; Lrow[3 * i + 2] = Es;
    lvl[i] |= 1;
  }
  reduce(c, Lrow, &r, &E, any_inf);
  if (*any_inf || total_ok(c, r, E)) return r;
  if (!(p->weighting == LSCE_W_NLL_ID && p->reduction == LSCE_RED_MEAN)) {
    for (int64_t i = 0; i < N; i++) {
      if (!lsce_params_in_V(p, c->targets[i]) || (lvl[i] & 24) || row_rel_ok(Lrow, i, prec)) continue;
      lsce_dd Lr;
      int le = 0;
      if (lsce_row_reference(&Lr, NULL, gdt, c, i, &le) == 0 && isfinite(Lr.hi)) {
        /* L_i / D = Lr 2^le inv_D_m 2^inv_D_e: the exponents combined once (no subnormal in between) */
        lsce_dd v = lsce_dd_mul(Lr, p->inv_D_m);
        int e = le + p->inv_D_e;
        Lrow[3 * i] = ldexp(v.hi, e);
        Lrow[3 * i + 1] = ldexp(v.lo, e);
        Lrow[3 * i + 2] = ldexp(fabs(v.hi) * 0x1p-100, e) + ABS_FLOOR;
        /* Lr is the row's value rounded to a double pair: 106 bits only above 2^-969. Below, its
         * parts are subnormal and Lr is within 2^-1074 of the exact value (absolute), which 1/D then
         * scales up (a row whose weights no power of two brings into range, e.g. w_y = 2^-1074 beside
         * 2^769, e = 0: L_i = 3.7 2^-1074, Lr = 4 2^-1074, 1/D = 2^1074: issue #11, a finding of the
         * float32 first pass's forward-only verify). The total's check then fails, and the
         * whole reduction goes to the reference below. */
        if (fabs(Lr.hi) < 0x1p-969) Lrow[3 * i + 2] += ldexp(fabs(lsce_dd_to_d(p->inv_D_m)), e - 1073);
        lvl[i] |= 8;
      }
    }
    reduce(c, Lrow, &r, &E, any_inf);
    if (*any_inf || total_ok(c, r, E)) return r;
  }
  lsce_dd rt;
  int ok = lsce_total_reference(&rt, c) == 0;
  if (ok) { r = rt; *any_inf = 0; }
  int any = 0;
  for (int64_t i = 0; i < N; i++)
    if (lsce_params_in_V(p, c->targets[i]) && !row_rel_ok(Lrow, i, prec)) { lvl[i] |= ok ? 8 : 16; any = 1; }
  if (!any && N > 0) lvl[0] |= ok ? 8 : 16;
  return r;
}

void lsce_guard_finish(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, double *Lrow,
                       unsigned char *lvl) {
  const lsce_params *p = c->prm;
  const int64_t N = c->N;
  const int none = p->reduction == LSCE_RED_NONE;
  /* rung 3 for the rows the safe path could not settle (serially: one reference at a time) */
  for (int64_t i = 0; i < N; i++) {
    if (!(lvl[i] & 6)) continue;
    lsce_dd Lr;
    if (lsce_row_reference(&Lr, (lvl[i] & 4) ? grad : NULL, gdt, c, i, NULL) == 0) {
      if (none) set_ref_row(Lrow, i, Lr); /* a reduction's loss has its own ladder below */
      lvl[i] |= 8;
    } else {
      lvl[i] |= 16;
    }
  }
  if (none) {
    for (int64_t i = 0; i < N; i++) {
      lsce_dd l = lsce_fast_two_sum(Lrow[3 * i], Lrow[3 * i + 1]);
      if (!isfinite(Lrow[3 * i])) l = lsce_dd_from(Lrow[3 * i]);
      loss[i] = l.hi;
      if (c->loss_lo) c->loss_lo[i] = isfinite(l.hi) ? l.lo : 0.0;
    }
  } else {
    int any_inf;
    lsce_dd r = reduce_checked(c, Lrow, lvl, gdt, &any_inf);
    if (p->nan_mean) loss[0] = NAN;
    else if (any_inf) loss[0] = INFINITY;
    else {
      loss[0] = r.hi + r.lo;
      if (c->loss_lo) c->loss_lo[0] = r.lo - (loss[0] - r.hi);
    }
    if (c->loss_lo && !isfinite(loss[0])) c->loss_lo[0] = 0.0;
  }
  if (p->counts) {
    lsce_row_counts *k = p->counts;
    memset(k, 0, sizeof *k);
    for (int64_t i = 0; i < N; i++) {
      if (!lsce_params_in_V(p, c->targets[i])) continue;
      k->rows++;
      if (lvl[i] & 1) k->safe++;
      if (lvl[i] & 32) k->accurate++; /* driver.c: the accurate kernels after a cheaper first pass */
      if (lvl[i] & 8) k->reference++;
      if (lvl[i] & 16) k->flagged++;
    }
  }
}
