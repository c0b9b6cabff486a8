/* verify/diagnose_opts.c: check's diagnosis for the options of issue #15 (docs/cli.md "The diagnosis",
 * step 6). Each candidate is the user's problem with ONE option changed -- the mistakes the issue
 * cites: the z-loss off, or on at a fitted coefficient although off, or over another denominator;
 * the cap written x tanh(x/C), not applied, or applied to a masked class (-inf -> -C); the logit
 * scale dropped or applied as 1/S; the sample weights ignored; another normalizer (a named one or a
 * fitted token count); another sigmoid smoothing form -- and its values are the certified
 * reference's (lsce_reference on the changed problem at the claimed reduction and e: double-double
 * losses and gradients correctly rounded to float64). A z-loss over another denominator is
 * A + B - C of three such results (the claim without z-loss, and the problem at the other
 * normalizer with and without it): each within 2^-104 of its magnitude, so the sum within 2^-102
 * of the largest, far below the noise allowance. Nothing is hard-coded: a candidate differs from the
 * claim only in the field the cause line names.
 *
 * Noise model (stated, not certified; the catalog's, docs/accuracy.md, with the transformed logits):
 * X_i = max_c |x_ic| over the changed problem's transformed logits (double), M and sigma the
 * magnitudes of docs/accuracy.md "The options of issue #15" (lsce_ref_options_floors):
 *   row loss       g_K (w_i ulp_T(X_i) + ulp_T(M_i)),  w_i = s_i (kappa u / D + 2 Z' (X_i + log K)),
 *                  u = K for the sigmoid family (each element its own error) else 1, Z' = Z / D_z;
 *   mean or sum    g_K sum_i w_i ulp_T(X_i) + g_N ulp_T(M);
 *   gradient entry g_K (ulp_T(max(sigma_i, |r_ij|)) + sigma_i ulp_T(X_i)) (the row's scale for
 *                  every entry: looser than the catalog's p_ij s_i), and under a cap also
 *                  g_K S ulp_T(1) w_i: the chain factor S sech^2 evaluated as S (1 - tanh^2) in T
 *                  carries an absolute error of ulp_T(1) S, so a gradient that loses the saturated
 *                  entries this way (pitfall 8) is the claim computed inaccurately (cause accuracy);
 * plus half a unit of the last digit of a --loss typed in decimal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/ref_options.h"
#include "lsce/ulp.h"
#include "diagnose_int.h"

typedef struct {
  const lsce_dg_input *in;
  const lsce_ref_opts *ro;
  int64_t N, K, nloss;
  double gK, gN;
  long double *val;      /* the candidate's losses (nloss) */
  double *gv;            /* its gradient (N*K, with --grad) */
  double *Ml, *sg, *X, *w; /* noise magnitudes: M (nloss), sigma, X_i, w_i (N) */
  double capS;           /* S ulp_T(1) under a cap (the chain factor's absolute error), else 0 */
} octx_d;

/* val/gv (+)= cf * the reference of q; 0 when done, 1 when q cannot be evaluated */
static int ref_add(octx_d *c, const lsce_problem *q, long double cf, int first) {
  lsce_ref_opts o = *c->ro;
  o.want_grad = c->in->grad != NULL;
  o.want_lo = 1;
  o.row_lo = 0;
  o.row_hi = -1;
  lsce_ref_result r;
  lsce_err err;
  /* 2: out of memory (the diagnosis stops: exit 3), 1: the reference cannot evaluate q */
  if (lsce_reference(&r, q, &o, "check", &err)) return strstr(err.line, "out of memory") ? 2 : 1;
  for (int64_t k = 0; k < c->nloss; k++) {
    long double x = cf * ((long double)r.loss[k] + (r.loss_lo ? r.loss_lo[k] : 0));
    c->val[k] = first ? x : c->val[k] + x;
  }
  for (int64_t j = 0; o.want_grad && j < c->N * c->K; j++) {
    double x = (double)(cf * r.grad[j]);
    c->gv[j] = first ? x : c->gv[j] + x;
  }
  lsce_ref_result_free(&r);
  return 0;
}

