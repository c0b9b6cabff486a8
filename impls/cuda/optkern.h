/* impls/cuda/optkern.h: the CUDA rows (cuda_rowblock, cuda_warp, cuda_split) on issue #15's options
 * and the sigmoid family: the per-thread and per-row steps of their five launches, written once as
 * host+device functions, run by impls/cuda/rowblock.cu's kernels and by the host emulation
 * (tests/cuda_emu.h) with the same decomposition. Every number and every bound is
 * impls/optelem.h's, the code of the exact CPU rows (impls/cpu/optrows.c, where each bound is
 * argued); the claim is theirs: every row's share R_i and gradient row meet the declared bound, or
 * the row is flagged to the host, which takes the certified reference's values for it (or flags it,
 * LSCE_ROW_REFERENCE=0) in optrows.c's own reduction (lsce_cpu_options_finish). What is this file's:
 * which thread sees which class, and the order partials merge; the bounds of optelem.h hold for sums
 * of nonnegative terms in any order, for a max in any order, and for statistics merged in any
 * order, each merge counted as a rebase (lsce_opt_stats_merge), so the threads' and the slices'
 * partials may be merged by a tree.
 *
 * The layout: each row has `parts` slices (lsce_cu_slice; 1 for cuda_rowblock and cuda_warp,
 * lsce_cu_split_parts(K) for cuda_split), one block of `threads` threads per (slice, row) (256, or
 * 32 for cuda_warp: one warp per row), threads striding over the slice's classes. Kernels:
 *   1. stats (per block): the transform's dX, chain factors, sum kappa' (softmax) or max w_c
 *      (sigmoid), the online softmax statistics, tree-merged: P1[i parts + b];
 *   2. begin (per row): P1 merged in slice order into M1[i]; softmax: lsce_opt_sm_begin into SR[i]
 *      (M1[i].bad when the row cannot be vouched for);
 *   3. terms (per block): softmax: the terms kappa'_c (lse - x_c) and the KL part; sigmoid: the
 *      elements, their bounds and the gradient entries with their check (the row's tau from M1[i]):
 *      P2[i parts + b];
 *   4. finish (per row): P2 merged; the row's share and bound (lsce_opt_sm_loss, lsce_opt_sig_row)
 *      and its bits into Rout[4i..4i+2] = (R, E, bits); softmax: the gradient's constants in SR[i];
 *   5. grad (softmax with a gradient, per block): the entries (lsce_opt_sm_gentry) and their check:
 *      Pg[i parts + b] = 1 when one misses.
 * Bits: 1 the loss (reduction none) misses its bound, 2 the gradient does (optrows.c's lvl). Rows
 * whose kind is not 0 (outside V, sample weight 0, a NaN mean, constants the rows defer) are the
 * host's (rowblock.cu run_opt) and untouched here. The including file declares lsce_cu_ld and
 * lsce_cu_st for each element type, as for impls/cuda/rowkern.h (included first).
 * cuda_nccl_vocab (impls/cuda/nccl_vocab.cu, q.ranks = P > 0) runs the same five launches on every
 * rank over its own columns [c0, c0 + Kl) (lsce_row_block), held as N x Kl arrays (logits, gradient,
 * soft targets; w_c stays K long), one slice per row (parts = 1); between the launches the ranks'
 * partials P1, P2 are all-gathered and the row kernels 2 and 4 merge them in rank (= class) order,
 * rank p's of row i at [p N + i], as vocab_options.c merges mpi_vocab_parallel's: the same values
 * merged in the same order on every rank, so M1, SR and Rout are the same on every rank. The z term
 * enters after the merge (lsce_opt_sm_loss, global lse); the sigmoid elements need only the sums. */
#ifndef LSCE_CUDA_OPTKERN_H
#define LSCE_CUDA_OPTKERN_H
#include "cuda/rowkern.h"
#include "optelem.h"

/* per row, from the host: s_i, the index target (soft: -1) and the row's kind (0: the device's) */
typedef struct { double s; int64_t y; int kind; } lsce_cu_orow;
/* kernel 1's partials: the statistics, the transform's maxima, sum kappa', max w_c; bad: (M1 only)
 * the row cannot be vouched for */
