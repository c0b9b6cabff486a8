/* bench/gbench_c.h: a thin C API over Google Benchmark (>= 1.7), so the benchmarks stay in C11.
 * C code registers benchmark families with argument grids, runs them with Google Benchmark's own
 * command line (--benchmark_format, --benchmark_filter, --benchmark_out, ...) and reads and reports
 * through the same state object. The only C++ is gbench_c.cc.
 *
 * Names. Google Benchmark appends "/min_time:..", "/iterations:..", "/repeats:..", "/real_time"
 * and "/manual_time" to a benchmark's name when the family sets those options. gb_run() removes
 * these suffixes in every report (console, JSON, CSV), so a family registered as "fwd/x/float32"
 * with arg names {"N", "K"} and args {64, 1000} is reported as "fwd/x/float32/N:64/K:1000" whatever
 * its timing options. (The filter still sees the suffixed name; anchor regexes with care.)
 *
 * Typical use:
 *     static void bm(gb_state *s, void *ctx) {
 *       int64_t n = gb_range(s, 0);
 *       while (gb_keep_running(s)) {
 *         double t0 = now();
 *         work(n);
 *         gb_set_iteration_time(s, now() - t0);
 *       }
 *       gb_set_bytes_processed(s, gb_iterations(s) * n);
 *     }
 *     gb_bench *b = gb_register("copy", bm, NULL);
 *     gb_arg_names(b, 1, (const char *[]){"n"});
 *     gb_args(b, 1, (int64_t[]){1 << 20});
 *     gb_use_manual_time(b);
 *     if (gb_initialize(&argc, argv)) return 2;
 *     gb_add_context("commit", "abc");
 *     gb_run();
 *     gb_shutdown();
 */
#ifndef LSCE_GBENCH_C_H
#define LSCE_GBENCH_C_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gb_state gb_state; /* a running benchmark instance (benchmark::State) */
typedef struct gb_bench gb_bench; /* a registered family (benchmark::internal::Benchmark) */
typedef void (*gb_fn)(gb_state *s, void *ctx);

typedef enum { GB_NS = 0, GB_US, GB_MS, GB_S } gb_unit;

/* Counter flags (benchmark::Counter::Flags): a plain value by default; GB_RATE divides by the
 * measured time (per second); GB_AVG_ITERATIONS divides by the iteration count; GB_1024 uses
 * binary prefixes in the console output. */
enum { GB_DEFAULT = 0, GB_RATE = 1, GB_AVG_ITERATIONS = 2, GB_1024 = 4 };

/* Extra statistics over repetitions, beside Google Benchmark's mean, median, stddev and cv. */
typedef enum { GB_STAT_MIN = 0, GB_STAT_MAX } gb_stat;

/* ---- Registration (before gb_run) ------------------------------------------------------------
 * `name` is copied; `ctx` is passed unchanged to fn and must outlive gb_run(). */
gb_bench *gb_register(const char *name, gb_fn fn, void *ctx);
/* Names of the arguments (reported as name:value); n names. */
void gb_arg_names(gb_bench *b, int n, const char *const *names);
/* One argument tuple of n values; call once per point of the grid. */
void gb_args(gb_bench *b, int n, const int64_t *args);
/* The Cartesian product of n lists (list i has lens[i] values), first list outermost. */
void gb_args_product(gb_bench *b, int n, const int64_t *const *lists, const int *lens);
void gb_set_unit(gb_bench *b, gb_unit u);
/* Run until this much (measured) time has accumulated; Google Benchmark's default is 0.5 s. */
void gb_min_time(gb_bench *b, double seconds);
/* A fixed iteration count instead (exclusive with gb_min_time). */
void gb_iterations(gb_bench *b, int64_t n);
void gb_repetitions(gb_bench *b, int n);
/* Report only the aggregates over repetitions (not each repetition). */
void gb_aggregates_only(gb_bench *b);
/* Time comes from gb_set_iteration_time (CUDA events, or a wall clock around the work). */
void gb_use_manual_time(gb_bench *b);
/* Wall time instead of the main thread's CPU time. */
void gb_use_real_time(gb_bench *b);
/* Add an aggregate, reported as "<name>_<stat name>" ("_min", "_max"). */
void gb_statistic(gb_bench *b, gb_stat stat);

/* ---- Inside a benchmark function ------------------------------------------------------------- */
int gb_keep_running(gb_state *s);   /* 1 while another iteration should run */
int64_t gb_range(gb_state *s, int i); /* argument i of this instance */
int64_t gb_iterations_done(gb_state *s); /* iterations run so far (the total after the loop) */
int64_t gb_max_iterations(gb_state *s);  /* the iterations this invocation will run (sizing: 1 first) */
/* REQUIRES: manual time; once per iteration. */
void gb_set_iteration_time(gb_state *s, double seconds);
void gb_pause_timing(gb_state *s);
void gb_resume_timing(gb_state *s);
/* Total bytes / items over all iterations: reported as bytes_per_second / items_per_second. */
void gb_set_bytes_processed(gb_state *s, int64_t bytes);
void gb_set_items_processed(gb_state *s, int64_t items);
void gb_counter(gb_state *s, const char *name, double value, unsigned flags);
void gb_set_label(gb_state *s, const char *label);
/* Marks the run as failed with `msg` (copied); the function should then leave its loop (or not
 * enter it) and return. */
void gb_skip_with_error(gb_state *s, const char *msg);
int gb_error_occurred(gb_state *s);

/* ---- Running ----------------------------------------------------------------------------------
 * Parses and removes Google Benchmark's flags from argv (--help prints them). Returns 0, or 2
 * after printing the unrecognized arguments on stderr. */
int gb_initialize(int *argc, char **argv);
/* A key/value pair in the report's "context" (JSON) or header (console). */
void gb_add_context(const char *key, const char *value);
/* Runs the benchmarks selected by --benchmark_filter; returns how many matched. */
size_t gb_run(void);
void gb_shutdown(void);

#ifdef __cplusplus
}
#endif
#endif
