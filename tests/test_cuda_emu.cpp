/* tests/test_cuda_emu.cpp FIXTURES_DIR: the CUDA rows emulated on the host (suite quick). It runs
 * impls/cuda/rowkern.h, the functions the kernels of impls/cuda/rowblock.cu are made of, with the
 * kernels' decomposition: blocks of 256 threads, every thread's strided partial statistics, the
 * shared-memory tree level by level, cuda_split's slice partials merged in slice order and its rows
 * looping over gridDim.y (capped at 65535), the gradient written to a separate buffer or in place.
 * What differs from the device: the launch, and the device's exp (libdevice, 1 ulp) instead of
 * glibc's here; --fmad=false makes the device's other operations the IEEE ones written.
 *
 * Each emulated row is compared with the CPU row cpu_online (one sequential online pass per row)
 * on the committed fixtures (every variant, smoothing and reduction of the manifest; float64 cases
 * are not CUDA inputs), on random rows and on adversarial rows (gaps of 100 and 10^4, -inf masks
 * up to whole rows and the target, ties across threads, K = 1, K = 2, K = 70000 (3 slices),
 * N = 70000 (split rows beyond gridDim.y's 65535)). Both sides check every row with the same bound
 * (impls/rowbound.h; the emulated rows on the "device", rowkern.h lsce_cu_row_guard) and send the rows
 * it refuses up the same ladder (cpu/rowguard.h; lsce_guard_device_rows for the emulated rows), so the
 * calls with escalated rows are compared too, and calls whose ladder counts differ are counted and
 * printed. Checked bit for bit:
 *   - the merged statistics that are exact in any order: m, jm (first index of the maximum),
 *     Kf, n_eq, n_mask_u, y_masked, P_finite, z_y;
 *   - every gradient entry in the output dtype (float32, bfloat16, float16);
 *   - the loss rounded to float32 (the unit of its bound), except where the loss cancels to
 *     about 0: there the two float32 values may differ, and the doubles must agree within the
 *     loss's sensitivity to the sums' rounding (loss_magnitude below; counted and printed);
 *   - every launch's grid within the hardware limits (gridDim.y <= 65535, 1-D grids < 2^31,
 *     256 threads, dynamic shared memory <= 48 KiB), as a launch would check them.
 * The double sums s1, t, Uf are accumulated in another order (strided, then a tree), so they agree
 * only within their rounding: each is a sum of at most K terms, each step rounded once, so each
 * order is within K 2^-53 of the exact sum of the magnitudes (the rebasing products and exps add
 * one rounding per step, and the stored online exps another: 4 K 2^-53 in all); the check is
 * |a - b| <= 8 K 2^-53 (sum of |terms|) + the smallest subnormal. The double loss, likewise, only
 * within the combiner's propagation of those (reported, not required to be equal).
 * A flip of the float32/bf16/fp16 rounding by that last-bit difference is possible in principle;
 * it has not happened on these inputs (fixed seeds), and the test says which entry if it does. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vector>
#include <string>
#include <gmp.h> /* before the C headers' extern "C" block: it declares C++ overloads */

extern "C" {
#include "lsce/npy.h"
#include "lsce/problem.h"
#include "lsce/invoke.h"
#include "lsce/registry.h"
#include "json_read.h"
#include "cpu/kernels.h"
}

#include "cuda_emu.h"
#include "cpu/rowguard.h"

static int g_fail = 0, g_checks = 0;
static lsce_cu_bounds g_bnd; /* the declared bounds of the call's dtype, as rowblock.cu passes them */
static std::vector<lsce_rowstats> g_st; /* the emulation's merged statistics per row */
static std::vector<char> g_has_st;

/* ---- the emulator: kernels run block by block, thread by thread, level by level -------------- */
/* what cudaLaunchKernel would refuse (cudaErrorInvalidConfiguration) */
static void launch_check(const char *kernel, int64_t gx, int64_t gy, int threads, size_t shm) {
  if (gx < 1 || gx > 2147483647 || gy < 1 || gy > 65535 || threads < 1 || threads > 1024 || shm > 48 * 1024) {
    if (g_fail < 40)
      fprintf(stderr, "FAIL %s: launch refused: grid (%lld, %lld), %d threads, %zu bytes of shared memory\n", kernel,
              (long long)gx, (long long)gy, threads, shm);
    g_fail++;
  }
}

