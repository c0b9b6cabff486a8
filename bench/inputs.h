/* bench/inputs.h: the benchmark inputs of the speed targets of docs/accuracy.md: logits N(0,1) and uniform
 * targets, both a pure function of (seed, flat index), so every dtype, shape and run sees the same
 * values and filling runs in parallel. A normal draw is a lookup in a table of 2^18 Box-Muller
 * values (already rounded to the dtype) at a hashed index. A second kind of rows, like a trained
 * model's (issue #12): the same draws and targets as s z + b [j = y], s = LSCE_BENCH_TRAINED_SIGMA,
 * b = LSCE_BENCH_TRAINED_BOOST, rounded once to the dtype (loss about 2.9 at K = 32000, where N(0,1)
 * rows have about log K = 10.4). */
#ifndef LSCE_BENCH_INPUTS_H
#define LSCE_BENCH_INPUTS_H
#include <stddef.h>
#include <stdint.h>
#include "lsce/npy.h"

#define LSCE_BENCH_SEED 0x6c736365u /* "lsce" */

typedef struct {
  lsce_dtype dt;
  int64_t N, K;
  void *logits;      /* (N, K) of dt, 2 MiB aligned */
  size_t logits_bytes;
  int64_t *targets;  /* (N,), uniform in [0, K) */
  int trained;       /* 0: N(0,1) logits; 1: rows like a trained model's (above) */
} lsce_bench_inputs;
#define LSCE_BENCH_TRAINED_SIGMA 1.5
#define LSCE_BENCH_TRAINED_BOOST 10.0

/* The inputs of one shape, from a small cache (at most LSCE_INPUTS_KEEP entries and
 * LSCE_INPUTS_KEEP_BYTES of logits besides the newest, least recently used evicted first), so the
 * repeated calls Google Benchmark makes while it sizes a run, and the fwd and fwdbwd families of
 * a quick run, do not regenerate them. The pointer stays valid until the next call. NULL when out
 * of memory. */
#define LSCE_INPUTS_KEEP 4
#define LSCE_INPUTS_KEEP_BYTES ((size_t)1 << 30)
const lsce_bench_inputs *lsce_inputs_get(lsce_dtype dt, int64_t N, int64_t K);
/* the same for either kind of rows (trained: 0 N(0,1), as lsce_inputs_get; 1 like a trained model's) */
const lsce_bench_inputs *lsce_inputs_get_kind(lsce_dtype dt, int64_t N, int64_t K, int trained);
void lsce_inputs_release(void);
#endif
