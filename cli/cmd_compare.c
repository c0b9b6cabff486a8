/* cli/cmd_compare.c: `lsce compare`: every catalog variant's loss on one input (correctly rounded, as
 * `reference` prints it) and the exact identities of docs/formulations.md "Identities", both sides computed
 * independently at >= 256 bits and judged with the tolerance 2^-200 max(|lhs|, |rhs|, M). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "lsce/json.h"
#include "output.h"
#include "problem_args.h"
#include "settings.h"
#include "lsce/reference.h"
#include "lsce/megatron.h"
#include "lsce/ref_options.h"

static const lsce_opt cmp_opts[] = {
  {"--logits", 1}, {"--targets", 1}, {"--weights", 1}, {"--smoothing", 1}, {"--reduction", 1},
  {"--ignore-index", 1}, {"--pad-index", 1}, {"--tp", 1}, {"--rank", 1}, {"--json", 0}, {"--help", 0},
  /* issue #15 */
  {"--logit-scale", 1}, {"--softcap", 1}, {"--z-loss", 1}, {"--sample-weights", 1}, {"--normalizer", 1}};
#define NOPTS ((int)(sizeof cmp_opts / sizeof cmp_opts[0]))

static const char *cmp_usage =
  "usage: lsce compare --logits L.npy --targets T.npy [--weights W.npy] --smoothing E\n"
  "                    [--reduction mean|sum] [--ignore-index I] [--pad-index P]\n"
  "                    [--tp T [--rank R]] [--json]\n"
  "                    [--logit-scale S] [--softcap C] [--z-loss Z] [--sample-weights S.npy]\n"
  "                    [--normalizer valid|rows|sample-weights|nonzero|N]\n"
  "Prints every catalog variant's loss ('-' where the input cannot give it; k1-megatron needs\n"
  "--tp), then the exact identities between them (holds|fails). Exit 0 when every identity\n"
  "holds, 1 otherwise.\n";

#define IDENT_PREC 320 /* >= 256 bits, as the contract asks */

typedef struct {
  char name[96];
  double lhs, rhs;
  int holds;
  int oom; /* a side's reference ran out of memory (its ball claims nothing): compare cannot complete */
} ident;

/* Does the input give variant v? */
static int available(const lsce_problem *p, int v) {
  const lsce_variant *d = &lsce_variants[v];
  if (d->needs_weights && !p->has_weights) return 0;
  if (d->needs_pad_index && p->pad_index < 0) return 0;
  if (lsce_variant_needs_tp(v) && p->tp < 1) return 0; /* --tp given and checked (lsce_megatron_check) */
  if (lsce_variant_needs_tp(v) && (lsce_uses_options(p) || p->soft)) return 0; /* no form with issue #15's options */
  return p->K >= d->min_K;
}

/* The reduced loss of variant v at smoothing e as a ball (flags for non-finite, and f->oom when
 * memory ran out: judge() carries it into the identity's line), and its M. */
static void side(arb_t val, arb_t M, lsce_ref_flags *f, lsce_problem *p, int v, const mpq_t e,
                 int ce_only) {
  int v0 = p->variant;
  mpq_t e0;
  mpq_init(e0);
  mpq_set(e0, p->e);
  p->variant = v;
  mpq_set(p->e, e);
  lsce_ref_total_ball(val, M, f, p, ce_only, IDENT_PREC);
  p->variant = v0;
  mpq_set(p->e, e0);
  mpq_clear(e0);
}

static double mid_d(const arb_t x, const lsce_ref_flags *f) {
  if (f->is_nan) return NAN;
  if (f->is_inf) return INFINITY;
  return lsce_arf_round(arb_midref(x));
}

/* lhs and rhs balls -> the identity line's facts. */
static void judge(ident *id, const arb_t l, const lsce_ref_flags *fl, const arb_t r,
                  const lsce_ref_flags *fr, const arb_t Ml, const arb_t Mr) {
  id->oom = fl->oom || fr->oom;
  id->lhs = mid_d(l, fl);
  id->rhs = mid_d(r, fr);
  if (fl->is_nan || fl->is_inf || fr->is_nan || fr->is_inf) {
    id->holds = (fl->is_nan && fr->is_nan) || (fl->is_inf && fr->is_inf && !fl->is_nan && !fr->is_nan);
    return;
  }
  arb_t d, bound, t;
  arb_init(d); arb_init(bound); arb_init(t);
  arb_sub(d, l, r, IDENT_PREC);
  arb_abs(d, d);
  arb_abs(bound, l);
  arb_abs(t, r); arb_max(bound, bound, t, IDENT_PREC);
  arb_abs(t, Ml); arb_max(bound, bound, t, IDENT_PREC);
  arb_abs(t, Mr); arb_max(bound, bound, t, IDENT_PREC);
  arb_mul_2exp_si(bound, bound, -200);
  /* holds when the largest |lhs - rhs| the balls allow is within the smallest bound they allow */
  arf_t du, bl;
  arf_init(du); arf_init(bl);
  arb_get_ubound_arf(du, d, IDENT_PREC);
  arb_get_lbound_arf(bl, bound, IDENT_PREC);
  id->holds = arf_cmp(du, bl) <= 0;
  arf_clear(du); arf_clear(bl);
  arb_clear(d); arb_clear(bound); arb_clear(t);
}

