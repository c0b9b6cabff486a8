/* cli/identify: `lsce identify --probe DIR --outputs ODIR [--json]`: a black-box loss's outputs on
 * the probe cases (ODIR/<case>.npy, optionally ODIR/<case>_grad.npy; cases without an output are
 * left out) fitted jointly by every catalog variant with one smoothing e shared by all cases
 * (verify/diagnose.c's model and noise model, in the dtype of each output file). Prints
 * `identify variant=<id> smoothing=<shortest decimal consistent with all values>[ reduction=<r>]`
 * and exits 0 when exactly one variant fits; `identify none` or `identify several ...`, exit 1,
 * otherwise. reduction= appears when the outputs are all means or all sums whatever each case asked.
 * The sigmoid family is fitted too (docs/cli.md "probe and identify"): on the probe's index targets
 * (one-hot, binary) bce-multilabel at e IS bce at 2e, so a fitting bce-multilabel candidate is folded
 * into the bce candidate of the same reduction and class weights, and the line names bce with the
 * equivalence: `identify variant=bce smoothing=<s>[ reduction=<r>] (= bce-multilabel at <s/2>)`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "args.h"
#include "lsce/diagnose.h"
#include "lsce/json.h"
#include "json_read.h"
#include "probe.h"
#include "problem_args.h"

static const lsce_opt opts[] = {{"--probe", 1}, {"--outputs", 1}, {"--json", 0}, {"--help", 0},
                                 {"--logit-scale", 1}, {"--softcap", 1}, {"--z-loss", 1}};
#define NOPTS ((int)(sizeof opts / sizeof opts[0]))
/* issue #15's options identify takes: the settings the loss ran with, applied to every case */
static const char *const opts15[] = {"--logit-scale", "--softcap", "--z-loss"};

/* the options given into p (values already checked on a scratch problem) */
static int apply15(lsce_problem *p, const lsce_args *a, lsce_err *err) {
  lsce_problem_args pa;
  memset(&pa, 0, sizeof pa);
  for (int k = 0; k < 3; k++) {
    if (!lsce_arg_given(a, opts15[k])) continue;
    int rc = lsce_problem_option15(&pa, p, opts15[k], lsce_arg(a, opts15[k]), err);
    if (rc) return rc;
  }
  return LSCE_OK;
}

typedef struct {
  lsce_problem p;
  double *loss, *grad;
  int used;
} icase;

static int exists(const char *path) { struct stat st; return stat(path, &st) == 0; }

/* the documented identity bce-multilabel at e = bce at 2e (2e <= 1, binary targets): the other
 * side of candidate c as "(= <id> at <e'>)" into buf, "" when c is neither or 2e > 1 */
static const char *equiv(char *buf, size_t n, const lsce_id_cand *c, int *ev, char *es, size_t ne) {
  buf[0] = 0;
  *ev = -1;
  if (c->v != LSCE_V_BCE && c->v != LSCE_V_BCE_MULTILABEL) return buf;
  mpq_t q, r;
  mpq_inits(q, r, NULL);
  mpq_set_ui(r, c->v == LSCE_V_BCE ? 1 : 2, c->v == LSCE_V_BCE ? 2 : 1);
  mpq_mul(q, c->e, r);
  if (mpq_cmp_ui(q, 1, 1) <= 0) {
    *ev = c->v == LSCE_V_BCE ? LSCE_V_BCE_MULTILABEL : LSCE_V_BCE;
    lsce_q_str(es, ne, q);
    snprintf(buf, n, " (= %s at %s)", lsce_variants[*ev].id, es);
  }
  mpq_clears(q, r, NULL);
  return buf;
}

/* candidate k is a bce-multilabel fit whose bce side (same reduction and weights) fits too */
static int folded(const lsce_id_cand *c, int nc, int k) {
  if (!c[k].fits || c[k].v != LSCE_V_BCE_MULTILABEL) return 0;
  for (int j = 0; j < nc; j++)
    if (c[j].fits && c[j].v == LSCE_V_BCE && c[j].red_mode == c[k].red_mode && c[j].noweights == c[k].noweights) return 1;
  return 0;
}

