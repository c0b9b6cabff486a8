/* impls/cuda/rowkern.h: the CUDA rows' work decomposition and per-thread steps, written once as
 * host+device functions: impls/cuda/rowblock.cu runs them inside its kernels, and the host
 * emulation (tests/test_cuda_emu.cpp) runs the same functions with the same block/thread
 * decomposition (every thread's strided partial statistics, the shared-memory tree in its level
 * order, the split rows' slice partials merged in slice order, the row-chunk loops), so everything
 * but the launch itself is tested on the CPU. No accuracy claim of its own: every number goes
 * through the shared combiner (impls/combiner.h), and every row's own error bound through
 * impls/rowbound.h, the code the exact CPU rows check themselves with (lsce_cu_row_guard: each row
 * reports (hi, lo, E, flags), and the host runs the CPU rows' ladder on the rows it flags); this
 * file only decides which thread sees which class and in what order partial statistics merge.
 *
 * The including file declares, before including this header, for each element type T it uses:
 *   double lsce_cu_ld(const T *p, int64_t i);        the exact double of p[i]
 *   void lsce_cu_st(T *p, int64_t i, double g);      g rounded once (to nearest even) into p[i] */
#ifndef LSCE_CUDA_ROWKERN_H
#define LSCE_CUDA_ROWKERN_H
#include <math.h>
#include <stdint.h>
#include "combiner.h"
#include "rowbound.h"

#if defined(__CUDACC__)
#define LSCE_CU_HD __host__ __device__ __forceinline__
#else
#define LSCE_CU_HD inline

#endif

/* The launch shapes. A rowgroup block has LSCE_CU_THREADS threads: one row per block (GROUP 256,
 * cuda_rowblock) or 8 rows of a warp each (GROUP 32, cuda_warp); its grid is capped at
 * LSCE_CU_MAX_BLOCKS blocks, which loop over the rows. cuda_split gives each row `parts` blocks of
 * LSCE_CU_THREADS threads (gridDim.x = parts); rows go on gridDim.y, capped at LSCE_CU_MAX_GRID_Y
 * (the hardware limit of gridDim.y), and each block loops over rows y, y + gridDim.y, ... */
enum { LSCE_CU_SHAPE_BLOCK, LSCE_CU_SHAPE_WARP, LSCE_CU_SHAPE_SPLIT };
enum { LSCE_CU_THREADS = 256, LSCE_CU_MAX_BLOCKS = 65535 * 16, LSCE_CU_MAX_GRID_Y = 65535,
       LSCE_CU_SPLIT_CLASSES = 32768, LSCE_CU_MERGE_THREADS = 128 };

typedef struct {
  int group;      /* threads per row */
  int64_t blocks; /* rowgroup grid (1-D) */
} lsce_cu_rowgroup_geom;

LSCE_CU_HD lsce_cu_rowgroup_geom lsce_cu_rowgroup(int shape, int64_t N) {
  lsce_cu_rowgroup_geom g;
  g.group = shape == LSCE_CU_SHAPE_WARP ? 32 : LSCE_CU_THREADS;
  int64_t rows_per_block = LSCE_CU_THREADS / g.group;
  g.blocks = (N + rows_per_block - 1) / rows_per_block;
  if (g.blocks > LSCE_CU_MAX_BLOCKS) g.blocks = LSCE_CU_MAX_BLOCKS;
  if (g.blocks < 1) g.blocks = 1;
  return g;
}

/* split rows: blocks per row, and the row blocks on gridDim.y */
LSCE_CU_HD int lsce_cu_split_parts(int64_t K) {
  int64_t parts = (K + LSCE_CU_SPLIT_CLASSES - 1) / LSCE_CU_SPLIT_CLASSES;
  return parts < 2 ? 2 : (int)parts;
}
LSCE_CU_HD int64_t lsce_cu_split_grid_y(int64_t N) {
  return N < 1 ? 1 : N > (int64_t)LSCE_CU_MAX_GRID_Y ? (int64_t)LSCE_CU_MAX_GRID_Y : N;
}
/* the class slice [c0, c1) of split block b */
LSCE_CU_HD void lsce_cu_slice(int64_t K, int parts, int b, int64_t *c0, int64_t *c1) {
  int64_t slice = (K + parts - 1) / parts;
  *c0 = (int64_t)b * slice;
  *c1 = *c0 + slice < K ? *c0 + slice : K;
}

