/* bench/probes.c: the bandwidth probes as benchmarks (bandwidth/read/threads:<t>,
 * bandwidth/copy/threads:<t>, and the exp ceilings bandwidth/exp32|exp64/threads:<t>, bytes of float32 read,
 * and bandwidth/tab16/threads:<t>, bytes of 2-byte logits read (probes_tab16.inc);
 * the outside figures bandwidth/memcpy/threads:<t> and bandwidth/numpy_sum/threads:1, probes.h):
 * manual wall-clock timing of one pass over a buffer >= 4x the LLC
 * and >= 512 MiB per repetition, 5 repetitions with "max" and "min" aggregates (the best
 * bandwidth is the figure the targets use). Threads split the buffer into contiguous chunks. */
#include "probes.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "bench_util.h"
#include "cpu/tab16.h"

#define PROBE_REPS 5
#define PROBE_ITERS 1
#define MIB ((size_t)1 << 20)

static unsigned char *g_src, *g_dst;
static size_t g_bytes;
static double g_best[LSCE_PROBE_KINDS][LSCE_PROBE_MAX_THREADS + 1];
static uint64_t g_sink; /* keeps the read sums alive */

size_t lsce_probe_bytes(void) {
  size_t llc = 0;
#ifdef _SC_LEVEL3_CACHE_SIZE
  long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 > 0) llc = (size_t)l3;
#endif
#ifdef _SC_LEVEL2_CACHE_SIZE
  long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 > 0 && (size_t)l2 > llc) llc = (size_t)l2;
#endif
  size_t b = 4 * llc;
  if (b < 512 * MIB) b = 512 * MIB;
  return (b + 2 * MIB - 1) / (2 * MIB) * (2 * MIB);
}

double lsce_probe_best(lsce_probe_kind kind, int threads) {
  if (threads < 1 || threads > LSCE_PROBE_MAX_THREADS) return 0;
  double b = g_best[kind][threads];
  if (kind == LSCE_PROBE_COPY && g_best[LSCE_PROBE_MEMCPY][threads] > b) b = g_best[LSCE_PROBE_MEMCPY][threads];
  if (kind == LSCE_PROBE_READ && g_best[LSCE_PROBE_NUMPY][1] > b) b = g_best[LSCE_PROBE_NUMPY][1];
  return b;
}

#ifndef LSCE_PYTHON
#define LSCE_PYTHON "/usr/bin/python3"
#endif
/* numpy's sum over a float64 buffer of `bytes` (allocated and touched first), best of 3, in a python
 * subprocess: seconds, or 0 when python or numpy is missing */
static double numpy_sum_seconds(size_t bytes) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "%s -c 'import sys, time, numpy as np\n"
           "a = np.ones(int(sys.argv[1]) // 8)\nb = 1e30\n"
           "for _ in range(3):\n t = time.perf_counter(); s = a.sum(); b = min(b, time.perf_counter() - t)\n"
           "print(b if s == a.size else 0)' %zu 2>/dev/null", LSCE_PYTHON, bytes);
  FILE *f = popen(cmd, "r");
  if (!f) return 0;
  double sec = 0;
  if (fscanf(f, "%lf", &sec) != 1) sec = 0;
  pclose(f);
  return sec > 0 ? sec : 0;
}

void lsce_probes_release(void) {
  if (g_src) lsce_big_free(g_src, g_bytes);
  if (g_dst) lsce_big_free(g_dst, g_bytes);
  g_src = g_dst = NULL;
}

typedef struct { lsce_probe_kind kind; } probe_ctx;
static probe_ctx g_ctx[LSCE_PROBE_KINDS] = {{LSCE_PROBE_READ}, {LSCE_PROBE_COPY}, {LSCE_PROBE_EXP32},
                                             {LSCE_PROBE_EXP64}, {LSCE_PROBE_MEMCPY}, {LSCE_PROBE_NUMPY},
                                             {LSCE_PROBE_EXPF64}, {LSCE_PROBE_TAB16}};

/* the exp ceilings run at the widest width the CPU and the build have */
static int ceilings_wide(void) { return lsce_probe_avx512_built && __builtin_cpu_supports("avx512f"); }

