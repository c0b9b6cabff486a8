/* verify/diagnose.c: see lsce/diagnose.h. Accuracy of the candidate values: each is (1-e) A0 + e A1 - h H(e)
 * in long double (64-bit significand) from double-double values at e = 0 and e = 1 -- the certified
 * reference, or from 2^14 logits on verify's fast certifier (within 2^-80 of their magnitude before
 * cancellation; the reference where it declines) -- and H computed in long double, so a candidate loss is within about 2^-60 of its
 * magnitude (gradients kept as doubles: 2^-52) -- below the smallest noise allowance (>= 2 ulp_T,
 * and 2^-52 of the magnitude is 1 ulp of float64 at most). Memory: check models one variant at a
 * time (two gradients of N*K doubles, the softmax, and one certifier result at a time). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/ref_options.h"
#include "lsce/diagnose.h"
#include "lsce/json.h"
#include "lsce/megatron.h"
#include "lsce/ulp.h"
#include "diagnose_int.h"
#if defined(LSCE_FUZZ_CMD_CHECK) && !defined(LSCE_FUZZ_WITH_IMPLS)
#define DIAG_FAST 0 /* a fuzz build without the implementations: the reference only */
#else
#include "lsce/certify.h"
#define DIAG_FAST 1
#endif

/* ---- decimals -------------------------------------------------------------------------------- */
void lsce_q_str(char *out, size_t n, const mpq_t q) {
  /* terminating iff q * 10^k is an integer for some k; at most 17 significant digits shown */
  mpq_t t;
  mpz_t p10;
  mpq_init(t);
  mpz_init(p10);
  int done = 0;
  for (int k = 0; k <= 40 && !done; k++) {
    mpz_ui_pow_ui(p10, 10, (unsigned long)k);
    mpz_mul(mpq_numref(t), mpq_numref(q), p10);
    mpz_set(mpq_denref(t), mpq_denref(q));
    mpq_canonicalize(t);
    if (mpz_cmp_ui(mpq_denref(t), 1) != 0) continue;
    char digits[64];
    if (mpz_sizeinbase(mpq_numref(t), 10) > 40) break;
    mpz_get_str(digits, 10, mpq_numref(t));
    size_t nd = strlen(digits), sig = nd;
    while (sig > 0 && digits[sig - 1] == '0') sig--;
    if (sig > 17) break;
    char buf[128];
    if (k == 0) snprintf(buf, sizeof buf, "%s", digits);
    else if ((size_t)k >= nd) {
      size_t z = (size_t)k - nd, o = 0;
      buf[o++] = '0'; buf[o++] = '.';
      while (z--) buf[o++] = '0';
      snprintf(buf + o, sizeof buf - o, "%s", digits);
    } else snprintf(buf, sizeof buf, "%.*s.%s", (int)(nd - (size_t)k), digits, digits + nd - (size_t)k);
    snprintf(out, n, "%s", buf);
    done = 1;
  }
  mpz_clear(p10);
  mpq_clear(t);
  if (!done) snprintf(out, n, "%.6g", mpq_get_d(q));
}

const char *lsce_red_name(int r) { return r == LSCE_RED_SUM ? "sum" : r == LSCE_RED_NONE ? "none" : "mean"; }

int lsce_dg_sig_digits(const char *s) {
  int n = 0, lead = 1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') continue;
    if (*s == '0' && lead) continue;
    lead = 0;
    n++;
  }
  return n ? n : 1;
}

/* k * 10^E as an exact rational */
static void q_dec(mpq_t q, long long k, int E) {
  mpz_t num, den;
  mpz_inits(num, den, NULL);
  mpz_set_si(num, (long)k);
  mpz_ui_pow_ui(den, 10, (unsigned long)abs(E));
  if (E >= 0) { mpz_mul(num, num, den); mpz_set_ui(den, 1); }
  mpq_set_num(q, num);
  mpq_set_den(q, den);
  mpq_canonicalize(q);
  mpz_clears(num, den, NULL);
}

/* Shortest decimal in [a, b] (within [0, 1]), nearest to es among those of that length. */
int lsce_dg_shortest(mpq_t q, char *str, size_t n, double a, double b, double es) {
  if (a < 0) a = 0;
  if (b > 1) b = 1;
  if (a > b) return 0;
  if (a <= 0) { mpq_set_ui(q, 0, 1); snprintf(str, n, "0"); return 1; }
  if (b >= 1) { mpq_set_ui(q, 1, 1); snprintf(str, n, "1"); return 1; }
  for (int nd = 1; nd <= 17; nd++) {
    int e10 = (int)floor(log10(es > 0 ? es : a));
    double best = NAN, bestd = INFINITY;
    long long bk = 0;
    int bE = 0;
    for (int de = -1; de <= 1; de++) {
      int E = e10 + de - nd + 1;
      double step = pow(10.0, E);
      double lo = ceil(a / step - 1e-9), hi = floor(b / step + 1e-9);
      if (hi - lo > 4) { lo = floor(es / step) - 1; hi = lo + 3; }
      for (double k = lo; k <= hi; k++) {
        if (k < 1) continue;
        double c = k * step;
        if (c < a * (1 - 1e-15) || c > b * (1 + 1e-15)) continue;
        if (fabs(c - es) < bestd) { bestd = fabs(c - es); best = c; bk = (long long)k; bE = E; }
      }
    }
    if (!isnan(best)) {
      q_dec(q, bk, bE);
      lsce_q_str(str, n, q);
      return 1;
    }
  }
  return 0;
}

/* ---- the model: every variant's values, affine in e ------------------------------------------ */
typedef struct {
  int ok;
  long double *x0, *x1;  /* per-row losses at e = 0, 1 (KL: the CE part, H(1) added back) */
  long double S0, S1;
  double *g0, *g1;       /* per-row gradients at e = 0, 1 (NULL without a user gradient) */
  unsigned char *inV;
  double nV, D0, D1, m;  /* mean denominators of the e^0 and e^1 parts; m: KL divisor, 0 otherwise */
  double zsum;           /* sum over V of kappa_i ulp_T(Z_i) */
  double kap;
  int sig;               /* identify's sigmoid family: kap = K max_c w_c (each element its own
                          * error), gkap = max_c w_c the gradient's (verify/diagnose_opts.c's model) */
  double gkap;
} dvar;

typedef struct {
  const lsce_dg_input *in;
  int64_t N, K, nloss;
  double *Z, *P;         /* row max |z|; softmax (with a gradient) */
  double *xd, capS;      /* with a gradient: row max of the chain factor x'(z); S ulp_T(1) under a cap */
  double gK, gN;
  long double *lse;      /* k1-megatron's models: per-row log-sum-exp (NULL until the first) */
  int nan_ok;            /* a NaN value matches a NaN (only the claim: a NaN is no evidence of another form) */
  int opts_ok;           /* identify: the options that keep every value affine in e are modelled */
  dvar var[LSCE_V_COUNT];
  dvar uw[LSCE_V_COUNT]; /* identify, a weighted case: the sigmoid variants with the weights left out */
} dcase;

static long double H_of(long double e, double m) {
  if (m <= 0 || e <= 0) return 0;
  if (e >= 1) return logl((long double)m);
  return -(1 - e) * log1pl(-e) - e * logl(e / (long double)m);
}

