/* tests/test_round16.c: the SIMD rows' vector double -> bfloat16 / float16 rounding
 * (impls/cpu/simd_round16.h, used by the gradient stores of simd_kernels.inc) against the scalar
 * converters lsce_double_to_bf16 / lsce_double_to_f16 (core/npy.c), bit for bit, at every width the
 * machine has (AVX2, AVX-512). Inputs: for every 16-bit pattern of each format, the value, the
 * halfway point to the next pattern (exact in double) and the doubles one and two ulps either side
 * of both (this covers every rounding boundary: ties to even and odd, the subnormal range, the
 * smallest normal, the overflow threshold max + ulp/2 and its neighbours, both signs); zeros, double
 * subnormals, infinities, NaNs with payloads; random doubles over the whole exponent range and
 * around the formats' ranges. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/kernels.h"
#include "lsce/npy.h"

static double bitsd(uint64_t u) {
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

typedef struct {
  double *x;
  int64_t n, cap;
} vec;

static void push(vec *v, double x) {
  if (v->n == v->cap) {
    v->cap = v->cap ? 2 * v->cap : 1 << 16;
    v->x = realloc(v->x, sizeof(double) * (size_t)v->cap);
    if (!v->x) { printf("out of memory\n"); exit(1); }
  }
  v->x[v->n++] = x;
}

/* x and the doubles one and two ulps either side */
static void push5(vec *v, double x) {
  double lo = x, hi = x;
  push(v, x);
  for (int k = 0; k < 2; k++) {
    lo = nextafter(lo, -INFINITY);
    hi = nextafter(hi, INFINITY);
    push(v, lo);
    push(v, hi);
  }
}

static void inputs(vec *v, int bf16) {
  double (*to_d)(uint16_t) = bf16 ? lsce_bf16_to_double : lsce_f16_to_double;
  const uint16_t expmask = bf16 ? 0x7f80 : 0x7c00;
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & expmask) == expmask) continue; /* infinities and NaNs: below */
    double a = to_d((uint16_t)h);
    push5(v, a);
    /* the halfway point to the next magnitude (for the largest finite: max + ulp/2, the overflow
     * threshold, with the "next" value 2^(emax+1)) */
    double b = (((h + 1) & expmask) == expmask) ? copysign(ldexp(1.0, bf16 ? 128 : 16), a) : to_d((uint16_t)(h + 1));
    push5(v, a + (b - a) / 2); /* exact: both are short doubles */
  }
  const double special[] = {0.0, -0.0, INFINITY, -INFINITY, bitsd(1), bitsd(0x800fffffffffffffULL),
                            0x1p-1022, -0x1p-1022, DBL_MAX, -DBL_MAX, bitsd(0x7ff0000000000001ULL),
                            bitsd(0xfff8000000000000ULL), bitsd(0x7ff8000000000000ULL), bitsd(0x7ffc000000000123ULL),
                            bitsd(0xfff7ffffffffffffULL), bitsd(0x7ff4000000000000ULL), bitsd(0x7ff0200000000000ULL),
                            0x1p-25, 0x1p-24, 0x1p-134, 0x1p-133, 0x1p-126, 65520.0, 65519.999, 0x1.ffp127};
  for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) push(v, special[k]);
  uint64_t s = bf16 ? 0x9E3779B97F4A7C15ULL : 0x2545F4914F6CDD1DULL;
  for (int k = 0; k < 1000000; k++) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    if (k % 2 == 0) { push(v, bitsd(s)); continue; } /* any double, NaNs included */
    /* a double near the format's range: exponent in [-150, 130] */
    uint64_t e = (uint64_t)(1023 - 150 + (int)((s >> 52) % 281));
    push(v, bitsd((s & 0x800fffffffffffffULL) | (e << 52)));
  }
  while (v->n % 16) push(v, 1.0); /* a multiple of 2W at both widths */
}

static int check(const char *isa, void (*f)(const double *, uint16_t *, int64_t, int), int bf16, const vec *v,
                 int *passed) {
  uint16_t *y = malloc(sizeof(uint16_t) * (size_t)v->n);
  if (!y) return 1;
  f(v->x, y, v->n, bf16);
  int failed = 0;
  for (int64_t i = 0; i < v->n; i++) {
    uint16_t want = bf16 ? lsce_double_to_bf16(v->x[i]) : lsce_double_to_f16(v->x[i]);
    if (y[i] == want) continue;
    if (++failed <= 5) printf("FAIL %s %s(%a) = 0x%04x, scalar 0x%04x\n", isa, bf16 ? "bf16" : "f16", v->x[i], y[i], want);
  }
  printf("%s %s: %lld inputs, %d differ\n", isa, bf16 ? "bfloat16" : "float16", (long long)v->n, failed);
  if (!failed) (*passed)++;
  free(y);
  return failed != 0;
}

int main(void) {
  int passed = 0, failed = 0, skipped = 0;
  for (int bf16 = 0; bf16 < 2; bf16++) {
    vec v = {0};
    inputs(&v, bf16);
    if (lsce_cpu_has_avx2()) failed += check("avx2", lsce_round16_array_avx2, bf16, &v, &passed);
    else { skipped++; printf("avx2: not on this machine\n"); }
#ifndef LSCE_NO_AVX512
    if (lsce_cpu_has_avx512()) failed += check("avx512", lsce_round16_array_avx512, bf16, &v, &passed);
    else { skipped++; printf("avx512: not on this machine\n"); }
#else
    skipped++;
    printf("avx512: not built\n");
#endif
    free(v.x);
  }
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed) return 1;
  return passed ? 0 : 77;
}
