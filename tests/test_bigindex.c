/* tests/test_bigindex.c (suite slow): 64-bit indexing. An in-memory bfloat16 problem with K = 32000
 * and N = ceil(2^31 / K) + 2 rows (N*K > 2^31 elements; pytorch#85786), rows from a cheap
 * deterministic formula, no file written. Each CPU row runs with reduction none; the first two
 * and the last two rows are compared with the certified reference computed on just those rows,
 * and `sum` is compared with the sum of the per-row values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lsce/invoke.h"
#include "lsce/reference.h"
#include "lsce/registry.h"
#include "lsce/ulp.h"

#define K 32000LL

static uint16_t logit(int64_t i, int64_t c) {
  /* a value in about [-4, 4], varying along both axes, as bfloat16 bits */
  uint64_t h = (uint64_t)(i * 2654435761LL + c * 40503LL) * 0x9E3779B97F4A7C15ULL;
  double v = ((double)(h >> 40) / (double)(1ULL << 24)) * 8.0 - 4.0;
  return lsce_double_to_bf16(v);
}

int main(void) {
  const int64_t N = (int64_t)ceil((double)(1LL << 31) / (double)K) + 2;
  int passed = 0, failed = 0;
  uint16_t *z = malloc(sizeof(uint16_t) * (size_t)(N * K));
  int64_t *t = malloc(sizeof(int64_t) * (size_t)N);
  double *loss = malloc(sizeof(double) * (size_t)N);
  if (!z || !t || !loss) { printf("cannot allocate %lld bytes\n0 passed, 1 failed, 0 skipped\n", (long long)(N * K * 2)); return 1; }
  for (int64_t i = 0; i < N; i++) {
    t[i] = (i * 7919) % K;
    for (int64_t c = 0; c < K; c++) z[i * K + c] = logit(i, c);
  }
  /* the reference on rows 0, 1, N-2, N-1, as a small in-memory problem */
  const int64_t rows[4] = {0, 1, N - 2, N - 1};
  uint16_t *sub = malloc(sizeof(uint16_t) * 4 * (size_t)K);
  int64_t st[4];
  if (!sub) { printf("cannot allocate\n0 passed, 1 failed, 0 skipped\n"); return 1; }
  for (int r = 0; r < 4; r++) {
    for (int64_t c = 0; c < K; c++) sub[r * K + c] = z[rows[r] * K + c];
    st[r] = t[rows[r]];
  }
  lsce_err err;
  lsce_problem p;
  lsce_problem_init(&p);
  p.variant = LSCE_V_K;
  mpq_set_si(p.e, 1, 10);
  p.reduction = LSCE_RED_NONE;
  lsce_ref_result ref;
  lsce_ref_opts ro;
  lsce_ref_opts_default(&ro);
  ro.want_lo = 1;
  if (lsce_problem_from_memory(&p, LSCE_DT_BF16, 4, K, sub, st, NULL, 0, &err) ||
      lsce_reference(&ref, &p, &ro, "test", &err)) {
    printf("reference: %s\n0 passed, 1 failed, 0 skipped\n", err.line);
    return 1;
  }
  mpq_t e;
  mpq_init(e);
  mpq_set_si(e, 1, 10);
  for (int k = 0; k < lsce_nimpls; k++) {
    const lsce_impl *im = &lsce_impls[k];
    if (strcmp(im->device, "cpu") != 0) continue;
    lsce_params prm;
    lsce_params_init(&prm, LSCE_V_K, LSCE_RED_NONE, e, N, K, t, NULL, -100, -1);
    lsce_call call = {z, LSCE_DT_BF16, N, K, t, NULL, &prm, 0, NULL, NULL};
    for (int64_t i = 0; i < N; i++) loss[i] = NAN;
    im->fn(loss, NULL, LSCE_DT_BF16, &call);
    double worst = 0;
    for (int r = 0; r < 4; r++) {
      double u = lsce_ulp_err(loss[rows[r]], ref.loss[r], ref.loss_lo[r], 0, LSCE_DT_F32);
      if (!(u <= worst)) worst = u;
      if (!(u <= im->bounds[LSCE_DT_BF16].loss_ulp)) {
        failed++;
        printf("FAIL %s: row %lld: ulp %.3g ref %a got %a\n", im->name, (long long)rows[r], u, ref.loss[r], loss[rows[r]]);
      } else passed++;
    }
    /* sum against the per-row values (summed in double-double) */
    lsce_dd acc = lsce_dd_from(0);
    for (int64_t i = 0; i < N; i++) acc = lsce_dd_add_d(acc, loss[i]);
    double sum;
    lsce_params_init(&prm, LSCE_V_K, LSCE_RED_SUM, e, N, K, t, NULL, -100, -1);
    im->fn(&sum, NULL, LSCE_DT_BF16, &call);
    double rel = fabs(sum - lsce_dd_to_d(acc)) / fabs(lsce_dd_to_d(acc));
    if (rel <= 1e-13) passed++;
    else { failed++; printf("FAIL %s: sum %a, sum of rows %a (relative %.3g)\n", im->name, sum, lsce_dd_to_d(acc), rel); }
    printf("%s: N=%lld K=%lld (N*K = %lld) rows 0,1,N-2,N-1 worst %.3g ulp; sum rel diff %.3g\n", im->name,
           (long long)N, (long long)K, (long long)(N * K), worst, rel);
  }
  printf("%d passed, %d failed, 0 skipped\n", passed, failed);
  return failed != 0;
}
