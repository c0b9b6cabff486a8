/* Correct rounding to float64 (round to nearest, ties to even, subnormals and overflow included)
 * of exact rationals and of every point of an Arb ball. A ball is settled only when both of its
 * endpoints round to the same double: rounding is monotone, so every point between them does too. */
#include <math.h>
#include <mpfr.h>
#include <flint/fmpq.h>
#include "lsce/reference.h"

double lsce_arf_round(const arf_t x) {
  if (arf_is_zero(x)) return 0.0;
  if (arf_is_nan(x)) return NAN;
  if (arf_is_pos_inf(x)) return INFINITY;
  if (arf_is_neg_inf(x)) return -INFINITY;
  mpfr_t t;
  slong bits = arf_bits(x);
  mpfr_init2(t, bits < 2 ? 2 : bits);
  arf_get_mpfr(t, x, MPFR_RNDN); /* exact: t has every bit of x */
  /* mpfr_get_d rounds correctly into double's subnormal and overflow ranges */
  double d = mpfr_get_d(t, MPFR_RNDN);
  mpfr_clear(t);
  return d;
}

double lsce_q_round(const mpq_t q) { return lsce_q_round_fmt(q, 53, -1073, 1024); }

double lsce_q_round_fmt(const mpq_t q, int prec, long emin_t, long emax_t) {
  mpfr_exp_t emin = mpfr_get_emin(), emax = mpfr_get_emax();
  mpfr_t t;
  mpfr_init2(t, prec);
  mpfr_set_emin(emin_t); /* the format's range (mpfr's significands lie in [1/2, 1)) */
  mpfr_set_emax(emax_t);
  int inex = mpfr_set_q(t, q, MPFR_RNDN);
  inex = mpfr_subnormalize(t, inex, MPFR_RNDN); /* one rounding, at the subnormal ulp */
  (void)inex;
  double d = mpfr_get_d(t, MPFR_RNDN);          /* exact: t is already a double */
  mpfr_set_emin(emin);
  mpfr_set_emax(emax);
  mpfr_clear(t);
  return d;
}

int lsce_ball_round(double *out, const arb_t x) {
  if (!arb_is_finite(x)) return 0;
  arf_t lo, hi;
  arf_init(lo); arf_init(hi);
  /* endpoints rounded outward to the midpoint's own bits + 64 (an exact mid - rad could need
   * millions of bits when their exponents are far apart; fewer bits than the midpoint carries could
   * land an endpoint on a rounding boundary that the value itself clears): a slightly wider
   * interval, so still a certified test */
  slong bits = arf_bits(arb_midref(x)) + 64;
  if (bits < 128) bits = 128;
  arb_get_lbound_arf(lo, x, bits);
  arb_get_ubound_arf(hi, x, bits);
  double a = lsce_arf_round(lo), b = lsce_arf_round(hi);
  /* a zero result must have a certain sign too; exact zeros never reach this function */
  int ok = (a == b) && !(a == 0.0 && (arf_sgn(lo) != arf_sgn(hi) || arf_is_zero(lo)));
  arf_clear(lo); arf_clear(hi);
  if (ok) *out = (a == 0.0 && arf_sgn(hi) < 0) ? -0.0 : a;
  return ok;
}

void lsce_arb_set_q(arb_t y, const mpq_t q, slong prec) {
  fmpq_t f;
  fmpq_init(f);
  fmpq_set_mpq(f, q);
  arb_set_fmpq(y, f, prec);
  fmpq_clear(f);
}

void lsce_q_round2(double *hi, double *lo, const mpq_t q) {
  *hi = lsce_q_round(q);
  if (!lo) return;
  if (!isfinite(*hi)) { *lo = 0; return; }
  mpq_t t;
  mpq_init(t);
  mpq_set_d(t, *hi);
  mpq_sub(t, q, t);
  *lo = lsce_q_round(t);
  mpq_clear(t);
}
