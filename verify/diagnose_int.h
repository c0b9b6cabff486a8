/* verify/diagnose_int.h: what verify/diagnose.c shares with verify/diagnose_opts.c (internal to verify/;
 * not installed). */
#ifndef LSCE_DIAGNOSE_INT_H
#define LSCE_DIAGNOSE_INT_H
#include "lsce/diagnose.h"

/* appends a candidate (e as printed: s, or e's decimal when s is NULL); NULL when out of memory */
lsce_dg_cand *lsce_dg_add(lsce_diagnosis *d, int v, int red, int src, const char *conv, const mpq_t e,
                          const char *s);
/* the shortest decimal in [a, b] within [0, 1], nearest to es among those of that length (0: none) */
int lsce_dg_shortest(mpq_t q, char *str, size_t n, double a, double b, double es);
int lsce_dg_sig_digits(const char *s);
/* |y - r| / n, 0 for equal values; a NaN matches a NaN only when nan_ok */
double lsce_dg_score1(double y, double r, double n, int nan_ok);

/* The issue #15 option candidates (verify/diagnose_opts.c, docs/cli.md "The diagnosis", step 6):
 * the user's problem with one option changed, each computed by the reference at the claimed
 * reduction and e, scored against every value. with_claim: the claim itself is added first (an
 * options problem, which the catalog's affine model does not cover) and *claim gets its index.
 * Returns LSCE_OK or LSCE_EINCOMPLETE (out of memory); a candidate the reference cannot evaluate is
 * left out. */
int lsce_dg_options(lsce_diagnosis *d, const lsce_dg_input *in, const lsce_ref_opts *ro, int with_claim,
                    int *claim);
#endif
