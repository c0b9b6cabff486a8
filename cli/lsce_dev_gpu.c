/* cli/lsce_dev_gpu.c: lsce-dev's GPU commands, for scripts/gpu-check (test-only, never in lsce).
 *   lsce-dev gpuprobe   one JSON line: the device (name, capability, memory, L2, driver/runtime)
 *   lsce-dev gpuverify  the CUDA rows (separate and in-place gradient) on generated shapes beyond
 *                       the fixtures: N > 65535, K = 256000, N*K > 2^31; each against cpu_threads
 *   lsce-dev gpubench   device-resident timings at the GPU targets' shapes next to a
 *                       device-to-device copy of the same bytes (lsce/cuda.h: L2 flushed before
 *                       each sample, no host sync or allocation inside), each result read back
 *                       and checked against cpu_threads
 * --quick (gpuverify, gpubench): small shapes and 2 samples, for tests/test_cuda_mock.sh (the same
 * code on the host emulation of the kernels).
 * Output: JSON lines on stdout (line-buffered, so a timeout loses nothing printed), progress on
 * stderr. Exit: 0 all good; 1 a result failed its check; 3 a CUDA error; 10 lsce built without
 * CUDA; 11 no CUDA device; 12 driver too old; 13 out of device memory (the reason on stderr).
 *
 * The check against the CPU row: both rows claim row-normwise bounds b_gpu and b_cpu (registry, in
 * ulps of the output type at the exact row maximum r); so |gpu - cpu| <= (b_gpu + b_cpu) ulp(r),
 * and ulp(r) <= 2 ulp(max |cpu|) (r and the CPU's maximum can straddle a power of two): the
 * tolerance is 2 (b_gpu + b_cpu) ulps of the CPU values. The same for the loss in float32 ulps. It
 * catches wrong, stale or unwritten results; accuracy itself is certified by `lsce verify`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gmp.h>
#include "lsce/config.h"
#include "lsce/cuda.h"
#include "lsce/registry.h"
#include "lsce/ulp.h"
#include "lsce/variants.h"

static int exit_for(lsce_cuda_status s) {
  switch (s) {
  case LSCE_CUDA_OK: return 0;
  case LSCE_CUDA_NOT_BUILT: return 10;
  case LSCE_CUDA_NO_DEVICE: return 11;
  case LSCE_CUDA_OLD_DRIVER: return 12;
  case LSCE_CUDA_NO_MEMORY: return 13;
  default: return 3;
  }
}

static int cuda_fail(const char *cmd) {
  fprintf(stderr, "lsce-dev: %s: %s\n", cmd, lsce_cuda_reason());
  int rc = exit_for(lsce_cuda_last_status());
  return rc ? rc : 3;
}

static int probe_or_fail(const char *cmd, lsce_cuda_info *info) {
  lsce_cuda_status s = lsce_cuda_probe(info);
  return s == LSCE_CUDA_OK ? 0 : cuda_fail(cmd);
}

static int gpuprobe(void) {
  lsce_cuda_info d;
  int rc = probe_or_fail("gpuprobe", &d);
  if (rc) return rc;
  printf("{\"name\": \"%s\", \"capability\": \"%d.%d\", \"sms\": %d, \"mem_total\": %zu, \"mem_free\": %zu, "
         "\"l2_bytes\": %zu, \"driver\": \"%d.%d\", \"runtime\": \"%d.%d\"}\n",
         d.name, d.major, d.minor, d.sms, d.mem_total, d.mem_free, d.l2_bytes, d.driver_version / 1000,
         d.driver_version % 1000 / 10, d.runtime_version / 1000, d.runtime_version % 1000 / 10);
  return 0;
}

/* ---- one generated problem: uniform logits in [-3, 3), targets spread over the classes -------- */
typedef struct {
  lsce_dtype dt;
  int64_t N, K;
  void *z;
  int64_t *t;
  lsce_params prm;
  lsce_call call;
} problem;

