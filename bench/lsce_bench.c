/* bench/lsce_bench.c: lsce-bench, the CPU benchmarks of docs/accuracy.md "Targets" on Google Benchmark:
 * every available CPU registry row x {fwd, fwdbwd} x dtype x shape (variant k, e = 0.1, mean,
 * logits N(0,1), uniform targets), the bandwidth probes and the reference's own throughput; and
 * the same rows on rows like a trained model's (bench/inputs.h: 1.5 z + 10 at the target, loss about
 * 2.9) at the large shapes, named fwd-trained|fwdbwd-trained/..., so the report shows per shape the
 * fraction of rows that took the accurate path for both kinds of rows (issue #12).
 * A row is validated on the timed input before it is timed (validate.h) and reports its fraction
 * of the matching probe measured earlier in the same run. Google Benchmark's flags apply
 * (--benchmark_format=json, --benchmark_filter, --benchmark_out, ...); --quick picks a subset. */
#include <gmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench_util.h"
#include "cli.h"
#include "settings.h"
#include "gbench_c.h"
#include "inputs.h"
#include "lsce/params.h"
#include "lsce/reference.h"
#include "lsce/registry.h"
#include "lsce/variants.h"
#include "lsce_version.h"
#include "probes.h"
#include "validate.h"

#ifndef LSCE_PYTHON
#define LSCE_PYTHON "/usr/bin/python3"
#endif

/* The full sweep: K at N = 4096 (N = 512 from K = 128256 on, so one call stays short), and N at
 * K = 32000 and K = 1000. A shape in both sweeps is timed once. */
static const int64_t SWEEP_K[] = {2, 10, 100, 1000, 8192, 32000, 50257, 128256, 256000};
static const int64_t SWEEP_N[] = {1, 8, 64, 512, 4096, 65536};
static const int64_t SWEEP_N_AT_K[] = {32000, 1000};
#define SWEEP_K_N 4096
#define SWEEP_K_N_LARGE 512
#define SWEEP_K_LARGE 128256
#define NSWEEP_K ((int)(sizeof SWEEP_K / sizeof SWEEP_K[0]))
#define NSWEEP_N ((int)(sizeof SWEEP_N / sizeof SWEEP_N[0]))
#define NSWEEP_N_AT_K ((int)(sizeof SWEEP_N_AT_K / sizeof SWEEP_N_AT_K[0]))
#define MAX_SHAPES (NSWEEP_K + NSWEEP_N * NSWEEP_N_AT_K)
/* A shape is benchmarked when its logits, targets and gradient fit this (docs/accuracy.md "Targets", CPU). */
#define FIT_BYTES ((uint64_t)8 << 30)

/* The --quick subset: float32 fwd and fwdbwd at these shapes, and one bfloat16 forward. */
static const int64_t QUICK_F32[][2] = {{64, 1000}, {4096, 32000}};
static const int64_t QUICK_BF16[][2] = {{4096, 32000}};
#define QUICK_BF16_BWD 0
/* The rows like a trained model's: these shapes in the full grid (those that fit), every dtype; in
 * --quick the first, float32 fwd and fwdbwd and bfloat16 fwd (as the quick N(0,1) rows). */
static const int64_t TRAINED_SHAPES[][2] = {{4096, 32000}, {512, 128256}};
#define NTRAINED ((int)(sizeof TRAINED_SHAPES / sizeof TRAINED_SHAPES[0]))

static const lsce_dtype DTYPES[] = {LSCE_DT_F32, LSCE_DT_BF16, LSCE_DT_F16, LSCE_DT_F64};
#define NDTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

typedef struct {
  const lsce_impl *im;
  int bwd;          /* 0: forward (loss only), 1: forward + backward (gradient written) */
  lsce_dtype dt;
  int trained;      /* the inputs: 0 N(0,1) logits, 1 rows like a trained model's (bench/inputs.h) */
} row_ctx;

static int fits(lsce_dtype dt, int64_t N, int64_t K) {
  uint64_t nk = (uint64_t)N * (uint64_t)K;
  return nk * 2 * lsce_dtype_size(dt) + (uint64_t)N * 8 <= FIT_BYTES;
}

/* Appends (N, K) to shapes[] unless it is there already or does not fit; returns the new count. */
static int add_shape(int64_t shapes[][2], int ns, lsce_dtype dt, int64_t N, int64_t K) {
  if (!fits(dt, N, K)) return ns;
  for (int i = 0; i < ns; i++)
    if (shapes[i][0] == N && shapes[i][1] == K) return ns;
  shapes[ns][0] = N;
  shapes[ns][1] = K;
  return ns + 1;
}