/* identify's options (docs/cli.md "probe and identify"): the logit scale and the cap transform the
 * logits, so every value stays affine in e; the z term is constant in e, and its denominator |V|
 * is the mean's own except for k-torch-weighted (W) and k-nll-weighted (W and |V|), left out of a
 * mean with z-loss. The sigmoid family is affine in e too (t' is affine in e, the element loss
 * softplus(x) - x t' affine in t'); it takes no z-loss, so a z-loss Z > 0 leaves it out. Sample
 * weights, normalizers and soft targets are not modelled. */
static int affine_options(const lsce_problem *p, int v) {
  const lsce_variant *d = &lsce_variants[v];
  if (p->soft || p->has_sw || p->normalizer != LSCE_NORM_DEFAULT) return 0;
  if (!strcmp(d->family, "sigmoid")) return !(p->has_zloss && mpq_sgn(p->zloss) > 0);
  if (strcmp(d->family, "softmax")) return 0;
  if (p->has_zloss && mpq_sgn(p->zloss) > 0 && p->reduction == LSCE_RED_MEAN &&
      (d->weighting == LSCE_W_TORCH || d->weighting == LSCE_W_NLL))
    return 0;
  return 1;
}

static int applicable(const lsce_problem *p, int v, int opts_ok) {
  const lsce_variant *d = &lsce_variants[v];
  /* the model below knows the catalog's softmax means only: an issue #15 problem or variant is
   * diagnosed by verify/diagnose_opts.c instead (the claim with one option changed), except
   * identify's affine options and (identify only) the sigmoid family */
  if (strcmp(d->family, "softmax") && !(opts_ok && affine_options(p, v))) return 0;
  if (lsce_uses_options(p) && !(opts_ok && affine_options(p, v))) return 0;
  if (d->needs_weights && !p->has_weights) return 0;
  if (d->needs_pad_index && p->pad_index < 0) return 0;
  if (d->weighting == LSCE_W_SHARD) return 0; /* modelled per (T, rank) by dvar_build_megatron */
  return p->K >= d->min_K;
}

static void dvar_free(dvar *dv) {
  free(dv->x0); free(dv->x1); free(dv->g0); free(dv->g1); free(dv->inV);
  memset(dv, 0, sizeof *dv);
}

#if DIAG_FAST
/* Every certified output's bound within 2^-70 of its value (or 2^-1000 absolute): negligible
 * against the diagnosis's noise model (a few ulps of at most 53 bits). */
static int certified_tight(const lsce_ref_result *r, int64_t K, int want_grad) {
  for (int64_t i = 0; i < r->nloss; i++) {
    double e = r->loss_err ? r->loss_err[i] : 0;
    if (!(e <= 0x1p-1000 || e <= 0x1p-70 * fabs(r->loss[i]))) return 0;
  }
  if (want_grad && r->grad_err)
    for (int64_t i = 0; i < r->nloss; i++) {
      double big = 0;
      for (int64_t j = 0; j < K; j++) big = fmax(big, fabs(r->grad[i * K + j]));
      double e = r->grad_err[i];
      if (!(e <= 0x1p-1000 || e <= 0x1p-70 * big)) return 0;
    }
  return 1;
}
#endif

/* reference of variant v at e = k (0 or 1), reduction none */
static int ref_at(lsce_ref_result *r, const lsce_problem *p, int v, unsigned k, int want_grad, const lsce_ref_opts *ro) {
  lsce_problem q = *p;
  mpq_t e;
  mpq_init(e);
  mpq_set_ui(e, k, 1);
  q.e[0] = e[0];
  q.variant = v;
  q.reduction = LSCE_RED_NONE;
  lsce_ref_opts o = *ro;
  o.want_grad = want_grad;
  o.want_lo = 1;
  lsce_err err;
  int rc = 1;
#if DIAG_FAST
  /* the fast certifier pays a thread start per call: worth it from about 2^14 logits. Its values
   * are kept only where its rigorous bound is negligible against the noise model (2^-70 of the
   * value, or below 2^-1000 absolute); anywhere else the reference decides. */
  if (p->N * p->K >= (1 << 14) && !lsce_uses_options(p)) {
    rc = lsce_certify_fast(r, &q, want_grad, 2, &err);
    if (!rc && !certified_tight(r, p->K, want_grad)) {
      lsce_ref_result_free(r);
      memset(r, 0, sizeof *r);
      rc = 1;
    }
  }
#endif
  if (rc) rc = lsce_reference(r, &q, &o, "check", &err);
  mpq_clear(e);
  return rc;
}

/* Models variant v on problem p (c's, or a copy of it without class weights); dv->ok = 0 when v
 * cannot be evaluated there. LSCE_EINCOMPLETE when out of memory. The two certifier results are
 * taken one after the other. */
static int dvar_build_p(dvar *dv, const dcase *c, const lsce_problem *p, int v, const lsce_ref_opts *ro) {
  const int64_t N = c->N, K = c->K;
  memset(dv, 0, sizeof *dv);
  if (!applicable(p, v, c->opts_ok)) return LSCE_OK;
  const int wg = c->in->grad != NULL;
  const lsce_variant *d = &lsce_variants[v];
  dv->x0 = malloc(sizeof(long double) * (size_t)(N ? N : 1));
  dv->x1 = malloc(sizeof(long double) * (size_t)(N ? N : 1));
  dv->inV = malloc((size_t)(N ? N : 1));
  if (!dv->x0 || !dv->x1 || !dv->inV) { dvar_free(dv); return LSCE_EINCOMPLETE; }
  dv->m = d->kl ? (double)(K - d->off_divisor) : 0;
  for (unsigned k = 0; k <= 1; k++) {
    lsce_ref_result r;
    if (ref_at(&r, p, v, k, wg, ro)) { dvar_free(dv); return LSCE_OK; } /* not evaluable here */
    long double *x = k ? dv->x1 : dv->x0;
    for (int64_t i = 0; i < N; i++) x[i] = (long double)r.loss[i] + r.loss_lo[i];
    if (wg) { if (k) dv->g1 = r.grad; else dv->g0 = r.grad; r.grad = NULL; }
    lsce_ref_result_free(&r);
  }
  dv->kap = 1;
  dv->sig = !strcmp(d->family, "sigmoid");
  if (d->weighting != LSCE_W_NONE || (dv->sig && p->has_weights))
    for (int64_t j = 0; j < K; j++) if (lsce_weight(p, j) > dv->kap) dv->kap = lsce_weight(p, j);
  dv->gkap = dv->kap;
  if (dv->sig) dv->kap *= (double)K; /* u = K: verify/diagnose_opts.c's w_i */
  if (p->has_zloss && !dv->sig) { /* the z term: 2 Z |lse| times lse's error (identify's options; Z_i below is lse's scale) */
    double zm = 0;
    for (int64_t i = 0; i < N; i++) if (c->Z[i] > zm) zm = c->Z[i];
    dv->kap += 2 * mpq_get_d(p->zloss) * (zm + log((double)K));
  }
  double W = 0;
  for (int64_t i = 0; i < N; i++) {
    dv->inV[i] = (unsigned char)lsce_row_in_V(p, v, i);
    if (dv->inV[i]) {
      if (d->kl) dv->x1[i] += H_of(1, dv->m);
      dv->nV += 1;
      W += lsce_weight(p, lsce_target(p, i));
      dv->zsum += dv->kap * lsce_ulp_of(c->Z[i], c->in->ldt);
    }
    dv->S0 += dv->x0[i];
    dv->S1 += dv->x1[i];
  }
  dv->D0 = dv->D1 = dv->sig ? dv->nV * (double)K : dv->nV; /* the sigmoid mean: over |V| K elements */
  if (d->weighting == LSCE_W_TORCH) dv->D0 = dv->D1 = W;
  if (d->weighting == LSCE_W_NLL) dv->D0 = W;
  dv->ok = 1;
  return LSCE_OK;
}

