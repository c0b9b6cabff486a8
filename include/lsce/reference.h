/* lsce/reference.h: the certified reference. Every catalog variant is evaluated literally (q built
 * per class, -q_c * lp_c summed) in Arb ball arithmetic, inside a Ziv loop that raises the precision
 * until each float64 output is certainly the correctly rounded value of the exact one. Exact zeros
 * and rational gradient entries are decided in GMP rational arithmetic, never by the loop. */
#ifndef LSCE_REFERENCE_H
#define LSCE_REFERENCE_H
#include <arb.h>
#include "lsce/problem.h"

#define LSCE_DEFAULT_PRECISION 64
#define LSCE_MAX_PRECISION_DEFAULT 65536

typedef struct {
  long start_prec;   /* first working precision, bits (>= 16) */
  long max_prec;     /* give up (LSCE_EINCOMPLETE) beyond this */
  int want_grad;
  int want_lo;       /* also certify lo = RN(exact - hi): double-double goldens */
  /* called before each row of the first pass (rows done so far, N); NULL: none */
  void (*progress)(void *user, int64_t rows_done, int64_t rows);
  void *progress_user;
  /* Rows [row_lo, row_hi) only (row_hi < 0: all rows; lsce-mpi's block of rows): loss (none), grad
   * and their lo/rs hold those rows only, from index 0, each the very value of the full run; a
   * mean/sum total is not formed: the block's rows' parts are returned (ce_q, ce_t, ce_use) for
   * lsce_ref_total over every block. */
  int64_t row_lo, row_hi;
} lsce_ref_opts;

typedef struct {
  int64_t nloss;      /* 1 (mean, sum) or N (none) */
  double *loss, *loss_lo;
  double *grad, *grad_lo; /* N*K, C order; NULL unless want_grad (grad_lo unless want_lo) */
  long prec_reached;  /* the highest working precision any output needed */
  /* The reference (want_lo): the sign (-1, 0, 1) of the exact r - hi - lo per output, for the ulp
   * metric's ties and power-of-two edges (NULL: 0). */
  signed char *loss_rs, *grad_rs;
  /* The fast certifier: a rigorous bound on |hi + lo - r| per loss output and per gradient row
   * (NULL: the values are the reference's). */
  double *loss_err, *grad_err;
  /* Block mode (row_hi >= 0) of a mean/sum: row row_lo + k's CE = ce_q[k] + ce_t[k] (exact rational
   * plus ball, KL term included) as pass 1 left it, ce_use[k] = 1 when it enters the total (in V, not
   * exactly 0); any_inf / all_zero over the block's rows of V. NULL otherwise. */
  mpq_t *ce_q;
  arb_t *ce_t;
  unsigned char *ce_use;
  int64_t nce;
  int any_inf, all_zero;
  /* Block mode with issue #15's options (reference/ref_options.c): ce_t[k] is the row's share L_i
   * and ce_z[k] its s_i lse_i^2, both at the first precision (ce_q unused); NULL otherwise. */
  arb_t *ce_z;
} lsce_ref_result;

void lsce_ref_opts_default(lsce_ref_opts *o);
/* The configured LSCE_MAX_PRECISION (lsce/config.h: the command line validated it from the
 * environment, cli/settings.c; liblsce's caller through lsce_set_config) into o->max_prec when set.
 * Reads no environment; always LSCE_OK (the err argument stays for the callers' error paths). */
int lsce_ref_opts_env(lsce_ref_opts *o, lsce_err *err);

/* The problem's variant, smoothing and reduction. `who` names the subcommand in error lines. */
int lsce_reference(lsce_ref_result *r, const lsce_problem *p, const lsce_ref_opts *o,
                   const char *who, lsce_err *err);
/* lsce_reference under a name that lsce-mpi never replaces by its collective version (for callers
 * that certify rows of their own, on one rank alone). */
int lsce_reference_local(lsce_ref_result *r, const lsce_problem *p, const lsce_ref_opts *o,
                         const char *who, lsce_err *err);
/* Allocates a result's outputs (nloss losses, ngrad gradient entries; low parts with want_lo);
 * LSCE_EINCOMPLETE "<who>: out of memory for the outputs" with nothing allocated. */
int lsce_ref_result_alloc(lsce_ref_result *res, int64_t nloss, int64_t ngrad, int want_lo, const char *who,
                          lsce_err *err);
void lsce_ref_result_free(lsce_ref_result *r);

/* The reduced loss (mean or sum) as a ball at working precision `prec`, and M, an upper bound on
 * its magnitude before cancellation (docs/accuracy.md "The ulp metric"). ce_only drops the KL
 * entropy term (the "CE part"). is_inf / is_nan flag the non-finite results exactly; oom: memory ran
 * out (total and M not set: the caller cannot complete). */
typedef struct { int is_inf, is_nan, oom; } lsce_ref_flags;
void lsce_ref_total_ball(arb_t total, arb_t M, lsce_ref_flags *f, const lsce_problem *p,
                         int ce_only, slong prec);

/* The mean/sum total of lsce_reference (its pass 2, the same code) from every row's CE part: Q[i],
 * T[i] for the N rows (ce_q / ce_t of the blocks in row order; refreshed here when a higher precision
 * is needed), use[i] (ce_use), any_inf (OR over the blocks), all_zero (AND). hi = RN(total), lo and
 * rs (NULL: not asked) as lsce_reference sets loss[0], loss_lo[0], loss_rs[0]; *reached raised to
 * the precisions used. LSCE_EINCOMPLETE beyond o->max_prec. */
int lsce_ref_total(double *hi, double *lo, signed char *rs, long *reached, const lsce_problem *p,
                   const lsce_ref_opts *o, mpq_t *Q, arb_t *T, const unsigned char *use, int any_inf,
                   int all_zero, const char *who, lsce_err *err);

/* The minimiser of one row's expected loss for target y: p*_c = kappa_c / sum kappa, correctly
 * rounded (out has K entries). Returns 0 when sum kappa is 0 (no optimum). */
int lsce_ref_optimum(double *out, const lsce_problem *p, int64_t y);

/* Correct rounding helpers (reference/rounding.c). */
int lsce_ball_round(double *out, const arb_t x);       /* 1 iff every point rounds alike */
double lsce_q_round(const mpq_t q);                     /* exact rational -> RN double */
void lsce_q_round2(double *hi, double *lo, const mpq_t q); /* hi = RN(q), lo = RN(q - hi) (lo NULL: hi only) */
/* exact rational -> RN in a binary format of `prec` bits, mpfr exponent range [emin, emax]
 * (float32: 24, -148, 128; float16: 11, -23, 16; bfloat16: 8, -132, 128), returned as a double */
double lsce_q_round_fmt(const mpq_t q, int prec, long emin, long emax);
double lsce_arf_round(const arf_t x);                   /* exact arf -> RN double */
void lsce_arb_set_q(arb_t y, const mpq_t q, slong prec);
#endif