/* X_i and w_i of the noise model for problem q (see the header) */
static void magnitudes(octx_d *c, const lsce_problem *q) {
  lsce_opt_consts k;
  lsce_options_consts(&k, q);
  const double u = k.sig ? (double)c->K : 1.0;
  double kap = 1;
  if (q->has_weights && (k.sig || lsce_variants[q->variant].weighting != LSCE_W_NONE)) /* weights in use */
    for (int64_t j = 0; j < c->K; j++) if (lsce_weight(q, j) > kap) kap = lsce_weight(q, j);
  for (int64_t i = 0; i < c->N; i++) {
    double X = 0;
    for (int64_t j = 0; j < c->K; j++) {
      double z = lsce_logit(q, i, j), x;
      if (z == -INFINITY) {
        if (!(k.has_cap && q->cap_form == LSCE_CAP_MASK_TO_C)) continue;
        x = k.C;
      } else {
        x = k.S * z;
        if (k.has_cap) x = q->cap_form == LSCE_CAP_X_TANH ? x * tanh(x / k.C) : k.C * tanh(x / k.C);
      }
      if (fabs(x) > X) X = fabs(x);
    }
    c->X[i] = X;
    const int inV = lsce_row_in_V(q, q->variant, i);
    c->w[i] = inV ? lsce_sample_weight(q, i) * (kap * u * k.inv_Dn + 2 * k.zq * (X + log((double)c->K))) : 0;
  }
  lsce_ref_options_floors(c->Ml, c->sg, q);
  c->capS = k.has_cap ? k.S * lsce_ulp_of(1.0, c->in->gdt) : 0;
}

/* the noise allowance of loss value idx (magnitudes() of the candidate done) */
static double loss_noise(const octx_d *c, int64_t idx) {
  const lsce_dtype t = c->in->ldt;
  if (c->in->p->reduction == LSCE_RED_NONE) return c->gK * (c->w[idx] * lsce_ulp_of(c->X[idx], t) + lsce_ulp_of(c->Ml[idx], t)) + c->in->half;
  double s = 0;
  for (int64_t i = 0; i < c->N; i++) if (c->w[i] > 0) s += c->w[i] * lsce_ulp_of(c->X[i], t);
  return c->gK * s + c->gN * lsce_ulp_of(c->Ml[0], t) + c->in->half;
}

/* score and ulp of the values in val/gv against the user's, noise from problem qn */
static void score_vals(octx_d *c, const lsce_problem *qn, int nan_ok, double *score, double *ulp) {
  const lsce_dg_input *in = c->in;
  magnitudes(c, qn);
  double sc = 0, ul = 0;
  for (int64_t k = 0; k < c->nloss; k++) {
    long double r = c->val[k];
    double rh = (double)r, rl = isfinite(rh) ? (double)(r - rh) : 0;
    double s1 = lsce_dg_score1(in->loss[k], rh, loss_noise(c, k), nan_ok);
    double u1 = lsce_ulp_err(in->loss[k], rh, rl, lsce_tau(c->Ml[k], in->ldt), in->ldt);
    if (!(s1 <= sc)) sc = isnan(s1) ? INFINITY : s1;
    if (!(u1 <= ul)) ul = isnan(u1) ? INFINITY : u1;
  }
  for (int64_t i = 0; in->grad && i < c->N; i++) {
    const double *r = c->gv + i * c->K, *y = in->grad + i * c->K, s = c->sg[i];
    double rmax = 0;
    for (int64_t j = 0; j < c->K; j++) if (fabs(r[j]) > rmax) rmax = fabs(r[j]);
    double tau = lsce_tau(s, in->gdt), un = lsce_ulp_of(rmax > tau ? rmax : tau, in->gdt);
    for (int64_t j = 0; j < c->K; j++) {
      double a = fabs(r[j]) > s ? fabs(r[j]) : s;
      double n = c->gK * (lsce_ulp_of(a, in->gdt) + s * lsce_ulp_of(c->X[i], in->gdt) + c->capS * c->w[i]);
      double s1 = lsce_dg_score1(y[j], r[j], n, nan_ok), u1 = lsce_dg_score1(y[j], r[j], un, 1);
      if (!(s1 <= sc)) sc = isnan(s1) ? INFINITY : s1;
      if (!(u1 <= ul)) ul = isnan(u1) ? INFINITY : u1;
    }
  }
  *score = sc;
  *ulp = ul;
}

/* Adds the candidate sum_k cf[k] ref(qs[k]) (noise from qs[0]) named by `field`; its index, -1
 * when the reference cannot evaluate it, -2 when out of memory. */