static int dvar_build(dvar *dv, const dcase *c, int v, const lsce_ref_opts *ro) {
  return dvar_build_p(dv, c, c->in->p, v, ro);
}

/* k1-megatron at T ranks, rank r (docs/formulations.md "k1-megatron"): per row in V the loss is
 * (1 - e') CE_i + e' M_i with e' = e V_p/(V_p-1), CE_i = -lp_y and M_i = the mean of -lp_c over the
 * shard S_r, i.e. affine in e; modelled at e = 0 and e = 1 (e' = V_p/(V_p-1), the line through the
 * domain e' <= 1). -lp_c = lse - z_c in long double, lse = m + log1p(sum_{c != jm} exp(z_c - m))
 * with expl/log1pl: within about (K + 4) 2^-64 of |lse| + |z_c|, far below the noise model's
 * g_K ulp_T(Z_i). A masked target makes the row +inf at every e (exact but at e' = 1 with the
 * target off the shard), a masked class of the shard +inf for e > 0. Gradient rows (before 1/D):
 * p_j - (1 - e')[j == y] - (e'/V_p)[j in S_r] from the double softmax (2^-52, as the others). */
/* the variant of Megatron's partition form: the one whose weights are the shard's (a property of
 * the variant table, lsce/variants.inc, not an id); -1 when the catalog has none */
static int shard_variant(void) {
  for (int v = 0; v < LSCE_V_COUNT; v++) if (lsce_variants[v].weighting == LSCE_W_SHARD) return v;
  return -1;
}

static int dvar_build_megatron(dvar *dv, dcase *c, int64_t T, int64_t r) {
  const lsce_problem *p = c->in->p;
  const int64_t N = c->N, K = c->K;
  memset(dv, 0, sizeof *dv);
  if (T < 1 || K % T != 0 || K < 2 * T || r < 0 || r >= T) return LSCE_OK;
  if (!c->lse) {
    c->lse = malloc(sizeof(long double) * (size_t)(N ? N : 1));
    if (!c->lse) return LSCE_EINCOMPLETE;
    for (int64_t i = 0; i < N; i++) {
      double m = -INFINITY;
      int64_t jm = -1;
      for (int64_t j = 0; j < K; j++) { double z = lsce_logit(p, i, j); if (z > m) { m = z; jm = j; } }
      long double s = 0;
      for (int64_t j = 0; j < K && jm >= 0; j++) if (j != jm) s += expl((long double)lsce_logit(p, i, j) - m);
      c->lse[i] = jm >= 0 ? (long double)m + log1pl(s) : (long double)INFINITY;
    }
  }
  const int wg = c->in->grad != NULL;
  const int64_t vp = K / T, lo = r * vp, hi = lo + vp;
  const int mv = shard_variant();
  const long double e1 = (long double)vp / (long double)(vp - 1); /* e' at e = 1 */
  dv->x0 = malloc(sizeof(long double) * (size_t)(N ? N : 1));
  dv->x1 = malloc(sizeof(long double) * (size_t)(N ? N : 1));
  dv->inV = malloc((size_t)(N ? N : 1));
  if (wg) {
    dv->g0 = calloc((size_t)(N * K > 0 ? N * K : 1), sizeof(double));
    dv->g1 = calloc((size_t)(N * K > 0 ? N * K : 1), sizeof(double));
  }
  if (!dv->x0 || !dv->x1 || !dv->inV || (wg && (!dv->g0 || !dv->g1))) { dvar_free(dv); return LSCE_EINCOMPLETE; }
  dv->kap = 1;
  for (int64_t i = 0; i < N; i++) {
    dv->inV[i] = (unsigned char)lsce_row_in_V(p, mv, i);
    dv->x0[i] = dv->x1[i] = 0;
    if (!dv->inV[i]) continue;
    const int64_t y = lsce_target(p, i);
    const long double L = c->lse[i];
    double zy = lsce_logit(p, i, y);
    long double ce = zy == -INFINITY ? (long double)INFINITY : L - zy, msum = 0;
    for (int64_t j = lo; j < hi; j++) {
      double z = lsce_logit(p, i, j);
      msum += z == -INFINITY ? (long double)INFINITY : L - z;
    }
    if (isinf((double)ce)) dv->x0[i] = dv->x1[i] = ce;
    else {
      dv->x0[i] = ce;
      dv->x1[i] = isinf((double)msum) ? msum : (1 - e1) * ce + e1 * (msum / (long double)vp);
    }
    dv->nV += 1;
    dv->zsum += dv->kap * lsce_ulp_of(c->Z[i], c->in->ldt);
    dv->S0 += dv->x0[i];
    dv->S1 += dv->x1[i];
    for (int64_t j = 0; wg && j < K; j++) {
      double pj = c->P[i * K + j];
      dv->g0[i * K + j] = pj - (j == y ? 1.0 : 0.0);
      dv->g1[i * K + j] = (double)((long double)pj - (j == y ? 1 - e1 : 0) - (j >= lo && j < hi ? e1 / vp : 0));
    }
  }
  dv->D0 = dv->D1 = dv->nV;
  dv->ok = 1;
  return LSCE_OK;
}

static void dcase_free(dcase *c) {
  for (int v = 0; v < LSCE_V_COUNT; v++) { dvar_free(&c->var[v]); dvar_free(&c->uw[v]); }
  free(c->Z); free(c->P); free(c->xd); free(c->lse);
}

/* the logit transform in double (noise scales only): S z, then C tanh(. / C) when C > 0 */
static double xf(double z, double S, double C) {
  if (z == -INFINITY) return z;
  return C > 0 ? C * tanh(S * z / C) : S * z;
}

