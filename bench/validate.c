/* bench/validate.c: see validate.h. The sub-problem (the sampled rows' bytes, exact in their dtype)
 * is an in-memory problem checked by lsce_problem_from_memory, certified by lsce_reference, and measured by
 * lsce_measure (verify/measure.c), the same code `lsce check` and `lsce verify` use. */
#include "validate.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench_util.h"
#include "cpu/elem.h"
#include "lsce/reference.h"
#include "lsce/measure.h"

void lsce_bench_smoothing(mpq_t e) { mpq_set_ui(e, 1, 10); }

/* A certified reference for the sampled rows of one (dtype, N, K, kind of rows). */
typedef struct ref_entry {
  struct ref_entry *next;
  lsce_dtype dt;
  int64_t N, K;
  int trained; /* the inputs' kind (bench/inputs.h) */
  int nr;
  int64_t rows[3];
  lsce_problem prob;       /* nr x K, reduction none */
  lsce_ref_result ref;     /* loss, loss_lo, grad, grad_lo */
} ref_entry;

static ref_entry *g_refs;

static int sample_rows(int64_t *rows, int64_t N) {
  int64_t c[3] = {0, N / 2, N - 1};
  int n = 0;
  for (int k = 0; k < 3; k++) {
    int dup = 0;
    for (int j = 0; j < n; j++) dup |= rows[j] == c[k];
    if (!dup) rows[n++] = c[k];
  }
  return n;
}

static ref_entry *reference_for(const lsce_bench_inputs *in, char *msg, size_t msgn) {
  for (ref_entry *r = g_refs; r; r = r->next)
    if (r->dt == in->dt && r->N == in->N && r->K == in->K && r->trained == in->trained) return r;
  ref_entry *r = calloc(1, sizeof *r);
  const int64_t K = in->K;
  const size_t es = lsce_dtype_size(in->dt);
  unsigned char *z = r ? malloc(es * (size_t)(3 * K > 0 ? 3 * K : 1)) : NULL;
  int64_t *t = r ? malloc(sizeof(int64_t) * 3) : NULL;
  if (!z || !t) {
    free(r);
    free(z);
    free(t);
    snprintf(msg, msgn, "validation: out of memory");
    return NULL;
  }
  r->dt = in->dt;
  r->N = in->N;
  r->trained = in->trained;
  r->K = K;
  r->nr = sample_rows(r->rows, in->N);
  for (int k = 0; k < r->nr; k++) { /* the sampled rows' bytes, exact in their dtype */
    memcpy(z + (size_t)k * (size_t)K * es, (const unsigned char *)in->logits + (size_t)r->rows[k] * (size_t)K * es,
           (size_t)K * es);
    t[k] = in->targets[r->rows[k]];
  }
  lsce_err err = {0};
  lsce_problem_init(&r->prob);
  r->prob.variant = LSCE_V_K;
  lsce_bench_smoothing(r->prob.e);
  r->prob.reduction = LSCE_RED_NONE;
  int rc = lsce_problem_from_memory(&r->prob, in->dt, r->nr, K, z, t, NULL, 1, &err);
  if (!rc) {
    lsce_ref_opts o;
    lsce_ref_opts_default(&o);
    rc = lsce_ref_opts_env(&o, &err);
    o.want_grad = 1;
    o.want_lo = 1;
    if (!rc) rc = lsce_reference(&r->ref, &r->prob, &o, "lsce-bench", &err);
  }
  if (rc) {
    snprintf(msg, msgn, "validation: reference of the sampled rows failed: %.560s", err.line);
    lsce_problem_clear(&r->prob);
    free(r);
    return NULL;
  }
  r->next = g_refs;
  g_refs = r;
  return r;
}

/* Sub-problem row k as a row of the timed input. */
static long long row_of(const ref_entry *r, int64_t k) {
  return k >= 0 && k < r->nr ? (long long)r->rows[k] : -1;
}