static int cand(lsce_diagnosis *d, octx_d *c, const lsce_problem *const *qs, const long double *cf, int nq,
                const char *field, int orank, int src, int nan_ok) {
  for (int k = 0; k < nq; k++) {
    const int a = ref_add(c, qs[k], cf[k], k == 0);
    if (a) return a == 2 ? -2 : -1;
  }
  lsce_dg_cand *cd = lsce_dg_add(d, qs[0]->variant, (int)qs[0]->reduction, src, NULL, qs[0]->e, NULL);
  if (!cd) return -2;
  snprintf(cd->opt, sizeof cd->opt, "%s", field);
  cd->orank = orank;
  score_vals(c, qs[0], nan_ok, &cd->score, &cd->ulp);
  cd->fits = cd->score <= 1;
  return d->ncands - 1;
}

static int cand1(lsce_diagnosis *d, octx_d *c, const lsce_problem *q, const char *field, int orank) {
  const lsce_problem *qs[1] = {q};
  const long double one[1] = {1};
  return cand(d, c, qs, one, 1, field, orank, LSCE_DG_OPTION, 0);
}

static const char *norm_name(int n) {
  return n == LSCE_NORM_VALID ? "valid" : n == LSCE_NORM_ROWS ? "rows" : n == LSCE_NORM_SAMPLE_WEIGHTS ? "sample-weights" : "nonzero";
}

/* A fitted parameter (the z-loss C, a token count) must be over-determined, like a free e: either a
 * gradient is given (N*K more values verify it), or the scalar pins it down to a relative width of
 * 2^-20 or less, so that a value computed inaccurately lands on a short decimal (or an integer) by
 * chance with probability about 2^-20 times 10^2 (or D) at most. */
static int pinned(const octx_d *c, double width, double at) {
  return c->in->grad != NULL || width <= 0x1p-20 * fabs(at);
}

/* the fitted z-loss coefficient (a claim without z-loss, mean or sum): the loss is L0 + C Zt, Zt
 * the reference's z term at C = 1; C is the shortest decimal of at most 2 significant digits whose
 * value is within the noise of the user's scalar (pinned() above), then verified on every value */
static int zloss_fit(lsce_diagnosis *d, octx_d *c, const lsce_problem *p) {
  const double y = c->in->loss[0];
  if (!isfinite(y)) return 0;
  lsce_problem q = *p;
  mpq_t Cq;
  mpq_init(Cq);
  mpq_set_ui(Cq, 1, 1);
  q.has_zloss = 1;
  q.zloss[0] = Cq[0];
  int rc = 0, a0 = ref_add(c, p, 1, 1), a1 = 0;
  if (!a0) {
    long double L0 = c->val[0];
    magnitudes(c, p);
    double n = loss_noise(c, 0);
    if (!(a1 = ref_add(c, &q, 1, 1))) {
      long double Zt = c->val[0] - L0;
      char str[64];
      if (Zt > 0 && isfinite((double)Zt)) {
        double a = (double)((y - n - L0) / Zt), b = (double)((y + n - L0) / Zt), es = (double)((y - L0) / Zt);
        if (b > 0 && pinned(c, b - a, es) && lsce_dg_shortest(Cq, str, sizeof str, a, b, es) && mpq_sgn(Cq) > 0 &&
            lsce_dg_sig_digits(str) <= 2) {
          char f[80];
          snprintf(f, sizeof f, "z-loss=%s", str);
          rc = cand1(d, c, &q, f, 12);
        }
      }
    }
  }
  mpq_clear(Cq);
  return rc == -2 || a0 == 2 || a1 == 2 ? -2 : 0;
}