static uint64_t mix(uint64_t x) { /* splitmix64: element i's value does not depend on the thread */
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

static int problem_make(problem *p, lsce_dtype dt, int64_t N, int64_t K, lsce_reduction red) {
  const size_t es = lsce_dtype_size(dt), n = (size_t)N * (size_t)K;
  memset(p, 0, sizeof *p);
  p->dt = dt; p->N = N; p->K = K;
  p->z = malloc(n * es);
  p->t = malloc(sizeof(int64_t) * (size_t)N);
  if (!p->z || !p->t) { free(p->z); free(p->t); return 1; }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < (int64_t)n; i++) {
    double v = (double)(mix((uint64_t)i) >> 11) * 0x1p-53 * 6.0 - 3.0;
    if (dt == LSCE_DT_F32) ((float *)p->z)[i] = (float)v;
    else if (dt == LSCE_DT_BF16) ((uint16_t *)p->z)[i] = lsce_double_to_bf16(v);
    else ((uint16_t *)p->z)[i] = lsce_double_to_f16(v);
  }
  for (int64_t i = 0; i < N; i++) p->t[i] = (int64_t)(mix((uint64_t)i ^ 0xA5A5A5A5ULL) % (uint64_t)K);
  mpq_t e;
  mpq_init(e);
  mpq_set_si(e, 1, 10);
  lsce_params_init(&p->prm, lsce_variant_find("k"), red, e, N, K, p->t, NULL, -100, -1);
  mpq_clear(e);
  lsce_call c = {p->z, dt, N, K, p->t, NULL, &p->prm, 0, NULL, NULL};
  p->call = c;
  return 0;
}

static void problem_free(problem *p) { free(p->z); free(p->t); }

static double elem(const void *a, lsce_dtype dt, int64_t i) {
  if (dt == LSCE_DT_F32) return ((const float *)a)[i];
  uint16_t h = ((const uint16_t *)a)[i];
  if (dt == LSCE_DT_F16) return lsce_f16_to_double(h);
  union { uint32_t u; float f; } b = {(uint32_t)h << 16};
  return b.f;
}

/* the worst row-normwise difference of gradient g from the CPU's c, in ulps of dt */
static double grad_diff_ulp(const void *g, const void *c, lsce_dtype dt, int64_t N, int64_t K) {
  double worst = 0.0;
#pragma omp parallel for schedule(static) reduction(max : worst)
  for (int64_t i = 0; i < N; i++) {
    double rmax = 0.0, num = 0.0;
    for (int64_t j = 0; j < K; j++) {
      double cv = elem(c, dt, i * K + j), gv = elem(g, dt, i * K + j);
      double d = fabs(gv - cv);
      if (fabs(cv) > rmax) rmax = fabs(cv);
      if (!(d <= num)) num = d == d ? d : INFINITY; /* NaN where the CPU has a number: the worst */
    }
    double e = num / lsce_ulp_of(rmax, dt);
    if (e > worst) worst = e;
  }
  return worst;
}

static double loss_diff_ulp(const double *g, const double *c, int64_t n) {
  double worst = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs(g[i] - c[i]);
    if (!(d == d)) return INFINITY;
    double e = d / lsce_ulp_of(c[i], LSCE_DT_F32);
    if (e > worst) worst = e;
  }
  return worst;
}

/* 2 (b_gpu + b_cpu): see the header comment */
static void tolerances(const char *gpu_row, lsce_dtype dt, double *loss_tol, double *grad_tol) {
  const lsce_impl *g = lsce_impl_find(gpu_row), *c = lsce_impl_find("cpu_threads");
  *loss_tol = 2 * (g->bounds[dt].loss_ulp + c->bounds[dt].loss_ulp);
  *grad_tol = 2 * (g->bounds[dt].grad_ulp + c->bounds[dt].grad_ulp);
}

static const char *cuda_rows[] = {"cuda_rowblock", "cuda_warp", "cuda_split"};

/* the CPU row's loss and gradient (grad NULL: forward only) */
static int cpu_result(const problem *p, double *loss, void *grad) {
  const lsce_impl *c = lsce_impl_find("cpu_threads");
  return c->fn(loss, grad, p->dt, &p->call);
}

/* ---- gpuverify ---------------------------------------------------------------------------------- */
typedef struct { int64_t N, K; lsce_dtype dt; lsce_reduction red; const char *why; } vshape;
static const vshape verify_shapes[] = {
  {70000, 40, LSCE_DT_F32, LSCE_RED_NONE, "N > 65535 (split rows loop over gridDim.y)"},
  {70000, 40, LSCE_DT_F16, LSCE_RED_MEAN, "N > 65535"},
  {16, 256000, LSCE_DT_BF16, LSCE_RED_NONE, "K = 256000"},
  {16400, 131072, LSCE_DT_BF16, LSCE_RED_MEAN, "N*K > 2^31"}};
static const vshape verify_quick[] = {
  {65600, 2, LSCE_DT_F32, LSCE_RED_NONE, "N > 65535 (quick)"},
  {3, 70000, LSCE_DT_BF16, LSCE_RED_NONE, "3 split slices (quick)"},
  {9, 3000, LSCE_DT_F16, LSCE_RED_MEAN, "float16 (quick)"}};

