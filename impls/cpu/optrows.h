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
/* After every row of such a call: Lrow[3i] + Lrow[3i + 1] = row i's share R_i as a double-double pair
 * (lo 0 but for the float64 rows, optrows_f64.c) and Lrow[3i + 2] its bound E_i, lvl[i] its bits (1:
 * the loss, reduction none, needs the reference; 2: the gradient does; 4: the float64 rows' accurate
 * rung), as optrows.c's rows leave them (a row outside V, or of sample weight 0: 0, 0, 0; a NaN mean: 0, 0, 0 and the
 * gradient row NaN): the checked reduction, the reference's values for the rows (and the total) not
 * vouched for, or flagged with LSCE_ROW_REFERENCE=0; loss[] and the counts. k: lsce_options_consts
 * of the problem. The CUDA rows call it with their device's rows (impls/cuda/optkern.h). Returns 0,
 * or 1 when the reference rung was needed and ran out of memory (loss[] not written). */
int lsce_cpu_options_finish(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, const lsce_opt_consts *k,
                            double *Lrow, unsigned char *lvl);
/* Row i's kappa'_c (times f = s_i / D_norm) and log q_c (the KL forms) over all K classes, into
 * kap[] and lq[]; returns their sum (also the vocabulary-parallel row's, impls/vocab_options.c) */
double lsce_opt_kappas(const lsce_opt_consts *k, const lsce_problem *p, int64_t i, double f, double *kap, double *lq);
/* What row i of an options call is, the one classification every options row uses (optrows.c,
 * vocab_options.c, vocab_options_f64.c, cuda/opthost.h): */
enum {
  LSCE_OPT_ROW_COMPUTED = 0, /* the row's own schedule computes it */
  LSCE_OPT_ROW_ZERO = 1,     /* outside V, or sample weight 0: loss and gradient exactly 0 */
  LSCE_OPT_ROW_NAN = 2,      /* the mean's divisor is 0: the loss and the gradient row NaN */
  LSCE_OPT_ROW_DEFER = 3     /* constants the rows do not take (k->neg): the reference's values */
};
static inline int lsce_opt_row_kind(const lsce_problem *p, const lsce_opt_consts *k, int64_t i) {
  if (!lsce_row_in_V(p, p->variant, i)) return LSCE_OPT_ROW_ZERO;
  if (k->nan_mean) return LSCE_OPT_ROW_NAN;
  if (lsce_sample_weight(p, i) == 0) return LSCE_OPT_ROW_ZERO;
  return k->neg ? LSCE_OPT_ROW_DEFER : LSCE_OPT_ROW_COMPUTED;
}
#endif
