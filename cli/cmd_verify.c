/* cli/cmd_verify.c: `lsce verify [--impl NAME|all] [--quick] [--fixtures DIR] [--json FILE]`: every
 * selected registry row on every manifest fixture, each output measured in ulps against the
 * certified reference; one line per (impl, regime), then "N passed, M failed, S skipped". */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli.h"
#include "args.h"
#include "lsce/json.h"
#include "json_read.h"
#include "lsce/measure.h"
#include "output.h"
#include "problem_args.h"
#include "progress.h"
#include "settings.h"
#include "sha256.h"
#include "lsce/megatron.h"
#include "lsce/certify.h"
#include "lsce/config.h"
#include "lsce/invoke.h"
#include "lsce/reference.h"
#include "lsce/ref_options.h"
#include "lsce_version.h"

#ifndef LSCE_FIXTURES_DIR
#define LSCE_FIXTURES_DIR "fixtures/data"
#endif
#ifndef LSCE_FIXTURES_LARGE_DIR
#define LSCE_FIXTURES_LARGE_DIR ""
#endif

static const lsce_opt opts[] = {{"--impl", 1}, {"--quick", 0}, {"--fixtures", 1}, {"--json", 1}, {"--help", 0}};
#define NOPTS ((int)(sizeof opts / sizeof opts[0]))

typedef struct {
  const char *impl;
  char regime[64];
  double loss_ulp, grad_ulp;
  int failed, ran, skipped;
} agg;

typedef struct {
  agg *a;
  int n, cap;
  FILE *json;
  int nresults;
  long by_cert[3]; /* results decided by the fast certifier, the reference, the fast+reference */
} state;

static const char *const cert_names[3] = {"fast", "reference", "fast+reference"};

static agg *agg_get(state *s, const char *impl, const char *regime) {
  for (int k = 0; k < s->n; k++)
    if (s->a[k].impl == impl && strcmp(s->a[k].regime, regime) == 0) return &s->a[k];
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 32;
    agg *na = realloc(s->a, sizeof(agg) * (size_t)s->cap);
    if (!na) return NULL;
    s->a = na;
  }
  agg *g = &s->a[s->n++];
  memset(g, 0, sizeof *g);
  g->impl = impl;
  snprintf(g->regime, sizeof g->regime, "%s", regime);
  return g;
}

static void path_join(char *out, size_t n, const char *dir, const char *rel) {
  snprintf(out, n, "%s/%s", dir, rel);
}

static int parse_reduction(const char *r) {
  return !strcmp(r, "sum") ? LSCE_RED_SUM : !strcmp(r, "none") ? LSCE_RED_NONE : LSCE_RED_MEAN;
}

/* ---- the manifest, validated before a case runs: every error is
 * "DIR/manifest.json: case NAME: <what>" (exit 2) --------------------------------------------- */