/* a launch, checked, then run by the emulator (cuda_emu.h) with the geometry rowblock.cu uses */
template <typename T>
static void emu_rowgroup(int shape, double *Lrow, T *grad, const T *z, const int64_t *tg, const double *w,
                         const lsce_params *p, int64_t N, int64_t K) {
  const lsce_cu_rowgroup_geom g = lsce_cu_rowgroup(shape, N);
  launch_check("rowgroup_kernel", g.blocks, 1, LSCE_CU_THREADS, (sizeof(lsce_rowstats) + sizeof(double)) * LSCE_CU_THREADS);
  emu_capture cap = {g_st.data(), g_has_st.data()};
  emu_rowgroup_kernel<T>(g.group, g.blocks, LSCE_CU_THREADS, Lrow, grad, z, tg, w, p, N, K, g_bnd, cap);
}

template <typename T>
static void emu_split(double *Lrow, T *grad, const T *z, const int64_t *tg, const double *w, const lsce_params *p,
                      int64_t N, int64_t K) {
  const int parts = lsce_cu_split_parts(K);
  const int64_t gy = lsce_cu_split_grid_y(N), mb = lsce_cu_merge_blocks(N);
  std::vector<lsce_rowstats> part((size_t)N * parts);
  std::vector<lsce_gradcoef> gc(N);
  std::vector<double> mrow(N), gpart((size_t)N * parts);
  std::vector<lsce_rowstats> st(N);
  emu_capture cap = {g_st.data(), g_has_st.data()};
  launch_check("split_stats_kernel", parts, gy, LSCE_CU_THREADS, sizeof(lsce_rowstats) * LSCE_CU_THREADS);
  emu_split_stats_kernel<T>(parts, gy, LSCE_CU_THREADS, part.data(), z, tg, w, p, N, K, parts);
  launch_check("split_merge_kernel", mb, 1, LSCE_CU_MERGE_THREADS, 0);
  emu_split_merge_kernel(mb, LSCE_CU_MERGE_THREADS, Lrow, gc.data(), mrow.data(), part.data(), tg, w, p, N, parts,
                         st.data(), cap);
  if (grad) {
    launch_check("split_grad_kernel", parts, gy, LSCE_CU_THREADS, sizeof(double) * LSCE_CU_THREADS);
    emu_split_grad_kernel<T>(parts, gy, LSCE_CU_THREADS, grad, z, gc.data(), mrow.data(), w, p, N, K, parts, gpart.data());
  }
  launch_check("split_guard_kernel", mb, 1, LSCE_CU_MERGE_THREADS, 0);
  emu_split_guard_kernel(mb, LSCE_CU_MERGE_THREADS, Lrow, st.data(), gpart.data(), tg, w, p, N, K, parts, grad != NULL, g_bnd);
}

template <typename T>
static void emu_dt(int shape, double *Lrow, void *grad, const void *z, const lsce_call *c) {
  if (shape == LSCE_CU_SHAPE_SPLIT)
    emu_split<T>(Lrow, (T *)grad, (const T *)z, c->targets, c->weights, c->prm, c->N, c->K);
  else
    emu_rowgroup<T>(shape, Lrow, (T *)grad, (const T *)z, c->targets, c->weights, c->prm, c->N, c->K);
}

/* A CUDA row emulated: the device's buffers are host copies (in place: the gradient over the copy
 * of the logits), the rows' (hi, lo, E, flags) through the host ladder and reduction of
 * rowblock.cu (cpu/rowguard.h lsce_guard_device_rows). */
