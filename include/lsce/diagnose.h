/* lsce/diagnose.h (verify/diagnose.c): why a user's loss (and gradient) differs from the claimed formulation. Every
 * catalog variant is modelled on the user's problem as values affine in the smoothing e (minus the
 * entropy term of the KL forms), built from two certified references (e = 0 and e = 1, reduction
 * none, gradient when given); each candidate (variant, e, reduction) is scored against ALL the
 * user's values under a stated noise model of the user's dtype T (docs/accuracy.md):
 *   per log-probability an absolute error of g_K ulp_T(max_c |z_c|), so per row loss
 *     n_i = g_K (kappa_i ulp_T(Z_i) + ulp_T(M_i)),  g_K = 2 (1 + log2 K),
 *     kappa_i the row's total target mass (1 unweighted, max_c w_c weighted), M_i = |L_i| + 2 H;
 *   per reduced loss the row terms divided by the denominator plus g_N ulp_T(M), g_N = g_K + 2(1 + log2 N);
 *   per gradient entry n_ij = g_K (ulp_T(max(p_ij s_i, |r_ij|)) + p_ij s_i ulp_T(Z_i)), where
 *     s_i = sum_j |r_ij| bounds the row factor (so p_ij s_i bounds the p and q terms that cancel);
 *   a --loss typed in decimal also carries half a unit of its last typed digit.
 * A candidate fits when every value is within its noise (score = max |y - r| / n <= 1).
 * Decisions: accuracy (the claim fits, and, when it is more than 4 ulps off, no other candidate that
 * fits does so at a sixteenth of the claim's ulps or less), formulation (the claim does not fit, another
 * does), unknown (nothing fits). A free e is fitted only when the evidence over-determines it (two
 * or more values), except that a scalar typed with at most 6 significant digits may be explained by
 * an e of at most 2 significant digits reproducing every typed digit. k1-megatron is a candidate
 * at every T in [2, 16] that divides K (K >= 2T) and every rank r < T (and at the claim's own T
 * and rank), at the given e and its conventions only (no fitted e); identify leaves it out.
 * Issue #15's options (verify/diagnose_opts.c): the claim with one option changed, each computed by
 * the reference at the claimed reduction and e (docs/cli.md "The diagnosis", step 6). */
#ifndef LSCE_DIAGNOSE_H
#define LSCE_DIAGNOSE_H
#include <gmp.h>
#include <stdio.h>
#include "lsce/problem.h"
#include "lsce/reference.h"

/* sources, in ranking order; OPTION: the claim with one issue #15 option changed (verify/diagnose_opts.c) */
enum { LSCE_DG_GIVEN = 0, LSCE_DG_CONVENTION, LSCE_DG_OPTION, LSCE_DG_TYPED, LSCE_DG_FITTED };
enum { LSCE_CAUSE_NONE = 0, LSCE_CAUSE_ACCURACY, LSCE_CAUSE_FORMULATION, LSCE_CAUSE_UNKNOWN };

typedef struct {
  int v, red, src;
  int64_t tp, rank;   /* k1-megatron: its T and rank r (0 for the other variants) */
  const char *conv;   /* the convention that maps the given e here (src CONVENTION) */
  mpq_t e;
  char s[64];         /* e as printed */
  double score, ulp;
  int fits, digits;
  char opt[80];       /* the changed option as the cause line's fields ("z-loss=0"), "" for none */
  int orank;          /* the order among option candidates (verify/diagnose_opts.c) */
} lsce_dg_cand;

typedef struct {
  int cause;          /* LSCE_CAUSE_* */
  int best;           /* index into cands, -1 when none */
  int64_t values;     /* how many values the decision rests on */
  lsce_dg_cand *cands;
  int ncands;
} lsce_diagnosis;

/* One problem with a user's values: loss (N for none, else 1) and grad (N*K or NULL). */
typedef struct {
  const lsce_problem *p;
  const double *loss, *grad;
  lsce_dtype ldt, gdt;
  const mpq_t *typed;   /* the exact --loss as typed (scalar), or NULL */
  double half;          /* half a unit of its last typed digit, 0 when not typed in decimal */
  const char *typed_str; /* the --loss as typed */
} lsce_dg_input;

/* Diagnose a FAIL of `in` against the claim in in->p. ro: reference options (precision limits).
 * Returns LSCE_OK or an error (the references could not complete). */
int lsce_diagnose(lsce_diagnosis *d, const lsce_dg_input *in, const lsce_ref_opts *ro, lsce_err *err);
void lsce_diagnosis_free(lsce_diagnosis *d);
/* The `match` and `cause` lines (text) or the "match" and "cause" JSON members (without a
 * leading comma). given: the --smoothing as typed. */
void lsce_diagnosis_print(FILE *f, const lsce_diagnosis *d, const lsce_problem *p, const char *given);
void lsce_diagnosis_json(FILE *f, const lsce_diagnosis *d, const lsce_problem *p, const char *given);

/* identify: the joint fit of every variant over several probe cases (the e shared by all); the
 * sigmoid family too (identify only: check's diagnosis keeps verify/diagnose_opts.c for it), its
 * mean over |V| K elements, with check's sigmoid noise model (docs/cli.md "probe and identify"). */
typedef struct {
  int v, red_mode;    /* red_mode: -1 as each case asks, else LSCE_RED_MEAN / LSCE_RED_SUM for scalars */
  int noweights;      /* a sigmoid variant fitted with the weighted cases' class weights left out */
  int fits;
  double score, ulp;
  mpq_t e;
  char s[64];
} lsce_id_cand;
/* Fills out[] (up to LSCE_ID_MAXCANDS candidates: each variant at 3 reduction modes, a sigmoid
 * variant also without class weights); returns how many. pad: the pad class for
 * k2-pad-kl (the probe's convention). */
#define LSCE_ID_MAXCANDS (LSCE_V_COUNT * 6)
int lsce_identify_fit(lsce_id_cand *out, const lsce_dg_input *cases, int ncases, const lsce_ref_opts *ro,
                      lsce_err *err, int *rc);

/* Decimal string of an exact rational when it terminates within 17 significant digits, else %.6g. */
void lsce_q_str(char *out, size_t n, const mpq_t q);
const char *lsce_red_name(int r);
const char *lsce_fmt_ulp(char *b, double u); /* %.3g, or inf; b holds 32 */
#endif
