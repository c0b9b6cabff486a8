/* impls/cpu/optrows_f64.h: one float64 row of the options path (optrows_f64.c) in double-double,
 * with its a-posteriori bound: the accurate rungs of impls/cpu/optrows.c for float64 logits, whose
 * bounds (2 ulps of float64 for the loss, 4 for the gradient) plain double arithmetic cannot meet. */
#ifndef LSCE_CPU_OPTROWS_F64_H
#define LSCE_CPU_OPTROWS_F64_H
#include "lsce/dd.h"
#include "lsce/ref_options.h"
#include "lsce/registry.h"

typedef struct {
  const lsce_problem *p;
  const lsce_opt_consts *k;      /* the constants in double (flags, signs) */
  const lsce_opt_consts_dd *kd;  /* and as pairs within 2^-104 */
  int online;                    /* the statistics' schedule: 1 a running maximum, 0 two passes */
  int64_t slice;                 /* > 0: shards of `slice` classes merged (cpu_sharded) */
  lsce_dtype gdt;
  double grad_ulp;
} lsce_of64_ctx;

/* scratch for rows of K classes (free() it), or NULL */
void *lsce_of64_buf(int64_t K);
/* Row i (in V, sample weight s != 0) at rung acc (0: the exp of combiner.h lsce_exp_pair, 2^-58; 1:
 * lsce_dd_exp, 2^-97): its share *R (the loss, or its part of the reduced total, z term included)
 * within *E of the exact value, and when grad is not NULL its gradient row written (rounded to gdt),
 * *gok = 1 when every entry meets grad_ulp (softmax rows at rung 0 recompute the entries that miss
 * with the accurate exp first: *accurate = 1 then). Returns 0, or -1 when the row cannot be vouched for. */
int lsce_of64_row(lsce_dd *R, double *E, int *gok, int *accurate, const lsce_of64_ctx *c, int64_t i, double s,
                  void *grad, int acc, void *buf);
#endif