/* the problem-level parts; with all_vars, every variant's model too (identify: small cases) */
static int dcase_build(dcase *c, const lsce_dg_input *in, const lsce_ref_opts *ro, int all_vars) {
  const lsce_problem *p = in->p;
  memset(c, 0, sizeof *c);
  c->opts_ok = all_vars;
  c->in = in;
  c->N = p->N; c->K = p->K;
  c->nloss = p->reduction == LSCE_RED_NONE ? p->N : 1;
  c->gK = 2 * (1 + log2((double)(p->K > 2 ? p->K : 2)));
  c->gN = c->gK + 2 * (1 + log2((double)(p->N > 2 ? p->N : 2)));
  c->Z = calloc((size_t)(c->N ? c->N : 1), sizeof(double));
  if (in->grad) c->P = calloc((size_t)(c->N * c->K > 0 ? c->N * c->K : 1), sizeof(double));
  if (in->grad) c->xd = calloc((size_t)(c->N ? c->N : 1), sizeof(double));
  if (!c->Z || (in->grad && (!c->P || !c->xd))) return LSCE_EINCOMPLETE;
  /* identify's options: the noise model sees the transformed logits x = C tanh(S z / C) (in
   * double: a noise scale, not a value) and p_j times the chain factor x'(z_j) */
  const double S = p->has_scale ? mpq_get_d(p->scale) : 1, C = p->has_softcap ? mpq_get_d(p->softcap) : 0;
  c->capS = C > 0 ? S * lsce_ulp_of(1.0, in->gdt) : 0;
  for (int64_t i = 0; i < c->N; i++) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < c->K; j++) {
      double z = xf(lsce_logit(p, i, j), S, C);
      if (isfinite(z) && fabs(z) > c->Z[i]) c->Z[i] = fabs(z);
      if (z > mx) mx = z;
    }
    for (int64_t j = 0; c->xd && j < c->K; j++) { /* the sigmoid family's chain factor (a noise scale) */
      double z = lsce_logit(p, i, j), u = C > 0 ? fabs(S * z / C) : 0, a = exp(-2 * u);
      double f = z == -INFINITY ? (C > 0 ? 0 : S) : C > 0 ? S * 4 * a / ((1 + a) * (1 + a)) : S;
      if (f > c->xd[i]) c->xd[i] = f;
    }
    if (!c->P || !isfinite(mx)) continue;
    double s = 0;
    for (int64_t j = 0; j < c->K; j++) s += (c->P[i * c->K + j] = exp(xf(lsce_logit(p, i, j), S, C) - mx));
    for (int64_t j = 0; j < c->K; j++) {
      double z = lsce_logit(p, i, j), u = C > 0 ? fabs(S * z / C) : 0, a = exp(-2 * u);
      c->P[i * c->K + j] *= C > 0 ? S * 4 * a / ((1 + a) * (1 + a)) : S;
      c->P[i * c->K + j] /= s;
    }
  }
  for (int v = 0; v < LSCE_V_COUNT && all_vars; v++)
    if (dvar_build(&c->var[v], c, v, ro)) return LSCE_EINCOMPLETE;
  /* identify: an unweighted sigmoid loss run on a weighted case (the family's weights are optional,
   * so the same id fits with and without them; lsce_id_cand.noweights says which) */
  lsce_problem q = *p;
  q.has_weights = 0;
  for (int v = 0; v < LSCE_V_COUNT && all_vars && p->has_weights; v++)
    if (!strcmp(lsce_variants[v].family, "sigmoid") && dvar_build_p(&c->uw[v], c, &q, v, ro)) return LSCE_EINCOMPLETE;
  return LSCE_OK;
}

/* Value idx (losses first, then the gradient) of variant dv at reduction red: A0, A1 and h. */
static void coef(const dcase *c, const dvar *dv, int red, int64_t idx, long double *A0, long double *A1, double *h) {
  const int kl = dv->m > 0;
  if (idx < c->nloss) {
    if (red == LSCE_RED_NONE) {
      *A0 = dv->x0[idx]; *A1 = dv->x1[idx];
      *h = kl && dv->inV[idx] ? 1 : 0;
    } else if (red == LSCE_RED_SUM) {
      *A0 = dv->S0; *A1 = dv->S1; *h = kl ? dv->nV : 0;
    } else {
      *A0 = dv->D0 > 0 ? dv->S0 / dv->D0 : NAN;
      *A1 = dv->D1 > 0 ? dv->S1 / dv->D1 : NAN;
      *h = kl && dv->nV > 0 ? 1 : 0;
    }
    return;
  }
  int64_t j = idx - c->nloss;
  *h = 0;
  if (red == LSCE_RED_MEAN) {
    *A0 = dv->D0 > 0 ? dv->g0[j] / dv->D0 : NAN;
    *A1 = dv->D1 > 0 ? dv->g1[j] / dv->D1 : NAN;
  } else { *A0 = dv->g0[j]; *A1 = dv->g1[j]; }
}

static long double value_at(long double A0, long double A1, double h, long double e, double m) {
  long double r = e == 0 ? A0 : e == 1 ? A1 : (1 - e) * A0 + e * A1;
  return h > 0 ? r - h * H_of(e, m) : r;
}

/* noise allowance of loss value idx whose candidate value is r (magnitude M before cancellation) */
static double loss_noise(const dcase *c, const dvar *dv, int red, int64_t idx, double M) {
  lsce_dtype t = c->in->ldt;
  double n;
  if (red == LSCE_RED_NONE) {
    if (!dv->inV[idx]) return 0;
    n = c->gK * (dv->kap * lsce_ulp_of(c->Z[idx], t) + lsce_ulp_of(M, t));
  } else {
    double D = red == LSCE_RED_MEAN ? (dv->D0 < dv->D1 ? dv->D0 : dv->D1) : 1;
    n = c->gK * dv->zsum / (D > 0 ? D : 1) + c->gN * lsce_ulp_of(M, t);
  }
  return n + c->in->half;
}

/* the row's gradient scale: kappa_i (1, or the largest class weight) over the mean's denominator;
 * p_ij times it bounds both terms of p_j sum(kappa) - kappa_j that cancel (0 outside V). Sigmoid
 * family: max_c w_c over the denominator (each entry w_c (sigmoid(x) - t') is at most that) */
static double row_factor(const dvar *dv, int red, int64_t i) {
  if (!dv->inV[i]) return 0;
  double D = red == LSCE_RED_MEAN ? (dv->D0 < dv->D1 ? dv->D0 : dv->D1) : 1;
  return D > 0 ? (dv->sig ? dv->gkap : dv->kap) / D : INFINITY;
}

/* softmax: g_K (ulp_T(max(p_ij s, |r|)) + p_ij s ulp_T(Z_i)), p_ij with the chain factor. Sigmoid
 * family (verify/diagnose_opts.c's gradient entry): the row's sigma_i = max_j x'(z_ij) s in place
 * of p_ij s, plus g_K S ulp_T(1) w_i under a cap (w_i = K s, the loss's kappa over D) */
static double grad_noise(const dcase *c, const dvar *dv, int64_t i, int64_t j, double s, double r) {
  lsce_dtype t = c->in->gdt;
  double ps = (dv->sig ? c->xd[i] : c->P[i * c->K + j]) * s, a = fabs(r);
  double n = c->gK * (lsce_ulp_of(ps > a ? ps : a, t) + ps * lsce_ulp_of(c->Z[i], t));
  return dv->sig ? n + c->gK * c->capS * s * (double)c->K : n;
}

/* a NaN matches a NaN only when nan_ok (the claim: a NaN is no evidence for another formulation) */
double lsce_dg_score1(double y, double r, double n, int nan_ok) {
  if (!isfinite(y) || !isfinite(r)) return ((isnan(y) && isnan(r) && nan_ok) || (!isnan(y) && y == r)) ? 0 : INFINITY;
  double d = fabs(y - r);
  if (d == 0) return 0;
  return n > 0 ? d / n : INFINITY;
}

