/* impls/cuda/rowkern.h: the CUDA rows' work decomposition and per-thread steps, written once as
 * host+device functions: impls/cuda/rowblock.cu runs them inside its kernels, and the host
 * emulation (tests/test_cuda_emu.cpp) runs the same functions with the same block/thread
 * decomposition (every thread's strided partial statistics, the shared-memory tree in its level
 * order, the split rows' slice partials merged in slice order, the row-chunk loops), so everything
 * but the launch itself is tested on the CPU. No accuracy claim of its own: every number goes
 * through the shared combiner (impls/combiner.h); this file only decides which thread sees which
 * class and in what order partial statistics merge.
 *
 * The including file declares, before including this header, for each element type T it uses:
 *   double lsce_cu_ld(const T *p, int64_t i);        the exact double of p[i]
 *   void lsce_cu_st(T *p, int64_t i, double g);      g rounded once (to nearest even) into p[i] */
#ifndef LSCE_CUDA_ROWKERN_H
#define LSCE_CUDA_ROWKERN_H
#include <math.h>
#include <stdint.h>
#include "combiner.h"

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

/* A row outside V: loss 0, gradient 0 (classes c0, c0 + step, ... < c1). */
template <typename T>
LSCE_CU_HD void lsce_cu_zero_sweep(T *grad, int64_t i, int64_t K, int64_t c0, int64_t c1, int64_t step) {
  for (int64_t j = c0; j < c1; j += step) lsce_cu_st(grad, i * K + j, 0.0);
}

/* The row's loss as a double-double pair Lrow[2i], Lrow[2i + 1]. */
LSCE_CU_HD void lsce_cu_row_loss(double *Lrow, int64_t i, const lsce_params *p, const lsce_rowcoef *rc,
                                 const lsce_rowstats *st) {
  lsce_dd L = lsce_row_loss(p, rc, st);
  Lrow[2 * i] = L.hi;
  Lrow[2 * i + 1] = L.lo;
}

/* Gradient entries j = c0, c0 + step, ... < c1 of row i (row = its logits), each logit read
 * before the (possibly in-place) write of the same element by the same thread. */
template <typename T>
LSCE_CU_HD void lsce_cu_grad_sweep(T *grad, const T *row, int64_t i, int64_t K, int64_t c0, int64_t c1,
                                   int64_t step, const lsce_gradcoef *g, double m, const lsce_params *p,
                                   const double *w) {
  const int wu = lsce_cu_weighted_u(p);
  for (int64_t j = c0; j < c1; j += step) {
    double v = lsce_cu_ld(row, j);
    double e = v == -INFINITY ? 0.0 : exp(v - m);
    lsce_cu_st(grad, i * K + j, lsce_grad_entry_d(g, j, e, wu ? w[j] : 1.0, p->pad_index));
  }
}

/* After a rowgroup's tree: row i (active: in V) with merged statistics st, thread `lane` of
 * `group`. Lane 0 writes the loss; every lane writes its strided gradient entries. */
template <typename T>
LSCE_CU_HD void lsce_cu_rowgroup_finish(double *Lrow, T *grad, const T *row, int64_t i, int64_t K,
                                        int lane, int group, int active, int64_t y,
                                        const lsce_rowstats *st, const lsce_params *p, const double *w) {
  if (!active) {
    if (lane == 0) { Lrow[2 * i] = 0; Lrow[2 * i + 1] = 0; }
    if (grad) lsce_cu_zero_sweep<T>(grad, i, K, lane, K, group);
    return;
  }
  lsce_rowcoef rc = lsce_row_coef(p, y, w);
  if (lane == 0) lsce_cu_row_loss(Lrow, i, p, &rc, st);
  if (grad) {
    lsce_gradcoef g = lsce_grad_coef(p, &rc, st, y, w, lsce_cu_weighted_u(p));
    lsce_cu_grad_sweep<T>(grad, row, i, K, lane, K, group, &g, st->m, p, w);
  }
}

/* Split rows, second kernel: row i's `parts` slice statistics merged in slice order; the loss,
 * the gradient coefficients gc[i] and the maximum mrow[i] (NaN marks a row outside V). st_out
 * (NULL on the device) receives the merged statistics for the emulation's checks. */
LSCE_CU_HD void lsce_cu_split_merge(double *Lrow, lsce_gradcoef *gc, double *mrow, const lsce_rowstats *part,
                                    int64_t i, int parts, int64_t y, const lsce_params *p, const double *w,
                                    lsce_rowstats *st_out) {
  if (!lsce_params_in_V(p, y)) { Lrow[2 * i] = Lrow[2 * i + 1] = 0; mrow[i] = NAN; return; }
  lsce_rowstats st;
  lsce_stats_empty(&st);
  for (int b = 0; b < parts; b++) lsce_stats_merge(&st, &part[i * parts + b], 0);
  if (st_out) *st_out = st;
  lsce_rowcoef rc = lsce_row_coef(p, y, w);
  lsce_cu_row_loss(Lrow, i, p, &rc, &st);
  gc[i] = lsce_grad_coef(p, &rc, &st, y, w, lsce_cu_weighted_u(p));
  mrow[i] = st.m;
}

/* Split rows, third kernel: block b's slice of row i, thread `tid` of `threads`. */
template <typename T>
LSCE_CU_HD void lsce_cu_split_grad(T *grad, const T *z, const lsce_gradcoef *gc, const double *mrow,
                                   int64_t i, int64_t K, int parts, int b, int tid, int threads,
                                   const lsce_params *p, const double *w) {
  int64_t c0, c1;
  lsce_cu_slice(K, parts, b, &c0, &c1);
  if (mrow[i] != mrow[i]) { lsce_cu_zero_sweep<T>(grad, i, K, c0 + tid, c1, threads); return; }
  lsce_gradcoef g = gc[i];
  lsce_cu_grad_sweep<T>(grad, z + i * K, i, K, c0 + tid, c1, threads, &g, mrow[i], p, w);
}

/* Host: the loss from the row pairs, per row (reduction none) or reduced in double-double in row
 * order (deterministic, as the CPU driver does). */
inline void lsce_cu_reduce_loss(double *loss, const double *Lrow, int64_t N, const lsce_params *p) {
  if (p->reduction == 2) {
    for (int64_t i = 0; i < N; i++) loss[i] = Lrow[2 * i] + Lrow[2 * i + 1];
    return;
  }
  lsce_dd tot = lsce_dd_from(0.0);
  int inf = 0;
  for (int64_t i = 0; i < N; i++) {
    if (isinf(Lrow[2 * i])) inf = 1;
    else tot = lsce_dd_add(tot, lsce_dd_make(Lrow[2 * i], Lrow[2 * i + 1]));
  }
  lsce_dd r = lsce_dd_mul(tot, p->inv_D);
  loss[0] = p->nan_mean ? NAN : inf ? INFINITY : r.hi + r.lo;
}
#endif