/* The full sweep's shapes for one dtype (those that fit), K sweep first, then the N sweeps. */
static int sweep_shapes(int64_t shapes[][2], lsce_dtype dt) {
  int ns = 0;
  for (int j = 0; j < NSWEEP_K; j++)
    ns = add_shape(shapes, ns, dt, SWEEP_K[j] >= SWEEP_K_LARGE ? SWEEP_K_N_LARGE : SWEEP_K_N,
                   SWEEP_K[j]);
  for (int j = 0; j < NSWEEP_N_AT_K; j++)
    for (int i = 0; i < NSWEEP_N; i++) ns = add_shape(shapes, ns, dt, SWEEP_N[i], SWEEP_N_AT_K[j]);
  return ns;
}

/* Rows whose name says "threads" run on 2 threads (the row handles it); others on 1. */
static int row_threads(const lsce_impl *im) { return strstr(im->name, "threads") ? 2 : 1; }

/* The gradient buffer, kept across the repeated calls Google Benchmark makes for one instance so
 * no page fault lands in a timed iteration. */
static void *g_grad;
static size_t g_grad_bytes;

static void grad_release(void) {
  if (g_grad) lsce_big_free(g_grad, g_grad_bytes);
  g_grad = NULL;
  g_grad_bytes = 0;
}

static void *grad_buffer(size_t bytes) {
  if (g_grad && g_grad_bytes == bytes) return g_grad;
  grad_release();
  g_grad = lsce_big_alloc(bytes, 0x88);
  if (g_grad) g_grad_bytes = bytes;
  return g_grad;
}

/* Seconds from the environment variable `name`: its value when it parses as a number above `min`
 * (or equal to it, with min_ok), else `dflt`. Read once per call site (the callers cache it). */
static double env_seconds(const char *name, double dflt, double min, int min_ok) {
  const char *e = getenv(name);
  char *end;
  if (!e || !*e) return dflt;
  double v = strtod(e, &end);
  return !*end && (v > min || (min_ok && v == min)) ? v : dflt;
}

/* The longest call a benchmark may repeat, seconds: $LSCE_BENCH_MAX_CALL_S, default 30. The
 * validation call is the first timed iteration; a row slower than this is not invoked again
 * (further repetitions are reported as not timed), so this bounds a benchmark's time. */
static double max_call_s(void) {
  static double v = -1;
  if (v < 0) v = env_seconds("LSCE_BENCH_MAX_CALL_S", 30.0, 0.0, 0);
  return v;
}

/* The shortest validation call that may stand as a row's timed iteration, seconds:
 * $LSCE_BENCH_VALIDATION_TIMING_S, default 1. A first call pays a cold start (measured on this
 * 2-core VM: 61 against 40 ms warm for bfloat16 4096 x 32000, 82 against 70 ms for float32
 * fwdbwd), which is under 2 % of a call of a second or more; shorter rows are timed warm. */
static double validation_timing_s(void) {
  static double v = -1;
  if (v < 0) v = env_seconds("LSCE_BENCH_VALIDATION_TIMING_S", 1.0, 0.0, 1);
  return v;
}

/* The last validated instance: Google Benchmark calls a function several times while it sizes
 * the run; the validation runs once. */
static struct {
  const row_ctx *ctx;
  int64_t N, K;
  int status;
  lsce_val_result res;
} g_last;