/* max score and max ulp of variant dv at (red, e) against the user's values */
static void eval_case(const dcase *c, const dvar *dv, int red, long double e, double *score, double *ulp) {
  const lsce_dg_input *in = c->in;
  double sc = 0, ul = 0;
  for (int64_t i = 0; i < c->nloss; i++) {
    long double A0, A1;
    double h;
    coef(c, dv, red, i, &A0, &A1, &h);
    long double r = value_at(A0, A1, h, e, dv->m);
    double rh = (double)r, rl = (double)(r - rh), M = fabs(rh) + 2 * h * (double)H_of(e, dv->m);
    if (h > 1) M = fabs(rh) + 2 * h * (double)H_of(e, dv->m);
    double s1 = lsce_dg_score1(in->loss[i], rh, loss_noise(c, dv, red, i, M), c->nan_ok);
    double tau = (red == LSCE_RED_NONE && !dv->inV[i]) ? 0 : lsce_tau(M, in->ldt);
    double u1 = lsce_ulp_err(in->loss[i], rh, rl, tau, in->ldt);
    if (s1 > sc || isnan(s1)) sc = isnan(s1) ? INFINITY : s1;
    if (u1 > ul || isnan(u1)) ul = isnan(u1) ? INFINITY : u1;
  }
  if (in->grad) {
    const int64_t K = c->K;
    double *row = malloc(sizeof(double) * (size_t)K);
    for (int64_t i = 0; i < c->N && row; i++) {
      double s = row_factor(dv, red, i), rmax = 0;
      for (int64_t j = 0; j < K; j++) {
        long double A0, A1;
        double h;
        coef(c, dv, red, c->nloss + i * K + j, &A0, &A1, &h);
        row[j] = (double)value_at(A0, A1, 0, e, 0);
        if (fabs(row[j]) > rmax) rmax = fabs(row[j]);
      }
      double tau = lsce_tau(isfinite(s) ? s : 0, in->gdt);
      double un = lsce_ulp_of(rmax > tau ? rmax : tau, in->gdt);
      for (int64_t j = 0; j < K; j++) {
        double y = in->grad[i * K + j];
        double s1 = lsce_dg_score1(y, row[j], grad_noise(c, dv, i, j, s, row[j]), c->nan_ok);
        double u1 = lsce_dg_score1(y, row[j], un, 1);
        if (!(s1 <= sc)) sc = isnan(s1) ? INFINITY : s1;
        if (!(u1 <= ul)) ul = isnan(u1) ? INFINITY : u1;
      }
    }
    free(row);
  }
  *score = sc;
  *ulp = ul;
}

/* ---- the free fit: the set of e in [0, 1] where every value fits --------------------------------- */
#define MAXIV 16
typedef struct { int n; double lo[MAXIV], hi[MAXIV]; } ivset;

static void iv_cut(ivset *s, double a, double b) { /* s := s intersect [a, b] */
  int k = 0;
  for (int i = 0; i < s->n; i++) {
    double lo = s->lo[i] > a ? s->lo[i] : a, hi = s->hi[i] < b ? s->hi[i] : b;
    if (lo <= hi) { s->lo[k] = lo; s->hi[k] = hi; k++; }
  }
  s->n = k;
}

static void iv_remove(ivset *s, double a, double b) { /* s := s minus the open (a, b) */
  ivset t = {0};
  for (int i = 0; i < s->n; i++) {
    if (s->hi[i] <= a || s->lo[i] >= b) { t.lo[t.n] = s->lo[i]; t.hi[t.n] = s->hi[i]; t.n++; continue; }
    if (s->lo[i] <= a && t.n < MAXIV) { t.lo[t.n] = s->lo[i]; t.hi[t.n] = a; t.n++; }
    if (s->hi[i] >= b && t.n < MAXIV) { t.lo[t.n] = b; t.hi[t.n] = s->hi[i]; t.n++; }
  }
  *s = t;
}

/* f(e) = A0 + e (A1 - A0) - h H(e) - y is convex in e (H is concave, h >= 0) */
static double fkl(long double A0, long double A1, double h, double m, double y, double e) {
  return (double)(value_at(A0, A1, h, e, m) - y);
}

static double root(long double A0, long double A1, double h, double m, double y, double t, double a, double b) {
  double fa = fkl(A0, A1, h, m, y, a) - t;
  for (int it = 0; it < 80; it++) {
    double mid = (a + b) / 2, fm = fkl(A0, A1, h, m, y, mid) - t;
    if ((fm <= 0) == (fa <= 0)) { a = mid; fa = fm; } else b = mid;
  }
  return (a + b) / 2;
}

/* s := s intersect {e : |f(e)| <= n} */
static void cut_value(ivset *s, long double A0, long double A1, double h, double m, double y, double n) {
  if (!isfinite(y) || !isfinite((double)A0) || !isfinite((double)A1)) return; /* decided by eval_case */
  if (h == 0) {
    double b = (double)(A1 - A0), a = (double)(A0 - y);
    if (fabs(b) * 1e-300 == 0 && b == 0) { if (fabs(a) > n) s->n = 0; return; }
    double e1 = (-n - a) / b, e2 = (n - a) / b;
    if (e1 > e2) { double t = e1; e1 = e2; e2 = t; }
    iv_cut(s, e1, e2);
    return;
  }
  double lo = 0, hi = 1, g = (sqrt(5.0) - 1) / 2;
  for (int it = 0; it < 90; it++) {
    double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
    if (fkl(A0, A1, h, m, y, x1) < fkl(A0, A1, h, m, y, x2)) hi = x2; else lo = x1;
  }
  double em = (lo + hi) / 2, fm = fkl(A0, A1, h, m, y, em);
  if (fm > n) { s->n = 0; return; }
  double l1 = fkl(A0, A1, h, m, y, 0) <= n ? 0 : root(A0, A1, h, m, y, n, 0, em);
  double r1 = fkl(A0, A1, h, m, y, 1) <= n ? 1 : root(A0, A1, h, m, y, n, em, 1);
  iv_cut(s, l1, r1);
  if (fm < -n) {
    double l2 = fkl(A0, A1, h, m, y, 0) < -n ? 0 : root(A0, A1, h, m, y, -n, 0, em);
    double r2 = fkl(A0, A1, h, m, y, 1) < -n ? 1 : root(A0, A1, h, m, y, -n, em, 1);
    iv_remove(s, l2, r2);
  }
}

/* the feasible set of variant dv at red over case c, with noise taken at the user's values */
static void fit_case(ivset *s, const dcase *c, const dvar *dv, int red) {
  const lsce_dg_input *in = c->in;
  for (int64_t i = 0; i < c->nloss && s->n; i++) {
    long double A0, A1;
    double h;
    coef(c, dv, red, i, &A0, &A1, &h);
    double M = fabs(in->loss[i]) + 2 * h * (dv->m > 0 ? log(dv->m + 1) : 0);
    cut_value(s, A0, A1, h, dv->m, in->loss[i], loss_noise(c, dv, red, i, M));
  }
  if (!in->grad) return;
  for (int64_t i = 0; i < c->N && s->n; i++) {
    double sy = row_factor(dv, red, i);
    for (int64_t j = 0; j < c->K && s->n; j++) {
      long double A0, A1;
      double h;
      double y = in->grad[i * c->K + j];
      coef(c, dv, red, c->nloss + i * c->K + j, &A0, &A1, &h);
      cut_value(s, A0, A1, 0, 0, y, grad_noise(c, dv, i, j, sy, y));
    }
  }
}

/* The shortest decimal in the feasible set that verifies exactly (score <= 1 over every case).
 * cases/dvs/reds: ncase parallel entries. Returns 1 with q, str, score, ulp set. */
static int pick_e(const ivset *s, dcase *const *cs, const dvar *const *dvs, const int *reds, int ncase,
                  mpq_t q, char *str, size_t n, double *score, double *ulp) {
  int found = 0, bestdig = 99;
  mpq_t t;
  mpq_init(t);
  char ts[64];
  for (int k = 0; k < s->n; k++) {
    double a = s->lo[k], b = s->hi[k];
    for (int tries = 0; tries < 8; tries++) {
      double mid = (a + b) / 2, w = (b - a) / 2 * pow(0.5, tries);
      if (!lsce_dg_shortest(t, ts, sizeof ts, mid - w, mid + w, mid)) break;
      double sc = 0, ul = 0;
      for (int ci = 0; ci < ncase; ci++) {
        double s1, u1;
        eval_case(cs[ci], dvs[ci], reds[ci], (long double)mpq_get_d(t), &s1, &u1);
        if (!(s1 <= sc)) sc = s1;
        if (!(u1 <= ul)) ul = u1;
      }
      if (sc <= 1) {
        int dig = lsce_dg_sig_digits(ts);
        if (dig < bestdig) {
          bestdig = dig; found = 1;
          mpq_set(q, t); snprintf(str, n, "%s", ts); *score = sc; *ulp = ul;
        }
        break;
      }
    }
  }
  mpq_clear(t);
  return found;
}

