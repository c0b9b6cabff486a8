/* fuzz_diff.c: differential libFuzzer target for the exact CPU rows (issue #11). Each input becomes
 * a small problem with extreme values (any dtype, variant, reduction, smoothing from a list of exact
 * rationals, weights, masked classes, a pad class; logits and weights drawn from a palette of
 * range edges: +-max finite of each dtype, subnormals, 1e30, 1e300, -inf, and raw bit patterns) and
 * asserts that every exact CPU row, at every ISA (LSCE_ISA scalar, avx2, avx512), is within its
 * declared bound (lsce impls --json) of the certified reference, as `lsce check` measures it
 * (verify/measure.c), unless the row reports the row as flagged (its escalation ladder could not
 * guarantee the bound), which is allowed only with the reference rung off. The first input byte's low bit switches
 * the rows' reference rung off (lsce_row_reference_disable), so both ladders are exercised.
 * With LSCE_FUZZ_CERTIFIER=1 it also asserts that verify's fast certifier, where it claims its
 * figure (lsce_measure_doubt below 2^-20), agrees with the reference's figure within 2^-20 ulp.
 * With LSCE_FUZZ_WIDE=1 (issue #12) the rows are wider (K up to min_K + 69, so the SIMD rows' vector
 * loops and the float32 pass's blocks of four vectors run) and the logits are drawn mostly inside the
 * single pass's guard [-80, 80] (logit_wide: ties, +-80 and the floats just beyond, rare -inf), so
 * that pass's own path and its fallbacks are fuzzed; every SIMD row then also runs with LSCE_F32ONE=0.
 * Rarely a logit sits on (or just beyond) another single pass's guard (guard_edges).
 * Inputs whose reference gives up within 4096 bits are skipped (the reference's own issue).
 * Failures print the problem and abort (libFuzzer keeps the input). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/rowguard.h"
#include "lsce/megatron.h"
#include "lsce/certify.h"
#include "lsce/config.h"
#include "lsce/invoke.h"
#include "lsce/reference.h"
#include "lsce/registry.h"
#include "lsce/measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct { const uint8_t *p; size_t n; } src;
static unsigned next(src *s) {
  if (!s->n) return 0;
  s->n--;
  return *s->p++;
}
static uint64_t next64(src *s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | next(s);
  return v;
}

/* a logit: palette entries at the range edges, or raw bits (NaN and +inf folded away) */
static double logit_of(src *s, lsce_dtype dt) {
  static const double top[4] = {DBL_MAX, FLT_MAX, 65504.0, 3.3895313892515355e38};
  static const double sub[4] = {5e-324, 1.401298464324817e-45, 5.960464477539063e-08, 9.183549615799121e-41};
  unsigned b = next(s);
  double T = top[dt], S = sub[dt];
  switch (b % 16) {
  case 0: return 0.0;
  case 1: return -INFINITY;
  case 2: return T;
  case 3: return -T;
  case 4: return T / 3;
  case 5: return -T / 2;
  case 6: return S;
  case 7: return -S * 3;
  case 8: return dt == LSCE_DT_F16 ? 6e4 : 1e30;
  case 9: return dt == LSCE_DT_F16 ? -6e4 : -1e30;
  case 10: return dt == LSCE_DT_F64 ? -1e300 : -1e38;
  case 11: return (double)(int8_t)next(s);
  case 12: return (double)(int8_t)next(s) / 16.0;
  default: {
    uint64_t u = next64(s);
    double v;
    memcpy(&v, &u, 8);
    if (isnan(v) || v == INFINITY) v = 1.5;
    return v;
  }
  }
}

/* a logit of the wide mode (LSCE_FUZZ_WIDE=1): mostly moderate (|z| <= 4, so that most rows are not
 * confident and the float32 pass's bound keeps them), with ties (1, 2, 3, 4), and rarely (1/256)
 * +-80 (the single pass's guard), the floats just beyond (two passes) and -inf (masked) */