static void bm_row(gb_state *s, void *ctx) {
  const row_ctx *r = ctx;
  const lsce_impl *im = r->im;
  const int64_t N = gb_range(s, 0), K = gb_range(s, 1);
  const int threads = row_threads(im);
  char msg[800];
  lsce_probes_release();
  if (!im->available()) {
    snprintf(msg, sizeof msg, "%s is not available on this machine", im->name);
    gb_skip_with_error(s, msg);
    return;
  }
  const lsce_bench_inputs *in = lsce_inputs_get_kind(r->dt, N, K, r->trained);
  size_t gbytes = (size_t)N * (size_t)K * lsce_dtype_size(r->dt);
  if (!r->bwd) grad_release();
  void *grad = in && r->bwd ? grad_buffer(gbytes) : NULL;
  if (!in || (r->bwd && !grad)) {
    gb_skip_with_error(s, "out of memory for the inputs and gradient");
    return;
  }
  int validated_now = 0;
  if (g_last.ctx != r || g_last.N != N || g_last.K != K) {
    validated_now = 1;
    g_last.ctx = r;
    g_last.N = N;
    g_last.K = K;
    g_last.status = lsce_validate(&g_last.res, im, in, r->bwd ? grad : NULL);
    if (g_last.status)
      fprintf(stderr, "lsce-bench: %s%s/%s/%s/N:%lld/K:%lld: %s\n", r->bwd ? "fwdbwd" : "fwd", r->trained ? "-trained" : "",
              im->name, lsce_dtype_name(r->dt), (long long)N, (long long)K, g_last.res.msg);
  }
  if (g_last.status) {
    gb_skip_with_error(s, g_last.res.msg);
    return;
  }
  /* Google Benchmark sizes a run by first invoking the function for one iteration. When that
   * invocation is the one that validated, the validation call (the same row on the same input,
   * reduction none: it stores N losses where the timed calls sum them) is that iteration's time, so
   * a row whose one call already exceeds the minimum time (and validation_timing_s) is timed by the
   * call that validated it and costs one call, not two; a faster row is invoked again and timed on its own calls
   * (reduction mean), and only that invocation is reported. The counter timed_by_validation says
   * which (1 or 0). */
  const int by_validation = validated_now && gb_max_iterations(s) == 1 &&
                            g_last.res.call_s >= validation_timing_s();
  /* A slow row on a large shape, invoked again (repetitions): each further call would cost more
   * than the budget allows. */
  if (!by_validation && g_last.res.call_s > max_call_s()) {
    snprintf(msg, sizeof msg, "not timed: one call took %.1f s (validation), over "
             "LSCE_BENCH_MAX_CALL_S=%g", g_last.res.call_s, max_call_s());
    gb_skip_with_error(s, msg);
    return;
  }

  mpq_t e;
  mpq_init(e);
  lsce_bench_smoothing(e);
  lsce_params prm;
  lsce_params_init(&prm, LSCE_V_K, LSCE_RED_MEAN, e, N, K, in->targets, NULL, -100, -1);
  mpq_clear(e);
  /* the exact CPU rows count, per call, the rows each rung of their ladder settled (rowguard.h):
   * the last timed call's fractions go into the counters (O(N) per call, in guard_finish) */
  lsce_row_counts cnt = {0, 0, 0, 0, 0};
  prm.counts = &cnt;
  lsce_call call = {.logits = in->logits, .dtype = r->dt, .N = N, .K = K, .targets = in->targets,
                    .weights = NULL, .prm = &prm, .dd = r->dt == LSCE_DT_F64};
  double loss = NAN, total = 0;
  while (gb_keep_running(s)) {
    if (by_validation) {
      gb_set_iteration_time(s, g_last.res.call_s);
      total += g_last.res.call_s;
      cnt = g_last.res.counts;
      continue;
    }
    double t0 = lsce_bench_now();
    int rc = im->fn(&loss, r->bwd ? grad : NULL, r->dt, &call);
    double dt = lsce_bench_now() - t0;
    gb_set_iteration_time(s, dt);
    total += dt;
    if (rc || !isfinite(loss)) {
      snprintf(msg, sizeof msg, "%s: status %d, mean loss %a", im->name, rc, loss);
      gb_skip_with_error(s, msg);
      break;
    }
  }
  if (gb_error_occurred(s)) return;

  int64_t iters = gb_iterations_done(s);
  int64_t per_iter = (int64_t)in->logits_bytes + (r->bwd ? (int64_t)gbytes : 0);
  gb_set_bytes_processed(s, per_iter * iters);
  gb_set_items_processed(s, N * iters);
  gb_counter(s, "n_threads", threads, GB_DEFAULT);
  gb_counter(s, "workspace_bytes", (double)im->workspace(N, K), GB_DEFAULT);
  gb_counter(s, "val_loss_ulp", g_last.res.loss_ulp, GB_DEFAULT);
  gb_counter(s, "timed_by_validation", by_validation, GB_DEFAULT);
  if (r->bwd) gb_counter(s, "val_grad_ulp", g_last.res.grad_ulp, GB_DEFAULT);
  if (cnt.rows > 0) { /* rows whose first pass could not vouch for the declared bound */
    gb_counter(s, "rows_accurate", (double)cnt.accurate / (double)cnt.rows, GB_DEFAULT);
    gb_counter(s, "rows_safe", (double)cnt.safe / (double)cnt.rows, GB_DEFAULT);
    gb_counter(s, "rows_reference", (double)cnt.reference / (double)cnt.rows, GB_DEFAULT);
  }
  lsce_probe_kind kind = r->bwd ? LSCE_PROBE_COPY : LSCE_PROBE_READ;
  double probe = lsce_probe_best(kind, threads);
  if (probe > 0 && total > 0)
    gb_counter(s, "probe_fraction", (double)per_iter * (double)iters / total / probe, GB_DEFAULT);
  snprintf(msg, sizeof msg, "tier=%s isa=%s probe=bandwidth/%s/threads:%d", im->tier, im->isa(),
           kind == LSCE_PROBE_READ ? "read" : "copy", threads);
  gb_set_label(s, msg);
}

