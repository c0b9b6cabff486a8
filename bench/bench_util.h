/* bench/bench_util.h: what the benchmark sources share: a monotonic wall clock, large buffers
 * (2 MiB aligned, transparent huge pages requested, every page touched before timing) and a small
 * parallel-for over POSIX threads for filling inputs. */
#ifndef LSCE_BENCH_UTIL_H
#define LSCE_BENCH_UTIL_H
#include <stddef.h>
#include <stdint.h>

double lsce_bench_now(void); /* seconds, CLOCK_MONOTONIC */

/* A buffer of at least `bytes`, 2 MiB aligned, every page written with `fill` (so page faults
 * never fall in a timed region), or left untouched when fill < 0 (the caller writes it all).
 * NULL when out of memory. Free with lsce_big_free. */
void *lsce_big_alloc(size_t bytes, int fill);
void lsce_big_free(void *p, size_t bytes);

/* Calls fn(ctx, lo, hi) on [0, n) split into `threads` contiguous chunks (threads <= 16), the
 * first chunk on the calling thread. */
void lsce_parallel_for(int threads, int64_t n, void (*fn)(void *ctx, int64_t lo, int64_t hi),
                       void *ctx);
int lsce_online_cpus(void);
#endif
