/* impls/cpu/tab16.c: the exp tables of the 16-bit dtypes (tab16.h): T[b] = exp(v(b)) by glibc's exp
 * for |v| <= LSCE_TAB16_GUARD, NaN otherwise; 65536 doubles (512 KiB) per dtype, built once
 * (pthread_once) when a first pass first asks for it (about 1 ms). Accuracy: glibc documents its
 * double exp below 1 ulp (its current implementation 0.511 ulp); an ulp of a normal double y is at
 * most 2^-52 |y|, so T[b] is within 2^-52 of exp(v) relative (LSCE_EXP_REL_T16). tests/test_simd_exp.c
 * measures every entry of both tables against MPFR. */
#include "cpu/tab16.h"
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include "cpu/elem.h"

static double *tab_bf16, *tab_f16;
static pthread_once_t once_bf16 = PTHREAD_ONCE_INIT, once_f16 = PTHREAD_ONCE_INIT;

static double *build(lsce_dtype dt) {
  double *t = malloc(sizeof(double) * 65536);
  if (!t) return NULL;
  for (uint32_t b = 0; b < 65536; b++) {
    const uint16_t p = (uint16_t)b;
    const double v = lsce_ld(&p, dt, 0);
    t[b] = fabs(v) <= LSCE_TAB16_GUARD ? exp(v) : NAN; /* NaN v fails the test too */
  }
  return t;
}
static void build_bf16(void) { tab_bf16 = build(LSCE_DT_BF16); }
static void build_f16(void) { tab_f16 = build(LSCE_DT_F16); }

const double *lsce_tab16_get(lsce_dtype dt) {
  if (dt == LSCE_DT_BF16) {
    pthread_once(&once_bf16, build_bf16);
    return tab_bf16;
  }
  if (dt == LSCE_DT_F16) {
    pthread_once(&once_f16, build_f16);
    return tab_f16;
  }
  return NULL;
}
