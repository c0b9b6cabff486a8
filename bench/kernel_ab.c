/* bench/kernel_ab.c: lsce-kernel-ab, the first-pass row kernels (narrow logits: the float32-precision
 * pass of simd_f32pass.inc with its accurate rung; "table": simd.h's double table exp, vd_exp_tab)
 * against the accurate ones (the degree-11 vd_exp) in one process, through the same driver
 * (lsce_cpu_drive: bound, ladder, reduction; float64: vd_exp2x with pair sums against the double-double
 * kernels), interleaved A B A B ... and best of R each, so a
 * loaded machine slows both alike. Prints, per dtype and pass (fwd, fwdbwd): best seconds of each,
 * their ratio, cycles per logit (rdtsc, per thread) and the rows the accurate rung recomputed; a fourth
 * column runs "first" with the float32 pass off (the double first pass), a fifth with its single pass
 * off (LSCE_F32ONE=0: the float32 pass's two passes; for float64, LSCE_F64ONE=0: stats_f64's two
 * passes instead of simd_f64pass.inc's single pass).
 * Inputs: bench/inputs.c's (logits N(0,1), uniform targets), variant k, e = 0.1, mean. With
 * LSCE_AB_SIGMA=s and LSCE_AB_BOOST=b (both optional) the logits become s z + b [j = y] (rounded once
 * to the dtype): rows like a trained model's (s 1.5, b 10: loss about 2.9 at K = 32000) rather than
 * N(0, 1)'s loss of about log K. Not a test: a measurement tool.
 * Usage: lsce-kernel-ab [N K threads reps] (default 512 32000 1 7). */
#include <gmp.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(int argc, char **argv) {
  int64_t N = argc > 1 ? atoll(argv[1]) : 512, K = argc > 2 ? atoll(argv[2]) : 32000;
  int threads = argc > 3 ? atoi(argv[3]) : 1, reps = argc > 4 ? atoi(argv[4]) : 7;
  const lsce_kernels cur = lsce_cpu_kernels();
  if (!cur.acc_stats) { printf("no SIMD kernels on this machine\n"); return 77; }
  const lsce_kernels acc = {cur.acc_stats, cur.acc_grad, NULL, NULL, NULL, NULL};
  /* the accurate kernels' own keep/reuse pair is not exported by lsce_cpu_kernels: both sides run
   * the gradient sweep without kept exps, so the comparison is of the exps alone */
  /* first: the first pass as the rows run it (float32-precision pass of narrow logits, its accurate
   * rung); tab: the double first pass (vd_exp_tab) alone */
  /* (first keeps a row's exps for its gradient sweep, as the rows do: the float32 ones where the
   * float32 pass took the row, simd_kernels.inc keep32_exps; LSCE_F32PASS=0 gives the double pass) */
  const lsce_kernels first = {cur.stats, cur.grad, cur.stats_keep, cur.grad_reuse, cur.acc_stats, cur.acc_grad, cur.stats_dbl};
  const lsce_kernels tab = {cur.stats_dbl ? cur.stats_dbl : cur.stats, cur.grad, NULL, NULL, NULL, NULL, NULL};
  /* ks[3]: first with the float32 pass off (lsce_config f32pass 0: the double first pass, kept
   * double exps for the gradient), the rows' behaviour before the float32 pass and sweep */
  /* ks[4]: first with the float32 pass's single pass off (lsce_config f32one 0: its two passes) */
  const lsce_kernels *ks[5] = {&first, &tab, &acc, &first, &first};
  lsce_config cf = *lsce_config_get(), c0f = cf, c2f = cf;
  c0f.f32pass = 0;
  c2f.f32one = 0;
  c2f.f64one = 0; /* and, for float64 rows, the single pass off (simd_f64pass.inc: the two passes) */
  const lsce_dtype dts[] = {LSCE_DT_F32, LSCE_DT_BF16, LSCE_DT_F16, LSCE_DT_F64};
  const char *dn[] = {"float32", "bfloat16", "float16", "float64"};
  mpq_t e;
  mpq_init(e);
  mpq_set_si(e, 1, 10);
  printf("N=%lld K=%lld threads=%d best of %d, interleaved\n", (long long)N, (long long)K, threads, reps);
  for (int d = 0; d < 4; d++) {
    const lsce_bench_inputs *in = lsce_inputs_get(dts[d], N, K);
    if (!in) return 3;
    reshape_rows(in);
    lsce_params prm;
    lsce_params_init(&prm, LSCE_V_K, LSCE_RED_MEAN, e, N, K, in->targets, NULL, -100, -1);
    lsce_row_counts cnt = {0, 0, 0, 0, 0};
    prm.counts = &cnt;
    lsce_call c = {in->logits, dts[d], N, K, in->targets, NULL, &prm, dts[d] == LSCE_DT_F64, NULL, NULL};
    void *grad = malloc((size_t)(N * K) * 8);
    if (!grad) return 3;
    for (int bwd = 0; bwd < 2; bwd++) {
      double best[5] = {1e30, 1e30, 1e30, 1e30, 1e30}, loss[5];
      unsigned long long cyc[5] = {~0ULL, ~0ULL, ~0ULL, ~0ULL, ~0ULL};
      int64_t accurate = 0, accurate4 = 0, safe = 0;
      for (int r = 0; r < reps; r++)
        for (int s = 0; s < 5; s++) {
          lsce_config_set(s == 3 ? &c0f : s == 4 ? &c2f : &cf);
          double t0 = now();
          unsigned long long c0 = __rdtsc();
          lsce_cpu_drive(&loss[s], bwd ? grad : NULL, dts[d], &c, ks[s], threads, 0);
          unsigned long long c1 = __rdtsc();
          double t = now() - t0;
          if (t < best[s]) best[s] = t;
          if (c1 - c0 < cyc[s]) cyc[s] = c1 - c0;
          if (!s) { accurate = cnt.accurate; safe = cnt.safe; }
          if (s == 4) accurate4 = cnt.accurate;
        }
      double nl = (double)N * (double)K;
      printf("%-8s %-6s first %.4f s (%.2f cyc/logit)  table %.4f s (%.2f)  deg-11 %.4f s (%.2f)  deg-11/first %.3f  f32pass=0 %.4f s (%.2f)  one=0 %.4f s (%.2f)  accurate rows %lld/%lld (one=0: %lld; safe path %lld)  loss %.9g %.9g %.9g %.9g\n",
             dn[d], bwd ? "fwdbwd" : "fwd", best[0], (double)cyc[0] * threads / nl, best[1],
             (double)cyc[1] * threads / nl, best[2], (double)cyc[2] * threads / nl, best[2] / best[0], best[3], (double)cyc[3] * threads / nl, best[4], (double)cyc[4] * threads / nl,
             (long long)accurate, (long long)N, (long long)accurate4, (long long)safe, loss[0], loss[1], loss[2], loss[4]);
    }
    free(grad);
  }
  mpq_clear(e);
  return 0;
}
