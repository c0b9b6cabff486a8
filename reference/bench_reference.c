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
  char dir[] = "/tmp/lsce-benchXXXXXX";
  if (!mkdtemp(dir)) return 3;
  (void)argc; (void)argv;
  uint64_t x = 88172645463325252ULL;
  for (int s = 0; s < 3; s++) {
    int64_t N = shapes[s][0], K = shapes[s][1];
    double *z = malloc(sizeof(double) * (size_t)(N * K)), *t = malloc(sizeof(double) * (size_t)N);
    for (int64_t i = 0; i < N * K; i++) { /* xorshift64, roughly N(0, 1) by a sum of uniforms */
      double acc = 0;
      for (int k = 0; k < 4; k++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; acc += (double)(x >> 11) / 9007199254740992.0; }
      z[i] = (acc - 2.0) * 1.7320508;
    }
    for (int64_t i = 0; i < N; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; t[i] = (double)(x % (uint64_t)K); }
    char lp[64], tp[64];
    snprintf(lp, sizeof lp, "%s/L.npy", dir);
    snprintf(tp, sizeof tp, "%s/T.npy", dir);
    int64_t sh[2] = {N, K}, sh1[1] = {N};
    lsce_err err;
    lsce_npy_write(lp, LSCE_DT_F32, z, 2, sh, &err);
    lsce_npy_write(tp, LSCE_DT_I64, t, 1, sh1, &err);
    lsce_problem p;
    lsce_problem_init(&p);
    p.variant = LSCE_V_K;
    mpq_set_si(p.e, 1, 10);
    if (lsce_problem_load(&p, lp, tp, NULL, &err)) { fprintf(stderr, "%s\n", err.line); return 3; }
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
    lsce_problem_clear(&p);
    remove(lp); remove(tp);
    free(z); free(t);
  }
  rmdir(dir);
  return 0;
}
