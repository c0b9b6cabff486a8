/* bench/probes.h: the memory-bandwidth probes of docs/accuracy.md "Targets": AVX2 loads summing a buffer
 * (read) and AVX2 loads with non-temporal stores (copy), over a buffer >= 4x the last-level cache
 * and >= 512 MiB, on 1 or 2 threads; and the exp ceiling (exp32): the same buffer read as float32
 * with a float32-accurate exp summed per value, the fastest any one-exp-per-logit row can go; and
 * the exact rows' own ceiling (exp64): each value widened to double and the rows' double exp summed. The best bandwidth each probe reached in this process is kept
 * so the lsce rows can report their fraction of it. */
#ifndef LSCE_BENCH_PROBES_H
#define LSCE_BENCH_PROBES_H
#include <stddef.h>
#include <stdint.h>
#include "gbench_c.h"

/* MEMCPY and NUMPY are the outside figures of the same run: libc's memcpy over the same buffer
 * (bytes read + written, like copy) and numpy's sum of it in a python subprocess (one thread,
 * bytes read). lsce_probe_best of READ and COPY is the higher of the project's loop and the
 * outside figure, so a slow probe cannot flatter the rows' fractions. */
typedef enum { LSCE_PROBE_READ = 0, LSCE_PROBE_COPY = 1, LSCE_PROBE_EXP32 = 2, LSCE_PROBE_EXP64 = 3,
               LSCE_PROBE_MEMCPY = 4, LSCE_PROBE_NUMPY = 5, LSCE_PROBE_EXPF64 = 6, LSCE_PROBE_TAB16 = 7 } lsce_probe_kind;
#define LSCE_PROBE_KINDS 8
#define LSCE_PROBE_MAX_THREADS 2

/* Registers bandwidth/{read,copy,exp32,exp64,memcpy,expf64,tab16}/threads:<t> for t = 1, 2 and
 * bandwidth/numpy_sum/threads:1. */
void lsce_probes_register(void);
/* Buffer size: max(512 MiB, 4 x LLC), a multiple of 2 MiB. */
size_t lsce_probe_bytes(void);
/* Best bytes per second measured so far (read: bytes read; copy: bytes read + written), 0 if
 * the probe has not run in this process; for READ and COPY the higher of the loop and the outside
 * figure (numpy_sum at 1 thread counts for t >= 1; memcpy at t threads). */
double lsce_probe_best(lsce_probe_kind kind, int threads);
/* Frees the probe buffers (called by the first non-probe benchmark). */
void lsce_probes_release(void);

/* The AVX2 inner loops (probes_avx2.c, the only file built with -mavx2). `bytes` is a multiple of
 * 128 and the buffers are 32-byte aligned. lsce_probe_avx2_built is 0 when the compiler could not
 * target AVX2; callers also check __builtin_cpu_supports("avx2") first. */
extern const int lsce_probe_avx2_built;
uint64_t lsce_probe_read_avx2(const void *src, size_t bytes);
void lsce_probe_copy_avx2(void *dst, const void *src, size_t bytes);
float lsce_probe_exp32_avx2(const void *src, size_t bytes);
double lsce_probe_exp64_avx2(const void *src, size_t bytes);
double lsce_probe_expf64_avx2(const void *src, size_t bytes); /* bytes of float64 read */
/* The exp ceiling at AVX-512 width (probes_avx512.c); used instead where the CPU has AVX-512F. */
extern const int lsce_probe_avx512_built;
float lsce_probe_exp32_avx512(const void *src, size_t bytes);
uint64_t lsce_probe_read_avx512(const void *src, size_t bytes);
void lsce_probe_copy_avx512(void *dst, const void *src, size_t bytes);
double lsce_probe_exp64_avx512(const void *src, size_t bytes);
double lsce_probe_expf64_avx512(const void *src, size_t bytes);
/* the 16-bit table ceiling (probes_tab16.inc): bytes of 2-byte patterns read, tab the bfloat16 table */
double lsce_probe_tab16_avx2(const void *src, size_t bytes, const double *tab);
double lsce_probe_tab16_avx512(const void *src, size_t bytes, const double *tab);
#endif
