/* tests/test_cuda_host.cpp: the host side of the CUDA rows (impls/cuda/rowblock.cu, the real object)
 * against a recording CUDA runtime (tests/cuda_mock.cpp) instead of cudart: everything but the
 * kernels, on a machine without a GPU (suite quick, built with nvcc). Checks:
 *   1. launches: for N = 70000 (> 65535 rows) and a few small shapes, no launch of any row is
 *      refused by the runtime's limits (gridDim.y <= 65535, ...); a refused or failed launch makes
 *      the row return 3 with the launch named in lsce_cuda_reason();
 *   2. failures: each failable CUDA call of a row (separate and in-place gradient), of
 *      lsce_cuda_time and of lsce_cuda_copy_ms is made to fail in turn: the call returns 3 (an
 *      allocation failure with status "out of device memory"), the reason names a CUDA call, and
 *      no device allocation or event is left behind;
 *      the same for the options path of issue #15 (a soft cap and a z-loss: run_opt);
 *   3. timing: in lsce_cuda_time (each row, forward and forward+backward) and lsce_cuda_copy_ms,
 *      between the two events of a sample there are only launches and launch checks (or the one
 *      copy): no allocation, free, host synchronization or other copy; before every sample a write
 *      of at least 2x the L2 size; the loss (and gradient) read back after the samples; a corrupted
 *      device-to-device copy is detected (lsce_cuda_copy_ms returns 1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <string>
#include <vector>
#include <gmp.h>
extern "C" {
#include "lsce/config.h"
#include "lsce/cuda.h"
#include "lsce/problem.h"
#include "lsce/registry.h"
#include "lsce/variants.h"
}
#include "cuda_mock.h"

static int bad = 0;
#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL "); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); bad++; } } while (0)

struct prob {
  int64_t N, K;
  std::vector<float> z;
  std::vector<int64_t> t;
  lsce_params prm;
  lsce_call c;
  prob(int64_t n, int64_t k) : N(n), K(k), z((size_t)(n * k)), t(n) {
    for (int64_t i = 0; i < n * k; i++) z[i] = (float)((i * 7919) % 13) * 0.25f;
    for (int64_t i = 0; i < n; i++) t[i] = i % k;
    mpq_t e;
    mpq_init(e);
    mpq_set_si(e, 1, 10);
    lsce_params_init(&prm, lsce_variant_find("k"), LSCE_RED_MEAN, e, n, k, t.data(), NULL, -100, -1);
    mpq_clear(e);
    lsce_call cc = {z.data(), LSCE_DT_F32, n, k, t.data(), NULL, &prm, 0, NULL, NULL};
    c = cc;
  }
};

/* issue #15: the same through the options path (rowblock.cu run_opt): soft cap 30, z-loss 1/1000 */
struct oprob : prob {
  lsce_problem P;
  int ok;
  oprob(int64_t n, int64_t k) : prob(n, k) {
    lsce_problem_init(&P);
    P.variant = lsce_variant_find("k");
    mpq_set_si(P.e, 1, 10);
    P.has_softcap = 1;
    mpq_set_si(P.softcap, 30, 1);
    P.has_zloss = 1;
    mpq_set_si(P.zloss, 1, 1000);
    lsce_err err;
    ok = lsce_problem_from_memory(&P, LSCE_DT_F32, n, k, z.data(), t.data(), NULL, 0, &err) == LSCE_OK;
    c.opt = &P; /* the options path reads the problem, not prm (verify/invoke.c) */
  }
  ~oprob() { lsce_problem_clear(&P); }
};

static const char *rows[] = {"cuda_rowblock", "cuda_warp", "cuda_split"};

static int count(mock_kind k) {
  int n = 0;
  for (auto &e : mock.log) n += e.kind == k;
  return n;
}

static int run_row(const char *row, prob &p, int inplace) {
  std::vector<float> g((size_t)(p.N * p.K));
  double loss;
  lsce_config cf = *lsce_config_get(); /* LSCE_CUDA_INPLACE */
  cf.cuda_inplace = inplace;
  lsce_config_set(&cf);
  return lsce_impl_find(row)->fn(&loss, g.data(), LSCE_DT_F32, &p.c);
}