/* the other normalizers and a fitted token count (mean; not k-nll-weighted, which has two) */
static int normalizers(lsce_diagnosis *d, octx_d *c, const lsce_problem *p, int64_t nV) {
  const int torch = lsce_variants[p->variant].weighting == LSCE_W_TORCH;
  for (int n = LSCE_NORM_VALID; n <= LSCE_NORM_NONZERO; n++) {
    if (n == p->normalizer || ((n == LSCE_NORM_SAMPLE_WEIGHTS || n == LSCE_NORM_NONZERO) && !p->has_sw)) continue;
    if (n == LSCE_NORM_VALID && p->normalizer == LSCE_NORM_DEFAULT && !torch) continue; /* the default */
    if (n == LSCE_NORM_ROWS && nV == c->N && (p->normalizer == LSCE_NORM_VALID || (p->normalizer == LSCE_NORM_DEFAULT && !torch)))
      continue;
    lsce_problem q = *p;
    q.normalizer = n;
    char f[80];
    snprintf(f, sizeof f, "normalizer=%s", norm_name(n));
    if (cand1(d, c, &q, f, 50 + n) == -2) return -2;
  }
  const double y = c->in->loss[0];
  lsce_problem q = *p;
  q.normalizer = LSCE_NORM_COUNT;
  q.normalizer_n = 1;
  if (!isfinite(y) || y == 0) return 0;
  const int a = ref_add(c, &q, 1, 1);
  if (a) return a == 2 ? -2 : 0;
  double D = (double)(c->val[0] / y);
  if (!(D >= 0.5 && D < 0x1p40)) return 0;
  magnitudes(c, p);
  if (!pinned(c, 2 * D * loss_noise(c, 0) / fabs(y), D)) return 0; /* D's width: D 2n / |y| */
  q.normalizer_n = (int64_t)llround(D);
  if (p->normalizer == LSCE_NORM_COUNT && q.normalizer_n == p->normalizer_n) return 0;
  char f[80];
  snprintf(f, sizeof f, "normalizer=%lld", (long long)q.normalizer_n);
  return cand1(d, c, &q, f, 60) == -2 ? -2 : 0;
}

static int binary_targets(const lsce_problem *p) {
  for (int64_t i = 0; p->soft && i < p->N * p->K; i++) {
    double t = lsce_npy_get_f(&p->targets, i);
    if (t != 0 && t != 1) return 0;
  }
  return 1;
}

