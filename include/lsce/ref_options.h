/* lsce/ref_options.h: the reference for the options and the sigmoid family of issue #15
 * (reference/ref_options.c; docs/formulations.md "Options and the sigmoid family"). lsce_reference
 * hands a problem here when lsce_uses_options says so. */
#ifndef LSCE_REF_OPTIONS_H
#define LSCE_REF_OPTIONS_H
#include "lsce/dd.h"
#include "lsce/reference.h"

/* 1 when p uses an option of issue #15 or a sigmoid-family variant */
int lsce_uses_options(const lsce_problem *p);
/* the first issue #15 feature p uses, as `run` names it ("--logit-scale", ..., "soft targets",
 * "the sigmoid family"), or NULL */
const char *lsce_options_first(const lsce_problem *p);
/* lsce_reference for such a problem (every output correctly rounded, or LSCE_EINCOMPLETE); a row
 * block (o->row_hi >= 0, lsce-mpi) returns its rows' outputs and, for a mean or sum, each row's parts
 * at the first precision (ce_t: the row's share L_i, ce_z: s_i lse_i^2; ce_q unused, 0) for
 * lsce_ref_options_total. */
int lsce_reference_options(lsce_ref_result *r, const lsce_problem *p, const lsce_ref_opts *o,
                           const char *who, lsce_err *err);
/* lsce_ref_total for such a problem: the total from every block's T = ce_t, Z = ce_z, use = ce_use
 * in row order (N entries), any_inf OR-ed and all_zero AND-ed over the blocks; the very ball of the
 * single process at the first precision, every row recomputed at a higher one. */
int lsce_ref_options_total(double *hi, double *lo, signed char *rs, long *reached, const lsce_problem *p,
                           const lsce_ref_opts *o, arb_t *T, arb_t *Z, const unsigned char *use, int any_inf,
                           int all_zero, const char *who, lsce_err *err);
/* lsce_ref_total_ball for such a problem (mean or sum) */
void lsce_ref_options_total_ball(arb_t total, arb_t M, lsce_ref_flags *f, const lsce_problem *p,
                                 int ce_only, slong prec);
/* the ulp metric's magnitudes: Mloss (1 or N entries) and sigma (N entries) */
void lsce_ref_options_floors(double *Mloss, double *sigma, const lsce_problem *p);

/* The problem's constants for the CPU rows' options path (impls/cpu/optrows.c), each the exact
 * rational of the reference (the same octx) converted by mpq_get_d: truncation, so every field is
 * within 2^-52 relative of its exact value (2 u, u = 2^-53), and nonnegative where the exact one is. */
typedef struct {
  int sig, has_z, nan_mean, kl, weighting, pad, soft;
  int has_scale, has_cap;
  double S, C;          /* logit scale (1 when off) and soft cap (0 when off) */
  double inv_Dn;        /* 1 / D_norm (1 for sum, none and k-nll-weighted) */
  double zq;            /* Z / D_z (mean, sum) or Z (none); 0 without a z term */
  double a, b;          /* k-nll-weighted: the NLL part's and the smoothing part's factors (else 1) */
  double qt, qo, qd;    /* index targets: q_y, q_c, q_y - q_c (catalog; k-nll-weighted's qt - qo = 1 - e) */
  double al, be, ga;    /* soft / sigmoid targets: t' = al t + be, 1 - t' = al (1 - t) + ga (exact
                         * rationals; ga = 1 - al - be) */
  int neg;              /* 1 when al, be or ga is negative (the rows then defer to the reference) */
} lsce_opt_consts;
void lsce_options_consts(lsce_opt_consts *k, const lsce_problem *p);
/* The same constants as double-double pairs for the float64 rows (impls/cpu/optrows_f64.c): each
 * within 2^-104 relative (+ 2^-1074 absolute) of its exact rational, its high part the field of k
 * (which this fills too); S = 1 when off, the others 0 where k's are. */
typedef struct { lsce_dd S, C, inv_Dn, zq, a, b, qt, qo, qd, al, be, ga; } lsce_opt_consts_dd;
void lsce_options_consts_dd(lsce_opt_consts *k, lsce_opt_consts_dd *kd, const lsce_problem *p);
#endif