/* H = -(1-e) log(1-e) - e log(e/(K-j)), 0 log 0 = 0, straight from e (not from q). */
static void entropy_closed(arb_t H, const mpq_t e, int64_t Kj) {
  arb_t a, b;
  arb_init(a); arb_init(b);
  mpq_t t;
  mpq_init(t);
  arb_zero(H);
  mpq_set_ui(t, 1, 1);
  mpq_sub(t, t, e);
  if (mpq_sgn(t) > 0) {
    lsce_arb_set_q(a, t, IDENT_PREC);
    arb_log(b, a, IDENT_PREC);
    arb_submul(H, a, b, IDENT_PREC);
  }
  if (mpq_sgn(e) > 0) {
    mpq_set_si(t, 1, 1);
    mpq_set_si(t, (long)Kj, 1);
    mpq_div(t, e, t);
    lsce_arb_set_q(a, t, IDENT_PREC);
    arb_log(b, a, IDENT_PREC);
    lsce_arb_set_q(a, e, IDENT_PREC);
    arb_submul(H, a, b, IDENT_PREC);
  }
  mpq_clear(t);
  arb_clear(a); arb_clear(b);
}

static int64_t count_V(const lsce_problem *p, int v) {
  int64_t n = 0;
  for (int64_t i = 0; i < p->N; i++) n += lsce_row_in_V(p, v, i);
  return n;
}

/* The identity whose left side is row v of the catalog (its ident and ident_rhs columns), when the
 * input gives it; 0 when it does not apply. e2: eK/(K-1), e2ok: K >= 2 and e2 <= 1. */
static int identity(ident *id, lsce_problem *p, int v, const mpq_t e2, int e2ok) {
  const lsce_variant *d = &lsce_variants[v];
  const int rv = d->ident_rhs, mean = p->reduction == LSCE_RED_MEAN;
  const int64_t K = p->K;
  int ok = 0;
  arb_t l, r, Ml, Mr, t;
  arb_init(l); arb_init(r); arb_init(Ml); arb_init(Mr); arb_init(t);
  lsce_ref_flags fl, fr;
  mpq_t q;
  mpq_init(q);
  switch (d->ident) {
  case LSCE_IDENT_RESCALE: /* a K-1 form at e is its K-form partner at e' = eK/(K-1) */
    if (!e2ok || (d->needs_weights && !p->has_weights)) break;
    side(l, Ml, &fl, p, v, p->e, 0);
    side(r, Mr, &fr, p, rv, e2, 0);
    ok = 1;
    break;
  case LSCE_IDENT_WEIGHTS: { /* PyTorch's weighted loss against the logprob-weighted one */
    if (!p->has_weights) break;
    mpq_t W, w;
    mpq_inits(W, w, NULL);
    for (int64_t i = 0; i < p->N; i++)
      if (lsce_row_in_V(p, v, i)) { mpq_set_d(w, lsce_weight(p, lsce_target(p, i))); mpq_add(W, W, w); }
    if (mpq_sgn(W) > 0) {
      side(l, Ml, &fl, p, v, p->e, 0);
      side(r, Mr, &fr, p, rv, p->e, 0);
      if (mean) { /* the torch mean divides by W, the logprob mean by |V| */
        mpq_set_si(q, (long)count_V(p, rv), 1);
        mpq_div(q, q, W);
        lsce_arb_set_q(t, q, IDENT_PREC);
        arb_mul(r, r, t, IDENT_PREC);
        arb_mul(Mr, Mr, t, IDENT_PREC);
      }
      ok = 1;
    }
    mpq_clears(W, w, NULL);
    break;
  }
  case LSCE_IDENT_NLL: { /* weights on the NLL part only: k under equal weights (all 1 for sum) */
    if (!p->has_weights) break;
    int equal_pos = 1, all_one = 1;
    double w0 = lsce_weight(p, 0);
    for (int64_t c = 0; c < K; c++) {
      double w = lsce_weight(p, c);
      if (w != w0 || !(w > 0)) equal_pos = 0;
      if (w != 1.0) all_one = 0;
    }
    if (!(mean ? equal_pos : all_one)) break;
    side(l, Ml, &fl, p, v, p->e, 0);
    side(r, Mr, &fr, p, rv, p->e, 0);
    ok = 1;
    break;
  }
  case LSCE_IDENT_KL: /* the KL form is its right side (or its own cross-entropy part) minus H_j */
    if (K < d->min_K || (d->needs_pad_index && p->pad_index < 0)) break;
    side(l, Ml, &fl, p, v, p->e, 0);
    side(r, Mr, &fr, p, rv >= 0 ? rv : v, p->e, rv < 0);
    entropy_closed(t, p->e, K - d->off_divisor);
    if (!mean) arb_mul_si(t, t, (slong)count_V(p, v), IDENT_PREC);
    arb_sub(r, r, t, IDENT_PREC);
    arb_add(Mr, Mr, t, IDENT_PREC);
    ok = 1;
    break;
  default:
    break;
  }
  if (ok) {
    if (d->ident == LSCE_IDENT_KL)
      snprintf(id->name, sizeof id->name, "%s=%s-H%d", d->id, rv >= 0 ? lsce_variants[rv].id : "ce",
               d->off_divisor);
    else
      snprintf(id->name, sizeof id->name, "%s=%s", d->id, lsce_variants[rv].id);
    judge(id, l, &fl, r, &fr, Ml, Mr);
  }
  mpq_clear(q);
  arb_clear(l); arb_clear(r); arb_clear(Ml); arb_clear(Mr); arb_clear(t);
  return ok;
}