int lsce_validate(lsce_val_result *out, const lsce_impl *im, const lsce_bench_inputs *in,
                  void *grad) {
  const int64_t N = in->N, K = in->K;
  out->loss_ulp = out->grad_ulp = out->call_s = 0;
  memset(&out->counts, 0, sizeof out->counts);
  out->msg[0] = '\0';
  ref_entry *r = reference_for(in, out->msg, sizeof out->msg);
  if (!r) return 2;
  double *loss = malloc(sizeof(double) * (size_t)N);
  double *g3 = grad ? malloc(sizeof(double) * (size_t)(r->nr * K)) : NULL;
  if (!loss || (grad && !g3)) {
    free(loss);
    free(g3);
    snprintf(out->msg, sizeof out->msg, "validation: out of memory");
    return 2;
  }
  mpq_t e;
  mpq_init(e);
  lsce_bench_smoothing(e);
  lsce_params prm;
  lsce_params_init(&prm, LSCE_V_K, LSCE_RED_NONE, e, N, K, in->targets, NULL, -100, -1);
  mpq_clear(e);
  prm.counts = &out->counts;
  lsce_call call = {.logits = in->logits, .dtype = in->dt, .N = N, .K = K, .targets = in->targets,
                    .weights = NULL, .prm = &prm, .dd = in->dt == LSCE_DT_F64};
  /* poison what is checked, so an unwritten element fails */
  for (int64_t i = 0; i < N; i++) loss[i] = NAN;
  size_t es = lsce_dtype_size(in->dt);
  if (grad)
    for (int k = 0; k < r->nr; k++)
      memset((unsigned char *)grad + (size_t)(r->rows[k] * K) * es, 0x88, (size_t)K * es);
  double t0 = lsce_bench_now();
  int rc = im->fn(loss, grad, in->dt, &call);
  out->call_s = lsce_bench_now() - t0;
  if (rc) {
    snprintf(out->msg, sizeof out->msg, "validation: %s returned status %d (N=%lld K=%lld)",
             im->name, rc, (long long)N, (long long)K);
    free(loss);
    free(g3);
    return 2;
  }
  double l3[3];
  for (int k = 0; k < r->nr; k++) {
    l3[k] = loss[r->rows[k]];
    if (g3)
      for (int64_t c = 0; c < K; c++) g3[k * K + c] = lsce_ld(grad, in->dt, r->rows[k] * K + c);
  }
  lsce_dtype ldt = lsce_loss_dtype_for(in->dt);
  lsce_measure_t m;
  lsce_measure(&m, &r->prob, &r->ref, l3, g3, ldt, in->dt);
  out->loss_ulp = m.loss_ulp;
  out->grad_ulp = g3 ? m.grad_ulp : 0;
  const lsce_bound *b = &im->bounds[in->dt];
  int fail = 0;
  if (!(m.loss_ulp <= b->loss_ulp)) {
    snprintf(out->msg, sizeof out->msg,
             "FAIL impl=%s dtype=%s N=%lld K=%lld variant=k e=0.1 row=%lld loss ulp=%.3g bound=%g "
             "ref=%a got=%a seed=0x%x", im->name, lsce_dtype_name(in->dt), (long long)N,
             (long long)K, row_of(r, m.loss_row), m.loss_ulp, b->loss_ulp, m.loss_ref,
             m.loss_got, LSCE_BENCH_SEED);
    fail = 1;
  } else if (g3 && !(m.grad_ulp <= b->grad_ulp)) {
    snprintf(out->msg, sizeof out->msg,
             "FAIL impl=%s dtype=%s N=%lld K=%lld variant=k e=0.1 row=%lld col=%lld grad ulp=%.3g "
             "bound=%g ref=%a got=%a seed=0x%x", im->name, lsce_dtype_name(in->dt), (long long)N,
             (long long)K, row_of(r, m.grad_row), (long long)m.grad_col, m.grad_ulp,
             b->grad_ulp, m.grad_ref, m.grad_got, LSCE_BENCH_SEED);
    fail = 1;
  }
  free(loss);
  free(g3);
  return fail;
}
