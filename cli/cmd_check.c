/* cli/check: `lsce check PROBLEM (--loss X | --loss-file O.npy) [--grad G.npy] ...`: a user's loss
 * (and gradient) measured in ulps against the certified reference; after a FAIL, the match search
 * tells which catalog formulation (variant, smoothing, reduction) the value computes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "json.h"
#include "measure.h"
#include "output.h"
#include "problem_args.h"
#include "progress.h"
#include "lsce/ref_sums.h"
#include "lsce/reference.h"
#include "lsce/ulp.h"

static const lsce_opt chk_opts[] = {
  {"--logits", 1}, {"--targets", 1}, {"--weights", 1}, {"--variant", 1}, {"--smoothing", 1},
  {"--reduction", 1}, {"--ignore-index", 1}, {"--pad-index", 1}, {"--loss", 1}, {"--loss-file", 1},
  {"--grad", 1}, {"--dtype", 1}, {"--loss-dtype", 1}, {"--grad-dtype", 1}, {"--max-ulp", 1},
  {"--max-grad-ulp", 1}, {"--json", 0}, {"--help", 0}};
#define NOPTS ((int)(sizeof chk_opts / sizeof chk_opts[0]))

static const char *chk_usage =
  "usage: lsce check PROBLEM (--loss X | --loss-file O.npy) [--grad G.npy] [--dtype T]\n"
  "                  [--loss-dtype T] [--grad-dtype T] [--max-ulp U] [--max-grad-ulp G] [--json]\n"
  "Measures a loss (and gradient) in ulps against the certified reference; exit 0 when within\n"
  "--max-ulp (default 1) and --max-grad-ulp (default 2), else 1, with the formulation it matches.\n";

typedef struct {
  mpq_t X;          /* --loss as typed, exact (when finite) */
  mpq_t half;       /* half a unit in its last typed digit (0 for hex, files) */
  double Xd;        /* --loss rounded later to the loss dtype */
  int X_finite, X_given;
  int dt_loss, dt_grad; /* -1 = the logits' dtype */
  double U, G;
  int dtype_pos;    /* for the --dtype conflict */
} chk_state;

static int parse_dtype(const char *v) {
  if (!strcmp(v, "float64")) return LSCE_DT_F64;
  if (!strcmp(v, "float32")) return LSCE_DT_F32;
  if (!strcmp(v, "float16")) return LSCE_DT_F16;
  if (!strcmp(v, "bfloat16")) return LSCE_DT_BF16;
  return -1;
}

static int extra(const char *name, const char *v, void *user, lsce_err *err) {
  chk_state *s = user;
  if (!strcmp(name, "--loss")) {
    s->X_given = 1;
    return lsce_parse_loss(s->X, &s->Xd, s->half, &s->X_finite, v, name, err);
  }
  if (!strcmp(name, "--dtype") || !strcmp(name, "--loss-dtype") || !strcmp(name, "--grad-dtype")) {
    int t = parse_dtype(v);
    if (t < 0) return lsce_err_set(err, LSCE_EINPUT, "%s: must be float64, float32, float16 or bfloat16, got '%s'", name, v);
    if (!strcmp(name, "--dtype")) s->dt_loss = s->dt_grad = t;
    else if (!strcmp(name, "--loss-dtype")) s->dt_loss = t;
    else s->dt_grad = t;
    return LSCE_OK;
  }
  if (!strcmp(name, "--max-ulp")) return lsce_parse_ulp(&s->U, v, name, err);
  if (!strcmp(name, "--max-grad-ulp")) return lsce_parse_ulp(&s->G, v, name, err);
  return LSCE_OK;
}

/* exact rational rounded to nearest in T */
static double q_round_to(const mpq_t q, lsce_dtype t) {
  switch (t) {
  case LSCE_DT_F32: return lsce_q_round_fmt(q, 24, -148, 128);
  case LSCE_DT_F16: return lsce_q_round_fmt(q, 11, -23, 16);
  case LSCE_DT_BF16: return lsce_q_round_fmt(q, 8, -132, 128);
  default: return lsce_q_round(q);
  }
}