int lsce_dg_options(lsce_diagnosis *d, const lsce_dg_input *in, const lsce_ref_opts *ro, int with_claim, int *claim) {
  const lsce_problem *p = in->p;
  const lsce_variant *dv = &lsce_variants[p->variant];
  if (dv->weighting == LSCE_W_SHARD) return LSCE_OK; /* takes no option (modelled per rank elsewhere) */
  octx_d c = {in, ro, p->N, p->K, p->reduction == LSCE_RED_NONE ? p->N : 1, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0};
  c.gK = 2 * (1 + log2((double)(p->K > 2 ? p->K : 2)));
  c.gN = c.gK + 2 * (1 + log2((double)(p->N > 2 ? p->N : 2)));
  const size_t n1 = (size_t)(p->N > 0 ? p->N : 1);
  c.val = malloc(sizeof(long double) * n1);
  c.Ml = malloc(sizeof(double) * n1);
  c.sg = malloc(sizeof(double) * n1);
  c.X = malloc(sizeof(double) * n1);
  c.w = malloc(sizeof(double) * n1);
  if (in->grad) c.gv = malloc(sizeof(double) * (size_t)(p->N * p->K > 0 ? p->N * p->K : 1));
  int rc = 0;
  if (!c.val || !c.Ml || !c.sg || !c.X || !c.w || (in->grad && !c.gv)) rc = -2;
  const int mean = p->reduction == LSCE_RED_MEAN, sig = !strcmp(dv->family, "sigmoid");
  const int nll = dv->weighting == LSCE_W_NLL;
  const int zon = !sig && p->has_zloss && mpq_sgn(p->zloss) > 0;
  int64_t nV = 0;
  for (int64_t i = 0; i < p->N; i++) nV += lsce_row_in_V(p, p->variant, i);
  mpq_t r1;
  mpq_init(r1);
  if (!rc && with_claim) {
    const lsce_problem *qs[1] = {p};
    const long double one[1] = {1};
    int k = cand(d, &c, qs, one, 1, "", 0, LSCE_DG_GIVEN, 1);
    if (k == -2) rc = -2;
    else *claim = k;
  }
  if (!rc && zon) {
    /* the z-loss missing although on (Liger's lse_square_scale not passed) */
    lsce_problem q0 = *p;
    q0.has_zloss = 0;
    rc = cand1(d, &c, &q0, "z-loss=0", 10) == -2 ? -2 : 0;
    /* over another denominator: T5X's sum s_i, Liger/flash-attn's |V|, all rows */
    const int own = p->normalizer == LSCE_NORM_DEFAULT ? LSCE_NORM_VALID : p->normalizer;
    for (int n = LSCE_NORM_VALID; n <= LSCE_NORM_NONZERO && mean && !nll && !rc; n++) {
      if (n == own || ((n == LSCE_NORM_SAMPLE_WEIGHTS || n == LSCE_NORM_NONZERO) && !p->has_sw)) continue;
      if (n == LSCE_NORM_ROWS && nV == p->N && own == LSCE_NORM_VALID) continue;
      lsce_problem qb = *p, qc;
      qb.normalizer = n;
      qc = qb;
      qc.has_zloss = 0;
      const lsce_problem *qs[3] = {&q0, &qb, &qc};
      const long double cf[3] = {1, 1, -1};
      char f[80];
      snprintf(f, sizeof f, "z-loss-normalizer=%s", norm_name(n));
      rc = cand(d, &c, qs, cf, 3, f, 11, LSCE_DG_OPTION, 0) == -2 ? -2 : 0;
    }
  }
  /* the z-loss added although off (OLMo-core #702): its coefficient fitted */
  if (!rc && !sig && !zon && p->reduction != LSCE_RED_NONE) rc = zloss_fit(d, &c, p);
  if (!rc && p->has_softcap) {
    lsce_problem q = *p;
    q.has_softcap = 0;
    rc = cand1(d, &c, &q, "softcap=off", 20) == -2 ? -2 : 0;
    q = *p;
    q.cap_form = LSCE_CAP_X_TANH; /* unsloth-zoo #593 */
    if (!rc) rc = cand1(d, &c, &q, "softcap-form=x-tanh", 21) == -2 ? -2 : 0;
    int masked = 0;
    for (int64_t i = 0; i < p->N && !masked; i++)
      for (int64_t j = 0; j < p->K && lsce_row_in_V(p, p->variant, i); j++) if (lsce_logit(p, i, j) == -INFINITY) masked = 1;
    q.cap_form = LSCE_CAP_MASK_TO_C;
    if (!rc && masked) rc = cand1(d, &c, &q, "softcap-form=mask-to-C", 22) == -2 ? -2 : 0;
  }
  if (!rc && p->has_scale && mpq_cmp_ui(p->scale, 1, 1) != 0) {
    lsce_problem q = *p;
    q.has_scale = 0; /* unsloth #11277 */
    rc = cand1(d, &c, &q, "logit-scale=1", 30) == -2 ? -2 : 0;
    mpq_inv(r1, p->scale);
    q.has_scale = 1;
    q.scale[0] = r1[0];
    char s[64], f[80];
    lsce_q_str(s, sizeof s, r1);
    snprintf(f, sizeof f, "logit-scale=%s", s);
    if (!rc) rc = cand1(d, &c, &q, f, 31) == -2 ? -2 : 0;
  }
  if (!rc && p->has_sw) {
    lsce_problem q = *p;
    q.has_sw = 0;
    if (q.normalizer == LSCE_NORM_SAMPLE_WEIGHTS || q.normalizer == LSCE_NORM_NONZERO) q.normalizer = LSCE_NORM_VALID;
    rc = cand1(d, &c, &q, "sample-weights=ignored", 40) == -2 ? -2 : 0;
  }
  /* a zero denominator: TF Python's divide_no_nan gives 0 (loss and gradient) where lsce gives NaN:
   * the reference's numerator (normalizer 1) times 0 */
  lsce_opt_consts kc;
  lsce_options_consts(&kc, p);
  if (!rc && mean && kc.nan_mean && !nll) {
    lsce_problem q = *p;
    q.normalizer = LSCE_NORM_COUNT;
    q.normalizer_n = 1;
    const lsce_problem *qs[1] = {&q};
    const long double zero[1] = {0};
    rc = cand(d, &c, qs, zero, 1, "zero-denominator=0", 45, LSCE_DG_OPTION, 0) == -2 ? -2 : 0;
  }
  /* TE #2476 (every row), transformers #34191 (another token count) */
  if (!rc && mean && !nll) rc = normalizers(d, &c, p, nV);
  /* the other sigmoid smoothings: t(1-e)+e/2, mmpretrain's (1-2e)t+e, timm's softmax target */
  for (int v = 0; v < LSCE_V_COUNT && sig && !rc; v++) {
    if (v == p->variant || strcmp(lsce_variants[v].family, "sigmoid")) continue;
    if (p->soft && !lsce_variant_takes_soft(v)) continue;
    if (v == LSCE_V_BCE_MULTILABEL && !binary_targets(p)) continue;
    lsce_problem q = *p;
    q.variant = v;
    rc = cand1(d, &c, &q, "", 70) == -2 ? -2 : 0;
  }
  mpq_clear(r1);
  free(c.val); free(c.gv); free(c.Ml); free(c.sg); free(c.X); free(c.w);
  return rc ? LSCE_EINCOMPLETE : LSCE_OK;
}