typedef struct {
  const char *dir, *name;
  lsce_err *err;
} mctx;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int bad(const mctx *m, const char *fmt, ...) {
  char what[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return lsce_err_set(m->err, LSCE_EINPUT, "%s/manifest.json: case %s: %s", m->dir, m->name, what);
}

/* A non-empty array of strings, each accepted by ok(); `why` words a rejected one ('%s'). */
static int str_list(const mctx *m, const lsce_jval *c, const char *key, int (*ok)(const char *),
                    const char *why) {
  const lsce_jval *v = lsce_json_get(c, key);
  if (!v || v->t != LSCE_J_ARR || v->n == 0) return bad(m, "\"%s\" must be a non-empty array of strings", key);
  for (int k = 0; k < v->n; k++) {
    if (v->items[k].t != LSCE_J_STR) return bad(m, "\"%s\" must be a non-empty array of strings", key);
    if (!ok(v->items[k].str)) {
      char w[300];
      snprintf(w, sizeof w, why, v->items[k].str);
      return bad(m, "%s: %s", key, w);
    }
  }
  return LSCE_OK;
}
static int ok_variant(const char *s) { return lsce_variant_find(s) >= 0; }
static int ok_reduction(const char *s) { return !strcmp(s, "mean") || !strcmp(s, "sum") || !strcmp(s, "none"); }
/* m: the loss and gradient of one call, with the loss of the forward-only call (loss_f) in place
 * of the first one's where it measures worse (or NaN) */
static int measure_both(lsce_measure_t *m, const lsce_problem *p, const lsce_ref_result *ref, const double *loss,
                        const double *grad, const double *loss_f, lsce_dtype ldt, lsce_dtype dt, lsce_err *err) {
  lsce_measure_t f;
  if (lsce_measure(m, p, ref, loss, grad, ldt, dt) || (loss_f && lsce_measure(&f, p, ref, loss_f, NULL, ldt, dt)))
    return lsce_err_set(err, LSCE_EINCOMPLETE, "verify: out of memory");
  if (!loss_f) return LSCE_OK;
  if (f.loss_ulp > m->loss_ulp || isnan(f.loss_ulp) || (f.loss_ulp == m->loss_ulp && f.loss_doubt > m->loss_doubt)) {
    m->loss_ulp = f.loss_ulp; m->loss_row = f.loss_row; m->loss_ref = f.loss_ref; m->loss_got = f.loss_got;
    m->loss_td = f.loss_td; m->loss_doubt = f.loss_doubt;
  }
  return LSCE_OK;
}
static void counts_max(lsce_row_counts *a, const lsce_row_counts *b) {
  if (b->rows > a->rows) a->rows = b->rows;
  if (b->safe > a->safe) a->safe = b->safe;
  if (b->reference > a->reference) a->reference = b->reference;
  if (b->flagged > a->flagged) a->flagged = b->flagged;
  if (b->accurate > a->accurate) a->accurate = b->accurate;
}

static int ok_smoothing(const char *s) {
  mpq_t e;
  mpq_init(e);
  int r = lsce_parse_smoothing(e, s, "smoothing", NULL) == LSCE_OK;
  mpq_clear(e);
  return r;
}

/* An optional integer member in [lo, 2^53]; null allowed when `nullable`. */
static int int_member(const mctx *m, const lsce_jval *c, const char *key, double lo, int nullable,
                      int64_t *out) {
  const lsce_jval *v = lsce_json_get(c, key);
  if (!v || (nullable && v->t == LSCE_J_NULL)) return LSCE_OK;
  if (v->t != LSCE_J_NUM || v->num != floor(v->num) || v->num < lo || v->num > 0x1p53)
    return bad(m, "\"%s\" must be an integer%s", key, nullable ? " or null" : "");
  *out = (int64_t)v->num;
  return LSCE_OK;
}

/* files.<role>: {"path": string relative to DIR[, "sha256": 64 hex digits]}, the checksum checked. */
static int file_member(const mctx *m, const lsce_jval *files, const char *role, int required,
                       char *path, size_t n) {
  const lsce_jval *f = lsce_json_get(files, role);
  path[0] = '\0';
  if (!f || f->t == LSCE_J_NULL) return required ? bad(m, "files.%s: missing", role) : LSCE_OK;
  const char *rel = lsce_json_gets(f, "path");
  if (f->t != LSCE_J_OBJ || !rel || !*rel) return bad(m, "files.%s: needs a \"path\" string", role);
  path_join(path, n, m->dir, rel);
  const lsce_jval *sum = lsce_json_get(f, "sha256");
  if (!sum || sum->t == LSCE_J_NULL) return LSCE_OK;
  if (sum->t != LSCE_J_STR || strlen(sum->str) != 64 || strspn(sum->str, "0123456789abcdef") != 64)
    return bad(m, "files.%s: \"sha256\" must be 64 lowercase hex digits", role);
  char hex[65];
  int e = lsce_sha256_file(hex, path);
  if (e) return lsce_err_set(m->err, LSCE_EINCOMPLETE, "%s: cannot read: %s", path, strerror(e));
  if (strcmp(hex, sum->str) != 0) return bad(m, "files.%s: %s does not match its recorded sha256", role, rel);
  return LSCE_OK;
}

/* After the files are loaded: the recorded dtypes and shape, and each variant applies. */
static int check_loaded(const mctx *m, const lsce_jval *c, const lsce_problem *p) {
  static const char *const keys[3] = {"dtype", "targets_dtype", "weights_dtype"};
  const lsce_npy *arr[3] = {&p->logits, &p->targets, p->has_weights ? &p->weights : NULL};
  for (int k = 0; k < 3; k++) {
    const lsce_jval *v = lsce_json_get(c, keys[k]);
    if (!v || v->t == LSCE_J_NULL) continue; /* null: not recorded */
    if (!arr[k]) return bad(m, "\"%s\" is given but the case has no weights file", keys[k]);
    const char *have = lsce_dtype_name(arr[k]->dtype);
    if (v->t != LSCE_J_STR || strcmp(v->str, have) != 0)
      return bad(m, "\"%s\" does not match the file, which holds %s", keys[k], have);
  }
  int64_t n = p->N, kk = p->K;
  int rc;
  if ((rc = int_member(m, c, "n", 0, 0, &n))) return rc;
  if ((rc = int_member(m, c, "k", 1, 0, &kk))) return rc;
  if (n != p->N || kk != p->K) {
    char got[64];
    snprintf(got, sizeof got, "(%lld, %lld)", (long long)p->N, (long long)p->K);
    return bad(m, "\"n\" and \"k\" do not match the logits, of shape %s", got);
  }
  const lsce_jval *vars = lsce_json_get(c, "variants");
  for (int vi = 0; vi < vars->n; vi++) {
    const lsce_variant *d = &lsce_variants[lsce_variant_find(vars->items[vi].str)];
    if (d->needs_weights && !p->has_weights) return bad(m, "variant %s needs a weights file", d->id);
    if (d->needs_pad_index && p->pad_index < 0) return bad(m, "variant %s needs a pad_index", d->id);
    if (p->K < d->min_K) return bad(m, "variant %s needs more classes than the logits have", d->id);
    if (d->weighting == LSCE_W_SHARD) { /* k1-megatron: "tp", the T values run (every rank r < T) */
      const lsce_jval *tp = lsce_json_get(c, "tp");
      if (!tp || tp->t != LSCE_J_ARR || tp->n == 0)
        return bad(m, "variant %s needs \"tp\", a non-empty array of tensor-parallel sizes", d->id);
      for (int k = 0; k < tp->n; k++) {
        double t = tp->items[k].t == LSCE_J_NUM ? tp->items[k].num : 0;
        if (t != floor(t) || t < 1 || t > 0x1p31 || p->K % (int64_t)t != 0 || p->K < 2 * (int64_t)t)
          return bad(m, "\"tp\": each entry must be an integer T >= 1 dividing K with K >= 2T");
      }
    }
  }
  return LSCE_OK;
}

/* issue #15: "options", an array of strings read pairwise as the command line's --logit-scale,
 * --softcap, --z-loss and --normalizer (their values exactly as typed); files.sample_weights is
 * --sample-weights. Soft targets come from a 2-D targets file. */
static int case_options(const mctx *m, const lsce_jval *c, lsce_problem *p) {
  const lsce_jval *o = lsce_json_get(c, "options");
  if (!o || o->t == LSCE_J_NULL) return LSCE_OK;
  if (o->t != LSCE_J_ARR || o->n % 2) return bad(m, "\"options\" must be an array of option, value strings");
  for (int k = 0; k < o->n; k += 2) {
    if (o->items[k].t != LSCE_J_STR || o->items[k + 1].t != LSCE_J_STR || !strcmp(o->items[k].str, "--sample-weights"))
      return bad(m, "\"options\" must be an array of option, value strings (sample weights: files.sample_weights)");
    lsce_problem_args pa = {.cmd = LSCE_CMD_REFERENCE, .cmdname = "verify"};
    lsce_err e2;
    if (lsce_problem_option15(&pa, p, o->items[k].str, o->items[k + 1].str, &e2))
      return bad(m, "options: %s", e2.line);
  }
  return LSCE_OK;
}

/* the rules of reference and run for the case's variants and reductions (docs/cli.md) */
static int check_options(const mctx *m, const lsce_jval *c, const lsce_problem *p) {
  const lsce_jval *vars = lsce_json_get(c, "variants"), *reds = lsce_json_get(c, "reductions");
  for (int vi = 0; vi < vars->n; vi++) {
    int v = lsce_variant_find(vars->items[vi].str);
    const lsce_variant *d = &lsce_variants[v];
    if (p->soft && !lsce_variant_takes_soft(v)) return bad(m, "variant %s takes no soft (N, K) targets", d->id);
    if (p->has_zloss && !strcmp(d->family, "sigmoid")) return bad(m, "variant %s takes no z-loss", d->id);
    if (p->normalizer != LSCE_NORM_DEFAULT && d->weighting == LSCE_W_NLL)
      return bad(m, "variant %s takes no normalizer", d->id);
  }
  for (int ri = 0; ri < reds->n && p->normalizer != LSCE_NORM_DEFAULT; ri++)
    if (strcmp(reds->items[ri].str, "mean")) return bad(m, "--normalizer: only with reduction mean");
  if ((p->normalizer == LSCE_NORM_SAMPLE_WEIGHTS || p->normalizer == LSCE_NORM_NONZERO) && !p->has_sw)
    return bad(m, "--normalizer: needs files.sample_weights");
  return LSCE_OK;
}

/* Runs every selected implementation on one manifest case. */
static int run_case(state *s, const char *dir, const lsce_jval *c, int index, const lsce_impl *only, lsce_err *err) {
  char num[32];
  snprintf(num, sizeof num, "#%d", index);
  const char *name = lsce_json_gets(c, "case"), *regime = lsce_json_gets(c, "regime");
  mctx m = {dir, name && *name ? name : num, err};
  if (c->t != LSCE_J_OBJ) return bad(&m, "not an object");
  if (!name || !*name) return bad(&m, "needs a \"case\" string");
  if (!regime || !*regime) return bad(&m, "needs a \"regime\" string");
  const lsce_jval *files = lsce_json_get(c, "files");
  if (!files || files->t != LSCE_J_OBJ) return bad(&m, "needs a \"files\" object");
  int rc;
  if ((rc = str_list(&m, c, "variants", ok_variant, "unknown variant '%.200s' (see lsce variants)")) ||
      (rc = str_list(&m, c, "smoothings", ok_smoothing, "'%.200s' is not a decimal in [0, 1]")) ||
      (rc = str_list(&m, c, "reductions", ok_reduction, "'%.200s' is not mean, sum or none")))
    return rc;
  const lsce_jval *vars = lsce_json_get(c, "variants"), *eps = lsce_json_get(c, "smoothings"),
                  *reds = lsce_json_get(c, "reductions");
  lsce_problem p;
  lsce_problem_init(&p);
  char L[LSCE_PATH_MAX], T[LSCE_PATH_MAX], W[LSCE_PATH_MAX], SW[LSCE_PATH_MAX];
  if ((rc = int_member(&m, c, "ignore_index", -0x1p53, 0, &p.ignore_index)) ||
      (rc = int_member(&m, c, "pad_index", 0, 1, &p.pad_index)) ||
      (rc = file_member(&m, files, "logits", 1, L, sizeof L)) ||
      (rc = file_member(&m, files, "targets", 1, T, sizeof T)) ||
      (rc = file_member(&m, files, "weights", 0, W, sizeof W)) ||
      (rc = file_member(&m, files, "sample_weights", 0, SW, sizeof SW)) || (rc = case_options(&m, c, &p)) ||
      (p.sample_weights_path = SW[0] ? SW : NULL, 0) ||
      (rc = lsce_problem_load(&p, L, T, W[0] ? W : NULL, err)) || (rc = check_loaded(&m, c, &p)) ||
      (rc = check_options(&m, c, &p))) {
    lsce_problem_clear(&p);
    return rc;
  }
  lsce_dtype dt = p.logits.dtype;
  int any = 0;
  /* issue #15: a case with options (or a sigmoid variant) runs only the rows that compute them; the
   * others refuse them (lsce_impl_takes_options) and are not run, not counted */
  int opt15 = 0;
  for (int vi = 0; vi < vars->n; vi++) {
    p.variant = lsce_variant_find(vars->items[vi].str);
    if (lsce_uses_options(&p)) opt15 = 1;
  }
  for (int k = 0; k < lsce_nimpls; k++) {
    const lsce_impl *im = &lsce_impls[k];
    if (only && im != only) continue;
    if (!lsce_impl_takes(im, dt)) continue; /* not run, not counted */
    if (opt15 && !lsce_impl_computes_options(im)) continue;
    agg *g = agg_get(s, im->name, regime);
    if (!g) { lsce_problem_clear(&p); return lsce_err_set(err, LSCE_EINCOMPLETE, "verify: out of memory"); }
    if (!im->available()) g->skipped = 1; else any = 1;
  }
  for (int vi = 0; any && vi < vars->n; vi++) {
    int v = lsce_variant_find(vars->items[vi].str); /* validated: known and applicable */
    const lsce_variant *d = &lsce_variants[v];
    for (int ei = 0; ei < eps->n; ei++) {
      lsce_parse_smoothing(p.e, eps->items[ei].str, "smoothing", err); /* validated */
      /* k1-megatron: every T of "tp" and rank r < T (a T whose e' passes 1 is left out, as lsce
         * refuses it); other variants: once */
      const lsce_jval *tps = lsce_json_get(c, "tp");
      const int ntp = (d->weighting == LSCE_W_SHARD) ? tps->n : 1;
      for (int ti = 0; ti < ntp; ti++)
      for (int64_t rk = 0; rk < ((d->weighting == LSCE_W_SHARD) ? (int64_t)tps->items[ti].num : 1); rk++)
      for (int ri = 0; ri < reds->n; ri++) {
        p.tp = (d->weighting == LSCE_W_SHARD) ? (int64_t)tps->items[ti].num : 0;
        p.rank = rk;
        if ((d->weighting == LSCE_W_SHARD) && lsce_megatron_invalid(p.e, p.K, p.tp)) continue;
        p.variant = v;
        p.reduction = parse_reduction(reds->items[ri].str);
        lsce_ref_opts ro;
        lsce_ref_opts_default(&ro);
        lsce_settings_ref_opts(&ro);
        ro.want_grad = 1;
        ro.want_lo = 1;
        char label[96];
        snprintf(label, sizeof label, "verify: case %s", name);
        lsce_progress_attach(&ro, label);
        lsce_ref_result ref, exact;
        memset(&exact, 0, sizeof exact);
        const lsce_dtype ldt = lsce_loss_dtype_for(dt);
        int fast = lsce_use_fast(&p, lsce_settings_get()->certify), tried = fast, have_exact = 0;
        if (fast) {
          /* the fast certifier, kept where its error bound cannot move a figure by 2^-20 ulp */
          if ((rc = lsce_certify_fast(&ref, &p, 1, 2, err))) { lsce_problem_clear(&p); return rc; }
          if (lsce_measure_doubt(&p, &ref, ldt, dt) > LSCE_DOUBT_MAX) { lsce_ref_result_free(&ref); fast = 0; }
        }
        if (!fast && (rc = lsce_reference(&ref, &p, &ro, "verify", err))) { lsce_problem_clear(&p); return rc; }
        lsce_progress_clear(); /* before any FAIL line */
        ro.progress = NULL;    /* a reference taken for one row below runs silent */
        double *loss = calloc((size_t)(ref.nloss > 0 ? ref.nloss : 1), sizeof(double));
        double *grad = calloc((size_t)(p.N * p.K > 0 ? p.N * p.K : 1), sizeof(double));
        double *loss_f = calloc((size_t)(ref.nloss > 0 ? ref.nloss : 1), sizeof(double));
        if (!loss || !grad || !loss_f) rc = lsce_err_set(err, LSCE_EINCOMPLETE, "verify: out of memory");
        for (int k = 0; !rc && k < lsce_nimpls; k++) {
          const lsce_impl *im = &lsce_impls[k];
          if ((only && im != only) || !lsce_impl_takes(im, dt) || !im->available()) continue;
          if (opt15 && !lsce_impl_computes_options(im)) continue; /* refuses the options (see above) */
          agg *g = agg_get(s, im->name, regime);
          lsce_row_counts cnt;
          if ((rc = lsce_invoke_counted(im, &p, loss, grad, &cnt, "verify", err))) break;
          /* with LSCE_F32PASS=all, the forward pass alone too (no gradient: the CPU rows' float32
           * first pass, issue #12, runs only there): its loss is measured beside the first call's,
           * the worse counts, and the ladder's counts are the larger of the two calls'. Not by
           * default: the forward-only CPU rows miss their bound on one case of
           * tests/test_certify_sound.py ("span", weights 2^-1074 and 2^769, k-torch-weighted mean:
           * 2.5 for 2.19973739...), a fault of the reduction's ladder older than this pass */
          const int fwd_too = lsce_config_get()->f32pass == 2;
          lsce_row_counts cf;
          if (fwd_too && (rc = lsce_invoke_counted(im, &p, loss_f, NULL, &cf, "verify", err))) break;
          if (fwd_too) counts_max(&cnt, &cf);
          lsce_measure_t m;
          if ((rc = measure_both(&m, &p, &ref, loss, grad, fwd_too ? loss_f : NULL, ldt, dt, err))) break;
          const lsce_bound *b = &im->bounds[dt];
          int cert = fast ? 0 : tried ? 2 : 1; /* fast, reference, fast+reference */
          if (fast && (lsce_within(m.loss_ulp, m.loss_td, m.loss_doubt, b->loss_ulp) < 0 ||
                       lsce_within(m.grad_ulp, m.grad_td, m.grad_doubt, b->grad_ulp) < 0)) {
            /* the certifier's bound straddles this row's bound: the reference decides */
            if (!have_exact && (rc = lsce_reference(&exact, &p, &ro, "verify", err))) break;
            have_exact = 1;
            if ((rc = measure_both(&m, &p, &exact, loss, grad, fwd_too ? loss_f : NULL, ldt, dt, err))) break;
            cert = 2;
          }
          s->by_cert[cert]++;
          int pass = lsce_within(m.loss_ulp, m.loss_td, m.loss_doubt, b->loss_ulp) == 1 &&
                     lsce_within(m.grad_ulp, m.grad_td, m.grad_doubt, b->grad_ulp) == 1;
          g->ran = 1;
          if (m.loss_ulp > g->loss_ulp || isnan(m.loss_ulp)) g->loss_ulp = m.loss_ulp;
          if (m.grad_ulp > g->grad_ulp || isnan(m.grad_ulp)) g->grad_ulp = m.grad_ulp;
          if (!pass) {
            g->failed = 1;
            char h1[48], h2[48];
            char tpr[64] = "";
            if (d->weighting == LSCE_W_SHARD) snprintf(tpr, sizeof tpr, " tp=%lld rank=%lld", (long long)p.tp, (long long)p.rank);
            fprintf(stderr, "FAIL impl=%s case=%s variant=%s%s smoothing=%s reduction=%s loss_ulp=%.3g "
                    "(row=%lld ref=%s got=%s) grad_ulp=%.3g (row=%lld col=%lld)\n",
                    im->name, name, d->id, tpr, eps->items[ei].str, reds->items[ri].str, m.loss_ulp,
                    (long long)m.loss_row, lsce_fmt_hex(h1, m.loss_ref), lsce_fmt_hex(h2, m.loss_got),
                    m.grad_ulp, (long long)m.grad_row, (long long)m.grad_col);
          }
          if (s->json) {
            fputs(s->nresults++ ? ",\n  {" : "\n  {", s->json);
            fputs("\"impl\": ", s->json); lsce_json_str(s->json, im->name);
            fputs(", \"variant\": ", s->json); lsce_json_str(s->json, d->id);
            if (d->weighting == LSCE_W_SHARD) fprintf(s->json, ", \"tp\": %lld, \"rank\": %lld", (long long)p.tp, (long long)p.rank);
            fputs(", \"regime\": ", s->json); lsce_json_str(s->json, regime);
            fputs(", \"case\": ", s->json); lsce_json_str(s->json, name);
            fputs(", \"dtype\": ", s->json); lsce_json_str(s->json, lsce_dtype_name(dt));
            fprintf(s->json, ", \"n\": %lld, \"k\": %lld", (long long)p.N, (long long)p.K);
            fputs(", \"smoothing\": ", s->json); lsce_json_str(s->json, eps->items[ei].str);
            fputs(", \"reduction\": ", s->json); lsce_json_str(s->json, reds->items[ri].str);
            fputs(", \"loss_ulp\": ", s->json); lsce_json_num(s->json, m.loss_ulp);
            fputs(", \"grad_ulp\": ", s->json); lsce_json_num(s->json, m.grad_ulp);
            fputs(", \"bound_loss_ulp\": ", s->json); lsce_json_num(s->json, b->loss_ulp);
            fputs(", \"bound_grad_ulp\": ", s->json); lsce_json_num(s->json, b->grad_ulp);
            fputs(", \"certifier\": ", s->json); lsce_json_str(s->json, cert_names[cert]);
            /* the exact CPU rows' escalation ladder (impls/cpu/rowguard.h): fractions of the rows in V */
            double nr = cnt.rows > 0 ? (double)cnt.rows : 1.0;
            fputs(", \"escalated_rows\": ", s->json); lsce_json_num(s->json, (double)cnt.safe / nr);
            fputs(", \"reference_rows\": ", s->json); lsce_json_num(s->json, (double)cnt.reference / nr);
            fputs(", \"flagged_rows\": ", s->json); lsce_json_num(s->json, (double)cnt.flagged / nr);
            fputs(", \"accurate_rows\": ", s->json); lsce_json_num(s->json, (double)cnt.accurate / nr);
            fprintf(s->json, ", \"pass\": %s}", pass ? "true" : "false");
          }
        }
        free(loss);
        free(loss_f);
        free(grad);
        lsce_ref_result_free(&ref);
        lsce_ref_result_free(&exact);
        if (rc) { lsce_problem_clear(&p); return rc; }
      }
    }
  }
  lsce_problem_clear(&p);
  return LSCE_OK;
}

static int run_dir(state *s, const char *dir, const lsce_impl *only, lsce_err *err) {
  char mp[4096];
  path_join(mp, sizeof mp, dir, "manifest.json");
  size_t len;
  char *text = lsce_read_text(mp, &len);
  if (!text) return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot read: %s", mp, strerror(errno));
  char jerr[128];
  lsce_jval *man = lsce_json_parse(text, len, jerr, sizeof jerr);
  free(text);
  if (!man) return lsce_err_set(err, LSCE_EINPUT, "%s: not valid JSON (%s)", mp, jerr);
  const lsce_jval *cases = lsce_json_get(man, "cases");
  int rc = LSCE_OK;
  if (!cases || cases->t != LSCE_J_ARR) rc = lsce_err_set(err, LSCE_EINPUT, "%s: no \"cases\" array", mp);
  for (int k = 0; !rc && k < cases->n; k++) {
    lsce_progress_steps("verify", k, cases->n, "cases");
    rc = run_case(s, dir, &cases->items[k], k, only, err);
  }
  lsce_json_free(man);
  return rc;
}

static int exists(const char *p) { struct stat st; return stat(p, &st) == 0; }

int lsce_cmd_verify(int argc, char **argv) {
  if (lsce_wants_help(opts, NOPTS, argc, argv, 2)) {
    fputs("usage: lsce verify [--impl NAME|all] [--quick] [--fixtures DIR] [--json FILE]\n"
          "Every registry row on every manifest fixture, measured in ulps against the certified\n"
          "reference. --fixtures beats $LSCE_FIXTURES, which beats the build's fixture directory;\n"
          "--quick: the committed fixtures only.\n", stdout);
    return 0;
  }
  lsce_args a;
  lsce_err err;
  if (lsce_args_parse(&a, opts, NOPTS, argc, argv, 2, "verify", &err)) return lsce_fail(&err);
  const char *iname = lsce_arg(&a, "--impl");
  const lsce_impl *only = NULL;
  if (iname && strcmp(iname, "all") != 0) {
    only = lsce_impl_find(iname);
    if (!only) {
      lsce_err_set(&err, LSCE_EINPUT, "--impl: unknown implementation '%s' (see lsce impls)", iname);
      return lsce_fail(&err);
    }
  }
  const char *dirs[2] = {NULL, NULL};
  const char *env = lsce_settings_get()->fixtures;
  if (lsce_arg(&a, "--fixtures")) dirs[0] = lsce_arg(&a, "--fixtures");
  else if (env) dirs[0] = env;
  else {
    dirs[0] = LSCE_FIXTURES_DIR;
    char lm[4096];
    snprintf(lm, sizeof lm, "%s/manifest.json", LSCE_FIXTURES_LARGE_DIR);
    static const char large_dir[] = LSCE_FIXTURES_LARGE_DIR; /* "" when the build names none */
    if (!lsce_arg_given(&a, "--quick") && large_dir[0] != '\0' && exists(lm)) dirs[1] = large_dir;
  }
  int rc = lsce_settings_check_precision(LSCE_DEFAULT_PRECISION, 0, &err);
  if (!rc) rc = lsce_threads_preflight(only ? only->name : NULL, &err);
  if (rc) return lsce_fail(&err);
  state s = {0};
  lsce_outset os;
  lsce_outset_init(&os);
  const char *jpath = lsce_arg(&a, "--json");
  if (jpath) {
    s.json = lsce_outset_open(&os, jpath, &err);
    if (!s.json) return lsce_fail(&err);
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(s.json, "{\"schema\": 1, \"context\": {\"commit\": \"%s\", \"date\": \"%s\", \"machine\": ",
            LSCE_COMMIT, date);
    lsce_json_str(s.json, lsce_machine_name());
    fputs(", \"compiler\": ", s.json);
    lsce_json_str(s.json, lsce_compiler_name());
    fputs("},\n \"results\": [", s.json);
  }
  for (int k = 0; k < 2 && !rc; k++)
    if (dirs[k]) rc = run_dir(&s, dirs[k], only, &err);
  if (s.json) {
    fprintf(s.json, "],\n \"certifiers\": {\"fast\": %ld, \"reference\": %ld, \"fast+reference\": %ld}}\n",
            s.by_cert[0], s.by_cert[1], s.by_cert[2]);
    if (rc) { fclose(s.json); lsce_outset_abort(&os); }
    else rc = lsce_outset_close(&os, s.json, jpath, &err);
  }
  if (rc) { free(s.a); return lsce_fail(&err); }
  int np = 0, nf = 0, ns = 0;
  char b1[32], b2[32];
  for (int k = 0; k < s.n; k++) {
    agg *g = &s.a[k];
    const char *verdict = g->skipped ? "SKIP" : g->failed ? "FAIL" : "PASS";
    if (g->skipped) ns++; else if (g->failed) nf++; else np++;
    snprintf(b1, sizeof b1, "%.3g", g->loss_ulp);
    snprintf(b2, sizeof b2, "%.3g", g->grad_ulp);
    printf("%s %s loss_ulp=%s grad_ulp=%s %s\n", g->impl, g->regime, isinf(g->loss_ulp) ? "inf" : b1,
           isinf(g->grad_ulp) ? "inf" : b2, verdict);
  }
  printf("%d passed, %d failed, %d skipped\n", np, nf, ns);
  free(s.a);
  /* the --json file appears only when standard output took the verdicts too */
  if ((rc = lsce_outset_check_stdout(&os, &err)) || (rc = lsce_outset_commit(&os, &err))) return lsce_fail(&err);
  return nf ? 1 : 0;
}
