/* tests/test_liblsce_check.c: liblsce's lsce_check, lsce_run and error paths through the public
 * header only (under ASan/UBSan in the sanitize build): the reference's own values PASS within half
 * a float64 ulp (they are the exact values correctly rounded); a float32 loss one ulp above it
 * measures about 1 ulp; a gradient entry moved by 1% FAILs at its row and column; bad loss/grad
 * arrays, an unknown row and bad options give the CLI's lines and codes; a failed creation returns
 * no problem (and, under ASan, leaks nothing). The figures themselves are compared with `lsce
 * check` by tests/test_python_binding.py. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <lsce/lsce.h>

static int failed = 0;
#define EXPECT(c, ...) do { if (!(c)) { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

static const float logits[3][5] = {{0.0f, 0.2f, 0.7f, 0.1f, 0.0f},
                                   {0.0f, 0.9f, 0.2f, 0.2f, 1.0f},
                                   {1.0f, 0.2f, 0.7f, 0.9f, 1.0f}};
static const int32_t targets[3] = {2, 1, 0};

/* field by field: a struct's padding bytes are not part of its value (memcmp saw them) */
static int same_config(const lsce_config *a, const lsce_config *b) {
  return a->isa == b->isa && a->threads == b->threads && a->split == b->split && a->shards == b->shards &&
         a->keep == b->keep && a->row_reference == b->row_reference && a->cuda_inplace == b->cuda_inplace &&
         a->max_precision == b->max_precision && a->f32pass == b->f32pass && a->f32one == b->f32one &&
         a->dblone == b->dblone &&
         a->tab16 == b->tab16 &&
         a->f64one == b->f64one &&
         a->pipe == b->pipe;
}

