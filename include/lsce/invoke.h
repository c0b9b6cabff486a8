/* lsce/invoke.h: run one registry row on a loaded problem (used by run, verify and check). */
#ifndef LSCE_INVOKE_H
#define LSCE_INVOKE_H
#include "lsce/problem.h"
#include "lsce/registry.h"
/* loss: 1 (mean, sum) or N (none) doubles; grad: NULL or (N, K) doubles (the row's gradient in its
 * output dtype, converted exactly). */
int lsce_invoke(const lsce_impl *im, const lsce_problem *p, double *loss, double *grad,
                const char *who, lsce_err *err);
/* The same, and the exact CPU rows' escalation counts of the call (rows in V, rows recomputed on the
 * safe path, by the reference, flagged; impls/cpu/rowguard.h); all 0 for rows that keep none. */
int lsce_invoke_counted(const lsce_impl *im, const lsce_problem *p, double *loss, double *grad,
                        lsce_row_counts *counts, const char *who, lsce_err *err);
int lsce_impl_takes(const lsce_impl *im, lsce_dtype dt);
/* LSCE_OK when im computes the issue #15 options p uses (the exact CPU rows and mpi_vocab_parallel;
 * any row when p uses none); else run's exit 2 line "--impl: NAME does not take OPTION". */
int lsce_impl_takes_options(const lsce_impl *im, const lsce_problem *p, lsce_err *err);
/* 1 for the rows that compute issue #15's options (the exact CPU rows, device cpu, and mpi_vocab_parallel,
 * device mpi) */
int lsce_impl_computes_options(const lsce_impl *im);
/* LSCE_OK when im takes dt logits and its device is here; else run's error (exit 2 or 3). */
int lsce_impl_usable(const lsce_impl *im, lsce_dtype dt, lsce_err *err);
/* A native-byte-order copy of a byte-swapped file's logits (malloc'd; NULL when out of memory). */
void *lsce_native_logits(const lsce_problem *p);
#endif
