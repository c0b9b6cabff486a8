/* impls/cpu/avx2.c: AVX2 + FMA row kernels for float32, bfloat16 and float16 logits (compiled with
 * -mavx2 -mfma -mf16c, chosen at run time). Each logit is widened to double, z - m is formed in
 * double, exp(z - m) is a 4-lane double exp (degree-11 Taylor on |r| <= ln2/2: relative error below
 * 2^-46), and sums accumulate in double (error about K 2^-53): far below the float32 ulp of the loss
 * and the input-dtype ulp of the gradient. Slices with masked (-inf) classes, and float64 inputs,
 * use the scalar kernels. Claim: the DESIGN.md bounds for float32, bfloat16 and float16. */
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "cpu/elem.h"
#include "cpu/kernels.h"

int lsce_cpu_has_avx2(void) {
  /* CPUID leaf 1: FMA is ECX bit 12, F16C ECX bit 29, OSXSAVE ECX bit 27; leaf 7: AVX2 EBX bit 5
   * (clang 14's __builtin_cpu_supports does not know "f16c") */
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  int fma = (c >> 12) & 1, f16c = (c >> 29) & 1, osxsave = (c >> 27) & 1;
  if (!osxsave || !(( _xgetbv(0) & 6) == 6)) return 0; /* the OS saves the YMM state */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return fma && f16c && ((b >> 5) & 1);
}

/* exp(x) for x <= 0 in 4 lanes: n = round(x / ln2), r = x - n ln2 (ln2 split so n ln2_hi is
 * exact), Taylor to degree 11 (remainder <= 0.347^12/12! < 2^-47), times 2^n; x < -708 gives 0
 * (those terms are below 2^-1000 of the row's sum). */
static inline __m256d exp_pd(__m256d x) {
  const __m256d lo = _mm256_set1_pd(-708.0);
  const __m256d log2e = _mm256_set1_pd(1.4426950408889634074);
  const __m256d ln2hi = _mm256_set1_pd(6.93147180369123816490e-01);
  const __m256d ln2lo = _mm256_set1_pd(1.90821492927058770002e-10);
  __m256d xc = _mm256_max_pd(x, lo);
  __m256d n = _mm256_round_pd(_mm256_mul_pd(xc, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d r = _mm256_fnmadd_pd(n, ln2hi, xc);
  r = _mm256_fnmadd_pd(n, ln2lo, r);
  __m256d p = _mm256_set1_pd(1.0 / 39916800.0);
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 3628800.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 362880.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 40320.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 5040.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 720.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 120.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 24.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 6.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(0.5));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0));
  p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0));
  __m256i e = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n));
  e = _mm256_slli_epi64(_mm256_add_epi64(e, _mm256_set1_epi64x(1023)), 52);
  p = _mm256_mul_pd(p, _mm256_castsi256_pd(e));
  return _mm256_blendv_pd(p, _mm256_setzero_pd(), _mm256_cmp_pd(x, lo, _CMP_LT_OQ));
}

/* 8 logits from index j, widened to float */
static inline __m256 load8(const void *base, lsce_dtype dt, int64_t j) {
  switch (dt) {
  case LSCE_DT_F32: return _mm256_loadu_ps((const float *)base + j);
  case LSCE_DT_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + j)));
  default: { /* bfloat16: the top half of a float32 */
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + j)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  }
}

static inline double hsum(__m256d v) {
  __m128d a = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(a, _mm_unpackhi_pd(a, a)));
}

