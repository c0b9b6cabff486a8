/* cli/probe: `lsce probe --out DIR [--dtype T]` writes designed inputs on which every pair of
 * catalog formulations differs, at any smoothing, by far more than float32 noise: six small cases
 * with different K (3..8, so the K and K-1 forms map e differently in each), mean, sum and none
 * reductions, rows from confident to flat, targets that include the pad class 0 (the pad
 * convention of `lsce identify` for k2-pad-kl), and class weights whose target sum W differs from
 * the row count (so the three weighted means differ). Every logit is a multiple of 1/16 in [-4, 7]
 * (exact in every dtype, bfloat16 included), every weight a multiple of 1/4. DIR/manifest.json lists
 * the cases: {"cases": [{"case", "logits", "targets", "weights" (or null), "reduction"}, ...]}. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "args.h"
#include "probe.h"

static const lsce_opt opts[] = {{"--out", 1}, {"--dtype", 1}, {"--help", 0}};

const lsce_probe_case lsce_probe_cases[LSCE_PROBE_NCASES] = {
  {"a", 4, 3, 0, LSCE_RED_MEAN}, {"b", 5, 5, 0, LSCE_RED_NONE}, {"c", 3, 8, 0, LSCE_RED_SUM},
  {"d", 4, 4, 1, LSCE_RED_MEAN}, {"e", 4, 6, 1, LSCE_RED_NONE}, {"f", 3, 7, 1, LSCE_RED_SUM}};

/* logits of case k: a fixed LCG, then row shapes (row 0 confident, row 1 flat, others spread) */
static void fill(const lsce_probe_case *pc, int k, double *z, double *t, double *w) {
  unsigned s = 12345u + 977u * (unsigned)k;
  for (int i = 0; i < pc->N; i++) {
    for (int c = 0; c < pc->K; c++) {
      s = s * 1103515245u + 12345u;
      int q = (int)((s >> 16) % 97) - 48;               /* -48..48 -> [-3, 3] in 1/16 steps */
      if (i == 1) q /= 8;                                /* a nearly flat row */
      z[i * pc->K + c] = q / 16.0;
    }
    t[i] = (i == 2 && k % 2 == 0) ? LSCE_PROBE_PAD : (double)((i * 2 + k + 1) % pc->K); /* row 2 of a, c, e: the pad class */
    if (i == 0) z[i * pc->K + (int)t[i]] = 7;            /* confident and right */
    if (i == 3) z[i * pc->K + ((int)t[i] + 1) % pc->K] = 5; /* confident and wrong */
  }
  for (int c = 0; c < pc->K; c++) w[c] = 0.25 * (2 + (c * 5 + k) % 7); /* 0.5 .. 2 */
}

int lsce_cmd_probe(int argc, char **argv) {
  lsce_args a;
  lsce_err err;
  if (lsce_args_parse(&a, opts, 3, argc, argv, 2, "probe", &err)) return lsce_fail(&err);
  if (lsce_arg_given(&a, "--help")) {
    fputs("usage: lsce probe --out DIR [--dtype T]\n"
          "Writes designed inputs (DIR/manifest.json and .npy files, logits in T, default float32) on which\n"
          "every catalog formulation differs; run a loss on each case, save ODIR/<case>.npy (and optionally\n"
          "ODIR/<case>_grad.npy), then `lsce identify --probe DIR --outputs ODIR` names what it computes.\n",
          stdout);
    return 0;
  }
  int dt = LSCE_DT_F32;
  if (lsce_arg_given(&a, "--dtype") && (dt = lsce_parse_dtype(lsce_arg(&a, "--dtype"))) < 0) {
    lsce_err_set(&err, LSCE_EINPUT, "--dtype: must be float64, float32, float16 or bfloat16, got '%s'", lsce_arg(&a, "--dtype"));
    return lsce_fail(&err);
  }
  if (lsce_require(&a, "--out", &err)) return lsce_fail(&err);
  const char *dir = lsce_arg(&a, "--out");
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    lsce_err_set(&err, LSCE_EINCOMPLETE, "%s: cannot create: %s", dir, strerror(errno));
    return lsce_fail(&err);
  }
  char path[4096], mtmp[4096];
  snprintf(mtmp, sizeof mtmp, "%s/manifest.json.tmp", dir);
  FILE *m = fopen(mtmp, "w");
  if (!m) { lsce_err_set(&err, LSCE_EINCOMPLETE, "%s: cannot write: %s", mtmp, strerror(errno)); return lsce_fail(&err); }
  fputs("{\"cases\": [", m);
  int rc = LSCE_OK;
  for (int k = 0; k < LSCE_PROBE_NCASES && !rc; k++) {
    const lsce_probe_case *pc = &lsce_probe_cases[k];
    double z[LSCE_PROBE_MAXN * LSCE_PROBE_MAXK], t[LSCE_PROBE_MAXN], w[LSCE_PROBE_MAXK];
    fill(pc, k, z, t, w);
    int64_t sz[2] = {pc->N, pc->K}, sk[1] = {pc->K};
    snprintf(path, sizeof path, "%s/%s_logits.npy", dir, pc->name);
    rc = lsce_npy_write(path, (lsce_dtype)dt, z, 2, sz, &err);
    snprintf(path, sizeof path, "%s/%s_targets.npy", dir, pc->name);
    if (!rc) rc = lsce_npy_write(path, LSCE_DT_I64, t, 1, sz, &err);
    snprintf(path, sizeof path, "%s/%s_weights.npy", dir, pc->name);
    if (!rc && pc->weighted) rc = lsce_npy_write(path, dt == LSCE_DT_F64 ? LSCE_DT_F64 : LSCE_DT_F32, w, 1, sk, &err);
    fprintf(m, "%s\n  {\"case\": \"%s\", \"logits\": \"%s_logits.npy\", \"targets\": \"%s_targets.npy\", \"weights\": ",
            k ? "," : "", pc->name, pc->name, pc->name);
    if (pc->weighted) fprintf(m, "\"%s_weights.npy\"", pc->name); else fputs("null", m);
    fprintf(m, ", \"reduction\": \"%s\"}", pc->red == LSCE_RED_SUM ? "sum" : pc->red == LSCE_RED_NONE ? "none" : "mean");
  }
  fputs("\n]}\n", m);
  if (fclose(m) != 0 && !rc) rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "%s: cannot write", mtmp);
  snprintf(path, sizeof path, "%s/manifest.json", dir);
  if (!rc && rename(mtmp, path) != 0) rc = lsce_err_set(&err, LSCE_EINCOMPLETE, "%s: cannot write: %s", path, strerror(errno));
  if (rc) { remove(mtmp); return lsce_fail(&err); }
  printf("probe %d cases in %s\n", LSCE_PROBE_NCASES, dir);
  return 0;
}
