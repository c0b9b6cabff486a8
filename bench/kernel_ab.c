/* bench/kernel_ab.c: lsce-kernel-ab, the first-pass row kernels against the accurate ones in one
 * process, through the same driver (lsce_cpu_drive: bound, ladder, reduction), interleaved A B A B ...
 * and best of R each, so a loaded machine slows every column alike. Prints, per dtype and pass (fwd,
 * fwdbwd), each column's best seconds and cycles per logit (rdtsc, per thread), and the rows the
 * accurate rung recomputed ("accurate") and the safe path took ("safe") in each column that can have
 * them. The columns (COLS below):
 *  - first: the rows as they run (narrow logits: the 16-bit table pass, the float32 pass, the double
 *    single pass, by the driver's choice; float64: the single pass; each with its rungs);
 *  - table: simd.h's double table exp two-pass first pass alone (vd_exp_tab; float64: vd_exp2x);
 *  - accurate: the accurate kernels alone (degree-11 vd_exp; float64: vd_exp2xx);
 *  - f32pass=0: first with the float32 pass off (LSCE_F32PASS=0: the double two passes);
 *  - one=0: first with the single passes' one read off (LSCE_F32ONE=0: the float32 pass's two passes;
 *    LSCE_F64ONE=0: stats_f64's two passes);
 *  - dblone=0: first with the double single pass off (LSCE_DBLONE=0);
 *  - tab16=0: first with the 16-bit table pass off (LSCE_TAB16=0);
 *  - pipe=0: first with the float32 forward+backward pipeline off (LSCE_PIPE=0: one row at a time).
 * Inputs: bench/inputs.c's (logits N(0,1), uniform targets), variant k, e = 0.1, mean. With
 * LSCE_AB_SIGMA=s and LSCE_AB_BOOST=b (both optional) the logits become s z + b [j = y] (rounded once
 * to the dtype): rows like a trained model's (s 1.5, b 10: loss about 2.9 at K = 32000) rather than
 * N(0, 1)'s loss of about log K. LSCE_AB_NARROW=1 skips the float64 rows. Not a test: a measurement tool.
 * Usage: lsce-kernel-ab [N K threads reps] (default 512 32000 1 7). */
#include <gmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>
#include "cpu/elem.h"
#include "cpu/kernels.h"
#include "inputs.h"
#include "lsce/config.h"
#include "lsce/params.h"
#include "lsce/variants.h"