int main(void) {
  lsce_array L = {logits, LSCE_DT_F32, 2, {3, 5}}, T = {targets, LSCE_DT_I32, 1, {3, 0}};
  lsce_options o;
  lsce_options_default(&o);
  o.variant = "k1";
  o.smoothing = "0.3";
  lsce_problem_t *p;
  lsce_error err;
  int rc = lsce_problem_create(&p, &L, &T, NULL, &o, &err);
  EXPECT(rc == LSCE_OK, "create: %s", err.message);
  if (rc) return 1;
  EXPECT(lsce_problem_rows(p) == 3 && lsce_problem_classes(p) == 5 && lsce_problem_nloss(p) == 1, "shape");
  double loss, grad[15];
  EXPECT(lsce_reference_compute(p, &loss, grad, &err) == LSCE_OK, "reference: %s", err.message);

  lsce_check_result r;
  lsce_array lo = {&loss, LSCE_DT_F64, 0, {0, 0}}, g = {grad, LSCE_DT_F64, 2, {3, 5}};
  rc = lsce_check(p, &lo, &g, LSCE_DT_F64, LSCE_DT_F64, LSCE_CHECK_MAX_ULP, LSCE_CHECK_MAX_GRAD_ULP, &r, &err);
  EXPECT(rc == LSCE_OK && r.pass && r.loss_ulp <= 0.5 && r.grad_ulp <= 0.5 && r.has_grad && r.loss_row == -1,
         "exact values: rc %d pass %d ulps %g %g", rc, r.pass, r.loss_ulp, r.grad_ulp);
  float l32 = nextafterf((float)loss, 10.0f); /* float32, judged in the logits' dtype (float32) */
  lsce_array lo32 = {&l32, LSCE_DT_F32, 1, {1, 0}};
  rc = lsce_check(p, &lo32, NULL, -1, -1, 1.0, 2.0, &r, &err);
  EXPECT(rc == LSCE_OK && r.loss_dtype == LSCE_DT_F32 && r.loss_ulp > 0.5 && r.loss_ulp <= 1.5 && !r.has_grad,
         "one float32 ulp: rc %d ulp %g", rc, r.loss_ulp);
  grad[7] *= 1.01;
  rc = lsce_check(p, &lo, &g, -1, -1, 1.0, 2.0, &r, &err);
  EXPECT(rc == LSCE_OK && !r.pass && r.grad_row == 1 && r.grad_col == 2 && r.grad_ulp > 2 && r.has_diagnosis,
         "gradient 1%%: rc %d pass %d at (%lld, %lld)", rc, r.pass, (long long)r.grad_row, (long long)r.grad_col);
  EXPECT(!strncmp(r.diagnosis, "match ", 6) && strstr(r.diagnosis, "\ncause "), "diagnosis lines: %s", r.diagnosis);
  grad[7] /= 1.01;

  /* The diagnosis is check's: k1's exact loss claimed as k at the same e is another formulation. */
  o.variant = "k";
  lsce_problem_t *pk;
  rc = lsce_problem_create(&pk, &L, &T, NULL, &o, &err);
  EXPECT(rc == LSCE_OK, "create k: %s", err.message);
  if (rc) return 1;
  rc = lsce_check(pk, &lo, NULL, -1, -1, 1.0, 2.0, &r, &err);
  EXPECT(rc == LSCE_OK && !r.pass && r.has_diagnosis && strstr(r.diagnosis, "cause formulation variant=k1 smoothing=0.3 "),
         "k1 claimed as k: rc %d pass %d: %s", rc, r.pass, r.diagnosis);
  lsce_problem_destroy(pk);

  lsce_array bad = {&loss, LSCE_DT_F64, 1, {2, 0}};
  rc = lsce_check(p, &bad, NULL, -1, -1, 1.0, 2.0, &r, &err);
  EXPECT(rc == LSCE_EINPUT && !strcmp(err.message, "loss: expected shape () or (1,) for reduction mean"), "%s", err.message);
  lsce_array gbad = {grad, LSCE_DT_F64, 2, {5, 3}};
  rc = lsce_check(p, &lo, &gbad, -1, -1, 1.0, 2.0, &r, &err);
  EXPECT(rc == LSCE_EINPUT && !strcmp(err.message, "grad: expected shape (3, 5) like the logits"), "%s", err.message);
  lsce_array ibad = {targets, LSCE_DT_I32, 1, {1, 0}};
  rc = lsce_check(p, &ibad, NULL, -1, -1, 1.0, 2.0, &r, &err);
  EXPECT(rc == LSCE_EINPUT && !strcmp(err.message, "loss: a loss must be float64, float32, float16 or uint16 (bfloat16), got int32"), "%s", err.message);
  rc = lsce_check(p, NULL, NULL, -1, -1, 1.0, 2.0, &r, &err);
  EXPECT(rc == LSCE_EINPUT && !strcmp(err.message, "--loss: missing required option (or --loss-file)"), "%s", err.message);

  double rl, rg[15];
  for (int i = 0; i < lsce_impl_count(); i++) {
    rc = lsce_run(p, lsce_impl_name(i), &rl, rg, &err);
    EXPECT(rc == LSCE_OK || rc == LSCE_EINCOMPLETE, "run %s: %d %s", lsce_impl_name(i), rc, err.message);
  }
  EXPECT(lsce_impl_name(-1) == NULL && lsce_impl_name(lsce_impl_count()) == NULL, "impl names out of range");
  rc = lsce_run(p, "nope", &rl, NULL, &err);
  EXPECT(rc == LSCE_EINPUT && !strcmp(err.message, "--impl: unknown implementation 'nope' (see lsce impls)"), "%s", err.message);

  /* the settings through the API (the library reads no environment): defaults, a rejected field
   * leaves them as they were, and every CPU kernel path (scalar, avx2, widest) gives cpu_avx2 the
   * same loss within its bound of the reference (1 ulp of float32: it is the k1 loss above) */
  lsce_config c0, c;
  lsce_config_default(&c0);
  lsce_get_config(&c);
  EXPECT(same_config(&c, &c0) && c.isa == -1 && c.keep == 1 && c.row_reference == 1 && c.max_precision == 0,
         "config defaults");
  c.isa = 7;
  rc = lsce_set_config(&c, &err);
  EXPECT(rc == LSCE_EINPUT && !strncmp(err.message, "LSCE_ISA: ", 10), "bad isa: %d %s", rc, err.message);
  c = c0;
  c.max_precision = 8;
  rc = lsce_set_config(&c, &err);
  EXPECT(rc == LSCE_EINPUT && !strcmp(err.message, "LSCE_MAX_PRECISION: must be at least 16"), "bad precision: %s", err.message);
  lsce_get_config(&c);
  EXPECT(same_config(&c, &c0), "a rejected config changes nothing");
  for (int isa = -1; isa <= 2; isa++) {
    c = c0;
    c.isa = isa;
    c.threads = 1000; /* capped at 256, as LSCE_THREADS */
    rc = lsce_set_config(&c, &err);
    lsce_config got;
    lsce_get_config(&got);
    EXPECT(rc == LSCE_OK && got.isa == isa && got.threads == 256, "set isa %d: %s", isa, err.message);
    rc = lsce_run(p, "cpu_avx2", &rl, NULL, &err);
    EXPECT(rc == LSCE_OK && fabs(rl - loss) <= ldexp(fabs(loss), -23), "cpu_avx2 at isa %d: %d %.17g vs %.17g", isa, rc, rl, loss);
  }
  lsce_set_config(&c0, &err);
  lsce_problem_destroy(p);

  /* creation errors: nothing is returned, nothing leaks */
  lsce_problem_t *q = (lsce_problem_t *)&o;
  o.smoothing = NULL;
  rc = lsce_problem_create(&q, &L, &T, NULL, &o, &err);
  EXPECT(rc == LSCE_EINPUT && q == NULL && !strcmp(err.message, "--smoothing: missing required option"), "%s", err.message);
  o.smoothing = "0.3";
  lsce_array L3 = {logits, LSCE_DT_F32, 3, {3, 5}};
  rc = lsce_problem_create(&q, &L3, &T, NULL, &o, &err);
  EXPECT(rc == LSCE_EINPUT && !strcmp(err.message, "logits: unsupported shape with 3 dimensions (at most 2 are supported)"), "%s", err.message);
  o.variant = "k2-pad-kl";
  o.pad_index = -7;
  rc = lsce_problem_create(&q, &L, &T, NULL, &o, &err);
  EXPECT(rc == LSCE_EINPUT && !strcmp(err.message, "--pad-index: not an integer: '-7'"), "%s", err.message);
  printf("%s\n", failed ? "liblsce check: FAIL" : "liblsce check: ok");
  return failed ? 1 : 0;
}