static const char *fmt_u(char *b, double u) {
  if (isinf(u) || isnan(u)) return strcpy(b, "inf");
  snprintf(b, 32, "%.3g", u);
  return b;
}

/* ---- the match search ------------------------------------------------------------------------ */
typedef struct {
  int found, v, red, solved;
  int digits;       /* significant digits of a solved smoothing */
  double ulp;
  char s[64];       /* the smoothing as printed */
  mpq_t e;
} cand;

/* Decimal string of an exact rational when it terminates within 17 significant digits, else %.6g. */
static void q_str(char *out, size_t n, const mpq_t q) {
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

typedef struct {
  const lsce_problem *p;
  const lsce_ref_sums *sums;
  const chk_state *s;
  lsce_dtype dt;
  double Xm;        /* the measured X (rounded to the loss dtype) */
} search_ctx;

/* L_v(e) at reduction red: value (double-double), ulp error of X and whether it matches. */
static int eval_cand(const search_ctx *c, int v, int red, const mpq_t e, double *ulp, int *match, double *Ld) {
  arb_t L, M;
  arb_init(L); arb_init(M);
  lsce_ref_flags f;
  int ok = lsce_ref_sums_eval(L, M, &f, c->sums, c->p, v, red, e);
  if (ok) {
    double hi, lo, Mm;
    if (f.is_nan) { hi = NAN; lo = 0; Mm = 0; }
    else if (f.is_inf) { hi = INFINITY; lo = 0; Mm = 0; }
    else {
      hi = lsce_arf_round(arb_midref(L));
      arb_t t;
      arb_init(t);
      arb_set_d(t, hi);
      arb_sub(t, L, t, c->sums->prec);
      lo = lsce_arf_round(arb_midref(t));
      arb_clear(t);
      Mm = lsce_arf_round(arb_midref(M));
    }
    *Ld = hi;
    *ulp = lsce_ulp_err(c->Xm, hi, lo, lsce_tau(Mm, c->dt), c->dt);
    *match = *ulp <= c->s->U;
    if (!*match && c->s->X_given && c->s->X_finite && mpq_sgn(c->s->half) > 0 && isfinite(hi)) {
      /* within half a unit of the last typed digit: |X - L| <= half */
      arb_t x, h;
      arb_init(x); arb_init(h);
      lsce_arb_set_q(x, c->s->X, c->sums->prec);
      arb_sub(x, x, L, c->sums->prec);
      arb_abs(x, x);
      lsce_arb_set_q(h, c->s->half, c->sums->prec);
      *match = arb_le(x, h);
      arb_clear(x); arb_clear(h);
    }
  }
  arb_clear(L); arb_clear(M);
  return ok;
}

static double eval_d(const search_ctx *c, int v, int red, double e) {
  mpq_t q;
  mpq_init(q);
  mpq_set_d(q, e);
  double u, Ld;
  int m;
  if (!eval_cand(c, v, red, q, &u, &m, &Ld)) Ld = NAN;
  mpq_clear(q);
  return Ld;
}

/* Shortest decimal in [a, b] (within [0, 1]), nearest to es on ties; into q and str. */
static int shortest_decimal(mpq_t q, char *str, size_t n, double a, double b, double es) {
  if (a < 0) a = 0;
  if (b > 1) b = 1;
  if (a > b) return 0;
  if (a <= 0) { mpq_set_ui(q, 0, 1); snprintf(str, n, "0"); return 1; }
  for (int nd = 1; nd <= 17; nd++) {
    int e10 = (int)floor(log10(es > 0 ? es : a));
    double best = NAN, bestd = INFINITY;
    long long bk = 0;
    int bE = 0;
    for (int de = 0; de <= 1; de++) { /* the decade of es and the one above */
      int E = e10 + de - nd + 1;
      double step = pow(10.0, E);
      double base = floor(es / step);
      for (int off = -1; off <= 2; off++) {
        double k = base + off;
        if (k < 0) continue;
        double c = k * step;
        if (c + 1e-300 < a * (1 - 1e-15) || c > b * (1 + 1e-15)) continue;
        if (fabs(c - es) < bestd) { bestd = fabs(c - es); best = c; bk = (long long)k; bE = E; }
      }
    }
    if (!isnan(best)) {
      mpz_t num, den;
      mpz_inits(num, den, NULL);
      mpz_set_si(num, bk);
      mpz_ui_pow_ui(den, 10, (unsigned long)abs(bE));
      if (bE >= 0) { mpz_mul(num, num, den); mpz_set_ui(den, 1); }
      mpq_set_num(q, num);
      mpq_set_den(q, den);
      mpq_canonicalize(q);
      mpz_clears(num, den, NULL);
      q_str(str, n, q);
      return 1;
    }
  }
  return 0;
}

static int sig_digits(const char *s) {
  int n = 0, lead = 1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') continue;
    if (*s == '0' && lead) continue;
    lead = 0;
    n++;
  }
  return n ? n : 1;
}