static void emu_run(int shape, int inplace, double *loss, void *grad, const lsce_call *c) {
  const size_t n = (size_t)(c->N * c->K) * lsce_dtype_size(c->dtype);
  std::vector<unsigned char> zd(n ? n : 1), gd(grad && !inplace ? (n ? n : 1) : 0);
  std::vector<double> Lrow(LSCE_CU_RSTRIDE * (c->N ? c->N : 1));
  const lsce_bound b = lsce_guard_bound(c->dtype);
  g_bnd.loss_ulp = b.loss_ulp;
  g_bnd.grad_ulp = b.grad_ulp;
  g_bnd.dtype = (int)c->dtype;
  memcpy(zd.data(), c->logits, n);
  void *g = grad ? (inplace ? (void *)zd.data() : (void *)gd.data()) : NULL;
  g_st.assign(c->N, lsce_rowstats());
  g_has_st.assign(c->N, 0);
  switch (c->dtype) {
  case LSCE_DT_F32: emu_dt<float>(shape, Lrow.data(), g, zd.data(), c); break;
  case LSCE_DT_BF16: emu_dt<bf16>(shape, Lrow.data(), g, zd.data(), c); break;
  default: emu_dt<f16>(shape, Lrow.data(), g, zd.data(), c); break;
  }
  if (grad) memcpy(grad, g, n);
  if (lsce_guard_device_rows(loss, grad, c->dtype, c, Lrow.data())) {
    fprintf(stderr, "FAIL: out of memory in the rows' guard\n");
    g_fail++;
  }
}

/* ---- the comparison with cpu_online ---------------------------------------------------------- */
static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0 || (a != a && b != b); }

/* |a - b| <= 8 K 2^-53 mag + the smallest subnormal (see the header) */
static int close_sum(double a, double b, double mag, int64_t K) {
  return same_bits(a, b) || fabs(a - b) <= 8.0 * (double)K * 0x1p-53 * mag + 0x1p-1074;
}

static void fail(const char *label, const char *what) {
  if (g_fail < 40) fprintf(stderr, "FAIL %s: %s\n", label, what);
  g_fail++;
}

/* the row's term magnitudes: sum exp(z - m) (= 1 + s1), sum |u (z - m)|, sum |u| over S */
static void magnitudes(const lsce_call *c, int64_t i, double m, double *ms1, double *mt, double *mu) {
  const lsce_params *p = c->prm;
  const int wu = lsce_cu_weighted_u(p);
  *ms1 = *mt = *mu = 0.0;
  for (int64_t j = 0; j < c->K; j++) {
    double v = 0.0;
    switch (c->dtype) {
    case LSCE_DT_F32: v = lsce_cu_ld((const float *)c->logits, i * c->K + j); break;
    case LSCE_DT_BF16: v = lsce_cu_ld((const bf16 *)c->logits, i * c->K + j); break;
    default: v = lsce_cu_ld((const f16 *)c->logits, i * c->K + j); break;
    }
    if (v == -INFINITY) continue;
    double u = wu ? c->weights[j] : 1.0;
    *ms1 += exp(v - m);
    if (j != p->pad_index) { *mt += fabs(u * (v - m)); *mu += fabs(u); }
  }
}

static void check_stats(const lsce_call *c, const char *label) {
  char what[512];
  for (int64_t i = 0; i < c->N; i++) {
    if (!lsce_params_in_V(c->prm, c->targets[i])) continue;
    if (!g_has_st[i]) { snprintf(what, sizeof what, "row %lld: no statistics merged", (long long)i); fail(label, what); continue; }
    lsce_rowstats cs, &es = g_st[i];
    lsce_stats_online(&cs, c, i, 0, c->K);
    g_checks++;
    if (!same_bits(cs.m, es.m) || cs.jm != es.jm || cs.Kf != es.Kf || cs.n_eq != es.n_eq || cs.n_mask_u != es.n_mask_u ||
        cs.y_masked != es.y_masked || cs.P_finite != es.P_finite || !same_bits(cs.zy, es.zy)) {
      snprintf(what, sizeof what, "row %lld: exact statistics differ: m %a/%a jm %lld/%lld Kf %lld/%lld n_eq %lld/%lld "
               "n_mask_u %lld/%lld y_masked %d/%d P_finite %d/%d zy %a/%a (cpu_online/emulated)", (long long)i,
               cs.m, es.m, (long long)cs.jm, (long long)es.jm, (long long)cs.Kf, (long long)es.Kf, (long long)cs.n_eq,
               (long long)es.n_eq, (long long)cs.n_mask_u, (long long)es.n_mask_u, cs.y_masked, es.y_masked,
               cs.P_finite, es.P_finite, cs.zy, es.zy);
      fail(label, what);
      continue;
    }
    if (cs.Kf == 0) continue;
    double ms1, mt, mu;
    magnitudes(c, i, cs.m, &ms1, &mt, &mu);
    double s1c = cs.s1.hi + cs.s1.lo, s1e = es.s1.hi + es.s1.lo, tc = cs.t.hi + cs.t.lo, te = es.t.hi + es.t.lo;
    double uc = cs.Uf.hi + cs.Uf.lo, ue = es.Uf.hi + es.Uf.lo;
    if (!close_sum(s1c, s1e, ms1, c->K) || !close_sum(tc, te, mt, c->K) || !close_sum(uc, ue, mu, c->K)) {
      snprintf(what, sizeof what, "row %lld: sums beyond their rounding: s1 %a/%a t %a/%a Uf %a/%a", (long long)i, s1c,
               s1e, tc, te, uc, ue);
      fail(label, what);
    }
  }
}