/* The certified reference's throughput: lsce_reference on the benchmark input (loss, mean). */
static void bm_reference(gb_state *s, void *ctx) {
  (void)ctx;
  const int64_t N = gb_range(s, 0), K = gb_range(s, 1);
  static lsce_problem prob;
  static int64_t pn = -1, pk = -1;
  lsce_probes_release();
  grad_release();
  lsce_err err = {0};
  if (pn != N || pk != K) {
    if (pn >= 0) lsce_problem_clear(&prob);
    pn = pk = -1;
    const lsce_bench_inputs *in = lsce_inputs_get(LSCE_DT_F32, N, K);
    /* the problem owns copies (the inputs' cache may evict them): in memory, no files */
    float *z = in ? malloc(sizeof(float) * (size_t)(N * K > 0 ? N * K : 1)) : NULL;
    int64_t *t = in ? malloc(sizeof(int64_t) * (size_t)(N > 0 ? N : 1)) : NULL;
    if (!z || !t) {
      free(z);
      free(t);
      gb_skip_with_error(s, "out of memory");
      return;
    }
    memcpy(z, in->logits, sizeof(float) * (size_t)(N * K));
    memcpy(t, in->targets, sizeof(int64_t) * (size_t)N);
    lsce_problem_init(&prob);
    prob.variant = LSCE_V_K;
    lsce_bench_smoothing(prob.e);
    prob.reduction = LSCE_RED_MEAN;
    int rc = lsce_problem_from_memory(&prob, LSCE_DT_F32, N, K, z, t, NULL, 1, &err);
    if (rc) {
      lsce_problem_clear(&prob);
      gb_skip_with_error(s, err.line);
      return;
    }
    pn = N;
    pk = K;
  }
  lsce_ref_opts o;
  lsce_ref_opts_default(&o);
  if (lsce_ref_opts_env(&o, &err)) {
    gb_skip_with_error(s, err.line);
    return;
  }
  while (gb_keep_running(s)) {
    lsce_ref_result res;
    double t0 = lsce_bench_now();
    int rc = lsce_reference(&res, &prob, &o, "lsce-bench", &err);
    gb_set_iteration_time(s, lsce_bench_now() - t0);
    if (rc) {
      gb_skip_with_error(s, err.line);
      break;
    }
    lsce_ref_result_free(&res);
  }
  if (gb_error_occurred(s)) return;
  gb_set_items_processed(s, N * K * gb_iterations_done(s)); /* logits per second */
  gb_set_label(s, "lsce_reference, variant k, e=0.1, mean, loss only");
}

static const char *const ARG_NAMES[2] = {"N", "K"};

static void register_rows(int quick) {
  static row_ctx ctx[4096];
  int nctx = 0;
  gb_bench *b = gb_register("reference/float32", bm_reference, NULL);
  gb_arg_names(b, 2, ARG_NAMES);
  gb_args(b, 2, (const int64_t[]){4, 32000});
  gb_set_unit(b, GB_MS);
  gb_use_manual_time(b);

  /* the trained families after the N(0,1) ones (trained 0, then 1), so no existing name moves */
  for (int trained = 0; trained <= 1; trained++)
  for (int d = 0; d < NDTYPES; d++) {
    lsce_dtype dt = DTYPES[d];
    for (int k = 0; k < lsce_nimpls; k++) {
      const lsce_impl *im = &lsce_impls[k];
      /* CUDA rows need device buffers and event timing: the GPU harness times them. */
      if (strcmp(im->device, "cpu") != 0 || !(im->dtypes & LSCE_DT_BIT(dt))) continue;
      for (int bwd = 0; bwd <= 1; bwd++) {
        int64_t shapes[MAX_SHAPES][2];
        int ns = 0;
        if (trained) {
          for (int i = 0; i < (quick ? 1 : NTRAINED); i++)
            if (!quick || dt == LSCE_DT_F32 || (dt == LSCE_DT_BF16 && (!bwd || QUICK_BF16_BWD)))
              ns = add_shape(shapes, ns, dt, TRAINED_SHAPES[i][0], TRAINED_SHAPES[i][1]);
        } else if (quick) {
          if (dt == LSCE_DT_F32)
            for (size_t i = 0; i < sizeof QUICK_F32 / sizeof QUICK_F32[0]; i++, ns++)
              shapes[ns][0] = QUICK_F32[i][0], shapes[ns][1] = QUICK_F32[i][1];
          if (dt == LSCE_DT_BF16 && (!bwd || QUICK_BF16_BWD))
            for (size_t i = 0; i < sizeof QUICK_BF16 / sizeof QUICK_BF16[0]; i++, ns++)
              shapes[ns][0] = QUICK_BF16[i][0], shapes[ns][1] = QUICK_BF16[i][1];
        } else {
          ns = sweep_shapes(shapes, dt);
        }
        if (ns == 0 || nctx == (int)(sizeof ctx / sizeof ctx[0])) continue;
        row_ctx *c = &ctx[nctx++];
        c->im = im;
        c->bwd = bwd;
        c->dt = dt;
        c->trained = trained;
        char name[256];
        snprintf(name, sizeof name, "%s%s/%s/%s", bwd ? "fwdbwd" : "fwd", trained ? "-trained" : "", im->name,
                 lsce_dtype_name(dt));
        b = gb_register(name, bm_row, c);
        gb_arg_names(b, 2, ARG_NAMES);
        for (int i = 0; i < ns; i++) gb_args(b, 2, shapes[i]);
        gb_set_unit(b, GB_MS);
        gb_use_manual_time(b);
      }
    }
  }
}