static void launches(void) {
  prob big(70000, 2), small(5, 300);
  for (const char *row : rows)
    for (prob *p : {&big, &small}) {
      mock_reset();
      int rc = run_row(row, *p, 0);
      CHECK(rc == 0, "%s %lldx%lld: returned %d (%s)", row, (long long)p->N, (long long)p->K, rc, lsce_cuda_reason());
      CHECK(count(M_LAUNCH_REFUSED) == 0, "%s %lldx%lld: %d launches refused by the runtime's limits", row,
            (long long)p->N, (long long)p->K, count(M_LAUNCH_REFUSED));
      CHECK(count(M_LAUNCH) >= 1, "%s: no launch", row);
    }
  /* a failed launch (the first) is noticed */
  for (const char *row : rows) {
    mock_reset();
    run_row(row, small, 0);
    long first_launch = 0, calls = 0;
    for (auto &e : mock.log) {
      if (e.kind == M_MALLOC || e.kind == M_H2D || e.kind == M_D2H || e.kind == M_D2D || e.kind == M_MEMSET ||
          e.kind == M_RECORD || e.kind == M_EVSYNC || e.kind == M_STREAMSYNC || e.kind == M_DEVSYNC ||
          e.kind == M_ELAPSED || e.kind == M_EVCREATE || e.kind == M_LAUNCH || e.kind == M_OTHER)
        calls++;
      if (e.kind == M_LAUNCH && !first_launch) first_launch = calls;
    }
    mock_reset();
    mock.fail_at = first_launch;
    int rc = run_row(row, small, 0);
    CHECK(rc == 3 && strstr(lsce_cuda_reason(), "launch of"), "%s: a failed launch gave %d (%s)", row, rc, lsce_cuda_reason());
  }
}

/* every failable call of fn() failed in turn */
template <typename F>
static void failures(const char *what, F fn) {
  mock_reset();
  int rc0 = fn();
  long n = mock.calls;
  CHECK(rc0 == 0, "%s: returned %d without failures (%s)", what, rc0, lsce_cuda_reason());
  CHECK(mock.live_allocs == 0 && mock.live_events == 0, "%s: %ld allocations, %ld events left", what, mock.live_allocs, mock.live_events);
  for (long k = 1; k <= n; k++) {
    mock_reset();
    mock.fail_at = k;
    int rc = fn();
    mock_kind failed_kind = M_OTHER;
    long seen = 0;
    for (auto &e : mock.log)
      if (e.kind != M_FREE && e.kind != M_EVDESTROY && e.kind != M_LASTERROR && e.kind != M_LAUNCH_REFUSED && ++seen == k) failed_kind = e.kind;
    CHECK(rc == 3, "%s: call %ld of %ld failed, returned %d", what, k, n, rc);
    CHECK(strstr(lsce_cuda_reason(), "cuda") || strstr(lsce_cuda_reason(), "launch"), "%s: call %ld: reason \"%s\"", what, k, lsce_cuda_reason());
    if (failed_kind == M_MALLOC)
      CHECK(lsce_cuda_last_status() == LSCE_CUDA_NO_MEMORY && strstr(lsce_cuda_reason(), "out of device memory"),
            "%s: allocation %ld failed: status %d, reason \"%s\"", what, k, (int)lsce_cuda_last_status(), lsce_cuda_reason());
    CHECK(mock.live_allocs == 0 && mock.live_events == 0, "%s: call %ld failed: %ld allocations, %ld events leaked", what, k,
          mock.live_allocs, mock.live_events);
  }
  printf("%s: %ld failable calls, each failed in turn\n", what, n);
}

