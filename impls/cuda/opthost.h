/* impls/cuda/opthost.h: the host side shared by the CUDA rows' options path (rowblock.cu run_opt)
 * and cuda_nccl_vocab's (nccl_vocab.cu run_opt): what the host decides per row before the launches
 * of impls/cuda/optkern.h (outside V or of sample weight 0: loss and gradient 0; a NaN mean: gradient
 * NaN; constants the rows defer: to the reference, as optrows.c's do_row), and how the device's
 * per-row outputs become optrows.c's (Lrow, lvl) for lsce_cpu_options_finish, which reduces and runs
 * the reference rung. No number is formed here; the bounds are optkern.h's (optelem.h). Host code,
 * included by the .cu files after optkern.h, cpu/elem.h and cpu/optrows.h. */
#ifndef LSCE_CUDA_OPTHOST_H
#define LSCE_CUDA_OPTHOST_H
#include <math.h>
#include <string.h>
#include "cuda/optkern.h"
#include "lsce/problem.h"

/* The call's constants into q (parts: slices per row; the caller sets q->ranks, c0, Kl when
 * sharded), and per row ri[i] (N), per class w[c] (K) and, with soft targets, soft[i K + c]. */
static inline void lsce_cu_opt_prepare(lsce_cu_oprm *q, lsce_cu_orow *ri, double *w, double *soft, const lsce_call *c,
                                       lsce_dtype gdt, int want_grad, int parts) {
  const lsce_problem *p = (const lsce_problem *)c->opt;
  const int64_t N = p->N, K = p->K;
  memset(q, 0, sizeof *q);
  lsce_options_consts(&q->k, p);
  const lsce_bound bd = lsce_guard_bound(c->dtype);
  q->N = N; q->K = K; q->pad_index = p->pad_index;
  q->parts = parts;
  q->gdt = (int)gdt; q->ldt = (int)lsce_guard_loss_dtype(c->dtype); q->want_grad = want_grad;
  q->none = p->reduction == LSCE_RED_NONE;
  q->loss_ulp = bd.loss_ulp; q->grad_ulp = bd.grad_ulp;
  for (int64_t j = 0; j < K; j++) w[j] = lsce_weight(p, j);
  for (int64_t i = 0; i < N; i++) {
    ri[i].s = lsce_sample_weight(p, i);
    ri[i].y = p->soft ? -1 : lsce_target(p, i);
    ri[i].kind = lsce_opt_row_kind(p, &q->k, i);
    if (soft) for (int64_t j = 0; j < K; j++) soft[i * K + j] = lsce_soft_target(p, i, j);
  }
}

/* After the launches: Rout (LSCE_CU_RSTRIDE words per row, kernel 4's) and Pg (np words per row:
 * every slice's or rank's gradient verdict, kernel 5's; read only for the softmax with a gradient)
 * into optrows.c's Lrow (3 words per row) and lvl; the host's rows of the gradient (N x K in grad,
 * already holding the device's) set: 0 for kind 1, NaN for kind 2. */
static inline void lsce_cu_opt_collect(double *Lrow, unsigned char *lvl, void *grad, lsce_dtype gdt,
                                       const lsce_cu_oprm *q, const lsce_cu_orow *ri, const double *Rout,
                                       const double *Pg, int np) {
  for (int64_t i = 0; i < q->N; i++) {
    Lrow[3 * i] = Lrow[3 * i + 1] = Lrow[3 * i + 2] = 0;
    lvl[i] = 0;
    if (ri[i].kind == LSCE_OPT_ROW_COMPUTED) {
      const double *o = Rout + LSCE_CU_RSTRIDE * i;
      Lrow[3 * i] = o[0]; Lrow[3 * i + 2] = o[1];
      lvl[i] = (unsigned char)o[2];
      for (int k = 0; k < np; k++) if (grad && !q->k.sig && Pg[i * np + k] != 0) lvl[i] |= 2;
    } else if (ri[i].kind == LSCE_OPT_ROW_DEFER) {
      Lrow[3 * i] = NAN; Lrow[3 * i + 2] = INFINITY;
      lvl[i] = (unsigned char)(1 | (grad ? 2 : 0));
    }
    if (grad && (ri[i].kind == LSCE_OPT_ROW_ZERO || ri[i].kind == LSCE_OPT_ROW_NAN))
      for (int64_t j = 0; j < q->K; j++) lsce_st(grad, gdt, i * q->K + j, ri[i].kind == LSCE_OPT_ROW_ZERO ? 0.0 : NAN);
  }
}
#endif
