/* tests/cuda_emu.h: the kernels of impls/cuda/rowblock.cu run on the host, one launch at a time,
 * with the launch's own grid: every block, every thread of it in turn, barriers as phase
 * boundaries (the kernels' shared-memory tree levels are independent within a level, so running a
 * level's threads one after another gives the same bits). The per-thread work is the kernels' own
 * code, impls/cuda/rowkern.h. Used by tests/test_cuda_emu.cpp (geometry from rowkern.h) and by the
 * recording CUDA runtime tests/cuda_mock.cpp (geometry from the actual launch). The device's exp
 * (libdevice, 1 ulp) is glibc's here; nothing else differs (--fmad=false on the device). */
#ifndef LSCE_TEST_CUDA_EMU_H
#define LSCE_TEST_CUDA_EMU_H
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <vector>
#include <gmp.h>
extern "C" {
#include "lsce/npy.h"
}

/* host element types (bit patterns of __nv_bfloat16 and __half) and their exact loads / once-rounded stores */
struct bf16 { uint16_t u; };
struct f16 { uint16_t u; };
inline double lsce_cu_ld(const float *p, int64_t i) { return (double)p[i]; }
inline double lsce_cu_ld(const bf16 *p, int64_t i) {
  uint32_t u = (uint32_t)p[i].u << 16;
  float f;
  memcpy(&f, &u, 4);
  return (double)f;
}
inline double lsce_cu_ld(const f16 *p, int64_t i) { return lsce_f16_to_double(p[i].u); }
inline void lsce_cu_st(float *p, int64_t i, double g) { p[i] = (float)g; }
inline void lsce_cu_st(bf16 *p, int64_t i, double g) { p[i].u = lsce_double_to_bf16(g); }
inline void lsce_cu_st(f16 *p, int64_t i, double g) { p[i].u = lsce_double_to_f16(g); }
#include "cuda/rowkern.h"
#include "cuda/optkern.h"
#include "cuda/ncclkern.h"

/* merged statistics per row, when the caller wants them (st_out[i], has_st[i] = 1) */
struct emu_capture {
  lsce_rowstats *st;
  char *has;
};

/* rowgroup_kernel<T, G>: `blocks` blocks of `threads` threads */
template <typename T>
inline void emu_rowgroup_kernel(int G, int64_t blocks, int threads, double *Lrow, T *grad, const T *z,
                                const int64_t *tg, const double *w, const lsce_params *p, int64_t N, int64_t K,
                                lsce_cu_bounds bnd, emu_capture cap) {
  const int groups = threads / G;
  std::vector<lsce_rowstats> sh(threads), st(groups);
  std::vector<double> gm(threads);
  std::vector<int> active(groups);
  for (int64_t bx = 0; bx < blocks; bx++)
    for (int64_t base = bx * groups; base < N; base += blocks * groups) {
      for (int tid = 0; tid < threads; tid++) {
        const int lane = tid % G, grp = tid / G;
        active[grp] = lsce_cu_rowgroup_stats<T>(&sh[grp * G + lane], z, tg, base + grp, N, K, lane, G, p, w);
      }
      for (int off = G / 2; off > 0; off /= 2)
        for (int tid = 0; tid < threads; tid++) lsce_cu_tree_step(&sh[(tid / G) * G], tid % G, off);
      for (int grp = 0; grp < groups; grp++) {
        st[grp] = sh[grp * G];
        if (cap.st && base + grp < N && active[grp]) { cap.st[base + grp] = st[grp]; cap.has[base + grp] = 1; }
      }
      for (int tid = 0; tid < threads; tid++) {
        const int lane = tid % G, grp = tid / G;
        const int64_t i = base + grp;
        gm[tid] = i < N ? lsce_cu_rowgroup_finish<T>(Lrow, grad, z + i * K, i, K, lane, G, active[grp], tg[i], &st[grp], p, w) : 0;
      }
      for (int off = G / 2; off > 0; off /= 2)
        for (int tid = 0; tid < threads; tid++) lsce_cu_max_step(&gm[(tid / G) * G], tid % G, off);
      for (int grp = 0; grp < groups; grp++) {
        const int64_t i = base + grp;
        if (i < N && active[grp]) lsce_cu_row_guard(Lrow, i, K, tg[i], &st[grp], grad != NULL, gm[grp * G], p, w, bnd);
      }
    }
}