/* the guards of the other single passes (issue #12, eighth session): the double single pass of narrow
 * rows [-700, 680] (simd_dblone.inc), the float64 single pass [-600, 600] (simd_f64pass.inc), the
 * 16-bit table's finite range (|z| <= 640, simd_tab16.inc), each with the values just beyond */
static const double guard_edges[] = {680.0, 0x1.540002p9 /* the next float */, -700.0, -0x1.5e0002p9, 600.0,
                                     -600.0, 0x1.2c00000000001p9, -0x1.2c00000000001p9, 640.0, -640.0,
                                     0x1.404p9 /* the next float16 */, -0x1.404p9, 0x1.42p9 /* the next bfloat16 */,
                                     88.0, -104.0, 709.0};

static double logit_wide(src *s) {
  unsigned b = next(s);
  const int rare = ((b >> 3) & 15) == 0 && (b & 128);
  double sg = (b & 128) ? -1.0 : 1.0;
  switch (b % 8) {
  case 1: return rare ? guard_edges[next(s) % (sizeof guard_edges / sizeof guard_edges[0])] : (double)(int8_t)next(s) / 32.0;
  case 2: return rare ? ((next(s) & 1) ? -80.0 : 80.0) : (double)(int8_t)next(s) / 64.0;
  case 3: return rare ? ((next(s) & 1) ? -0x1.400002p6 : 0x1.400002p6) : sg * 0x1.3ffffep6 / 32; /* 80 + 2^-17 (beyond) */
  case 4: return (double)(1 + next(s) % 4); /* ties */
  case 5: return sg * 0x1p-30 * (double)next(s);
  case 6: return (double)(int8_t)next(s) * 0x1.62e42fefa39efp-6; /* multiples of ln2 / 16: near ties of k */
  case 7: return rare ? -INFINITY : (double)(int8_t)next(s) / 32.0;
  default: return (double)(int8_t)next(s) / 32.0;
  }
}

static double weight_of(src *s) {
  static const double pal[] = {0.0, 1.0, 0.5, 2.0, 1e300, 1.7e308, 1e-310, 5e-324, 1e-300, 3.0, 1e10, 7.25};
  unsigned b = next(s);
  if (b < 240) return pal[b % (sizeof pal / sizeof pal[0])];
  uint64_t u = next64(s) & 0x7fffffffffffffffULL;
  double v;
  memcpy(&v, &u, 8);
  return isfinite(v) ? v : 1.0;
}

static const char *eps[] = {"0", "1", "1/2", "1/10", "9999/10000", "1/3", "2/3", "1/1000000"};

static void view(lsce_npy *a, lsce_dtype dt, int ndim, int64_t n0, int64_t n1, const void *d) {
  memset(a, 0, sizeof *a);
  a->dtype = dt; a->ndim = ndim; a->shape[0] = n0; a->shape[1] = n1; a->count = n0 * n1;
  a->data = (const unsigned char *)d;
}

static void store(void *z, lsce_dtype dt, int64_t i, double v) {
  switch (dt) {
  case LSCE_DT_F64: ((double *)z)[i] = v; break;
  case LSCE_DT_F32: ((float *)z)[i] = (float)v; break;
  case LSCE_DT_F16: ((uint16_t *)z)[i] = lsce_double_to_f16(v); break;
  default: ((uint16_t *)z)[i] = lsce_double_to_bf16(v); break;
  }
}

static void dump(const lsce_problem *p, const char *what) {
  fprintf(stderr, "fuzz_diff: %s\n  dtype %s variant %s reduction %d e ", what, lsce_dtype_name(p->logits.dtype),
          lsce_variants[p->variant].id, (int)p->reduction);
  mpq_out_str(stderr, 10, p->e);
  fprintf(stderr, " N %lld K %lld pad %lld\n", (long long)p->N, (long long)p->K, (long long)p->pad_index);
  for (int64_t i = 0; i < p->N; i++) {
    fprintf(stderr, "  row %lld target %lld:", (long long)i, (long long)lsce_target(p, i));
    for (int64_t c = 0; c < p->K; c++) fprintf(stderr, " %a", lsce_logit(p, i, c));
    fprintf(stderr, "\n");
  }
  if (p->has_weights) {
    fprintf(stderr, "  weights:");
    for (int64_t c = 0; c < p->K; c++) fprintf(stderr, " %a", lsce_weight(p, c));
    fprintf(stderr, "\n");
  }
}

