/* cli/cmd_verify.c: `lsce verify [--impl NAME|all] [--quick] [--fixtures DIR] [--json FILE]`: every
 * selected registry row on every manifest fixture, each output measured in ulps against the
 * certified reference; one line per (impl, regime), then "N passed, M failed, S skipped". */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli.h"
#include "args.h"
#include "json.h"
#include "json_read.h"
#include "measure.h"
#include "output.h"
#include "problem_args.h"
#include "lsce/certify.h"
#include "lsce/invoke.h"
#include "lsce/reference.h"
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
  int fast_cases, fallbacks;
} state;

/* LSCE_CERTIFY=fast|reference forces a certifier; by default problems of 2^20 logits or more use
 * the fast one (impls/certify.c), smaller ones the MPFR reference. */
static int use_fast(const lsce_problem *p) {
  const char *c = getenv("LSCE_CERTIFY");
  if (c && !strcmp(c, "fast")) return 1;
  if (c && !strcmp(c, "reference")) return 0;
  return p->N * p->K >= (1 << 20);
}

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

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap);
  while (b) {
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
    if (n == cap) { cap *= 2; char *nb = realloc(b, cap); if (!nb) { free(b); b = NULL; } else b = nb; }
  }
  fclose(f);
  *len = n;
  return b;
}

static void path_join(char *out, size_t n, const char *dir, const char *rel) {
  snprintf(out, n, "%s/%s", dir, rel);
}

static int parse_reduction(const char *r) {
  return !strcmp(r, "sum") ? LSCE_RED_SUM : !strcmp(r, "none") ? LSCE_RED_NONE : LSCE_RED_MEAN;
}

