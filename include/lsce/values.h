/* lsce/values.h: the value grammars of docs/cli.md "Arguments" (core/values.c), shared by the
 * command line and liblsce. */
#ifndef LSCE_VALUES_H
#define LSCE_VALUES_H
#include <gmp.h>
#include <stdint.h>
#include "lsce/npy.h"

/* Value grammars. Each returns LSCE_OK or sets err naming the option. */
int lsce_parse_smoothing(mpq_t e, const char *s, const char *opt, lsce_err *err);
int lsce_parse_int64(int64_t *v, const char *s, int allow_sign, const char *opt, lsce_err *err);
/* float64 | float32 | float16 | bfloat16 -> lsce_dtype, or -1 */
int lsce_parse_dtype(const char *v);
/* --max-ulp: a decimal >= 0 or inf */
int lsce_parse_ulp(double *v, const char *s, const char *opt, lsce_err *err);
/* --loss: the smoothing grammar with an optional '-', a C99 hex float, inf, -inf or nan. Stores the
 * exact rational in q (when finite), the double nearest in *d, and the number of the last typed
 * digit's unit (half of it is the typed tolerance) in halfunit (0 for hex floats and non-finite). */
int lsce_parse_loss(mpq_t q, double *d, mpq_t halfunit, int *finite, const char *s, const char *opt,
                    lsce_err *err);
#endif