/* split_stats_kernel<T>: grid (gx = parts, gy), `threads` threads, blocks looping over rows */
template <typename T>
inline void emu_split_stats_kernel(int64_t gx, int64_t gy, int threads, lsce_rowstats *part, const T *z,
                                   const int64_t *tg, const double *w, const lsce_params *p, int64_t N, int64_t K,
                                   int parts) {
  std::vector<lsce_rowstats> sh(threads);
  for (int64_t by = 0; by < gy; by++)
    for (int64_t bx = 0; bx < gx; bx++)
      for (int64_t i = by; i < N; i += gy) {
        for (int tid = 0; tid < threads; tid++) lsce_cu_split_stats<T>(&sh[tid], z, tg, i, K, parts, (int)bx, tid, threads, p, w);
        for (int off = threads / 2; off > 0; off /= 2)
          for (int tid = 0; tid < threads; tid++) lsce_cu_tree_step(sh.data(), tid, off);
        part[i * parts + bx] = sh[0];
      }
}

/* split_merge_kernel: a grid-stride loop over rows */
inline void emu_split_merge_kernel(int64_t blocks, int threads, double *Lrow, lsce_gradcoef *gc, double *mrow,
                                   const lsce_rowstats *part, const int64_t *tg, const double *w, const lsce_params *p,
                                   int64_t N, int parts, lsce_rowstats *st, emu_capture cap) {
  for (int64_t b = 0; b < blocks; b++)
    for (int tid = 0; tid < threads; tid++)
      for (int64_t i = b * threads + tid; i < N; i += blocks * threads) {
        lsce_cu_split_merge(Lrow, gc, mrow, part, i, parts, tg[i], p, w, st);
        if (cap.st && lsce_params_in_V(p, tg[i])) { cap.st[i] = st[i]; cap.has[i] = 1; }
      }
}

/* split_guard_kernel: a grid-stride loop over rows */
inline void emu_split_guard_kernel(int64_t blocks, int threads, double *Lrow, const lsce_rowstats *st, const double *gpart,
                                   const int64_t *tg, const double *w, const lsce_params *p, int64_t N, int64_t K,
                                   int parts, int has_grad, lsce_cu_bounds bnd) {
  for (int64_t b = 0; b < blocks; b++)
    for (int tid = 0; tid < threads; tid++)
      for (int64_t i = b * threads + tid; i < N; i += blocks * threads)
        lsce_cu_split_guard(Lrow, st, gpart, i, K, parts, has_grad, tg[i], p, w, bnd);
}

/* split_grad_kernel<T>: grid (gx = parts, gy), blocks looping over rows */
template <typename T>
inline void emu_split_grad_kernel(int64_t gx, int64_t gy, int threads, T *grad, const T *z, const lsce_gradcoef *gc,
                                  const double *mrow, const double *w, const lsce_params *p, int64_t N, int64_t K,
                                  int parts, double *gpart) {
  std::vector<double> gm(threads);
  for (int64_t by = 0; by < gy; by++)
    for (int64_t bx = 0; bx < gx; bx++)
      for (int64_t i = by; i < N; i += gy) {
        for (int tid = 0; tid < threads; tid++)
          gm[tid] = lsce_cu_split_grad<T>(grad, z, gc, mrow, i, K, parts, (int)bx, tid, threads, p, w);
        for (int off = threads / 2; off > 0; off /= 2)
          for (int tid = 0; tid < threads; tid++) lsce_cu_max_step(gm.data(), tid, off);
        gpart[i * parts + bx] = gm[0];
      }
}
/* issue #15's kernels (impls/cuda/optkern.h): opt_block_kernel<T, P> on grid (gx = parts, gy) with
 * `threads` threads, blocks looping over rows and a shared-memory tree per row; opt_row_kernel a
 * grid-stride loop over rows */
