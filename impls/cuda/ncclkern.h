/* impls/cuda/ncclkern.h: the per-thread and per-row steps of cuda_nccl_vocab's three kernels
 * (impls/cuda/nccl_vocab.cu: shard_stats_kernel, rank_merge_kernel, shard_grad_kernel), written once
 * as host+device functions, as rowkern.h is for rowblock.cu: the kernels run them on the device, the
 * host emulation (tests/cuda_emu.h, under the recording runtime tests/cuda_mock.cpp) runs the same
 * functions with the launch's own grid, so the row's numbers are tested without a GPU.
 * Rank r holds the columns [c0, c1) = lsce_row_block(K, r, P) of every row as zs, an N x (c1 - c0)
 * array; j below is always the global column. No accuracy claim of its own: every number is the
 * shared combiner's (impls/combiner.h) and every bound rowkern.h's (impls/rowbound.h), as the other
 * CUDA rows; this file decides which thread sees which column and that the ranks' partial statistics
 * merge in rank (= class) order. The including file declares lsce_cu_ld and lsce_cu_st (rowkern.h). */
#ifndef LSCE_CUDA_NCCLKERN_H
#define LSCE_CUDA_NCCLKERN_H
#include "cuda/rowkern.h"

/* shard_stats_kernel, thread tid of `threads`: its partial statistics of row i over the shard's
 * columns c0 + tid, c0 + tid + threads, ... < c1 (empty outside V); the block's tree merges them */
template <typename T>
LSCE_CU_HD void lsce_cu_shard_stats(lsce_rowstats *mine, const T *zs, const int64_t *tg, int64_t i, int64_t c0,
                                    int64_t c1, int tid, int threads, const lsce_params *p, const double *w) {
  const int64_t Ks = c1 - c0;
  const int wu = lsce_cu_weighted_u(p);
  lsce_stats_empty(mine);
  if (!lsce_params_in_V(p, tg[i])) return;
  lsce_online o;
  lsce_online_init(&o, 0);
  for (int64_t j = c0 + tid; j < c1; j += threads)
    lsce_online_push(&o, mine, lsce_cu_ld(zs, i * Ks + (j - c0)), j, tg[i], p, wu ? w[j] : 1.0);
  lsce_online_finish(&o, mine);
}

/* rank_merge_kernel, row i: the P gathered partials (layout all[rank N + i]) merged in rank order;
 * the loss pair R[4i], R[4i + 1], the gradient coefficients gc[i], the maximum mrow[i] (NaN marks a
 * row outside V: all four words of R 0) and the merged statistics mst[i]; then the loss's own check
 * (R[4i + 2], R[4i + 3]; each rank checks its shard of the gradient in shard_grad_kernel). */
LSCE_CU_HD void lsce_cu_rank_merge(double *R, lsce_gradcoef *gc, double *mrow, lsce_rowstats *mst,
                                   const lsce_rowstats *all, int64_t i, int64_t N, int64_t K, int P, int64_t y,
                                   const lsce_params *p, const double *w, lsce_cu_bounds bnd) {
  if (lsce_cu_merge_parts(R, gc, mrow, all, i, P, 1, N, y, p, w, mst))
    lsce_cu_row_guard(R, i, K, y, &mst[i], 0, 0.0, p, w, bnd);
}

/* shard_grad_kernel, thread tid of `threads`: the gradient entries of row i's shard columns
 * c0 + tid, ... < c1 into gs (N x (c1 - c0), each logit read before the entry is written; 0 for a
 * row outside V); returns the largest |g_j| it formed before the rounding (NaN sticks). */
template <typename T>
LSCE_CU_HD double lsce_cu_shard_grad(T *gs, const T *zs, const lsce_gradcoef *gc, const double *mrow, int64_t i,
                                     int64_t c0, int64_t c1, int tid, int threads, const lsce_params *p,
                                     const double *w) {
  const int64_t Ks = c1 - c0;
  const double m = mrow[i];
  if (m != m) {
    for (int64_t j = c0 + tid; j < c1; j += threads) lsce_cu_st(gs, i * Ks + (j - c0), 0.0);
    return 0;
  }
  const lsce_gradcoef g = gc[i];
  const int wu = lsce_cu_weighted_u(p);
  double gl = 0;
  for (int64_t j = c0 + tid; j < c1; j += threads) {
    const int64_t k = i * Ks + (j - c0);
    double v = lsce_cu_ld(zs, k);
    double e = v == -INFINITY ? 0.0 : exp(v - m);
    double gj = lsce_grad_entry_d(&g, j, e, wu ? w[j] : 1.0, p->pad_index);
    double a = fabs(gj);
    if (a > gl || a != a) gl = a; /* a NaN sticks */
    lsce_cu_st(gs, k, gj);
  }
  return gl;
}

/* shard_grad_kernel's verdict on row i's shard, from the block's largest |g_j| gmax:
 * LSCE_GUARD_GRAD_BAD where the bound cannot vouch for it (lsce_cu_grad_ok, rowkern.h), else 0 */
LSCE_CU_HD int lsce_cu_shard_verdict(const double *mrow, const lsce_rowstats *mst, int64_t i, int64_t K, int64_t y,
                                     double gmax, const lsce_params *p, const double *w, lsce_cu_bounds bnd) {
  return mrow[i] != mrow[i] || lsce_cu_grad_ok(K, y, &mst[i], gmax, p, w, bnd) ? 0 : LSCE_GUARD_GRAD_BAD;
}
#endif