typedef struct { lsce_opt_stats st; lsce_opt_tacc ta; double Ksum, wmax; int bad; } lsce_cu_op1;
/* kernel 3's partials: softmax terms, or the sigmoid sums R, ER, inf and bad (an entry missed) */
typedef struct { lsce_opt_terms tm; double R, ER; int inf, bad; } lsce_cu_op2;
/* the device buffers */
typedef struct {
  const lsce_cu_orow *ri;
  const double *soft, *w; /* soft targets (N, K) or NULL; w_c (K,), 1 without weights */
  lsce_cu_op1 *P1, *M1;
  lsce_opt_smrow *SR;
  lsce_cu_op2 *P2;
  double *Rout, *Pg;
} lsce_cu_obuf;
/* the call's constants */
typedef struct {
  lsce_opt_consts k;
  int64_t N, K, pad_index;
  int parts, gdt, ldt, want_grad, none; /* gdt: the gradient's lsce_dtype, ldt: the loss's; none: reduction none */
  double loss_ulp, grad_ulp;
  int ranks;        /* cuda_nccl_vocab: P (0: the unsharded rows) */
  int64_t c0, Kl;   /* cuda_nccl_vocab: this rank's first column and column count */
} lsce_cu_oprm;

/* the local arrays' row length, the first local column's global index, the class range [a0, a1) of
 * block `part` in local columns, and where kernels 2 and 4 find partial p of row i */
LSCE_CU_HD int64_t lsce_cu_opt_ld(const lsce_cu_oprm *q) { return q->ranks ? q->Kl : q->K; }
LSCE_CU_HD int64_t lsce_cu_opt_c0(const lsce_cu_oprm *q) { return q->ranks ? q->c0 : 0; }
LSCE_CU_HD void lsce_cu_opt_cols(const lsce_cu_oprm *q, int part, int64_t *a0, int64_t *a1) {
  lsce_cu_slice(lsce_cu_opt_ld(q), q->parts, part, a0, a1);
}
LSCE_CU_HD int lsce_cu_opt_nmerge(const lsce_cu_oprm *q) { return q->ranks ? q->ranks : q->parts; }
LSCE_CU_HD int64_t lsce_cu_opt_pidx(const lsce_cu_oprm *q, int64_t i, int p) {
  return q->ranks ? (int64_t)p * q->N + i : i * q->parts + p;
}

LSCE_CU_HD void lsce_cu_op1_empty(lsce_cu_op1 *a) {
  lsce_opt_stats_empty(&a->st);
  lsce_opt_tacc_init(&a->ta);
  a->Ksum = 0; a->wmax = 0; a->bad = 0;
}
LSCE_CU_HD void lsce_cu_op1_merge(lsce_cu_op1 *a, const lsce_cu_op1 *b) {
  lsce_opt_stats_merge(&a->st, &b->st);
  lsce_opt_tacc_merge(&a->ta, &b->ta);
  a->Ksum += b->Ksum;
  if (b->wmax > a->wmax) a->wmax = b->wmax;
}
LSCE_CU_HD void lsce_cu_op2_empty(lsce_cu_op2 *a) {
  lsce_opt_terms_init(&a->tm, 0.0);
  a->R = 0; a->ER = 0; a->inf = 0; a->bad = 0;
}
LSCE_CU_HD void lsce_cu_op2_merge(lsce_cu_op2 *a, const lsce_cu_op2 *b) {
  lsce_opt_terms_merge(&a->tm, &b->tm);
  a->R += b->R; a->ER += b->ER; a->inf |= b->inf; a->bad |= b->bad;
}
/* the trees' levels (rowkern.h lsce_cu_tree_step's discipline) */
LSCE_CU_HD void lsce_cu_op1_step(lsce_cu_op1 *sh, int lane, int off) {
  if (lane < off) lsce_cu_op1_merge(&sh[lane], &sh[lane + off]);
}
LSCE_CU_HD void lsce_cu_op2_step(lsce_cu_op2 *sh, int lane, int off) {
  if (lane < off) lsce_cu_op2_merge(&sh[lane], &sh[lane + off]);
}

/* the target of local column l of row i: soft t_c, or 1 / 0 for the index target (sigmoid); the
 * weight of y for kappa' (k-nll-weighted) */
LSCE_CU_HD double lsce_cu_opt_t(const lsce_cu_obuf *b, const lsce_cu_oprm *q, int64_t i, int64_t l) {
  return b->soft ? b->soft[i * lsce_cu_opt_ld(q) + l] : (lsce_cu_opt_c0(q) + l == b->ri[i].y ? 1.0 : 0.0);
}
/* soft t_c of local column l (0 with index targets: lsce_opt_kappa reads it only with soft targets) */
LSCE_CU_HD double lsce_cu_opt_soft(const lsce_cu_obuf *b, const lsce_cu_oprm *q, int64_t i, int64_t l) {
  return b->soft ? b->soft[i * lsce_cu_opt_ld(q) + l] : 0.0;
}
LSCE_CU_HD double lsce_cu_opt_wy(const lsce_cu_obuf *b, const lsce_cu_oprm *q, int64_t i) {
  return !q->k.soft && q->k.weighting == LSCE_W_NLL ? b->w[b->ri[i].y] : 1.0;
}