/* k1-megatron's identities (docs/formulations.md "k1-megatron"), after the table's: at --tp 1 it is
 * k1; at --tp T (2 <= T <= 64) the mean over the T ranks is k at e' = e V_p/(V_p-1). */
static int megatron_identities(ident *out, lsce_problem *p) {
  const int64_t K = p->K, T = p->tp;
  const int mv = lsce_variant_shard();
  if (mv < 0 || T < 1 || (T == 1 && K < 2) || T > 64) return 0;
  arb_t l, r, Ml, Mr, s, Ms;
  arb_init(l); arb_init(r); arb_init(Ml); arb_init(Mr); arb_init(s); arb_init(Ms);
  lsce_ref_flags fl, fr;
  if (T == 1) {
    side(l, Ml, &fl, p, mv, p->e, 0);
    side(r, Mr, &fr, p, LSCE_V_K1, p->e, 0);
    snprintf(out->name, sizeof out->name, "k1-megatron=k1");
    judge(out, l, &fl, r, &fr, Ml, Mr);
  } else {
    const int64_t vp = K / T, r0 = p->rank;
    int inf = 0, nan = 0, oom = 0;
    for (int64_t rk = 0; rk < T; rk++) {
      p->rank = rk;
      side(l, Ml, &fl, p, mv, p->e, 0);
      inf |= fl.is_inf; nan |= fl.is_nan; oom |= fl.oom;
      arb_add(s, s, l, IDENT_PREC);
      arb_add(Ms, Ms, Ml, IDENT_PREC);
    }
    p->rank = r0;
    arb_div_si(s, s, (slong)T, IDENT_PREC);
    arb_div_si(Ms, Ms, (slong)T, IDENT_PREC);
    fl.is_inf = inf && !nan; fl.is_nan = nan; fl.oom = oom;
    mpq_t e2;
    mpq_init(e2);
    mpq_set_si(e2, (long)vp, (unsigned long)(vp - 1));
    mpq_mul(e2, e2, p->e);
    side(r, Mr, &fr, p, LSCE_V_K, e2, 0);
    mpq_clear(e2);
    snprintf(out->name, sizeof out->name, "mean-over-ranks(k1-megatron)=k");
    judge(out, s, &fl, r, &fr, Ms, Mr);
  }
  arb_clear(l); arb_clear(r); arb_clear(Ml); arb_clear(Mr); arb_clear(s); arb_clear(Ms);
  return 1;
}

