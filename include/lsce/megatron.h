/* lsce/megatron.h: Megatron-LM's tensor-parallel partition form of label smoothing (catalog id
 * k1-megatron, docs/formulations.md "k1-megatron"), as exact rationals. With T ranks each holding
 * V_p = K / T classes, rank r's loss per row is
 *   L_r = (1 - e') (-lp_y) + (e' / V_p) sum_{c in S_r} (-lp_c),   e' = e V_p / (V_p - 1),
 * S_r = [r V_p, (r + 1) V_p), lp the global log-probabilities. So kappa_c = a [c == y] + b [c in S_r]
 * with a = 1 - e' and b = e' / V_p, and sum_c kappa_c = 1. Nothing here rounds. */
#ifndef LSCE_MEGATRON_H
#define LSCE_MEGATRON_H
#include <gmp.h>
#include <stdint.h>

/* T when --tp was given, else 1 (the problem's tp field is 0 then): at T = 1 the form is k1. */
static inline int64_t lsce_megatron_T(int64_t tp) { return tp > 0 ? tp : 1; }

/* The shard of rank r: [lo, hi). Requires K % T == 0. */
static inline void lsce_megatron_shard(int64_t K, int64_t T, int64_t r, int64_t *lo, int64_t *hi) {
  int64_t vp = K / T;
  *lo = r * vp;
  *hi = *lo + vp;
}

/* a = 1 - e' and b = e' / V_p exactly (V_p = K / T >= 2). */
static inline void lsce_megatron_coeffs(mpq_t a, mpq_t b, const mpq_t e, int64_t K, int64_t T) {
  int64_t vp = K / T;
  mpq_t t;
  mpq_init(t);
  mpq_set_si(t, (long)vp, (unsigned long)(vp - 1));
  mpq_mul(t, t, e);                 /* e' */
  mpq_set_ui(a, 1, 1);
  mpq_sub(a, a, t);
  mpq_set_si(b, (long)vp, 1);
  mpq_div(b, t, b);
  mpq_clear(t);
}

/* The problem's --tp against K and e, in this order: K % T == 0, K >= 2T, e' <= 1. Returns 0 when
 * they hold, else 1, 2 or 3 (which one failed), for the caller's message. */
static inline int lsce_megatron_invalid(const mpq_t e, int64_t K, int64_t T) {
  if (T < 1 || K % T != 0) return 1;
  if (K < 2 * T) return 2;
  mpq_t a, b;
  mpq_inits(a, b, NULL);
  lsce_megatron_coeffs(a, b, e, K, T);
  int bad = mpq_sgn(a) < 0;
  mpq_clears(a, b, NULL);
  return bad ? 3 : 0;
}

/* The cross-check of a k1-megatron problem (docs/cli.md "Errors"): --tp against K and e, one
 * `--tp:` message; LSCE_OK otherwise (and for every other variant). */
#ifdef LSCE_PROBLEM_H
static inline int lsce_megatron_check(const lsce_problem *p, lsce_err *err) {
  if (p->variant < 0 || !lsce_variant_needs_tp(p->variant)) return LSCE_OK;
  const int64_t T = lsce_megatron_T(p->tp), K = p->K;
  switch (lsce_megatron_invalid(p->e, K, T)) {
  case 1:
    return lsce_err_set(err, LSCE_EINPUT, "--tp: %lld does not divide K = %lld", (long long)T, (long long)K);
  case 2:
    return lsce_err_set(err, LSCE_EINPUT, "--tp: %lld ranks need K >= %lld classes (2 per rank), the logits have %lld",
                        (long long)T, (long long)(2 * T), (long long)K);
  case 3:
    return lsce_err_set(err, LSCE_EINPUT, "--tp: at %lld ranks (V_p = %lld classes each) the smoothing "
                        "e' = e V_p/(V_p-1) exceeds 1: 1 - e' would be negative",
                        (long long)T, (long long)(K / T));
  }
  return LSCE_OK;
}
#endif
#endif