/* ---- check's diagnosis ------------------------------------------------------------------------ */
lsce_dg_cand *lsce_dg_add(lsce_diagnosis *d, int v, int red, int src, const char *conv, const mpq_t e, const char *s) {
  lsce_dg_cand *nc = realloc(d->cands, sizeof *nc * (size_t)(d->ncands + 1));
  if (!nc) return NULL;
  d->cands = nc;
  lsce_dg_cand *c = &nc[d->ncands++];
  memset(c, 0, sizeof *c);
  c->v = v; c->red = red; c->src = src; c->conv = conv;
  mpq_init(c->e);
  mpq_set(c->e, e);
  if (s) snprintf(c->s, sizeof c->s, "%s", s); else lsce_q_str(c->s, sizeof c->s, e);
  c->digits = lsce_dg_sig_digits(c->s);
  return c;
}

/* a ranks before b as the explanation (both fit) */
static int before(const lsce_dg_cand *a, const lsce_dg_cand *b, const lsce_problem *p) {
  int ra = a->src == LSCE_DG_FITTED ? LSCE_DG_TYPED : a->src, rb = b->src == LSCE_DG_FITTED ? LSCE_DG_TYPED : b->src;
  if (ra != rb) return ra < rb;
  if (ra == LSCE_DG_OPTION && a->orank != b->orank) return a->orank < b->orank;
  if (ra == LSCE_DG_TYPED && a->digits != b->digits) return a->digits < b->digits;
  if ((a->v == p->variant) != (b->v == p->variant)) return a->v == p->variant;
  if ((a->red == (int)p->reduction) != (b->red == (int)p->reduction)) return a->red == (int)p->reduction;
  if (a->score != b->score) return a->score < b->score;
  return a->v < b->v;
}

/* the free-e candidates of variant v (check): typed digits, or the fit over every value */
static void free_e(lsce_diagnosis *d, dcase *c, int v, const int *reds, int nred, int typed) {
  const lsce_dg_input *in = c->in;
  mpq_t q;
  mpq_init(q);
  for (int ri = 0; ri < nred; ri++) {
    if (typed) {
      int done = 0;
      for (int nd = 1; nd <= 2 && !done; nd++)
        for (int E = -nd; E >= -9 && !done; E--)
          for (long long k = nd == 1 ? 1 : 10; k <= (nd == 1 ? 9 : 99) && !done; k++) {
            if (nd == 2 && k % 10 == 0) continue;
            q_dec(q, k, E);
            long double A0, A1;
            double h;
            coef(c, &c->var[v], reds[ri], 0, &A0, &A1, &h);
            long double val = value_at(A0, A1, h, (long double)mpq_get_d(q), c->var[v].m);
            if (fabsl(val - (long double)mpq_get_d(*in->typed)) > (long double)in->half) continue;
            lsce_dg_cand *cd = lsce_dg_add(d, v, reds[ri], LSCE_DG_TYPED, NULL, q, NULL);
            if (!cd) continue;
            eval_case(c, &c->var[v], reds[ri], (long double)mpq_get_d(q), &cd->score, &cd->ulp);
            cd->fits = cd->score <= 1;
            done = cd->fits;
          }
    } else {
      ivset s = {1, {0}, {1}};
      fit_case(&s, c, &c->var[v], reds[ri]);
      dcase *cs[1] = {c};
      const dvar *dvs[1] = {&c->var[v]};
      char str[64];
      double sc = INFINITY, ul = INFINITY;
      if (s.n && pick_e(&s, cs, dvs, &reds[ri], 1, q, str, sizeof str, &sc, &ul)) {
        lsce_dg_cand *cd = lsce_dg_add(d, v, reds[ri], LSCE_DG_FITTED, NULL, q, str);
        if (cd) { cd->score = sc; cd->ulp = ul; cd->fits = 1; }
      }
    }
  }
  mpq_clear(q);
}

