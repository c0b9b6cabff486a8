/* bench/inputs.c: see inputs.h. The hash is splitmix64's finalizer (a bijection of 64-bit
 * words). */
#include "inputs.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"

#define TABLE_BITS 18
#define TABLE_N (1 << TABLE_BITS)

static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double g_normal[TABLE_N];
static float g_f32[TABLE_N];
static uint16_t g_f16[TABLE_N], g_bf16[TABLE_N];
static int g_tables;

static void make_tables(void) {
  if (g_tables) return;
  const double two_pi = 6.283185307179586;
  for (int i = 0; i < TABLE_N; i += 2) {
    /* u1 in (0, 1], u2 in [0, 1): 53-bit uniforms from the hash of the table index */
    const uint64_t key = ((uint64_t)LSCE_BENCH_SEED << 32) + (uint64_t)i;
    double u1 = (double)((mix64(key) >> 11) + 1) * 0x1p-53;
    double u2 = (double)(mix64(key + 1) >> 11) * 0x1p-53;
    double r = sqrt(-2.0 * log(u1));
    g_normal[i] = r * cos(two_pi * u2);
    g_normal[i + 1] = r * sin(two_pi * u2);
  }
  for (int i = 0; i < TABLE_N; i++) {
    g_f32[i] = lsce_double_to_f32(g_normal[i]);
    g_f16[i] = lsce_double_to_f16(g_normal[i]);
    g_bf16[i] = lsce_double_to_bf16(g_normal[i]);
  }
  g_tables = 1;
}

typedef struct {
  lsce_bench_inputs in;
  uint64_t used; /* last use, for LRU eviction; 0 = empty slot */
} slot;
static slot g_slot[LSCE_INPUTS_KEEP];
static uint64_t g_clock;

static void drop(slot *e) {
  if (e->in.logits) lsce_big_free(e->in.logits, e->in.logits_bytes);
  free(e->in.targets);
  memset(e, 0, sizeof *e);
}

void lsce_inputs_release(void) {
  for (int k = 0; k < LSCE_INPUTS_KEEP; k++) drop(&g_slot[k]);
}

static void fill(void *ctx, int64_t lo, int64_t hi) {
  const lsce_bench_inputs *in = ctx;
  const uint64_t seed = (uint64_t)LSCE_BENCH_SEED << 40;
  for (int64_t i = lo; i < hi; i++) {
    uint32_t k = (uint32_t)(mix64(seed ^ (uint64_t)i) >> (64 - TABLE_BITS));
    if (in->trained) { /* s z + b [j = y], rounded once */
      const double v = LSCE_BENCH_TRAINED_SIGMA * g_normal[k] + (in->targets[i / in->K] == i % in->K ? LSCE_BENCH_TRAINED_BOOST : 0.0);
      switch (in->dt) {
      case LSCE_DT_F64: ((double *)in->logits)[i] = v; break;
      case LSCE_DT_F32: ((float *)in->logits)[i] = lsce_double_to_f32(v); break;
      case LSCE_DT_F16: ((uint16_t *)in->logits)[i] = lsce_double_to_f16(v); break;
      default: ((uint16_t *)in->logits)[i] = lsce_double_to_bf16(v); break;
      }
      continue;
    }
    switch (in->dt) {
    case LSCE_DT_F64: ((double *)in->logits)[i] = g_normal[k]; break;
    case LSCE_DT_F32: ((float *)in->logits)[i] = g_f32[k]; break;
    case LSCE_DT_F16: ((uint16_t *)in->logits)[i] = g_f16[k]; break;
    default: ((uint16_t *)in->logits)[i] = g_bf16[k]; break;
    }
  }
}

/* Evict least recently used entries until the others hold at most LSCE_INPUTS_KEEP_BYTES and a
 * slot is free. */
static slot *make_room(void) {
  for (;;) {
    size_t kept = 0;
    slot *lru = NULL, *empty = NULL;
    for (int k = 0; k < LSCE_INPUTS_KEEP; k++) {
      slot *e = &g_slot[k];
      if (!e->used) { empty = e; continue; }
      kept += e->in.logits_bytes;
      if (!lru || e->used < lru->used) lru = e;
    }
    if (empty && kept <= LSCE_INPUTS_KEEP_BYTES) return empty;
    drop(lru);
  }
}

const lsce_bench_inputs *lsce_inputs_get(lsce_dtype dt, int64_t N, int64_t K) { return lsce_inputs_get_kind(dt, N, K, 0); }

const lsce_bench_inputs *lsce_inputs_get_kind(lsce_dtype dt, int64_t N, int64_t K, int trained) {
  for (int k = 0; k < LSCE_INPUTS_KEEP; k++) {
    slot *e = &g_slot[k];
    if (e->used && e->in.dt == dt && e->in.N == N && e->in.K == K && e->in.trained == trained) {
      e->used = ++g_clock;
      return &e->in;
    }
  }
  make_tables();
  slot *e = make_room();
  size_t bytes = (size_t)N * (size_t)K * lsce_dtype_size(dt);
  e->in.logits = lsce_big_alloc(bytes, -1); /* fill() below touches every page */
  e->in.targets = malloc(sizeof(int64_t) * (size_t)(N > 0 ? N : 1));
  if (!e->in.logits || !e->in.targets) {
    drop(e);
    lsce_inputs_release(); /* retry with the whole cache freed */
    e = &g_slot[0];
    e->in.logits = lsce_big_alloc(bytes, -1);
    e->in.targets = malloc(sizeof(int64_t) * (size_t)(N > 0 ? N : 1));
    if (!e->in.logits || !e->in.targets) {
      drop(e);
      return NULL;
    }
  }
  e->used = ++g_clock;
  e->in.dt = dt;
  e->in.N = N;
  e->in.K = K;
  e->in.logits_bytes = bytes;
  e->in.trained = trained;
  const uint64_t tseed = ((uint64_t)LSCE_BENCH_SEED << 40) ^ 0x7461726765747300ull; /* "targets" */
  for (int64_t i = 0; i < N; i++)
    e->in.targets[i] = (int64_t)(((mix64(tseed + (uint64_t)i) >> 32) * (uint64_t)K) >> 32);
  lsce_parallel_for(lsce_online_cpus(), N * K, fill, &e->in); /* the trained rows read the targets */
  return &e->in;
}