/* torch_version for the context: $LSCE_TORCH_VERSION (scripts/bench sets it from the peer run),
 * else asked of the configured Python, else "unavailable". */
static const char *torch_version(void) {
  static char v[128];
  const char *env = getenv("LSCE_TORCH_VERSION");
  if (env && *env) return env;
  snprintf(v, sizeof v, "unavailable");
  FILE *f = popen(LSCE_PYTHON " -c 'import torch; print(torch.__version__)' 2>/dev/null", "r");
  if (!f) return v;
  char line[128];
  if (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0]) snprintf(v, sizeof v, "%s", line);
  }
  if (pclose(f) != 0) snprintf(v, sizeof v, "unavailable");
  return v;
}

int main(int argc, char **argv) {
  lsce_err serr; /* the LSCE_* knobs, read once and handed to the libraries (cli/settings.c) */
  if (lsce_settings_load(&serr)) {
    fprintf(stderr, "lsce-bench: %s\n", serr.line);
    return 2;
  }
  int quick = 0, out = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else if (strcmp(argv[i], "--full") == 0) quick = 0;
    else {
      if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
        printf("usage: lsce-bench [--quick|--full] [Google Benchmark flags]\n"
               "  --full (the default): K in {2, 10, 100, 1000, 8192, 32000, 50257} at N = 4096 and\n"
               "           K in {128256, 256000} at N = 512; N in {1, 8, 64, 512, 4096, 65536} at\n"
               "           K = 32000 and K = 1000; every dtype, the shapes whose logits and gradient\n"
               "           fit 8 GiB\n"
               "  --quick: fwd and fwdbwd float32 at 64x1000 and 4096x32000, fwd bfloat16 at\n"
               "           4096x32000, the probes and the reference row\n"
               "  timing: a row's validation call is its first timed iteration (counter\n"
               "           timed_by_validation = 1 when that one call is the measurement: it lasts the\n"
               "           minimum time and LSCE_BENCH_VALIDATION_TIMING_S, default 1 s, against a\n"
               "           first call's cold start); other rows are timed again, warm\n"
               "  LSCE_BENCH_MAX_CALL_S (default 30): a row whose validation call took longer is\n"
               "           reported as not timed when invoked again (repetitions)\n"
               "  rows: fwd|fwdbwd/<impl>/<dtype>/N:<n>/K:<k>, bandwidth/read|copy|exp32|exp64/threads:<t>,\n"
               "        reference/float32/N:4/K:32000; fwd-trained|fwdbwd-trained/<impl>/<dtype>/N:<n>/K:<k>\n"
               "        the same rows on rows like a trained model's (1.5 z + 10 at the target, loss\n"
               "        about 2.9) at 4096x32000 and 512x128256 (--quick: 4096x32000, float32 fwd and\n"
               "        fwdbwd, bfloat16 fwd)\n\n");
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = NULL;
  lsce_probes_register();
  register_rows(quick);
  if (gb_initialize(&argc, argv)) return 2;
  gb_add_context("commit", LSCE_COMMIT);
  gb_add_context("machine", lsce_machine_name());
  gb_add_context("compiler", lsce_compiler_name());
  gb_add_context("torch_version", torch_version());
  gb_add_context("lsce_grid", quick ? "quick" : "full");
  gb_run();
  gb_shutdown();
  lsce_probes_release();
  lsce_inputs_release();
  grad_release();
  return 0;
}
