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
/* scratch holding one row's columns [c0, c1) only (a vocabulary shard's; the pieces below read and
 * write no other column; lsce_of64_buf(K) is lsce_of64_buf_range(0, K)), or NULL */
void *lsce_of64_buf_range(int64_t c0, int64_t c1);
/* Row i (in V, sample weight s != 0) at rung acc (0: the exp of combiner.h lsce_exp_pair, 2^-58; 1:
 * lsce_dd_exp, 2^-97): its share *R (the loss, or its part of the reduced total, z term included)
 * within *E of the exact value, and when grad is not NULL its gradient row written (rounded to gdt),
 * *gok = 1 when every entry meets grad_ulp (softmax rows at rung 0 recompute the entries that miss
 * with the accurate exp first: *accurate = 1 then). Returns 0, or -1 when the row cannot be vouched for. */
int lsce_of64_row(lsce_dd *R, double *E, int *gok, int *accurate, const lsce_of64_ctx *c, int64_t i, double s,
                  void *grad, int acc, void *buf);
/* ---- the row in pieces, for a vocabulary shard's columns [c0, c1) (impls/vocab_options_f64.c; the
 * whole row above is their composition over [0, K)). buf (lsce_of64_buf_range) holds a row's columns
 * [c0, c1): the pieces take columns inside them (lsce_of64_kappas sums over all K, keeps those);
 * every value and bound is the whole row's, and each bound holds for any grouping of the columns into
 * shards merged in class order (optrows_f64.c's argument at each piece). */
typedef struct { double dX, chmax, chrel; } lsce_of64_tacc;        /* start at 0, 0, 0 */
typedef struct { lsce_dd m, s1; int64_t jm, nreb, Kf; } lsce_of64_stats;
typedef struct {                                                    /* the softmax row from all K columns */
  lsce_dd m, s1dd, ls, lse, Ksd, Kz, is;
  double Ksum, s1, ds, dls, alse, dL, erel, dX, chmax, chrel, aKz, dKz, r1, tau;
  int64_t jm;
} lsce_of64_sm;
typedef struct { lsce_dd CE, H; double prop, Habs, EH, tmax; int inf; } lsce_of64_terms;
typedef struct { lsce_dd R; double ER, Rabs, chmax, chrel, wmax; int inf; } lsce_of64_sig;

/* x_j = T(z_ij) for j in [c0, c1) into buf, their dX, chmax, chrel merged into *ta */
void lsce_of64_transform(const lsce_of64_ctx *c, void *buf, int64_t i, int64_t c0, int64_t c1, lsce_of64_tacc *ta);
void lsce_of64_tacc_merge(lsce_of64_tacc *a, const lsce_of64_tacc *b);
/* the statistics of buf's x[c0, c1) (online: a running maximum, else two passes) with the rung's exp;
 * merged in class order (a before b), each merge one accurate exp, counted as a rebase */
void lsce_of64_stats_range(lsce_of64_stats *st, const void *buf, int64_t c0, int64_t c1, int online, int acc);
void lsce_of64_stats_merge(lsce_of64_stats *a, const lsce_of64_stats *b);
/* row i's kappa'_c (s_i = 1) over all K columns into buf; returns their sum (in class order) */
lsce_dd lsce_of64_kappas(const lsce_of64_ctx *c, int64_t i, void *buf);
/* softmax: from the merged statistics (rung acc), ls, lse and their bounds; -1 when not vouched for */
int lsce_of64_sm_begin(lsce_of64_sm *r, const lsce_of64_stats *st, lsce_dd Ksd, const lsce_of64_tacc *ta, int64_t K,
                       int acc);
void lsce_of64_terms_init(lsce_of64_terms *t, double prop0); /* the merged terms start at Ksum dX */
void lsce_of64_terms_range(lsce_of64_terms *t, const lsce_of64_ctx *c, const void *buf, const lsce_of64_sm *r,
                           int64_t c0, int64_t c1);
void lsce_of64_terms_merge(lsce_of64_terms *a, const lsce_of64_terms *b);
/* the row's share (times sw = s_i) and its bound from the merged terms; -1 when not finite */
int lsce_of64_sm_loss(lsce_dd *R, double *E, const lsce_of64_sm *r, const lsce_of64_ctx *c, int64_t K,
                      const lsce_of64_terms *t, double sw);
/* the gradient's constants (with_tau: also the floor r->tau) */
void lsce_of64_sm_gcoef(lsce_of64_sm *r, const lsce_of64_ctx *c, int64_t K, double sw, int with_tau);
/* entry j (buf's x, kappa'), the exps of rung pass, written to grad; returns it, *dg its bound */
double lsce_of64_sm_gentry(double *dg, const lsce_of64_sm *r, const lsce_of64_ctx *c, const void *buf, int64_t i,
                           int64_t j, int pass, double sw, void *grad);
/* sigmoid: the elements of [c0, c1) summed into a (lsce_of64_sig_init first), with grad their entries
 * written and kept in buf; the share from all K columns; the kept entries against the row's floor */
void lsce_of64_sig_init(lsce_of64_sig *a);
void lsce_of64_sig_range(lsce_of64_sig *a, const lsce_of64_ctx *c, void *buf, int64_t i, int64_t c0, int64_t c1,
                         double sw, void *grad, int acc);
void lsce_of64_sig_merge(lsce_of64_sig *a, const lsce_of64_sig *b);
int lsce_of64_sig_share(lsce_dd *R, double *E, const lsce_of64_sig *a, int64_t K, double sw);
int lsce_of64_sig_check(const lsce_of64_sig *a, const lsce_of64_ctx *c, const void *buf, int64_t c0, int64_t c1,
                        double sw);
#endif