/* The guarded rows' outputs: R[4i..4i+3] = (hi, lo, E, flags) of row i (cpu/rowguard.h
 * lsce_guard_device_rows), and the declared bounds the device checks them against. */
enum { LSCE_CU_RSTRIDE = 4 };
typedef struct {
  double loss_ulp, grad_ulp; /* lsce_guard_bound(dtype): the loss in float32, the gradient in dtype */
  int dtype;                 /* the logits' (and the gradient's) lsce_dtype */
} lsce_cu_bounds;

LSCE_CU_HD int lsce_cu_weighted_u(const lsce_params *p) {
  return lsce_weighted_u(p);
}

/* One thread's partial statistics: the online softmax over classes c0, c0 + step, ... < c1. */
template <typename T>
LSCE_CU_HD void lsce_cu_thread_stats(lsce_rowstats *st, const T *row, int64_t c0, int64_t c1,
                                     int64_t step, int64_t y, const lsce_params *p, const double *w) {
  const int wu = lsce_cu_weighted_u(p);
  lsce_stats_empty(st);
  lsce_online o;
  lsce_online_init(&o, 0);
  for (int64_t j = c0; j < c1; j += step) lsce_online_push(&o, st, lsce_cu_ld(row, j), j, y, p, wu ? w[j] : 1.0);
  lsce_online_finish(&o, st);
}

/* Rowgroup thread `lane` of row i's group: its partial statistics (empty when i >= N or row i is
 * outside V); returns whether row i is active (exists and is in V). */
template <typename T>
LSCE_CU_HD int lsce_cu_rowgroup_stats(lsce_rowstats *mine, const T *z, const int64_t *tg, int64_t i,
                                      int64_t N, int64_t K, int lane, int group, const lsce_params *p,
                                      const double *w) {
  int active = i < N && lsce_params_in_V(p, tg[i]);
  if (active) lsce_cu_thread_stats<T>(mine, z + i * K, lane, K, group, tg[i], p, w);
  else lsce_stats_empty(mine);
  return active;
}

/* Split block b, thread tid of `threads`: partial statistics of its strided classes of slice b. */
template <typename T>
LSCE_CU_HD void lsce_cu_split_stats(lsce_rowstats *mine, const T *z, const int64_t *tg, int64_t i, int64_t K,
                                    int parts, int b, int tid, int threads, const lsce_params *p,
                                    const double *w) {
  int64_t c0, c1;
  lsce_cu_slice(K, parts, b, &c0, &c1);
  if (lsce_params_in_V(p, tg[i]) && c0 < c1) lsce_cu_thread_stats<T>(mine, z + i * K, c0 + tid, c1, threads, tg[i], p, w);
  else lsce_stats_empty(mine);
}

/* the merge kernel's 1-D grid (a grid-stride loop covers the rest) */
LSCE_CU_HD int64_t lsce_cu_merge_blocks(int64_t N) {
  int64_t b = (N + LSCE_CU_MERGE_THREADS - 1) / LSCE_CU_MERGE_THREADS;
  return b < 1 ? 1 : b > (int64_t)LSCE_CU_MAX_BLOCKS ? (int64_t)LSCE_CU_MAX_BLOCKS : b;
}

/* One level of the shared-memory tree over n threads (n a power of two): for off = n/2, n/4, ...,
 * 1, thread lane < off merges sh[lane + off] into sh[lane]; every level is preceded by a barrier
 * and the last is followed by one. Writes of one level touch sh[0, off), reads sh[off, 2 off):
 * the threads of a level are independent, so running them one after another (the emulation)
 * gives the same bits. */
LSCE_CU_HD void lsce_cu_tree_step(lsce_rowstats *sh, int lane, int off) {
  if (lane < off) lsce_stats_merge(&sh[lane], &sh[lane + off], 0);
}