/* The loss's sensitivity to the sums' rounding, row i: L = (B Uf + A) log1p(s1) + A (m - z_y)
 * - B t - C, and each of s1 (relative to 1 + s1), t, Uf is within 8 K 2^-53 of its magnitude
 * (checked above), so the two orders' losses differ by at most 8 K 2^-53 M plus the combiner's
 * own roundings (as many again), M = (B mu + A)(1 + log(1 + s1)) + A |m - z_y| + B mt + |C|. */
static double loss_magnitude(const lsce_call *c, int64_t i) {
  const lsce_params *p = c->prm;
  if (!lsce_params_in_V(p, c->targets[i])) return 0.0;
  lsce_rowstats cs;
  lsce_stats_online(&cs, c, i, 0, c->K);
  if (cs.Kf == 0) return 0.0;
  double ms1, mt, mu;
  magnitudes(c, i, cs.m, &ms1, &mt, &mu);
  lsce_rowcoef rc = lsce_row_coef(p, c->targets[i], c->weights);
  const double A = fabs(rc.A.hi), B = fabs(rc.B.hi);
  return (B * mu + A) * (1 + log(ms1)) + A * fabs(cs.m - cs.zy) + B * mt + fabs(p->C.hi);
}

static double g_worst_loss_rel = 0.0;
static int g_loss_floor_cases = 0;
static int g_escalated_calls = 0; /* calls in which cpu_online escalated a row */
static int g_count_diffs = 0;     /* emulated calls whose ladder counts differ from cpu_online's */