static void pass_chunk(void *ctx, int64_t lo, int64_t hi) {
  const probe_ctx *p = ctx;
  size_t off = (size_t)lo * 128, len = (size_t)(hi - lo) * 128;
  if (p->kind == LSCE_PROBE_READ)
    __atomic_fetch_add(&g_sink, ceilings_wide() ? lsce_probe_read_avx512(g_src + off, len)
                                                : lsce_probe_read_avx2(g_src + off, len), __ATOMIC_RELAXED);
  else if (p->kind == LSCE_PROBE_MEMCPY) memcpy(g_dst + off, g_src + off, len);
  else if (p->kind == LSCE_PROBE_EXPF64)
    __atomic_fetch_add(&g_sink, (uint64_t)(ceilings_wide() ? lsce_probe_expf64_avx512(g_src + off, len)
                                                        : lsce_probe_expf64_avx2(g_src + off, len)), __ATOMIC_RELAXED);
  else if (p->kind == LSCE_PROBE_EXP32)
    __atomic_fetch_add(&g_sink, (uint64_t)(ceilings_wide() ? lsce_probe_exp32_avx512(g_src + off, len)
                                                        : lsce_probe_exp32_avx2(g_src + off, len)), __ATOMIC_RELAXED);
  else if (p->kind == LSCE_PROBE_TAB16) {
    const double *tab = lsce_tab16_get(LSCE_DT_BF16); /* built before the timing (bm_probe) */
    if (tab)
      __atomic_fetch_add(&g_sink, (uint64_t)(ceilings_wide() ? lsce_probe_tab16_avx512(g_src + off, len, tab)
                                                          : lsce_probe_tab16_avx2(g_src + off, len, tab)), __ATOMIC_RELAXED);
  } else if (p->kind == LSCE_PROBE_EXP64)
    __atomic_fetch_add(&g_sink, (uint64_t)(ceilings_wide() ? lsce_probe_exp64_avx512(g_src + off, len)
                                                        : lsce_probe_exp64_avx2(g_src + off, len)), __ATOMIC_RELAXED);
  else if (ceilings_wide()) lsce_probe_copy_avx512(g_dst + off, g_src + off, len);
  else lsce_probe_copy_avx2(g_dst + off, g_src + off, len);
}

static void bm_probe(gb_state *s, void *ctx) {
  const probe_ctx *p = ctx;
  int threads = (int)gb_range(s, 0);
  if (!lsce_probe_avx2_built || !__builtin_cpu_supports("avx2") ||
      ((p->kind == LSCE_PROBE_EXP32 || p->kind == LSCE_PROBE_EXP64 || p->kind == LSCE_PROBE_EXPF64 || p->kind == LSCE_PROBE_TAB16) && !(__builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")))) {
    gb_skip_with_error(s, "no AVX2/FMA (CPU or compiler): the probes need it");
    return;
  }
  if (!g_src) {
    g_bytes = lsce_probe_bytes();
    g_src = lsce_big_alloc(g_bytes, 1);
    g_dst = lsce_big_alloc(g_bytes, 0);
    if (!g_src || !g_dst) {
      lsce_probes_release();
      gb_skip_with_error(s, "out of memory for the probe buffers");
      return;
    }
  }
  if (p->kind == LSCE_PROBE_TAB16 && !lsce_tab16_get(LSCE_DT_BF16)) {
    gb_skip_with_error(s, "tab16: no memory for the table");
    return;
  }
  int64_t blocks = (int64_t)(g_bytes / 128);
  double total = 0;
  while (gb_keep_running(s)) {
    double t0 = lsce_bench_now(), dt;
    if (p->kind == LSCE_PROBE_NUMPY) {
      dt = numpy_sum_seconds(g_bytes);
      if (!(dt > 0)) {
        gb_skip_with_error(s, "numpy_sum: " LSCE_PYTHON " with numpy did not run");
        return;
      }
    } else {
      lsce_parallel_for(threads, blocks, pass_chunk, (void *)p);
      dt = lsce_bench_now() - t0;
    }
    total += dt;
    gb_set_iteration_time(s, dt);
  }
  int64_t per_iter = (int64_t)g_bytes * (p->kind == LSCE_PROBE_COPY || p->kind == LSCE_PROBE_MEMCPY ? 2 : 1);
  int64_t iters = gb_iterations_done(s);
  gb_set_bytes_processed(s, per_iter * iters);
  gb_counter(s, "buffer_bytes", (double)g_bytes, GB_DEFAULT);
  gb_counter(s, "n_threads", threads, GB_DEFAULT);
  if (p->kind <= LSCE_PROBE_EXP64 || p->kind == LSCE_PROBE_EXPF64 || p->kind == LSCE_PROBE_TAB16) gb_set_label(s, ceilings_wide() ? "isa=avx512" : "isa=avx2");
  double bw = total > 0 ? (double)per_iter * (double)iters / total : 0;
  if (bw > g_best[p->kind][threads]) g_best[p->kind][threads] = bw;
}

void lsce_probes_register(void) {
  static const char *names[LSCE_PROBE_KINDS] = {"bandwidth/read", "bandwidth/copy", "bandwidth/exp32",
                                                "bandwidth/exp64", "bandwidth/memcpy", "bandwidth/numpy_sum",
                                                "bandwidth/expf64", "bandwidth/tab16"};
  static const char *argn[1] = {"threads"};
  for (int k = 0; k < LSCE_PROBE_KINDS; k++) {
    gb_bench *b = gb_register(names[k], bm_probe, &g_ctx[k]);
    gb_arg_names(b, 1, argn);
    for (int64_t t = 1; t <= (k == LSCE_PROBE_NUMPY ? 1 : LSCE_PROBE_MAX_THREADS); t++) gb_args(b, 1, &t);
    gb_set_unit(b, GB_MS);
    gb_use_manual_time(b);
    gb_iterations(b, PROBE_ITERS);
    gb_repetitions(b, PROBE_REPS);
    gb_statistic(b, GB_STAT_MAX);
    gb_statistic(b, GB_STAT_MIN);
  }
}