void lsce_stats_avx2(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1) {
  const lsce_params *p = c->prm;
  if (c->dd) { lsce_stats_online_fma(st, c, i, c0, c1); return; }
  const int64_t K = c->K, y = c->targets[i];
  const int wu = p->weighting == LSCE_W_TORCH_ID || p->weighting == LSCE_W_LOGPROB_ID;
  const void *row = c->dtype == LSCE_DT_F32 ? (const void *)((const float *)c->logits + i * K)
                                            : (const void *)((const uint16_t *)c->logits + i * K);
  /* pass 1: the maximum, and whether any class is masked */
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 mx = ninf;
  int masked = 0;
  int64_t j = c0;
  for (; j + 8 <= c1; j += 8) {
    __m256 v = load8(row, c->dtype, j);
    masked |= _mm256_movemask_ps(_mm256_cmp_ps(v, ninf, _CMP_EQ_OQ));
    mx = _mm256_max_ps(mx, v);
  }
  float mv[8];
  _mm256_storeu_ps(mv, mx);
  float m = -INFINITY;
  for (int l = 0; l < 8; l++) if (mv[l] > m) m = mv[l];
  for (int64_t r = j; r < c1; r++) {
    float v = (float)lsce_ld(row, c->dtype, r);
    if (v == -INFINITY) masked = 1;
    if (v > m) m = v;
  }
  if (masked || m == -INFINITY) { lsce_stats_online_fma(st, c, i, c0, c1); return; }
  lsce_stats_empty(st);
  /* the first index of the maximum */
  int64_t jm = -1;
  const __m256 mb = _mm256_set1_ps(m);
  for (j = c0; j + 8 <= c1 && jm < 0; j += 8) {
    int mask = _mm256_movemask_ps(_mm256_cmp_ps(load8(row, c->dtype, j), mb, _CMP_EQ_OQ));
    if (mask) jm = j + __builtin_ctz((unsigned)mask);
  }
  for (int64_t r = j; r < c1 && jm < 0; r++) if ((float)lsce_ld(row, c->dtype, r) == m) jm = r;
  /* pass 2: s = sum exp(z - m) over d < 0 (d == 0 terms are exactly 1), t = sum u d, Uf, n_eq */
  const __m256d md = _mm256_set1_pd((double)m), zero = _mm256_setzero_pd();
  __m256d s_a = zero, s_b = zero, t_a = zero, t_b = zero, u_a = zero, u_b = zero;
  int64_t n_eq = 0;
  const double *w = c->weights;
  for (j = c0; j + 8 <= c1; j += 8) {
    __m256 v = load8(row, c->dtype, j);
    __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), md);
    __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), md);
    __m256d q0 = _mm256_cmp_pd(d0, zero, _CMP_LT_OQ), q1 = _mm256_cmp_pd(d1, zero, _CMP_LT_OQ);
    n_eq += 8 - __builtin_popcount((unsigned)(_mm256_movemask_pd(q0) | (_mm256_movemask_pd(q1) << 4)));
    s_a = _mm256_add_pd(s_a, _mm256_and_pd(exp_pd(d0), q0));
    s_b = _mm256_add_pd(s_b, _mm256_and_pd(exp_pd(d1), q1));
    if (wu) {
      __m256d w0 = _mm256_loadu_pd(w + j), w1 = _mm256_loadu_pd(w + j + 4);
      t_a = _mm256_fmadd_pd(w0, d0, t_a);
      t_b = _mm256_fmadd_pd(w1, d1, t_b);
      u_a = _mm256_add_pd(u_a, w0);
      u_b = _mm256_add_pd(u_b, w1);
    } else {
      t_a = _mm256_add_pd(t_a, d0);
      t_b = _mm256_add_pd(t_b, d1);
    }
  }
  double s1 = hsum(_mm256_add_pd(s_a, s_b)), t = hsum(_mm256_add_pd(t_a, t_b));
  double Uf = wu ? hsum(_mm256_add_pd(u_a, u_b)) : (double)(j - c0);
  for (int64_t r = j; r < c1; r++) {
    double d = lsce_ld(row, c->dtype, r) - (double)m;
    if (d < 0) s1 += exp(d); else n_eq++;
    double u = wu ? w[r] : 1.0;
    t += u * d;
    Uf += u;
  }
  s1 += (double)(n_eq - 1); /* the other classes equal to m */
  if (p->pad_index >= c0 && p->pad_index < c1) { /* P is not in S */
    double d = lsce_ld(row, c->dtype, p->pad_index) - (double)m;
    double u = wu ? w[p->pad_index] : 1.0;
    t -= u * d;
    Uf -= u;
    st->P_finite = 1;
  }
  if (y >= c0 && y < c1) st->zy = lsce_ld(row, c->dtype, y);
  st->m = m; st->jm = jm; st->Kf = c1 - c0; st->n_eq = n_eq;
  st->s1 = lsce_dd_from(s1); st->t = lsce_dd_from(t); st->Uf = lsce_dd_from(Uf);
}

void lsce_grad_avx2(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                    int64_t c1, const lsce_gradcoef *g, double m) {
  if (c->dd || gdt != c->dtype || g->nan) {
    lsce_grad_scalar_fma(grad, gdt, c, i, c0, c1, g, m);
    return;
  }
  const lsce_params *p = c->prm;
  const int64_t K = c->K;
  const int wu = p->weighting == LSCE_W_TORCH_ID || p->weighting == LSCE_W_LOGPROB_ID;
  const void *row = c->dtype == LSCE_DT_F32 ? (const void *)((const float *)c->logits + i * K)
                                            : (const void *)((const uint16_t *)c->logits + i * K);
  float *out = (float *)grad + i * K;       /* float32 output */
  uint16_t *out16 = (uint16_t *)grad + i * K; /* bfloat16 / float16 output, rounded once from double */
  const __m256d md = _mm256_set1_pd(m), a = _mm256_set1_pd(g->alpha_rs);
  const double bD = g->B_D.hi + g->B_D.lo;
  const __m256d kb = _mm256_set1_pd(bD);
  int64_t j = c0;
  for (; j + 8 <= c1; j += 8) {
    __m256 v = load8(row, c->dtype, j);
    __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), md);
    __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), md);
    __m256d k0 = kb, k1 = kb;
    if (wu) { k0 = _mm256_mul_pd(kb, _mm256_loadu_pd(c->weights + j)); k1 = _mm256_mul_pd(kb, _mm256_loadu_pd(c->weights + j + 4)); }
    __m256d g0 = _mm256_fmsub_pd(a, exp_pd(d0), k0), g1 = _mm256_fmsub_pd(a, exp_pd(d1), k1);
    if (gdt == LSCE_DT_F32) {
      __m256 gf = _mm256_set_m128(_mm256_cvtpd_ps(g1), _mm256_cvtpd_ps(g0));
      _mm256_storeu_ps(out + j, gf);
    } else {
      double tmp[8];
      _mm256_storeu_pd(tmp, g0);
      _mm256_storeu_pd(tmp + 4, g1);
      for (int l = 0; l < 8; l++)
        out16[j + l] = gdt == LSCE_DT_BF16 ? lsce_double_to_bf16(tmp[l]) : lsce_double_to_f16(tmp[l]);
    }
  }
  if (j < c1) lsce_grad_scalar_fma(grad, gdt, c, i, j, c1, g, m);
  /* the entries whose kappa or p differ from the vector formula: y, P and jm */
  int64_t fix[3] = {g->y, p->pad_index, g->jm};
  for (int f = 0; f < 3; f++)
    if (fix[f] >= c0 && fix[f] < c1) lsce_grad_scalar_fma(grad, gdt, c, i, fix[f], fix[f] + 1, g, m);
}