/* one call: cpu_online against the emulated rows (bit s of shapes: shape s), separate and in place */
static void compare_call(const lsce_call *c, const char *label0, int shapes = 7) {
  static const char *names[] = {"cuda_rowblock", "cuda_warp", "cuda_split"};
  const int64_t N = c->N, K = c->K, nl = c->prm->reduction == 2 ? N : 1;
  const size_t n = (size_t)(N * K), es = lsce_dtype_size(c->dtype);
  std::vector<double> lc(nl ? nl : 1), le(nl ? nl : 1);
  std::vector<unsigned char> gcpu(n * es + 1), gemu(n * es + 1);
  /* cpu_online's rows climb their escalation ladder (impls/cpu/rowguard.h) where their own bound
   * asks for it; the CUDA rows check themselves with the same bound on the device and climb the same
   * ladder on the host, so calls with escalated rows are compared too (counted here), and so are
   * the ladders' counts (a row's bound is formed from sums in another order, so a borderline row
   * could in principle climb on one side only: then its values still agree within the checks below,
   * and the calls whose counts differ are counted and printed). */
  lsce_row_counts cnt = {0, 0, 0, 0, 0};
  lsce_params *pm = (lsce_params *)c->prm;
  lsce_row_counts *saved = pm->counts;
  pm->counts = &cnt;
  int rc = lsce_impl_find("cpu_online")->fn(lc.data(), gcpu.data(), c->dtype, c);
  pm->counts = saved;
  if (rc) { fail(label0, "cpu_online failed"); return; }
  if (cnt.safe || cnt.reference || cnt.flagged) g_escalated_calls++;
  for (int shape = 0; shape < 3; shape++)
    for (int inplace = 0; inplace < 2 && (shapes >> shape & 1); inplace++) {
      char label[600], what[512];
      snprintf(label, sizeof label, "%s %s%s", label0, names[shape], inplace ? " in-place" : "");
      memset(gemu.data(), 0x88, gemu.size());
      for (auto &x : le) x = NAN;
      lsce_row_counts ce = {0, 0, 0, 0, 0};
      pm->counts = &ce;
      emu_run(shape, inplace, le.data(), gemu.data(), c);
      pm->counts = saved;
      if (memcmp(&ce, &cnt, sizeof ce)) g_count_diffs++;
      if (!inplace) check_stats(c, label);
      for (size_t k = 0; k < n; k++) {
        if (memcmp(&gcpu[k * es], &gemu[k * es], es)) {
          snprintf(what, sizeof what, "gradient row %lld, column %lld differs in the output dtype", (long long)(k / K),
                   (long long)(k % K));
          fail(label, what);
          break;
        }
      }
      for (int64_t i = 0; i < nl; i++) {
        g_checks++;
        float fc = (float)lc[i], fe = (float)le[i];
        double M = 0.0;
        if (memcmp(&fc, &fe, 4) && !(fc != fc && fe != fe)) { /* only at cancellation: within the floor */
          if (nl == N) M = loss_magnitude(c, i);
          else for (int64_t r = 0; r < N; r++) M += loss_magnitude(c, r) * fabs(c->prm->inv_D.hi);
        }
        const double tol = 16.0 * (double)K * 0x1p-53 * M + 0x1p-1074;
        if (M > 0 && fabs(lc[i] - le[i]) <= tol) {
          g_loss_floor_cases++;
        } else if (memcmp(&fc, &fe, 4) && !(fc != fc && fe != fe)) {
          snprintf(what, sizeof what, "loss %lld: %a (cpu_online) vs %a (emulated): differ in float32", (long long)i, lc[i], le[i]);
          fail(label, what);
        } else if (isfinite(lc[i]) && lc[i] != 0) {
          double r = fabs(lc[i] - le[i]) / fabs(lc[i]);
          if (r > g_worst_loss_rel) g_worst_loss_rel = r;
        }
      }
    }
}

/* ---- problems ----------------------------------------------------------------------------------- */
struct gen {
  lsce_dtype dt;
  int64_t N, K;
  std::vector<unsigned char> z;
  std::vector<int64_t> t;
  std::vector<double> w;
  void set(int64_t k, double v) {
    switch (dt) {
    case LSCE_DT_F32: ((float *)z.data())[k] = (float)v; break;
    case LSCE_DT_BF16: ((uint16_t *)z.data())[k] = lsce_double_to_bf16(v); break;
    default: ((uint16_t *)z.data())[k] = lsce_double_to_f16(v); break;
    }
  }
  gen(lsce_dtype d, int64_t n, int64_t k) : dt(d), N(n), K(k), z((size_t)(n * k) * lsce_dtype_size(d) + 1), t(n), w(k, 1.0) {}
};

static uint64_t g_rng = 0x1234567887654321ULL;
static uint64_t rnd() { g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17; return g_rng; }
static double unif() { return (double)(rnd() >> 11) * 0x1p-53; }
static double normal() { return sqrt(-2 * log(unif() + 0x1p-60)) * cos(6.283185307179586 * unif()); }