/* The same tree over the threads' largest |g_j| (lsce_gmax2: order-free, NaN sticks). */
LSCE_CU_HD void lsce_cu_max_step(double *gm, int lane, int off) {
  if (lane < off) gm[lane] = lsce_gmax2(gm[lane], gm[lane + off]);
}

/* A row outside V: loss 0, gradient 0 (classes c0, c0 + step, ... < c1). */
template <typename T>
LSCE_CU_HD void lsce_cu_zero_sweep(T *grad, int64_t i, int64_t K, int64_t c0, int64_t c1, int64_t step) {
  for (int64_t j = c0; j < c1; j += step) lsce_cu_st(grad, i * K + j, 0.0);
}

/* The row's loss as a double-double pair R[4i], R[4i + 1]. */
LSCE_CU_HD void lsce_cu_row_loss(double *R, int64_t i, const lsce_params *p, const lsce_rowcoef *rc,
                                 const lsce_rowstats *st) {
  lsce_dd L = lsce_row_loss(p, rc, st);
  R[LSCE_CU_RSTRIDE * i] = L.hi;
  R[LSCE_CU_RSTRIDE * i + 1] = L.lo;
}

/* Row i's own check, on the device, once its loss R[4i], R[4i + 1] and (has_grad) its gradient are
 * written: R[4i + 2] = E, the loss's bound, R[4i + 3] = the flags (LSCE_GUARD_LOSS_BAD,
 * LSCE_GUARD_GRAD_BAD) of what the bound cannot vouch for. It is lsce_guard_fast of impls/rowbound.h,
 * the check of the exact CPU rows, with their error model, which covers these rows term by term:
 *   - the statistics st are formed by the same code as cpu_online's, lsce_online_push in double
 *     (o->dd = 0) over each thread's strided classes and lsce_stats_merge (double exp of the rebase)
 *     over the tree and the slices: every exp(z - m) and rebase factor is within e_rel of its exact
 *     value (libdevice's exp: 1 ulp = 2^-52, inside the 2^-46 of LSCE_EXP_REL_NARROW; the argument
 *     z - m of two narrow logits formed in double: its 746 u), each thread's sum of n <= K terms of
 *     one sign is within (n + 2) u, and the tree's double-double merges add U each, inside the
 *     (K + 4) u and 3 u per rebase of s1_rel; st->nreb counts every rebase (online steps and merges);
 *   - the loss is lsce_row_loss in double-double (the combiner's 8 U terms), so E takes the
 *     magnitudes the row handled, |A (m - z_y)| and |B t| among them, not |L|;
 *   - the gradient entries are lsce_grad_entry_d with e = exp(z_j - m) in double and one rounding to
 *     T, as cpu_online's (g_u = u); gmax is the largest |g_j| the row's threads formed before that
 *     rounding, the max over their partial maxima (lsce_cu_max_step);
 *   - tpad = upad = 0: lsce_online_push leaves the pad class out of t and Uf (j != P), so no pad
 *     term is added and removed (that term is the SIMD kernels').
 * The loss dtype of the narrow rows is float32, the gradient's the logits' (lsce_guard_loss_dtype). */
LSCE_CU_HD void lsce_cu_row_guard(double *R, int64_t i, int64_t K, int64_t y, const lsce_rowstats *st,
                                  int has_grad, double gmax, const lsce_params *p, const double *w,
                                  lsce_cu_bounds b) {
  lsce_rowcoef rc = lsce_row_coef(p, y, w);
  lsce_gradcoef g;
  if (has_grad) g = lsce_grad_coef(p, &rc, st, y, w, lsce_cu_weighted_u(p));
  int ok_l, ok_g;
  const lsce_dd L = lsce_dd_make(R[LSCE_CU_RSTRIDE * i], R[LSCE_CU_RSTRIDE * i + 1]);
  double E = lsce_guard_fast(&ok_l, &ok_g, p, K, 0, &rc, st, has_grad ? &g : NULL, L, gmax, 0.0, 0.0, LSCE_DT_F32,
                             (lsce_dtype)b.dtype, b.loss_ulp, b.grad_ulp);
  R[LSCE_CU_RSTRIDE * i + 2] = E;
  R[LSCE_CU_RSTRIDE * i + 3] = (double)((ok_l ? 0 : LSCE_GUARD_LOSS_BAD) | (ok_g ? 0 : LSCE_GUARD_GRAD_BAD));
}

