/* lsce/certify.h: the fast certifier (verify/certify.c): every output as a double-double hi + lo
 * with a rigorous absolute error bound (loss_err per loss output, grad_err per gradient row;
 * INFINITY where it cannot bound the error), in a lsce_ref_result like the reference's. */
#ifndef LSCE_CERTIFY_H
#define LSCE_CERTIFY_H
#include "lsce/reference.h"
int lsce_certify_fast(lsce_ref_result *r, const lsce_problem *p, int want_grad, int threads, lsce_err *err);
#endif