/* Kernel 1, thread tid of `threads` of block (part, row i). */
template <typename T>
LSCE_CU_HD void lsce_cu_opt_stats(lsce_cu_op1 *mine, const T *z, const lsce_cu_obuf *b, const lsce_cu_oprm *q,
                                  int64_t i, int part, int tid, int threads) {
  lsce_cu_op1_empty(mine);
  if (b->ri[i].kind != 0) return;
  const lsce_opt_consts *k = &q->k;
  int64_t a0, a1;
  lsce_cu_opt_cols(q, part, &a0, &a1);
  const int64_t c0 = lsce_cu_opt_c0(q);
  const double f = b->ri[i].s * k->inv_Dn, wy = lsce_cu_opt_wy(b, q, i);
  const T *row = z + i * lsce_cu_opt_ld(q);
  for (int64_t l = a0 + tid; l < a1; l += threads) {
    const int64_t j = c0 + l;
    double dx, ch, dch, lq;
    double x = lsce_opt_transform(k, lsce_cu_ld(row, l), &dx, &ch, &dch);
    lsce_opt_tacc_push(&mine->ta, x, dx, ch, dch);
    if (k->sig) {
      if (b->w[j] > mine->wmax) mine->wmax = b->w[j];
      continue;
    }
    mine->Ksum += lsce_opt_kappa(k, j, b->ri[i].y, lsce_cu_opt_soft(b, q, i, l), wy, b->w[j], q->pad_index, f, &lq);
    lsce_opt_stats_push(&mine->st, x, j);
  }
}

/* Kernel 2, row i: P1 merged in slice (or rank) order; softmax: the row's ls and bounds into SR[i]. */
LSCE_CU_HD void lsce_cu_opt_begin(const lsce_cu_obuf *b, const lsce_cu_oprm *q, int64_t i) {
  if (b->ri[i].kind != 0) return;
  lsce_cu_op1 m;
  lsce_cu_op1_empty(&m);
  for (int p = 0; p < lsce_cu_opt_nmerge(q); p++) lsce_cu_op1_merge(&m, &b->P1[lsce_cu_opt_pidx(q, i, p)]);
  if (!q->k.sig && lsce_opt_sm_begin(&b->SR[i], &m.st, q->K, m.Ksum, &m.ta)) m.bad = 1;
  b->M1[i] = m;
}

/* Kernel 3, thread tid of block (part, row i); sigmoid: writes its gradient entries. */
template <typename T>
LSCE_CU_HD void lsce_cu_opt_terms(lsce_cu_op2 *mine, T *grad, const T *z, const lsce_cu_obuf *b,
                                  const lsce_cu_oprm *q, int64_t i, int part, int tid, int threads) {
  lsce_cu_op2_empty(mine);
  if (b->ri[i].kind != 0 || b->M1[i].bad) return;
  const lsce_opt_consts *k = &q->k;
  int64_t a0, a1;
  lsce_cu_opt_cols(q, part, &a0, &a1);
  const int64_t c0 = lsce_cu_opt_c0(q), ld = lsce_cu_opt_ld(q);
  const double f = b->ri[i].s * k->inv_Dn, wy = lsce_cu_opt_wy(b, q, i);
  const T *row = z + i * ld;
  const lsce_opt_smrow *r = &b->SR[i];
  const double tau = k->sig ? lsce_opt_sig_tau(b->M1[i].ta.chmax, b->M1[i].ta.chrel, b->M1[i].wmax, f,
                                               (lsce_dtype)q->gdt) : 0.0;
  for (int64_t l = a0 + tid; l < a1; l += threads) {
    const int64_t j = c0 + l;
    double dx, ch, dch;
    double x = lsce_opt_transform(k, lsce_cu_ld(row, l), &dx, &ch, &dch);
    if (!k->sig) {
      double lq, kap = lsce_opt_kappa(k, j, b->ri[i].y, lsce_cu_opt_soft(b, q, i, l), wy, b->w[j], q->pad_index, f, &lq);
      lsce_opt_terms_push(&mine->tm, k, kap, lq, x, dx, r->m, r->ls);
      continue;
    }
    const double wf = b->w[j] * f;
    if (wf == 0) { /* exactly 0: the element and its gradient (the reference's rule) */
      if (q->want_grad) lsce_cu_st(grad, i * ld + l, 0.0);
      continue;
    }
    double dg, g = lsce_opt_sig_elem(&dg, &mine->R, &mine->ER, &mine->inf, k, x, dx, ch, dch, wf,
                                     lsce_cu_opt_t(b, q, i, l), q->want_grad);
    if (q->want_grad) {
      lsce_cu_st(grad, i * ld + l, g);
      if (!lsce_guard_ok(g, dg, tau, (lsce_dtype)q->gdt, q->grad_ulp)) mine->bad = 1;
    }
  }
}