int lsce_diagnose(lsce_diagnosis *d, const lsce_dg_input *in, const lsce_ref_opts *ro, lsce_err *err) {
  const lsce_problem *p = in->p;
  memset(d, 0, sizeof *d);
  d->best = -1;
  d->values = (p->reduction == LSCE_RED_NONE ? p->N : 1) + (in->grad ? p->N * p->K : 0);
  dcase c;
  int rc = dcase_build(&c, in, ro, 0);
  const int nred = p->reduction == LSCE_RED_NONE ? 1 : 2;
  int reds[2] = {p->reduction, p->reduction == LSCE_RED_MEAN ? LSCE_RED_SUM : LSCE_RED_MEAN};
  /* the given e and the e that the named library conventions map it to */
  mpq_t es[4], r;
  const char *conv[4] = {NULL, "eK/(K-1): a K-1 form's e in the K form", "e(K-1)/K: a K form's e in the K-1 form",
                         "e/(1+e): mmpretrain classy_vision"};
  mpq_inits(es[0], es[1], es[2], es[3], r, NULL);
  mpq_set(es[0], p->e);
  if (p->K >= 2) {
    mpq_set_si(r, (long)p->K, (unsigned long)(p->K - 1)); mpq_mul(es[1], p->e, r);
    mpq_set_si(r, (long)(p->K - 1), (unsigned long)p->K); mpq_mul(es[2], p->e, r);
  } else conv[1] = conv[2] = NULL;
  mpq_set_ui(r, 1, 1); mpq_add(r, r, p->e); mpq_div(es[3], p->e, r);
  int claim = -1;
  /* one variant modelled at a time (memory: two gradients, not sixteen) */
  for (int v = 0; v < LSCE_V_COUNT && !rc; v++) {
    if ((rc = dvar_build(&c.var[v], &c, v, ro)) || !c.var[v].ok) continue;
    for (int k = 0; k < 4; k++) {
      if ((!conv[k] && k) || mpq_cmp_ui(es[k], 1, 1) > 0 || (k && mpq_equal(es[k], p->e))) continue;
      for (int ri = 0; ri < nred; ri++) {
        lsce_dg_cand *cd = lsce_dg_add(d, v, reds[ri], k ? LSCE_DG_CONVENTION : LSCE_DG_GIVEN, conv[k], es[k], NULL);
        if (!cd) { rc = LSCE_EINCOMPLETE; break; }
        c.nan_ok = !k && v == p->variant && ri == 0;
        eval_case(&c, &c.var[v], reds[ri], (long double)mpq_get_d(es[k]), &cd->score, &cd->ulp);
        c.nan_ok = 0;
        cd->fits = cd->score <= 1;
        if (!k && v == p->variant && ri == 0) claim = d->ncands - 1;
      }
    }
    dvar_free(&c.var[v]);
  }
  /* k1-megatron: every T in [2, 16] dividing K (K >= 2T) and every rank, and the claim's own T and
   * rank; at each of the e above whose e' = e V_p/(V_p-1) stays <= 1 */
  const int mv = shard_variant();
  const int mega_claim = mv >= 0 && p->variant == mv;
  const int64_t cT = lsce_megatron_T(p->tp);
  for (int64_t T = 1; T <= p->K / 2 && mv >= 0 && !rc && !lsce_uses_options(p) && !p->soft; T++) { /* no #15 form */
    if (p->K % T != 0 || !((T >= 2 && T <= 16) || (mega_claim && T == cT))) continue;
    for (int64_t rk = 0; rk < T && !rc; rk++) {
      dvar *dv = &c.var[mv];
      if ((rc = dvar_build_megatron(dv, &c, T, rk)) || !dv->ok) continue;
      const int own = mega_claim && T == cT && rk == p->rank;
      for (int k = 0; k < 4 && !rc; k++) {
        if ((!conv[k] && k) || (k && mpq_equal(es[k], p->e)) || lsce_megatron_invalid(es[k], p->K, T)) continue;
        for (int ri = 0; ri < nred; ri++) {
          lsce_dg_cand *cd = lsce_dg_add(d, mv, reds[ri], k ? LSCE_DG_CONVENTION : LSCE_DG_GIVEN,
                                      conv[k], es[k], NULL);
          if (!cd) { rc = LSCE_EINCOMPLETE; break; }
          cd->tp = T;
          cd->rank = rk;
          c.nan_ok = !k && own && ri == 0;
          eval_case(&c, dv, reds[ri], (long double)mpq_get_d(es[k]), &cd->score, &cd->ulp);
          c.nan_ok = 0;
          cd->fits = cd->score <= 1;
          if (!k && own && ri == 0) claim = d->ncands - 1;
        }
      }
      dvar_free(dv);
    }
  }
  mpq_clears(es[0], es[1], es[2], es[3], r, NULL);
  /* issue #15's options (verify/diagnose_opts.c): an options problem is diagnosed there alone (the
   * claim included); a catalog problem's mean or sum also meets the option mistakes that need no
   * option typed (a z-loss added, another normalizer), below the MPFR reference's size limit */
  if (!rc && lsce_uses_options(p)) rc = lsce_dg_options(d, in, ro, 1, &claim);
  else if (!rc && p->reduction != LSCE_RED_NONE && p->N * p->K < (1 << 20)) rc = lsce_dg_options(d, in, ro, 0, NULL);
  int best = -1;
  if (!rc && claim >= 0 && d->cands[claim].fits) {
    /* accuracy, unless a candidate that is not equivalent explains the values far better */
    const lsce_dg_cand *c0 = &d->cands[claim];
    best = claim;
    d->cause = LSCE_CAUSE_ACCURACY;
    for (int k = 0; k < d->ncands; k++) {
      const lsce_dg_cand *b = &d->cands[k];
      if (k == claim || !b->fits || c0->ulp <= 4 || 16 * b->ulp > c0->ulp) continue;
      if (best == claim || before(b, &d->cands[best], p)) { best = k; d->cause = LSCE_CAUSE_FORMULATION; }
    }
  } else if (!rc) {
    for (int k = 0; k < d->ncands; k++)
      if (d->cands[k].fits && (best < 0 || before(&d->cands[k], &d->cands[best], p))) best = k;
    /* a free e: a typed scalar of few digits (e of at most 2 digits reproducing every typed
     * digit), or evidence that over-determines it (two or more values); never one full-precision value */
    int typed = in->typed && in->half > 0 && in->typed_str && lsce_dg_sig_digits(in->typed_str) <= 6 && p->reduction != LSCE_RED_NONE && !in->grad;
    for (int v = 0; v < LSCE_V_COUNT && best < 0 && !rc && (typed || d->values >= 2); v++) {
      if ((rc = dvar_build(&c.var[v], &c, v, ro)) || !c.var[v].ok) continue;
      free_e(d, &c, v, reds, nred, typed);
      dvar_free(&c.var[v]);
    }
    for (int k = 0; k < d->ncands; k++)
      if (d->cands[k].fits && (best < 0 || before(&d->cands[k], &d->cands[best], p))) best = k;
    if (best >= 0) d->cause = LSCE_CAUSE_FORMULATION;
    else {
      d->cause = LSCE_CAUSE_UNKNOWN;
      for (int k = 0; k < d->ncands; k++)
        if (best < 0 || d->cands[k].score < d->cands[best].score) best = k;
    }
  }
  d->best = best;
  dcase_free(&c);
  if (rc) return lsce_err_set(err, LSCE_EINCOMPLETE, "check: out of memory in the diagnosis");
  return LSCE_OK;
}

void lsce_diagnosis_free(lsce_diagnosis *d) {
  for (int k = 0; k < d->ncands; k++) mpq_clear(d->cands[k].e);
  free(d->cands);
  memset(d, 0, sizeof *d);
}

static const char *cause_name(int c) {
  return c == LSCE_CAUSE_ACCURACY ? "accuracy" : c == LSCE_CAUSE_FORMULATION ? "formulation" : "unknown";
}
static const char *src_name(int s) {
  return s == LSCE_DG_GIVEN ? "given" : s == LSCE_DG_CONVENTION ? "convention" : s == LSCE_DG_OPTION ? "option"
         : s == LSCE_DG_TYPED ? "typed" : "fitted";
}

const char *lsce_fmt_ulp(char *b, double u) {
  if (isinf(u) || isnan(u)) return strcpy(b, "inf");
  snprintf(b, 32, "%.3g", u);
  return b;
}

/* k1 at e is k at eK/(K-1) (and every K-1 form its K-form partner alike, the partner column of
 * lsce/variants.inc); -1 when none or above 1 */
static int partner(const lsce_dg_cand *c, int64_t K, mpq_t out) {
  const int pv = lsce_variants[c->v].partner;
  if (pv < 0) return -1;
  if (K < 2) return -1;
  mpq_t r;
  mpq_init(r);
  if (lsce_variants[c->v].off_divisor == 1) mpq_set_si(r, (long)K, (unsigned long)(K - 1));
  else mpq_set_si(r, (long)(K - 1), (unsigned long)K);
  mpq_mul(out, c->e, r);
  mpq_clear(r);
  return mpq_cmp_ui(out, 1, 1) <= 0 ? pv : -1;
}

void lsce_diagnosis_print(FILE *f, const lsce_diagnosis *d, const lsce_problem *p, const char *given) {
  char u[32], ps[64];
  const lsce_dg_cand *b = d->best >= 0 ? &d->cands[d->best] : NULL;
  if (!b || d->cause == LSCE_CAUSE_UNKNOWN) fprintf(f, "match none\n");
  else {
    fprintf(f, "match variant=%s smoothing=%s reduction=%s ulp=%s", lsce_variants[b->v].id, b->s,
            lsce_red_name(b->red), lsce_fmt_ulp(u, b->ulp));
    if (b->tp) fprintf(f, " tp=%lld rank=%lld", (long long)b->tp, (long long)b->rank);
    if (b->opt[0]) fprintf(f, " %s", b->opt);
    mpq_t pe;
    mpq_init(pe);
    int pv = partner(b, p->K, pe);
    if (pv >= 0) { lsce_q_str(ps, sizeof ps, pe); fprintf(f, " (= %s at %s; given %s)", lsce_variants[pv].id, ps, given); }
    mpq_clear(pe);
    fprintf(f, "\n");
  }
  fprintf(f, "cause %s variant=%s smoothing=%s ulp=%s values=%lld", cause_name(d->cause),
          lsce_variants[b ? b->v : p->variant].id, b ? b->s : given, lsce_fmt_ulp(u, b ? b->ulp : INFINITY),
          (long long)d->values);
  if (b && b->red != (int)p->reduction) fprintf(f, " reduction=%s", lsce_red_name(b->red));
  if (b && b->tp) fprintf(f, " tp=%lld rank=%lld", (long long)b->tp, (long long)b->rank);
  if (b && b->opt[0]) fprintf(f, " %s", b->opt);
  fprintf(f, "\n");
}