/* an output file: float dtype, the expected shape; values into *out, dtype into *dt */
static int read_out(const char *path, int64_t n0, int64_t n1, int scalar, double **out, lsce_dtype *dt, lsce_err *err) {
  lsce_npy o;
  int rc = lsce_npy_read(&o, path, err);
  if (rc) return rc;
  int ok = scalar ? (o.ndim == 0 || (o.ndim == 1 && o.shape[0] == 1))
                  : n1 < 0 ? (o.ndim == 1 && o.shape[0] == n0) : (o.ndim == 2 && o.shape[0] == n0 && o.shape[1] == n1);
  if (o.dtype > LSCE_DT_BF16) rc = lsce_err_set(err, LSCE_EINPUT, "%s: must be float64, float32, float16 or uint16 (bfloat16), got %s", path, lsce_dtype_name(o.dtype));
  else if (!ok) {
    if (scalar) rc = lsce_err_set(err, LSCE_EINPUT, "%s: expected shape () or (1,) for this case's reduction", path);
    else if (n1 < 0) rc = lsce_err_set(err, LSCE_EINPUT, "%s: expected shape (%lld,) for reduction none", path, (long long)n0);
    else rc = lsce_err_set(err, LSCE_EINPUT, "%s: expected shape (%lld, %lld) like the logits", path, (long long)n0, (long long)n1);
  } else {
    int64_t n = scalar ? 1 : n1 < 0 ? n0 : n0 * n1;
    *out = malloc(sizeof(double) * (size_t)n);
    if (!*out) rc = lsce_err_set(err, LSCE_EINCOMPLETE, "identify: out of memory");
    else for (int64_t i = 0; i < n; i++) (*out)[i] = lsce_npy_get_f(&o, i);
    *dt = o.dtype;
  }
  lsce_npy_free(&o);
  return rc;
}