/* All the identities that apply, in the contract's order: by kind, then in catalog order. */
static int identities(ident *out, lsce_problem *p) {
  int n = 0;
  const int64_t K = p->K;
  mpq_t e2, q;
  mpq_inits(e2, q, NULL);
  /* e' = eK/(K-1) */
  int e2ok = 0;
  if (K >= 2) {
    mpq_set_si(q, (long)K, (unsigned long)(K - 1));
    mpq_mul(e2, p->e, q);
    e2ok = mpq_cmp_ui(e2, 1, 1) <= 0;
  }
  for (int kind = LSCE_IDENT_NONE + 1; kind < LSCE_IDENT_KINDS; kind++)
    for (int v = 0; v < LSCE_V_COUNT; v++)
      if ((int)lsce_variants[v].ident == kind &&
          (kind == LSCE_IDENT_RESCALE || !lsce_uses_options(p)) && !p->soft) /* the others assume the catalog's means */
        n += identity(&out[n], p, v, e2, e2ok);
  if (!lsce_uses_options(p) && !p->soft) n += megatron_identities(&out[n], p);
  mpq_clears(e2, q, NULL);
  return n;
}


/* 1 unless p has soft targets other than 0 and 1 */
static int soft_binary(const lsce_problem *p) {
  for (int64_t i = 0; p->soft && i < p->N * p->K; i++) {
    double t = lsce_npy_get_f(&p->targets, i);
    if (t != 0 && t != 1) return 0;
  }
  return 1;
}

/* ---- issue #15's identities (docs/cli.md "Options of issue #15") ------------------------------- */
/* bce-multilabel at e = bce at 2e (2e <= 1, binary or index targets); k on one-hot (N, K) soft
 * targets = k on the index targets (index targets, no row ignored). Each side is computed on its
 * own path: the sigmoid targets t' from their own formulas, the soft targets from a one-hot array
 * built here. Returns the number of lines written to out. */
static int identities15(ident *out, lsce_problem *p) {
  int n = 0;
  arb_t l, r, Ml, Mr;
  arb_init(l); arb_init(r); arb_init(Ml); arb_init(Mr);
  lsce_ref_flags fl, fr;
  mpq_t e2;
  mpq_init(e2);
  mpq_add(e2, p->e, p->e);
  if (mpq_cmp_ui(e2, 1, 1) <= 0 && soft_binary(p)) {
    side(l, Ml, &fl, p, lsce_variant_find("bce-multilabel"), p->e, 0);
    side(r, Mr, &fr, p, lsce_variant_find("bce"), e2, 0);
    snprintf(out[n].name, sizeof out[n].name, "bce-multilabel=bce");
    judge(&out[n++], l, &fl, r, &fr, Ml, Mr);
  }
  int all_valid = !p->soft;
  for (int64_t i = 0; i < p->N && all_valid; i++) all_valid = lsce_row_in_V(p, LSCE_V_K, i);
  double *oh = all_valid ? calloc((size_t)(p->N * p->K > 0 ? p->N * p->K : 1), sizeof(double)) : NULL;
  if (all_valid && !oh) { /* the identity cannot be judged: compare cannot complete */
    snprintf(out[n].name, sizeof out[n].name, "k-onehot=k");
    out[n++].oom = 1;
  }
  if (oh) {
    for (int64_t i = 0; i < p->N; i++) oh[i * p->K + lsce_target(p, i)] = 1.0;
    side(r, Mr, &fr, p, LSCE_V_K, p->e, 0);
    lsce_npy keep = p->targets;
    lsce_npy soft = keep;
    soft.dtype = LSCE_DT_F64;
    soft.ndim = 2;
    soft.shape[0] = p->N;
    soft.shape[1] = p->K;
    soft.count = p->N * p->K;
    soft.swap = 0;
    soft.data = (const unsigned char *)oh;
    p->targets = soft;
    p->soft = 1;
    side(l, Ml, &fl, p, LSCE_V_K, p->e, 0);
    p->targets = keep;
    p->soft = 0;
    snprintf(out[n].name, sizeof out[n].name, "k-onehot=k");
    judge(&out[n++], l, &fl, r, &fr, Ml, Mr);
    free(oh);
  }
  mpq_clear(e2);
  arb_clear(l); arb_clear(r); arb_clear(Ml); arb_clear(Mr);
  return n;
}