/* Gradient entries j = c0, c0 + step, ... < c1 of row i (row = its logits), each logit read
 * before the (possibly in-place) write of the same element by the same thread. Returns the largest
 * |g_j| formed before the rounding to T (NaN when any was). */
template <typename T>
LSCE_CU_HD double lsce_cu_grad_sweep(T *grad, const T *row, int64_t i, int64_t K, int64_t c0, int64_t c1,
                                   int64_t step, const lsce_gradcoef *g, double m, const lsce_params *p,
                                   const double *w) {
  const int wu = lsce_cu_weighted_u(p);
  double gmax = 0;
  for (int64_t j = c0; j < c1; j += step) {
    double v = lsce_cu_ld(row, j);
    double e = v == -INFINITY ? 0.0 : exp(v - m);
    double gj = lsce_grad_entry_d(g, j, e, wu ? w[j] : 1.0, p->pad_index);
    double a = fabs(gj);
    if (a > gmax || a != a) gmax = a; /* a NaN sticks */
    lsce_cu_st(grad, i * K + j, gj);
  }
  return gmax;
}

/* After a rowgroup's tree: row i (active: in V) with merged statistics st, thread `lane` of
 * `group`. Lane 0 writes the loss R[4i], R[4i + 1] (all four words of a row outside V: 0); every
 * lane writes its strided gradient entries and returns their largest |g_j| (0 without). */
template <typename T>
LSCE_CU_HD double lsce_cu_rowgroup_finish(double *R, T *grad, const T *row, int64_t i, int64_t K,
                                          int lane, int group, int active, int64_t y,
                                          const lsce_rowstats *st, const lsce_params *p, const double *w) {
  if (!active) {
    if (lane == 0) for (int k = 0; k < LSCE_CU_RSTRIDE; k++) R[LSCE_CU_RSTRIDE * i + k] = 0;
    if (grad) lsce_cu_zero_sweep<T>(grad, i, K, lane, K, group);
    return 0;
  }
  lsce_rowcoef rc = lsce_row_coef(p, y, w);
  if (lane == 0) lsce_cu_row_loss(R, i, p, &rc, st);
  if (!grad) return 0;
  lsce_gradcoef g = lsce_grad_coef(p, &rc, st, y, w, lsce_cu_weighted_u(p));
  return lsce_cu_grad_sweep<T>(grad, row, i, K, lane, K, group, &g, st->m, p, w);
}

/* Row i's partial statistics merged in order, partial b at part[i rs + b ps] (b < parts); the loss
 * R[4i], R[4i + 1] (all four words 0 outside V), the gradient coefficients gc[i] and the maximum
 * mrow[i] (NaN marks a row outside V). st_out[i] receives the merged statistics (the guard's, and
 * the emulation's checks). Returns whether row i is in V. */
LSCE_CU_HD int lsce_cu_merge_parts(double *R, lsce_gradcoef *gc, double *mrow, const lsce_rowstats *part,
                                   int64_t i, int parts, int64_t rs, int64_t ps, int64_t y, const lsce_params *p,
                                   const double *w, lsce_rowstats *st_out) {
  if (!lsce_params_in_V(p, y)) {
    for (int k = 0; k < LSCE_CU_RSTRIDE; k++) R[LSCE_CU_RSTRIDE * i + k] = 0;
    mrow[i] = NAN;
    return 0;
  }
  lsce_rowstats st;
  lsce_stats_empty(&st);
  for (int b = 0; b < parts; b++) lsce_stats_merge(&st, &part[i * rs + b * ps], 0);
  st_out[i] = st;
  lsce_rowcoef rc = lsce_row_coef(p, y, w);
  lsce_cu_row_loss(R, i, p, &rc, &st);
  gc[i] = lsce_grad_coef(p, &rc, &st, y, w, lsce_cu_weighted_u(p));
  mrow[i] = st.m;
  return 1;
}