/* Given e before solved; among solved, the simpler decimal (fewer significant digits: with a
 * continuous e nearly any formulation reproduces one value somewhere, so a short e is the
 * evidence); then smallest ulp; then the claimed variant; then catalog order, mean before sum. */
static int better(const cand *a, const cand *b, int claimed) {
  if (!b->found) return 1;
  if (a->solved != b->solved) return !a->solved;
  if (a->solved && a->digits != b->digits) return a->digits < b->digits;
  if (a->ulp != b->ulp) return a->ulp < b->ulp;
  if ((a->v == claimed) != (b->v == claimed)) return a->v == claimed;
  if (a->v != b->v) return a->v < b->v;
  return a->red < b->red;
}

static void consider(cand *best, int v, int red, int solved, double ulp, const mpq_t e, const char *s, int claimed) {
  cand c;
  c.found = 1; c.v = v; c.red = red; c.solved = solved; c.ulp = ulp;
  c.digits = solved ? sig_digits(s) : 0;
  if (better(&c, best, claimed)) {
    best->found = 1; best->v = v; best->red = red; best->solved = solved; best->ulp = ulp;
    best->digits = c.digits;
    snprintf(best->s, sizeof best->s, "%s", s);
    mpq_set(best->e, e);
  }
}

static void report(cand *best, const search_ctx *c, int v, int red, double root, double slope,
                   double tol, int claimed);

/* Solve L_v(e) = X for e in [0, 1] and report the shortest matching decimal. */
static void solve(cand *best, const search_ctx *c, int v, int red, double e_given, int claimed) {
  const lsce_variant *d = &lsce_variants[v];
  double X = mpq_sgn(c->s->half) > 0 ? mpq_get_d(c->s->X) : c->Xm;
  double tol = ldexp(c->s->U, 0) * lsce_ulp_of(X, c->dt);
  if (mpq_sgn(c->s->half) > 0 && mpq_get_d(c->s->half) > tol) tol = mpq_get_d(c->s->half);
  double root, slope;
  if (!d->kl) {
    double L0 = eval_d(c, v, red, 0.0), L1 = eval_d(c, v, red, 1.0);
    if (!isfinite(L0) || !isfinite(L1) || L1 == L0) return;
    slope = L1 - L0;
    root = (X - L0) / slope;
  } else {
    /* convex in e: golden-section for the minimiser, then bisection on each side */
    double lo = 0, hi = 1, g = (sqrt(5.0) - 1) / 2;
    for (int it = 0; it < 80; it++) {
      double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
      if (eval_d(c, v, red, x1) < eval_d(c, v, red, x2)) hi = x2; else lo = x1;
    }
    double em = (lo + hi) / 2, Lm = eval_d(c, v, red, em);
    if (!isfinite(Lm) || Lm > X + tol) return;
    double roots[2];
    int nr = 0;
    for (int side = 0; side < 2; side++) {
      double a = side ? em : 0, b = side ? 1 : em;
      double fa = eval_d(c, v, red, a) - X, fb = eval_d(c, v, red, b) - X;
      if (!(fa * fb <= 0) || !isfinite(fa) || !isfinite(fb)) continue;
      for (int it = 0; it < 80; it++) {
        double mid = (a + b) / 2, fm = eval_d(c, v, red, mid) - X;
        if ((fm <= 0) == (fa <= 0)) { a = mid; fa = fm; } else b = mid;
      }
      roots[nr++] = (a + b) / 2;
    }
    if (!nr) return;
    /* both roots are candidates: the simpler decimal wins, then the one nearest the given e */
    if (nr == 2 && fabs(roots[1] - e_given) < fabs(roots[0] - e_given)) {
      double t = roots[0]; roots[0] = roots[1]; roots[1] = t;
    }
    for (int k = 0; k < nr; k++) {
      double h = 1e-7, sl = (eval_d(c, v, red, roots[k] + h) - eval_d(c, v, red, roots[k] - h)) / (2 * h);
      if (!isfinite(sl) || sl == 0) sl = 1e-300;
      report(best, c, v, red, roots[k], sl, tol, claimed);
    }
    return;
  }
  report(best, c, v, red, root, slope, tol, claimed);
}