/* LSCE_AB_SIGMA, LSCE_AB_BOOST (above): z -> s z + b [j = y], in place */
static void reshape_rows(const lsce_bench_inputs *in) {
  const char *bs = getenv("LSCE_AB_BOOST"), *ss = getenv("LSCE_AB_SIGMA");
  if (!bs && !ss) return;
  const double b = bs ? atof(bs) : 0.0, s = ss ? atof(ss) : 1.0;
  for (int64_t i = 0; i < in->N; i++)
    for (int64_t j = 0; j < in->K; j++)
      lsce_st(in->logits, in->dt, i * in->K + j, s * lsce_ld(in->logits, in->dt, i * in->K + j) + (j == in->targets[i] ? b : 0.0));
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* a column: its kernels (0 first, 1 table, 2 accurate) and the knob it turns off (NULL: none) */
typedef struct { const char *name; int kern; const char *off; } column;
static const column COLS[] = {{"first", 0, NULL},           {"table", 1, NULL},           {"accurate", 2, NULL},
                              {"f32pass=0", 0, "f32pass"}, {"one=0", 0, "one"},          {"dblone=0", 0, "dblone"},
                              {"tab16=0", 0, "tab16"},     {"pipe=0", 0, "pipe"}};
#define NCOL ((int)(sizeof COLS / sizeof COLS[0]))

static lsce_config column_config(const lsce_config *base, const char *off) {
  lsce_config c = *base;
  if (!off) return c;
  if (!strcmp(off, "f32pass")) c.f32pass = 0;
  else if (!strcmp(off, "one")) { c.f32one = 0; c.f64one = 0; }
  else if (!strcmp(off, "dblone")) c.dblone = 0;
  else if (!strcmp(off, "tab16")) c.tab16 = 0;
  else if (!strcmp(off, "pipe")) c.pipe = 0;
  return c;
}

int main(int argc, char **argv) {
  int64_t N = argc > 1 ? atoll(argv[1]) : 512, K = argc > 2 ? atoll(argv[2]) : 32000;
  int threads = argc > 3 ? atoi(argv[3]) : 1, reps = argc > 4 ? atoi(argv[4]) : 7;
  const lsce_kernels cur = lsce_cpu_kernels();
  if (!cur.acc_stats) { printf("no SIMD kernels on this machine\n"); return 77; }
  /* the accurate kernels' own keep/reuse pair is not exported by lsce_cpu_kernels: that column runs the
   * gradient sweep without kept exps */
  const lsce_kernels acc = {cur.acc_stats, cur.acc_grad, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
  const lsce_kernels tab = {cur.stats_dbl ? cur.stats_dbl : cur.stats, cur.grad, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                            NULL};
  const lsce_kernels *kern[3] = {&cur, &tab, &acc};
  const lsce_config cf = *lsce_config_get();
  lsce_config ccol[NCOL];
  for (int s = 0; s < NCOL; s++) ccol[s] = column_config(&cf, COLS[s].off);
  const lsce_dtype dts[] = {LSCE_DT_F32, LSCE_DT_BF16, LSCE_DT_F16, LSCE_DT_F64};
  const char *dn[] = {"float32", "bfloat16", "float16", "float64"};
  mpq_t e;
  mpq_init(e);
  mpq_set_si(e, 1, 10);
  printf("N=%lld K=%lld threads=%d best of %d, interleaved; cycles per logit in brackets\n", (long long)N, (long long)K,
         threads, reps);
  const char *narrow = getenv("LSCE_AB_NARROW");
  for (int d = 0; d < (narrow && !strcmp(narrow, "1") ? 3 : 4); d++) {
    const lsce_bench_inputs *in = lsce_inputs_get(dts[d], N, K);
    if (!in) return 3;
    reshape_rows(in);
    lsce_params prm;
    lsce_params_init(&prm, LSCE_V_K, LSCE_RED_MEAN, e, N, K, in->targets, NULL, -100, -1);
    lsce_row_counts cnt = {0, 0, 0, 0, 0};
    prm.counts = &cnt;
    lsce_call c = {in->logits, dts[d], N, K, in->targets, NULL, &prm, dts[d] == LSCE_DT_F64, NULL, NULL, NULL};
    void *grad = malloc((size_t)(N * K) * 8);
    if (!grad) return 3;
    for (int bwd = 0; bwd < 2; bwd++) {
      double best[NCOL], loss[NCOL];
      unsigned long long cyc[NCOL];
      int64_t accurate[NCOL], safe[NCOL];
      for (int s = 0; s < NCOL; s++) { best[s] = 1e30; cyc[s] = ~0ULL; }
      for (int r = 0; r < reps; r++)
        for (int s = 0; s < NCOL; s++) {
          lsce_config_set(&ccol[s]);
          double t0 = now();
          unsigned long long c0 = __rdtsc();
          lsce_cpu_drive(&loss[s], bwd ? grad : NULL, dts[d], &c, kern[COLS[s].kern], threads, 0);
          unsigned long long c1 = __rdtsc();
          double t = now() - t0;
          if (t < best[s]) best[s] = t;
          if (c1 - c0 < cyc[s]) cyc[s] = c1 - c0;
          accurate[s] = cnt.accurate;
          safe[s] = cnt.safe;
        }
      lsce_config_set(&cf);
      double nl = (double)N * (double)K;
      printf("%-8s %-6s", dn[d], bwd ? "fwdbwd" : "fwd");
      for (int s = 0; s < NCOL; s++) {
        printf("  %s %.4f s (%.2f)", COLS[s].name, best[s], (double)cyc[s] * threads / nl);
        if (COLS[s].kern == 0) printf(" acc %lld safe %lld", (long long)accurate[s], (long long)safe[s]);
      }
      printf("  of %lld rows; loss first %.9g table %.9g accurate %.9g\n", (long long)N, loss[0], loss[1], loss[2]);
    }
    free(grad);
  }
  mpq_clear(e);
  return 0;
}