int lsce_cmd_identify(int argc, char **argv) {
  lsce_args a;
  lsce_err err;
  if (lsce_args_parse(&a, opts, NOPTS, argc, argv, 2, "identify", &err)) return lsce_fail(&err);
  if (lsce_arg_given(&a, "--help")) {
    fputs("usage: lsce identify --probe DIR --outputs ODIR [--logit-scale S] [--softcap C] [--z-loss Z] [--json]\n"
          "Names the formulation and smoothing a loss computes from its outputs on `lsce probe` inputs:\n"
          "ODIR/<case>.npy (shape () or (N,) as the case's reduction says) and optionally ODIR/<case>_grad.npy.\n"
          "--logit-scale, --softcap, --z-loss: the settings the loss ran with (every case).\n"
          "Also the sigmoid family (bce, bce-multilabel, bce-softmax-target): a none case's output is the row sums (N,).\n"
          "Exit 0 when exactly one variant fits, 1 when none or several do.\n", stdout);
    return 0;
  }
  if (lsce_require(&a, "--probe", &err) || lsce_require(&a, "--outputs", &err)) return lsce_fail(&err);
  const char *dir = lsce_arg(&a, "--probe"), *odir = lsce_arg(&a, "--outputs");
  {
    lsce_problem scratch; /* the option values, checked before any file is read */
    lsce_problem_init(&scratch);
    int orc = apply15(&scratch, &a, &err);
    lsce_problem_clear(&scratch);
    if (orc) return lsce_fail(&err);
  }
  char path[4096], p2[4096], p3[4096], emsg[128];
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  size_t len;
  char *text = lsce_read_text(path, &len);
  if (!text) { lsce_err_set(&err, LSCE_EINPUT, "%s: cannot read", path); return lsce_fail(&err); }
  lsce_jval *man = lsce_json_parse(text, len, emsg, sizeof emsg);
  free(text);
  const lsce_jval *arr = man ? lsce_json_get(man, "cases") : NULL;
  if (!arr || arr->t != LSCE_J_ARR || arr->n < 1) {
    lsce_err_set(&err, LSCE_EINPUT, "%s: %s", path, man ? "no \"cases\" array" : emsg);
    lsce_json_free(man);
    return lsce_fail(&err);
  }
  int n = arr->n, rc = LSCE_OK, nused = 0;
  icase *cs = calloc((size_t)n, sizeof *cs);
  lsce_dg_input *in = calloc((size_t)n, sizeof *in);
  if (!cs || !in) rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "identify: out of memory");
  for (int k = 0; k < n && !rc; k++) {
    const lsce_jval *c = &arr->items[k];
    const char *name = lsce_json_gets(c, "case"), *lf = lsce_json_gets(c, "logits"), *tf = lsce_json_gets(c, "targets");
    const char *wf = lsce_json_gets(c, "weights"), *red = lsce_json_gets(c, "reduction");
    if (!name || !lf || !tf || !red || (strcmp(red, "mean") && strcmp(red, "sum") && strcmp(red, "none"))) {
      rc = lsce_err_set(&err, LSCE_EINPUT, "%s: case %d: needs case, logits, targets and reduction mean|sum|none", path, k);
      break;
    }
    lsce_problem *p = &cs[k].p;
    lsce_problem_init(p);
    p->validate_all = 1;
    p->variant = -1;
    p->pad_index = LSCE_PROBE_PAD;
    p->reduction = !strcmp(red, "sum") ? LSCE_RED_SUM : !strcmp(red, "none") ? LSCE_RED_NONE : LSCE_RED_MEAN;
    snprintf(p2, sizeof p2, "%s/%s.npy", odir, name);
    if (!exists(p2)) continue;
    char lp[4096], tp[4096], wp[4096];
    snprintf(lp, sizeof lp, "%s/%s", dir, lf);
    snprintf(tp, sizeof tp, "%s/%s", dir, tf);
    if (wf) snprintf(wp, sizeof wp, "%s/%s", dir, wf);
    if ((rc = lsce_problem_load(p, lp, tp, wf ? wp : NULL, &err))) break;
    if ((rc = apply15(p, &a, &err))) break;
    lsce_dtype ldt = LSCE_DT_F64, gdt = LSCE_DT_F64;
    if ((rc = read_out(p2, p->N, -1, p->reduction != LSCE_RED_NONE, &cs[k].loss, &ldt, &err))) break;
    snprintf(p3, sizeof p3, "%s/%s_grad.npy", odir, name);
    if (exists(p3) && (rc = read_out(p3, p->N, p->K, 0, &cs[k].grad, &gdt, &err))) break;
    cs[k].used = 1;
    lsce_dg_input *d = &in[nused++];
    d->p = p; d->loss = cs[k].loss; d->grad = cs[k].grad; d->ldt = ldt; d->gdt = gdt;
  }
  if (!rc && !nused) rc = lsce_err_set(&err, LSCE_EINPUT, "%s: no output for any probe case (expected <case>.npy)", odir);
  lsce_id_cand cands[LSCE_ID_MAXCANDS];
  int nc = 0;
  if (!rc) {
    lsce_ref_opts ro;
    lsce_ref_opts_default(&ro);
    rc = lsce_ref_opts_env(&ro, &err);
    if (!rc) nc = lsce_identify_fit(cands, in, nused, &ro, &err, &rc);
  }
  int best = -1, several = 0;
  int64_t values = 0;
  for (int k = 0; k < nused; k++)
    values += (in[k].p->reduction == LSCE_RED_NONE ? in[k].p->N : 1) + (in[k].grad ? in[k].p->N * in[k].p->K : 0);
  for (int k = 0; k < nc && !rc; k++) {
    if (!cands[k].fits || folded(cands, nc, k)) continue;
    if (best < 0) best = k;
    else if (cands[k].v != cands[best].v) several = 1;
    /* same variant: as asked (mode -1) comes first */
  }
  int unique = best >= 0 && !several, ev;
  char eq[160], es[64];
  if (!rc && !lsce_arg_given(&a, "--json")) {
    if (unique) {
      printf("identify variant=%s smoothing=%s", lsce_variants[cands[best].v].id, cands[best].s);
      if (cands[best].red_mode >= 0) printf(" reduction=%s", lsce_red_name(cands[best].red_mode));
      printf("%s\n", equiv(eq, sizeof eq, &cands[best], &ev, es, sizeof es));
    } else if (best < 0) printf("identify none\n");
    else {
      printf("identify several");
      for (int k = 0; k < nc; k++)
        if (cands[k].fits && !folded(cands, nc, k))
          printf(" variant=%s smoothing=%s%s%s%s;", lsce_variants[cands[k].v].id, cands[k].s,
                 cands[k].red_mode >= 0 ? " reduction=" : "", cands[k].red_mode >= 0 ? lsce_red_name(cands[k].red_mode) : "",
                 equiv(eq, sizeof eq, &cands[k], &ev, es, sizeof es));
      printf("\n");
    }
  } else if (!rc) {
    printf("{\"identified\": %s, \"variant\": ", unique ? "true" : "false");
    if (unique) lsce_json_str(stdout, lsce_variants[cands[best].v].id); else fputs("null", stdout);
    fputs(", \"smoothing\": ", stdout);
    if (unique) lsce_json_str(stdout, cands[best].s); else fputs("null", stdout);
    fputs(", \"reduction\": ", stdout);
    if (unique && cands[best].red_mode >= 0) lsce_json_str(stdout, lsce_red_name(cands[best].red_mode)); else fputs("null", stdout);
    /* issue #15 (additive): the identity's other side, and whether a sigmoid fit left the weights out */
    fputs(", \"equivalent\": ", stdout);
    if (unique && equiv(eq, sizeof eq, &cands[best], &ev, es, sizeof es)[0]) {
      fputs("{\"variant\": ", stdout); lsce_json_str(stdout, lsce_variants[ev].id);
      fputs(", \"smoothing\": ", stdout); lsce_json_str(stdout, es); fputs("}", stdout);
    } else fputs("null", stdout);
    fputs(", \"class_weights\": ", stdout);
    if (unique) lsce_json_str(stdout, cands[best].noweights ? "ignored" : "as given"); else fputs("null", stdout);
    printf(", \"cases\": %d, \"values\": %lld, \"candidates\": [", nused, (long long)values);
    for (int k = 0; k < nc; k++) {
      fputs(k ? ", {\"variant\": " : "{\"variant\": ", stdout); lsce_json_str(stdout, lsce_variants[cands[k].v].id);
      fputs(", \"reduction\": ", stdout);
      if (cands[k].red_mode >= 0) lsce_json_str(stdout, lsce_red_name(cands[k].red_mode)); else lsce_json_str(stdout, "as asked");
      fputs(", \"smoothing\": ", stdout);
      if (cands[k].fits) lsce_json_str(stdout, cands[k].s); else fputs("null", stdout);
      fputs(", \"class_weights\": ", stdout); lsce_json_str(stdout, cands[k].noweights ? "ignored" : "as given");
      fputs(", \"ulp\": ", stdout); lsce_json_num(stdout, cands[k].ulp);
      printf(", \"fits\": %s, \"folded\": %s}", cands[k].fits ? "true" : "false", folded(cands, nc, k) ? "true" : "false");
    }
    fputs("]}\n", stdout);
  }
  for (int k = 0; k < nc; k++) mpq_clear(cands[k].e);
  for (int k = 0; cs && k < n; k++) { lsce_problem_clear(&cs[k].p); free(cs[k].loss); free(cs[k].grad); }
  free(cs); free(in);
  lsce_json_free(man);
  if (rc) return lsce_fail(&err);
  return unique ? 0 : 1;
}
