/* lsce/ref_sums.h: per-row sums computed once (certified balls), from which every catalog variant's
 * mean or sum loss at any smoothing e is an exact affine combination (minus the entropy term for
 * the KL forms). Used by `lsce check`'s match search. */
#ifndef LSCE_REF_SUMS_H
#define LSCE_REF_SUMS_H
#include <arb.h>
#include "lsce/problem.h"
#include "lsce/reference.h"

typedef struct { arb_t v; int inf; } lsce_tot; /* a total of non-negative terms, or +inf */

typedef struct {
  /* over V (target != ignore): */
  lsce_tot nll;   /* sum -lp_y */
  lsce_tot so;    /* sum sum_{c != y} -lp_c */
  lsce_tot wnll;  /* sum w_y (-lp_y) (0 * inf = 0) */
  lsce_tot swo;   /* sum sum_{c != y} w_c (-lp_c) */
  int64_t nV;
  mpq_t W;        /* sum_V w_y */
  /* over V2 (also target != P), for k2-pad-kl: */
  lsce_tot nll2, sop2; /* sum_{c != y, c != P} -lp_c */
  int64_t nV2;
  /* over V, per class c (k1-megatron's shard sums at any T and rank): sum_i -lp_{i,c}, K of them */
  lsce_tot *col;
  int64_t ncol;
  slong prec;
} lsce_ref_sums;

void lsce_ref_sums_init(lsce_ref_sums *s);
void lsce_ref_sums_clear(lsce_ref_sums *s);
void lsce_ref_sums_compute(lsce_ref_sums *s, const lsce_problem *p, slong prec);
/* The loss of variant v (mean or sum) at smoothing e; M its magnitude before cancellation. Returns
 * 0 when the input cannot give v (weights or pad index missing, K too small). */
int lsce_ref_sums_eval(arb_t L, arb_t M, lsce_ref_flags *f, const lsce_ref_sums *s,
                       const lsce_problem *p, int v, int reduction, const mpq_t e);
/* k1-megatron at T ranks (T divides K, K >= 2T), rank r: a NLL + b sum_{c in S_r} col[c]. Returns 0
 * when T does not fit K. */
int lsce_ref_sums_eval_tp(arb_t L, arb_t M, lsce_ref_flags *f, const lsce_ref_sums *s,
                          const lsce_problem *p, int reduction, const mpq_t e, int64_t T, int64_t r);
#endif
