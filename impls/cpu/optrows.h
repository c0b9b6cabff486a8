/* impls/cpu/optrows.h: the exact CPU rows on issue #15's options and the sigmoid family
 * (optrows.c): each row's entry point hands a call whose c->opt is set (lsce_invoke sets it to the
 * problem when it uses an option) here, with its own schedule of the softmax statistics: online (1:
 * one pass with a running maximum, 0: two passes), threads (OpenMP over rows), slice (> 0: vocabulary
 * shards of that many classes, merged). Same bounds as the catalog (lsce_target_bounds); rows it
 * cannot vouch for take the certified reference's values (or are flagged, LSCE_ROW_REFERENCE=0). */
#ifndef LSCE_CPU_OPTROWS_H
#define LSCE_CPU_OPTROWS_H
#include "lsce/ref_options.h"
#include "lsce/registry.h"

int lsce_cpu_options(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, int online, int threads,
                     int64_t slice);
/* The outputs from the rows' shares and bounds (Lrow[2 i], Lrow[2 i + 1]) and lvl bits (1: the none
 * loss needs the reference, 2: the gradient row does): the checked reduction, the reference's values
 * for those rows (or the flags), the counts; c->opt is the problem. Returns 0. */
int lsce_opt_finish(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, double *Lrow, unsigned char *lvl);

/* The pieces of optrows.c that the vocabulary-parallel row (impls/vocab_options.c) shares: the
 * transform of row i's columns [c0, c1) into x, dx, ch, dch (indexed by column, with optrows.c's
 * bounds); the two-pass softmax statistics of x[c0, c1) (m, its first index jm, s1 = the sum of
 * e^{x_j - m} over j != jm, nreb the rebases, Kf the finite entries) and their merge (the smaller
 * maximum's part rebased, one more rebase counted); row i's kappa'_c (times f = s_i / D) and log q_c
 * over all K columns, returning their sum. */
typedef struct { double m, s1; int64_t jm, nreb, Kf; } lsce_opt_stats;
void lsce_opt_transform_range(const lsce_opt_consts *k, const lsce_problem *p, int64_t i, int64_t c0, int64_t c1,
                              double *x, double *dx, double *ch, double *dch);
void lsce_opt_stats_range(lsce_opt_stats *st, const double *x, int64_t c0, int64_t c1);
void lsce_opt_stats_merge(lsce_opt_stats *a, const lsce_opt_stats *b);
/* row_softmax's gradient: the row's coefficients (returns the floor tau of the acceptance test) and
 * entry j (returns g_j, its bound in *dg; *gok = 0 when p_j cannot be bounded); row_sigmoid's
 * element (adds its term and bound to *R, *ER; returns the gradient entry, its bound before SL in *dg) */
typedef struct { double Kz, dKz, is, r1, m, dX; int64_t jm; int has_cap; } lsce_opt_gcoef;
double lsce_opt_gcoef_init(lsce_opt_gcoef *q, const lsce_opt_consts *k, int64_t K, double s, double Ksum, double lse,
                           double dL, double m, double s1, double ds, int64_t jm, double dX, double chmax,
                           double chrel, lsce_dtype gdt);
double lsce_opt_gentry(const lsce_opt_gcoef *q, int64_t j, double x, double dx, double ch, double dch, double kap,
                       double *dg, int *gok);
double lsce_opt_sig_elem(double x, double dx, double ch, double dch, double wf, double tp, double up, double *R,
                         double *ER, int *inf, double *dg);
double lsce_opt_kappas(const lsce_opt_consts *k, const lsce_problem *p, int64_t i, double f, double *kap, double *lq);
#endif