/* lsce_measure, or the input dumped and abort() when it runs out of memory */
static void measure_or_die(lsce_measure_t *m, const lsce_problem *p, const lsce_ref_result *ref, const double *loss,
                           const double *grad, lsce_dtype ldt, lsce_dtype gdt) {
  if (lsce_measure(m, p, ref, loss, grad, ldt, gdt)) { dump(p, "lsce_measure: out of memory"); abort(); }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  src s = {data, size};
  unsigned h = next(&s);
  lsce_row_reference_disable(h & 1);
  lsce_dtype dt = (lsce_dtype)((h >> 1) & 3);
  int variant = (int)(next(&s) % LSCE_V_COUNT);
  /* the rows compute the softmax catalog only (issue #15's sigmoid family has no row yet) */
  while (strcmp(lsce_variants[variant].family, "softmax")) variant = (variant + 1) % LSCE_V_COUNT;
  const lsce_variant *vd = &lsce_variants[variant];
  lsce_reduction red = (lsce_reduction)(next(&s) % 3);
  const char *wide_env = getenv("LSCE_FUZZ_WIDE");
  const int wide = wide_env && !strcmp(wide_env, "1");
  int64_t K = vd->min_K + (int64_t)(next(&s) % (wide ? 70 : 5));
  int64_t N = 1 + (int64_t)(next(&s) % 3);
  void *z = calloc((size_t)(N * K), 8);
  int64_t t[3];
  double w[80];
  for (int64_t i = 0; i < N * K; i++) {
    store(z, dt, i, wide ? logit_wide(&s) : logit_of(&s, dt));
    double back = dt == LSCE_DT_F64 ? ((double *)z)[i] : dt == LSCE_DT_F32 ? (double)((float *)z)[i]
                : dt == LSCE_DT_F16 ? lsce_f16_to_double(((uint16_t *)z)[i]) : lsce_bf16_to_double(((uint16_t *)z)[i]);
    if (isnan(back) || back == INFINITY) store(z, dt, i, 1.0); /* a legal input: no NaN, no +inf logit */
  }
  for (int64_t i = 0; i < N; i++) t[i] = (int64_t)(next(&s) % (unsigned)K);
  for (int64_t c = 0; c < K; c++) w[c] = weight_of(&s);
  lsce_problem p;
  memset(&p, 0, sizeof p);
  view(&p.logits, dt, 2, N, K, z);
  view(&p.targets, LSCE_DT_I64, 1, N, 1, t);
  if (vd->needs_weights) { view(&p.weights, LSCE_DT_F64, 1, K, 1, w); p.has_weights = 1; }
  p.N = N; p.K = K; p.variant = variant; p.reduction = red; p.ignore_index = -100;
  p.pad_index = vd->needs_pad_index ? (int64_t)(next(&s) % (unsigned)K) : -1;
  mpq_init(p.e);
  mpq_set_str(p.e, eps[next(&s) % (sizeof eps / sizeof eps[0])], 10);
  mpq_canonicalize(p.e);
  if (vd->weighting == LSCE_W_SHARD) { /* k1-megatron: T = 2 where K allows, else 1; lsce refuses e' > 1 */
    p.tp = (K % 2 == 0 && K >= 4) ? 2 : 1;
    p.rank = (int64_t)(next(&s) % (unsigned)p.tp);
    if (lsce_megatron_invalid(p.e, K, p.tp)) { mpq_clear(p.e); free(z); return 0; }
  }
  /* the certified reference; with lo when it can, else hi only (then 1/2 ulp more is allowed) */
  lsce_ref_opts o;
  lsce_ref_opts_default(&o);
  o.max_prec = 4096;
  o.want_grad = 1;
  o.want_lo = 1;
  lsce_err err;
  lsce_ref_result ref;
  double slack = 0;
  if (lsce_reference(&ref, &p, &o, "fuzz", &err)) {
    o.want_lo = 0;
    slack = 0.5;
    if (lsce_reference(&ref, &p, &o, "fuzz", &err)) { mpq_clear(p.e); free(z); return 0; }
  }
  lsce_dtype ldt = lsce_loss_dtype_for(dt);
  /* Exact values beyond the measured dtype's range (a float16 gradient of 1e300): the metric's
   * rounds-to-inf rule is settled elsewhere (reference/ulp.c); such inputs are skipped. */
  static const double fmax_of[4] = {DBL_MAX, FLT_MAX, 65504.0, 3.3895313892515355e38};
  int out_of_range = 0;
  for (int64_t i = 0; i < ref.nloss; i++) if (isfinite(ref.loss[i]) && fabs(ref.loss[i]) >= fmax_of[ldt]) out_of_range = 1;
  for (int64_t i = 0; i < N * K; i++) if (isinf(ref.grad[i]) || fabs(ref.grad[i]) >= fmax_of[dt]) out_of_range = 1;
  if (out_of_range) { lsce_ref_result_free(&ref); mpq_clear(p.e); free(z); return 0; }
  double *loss = calloc((size_t)(ref.nloss > 0 ? ref.nloss : 1), sizeof(double));
  double *grad = calloc((size_t)(N * K), sizeof(double));
  static const char *isas[] = {"scalar", "avx2", "avx512"};
  const int f32_default = lsce_config_get()->f32pass, pipe_default = lsce_config_get()->pipe;
  for (int k = 0; k < lsce_nimpls; k++) {
    const lsce_impl *im = &lsce_impls[k];
    if (strcmp(im->device, "cpu") || strcmp(im->tier, "exact") || !lsce_impl_takes(im, dt) || !im->available()) continue;
    for (int a2 = 0; a2 < 9; a2++) {
      /* LSCE_ISA=isas[a], and the float32 first pass as configured (whole rows of >= 2048 classes, so
       * never at these sizes) or on every slice (LSCE_F32PASS=all): its bounds, gradient sweep
       * included; in the wide mode also on every slice with its single pass off (LSCE_F32ONE=0); with
       * the float32 pass on every slice, the software pipeline of forward+backward rows on every call
       * too (LSCE_PIPE=all: float32 rows of 16 classes or more) */
      const int a = a2 / 3, f32all = a2 % 3 != 0, one_off = a2 % 3 == 2;
      if (one_off && !wide) continue;
      lsce_config cf = *lsce_config_get();
      cf.isa = a;
      cf.f32pass = f32all ? 2 : f32_default;
      cf.f32one = !one_off;
      cf.pipe = f32all ? 2 : pipe_default;
      lsce_config_set(&cf);
      lsce_row_counts cnt;
      if (lsce_invoke_counted(im, &p, loss, grad, &cnt, "fuzz", &err)) { dump(&p, err.line); abort(); }
      lsce_measure_t m;
      measure_or_die(&m, &p, &ref, loss, grad, ldt, dt);
      const lsce_bound *b = &im->bounds[dt];
      int ok = m.loss_ulp <= b->loss_ulp + slack && m.grad_ulp <= b->grad_ulp + slack;
      if ((!ok && cnt.flagged == 0) || (cnt.flagged && !(h & 1))) { /* flagged only with the rung off */
        char line[256];
        snprintf(line, sizeof line, "%s (LSCE_ISA=%s%s%s, reference rung %s): loss %.4g ulp (bound %g), grad %.4g ulp (bound %g) "
                 "row %lld col %lld; escalated %lld, reference %lld, flagged %lld", im->name, isas[a], f32all ? ", LSCE_F32PASS=all" : "", one_off ? ", LSCE_F32ONE=0" : "", (h & 1) ? "off" : "on",
                 m.loss_ulp, b->loss_ulp, m.grad_ulp, b->grad_ulp, (long long)m.grad_row, (long long)m.grad_col,
                 (long long)cnt.safe, (long long)cnt.reference, (long long)cnt.flagged);
        dump(&p, line);
        abort();
      }
      /* the wide mode's forward-only call (the float32 pass runs forward calls without the gradient's
       * tighter bound, so more of its rows keep its statistics): unweighted variants only, as verify
       * (cli/cmd_verify.c: a weighted reduction's forward-only ladder has an older fault) */
      if (wide && f32all && !vd->needs_weights) {
        if (lsce_invoke_counted(im, &p, loss, NULL, &cnt, "fuzz", &err)) { dump(&p, err.line); abort(); }
        measure_or_die(&m, &p, &ref, loss, NULL, ldt, dt);
        if ((m.loss_ulp > b->loss_ulp + slack && cnt.flagged == 0) || (cnt.flagged && !(h & 1))) {
          char line[256];
          snprintf(line, sizeof line, "%s forward only (LSCE_ISA=%s, LSCE_F32PASS=all%s, reference rung %s): loss %.4g ulp "
                   "(bound %g) row %lld; escalated %lld, reference %lld, flagged %lld", im->name, isas[a],
                   one_off ? ", LSCE_F32ONE=0" : "", (h & 1) ? "off" : "on", m.loss_ulp, b->loss_ulp,
                   (long long)m.loss_row, (long long)cnt.safe, (long long)cnt.reference, (long long)cnt.flagged);
          dump(&p, line);
          abort();
        }
      }
      if (im->isa == lsce_isa_scalar) break; /* one ISA and no float32 pass is all a scalar row has */
    }
  }
  { lsce_config cf = *lsce_config_get(); cf.isa = -1; cf.f32pass = f32_default; cf.f32one = 1; cf.pipe = pipe_default; lsce_config_set(&cf); }
  /* the fast certifier against the reference, where it claims its figure */
  const char *cf = getenv("LSCE_FUZZ_CERTIFIER");
  if (cf && !strcmp(cf, "1") && o.want_lo) {
    lsce_ref_result fr;
    if (lsce_certify_fast(&fr, &p, 1, 1, &err) == 0) {
      if (lsce_measure_doubt(&p, &fr, ldt, dt) <= LSCE_DOUBT_MAX) {
        const lsce_impl *im = lsce_impl_find("cpu_twopass");
        lsce_invoke(im, &p, loss, grad, "fuzz", &err);
        lsce_measure_t m1, m2;
        measure_or_die(&m1, &p, &ref, loss, grad, ldt, dt);
        measure_or_die(&m2, &p, &fr, loss, grad, ldt, dt);
        /* equal figures agree, infinite ones included (a flagged row's output, rung off) */
        int agree = (m1.loss_ulp == m2.loss_ulp || fabs(m1.loss_ulp - m2.loss_ulp) <= 0x1p-19) &&
                    (m1.grad_ulp == m2.grad_ulp || fabs(m1.grad_ulp - m2.grad_ulp) <= 0x1p-19);
        if (!agree) {
          char line[200];
          snprintf(line, sizeof line, "fast certifier: loss %.6g ulp vs reference %.6g, grad %.6g vs %.6g",
                   m2.loss_ulp, m1.loss_ulp, m2.grad_ulp, m1.grad_ulp);
          dump(&p, line);
          abort();
        }
      }
      lsce_ref_result_free(&fr);
    }
  }
  lsce_row_reference_disable(0);
  free(loss);
  free(grad);
  lsce_ref_result_free(&ref);
  mpq_clear(p.e);
  free(z);
  return 0;
}