/* Kernel 4, row i: P2 merged in slice (or rank) order; Rout[4i..4i+2] = (R, E, bits); softmax with a
 * gradient: the gradient's constants into SR[i]. */
LSCE_CU_HD void lsce_cu_opt_finish(const lsce_cu_obuf *b, const lsce_cu_oprm *q, int64_t i) {
  if (b->ri[i].kind != 0) return;
  double *o = b->Rout + LSCE_CU_RSTRIDE * i;
  const int gbit = q->want_grad ? 2 : 0;
  const lsce_opt_consts *k = &q->k;
  lsce_cu_op2 m;
  lsce_cu_op2_empty(&m);
  if (!k->sig) lsce_opt_terms_init(&m.tm, b->M1[i].Ksum * b->SR[i].dX);
  for (int p = 0; p < lsce_cu_opt_nmerge(q); p++) lsce_cu_op2_merge(&m, &b->P2[lsce_cu_opt_pidx(q, i, p)]);
  double R = 0, E = 0;
  int rc = b->M1[i].bad ? -1 : k->sig ? lsce_opt_sig_row(&R, &E, m.R, m.ER, m.inf, q->K)
                                      : lsce_opt_sm_loss(&R, &E, &b->SR[i], k, q->K, b->ri[i].s, &m.tm);
  if (rc) { o[0] = NAN; o[1] = INFINITY; o[2] = (double)(1 | gbit); o[3] = 0; return; }
  int bits = 0;
  if (q->none && !(isinf(R) && E == 0) && !lsce_guard_ok(R, E, 0.0, (lsce_dtype)q->ldt, q->loss_ulp)) bits |= 1;
  if (k->sig && m.bad) bits |= gbit;
  o[0] = R; o[1] = E; o[2] = (double)bits; o[3] = 0;
  if (!k->sig && q->want_grad) lsce_opt_sm_gcoef(&b->SR[i], k, q->K, b->ri[i].s, (lsce_dtype)q->gdt);
}

/* Kernel 5 (softmax with a gradient), thread tid of block (part, row i): the entries; returns 1
 * when one misses its bound (a row kernel 2 could not vouch for gets NaN entries). */
template <typename T>
LSCE_CU_HD double lsce_cu_opt_grad(T *grad, const T *z, const lsce_cu_obuf *b, const lsce_cu_oprm *q, int64_t i,
                                   int part, int tid, int threads) {
  if (b->ri[i].kind != 0) return 0;
  const lsce_opt_consts *k = &q->k;
  int64_t a0, a1;
  lsce_cu_opt_cols(q, part, &a0, &a1);
  const int64_t c0 = lsce_cu_opt_c0(q), ld = lsce_cu_opt_ld(q);
  if (b->M1[i].bad) {
    for (int64_t l = a0 + tid; l < a1; l += threads) lsce_cu_st(grad, i * ld + l, NAN);
    return 1;
  }
  const double f = b->ri[i].s * k->inv_Dn, wy = lsce_cu_opt_wy(b, q, i);
  const T *row = z + i * ld;
  const lsce_opt_smrow *r = &b->SR[i];
  int ok = 1;
  for (int64_t l = a0 + tid; l < a1; l += threads) {
    const int64_t j = c0 + l;
    double dx, ch, dch, lq, dg;
    double x = lsce_opt_transform(k, lsce_cu_ld(row, l), &dx, &ch, &dch);
    double kap = lsce_opt_kappa(k, j, b->ri[i].y, lsce_cu_opt_soft(b, q, i, l), wy, b->w[j], q->pad_index, f, &lq);
    double g = lsce_opt_sm_gentry(&dg, &ok, r, k, x, dx, ch, dch, kap, j == r->jm, (lsce_dtype)q->gdt, q->grad_ulp);
    lsce_cu_st(grad, i * ld + l, g);
  }
  return ok ? 0.0 : 1.0;
}
/* The three block kernels as one (rowblock.cu opt_block_kernel<T, P>, the emulation's too): the
 * partial type P picks the step (lsce_cu_op1: kernel 1, lsce_cu_op2: kernel 3, double: kernel 5),
 * its tree level and its destination. */