/* the samples' windows in the log: RECORD pairs */
static void timing_protocol(const char *what, bool copy, int reps) {
  int samples = 0;
  size_t i = 0;
  const size_t L = mock.log.size();
  long last_b = -1;
  for (; i < L; i++) {
    if (mock.log[i].kind != M_RECORD) continue;
    size_t a = i, b = a + 1;
    while (b < L && mock.log[b].kind != M_RECORD) b++;
    CHECK(b < L, "%s: an event without its pair", what);
    if (b >= L) return;
    bool flushed = false;
    for (size_t j = (size_t)(last_b + 1); j < a; j++)
      if (mock.log[j].kind == M_MEMSET && mock.log[j].bytes >= 2 * mock.l2_bytes) flushed = true;
    CHECK(flushed, "%s: sample %d: no write of 2x the L2 size before it", what, samples);
    int launches = 0, copies = 0;
    for (size_t j = a + 1; j < b; j++) {
      mock_kind k = mock.log[j].kind;
      if (k == M_LAUNCH) launches++;
      else if (k == M_D2D && copy) copies++;
      else if (k != M_LASTERROR)
        CHECK(false, "%s: sample %d: call of kind %d inside the timed window", what, samples, (int)k);
    }
    CHECK(copy ? copies == 1 : launches >= 1, "%s: sample %d: %d launches, %d copies timed", what, samples, launches, copies);
    samples++;
    last_b = (long)b;
    i = b;
  }
  CHECK(samples == reps + 1, "%s: %d samples, expected %d", what, samples, reps + 1);
  bool readback = false;
  for (size_t j = (size_t)(last_b + 1); j < L; j++) readback |= mock.log[j].kind == M_D2H;
  CHECK(readback, "%s: nothing read back after the samples", what);
}

int main(void) {
  mock.emulate = 0; /* the host side only: the kernels' results are test_cuda_emu's and test_cuda_mock.sh's */
  launches();
  prob p(6, 700), big(70000, 2);
  for (const char *row : rows)
    for (int inplace = 0; inplace < 2; inplace++) {
      std::string w = std::string(row) + (inplace ? " in place" : " separate");
      failures(w.c_str(), [&] { return run_row(row, p, inplace); });
    }
  failures("cuda_split 70000x2", [&] { return run_row("cuda_split", big, 1); });
  oprob op(6, 700);
  CHECK(op.ok, "the options problem did not validate");
  for (const char *row : rows)
    for (int inplace = 0; inplace < 2; inplace++) {
      std::string w = std::string(row) + " options" + (inplace ? " in place" : " separate");
      failures(w.c_str(), [&] { return run_row(row, op, inplace); });
    }
  oprob obig(70000, 2); /* > 65535 rows: no options launch refused */
  for (const char *row : rows) {
    mock_reset();
    int rc = run_row(row, obig, 0);
    CHECK(rc == 0 && count(M_LAUNCH_REFUSED) == 0 && count(M_LAUNCH) == 5, "%s options 70000x2: returned %d, %d launches, %d refused (%s)",
          row, rc, count(M_LAUNCH), count(M_LAUNCH_REFUSED), lsce_cuda_reason());
  }
  std::vector<float> g(p.z.size());
  for (const char *row : rows)
    for (int fb = 0; fb < 2; fb++) {
      std::string w = std::string("lsce_cuda_time ") + row + (fb ? " fwdbwd" : " fwd");
      double ms, loss;
      failures(w.c_str(), [&] { return lsce_cuda_time(&ms, &loss, fb ? g.data() : NULL, row, &p.c, fb, 2); });
      mock_reset();
      CHECK(lsce_cuda_time(&ms, &loss, fb ? g.data() : NULL, row, &p.c, fb, 3) == 0, "%s failed", w.c_str());
      timing_protocol(w.c_str(), false, 3);
    }
  double ms;
  failures("lsce_cuda_copy_ms", [&] { return lsce_cuda_copy_ms(&ms, p.z.data(), p.z.size() * 4, 2); });
  mock_reset();
  CHECK(lsce_cuda_copy_ms(&ms, p.z.data(), p.z.size() * 4, 3) == 0, "lsce_cuda_copy_ms failed");
  timing_protocol("lsce_cuda_copy_ms", true, 3);
  mock_reset();
  mock.corrupt_d2d = 1;
  CHECK(lsce_cuda_copy_ms(&ms, p.z.data(), p.z.size() * 4, 1) == 1, "a corrupted copy was not detected");
  printf("cuda_host: %d failures\n", bad);
  return bad ? 1 : 0;
}