/* Runs every selected implementation on one manifest case. */
static int run_case(state *s, const char *dir, const lsce_jval *c, const lsce_impl *only, lsce_err *err) {
  const char *name = lsce_json_gets(c, "case"), *regime = lsce_json_gets(c, "regime");
  const lsce_jval *files = lsce_json_get(c, "files");
  const char *lp = lsce_json_gets(lsce_json_get(files, "logits"), "path");
  const char *tp = lsce_json_gets(lsce_json_get(files, "targets"), "path");
  const char *wp = lsce_json_gets(lsce_json_get(files, "weights"), "path");
  const lsce_jval *vars = lsce_json_get(c, "variants"), *eps = lsce_json_get(c, "smoothings"),
                  *reds = lsce_json_get(c, "reductions"), *ign = lsce_json_get(c, "ignore_index"),
                  *pad = lsce_json_get(c, "pad_index");
  if (!name || !regime || !lp || !tp || !vars || !eps || !reds)
    return lsce_err_set(err, LSCE_EINPUT, "%s/manifest.json: case %s: missing fields", dir, name ? name : "?");
  char L[4096], T[4096], W[4096];
  path_join(L, sizeof L, dir, lp);
  path_join(T, sizeof T, dir, tp);
  if (wp) path_join(W, sizeof W, dir, wp);
  lsce_problem p;
  lsce_problem_init(&p);
  if (ign && ign->t == LSCE_J_NUM) p.ignore_index = (int64_t)ign->num;
  if (pad && pad->t == LSCE_J_NUM) p.pad_index = (int64_t)pad->num;
  int rc = lsce_problem_load(&p, L, T, wp ? W : NULL, err);
  if (rc) { lsce_problem_clear(&p); return rc; }
  lsce_dtype dt = p.logits.dtype;
  int any = 0;
  for (int k = 0; k < lsce_nimpls; k++) {
    const lsce_impl *im = &lsce_impls[k];
    if (only && im != only) continue;
    if (!lsce_impl_takes(im, dt)) continue; /* not run, not counted */
    agg *g = agg_get(s, im->name, regime);
    if (!g) { lsce_problem_clear(&p); return lsce_err_set(err, LSCE_EINCOMPLETE, "verify: out of memory"); }
    if (!im->available()) g->skipped = 1; else any = 1;
  }
  for (int vi = 0; any && vi < vars->n; vi++) {
    if (vars->items[vi].t != LSCE_J_STR) continue;
    int v = lsce_variant_find(vars->items[vi].str);
    if (v < 0) continue;
    const lsce_variant *d = &lsce_variants[v];
    if ((d->needs_weights && !p.has_weights) || (d->needs_pad_index && p.pad_index < 0) || p.K < d->min_K) continue;
    for (int ei = 0; ei < eps->n; ei++) {
      if (eps->items[ei].t != LSCE_J_STR) continue;
      if (lsce_parse_smoothing(p.e, eps->items[ei].str, "smoothing", err)) { lsce_problem_clear(&p); return LSCE_EINPUT; }
      for (int ri = 0; ri < reds->n; ri++) {
        if (reds->items[ri].t != LSCE_J_STR) continue;
        p.variant = v;
        p.reduction = parse_reduction(reds->items[ri].str);
        lsce_ref_opts ro;
        lsce_ref_opts_default(&ro);
        if ((rc = lsce_ref_opts_env(&ro, err))) { lsce_problem_clear(&p); return rc; }
        ro.want_grad = 1;
        ro.want_lo = 1;
        lsce_ref_result ref;
        const lsce_dtype ldt = lsce_loss_dtype_for(dt);
        int fast = use_fast(&p);
        if (fast) {
          /* the fast certifier, kept only when its bound cannot move a figure by 2^-20 ulp */
          if ((rc = lsce_certify_fast(&ref, &p, 2, err))) { lsce_problem_clear(&p); return rc; }
          if (lsce_measure_doubt(&p, &ref, LSCE_CERTIFY_REL, ldt, dt) > 0x1p-20) {
            lsce_ref_result_free(&ref);
            fast = 0;
            s->fallbacks++;
          } else s->fast_cases++;
        }
        if (!fast && (rc = lsce_reference(&ref, &p, &ro, "verify", err))) { lsce_problem_clear(&p); return rc; }
        double *loss = calloc((size_t)(ref.nloss > 0 ? ref.nloss : 1), sizeof(double));
        double *grad = calloc((size_t)(p.N * p.K > 0 ? p.N * p.K : 1), sizeof(double));
        if (!loss || !grad) rc = lsce_err_set(err, LSCE_EINCOMPLETE, "verify: out of memory");
        for (int k = 0; !rc && k < lsce_nimpls; k++) {
          const lsce_impl *im = &lsce_impls[k];
          if ((only && im != only) || !lsce_impl_takes(im, dt) || !im->available()) continue;
          agg *g = agg_get(s, im->name, regime);
          lsce_row_counts cnt;
          if ((rc = lsce_invoke_counted(im, &p, loss, grad, &cnt, "verify", err))) break;
          lsce_measure_t m;
          lsce_measure(&m, &p, &ref, loss, grad, ldt, dt);
          const lsce_bound *b = &im->bounds[dt];
          int pass = m.loss_ulp <= b->loss_ulp && m.grad_ulp <= b->grad_ulp;
          g->ran = 1;
          if (m.loss_ulp > g->loss_ulp || isnan(m.loss_ulp)) g->loss_ulp = m.loss_ulp;
          if (m.grad_ulp > g->grad_ulp || isnan(m.grad_ulp)) g->grad_ulp = m.grad_ulp;
          if (!pass) {
            g->failed = 1;
            char h1[48], h2[48];
            fprintf(stderr, "FAIL impl=%s case=%s variant=%s smoothing=%s reduction=%s loss_ulp=%.3g "
                    "(row=%lld ref=%s got=%s) grad_ulp=%.3g (row=%lld col=%lld)\n",
                    im->name, name, d->id, eps->items[ei].str, reds->items[ri].str, m.loss_ulp,
                    (long long)m.loss_row, lsce_fmt_hex(h1, m.loss_ref), lsce_fmt_hex(h2, m.loss_got),
                    m.grad_ulp, (long long)m.grad_row, (long long)m.grad_col);
          }
          if (s->json) {
            fputs(s->nresults++ ? ",\n  {" : "\n  {", s->json);
            fputs("\"impl\": ", s->json); lsce_json_str(s->json, im->name);
            fputs(", \"variant\": ", s->json); lsce_json_str(s->json, d->id);
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
            /* the exact CPU rows' escalation ladder (impls/cpu/rowguard.h): fractions of the rows in V */
            double nr = cnt.rows > 0 ? (double)cnt.rows : 1.0;
            fputs(", \"escalated_rows\": ", s->json); lsce_json_num(s->json, (double)cnt.safe / nr);
            fputs(", \"reference_rows\": ", s->json); lsce_json_num(s->json, (double)cnt.reference / nr);
            fputs(", \"flagged_rows\": ", s->json); lsce_json_num(s->json, (double)cnt.flagged / nr);
            fprintf(s->json, ", \"pass\": %s}", pass ? "true" : "false");
          }
        }
        free(loss);
        free(grad);
        lsce_ref_result_free(&ref);
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
  char *text = slurp(mp, &len);
  if (!text) return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot read: %s", mp, strerror(errno));
  char jerr[128];
  lsce_jval *man = lsce_json_parse(text, len, jerr, sizeof jerr);
  free(text);
  if (!man) return lsce_err_set(err, LSCE_EINPUT, "%s: not valid JSON (%s)", mp, jerr);
  const lsce_jval *cases = lsce_json_get(man, "cases");
  int rc = LSCE_OK;
  if (!cases || cases->t != LSCE_J_ARR) rc = lsce_err_set(err, LSCE_EINPUT, "%s: no \"cases\" array", mp);
  for (int k = 0; !rc && k < cases->n; k++) rc = run_case(s, dir, &cases->items[k], only, err);
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
  const char *env = getenv("LSCE_FIXTURES");
  if (lsce_arg(&a, "--fixtures")) dirs[0] = lsce_arg(&a, "--fixtures");
  else if (env && *env) dirs[0] = env;
  else {
    dirs[0] = LSCE_FIXTURES_DIR;
    char lm[4096];
    snprintf(lm, sizeof lm, "%s/manifest.json", LSCE_FIXTURES_LARGE_DIR);
    static const char large_dir[] = LSCE_FIXTURES_LARGE_DIR; /* "" when the build names none */
    if (!lsce_arg_given(&a, "--quick") && large_dir[0] != '\0' && exists(lm)) dirs[1] = large_dir;
  }
  state s = {0};
  lsce_outset os;
  lsce_outset_init(&os);
  const char *jpath = lsce_arg(&a, "--json");
  char jtmp[4200];
  if (jpath) {
    snprintf(jtmp, sizeof jtmp, "%s.lsce-tmp-verify", jpath);
    s.json = fopen(jtmp, "w");
    if (!s.json) {
      lsce_err_set(&err, LSCE_EINCOMPLETE, "%s: cannot write: %s", jpath, strerror(errno));
      return lsce_fail(&err);
    }
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
  int rc = LSCE_OK;
  for (int k = 0; k < 2 && !rc; k++)
    if (dirs[k]) rc = run_dir(&s, dirs[k], only, &err);
  if (s.json) {
    fputs("]}\n", s.json);
    int bad = fclose(s.json) != 0;
    if (rc || bad) remove(jtmp);
    else if (rename(jtmp, jpath) != 0) rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "%s: cannot write: %s", jpath, strerror(errno));
    if (!rc && bad) rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "%s: cannot write", jpath);
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
  return nf ? 1 : 0;
}