template <typename T>
LSCE_CU_HD void lsce_cu_opt_part(lsce_cu_op1 *mine, T *grad, const T *z, const lsce_cu_obuf *b, const lsce_cu_oprm *q,
                                 int64_t i, int part, int tid, int threads) {
  (void)grad;
  lsce_cu_opt_stats<T>(mine, z, b, q, i, part, tid, threads);
}
template <typename T>
LSCE_CU_HD void lsce_cu_opt_part(lsce_cu_op2 *mine, T *grad, const T *z, const lsce_cu_obuf *b, const lsce_cu_oprm *q,
                                 int64_t i, int part, int tid, int threads) {
  lsce_cu_opt_terms<T>(mine, grad, z, b, q, i, part, tid, threads);
}
template <typename T>
LSCE_CU_HD void lsce_cu_opt_part(double *mine, T *grad, const T *z, const lsce_cu_obuf *b, const lsce_cu_oprm *q,
                                 int64_t i, int part, int tid, int threads) {
  *mine = lsce_cu_opt_grad<T>(grad, z, b, q, i, part, tid, threads);
}
LSCE_CU_HD void lsce_cu_opt_step(lsce_cu_op1 *sh, int lane, int off) { lsce_cu_op1_step(sh, lane, off); }
LSCE_CU_HD void lsce_cu_opt_step(lsce_cu_op2 *sh, int lane, int off) { lsce_cu_op2_step(sh, lane, off); }
LSCE_CU_HD void lsce_cu_opt_step(double *sh, int lane, int off) { lsce_cu_max_step(sh, lane, off); }
LSCE_CU_HD lsce_cu_op1 *lsce_cu_opt_dst(const lsce_cu_obuf *b, const lsce_cu_op1 *) { return b->P1; }
LSCE_CU_HD lsce_cu_op2 *lsce_cu_opt_dst(const lsce_cu_obuf *b, const lsce_cu_op2 *) { return b->P2; }
LSCE_CU_HD double *lsce_cu_opt_dst(const lsce_cu_obuf *b, const double *) { return b->Pg; }
/* the two row kernels as one: finish 0 kernel 2, 1 kernel 4 */
LSCE_CU_HD void lsce_cu_opt_row(const lsce_cu_obuf *b, const lsce_cu_oprm *q, int64_t i, int finish) {
  if (finish) lsce_cu_opt_finish(b, q, i);
  else lsce_cu_opt_begin(b, q, i);
}
#if defined(__CUDACC__)
/* The kernels (rowblock.cu's and nccl_vocab.cu's, internal to each): blocks of blockDim.x threads
 * (256; 32 for cuda_warp) on grid (parts, rows), each block looping over rows y, y + gridDim.y, ...
 * (opt_block_kernel, its partial type P naming the step); the per-row kernels 2 and 4 are grid-stride
 * loops (opt_row_kernel). Dynamic shared memory: blockDim.x partials. */
template <typename T, typename P>
static __global__ void __launch_bounds__(LSCE_CU_THREADS) opt_block_kernel(T *grad, const T *z, lsce_cu_obuf b, lsce_cu_oprm q) {
  extern __shared__ __align__(16) unsigned char smem[];
  P *sh = (P *)smem;
  for (int64_t i = blockIdx.y; i < q.N; i += gridDim.y) {
    lsce_cu_opt_part<T>(&sh[threadIdx.x], grad, z, &b, &q, i, blockIdx.x, threadIdx.x, blockDim.x);
    for (int off = blockDim.x / 2; off > 0; off /= 2) {
      __syncthreads();
      lsce_cu_opt_step(sh, threadIdx.x, off);
    }
    __syncthreads();
    if (threadIdx.x == 0) lsce_cu_opt_dst(&b, sh)[i * q.parts + blockIdx.x] = sh[0];
    __syncthreads();
  }
}

static __global__ void opt_row_kernel(lsce_cu_obuf b, lsce_cu_oprm q, int finish) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < q.N; i += (int64_t)gridDim.x * blockDim.x)
    lsce_cu_opt_row(&b, &q, i, finish);
}
#endif
#endif
