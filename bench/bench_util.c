/* bench/bench_util.c: see bench_util.h. */
#include "bench_util.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define LSCE_HUGE (2u << 20)

double lsce_bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static size_t round_huge(size_t bytes) {
  return (bytes + LSCE_HUGE - 1) / LSCE_HUGE * LSCE_HUGE;
}

typedef struct { unsigned char *p; int fill; } fill_ctx;
static void fill_chunk(void *ctx, int64_t lo, int64_t hi) {
  fill_ctx *f = ctx;
  memset(f->p + lo, f->fill, (size_t)(hi - lo));
}

void *lsce_big_alloc(size_t bytes, int fill) {
  size_t n = round_huge(bytes ? bytes : 1);
  void *p = aligned_alloc(LSCE_HUGE, n);
  if (!p) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(p, n, MADV_HUGEPAGE);
#endif
  if (fill >= 0) {
    fill_ctx f = {p, fill};
    lsce_parallel_for(lsce_online_cpus(), (int64_t)n, fill_chunk, &f);
  }
  return p;
}

void lsce_big_free(void *p, size_t bytes) { (void)bytes; free(p); }

int lsce_online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 16 ? 16 : (int)n;
}

typedef struct {
  void (*fn)(void *, int64_t, int64_t);
  void *ctx;
  int64_t lo, hi;
} chunk;

static void *run_chunk(void *arg) {
  chunk *c = arg;
  c->fn(c->ctx, c->lo, c->hi);
  return NULL;
}

void lsce_parallel_for(int threads, int64_t n, void (*fn)(void *ctx, int64_t lo, int64_t hi),
                       void *ctx) {
  if (threads < 1) threads = 1;
  if (threads > 16) threads = 16;
  if (n < (int64_t)threads * 4096) threads = 1;
  chunk c[16];
  pthread_t th[16];
  int started[16] = {0};
  for (int k = 0; k < threads; k++) {
    c[k].fn = fn;
    c[k].ctx = ctx;
    c[k].lo = n * k / threads;
    c[k].hi = n * (k + 1) / threads;
  }
  for (int k = 1; k < threads; k++)
    started[k] = pthread_create(&th[k], NULL, run_chunk, &c[k]) == 0;
  run_chunk(&c[0]);
  for (int k = 1; k < threads; k++) {
    if (started[k]) pthread_join(th[k], NULL);
    else run_chunk(&c[k]); /* could not start a thread: do its share here */
  }
}