static int gpuverify(int quick) {
  const vshape *shapes = quick ? verify_quick : verify_shapes;
  const size_t nshapes = quick ? sizeof verify_quick / sizeof verify_quick[0] : sizeof verify_shapes / sizeof verify_shapes[0];
  int rc = probe_or_fail("gpuverify", NULL), failed = 0;
  if (rc) return rc;
  for (size_t s = 0; s < nshapes; s++) {
    problem p;
    const int64_t N = shapes[s].N, K = shapes[s].K;
    const size_t gbytes = (size_t)N * (size_t)K * lsce_dtype_size(shapes[s].dt);
    const int64_t nl = shapes[s].red == LSCE_RED_NONE ? N : 1;
    fprintf(stderr, "gpuverify: %s %lldx%lld (%s): generating\n", lsce_dtype_name(shapes[s].dt), (long long)N,
            (long long)K, shapes[s].why);
    if (problem_make(&p, shapes[s].dt, N, K, shapes[s].red)) { fprintf(stderr, "lsce-dev: gpuverify: out of host memory\n"); return 3; }
    double *lc = malloc(sizeof(double) * (size_t)nl), *lg = malloc(sizeof(double) * (size_t)nl);
    void *gc = malloc(gbytes), *gg = malloc(gbytes);
    if (!lc || !lg || !gc || !gg) { fprintf(stderr, "lsce-dev: gpuverify: out of host memory\n"); rc = 3; }
    if (!rc && cpu_result(&p, lc, gc)) { fprintf(stderr, "lsce-dev: gpuverify: cpu_threads failed\n"); rc = 3; }
    const lsce_config saved = *lsce_config_get();
    for (int r = 0; !rc && r < 3; r++)
      for (int inplace = 0; !rc && inplace < 2; inplace++) {
        const lsce_impl *im = lsce_impl_find(cuda_rows[r]);
        lsce_config cf = *lsce_config_get(); /* LSCE_CUDA_INPLACE for this pass */
        cf.cuda_inplace = inplace;
        lsce_config_set(&cf);
        memset(gg, 0x88, gbytes); /* poison: an unwritten entry fails */
        for (int64_t i = 0; i < nl; i++) lg[i] = NAN;
        if (im->fn(lg, gg, p.dt, &p.call)) { rc = cuda_fail("gpuverify"); break; }
        double lt, gt, ld = loss_diff_ulp(lg, lc, nl), gd = grad_diff_ulp(gg, gc, p.dt, N, K);
        tolerances(im->name, p.dt, &lt, &gt);
        int pass = ld <= lt && gd <= gt;
        failed += !pass;
        printf("{\"impl\": \"%s\", \"inplace\": %s, \"dtype\": \"%s\", \"N\": %lld, \"K\": %lld, \"reduction\": \"%s\", "
               "\"covers\": \"%s\", \"loss_diff_ulp\": %.4g, \"grad_diff_ulp\": %.4g, \"loss_tol_ulp\": %g, "
               "\"grad_tol_ulp\": %g, \"against\": \"cpu_threads\", \"pass\": %s}\n",
               im->name, inplace ? "true" : "false", lsce_dtype_name(p.dt), (long long)N, (long long)K,
               shapes[s].red == LSCE_RED_NONE ? "none" : "mean", shapes[s].why, ld, gd, lt, gt, pass ? "true" : "false");
        if (!pass)
          fprintf(stderr, "FAIL gpuverify %s%s %s %lldx%lld: loss %.4g ulp (tol %g), gradient %.4g ulp (tol %g)\n",
                  im->name, inplace ? " in-place" : "", lsce_dtype_name(p.dt), (long long)N, (long long)K, ld, lt, gd, gt);
      }
    lsce_config_set(&saved);
    free(lc); free(lg); free(gc); free(gg);
    problem_free(&p);
    if (rc) return rc;
  }
  return failed ? 1 : 0;
}

/* ---- gpubench ----------------------------------------------------------------------------------- */
typedef struct { int64_t N, K; lsce_dtype dt; int fwdbwd; } bshape;
static const bshape bench_shapes[] = {
  {4096, 128256, LSCE_DT_BF16, 1}, {4096, 128256, LSCE_DT_F32, 0}, {4096, 32000, LSCE_DT_BF16, 1},
  {4096, 32000, LSCE_DT_F32, 0}, {16, 256000, LSCE_DT_BF16, 1}, {65536, 1000, LSCE_DT_F32, 0}};
static const bshape bench_quick[] = {{16, 5000, LSCE_DT_BF16, 1}, {65600, 2, LSCE_DT_F32, 0}};