/* The shortest decimal within the matching window around a root, verified exactly. */
static void report(cand *best, const search_ctx *c, int v, int red, double root, double slope,
                   double tol, int claimed) {
  if (!(root >= -1e-12 && root <= 1 + 1e-12)) return;
  double w = tol / fabs(slope);
  mpq_t q;
  mpq_init(q);
  char str[64];
  /* shrink the window until the chosen decimal verifies exactly */
  for (int tries = 0; tries < 6; tries++, w /= 2) {
    if (!shortest_decimal(q, str, sizeof str, root - w, root + w, root)) break;
    double ulp, Ld;
    int m;
    if (eval_cand(c, v, red, q, &ulp, &m, &Ld) && m) {
      consider(best, v, red, 1, ulp, q, str, claimed);
      break;
    }
  }
  mpq_clear(q);
}

static int partner_of(int v) {
  switch (v) {
  case LSCE_V_K: return LSCE_V_K1;
  case LSCE_V_K1: return LSCE_V_K;
  case LSCE_V_K_LOGPROB_W: return LSCE_V_K1_LOGPROB_W;
  case LSCE_V_K1_LOGPROB_W: return LSCE_V_K_LOGPROB_W;
  default: return -1;
  }
}

/* The partner's smoothing: k1 at e is k at eK/(K-1); k at e is k1 at e(K-1)/K. 0 if > 1 or K < 2. */
static int partner_e(mpq_t out, int v, const mpq_t e, int64_t K) {
  if (K < 2) return 0;
  mpq_t r;
  mpq_init(r);
  if (v == LSCE_V_K1 || v == LSCE_V_K1_LOGPROB_W) mpq_set_si(r, (long)K, (unsigned long)(K - 1));
  else mpq_set_si(r, (long)(K - 1), (unsigned long)K);
  mpq_mul(out, e, r);
  mpq_clear(r);
  return mpq_cmp_ui(out, 1, 1) <= 0;
}

static const char *red_name(int r) { return r == LSCE_RED_SUM ? "sum" : r == LSCE_RED_NONE ? "none" : "mean"; }

