/* lsce/certify.h: verify's fast certifier (impls/certify.c): the exact values as double-double
 * (hi, lo) within 2^-80 of their magnitude before cancellation; a lsce_ref_result like the
 * reference's (want_grad and want_lo always on). */
#ifndef LSCE_CERTIFY_H
#define LSCE_CERTIFY_H
#include "lsce/reference.h"
#define LSCE_CERTIFY_REL 0x1p-80
int lsce_certify_fast(lsce_ref_result *r, const lsce_problem *p, int threads, lsce_err *err);
#endif
