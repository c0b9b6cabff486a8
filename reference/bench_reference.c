/* reference/bench_reference.c: the certified reference's throughput, in logits per second, for the
 * loss alone and for loss + gradient (variant k, e = 0.1, mean; float32 logits from a fixed
 * pseudo-random stream). Registered with meson's benchmark(); prints one line per shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "lsce/reference.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  const int64_t shapes[][2] = {{64, 1000}, {4, 32000}, {2, 128256}};
  (void)argc; (void)argv;
  uint64_t x = 88172645463325252ULL;
  for (int s = 0; s < 3; s++) {
    int64_t N = shapes[s][0], K = shapes[s][1];
    float *z = malloc(sizeof(float) * (size_t)(N * K)); /* the problem owns both (in memory) */
    int64_t *t = malloc(sizeof(int64_t) * (size_t)N);
    if (!z || !t) return 3;
    for (int64_t i = 0; i < N * K; i++) { /* xorshift64, roughly N(0, 1) by a sum of uniforms */
      double acc = 0;
      for (int k = 0; k < 4; k++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; acc += (double)(x >> 11) / 9007199254740992.0; }
      z[i] = (float)((acc - 2.0) * 1.7320508);
    }
    for (int64_t i = 0; i < N; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; t[i] = (int64_t)(x % (uint64_t)K); }
    lsce_err err;
    lsce_problem p;
    lsce_problem_init(&p);
    p.variant = LSCE_V_K;
    mpq_set_si(p.e, 1, 10);
    if (lsce_problem_from_memory(&p, LSCE_DT_F32, N, K, z, t, NULL, 1, &err)) { fprintf(stderr, "%s\n", err.line); return 3; }
    for (int grad = 0; grad <= 1; grad++) {
      lsce_ref_opts o;
      lsce_ref_opts_default(&o);
      o.want_grad = grad;
      double best = INFINITY;
      for (int rep = 0; rep < 3; rep++) {
        lsce_ref_result r;
        double t0 = now();
        if (lsce_reference(&r, &p, &o, "bench", &err)) { fprintf(stderr, "%s\n", err.line); return 3; }
        double dt = now() - t0;
        if (dt < best) best = dt;
        lsce_ref_result_free(&r);
      }
      printf("reference/%s/float32/N:%lld/K:%lld  %.3f s  %.3g logits/s\n", grad ? "fwdbwd" : "fwd",
             (long long)N, (long long)K, best, (double)(N * K) / best);
    }
    lsce_problem_clear(&p); /* frees z and t */
  }
  return 0;
}