int lsce_cmd_compare(int argc, char **argv) {
  if (lsce_wants_help(cmp_opts, NOPTS, argc, argv, 2)) { fputs(cmp_usage, stdout); return 0; }
  lsce_problem p;
  lsce_problem_init(&p);
  lsce_args a;
  lsce_err err;
  lsce_ref_opts ro;
  lsce_ref_opts_default(&ro);
  lsce_problem_args pa = {.cmd = LSCE_CMD_COMPARE, .cmdname = "compare"};
  lsce_settings_ref_opts(&ro);
  int rc = LSCE_OK;
  pa.max_prec = ro.max_prec;
  if (!rc) rc = lsce_problem_args_parse(&pa, &p, &a, cmp_opts, NOPTS, argc, argv, NULL, NULL, &err);
  if (!rc) rc = lsce_require(&a, "--logits", &err);
  if (!rc) rc = lsce_require(&a, "--targets", &err);
  if (!rc) rc = lsce_require(&a, "--smoothing", &err);
  p.sample_weights_path = pa.sample_weights;
  if (!rc) rc = lsce_problem_load(&p, pa.logits, pa.targets, pa.weights, &err);
  if (!rc && lsce_arg_given(&a, "--tp") && lsce_variant_shard() >= 0) { /* k1-megatron's column: --tp against K and e */
    p.variant = lsce_variant_shard();
    rc = lsce_megatron_check(&p, &err);
    p.variant = -1;
  }
  double val[LSCE_V_COUNT];
  int have[LSCE_V_COUNT] = {0};
  for (int v = 0; v < LSCE_V_COUNT && !rc; v++) {
    if (!available(&p, v) || (p.soft && !lsce_variant_takes_soft(v))) continue;
    if (p.soft && v == LSCE_V_BCE_MULTILABEL && !soft_binary(&p)) continue; /* binary targets only */
    p.variant = v;
    lsce_ref_result r;
    rc = lsce_reference(&r, &p, &ro, "compare", &err);
    if (rc) break;
    val[v] = r.loss[0];
    have[v] = 1;
    lsce_ref_result_free(&r);
  }
  p.variant = -1;
  ident ids[LSCE_V_COUNT + 4]; /* a row's identity each, k1-megatron's two and issue #15's two */
  int nid = rc ? 0 : identities(ids, &p);
  if (!rc) nid += identities15(ids + nid, &p);
  for (int k = 0; k < nid && !rc; k++)
    if (ids[k].oom) rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "compare: out of memory");
  if (rc) { lsce_problem_clear(&p); return lsce_fail(&err); }
  int all = 1;
  for (int k = 0; k < nid; k++) all &= ids[k].holds;
  char b1[48], b2[48];
  if (!lsce_arg_given(&a, "--json")) {
    for (int v = 0; v < LSCE_V_COUNT; v++)
      printf("%s %s\n", lsce_variants[v].id, have[v] ? lsce_fmt_g17(b1, val[v]) : "-");
    for (int k = 0; k < nid; k++)
      printf("identity %s lhs=%s rhs=%s %s\n", ids[k].name, lsce_fmt_g17(b1, ids[k].lhs),
             lsce_fmt_g17(b2, ids[k].rhs), ids[k].holds ? "holds" : "fails");
  } else {
    /* the optimum is taken for the target of the first row of V */
    int64_t y = -1;
    for (int64_t i = 0; i < p.N && y < 0; i++)
      if (lsce_row_in_V(&p, LSCE_V_NONE, i)) y = lsce_target(&p, i);
    double *opt = malloc(sizeof(double) * (size_t)p.K);
    fputs("{\"variants\": [", stdout);
    for (int v = 0; v < LSCE_V_COUNT; v++) {
      fputs(v ? ",\n  {\"id\": " : "\n  {\"id\": ", stdout);
      lsce_json_str(stdout, lsce_variants[v].id);
      fputs(", \"value\": ", stdout);
      if (have[v]) lsce_json_num(stdout, val[v]); else fputs("null", stdout);
      fputs(", \"optimum\": ", stdout);
      p.variant = v;
      int yok = y >= 0 && !(lsce_variants[v].pad && y == p.pad_index);
      /* the optimum is the catalog's kappa / sum kappa: none for the sigmoid family or the options */
      if (have[v] && yok && opt && !lsce_uses_options(&p) && lsce_ref_optimum(opt, &p, y)) {
        fputs("[", stdout);
        for (int64_t c = 0; c < p.K; c++) { if (c) fputs(", ", stdout); lsce_json_num(stdout, opt[c]); }
        fputs("]", stdout);
      } else {
        fputs("null", stdout);
      }
      fputs("}", stdout);
    }
    p.variant = -1;
    free(opt);
    fputs("],\n \"identities\": [", stdout);
    for (int k = 0; k < nid; k++) {
      fputs(k ? ",\n  {\"name\": " : "\n  {\"name\": ", stdout);
      lsce_json_str(stdout, ids[k].name);
      fputs(", \"lhs\": ", stdout); lsce_json_num(stdout, ids[k].lhs);
      fputs(", \"rhs\": ", stdout); lsce_json_num(stdout, ids[k].rhs);
      printf(", \"holds\": %s}", ids[k].holds ? "true" : "false");
    }
    fputs("]}\n", stdout);
  }
  lsce_problem_clear(&p);
  return all ? 0 : 1;
}