/* every variant with the smoothings and reductions given, on a generated problem */
static void run_gen(gen &g, const char *what, const char *const *eps, int neps, int reductions_mask) {
  for (int v = 0; v < LSCE_V_COUNT; v++) {
    const lsce_variant *d = &lsce_variants[v];
    if (g.K < d->min_K) continue;
    int64_t pad = d->needs_pad_index ? g.K - 1 : -1;
    for (int ei = 0; ei < neps; ei++)
      for (int red = 0; red < 3; red++) {
        if (!(reductions_mask & (1 << red))) continue;
        mpq_t e;
        mpq_init(e);
        mpq_set_str(e, eps[ei], 10);
        mpq_canonicalize(e);
        lsce_params prm;
        const double *w = d->weighting != LSCE_W_NONE ? g.w.data() : NULL;
        lsce_params_init(&prm, v, red, e, g.N, g.K, g.t.data(), g.w.data(), -100, pad);
        double *u = NULL; /* k1-megatron: rank 1 of 2 where K allows (else T = 1), its shard indicator */
        const int64_t T = (g.K % 2 == 0 && g.K >= 4) ? 2 : 1;
        if (lsce_params_shard_call(&prm, T, T - 1, &u)) { mpq_clear(e); continue; }
        mpq_clear(e);
        if (u) w = u;
        lsce_call c = {g.z.data(), g.dt, g.N, g.K, g.t.data(), w, &prm, 0, NULL, NULL};
        char label[300];
        snprintf(label, sizeof label, "%s %s %lldx%lld variant=%s e=%s red=%d", what, lsce_dtype_name(g.dt),
                 (long long)g.N, (long long)g.K, d->id, eps[ei], red);
        compare_call(&c, label);
        free(u);
      }
  }
}

static const lsce_dtype dts[3] = {LSCE_DT_F32, LSCE_DT_BF16, LSCE_DT_F16};

static void random_rows(void) {
  static const int64_t Ks[] = {1, 2, 3, 7, 31, 32, 33, 255, 256, 257, 1000, 4099};
  static const char *eps[] = {"0", "1/10", "3/10", "1"};
  static const double scales[] = {0.1, 1, 10, 100};
  for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
    lsce_dtype dt = dts[ki % 3];
    gen g(dt, 1 + (int64_t)(rnd() % 9), Ks[ki]);
    double sc = scales[ki % 4];
    for (int64_t k = 0; k < g.N * g.K; k++) g.set(k, sc * normal());
    for (int64_t i = 0; i < g.N; i++) g.t[i] = rnd() % 7 == 0 ? -100 : (int64_t)(rnd() % (uint64_t)g.K);
    for (int64_t j = 0; j < g.K; j++) g.w[j] = rnd() % 5 == 0 ? 0.0 : 0.25 + 2 * unif();
    run_gen(g, "random", eps, 4, 7);
  }
}

static void adversarial_rows(void) {
  static const char *eps[] = {"0", "1/10", "1"};
  char what[64];
  for (int d = 0; d < 3; d++) {
    lsce_dtype dt = dts[d];
    const double big = dt == LSCE_DT_F16 ? 1e4 : 1e4, gap2 = 100;
    /* gaps, masks, ties across threads, all masked, masked target: one row each */
    gen g(dt, 8, 600);
    for (int64_t i = 0; i < g.N; i++) {
      for (int64_t j = 0; j < g.K; j++) g.set(i * g.K + j, normal());
      g.t[i] = (int64_t)(rnd() % (uint64_t)g.K);
    }
    g.set(0 * g.K + 300, big);                                     /* a huge gap: s1 underflows */
    g.set(1 * g.K + 17, gap2); g.set(1 * g.K + 290, -gap2);        /* gaps both ways */
    for (int64_t j = 0; j < g.K; j += 3) g.set(2 * g.K + j, -INFINITY); /* a third masked */
    for (int64_t j = 0; j < g.K; j++) g.set(3 * g.K + j, -INFINITY);    /* all masked */
    for (int64_t j = 0; j < g.K; j++) g.set(4 * g.K + j, 2.0);          /* all tied */
    g.set(5 * g.K + 5, 7.0); g.set(5 * g.K + 261, 7.0); g.set(5 * g.K + 517, 7.0); /* the max tied in 3 threads */
    g.set(6 * g.K + g.t[6], -INFINITY);                            /* the target masked */
    for (int64_t j = 0; j < g.K; j++) if (j != g.t[7]) g.set(7 * g.K + j, -INFINITY); /* only the target */
    for (int64_t j = 0; j < g.K; j++) g.w[j] = j % 11 == 0 ? 0.0 : 1.0 + (double)(j % 5);
    snprintf(what, sizeof what, "adversarial");
    run_gen(g, what, eps, 3, 7);
    /* K = 1 and K = 2, with and without masks */
    for (int64_t K = 1; K <= 2; K++) {
      gen h(dt, 4, K);
      for (int64_t k = 0; k < h.N * h.K; k++) h.set(k, normal());
      if (K == 2) { h.set(1 * 2 + 1, -INFINITY); h.set(2 * 2 + 0, 3.0); h.set(2 * 2 + 1, 3.0); }
      for (int64_t i = 0; i < h.N; i++) h.t[i] = i == 3 ? -100 : (int64_t)(i % K);
      run_gen(h, "small K", eps, 3, 7);
    }
  }
  /* K = 70000: three split slices; the maximum in the last one */
  {
    gen g(LSCE_DT_BF16, 2, 70000);
    for (int64_t k = 0; k < g.N * g.K; k++) g.set(k, 3 * normal());
    g.set(69999, 40.0);
    g.t[0] = 5; g.t[1] = 69999;
    run_gen(g, "3 slices", eps + 1, 1, 1 << LSCE_RED_NONE);
  }
  /* N = 70000 > 65535: cuda_split's rows loop over gridDim.y */
  {
    gen g(LSCE_DT_F32, 70000, 2);
    for (int64_t k = 0; k < g.N * g.K; k++) g.set(k, normal());
    for (int64_t i = 0; i < g.N; i++) g.t[i] = i % 97 == 0 ? -100 : (int64_t)(i % 2);
    lsce_params prm;
    mpq_t e;
    mpq_init(e);
    mpq_set_si(e, 1, 10);
    lsce_params_init(&prm, lsce_variant_find("k"), LSCE_RED_NONE, e, g.N, g.K, g.t.data(), NULL, -100, -1);
    mpq_clear(e);
    lsce_call c = {g.z.data(), g.dt, g.N, g.K, g.t.data(), NULL, &prm, 0, NULL, NULL};
    /* cuda_split only: the other rows' 1-D grids have no such limit (and cost 256 lanes a row here) */
    compare_call(&c, "N = 70000 (rows beyond gridDim.y) float32 70000x2 variant=k e=1/10 red=none", 1 << LSCE_CU_SHAPE_SPLIT);
  }
}