template <typename T, typename P>
inline void emu_opt_block_kernel(int64_t gx, int64_t gy, int threads, T *grad, const T *z, lsce_cu_obuf b,
                                 lsce_cu_oprm q) {
  std::vector<P> sh(threads);
  for (int64_t by = 0; by < gy; by++)
    for (int64_t bx = 0; bx < gx; bx++)
      for (int64_t i = by; i < q.N; i += gy) {
        for (int tid = 0; tid < threads; tid++) lsce_cu_opt_part<T>(&sh[tid], grad, z, &b, &q, i, (int)bx, tid, threads);
        for (int off = threads / 2; off > 0; off /= 2)
          for (int tid = 0; tid < threads; tid++) lsce_cu_opt_step(sh.data(), tid, off);
        lsce_cu_opt_dst(&b, sh.data())[i * q.parts + bx] = sh[0];
      }
}
inline void emu_opt_row_kernel(int64_t blocks, int threads, lsce_cu_obuf b, lsce_cu_oprm q, int finish) {
  for (int64_t bb = 0; bb < blocks; bb++)
    for (int tid = 0; tid < threads; tid++)
      for (int64_t i = bb * threads + tid; i < q.N; i += blocks * threads) lsce_cu_opt_row(&b, &q, i, finish);
}
/* cuda_nccl_vocab's kernels (impls/cuda/nccl_vocab.cu, steps in impls/cuda/ncclkern.h), one rank's
 * launch: shard_stats_kernel<T> and shard_grad_kernel<T> on `blocks` blocks of `threads` threads
 * looping over rows, a shared-memory tree per row; rank_merge_kernel a grid-stride loop over rows */
template <typename T>
inline void emu_shard_stats_kernel(int64_t blocks, int threads, lsce_rowstats *st, const T *zs, const int64_t *tg,
                                   const double *w, const lsce_params *p, int64_t N, int64_t c0, int64_t c1) {
  std::vector<lsce_rowstats> sh(threads);
  for (int64_t bx = 0; bx < blocks; bx++)
    for (int64_t i = bx; i < N; i += blocks) {
      for (int tid = 0; tid < threads; tid++) lsce_cu_shard_stats<T>(&sh[tid], zs, tg, i, c0, c1, tid, threads, p, w);
      for (int off = threads / 2; off > 0; off /= 2)
        for (int tid = 0; tid < threads; tid++) lsce_cu_tree_step(sh.data(), tid, off);
      st[i] = sh[0];
    }
}
inline void emu_rank_merge_kernel(int64_t blocks, int threads, double *R, lsce_gradcoef *gc, double *mrow,
                                  lsce_rowstats *mst, const lsce_rowstats *all, const int64_t *tg, const double *w,
                                  const lsce_params *p, int64_t N, int64_t K, int P, lsce_cu_bounds bnd) {
  for (int64_t b = 0; b < blocks; b++)
    for (int tid = 0; tid < threads; tid++)
      for (int64_t i = b * threads + tid; i < N; i += blocks * threads)
        lsce_cu_rank_merge(R, gc, mrow, mst, all, i, N, K, P, tg[i], p, w, bnd);
}
template <typename T>
inline void emu_shard_grad_kernel(int64_t blocks, int threads, T *gs, const T *zs, const lsce_gradcoef *gc,
                                  const double *mrow, const lsce_rowstats *mst, int *gflag, const int64_t *tg,
                                  const double *w, const lsce_params *p, int64_t N, int64_t K, int64_t c0, int64_t c1,
                                  lsce_cu_bounds bnd) {
  std::vector<double> gm(threads);
  for (int64_t bx = 0; bx < blocks; bx++)
    for (int64_t i = bx; i < N; i += blocks) {
      for (int tid = 0; tid < threads; tid++) gm[tid] = lsce_cu_shard_grad<T>(gs, zs, gc, mrow, i, c0, c1, tid, threads, p, w);
      for (int off = threads / 2; off > 0; off /= 2)
        for (int tid = 0; tid < threads; tid++) lsce_cu_max_step(gm.data(), tid, off);
      gflag[i] = lsce_cu_shard_verdict(mrow, mst, i, K, tg[i], gm[0], p, w, bnd);
    }
}
#endif
