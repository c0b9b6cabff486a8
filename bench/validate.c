/* bench/validate.c: see validate.h. The sub-problem is written as .npy files (lsce_npy_write
 * rounds doubles to the dtype; the values come from that dtype, so the files hold them exactly),
 * loaded and checked by lsce_problem_load, certified by lsce_reference, and measured by
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

static char g_tmp[4096];

static void remove_tmpdir(void) {
  if (g_tmp[0]) rmdir(g_tmp);
}

const char *lsce_bench_tmpdir(void) {
  if (g_tmp[0]) return g_tmp;
  const char *base = getenv("TMPDIR");
  snprintf(g_tmp, sizeof g_tmp, "%s/lsce-bench-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(g_tmp)) {
    g_tmp[0] = '\0';
    return NULL;
  }
  atexit(remove_tmpdir);
  return g_tmp;
}

/* A certified reference for the sampled rows of one (dtype, N, K). */
typedef struct ref_entry {
  struct ref_entry *next;
  lsce_dtype dt;
  int64_t N, K;
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
    if (r->dt == in->dt && r->N == in->N && r->K == in->K) return r;
  const char *dir = lsce_bench_tmpdir();
  if (!dir) {
    snprintf(msg, msgn, "validation: cannot create a temporary directory");
    return NULL;
  }
  ref_entry *r = calloc(1, sizeof *r);
  const int64_t K = in->K;
  double *z = r ? malloc(sizeof(double) * (size_t)(3 * K)) : NULL;
  if (!z) {
    free(r);
    snprintf(msg, msgn, "validation: out of memory");
    return NULL;
  }
  r->dt = in->dt;
  r->N = in->N;
  r->K = K;
  r->nr = sample_rows(r->rows, in->N);
  double t[3];
  for (int k = 0; k < r->nr; k++) {
    for (int64_t c = 0; c < K; c++) z[k * K + c] = lsce_ld(in->logits, in->dt, r->rows[k] * K + c);
    t[k] = (double)in->targets[r->rows[k]];
  }
  char lp[4200], tp[4200];
  snprintf(lp, sizeof lp, "%s/logits.npy", dir);
  snprintf(tp, sizeof tp, "%s/targets.npy", dir);
  int64_t zshape[2] = {r->nr, K}, tshape[1] = {r->nr};
  lsce_err err = {0};
  int rc = lsce_npy_write(lp, in->dt, z, 2, zshape, &err);
  if (!rc) rc = lsce_npy_write(tp, LSCE_DT_I64, t, 1, tshape, &err);
  free(z);
  lsce_problem_init(&r->prob);
  r->prob.variant = LSCE_V_K;
  lsce_bench_smoothing(r->prob.e);
  r->prob.reduction = LSCE_RED_NONE;
  if (!rc) rc = lsce_problem_load(&r->prob, lp, tp, NULL, &err);
  unlink(lp); /* the loaded arrays stay mapped */
  unlink(tp);
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