/* ---- the committed fixtures (manifest.json) ---------------------------------------------------- */
static int decimal_to_mpq(mpq_t e, const char *s) { /* "0.1" -> 1/10 */
  std::string num;
  long den_digits = 0;
  int point = 0;
  for (const char *c = s; *c; c++) {
    if (*c == '.') { point = 1; continue; }
    if (*c < '0' || *c > '9') return 1;
    num += *c;
    den_digits += point;
  }
  std::string q = num + "/1" + std::string((size_t)den_digits, '0');
  if (mpq_set_str(e, q.c_str(), 10)) return 1;
  mpq_canonicalize(e);
  return 0;
}

static void fixtures(const char *dir) {
  std::string mpath = std::string(dir) + "/manifest.json";
  FILE *f = fopen(mpath.c_str(), "rb");
  if (!f) { fail(mpath.c_str(), "cannot open"); return; }
  std::string text;
  char buf[65536];
  size_t r;
  while ((r = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, r);
  fclose(f);
  char jerr[200];
  lsce_jval *root = lsce_json_parse(text.data(), text.size(), jerr, sizeof jerr);
  const lsce_jval *cases = root ? lsce_json_get(root, "cases") : NULL;
  if (!cases) { fail(mpath.c_str(), "unreadable manifest"); lsce_json_free(root); return; }
  int ncases = 0;
  for (int ci = 0; ci < cases->n; ci++) {
    const lsce_jval *cs = &cases->items[ci];
    const char *name = lsce_json_gets(cs, "case");
    const lsce_jval *files = lsce_json_get(cs, "files");
    const char *lp = lsce_json_gets(lsce_json_get(files, "logits"), "path");
    const char *tp = lsce_json_gets(lsce_json_get(files, "targets"), "path");
    const char *wp = lsce_json_gets(lsce_json_get(files, "weights"), "path");
    const lsce_jval *vars = lsce_json_get(cs, "variants"), *eps = lsce_json_get(cs, "smoothings"),
                    *reds = lsce_json_get(cs, "reductions"), *ign = lsce_json_get(cs, "ignore_index"),
                    *pad = lsce_json_get(cs, "pad_index");
    if (!name || !lp || !tp || !vars || !eps || !reds) { fail(name ? name : "?", "manifest case without its fields"); continue; }
    std::string L = std::string(dir) + "/" + lp, T = std::string(dir) + "/" + tp, W = wp ? std::string(dir) + "/" + wp : "";
    lsce_problem p;
    lsce_problem_init(&p);
    if (ign && ign->t == LSCE_J_NUM) p.ignore_index = (int64_t)ign->num;
    if (pad && pad->t == LSCE_J_NUM) p.pad_index = (int64_t)pad->num;
    lsce_err err;
    if (lsce_problem_load(&p, L.c_str(), T.c_str(), wp ? W.c_str() : NULL, &err)) { fail(name, err.line); lsce_problem_clear(&p); continue; }
    const lsce_dtype dt = p.logits.dtype;
    if (dt == LSCE_DT_F64) { lsce_problem_clear(&p); continue; } /* not a CUDA input */
    ncases++;
    const int64_t N = p.N, K = p.K;
    void *z = N * K > 0 ? lsce_native_logits(&p) : malloc(1);
    std::vector<int64_t> t(N ? N : 1);
    std::vector<double> w(K ? K : 1);
    for (int64_t i = 0; i < N; i++) t[i] = lsce_target(&p, i);
    for (int64_t j = 0; j < K; j++) w[j] = lsce_weight(&p, j);
    for (int vi = 0; vi < vars->n; vi++) {
      int v = lsce_variant_find(vars->items[vi].str);
      if (v < 0) continue;
      const lsce_variant *d = &lsce_variants[v];
      if ((d->needs_weights && !p.has_weights) || (d->needs_pad_index && p.pad_index < 0) || K < d->min_K) continue;
      for (int ei = 0; ei < eps->n; ei++)
        for (int ri = 0; ri < reds->n; ri++) {
          const char *rs = reds->items[ri].str;
          int red = !strcmp(rs, "sum") ? LSCE_RED_SUM : !strcmp(rs, "none") ? LSCE_RED_NONE : LSCE_RED_MEAN;
          mpq_t e;
          mpq_init(e);
          if (decimal_to_mpq(e, eps->items[ei].str)) { fail(name, "bad smoothing in the manifest"); mpq_clear(e); continue; }
          lsce_params prm;
          lsce_params_init(&prm, v, red, e, N, K, t.data(), p.has_weights ? w.data() : NULL, p.ignore_index, p.pad_index);
          mpq_clear(e);
          lsce_call c = {z, dt, N, K, t.data(), d->weighting != LSCE_W_NONE ? w.data() : NULL, &prm, 0, NULL, NULL};
          char label[300];
          snprintf(label, sizeof label, "fixture %s variant=%s e=%s red=%s", name, d->id, eps->items[ei].str, rs);
          compare_call(&c, label);
        }
    }
    free(z);
    lsce_problem_clear(&p);
  }
  lsce_json_free(root);
  if (ncases < 10) fail(dir, "fewer than 10 narrow-dtype fixture cases found");
}

int main(int argc, char **argv) {
  if (argc != 2) { fputs("usage: test_cuda_emu FIXTURES_DIR\n", stderr); return 2; }
  clock_t t0 = clock();
  fixtures(argv[1]);
  int after_fixtures = g_checks;
  clock_t t1 = clock();
  random_rows();
  clock_t t2 = clock();
  adversarial_rows();
  fprintf(stderr, "cpu s: fixtures %.2f random %.2f adversarial %.2f\n", (double)(t1 - t0) / CLOCKS_PER_SEC,
          (double)(t2 - t1) / CLOCKS_PER_SEC, (double)(clock() - t2) / CLOCKS_PER_SEC);
  printf("cuda_emu: %d checks (%d on the fixtures), %d failures; float32 losses differing only below their "
         "cancellation floor: %d; worst double loss difference %.3g relative; calls in which cpu_online escalated "
         "a row: %d; emulated calls whose ladder counts differ from cpu_online's: %d\n",
         g_checks, after_fixtures, g_fail, g_loss_floor_cases, g_worst_loss_rel, g_escalated_calls, g_count_diffs);
  return g_fail ? 1 : 0;
}
