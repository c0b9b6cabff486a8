/* impls/cpu/kernels.h: the per-slice row kernels the CPU drivers compose. A stats kernel fills the
 * row statistics of classes [c0, c1) of row i (mergeable with lsce_stats_merge); a gradient kernel
 * writes g_j for j in [c0, c1) given the row's final statistics and returns the largest |g_j| it
 * formed before rounding to the output dtype (NaN if any was; for the row's error bound,
 * rowguard.h). */
#ifndef LSCE_CPU_KERNELS_H
#define LSCE_CPU_KERNELS_H
#include "combiner.h"
#include "rowbound.h"
#include "lsce/registry.h"

typedef void (*lsce_stats_kern)(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
typedef double (*lsce_grad_kern)(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                               int64_t c1, const lsce_gradcoef *g, double m);

/* Optional pair (SIMD kernels): stats_keep also keeps exp(z_j - m) of the slice's vector part in e
 * (returns 0 where it did not, 1 where e holds them in double, 3 where e holds exp(z_j) of the 16-bit
 * table pass (simd_tab16.inc; the factor exp(-m) left to grad_reuse), 2 where the float32 first pass kept
 * its float32 exps and their factor: simd_kernels.inc keep32_exps), grad_reuse takes them from there
 * (kept: that return value) instead of computing them again. */
typedef int (*lsce_stats_keep_kern)(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0,
                                    int64_t c1, double *e);
typedef double (*lsce_grad_reuse_kern)(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i,
                                     int64_t c0, int64_t c1, const lsce_gradcoef *g, double m,
                                     const double *e, int kept);

/* Optional (the software pipeline, simd_pipe.inc; issue #12 LSCE_PIPE): row i's statistics as stats_keep
 * takes them by the float32 single pass (returns 2, exps kept in e; 0: not that pass, nothing in st or e
 * to trust), interleaved with the gradient sweep of row ip from its kept float32 exps ep (kept == 2),
 * written as grad_reuse writes it, its largest |g| in *gmax. */
typedef int (*lsce_stats_keep_pipe_kern)(lsce_rowstats *st, const lsce_call *c, int64_t i, double *e, void *grad,
                                         lsce_dtype gdt, int64_t ip, const lsce_gradcoef *g, double m,
                                         const double *ep, double *gmax);

/* lsce_gmax2, the max of two |g| figures (a NaN in either gives NaN): impls/rowbound.h */

typedef struct {
  lsce_stats_kern stats;
  lsce_grad_kern grad;
  lsce_stats_keep_kern stats_keep; /* NULL: no reuse */
  lsce_grad_reuse_kern grad_reuse;
  /* the accurate rung (NULL: none): when stats used a cheaper first-pass exp (lsce_rowstats.exp_rel)
   * and the row's bound cannot guarantee the declared ulps, the row is recomputed by these before the
   * safe path (driver.c) */
  lsce_stats_kern acc_stats;
  lsce_grad_kern acc_grad;
  /* stats without the float32-precision first pass (NULL: stats has none): the driver's choice when
   * a gradient is wanted (the gradient's bound at the maximum's class needs s1 to about 2^-40),
   * and vocab_parallel.c's (no accurate rung there) */
  lsce_stats_kern stats_dbl;
  /* the double single pass of narrow rows first (simd_dblone.inc; NULL: none): the driver's next pass
   * for a whole row the float32 pass could not certify, and its first pass where the float32 pass
   * failed on the rows before it (driver.c); their accurate rung is acc_stats as above */
  lsce_stats_kern stats_one;
  lsce_stats_keep_kern stats_keep_one;
  lsce_stats_keep_pipe_kern stats_keep_pipe; /* NULL: none (driver.c run_pipe) */
} lsce_kernels;

/* scalar, online softmax (one pass; double, or double-double for float64 inputs) */
void lsce_stats_online(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
double lsce_grad_scalar(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                      int64_t c1, const lsce_gradcoef *g, double m);
/* the same, compiled for AVX2+FMA (online_fma.c): only where lsce_cpu_has_avx2() */
void lsce_stats_online_fma(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
double lsce_grad_scalar_fma(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                          int64_t c1, const lsce_gradcoef *g, double m);
/* The scalar rows' float64 first pass (online.c, twopass.c): the exp lsce_exp_pair of the
 * exact pair z - m (LSCE_EXP_REL_PAIR in lsce_rowstats.exp_rel), double-double sums; their accurate
 * twins above (double-double exp) are the driver's accurate rung. Narrow inputs: the same as those. */
void lsce_stats_online_first(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
double lsce_grad_scalar_first(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                              int64_t c1, const lsce_gradcoef *g, double m);
void lsce_stats_online_first_fma(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
double lsce_grad_scalar_first_fma(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,
                                  int64_t c1, const lsce_gradcoef *g, double m);
/* cpu_twopass's statistics (two passes over the row: the maximum, then the sums): the first pass and
 * the accurate twin; plain and AVX2+FMA builds (twopass_fma.c) */
void lsce_stats_twopass_first(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
void lsce_stats_twopass(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
void lsce_stats_twopass_first_fma(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
void lsce_stats_twopass_fma(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
/* float64 logits of an ordinary call take the first pass; verify's fast certifier (loss_lo, grad_lo:
 * it claims 2^-80) and narrow logits keep the accurate kernels' arithmetic */
static inline int lsce_scalar_first_f64(const lsce_call *c) {
  return c->dd && c->dtype == LSCE_DT_F64 && !c->loss_lo && !c->grad_lo;
}
/* the scalar rows run their AVX2+FMA builds: the CPU has AVX2+FMA and LSCE_ISA is not scalar */
int lsce_scalar_use_fma(void);
/* A scalar row (one thread) over lsce_cpu_drive: its statistics kernels (first pass and accurate
 * twin, plain and AVX2+FMA builds) with online.c's gradient kernels, the FMA build where
 * lsce_scalar_use_fma(). cpu_twopass and cpu_online differ only in the statistics. */
int lsce_cpu_scalar_drive(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c,
                          lsce_stats_kern first, lsce_stats_kern acc, lsce_stats_kern first_fma,
                          lsce_stats_kern acc_fma);

/* The SIMD kernel family of one ISA (simd_kernels.inc; float32, bfloat16, float16 inputs, float64
 * goes to the scalar kernels): stats, grad, their keep/reuse pair, the CPU test, and simd.h's exp
 * over an array (for tests/test_simd_exp.c). AVX2 + FMA + F16C in avx2.c; AVX-512F in avx512.c
 * (absent when built with LSCE_NO_AVX512). */
#define LSCE_SIMD_DECLARE(isa)                                                                      \
  void lsce_stats_##isa(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);  \
  double lsce_grad_##isa(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0,        \
                       int64_t c1, const lsce_gradcoef *g, double m);                                \
  int lsce_stats_keep_##isa(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0,           \
                            int64_t c1, double *e);                                                  \
  double lsce_grad_reuse_##isa(void *grad, lsce_dtype gdt, const lsce_call *c, int64_t i, int64_t c0, \
                             int64_t c1, const lsce_gradcoef *g, double m, const double *e, int kept); \
  int lsce_cpu_has_##isa(void);                                                                      \
  void lsce_exp_array_##isa(const double *x, double *y, int64_t n);
LSCE_SIMD_DECLARE(avx2)
LSCE_SIMD_DECLARE(avx512)
/* the same with simd.h's table exp vd_exp_tab (avx2_tab.c, avx512_tab.c; lsce_cpu_has_tab_* is not defined) */
LSCE_SIMD_DECLARE(tab_avx2)
LSCE_SIMD_DECLARE(tab_avx512)
void lsce_stats_dbl_tab_avx2(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
void lsce_stats_dbl_tab_avx512(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
int lsce_stats_keep_pipe_tab_avx2(lsce_rowstats *st, const lsce_call *c, int64_t i, double *e, void *grad,
                                  lsce_dtype gdt, int64_t ip, const lsce_gradcoef *g, double m, const double *ep,
                                  double *gmax);
int lsce_stats_keep_pipe_tab_avx512(lsce_rowstats *st, const lsce_call *c, int64_t i, double *e, void *grad,
                                    lsce_dtype gdt, int64_t ip, const lsce_gradcoef *g, double m, const double *ep,
                                    double *gmax);
void lsce_stats_one_tab_avx2(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
void lsce_stats_one_tab_avx512(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1);
int lsce_stats_keep_one_tab_avx2(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1, double *e);
int lsce_stats_keep_one_tab_avx512(lsce_rowstats *st, const lsce_call *c, int64_t i, int64_t c0, int64_t c1, double *e);
/* the double single pass's exp of the logit itself (simd_dblone.inc vd_exp_tab_nc), y = exp(x) on [-700, 680] */
void lsce_exp_one_array_tab_avx2(const double *x, double *y, int64_t n);
void lsce_exp_one_array_tab_avx512(const double *x, double *y, int64_t n);
void lsce_exp32_array_tab_avx2(const float *s, const float *l, float *y, int64_t n);
void lsce_exp32_array_tab_avx512(const float *s, const float *l, float *y, int64_t n);
/* the single pass's exp32 of the logit itself, y = exp32(z) (simd_f32pass.inc stats_f32_one) */
void lsce_exp32z_array_tab_avx2(const float *z, float *y, int64_t n);
void lsce_exp32z_array_tab_avx512(const float *z, float *y, int64_t n);
/* the 16-bit exp table as the table pass reads it, y[i] = T[p[i]] (simd_tab16.inc; 0: no table) */
int lsce_tab16_array_tab_avx2(lsce_dtype dt, const uint16_t *p, double *y, int64_t n);
int lsce_tab16_array_tab_avx512(lsce_dtype dt, const uint16_t *p, double *y, int64_t n);
void lsce_exp2x_array_tab_avx2(const double *xh, const double *xl, double *yh, double *yl, int64_t n);
void lsce_exp2x_array_tab_avx512(const double *xh, const double *xl, double *yh, double *yl, int64_t n);
/* vd_exp1x of the logit itself, yh + yl = exp(x) on [-600, 600] (simd_f64pass.inc stats_f64_one) */
void lsce_exp1x_array_tab_avx2(const double *x, double *yh, double *yl, int64_t n);
void lsce_exp1x_array_tab_avx512(const double *x, double *yh, double *yl, int64_t n);
/* vd_exp2xx (the float64 accurate rung's pair exp) over arrays, as lsce_exp2x_array_* */
void lsce_exp2xx_array_avx2(const double *xh, const double *xl, double *yh, double *yl, int64_t n);
void lsce_exp2xx_array_avx512(const double *xh, const double *xl, double *yh, double *yl, int64_t n);
/* simd_round16.h's double -> bfloat16 (bf16 != 0) / float16 rounding over an array (n a multiple of
 * 2W), for tests/test_round16.c (avx2.c, avx512.c) */
void lsce_round16_array_avx2(const double *x, uint16_t *y, int64_t n, int bf16);
void lsce_round16_array_avx512(const double *x, uint16_t *y, int64_t n, int bf16);

/* The kernels cpu_avx2/cpu_threads/cpu_sharded run: the widest ISA here that LSCE_ISA allows. */
lsce_kernels lsce_cpu_kernels(void);

/* The largest K whose exps a row keeps for its gradient (2 MiB of doubles per thread). */
#define LSCE_KEEP_MAX_K 262144
/* Runs kernels over every row: `threads` OpenMP threads over rows; a row is split into slices of
 * `slice` classes (0: whole rows) whose statistics are merged; when N < threads the slices of one
 * row run in parallel. Loss reduced in double-double in row order (deterministic). */
int lsce_cpu_drive(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_kernels *k,
                   int threads, int64_t slice);
#endif