void lsce_diagnosis_json(FILE *f, const lsce_diagnosis *d, const lsce_problem *p, const char *given) {
  const lsce_dg_cand *b = d->best >= 0 ? &d->cands[d->best] : NULL;
  fputs("\"match\": ", f);
  if (!b || d->cause == LSCE_CAUSE_UNKNOWN) fputs("null", f);
  else {
    fputs("{\"variant\": ", f); lsce_json_str(f, lsce_variants[b->v].id);
    fputs(", \"smoothing\": ", f); lsce_json_str(f, b->s);
    fputs(", \"reduction\": ", f); lsce_json_str(f, lsce_red_name(b->red));
    fputs(", \"ulp\": ", f); lsce_json_num(f, b->ulp);
    if (b->tp) fprintf(f, ", \"tp\": %lld, \"rank\": %lld", (long long)b->tp, (long long)b->rank);
    if (b->opt[0]) { fputs(", \"options\": ", f); lsce_json_str(f, b->opt); }
    fprintf(f, ", \"solved\": %s, \"equivalent\": ", b->src >= LSCE_DG_TYPED ? "true" : "false");
    mpq_t pe;
    mpq_init(pe);
    int pv = partner(b, p->K, pe);
    if (pv >= 0) {
      char ps[64];
      lsce_q_str(ps, sizeof ps, pe);
      fputs("{\"variant\": ", f); lsce_json_str(f, lsce_variants[pv].id);
      fputs(", \"smoothing\": ", f); lsce_json_str(f, ps);
      fputs("}", f);
    } else fputs("null", f);
    mpq_clear(pe);
    fputs(", \"given\": ", f); lsce_json_str(f, given);
    fputs("}", f);
  }
  fputs(", \"cause\": {\"cause\": ", f); lsce_json_str(f, cause_name(d->cause));
  fputs(", \"variant\": ", f); lsce_json_str(f, lsce_variants[b ? b->v : p->variant].id);
  fputs(", \"smoothing\": ", f); lsce_json_str(f, b ? b->s : given);
  fputs(", \"reduction\": ", f); lsce_json_str(f, lsce_red_name(b ? b->red : (int)p->reduction));
  fputs(", \"ulp\": ", f); lsce_json_num(f, b ? b->ulp : INFINITY);
  if (b && b->tp) fprintf(f, ", \"tp\": %lld, \"rank\": %lld", (long long)b->tp, (long long)b->rank);
  if (b && b->opt[0]) { fputs(", \"options\": ", f); lsce_json_str(f, b->opt); }
  fprintf(f, ", \"values\": %lld, \"candidates\": [", (long long)d->values);
  for (int k = 0; k < d->ncands; k++) {
    const lsce_dg_cand *c = &d->cands[k];
    fputs(k ? ", {\"variant\": " : "{\"variant\": ", f); lsce_json_str(f, lsce_variants[c->v].id);
    fputs(", \"smoothing\": ", f); lsce_json_str(f, c->s);
    fputs(", \"reduction\": ", f); lsce_json_str(f, lsce_red_name(c->red));
    fputs(", \"source\": ", f); lsce_json_str(f, src_name(c->src));
    if (c->tp) fprintf(f, ", \"tp\": %lld, \"rank\": %lld", (long long)c->tp, (long long)c->rank);
    if (c->conv) { fputs(", \"convention\": ", f); lsce_json_str(f, c->conv); }
    if (c->opt[0]) { fputs(", \"options\": ", f); lsce_json_str(f, c->opt); }
    fputs(", \"ulp\": ", f); lsce_json_num(f, c->ulp);
    fputs(", \"noise_score\": ", f); lsce_json_num(f, c->score);
    fprintf(f, ", \"fits\": %s}", c->fits ? "true" : "false");
  }
  fputs("]}", f);
}

/* ---- identify: one e shared by every case ------------------------------------------------------ */
int lsce_identify_fit(lsce_id_cand *out, const lsce_dg_input *cases, int ncases, const lsce_ref_opts *ro,
                      lsce_err *err, int *rc) {
  *rc = LSCE_OK;
  dcase *cs = calloc((size_t)ncases, sizeof *cs);
  if (!cs) { *rc = lsce_err_set(err, LSCE_EINCOMPLETE, "identify: out of memory"); return 0; }
  for (int i = 0; i < ncases && !*rc; i++)
    if (dcase_build(&cs[i], &cases[i], ro, 1)) *rc = lsce_err_set(err, LSCE_EINCOMPLETE, "identify: out of memory");
  int n = 0;
  dcase **cp = malloc(sizeof *cp * (size_t)ncases);
  const dvar **dvs = malloc(sizeof *dvs * (size_t)ncases);
  int *reds = malloc(sizeof *reds * (size_t)ncases);
  for (int v = 0; v < LSCE_V_COUNT && !*rc && cp && dvs && reds; v++) {
    /* a weighted form needs a weighted case; on the others it sees unit weights (it is skipped
     * there: its values coincide with the unweighted form's) */
    int nw = 0, bad = 0;
    for (int i = 0; i < ncases; i++) {
      if (cases[i].p->has_weights) nw++;
      if (!cs[i].var[v].ok && (cases[i].p->has_weights || !lsce_variants[v].needs_weights)) bad = 1;
    }
    if (bad || (lsce_variants[v].needs_weights && !nw)) continue;
    /* wm 1: a sigmoid variant with the class weights of the weighted cases left out */
    const int nwm = nw && !strcmp(lsce_variants[v].family, "sigmoid") ? 2 : 1;
    for (int wm = 0; wm < nwm; wm++)
    for (int mode = -1; mode <= LSCE_RED_SUM; mode++) {
      int ncs = 0, differs = mode < 0;
      ivset s = {1, {0}, {1}};
      for (int i = 0; i < ncases; i++) {
        dvar *dv = wm && cases[i].p->has_weights ? &cs[i].uw[v] : &cs[i].var[v];
        if (!dv->ok) continue;
        int red = cases[i].p->reduction;
        if (mode >= 0 && red != LSCE_RED_NONE) { if (red != mode) differs = 1; red = mode; }
        cp[ncs] = &cs[i]; dvs[ncs] = dv; reds[ncs] = red; ncs++;
        if (s.n) fit_case(&s, &cs[i], dv, red);
      }
      if (!differs || !ncs) continue;
      lsce_id_cand *c = &out[n++];
      memset(c, 0, sizeof *c);
      c->v = v; c->red_mode = mode; c->noweights = wm;
      mpq_init(c->e);
      c->score = INFINITY; c->ulp = INFINITY;
      snprintf(c->s, sizeof c->s, "-");
      if (s.n) c->fits = pick_e(&s, cp, dvs, reds, ncs, c->e, c->s, sizeof c->s, &c->score, &c->ulp);
    }
  }
  free(cp); free(dvs); free(reds);
  for (int i = 0; i < ncases; i++) dcase_free(&cs[i]);
  free(cs);
  return n;
}