static int gpubench(int quick) {
  const bshape *shapes = quick ? bench_quick : bench_shapes;
  const size_t nshapes = quick ? sizeof bench_quick / sizeof bench_quick[0] : sizeof bench_shapes / sizeof bench_shapes[0];
  const int reps = quick ? 1 : 10;
  lsce_cuda_info d;
  int rc = probe_or_fail("gpubench", &d), failed = 0;
  if (rc) return rc;
  for (size_t s = 0; s < nshapes; s++) {
    const int64_t N = shapes[s].N, K = shapes[s].K;
    const lsce_dtype dt = shapes[s].dt;
    const size_t bytes = (size_t)N * (size_t)K * lsce_dtype_size(dt);
    const char *pass_name = shapes[s].fwdbwd ? "fwdbwd" : "fwd";
    problem p;
    fprintf(stderr, "gpubench: %s %s %lldx%lld: generating once, cpu_threads reference\n", pass_name,
            lsce_dtype_name(dt), (long long)N, (long long)K);
    if (problem_make(&p, dt, N, K, LSCE_RED_MEAN)) { fprintf(stderr, "lsce-dev: gpubench: out of host memory\n"); return 3; }
    double lc, copy_ms;
    void *gc = shapes[s].fwdbwd ? malloc(bytes) : NULL, *gg = shapes[s].fwdbwd ? malloc(bytes) : NULL;
    if (shapes[s].fwdbwd && (!gc || !gg)) { fprintf(stderr, "lsce-dev: gpubench: out of host memory\n"); rc = 3; }
    if (!rc && cpu_result(&p, &lc, gc)) { fprintf(stderr, "lsce-dev: gpubench: cpu_threads failed\n"); rc = 3; }
    if (!rc) {
      int c = lsce_cuda_copy_ms(&copy_ms, p.z, bytes, reps);
      if (c == 1) { fprintf(stderr, "FAIL gpubench: %s\n", lsce_cuda_reason()); failed++; }
      else if (c) rc = cuda_fail("gpubench");
    }
    for (int r = 0; !rc && r < 3; r++) {
      double ms, lg = NAN, lt, gt;
      if (gg) memset(gg, 0x88, bytes);
      if (lsce_cuda_time(&ms, &lg, gg, cuda_rows[r], &p.call, shapes[s].fwdbwd, reps)) { rc = cuda_fail("gpubench"); break; }
      double ld = loss_diff_ulp(&lg, &lc, 1), gd = gg ? grad_diff_ulp(gg, gc, dt, N, K) : 0.0;
      tolerances(cuda_rows[r], dt, &lt, &gt);
      int pass = ld <= lt && gd <= gt;
      failed += !pass;
      /* the limit: fwdbwd = one read and one write of the logits' bytes = the copy; fwd = half of it */
      double ideal = shapes[s].fwdbwd ? copy_ms : copy_ms / 2;
      printf("{\"name\": \"%s/%s/%s/N:%lld/K:%lld\", \"real_time_ms\": %.6f, \"copy_ms\": %.6f, "
             "\"fraction_of_copy\": %.4f, \"l2_flush_bytes\": %zu, \"validated\": %s, \"loss_diff_ulp\": %.4g, "
             "\"grad_diff_ulp\": %.4g}\n",
             pass_name, cuda_rows[r], lsce_dtype_name(dt), (long long)N, (long long)K, ms, copy_ms, ideal / ms,
             lsce_cuda_flush_bytes(d.l2_bytes), pass ? "true" : "false", ld, gd);
      if (!pass)
        fprintf(stderr, "FAIL gpubench %s %s %s %lldx%lld: loss %.4g ulp (tol %g), gradient %.4g ulp (tol %g) from cpu_threads\n",
                pass_name, cuda_rows[r], lsce_dtype_name(dt), (long long)N, (long long)K, ld, lt, gd, gt);
    }
    free(gc); free(gg);
    problem_free(&p);
    if (rc) return rc;
  }
  return failed ? 1 : 0;
}

int lsce_dev_gpu(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 2 && !strcmp(argv[1], "gpuprobe")) return gpuprobe();
  const int quick = argc == 3 && !strcmp(argv[2], "--quick");
  if ((argc == 2 || quick) && !strcmp(argv[1], "gpuverify")) return gpuverify(quick);
  if ((argc == 2 || quick) && !strcmp(argv[1], "gpubench")) return gpubench(quick);
  fputs("usage: lsce-dev gpuprobe | gpuverify [--quick] | gpubench [--quick]\n", stderr);
  return 2;
}