int lsce_cmd_check(int argc, char **argv) {
  if (lsce_wants_help(chk_opts, NOPTS, argc, argv, 2)) { fputs(chk_usage, stdout); return 0; }
  lsce_problem p;
  lsce_problem_init(&p);
  p.validate_all = 1;
  lsce_args a;
  lsce_err err;
  lsce_ref_opts ro;
  lsce_ref_opts_default(&ro);
  chk_state s;
  mpq_inits(s.X, s.half, NULL);
  s.X_finite = s.X_given = 0;
  s.dt_loss = s.dt_grad = -1;
  s.U = 1;
  s.G = 2;
  lsce_problem_args pa = {.cmd = LSCE_CMD_CHECK, .cmdname = "check"};
  int rc = lsce_ref_opts_env(&ro, &err);
  pa.max_prec = ro.max_prec;
  if (!rc) rc = lsce_problem_args_parse(&pa, &p, &a, chk_opts, NOPTS, argc, argv, extra, &s, &err);
  /* usage conflicts, in argv order of the second option */
  if (!rc && lsce_arg_given(&a, "--dtype") && (lsce_arg_given(&a, "--loss-dtype") || lsce_arg_given(&a, "--grad-dtype")))
    rc = lsce_err_set(&err, LSCE_EINPUT, "--dtype: sets both dtypes; do not combine it with --loss-dtype or --grad-dtype");
  if (!rc && lsce_arg_given(&a, "--loss") && lsce_arg_given(&a, "--loss-file"))
    rc = lsce_err_set(&err, LSCE_EINPUT, "--loss-file: give either --loss or --loss-file, not both");
  if (!rc && lsce_arg_given(&a, "--loss") && p.reduction == LSCE_RED_NONE)
    rc = lsce_err_set(&err, LSCE_EINPUT, "--loss: a single value needs --reduction mean or sum (use --loss-file for none)");
  if (!rc) {
    if ((rc = lsce_require(&a, "--logits", &err)) || (rc = lsce_require(&a, "--targets", &err))) {}
    else if (p.variant >= 0 && lsce_variants[p.variant].needs_weights && (rc = lsce_require(&a, "--weights", &err))) {}
    else if ((rc = lsce_require(&a, "--variant", &err)) || (rc = lsce_require(&a, "--smoothing", &err))) {}
    else if (p.variant >= 0 && lsce_variants[p.variant].needs_pad_index && (rc = lsce_require(&a, "--pad-index", &err))) {}
    else if (!lsce_arg_given(&a, "--loss") && !lsce_arg_given(&a, "--loss-file"))
      rc = lsce_err_set(&err, LSCE_EINPUT, "--loss: missing required option (or --loss-file)");
  }
  if (!rc) rc = lsce_problem_load(&p, pa.logits, pa.targets, pa.weights, &err);
  const int64_t N = p.N, K = p.K;
  const int64_t nloss = p.reduction == LSCE_RED_NONE ? N : 1;
  double *loss = NULL, *grad = NULL;
  lsce_dtype ldt = LSCE_DT_F64, gdt = LSCE_DT_F64;
  if (!rc) {
    ldt = s.dt_loss >= 0 ? (lsce_dtype)s.dt_loss : p.logits.dtype;
    gdt = s.dt_grad >= 0 ? (lsce_dtype)s.dt_grad : p.logits.dtype;
    loss = calloc((size_t)(nloss > 0 ? nloss : 1), sizeof(double));
    if (!loss) rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "check: out of memory");
  }
  const char *lf = lsce_arg(&a, "--loss-file"), *gf = lsce_arg(&a, "--grad");
  if (!rc && lf) {
    lsce_npy o;
    if (!(rc = lsce_npy_read(&o, lf, &err))) {
      int shape_ok = p.reduction == LSCE_RED_NONE ? (o.ndim == 1 && o.shape[0] == N)
                                                  : (o.ndim == 0 || (o.ndim == 1 && o.shape[0] == 1));
      if (o.dtype > LSCE_DT_BF16)
        rc = lsce_err_set(&err, LSCE_EINPUT, "%s: a loss must be float64, float32, float16 or uint16 (bfloat16), got %s", lf, lsce_dtype_name(o.dtype));
      else if (!shape_ok)
        rc = lsce_err_set(&err, LSCE_EINPUT, "%s: expected shape %s for reduction %s", lf,
                          p.reduction == LSCE_RED_NONE ? "(N,)" : "() or (1,)", red_name(p.reduction));
      else
        for (int64_t i = 0; i < nloss; i++) loss[i] = lsce_npy_get_f(&o, i);
      lsce_npy_free(&o);
    }
  } else if (!rc) {
    if (s.X_finite && s.Xd == 0) loss[0] = q_round_to(s.X, ldt);
    else loss[0] = s.Xd; /* inf, -inf, nan */
  }
  if (!rc && gf) {
    lsce_npy g;
    if (!(rc = lsce_npy_read(&g, gf, &err))) {
      if (g.dtype > LSCE_DT_BF16)
        rc = lsce_err_set(&err, LSCE_EINPUT, "%s: a gradient must be float64, float32, float16 or uint16 (bfloat16), got %s", gf, lsce_dtype_name(g.dtype));
      else if (g.ndim != 2 || g.shape[0] != N || g.shape[1] != K)
        rc = lsce_err_set(&err, LSCE_EINPUT, "%s: expected shape (%lld, %lld) like the logits", gf, (long long)N, (long long)K);
      else if (!(grad = malloc(sizeof(double) * (size_t)(N * K > 0 ? N * K : 1))))
        rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "check: out of memory");
      else
        for (int64_t i = 0; i < N * K; i++) grad[i] = lsce_npy_get_f(&g, i);
      lsce_npy_free(&g);
    }
  }
  lsce_ref_result ref = {0};
  if (!rc) {
    ro.start_prec = pa.start_prec;
    ro.want_grad = gf != NULL;
    ro.want_lo = 1;
    lsce_progress_attach(&ro, "check");
    rc = lsce_reference(&ref, &p, &ro, "check", &err);
    lsce_progress_clear();
    ro.progress = NULL; /* the match search's own calls run silent */
  }
  if (rc) {
    free(loss); free(grad);
    mpq_clears(s.X, s.half, NULL);
    lsce_problem_clear(&p);
    return lsce_fail(&err);
  }
  lsce_measure_t m;
  lsce_measure(&m, &p, &ref, loss, grad, ldt, gdt);
  int pass = m.loss_ulp <= s.U && (!grad || m.grad_ulp <= s.G);

  /* the match search */
  cand best;
  best.found = 0;
  mpq_init(best.e);
  int partner = -1;
  mpq_t pe;
  mpq_init(pe);
  if (!pass && p.reduction != LSCE_RED_NONE && (!s.X_given || s.X_finite || !isnan(loss[0]))) {
    lsce_ref_sums sums;
    lsce_ref_sums_init(&sums);
    lsce_ref_sums_compute(&sums, &p, 256);
    search_ctx c = {&p, &sums, &s, ldt, loss[0]};
    if (!s.X_given && isfinite(loss[0])) mpq_set_d(s.X, loss[0]); /* GMP rejects inf and nan */
    const char *E = lsce_arg(&a, "--smoothing");
    for (int v = 0; v < LSCE_V_COUNT; v++)
      for (int red = LSCE_RED_MEAN; red <= LSCE_RED_SUM; red++) {
        double ulp, Ld;
        int mt;
        if (eval_cand(&c, v, red, p.e, &ulp, &mt, &Ld) && mt) consider(&best, v, red, 0, ulp, p.e, E, p.variant);
      }
    if (!best.found && isfinite(loss[0]))
      for (int v = 0; v < LSCE_V_COUNT; v++)
        for (int red = LSCE_RED_MEAN; red <= LSCE_RED_SUM; red++)
          solve(&best, &c, v, red, mpq_get_d(p.e), p.variant);
    lsce_ref_sums_clear(&sums);
  } else if (!pass && p.reduction == LSCE_RED_NONE) {
    /* the vector at the given e under the k/k1 partner */
    int pv = partner_of(p.variant);
    if (pv >= 0 && p.K >= lsce_variants[pv].min_K) {
      lsce_problem q = p;
      q.variant = pv;
      lsce_ref_result r2;
      lsce_ref_opts o2 = ro;
      o2.want_grad = 0;
      if (lsce_reference(&r2, &q, &o2, "check", &err) == LSCE_OK) {
        lsce_measure_t m2;
        lsce_measure(&m2, &q, &r2, loss, NULL, ldt, gdt);
        if (m2.loss_ulp <= s.U) consider(&best, pv, LSCE_RED_NONE, 0, m2.loss_ulp, p.e, lsce_arg(&a, "--smoothing"), p.variant);
        lsce_ref_result_free(&r2);
      }
    }
  }
  if (best.found) {
    partner = partner_of(best.v);
    if (partner >= 0 && !partner_e(pe, best.v, best.e, p.K)) partner = -1;
  }

  char b1[48], b2[48], u1[32], ps[64];
  if (partner >= 0) q_str(ps, sizeof ps, pe);
  if (!lsce_arg_given(&a, "--json")) {
    printf("loss ulp=%s row=%lld ref=%s got=%s\n", fmt_u(u1, m.loss_ulp), (long long)m.loss_row,
           lsce_fmt_hex(b1, m.loss_ref), lsce_fmt_hex(b2, m.loss_got));
    if (grad)
      printf("grad ulp=%s row=%lld col=%lld ref=%s got=%s\n", fmt_u(u1, m.grad_ulp), (long long)m.grad_row,
             (long long)m.grad_col, lsce_fmt_hex(b1, m.grad_ref), lsce_fmt_hex(b2, m.grad_got));
    printf("%s max_ulp=%g max_grad_ulp=%g\n", pass ? "PASS" : "FAIL", s.U, s.G);
    if (!pass) {
      if (!best.found) printf("match none\n");
      else {
        printf("match variant=%s smoothing=%s reduction=%s ulp=%s", lsce_variants[best.v].id, best.s,
               red_name(best.red), fmt_u(u1, best.ulp));
        if (partner >= 0) printf(" (= %s at %s; given %s)", lsce_variants[partner].id, ps, lsce_arg(&a, "--smoothing"));
        printf("\n");
      }
    }
  } else {
    fputs("{\"loss\": {\"ulp\": ", stdout); lsce_json_num(stdout, m.loss_ulp);
    printf(", \"row\": %lld, \"ref\": ", (long long)m.loss_row); lsce_json_hex(stdout, m.loss_ref);
    fputs(", \"got\": ", stdout); lsce_json_hex(stdout, m.loss_got);
    fputs("}, \"grad\": ", stdout);
    if (grad) {
      fputs("{\"ulp\": ", stdout); lsce_json_num(stdout, m.grad_ulp);
      printf(", \"row\": %lld, \"col\": %lld, \"ref\": ", (long long)m.grad_row, (long long)m.grad_col);
      lsce_json_hex(stdout, m.grad_ref);
      fputs(", \"got\": ", stdout); lsce_json_hex(stdout, m.grad_got);
      fputs("}", stdout);
    } else fputs("null", stdout);
    printf(", \"pass\": %s, \"max_ulp\": ", pass ? "true" : "false"); lsce_json_num(stdout, s.U);
    fputs(", \"max_grad_ulp\": ", stdout); lsce_json_num(stdout, s.G);
    fputs(", \"loss_dtype\": ", stdout); lsce_json_str(stdout, lsce_dtype_name(ldt));
    fputs(", \"grad_dtype\": ", stdout); lsce_json_str(stdout, lsce_dtype_name(gdt));
    fputs(", \"match\": ", stdout);
    if (pass || !best.found) fputs("null", stdout);
    else {
      fputs("{\"variant\": ", stdout); lsce_json_str(stdout, lsce_variants[best.v].id);
      fputs(", \"smoothing\": ", stdout); lsce_json_str(stdout, best.s);
      fputs(", \"reduction\": ", stdout); lsce_json_str(stdout, red_name(best.red));
      fputs(", \"ulp\": ", stdout); lsce_json_num(stdout, best.ulp);
      printf(", \"solved\": %s, \"equivalent\": ", best.solved ? "true" : "false");
      if (partner >= 0) {
        fputs("{\"variant\": ", stdout); lsce_json_str(stdout, lsce_variants[partner].id);
        fputs(", \"smoothing\": ", stdout); lsce_json_str(stdout, ps);
        fputs("}", stdout);
      } else fputs("null", stdout);
      fputs(", \"given\": ", stdout); lsce_json_str(stdout, lsce_arg(&a, "--smoothing"));
      fputs("}", stdout);
    }
    fputs("}\n", stdout);
  }
  mpq_clear(pe);
  mpq_clear(best.e);
  lsce_ref_result_free(&ref);
  free(loss); free(grad);
  mpq_clears(s.X, s.half, NULL);
  lsce_problem_clear(&p);
  return pass ? 0 : 1;
}