/* Split rows, second kernel: row i's `parts` slice statistics merged in slice order
 * (lsce_cu_merge_parts). */
LSCE_CU_HD void lsce_cu_split_merge(double *R, lsce_gradcoef *gc, double *mrow, const lsce_rowstats *part,
                                    int64_t i, int parts, int64_t y, const lsce_params *p, const double *w,
                                    lsce_rowstats *st_out) {
  lsce_cu_merge_parts(R, gc, mrow, part, i, parts, parts, 1, y, p, w, st_out);
}

/* Split rows, third kernel: block b's slice of row i, thread `tid` of `threads`; returns the
 * largest |g_j| it formed (0 outside V). */
template <typename T>
LSCE_CU_HD double lsce_cu_split_grad(T *grad, const T *z, const lsce_gradcoef *gc, const double *mrow,
                                   int64_t i, int64_t K, int parts, int b, int tid, int threads,
                                   const lsce_params *p, const double *w) {
  int64_t c0, c1;
  lsce_cu_slice(K, parts, b, &c0, &c1);
  if (mrow[i] != mrow[i]) { lsce_cu_zero_sweep<T>(grad, i, K, c0 + tid, c1, threads); return 0; }
  lsce_gradcoef g = gc[i];
  return lsce_cu_grad_sweep<T>(grad, z + i * K, i, K, c0 + tid, c1, threads, &g, mrow[i], p, w);
}

/* The gradient half of lsce_cu_row_guard for one slice of row i's columns (cuda_nccl_vocab: a rank's
 * shard), gmax the largest |g_j| of that slice: 1 when the bound vouches for the slice. Sound for
 * the whole row when every slice passes: a slice's entries are within Eg(gmax_s) + ulp_T(x_j)/2
 * <= Eg(gmax_s) + ulp_T(gmax_s)/2 of their exact values (Eg's gmax term is each entry's own last
 * rounding, g_u |g_j| <= g_u gmax_s), and the row's normwise unit ulp_T(max(max_j |r_j|, tau)) is
 * at least that of the slice, ulp_T(max(gmax_s - Eg, tau)), which lsce_guard_ok divides by. */
LSCE_CU_HD int lsce_cu_grad_ok(int64_t K, int64_t y, const lsce_rowstats *st, double gmax, const lsce_params *p,
                               const double *w, lsce_cu_bounds b) {
  lsce_rowcoef rc = lsce_row_coef(p, y, w);
  lsce_gradcoef g = lsce_grad_coef(p, &rc, st, y, w, lsce_cu_weighted_u(p));
  int ok_l, ok_g;
  lsce_guard_fast(&ok_l, &ok_g, p, K, 0, &rc, st, &g, lsce_dd_from(0.0), gmax, 0.0, 0.0, LSCE_DT_F32,
                  (lsce_dtype)b.dtype, b.loss_ulp, b.grad_ulp);
  return ok_g;
}

/* Split rows, fourth kernel: row i's guard (lsce_cu_row_guard) from its merged statistics st[i] and,
 * with a gradient, the largest of its blocks' maxima gpart[i parts + b]. */
LSCE_CU_HD void lsce_cu_split_guard(double *R, const lsce_rowstats *st, const double *gpart, int64_t i, int64_t K,
                                    int parts, int has_grad, int64_t y, const lsce_params *p, const double *w,
                                    lsce_cu_bounds b) {
  if (!lsce_params_in_V(p, y)) return; /* the merge wrote its four zeros */
  double gmax = 0;
  if (has_grad)
    for (int k = 0; k < parts; k++) gmax = lsce_gmax2(gmax, gpart[i * parts + k]);
  lsce_cu_row_guard(R, i, K, y, &st[i], has_grad, gmax, p, w, b);
}

#endif
