/* lsce/types.h: what every layer and the public API (lsce/lsce.h) share: the array dtypes, the
 * status codes, which are the command line's exit codes (docs/cli.md "Errors and exit codes"), and
 * the run-time settings (lsce_config). */
#ifndef LSCE_TYPES_H
#define LSCE_TYPES_H

typedef enum {
  LSCE_DT_F64 = 0, LSCE_DT_F32, LSCE_DT_F16, LSCE_DT_BF16, /* bf16 is stored as '<u2'/'>u2' */
  LSCE_DT_I32, LSCE_DT_I64
} lsce_dtype;

/* Exit codes of the contract. */
enum { LSCE_OK = 0, LSCE_EFAIL = 1, LSCE_EINPUT = 2, LSCE_EINCOMPLETE = 3 };

/* The run-time settings of the libraries, set through an API (lsce_set_config in liblsce; the
 * command line reads its LSCE_* environment knobs once, docs/cli.md "Environment", and sets them):
 * no library code reads the environment. lsce_config_default gives the values of an empty
 * environment. */
typedef struct {
  int isa;            /* LSCE_ISA: -1 the widest the machine has, 0 scalar, 1 avx2, 2 avx512 (the
                         widest the machine has up to the one asked) */
  int threads;        /* LSCE_THREADS: cpu_threads' thread count in [1, 256]; 0: its default 2 */
  long long split;    /* LSCE_SPLIT: classes per row slice in cpu_threads; 0: automatic */
  long long shards;   /* LSCE_SHARDS: cpu_sharded's shard count; 0: its default 4 */
  int keep;           /* LSCE_KEEP: 1 the SIMD rows keep a row's exps for its gradient, 0 recompute */
  int row_reference;  /* LSCE_ROW_REFERENCE: 1 the exact rows may escalate a row to the reference */
  int cuda_inplace;   /* LSCE_CUDA_INPLACE: 1 the CUDA rows write the gradient over the logits' copy */
  long max_precision; /* LSCE_MAX_PRECISION: the reference's precision cap in bits; 0: 65536 */
  int f32pass;        /* LSCE_F32PASS: the float32-precision first pass of narrow rows (impls/cpu/simd_f32pass.inc):
                         0 off, 1 on slices of at least 2048 classes, 2 on every slice (tests) */
  int f32one;         /* LSCE_F32ONE: 1 that pass reads the logits once where they lie in [-80, 80] (shift 0,
                         guarded; simd_f32pass.inc stats_f32_one), 0 always its two passes */
  int dblone;         /* LSCE_DBLONE: 1 the double single pass of narrow rows (impls/cpu/simd_dblone.inc) after a
                         row the float32 pass could not certify, and first where recent rows failed it; 0 off */
  int tab16;          /* LSCE_TAB16: 1 bfloat16 slices take the 16-bit table pass first where they can
                         (impls/cpu/simd_tab16.inc), 2 float16 slices too, 0 never */
  int f64one;         /* LSCE_F64ONE: 1 float64 forward rows are read once where every logit lies in [-600, 600]
                         (impls/cpu/simd_f64pass.inc stats_f64_one), 0 always the two passes of stats_f64 */
  int pipe;           /* LSCE_PIPE: float32 forward+backward rows sweep a row's gradient inside the next row's
                         single pass (impls/cpu/simd_pipe.inc, driver.c run_pipe): 1 in calls of 32 MiB of
                         logits or more, 2 in every call (tests), 0 never: one row at a time */
} lsce_config;
#endif
