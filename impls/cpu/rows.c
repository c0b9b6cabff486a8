/* impls/cpu/rows.c: the entry points of cpu_avx2, cpu_threads and cpu_sharded: the same row
 * kernels (AVX-512 or AVX2 when the machine has it and LSCE_ISA allows, else the scalar online kernels) under
 * three schedules: one thread; OpenMP over rows (or over slices of a row when rows are few:
 * LSCE_SPLIT=<classes> forces slicing so small problems test it); S vocabulary shards
 * (LSCE_SHARDS, default 4) whose partial statistics merge as a tensor-parallel all-reduce would.
 *
 * Sharding semantics: lsce merges (m, s1, t, Uf) across shards, so every shard uses the global K,
 * the global log-sum-exp and the global denominator: the result equals the unsharded loss.
 * Megatron-LM's vocab_parallel_cross_entropy instead applies the K-1 smoothing with K = the
 * partition size (e/(K_local-1) per off-target class) and leaves the mean to the caller's mask:
 * a different formulation (docs/formulations.md k1 with K_local), not a sharded k1. */
#include <stdlib.h>
#include <string.h>
#include "cpu/kernels.h"
#include "cpu/optrows.h"
#include "lsce/config.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* The kernels' ISA: the widest the machine has (avx512, avx2, scalar); LSCE_ISA=scalar|avx2|avx512
 * asks for one, and gets the widest the machine has up to it (so tests can force every path and a
 * request the machine cannot serve still runs). */
typedef enum { ISA_SCALAR, ISA_AVX2, ISA_AVX512 } isa_t;
static isa_t isa(void) {
  isa_t best = ISA_SCALAR;
  if (lsce_cpu_has_avx2()) best = ISA_AVX2;
#ifndef LSCE_NO_AVX512
  if (best == ISA_AVX2 && lsce_cpu_has_avx512()) best = ISA_AVX512;
#endif
  const int want = lsce_config_get()->isa; /* LSCE_ISA, as the caller set it (lsce/config.h) */
  if (want == ISA_SCALAR) return ISA_SCALAR;
  if (want == ISA_AVX2 && best > ISA_AVX2) return ISA_AVX2;
  return best;
}

const char *lsce_isa_cpu(void) {
  static const char *names[] = {"scalar", "avx2", "avx512"};
  return names[isa()];
}

static lsce_kernels kernels(void) {
  lsce_kernels k = {lsce_stats_online, lsce_grad_scalar, NULL, NULL, NULL, NULL};
  /* the first pass with simd.h's table exp, the degree-11 kernels its accurate rung (driver.c) */
  switch (isa()) {
  case ISA_AVX2:
    k = (lsce_kernels){lsce_stats_tab_avx2, lsce_grad_tab_avx2, lsce_stats_keep_tab_avx2, lsce_grad_reuse_tab_avx2,
                       lsce_stats_avx2, lsce_grad_avx2, lsce_stats_dbl_tab_avx2, lsce_stats_one_tab_avx2,
                       lsce_stats_keep_one_tab_avx2, lsce_stats_keep_pipe_tab_avx2};
    break;
#ifndef LSCE_NO_AVX512
  case ISA_AVX512:
    k = (lsce_kernels){lsce_stats_tab_avx512, lsce_grad_tab_avx512, lsce_stats_keep_tab_avx512,
                       lsce_grad_reuse_tab_avx512, lsce_stats_avx512, lsce_grad_avx512, lsce_stats_dbl_tab_avx512,
                       lsce_stats_one_tab_avx512, lsce_stats_keep_one_tab_avx512, lsce_stats_keep_pipe_tab_avx512};
    break;
#endif
  default: break;
  }
  return k;
}

lsce_kernels lsce_cpu_kernels(void) { return kernels(); }

int lsce_cpu_avx2(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  if (c->opt) return lsce_cpu_options(loss, grad, gdt, c, 0, 1, 0); /* issue #15: optrows.c's scalar two passes */
  lsce_kernels k = kernels();
  return lsce_cpu_drive(loss, grad, gdt, c, &k, 1, 0);
}

int lsce_cpu_threads(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  lsce_kernels k = kernels();
  /* LSCE_THREADS or 2, never OMP_NUM_THREADS; capped at 256 (the CLI's LSCE_THREADS_CAP), since
   * thousands of threads crash the OpenMP runtime and cannot help */
  const lsce_config *cf = lsce_config_get();
  int64_t threads = cf->threads > 0 ? cf->threads : 2;
  if (threads > 256) threads = 256;
  if (c->opt) return lsce_cpu_options(loss, grad, gdt, c, 0, (int)threads, 0); /* issue #15: rows over threads */
  return lsce_cpu_drive(loss, grad, gdt, c, &k, (int)threads, cf->split > 0 ? (int64_t)cf->split : 0);
}

int lsce_cpu_sharded(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c) {
  lsce_kernels k = kernels();
  int64_t S = lsce_config_get()->shards > 0 ? (int64_t)lsce_config_get()->shards : 4;
  if (S < 1) S = 1;
  int64_t slice = (c->K + S - 1) / S;
  if (c->opt) return lsce_cpu_options(loss, grad, gdt, c, 0, 1, slice < 1 ? 1 : slice); /* issue #15: S shards */
  return lsce_cpu_drive(loss, grad, gdt, c, &k, 1, slice < 1 ? 1 : slice);
}

size_t lsce_ws_rows(int64_t N, int64_t K) { (void)K; return (size_t)(N > 0 ? N : 1) * 2 * sizeof(double); }
/* the CPU drivers: a row's loss, lo and error bound, and its escalation level (rowguard.h) */
size_t lsce_ws_rows_guard(int64_t N, int64_t K) { (void)K; return (size_t)(N > 0 ? N : 1) * (3 * sizeof(double) + 1); }
/* the CUDA rows' host side: each row's (hi, lo, bound, flags) from the device, and the ladder's
 * (hi, lo, bound, level) (impls/cuda/rowblock.cu, cpu/rowguard.h lsce_guard_device_rows) */
size_t lsce_ws_rows_cuda(int64_t N, int64_t K) { return (size_t)(N > 0 ? N : 1) * 4 * sizeof(double) + lsce_ws_rows_guard(N, K); }
/* plus the kept exps of a row per thread (driver.c), for up to 2 threads, when a gradient is asked */
size_t lsce_ws_rows_keep(int64_t N, int64_t K) {
  return lsce_ws_rows_guard(N, K) + (K > 0 && K <= LSCE_KEEP_MAX_K ? (size_t)K * 2 * sizeof(double) : 0);
}
