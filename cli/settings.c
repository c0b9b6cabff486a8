/* cli/settings.c: the environment knobs read once, validated with the contract's error line, and
 * handed to the libraries as their configuration (lsce/config.h: no library reads the
 * environment); and the thread preflight (see settings.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "settings.h"
#include "lsce/config.h"
#include "lsce/reference.h"

static lsce_settings S;

/* A decimal integer without sign, in [lo, +inf): values beyond `cap` read as `cap`. */
static int knob_int(long long *v, const char *name, long long lo, long long cap, const char *what,
                    lsce_err *err) {
  const char *s = getenv(name);
  *v = 0;
  if (!s || !*s) return LSCE_OK;
  long long x = 0;
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9' || c - s > 40)
      return lsce_err_set(err, LSCE_EINPUT, "%s: not %s: '%.64s'", name, what, s);
    if (x <= cap) x = x * 10 + (*c - '0');
  }
  if (x < lo) return lsce_err_set(err, LSCE_EINPUT, "%s: %s is below %lld", name, s, lo);
  *v = x > cap ? cap : x;
  return LSCE_OK;
}

/* One of `words` (NULL-terminated); returns its index in *v, or -1 when unset. */
static int knob_word(int *v, const char *name, const char *const *words, const char *list,
                     lsce_err *err) {
  const char *s = getenv(name);
  *v = -1;
  if (!s || !*s) return LSCE_OK;
  for (int k = 0; words[k]; k++)
    if (!strcmp(s, words[k])) { *v = k; return LSCE_OK; }
  return lsce_err_set(err, LSCE_EINPUT, "%s: must be %s, got '%.64s'", name, list, s);
}

/* LSCE_MAX_PRECISION: decimal bits >= 16, 0 when unset. */
static int max_precision(long *out, lsce_err *err) {
  const char *s = getenv("LSCE_MAX_PRECISION");
  *out = 0;
  if (!s || !*s) return LSCE_OK;
  long v = 0;
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9' || v > 100000000L)
      return lsce_err_set(err, LSCE_EINPUT, "LSCE_MAX_PRECISION: not a precision in bits: '%s'", s);
    v = v * 10 + (*c - '0');
  }
  if (v < 16) return lsce_err_set(err, LSCE_EINPUT, "LSCE_MAX_PRECISION: must be at least 16");
  *out = v;
  return LSCE_OK;
}

int lsce_settings_load(lsce_err *err) {
  static const char *const isas[] = {"scalar", "avx2", "avx512", NULL};
  static const char *const keeps[] = {"0", "1", NULL};
  static const char *const certs[] = {"fast", "reference", NULL};
  memset(&S, 0, sizeof S);
  long long v;
  int w, rc;
  if ((rc = knob_word(&w, "LSCE_ISA", isas, "scalar, avx2 or avx512", err))) return rc;
  S.isa = w < 0 ? NULL : isas[w];
  if ((rc = knob_int(&v, "LSCE_THREADS", 1, LSCE_THREADS_CAP, "a thread count", err))) return rc;
  S.threads = (int)v;
  /* slices and shards beyond 2^40 classes act as whole rows / one class per shard anyway */
  if ((rc = knob_int(&S.split, "LSCE_SPLIT", 0, 1LL << 40, "a class count", err))) return rc;
  if ((rc = knob_int(&S.shards, "LSCE_SHARDS", 1, 1LL << 40, "a shard count", err))) return rc;
  if ((rc = knob_word(&w, "LSCE_KEEP", keeps, "0 or 1", err))) return rc;
  S.keep = w != 0;
  if ((rc = knob_word(&w, "LSCE_CERTIFY", certs, "fast or reference", err))) return rc;
  S.certify = w + 1;
  if ((rc = max_precision(&S.max_prec, err))) return rc;
  static const char *const f32s[] = {"0", "1", "all", NULL};
  int f32 = 1;
  if ((rc = knob_word(&f32, "LSCE_F32PASS", f32s, "0, 1 or all", err))) return rc;
  int f32one = 1; /* LSCE_F32ONE: the float32 pass's single pass (0 off) */
  if ((rc = knob_word(&f32one, "LSCE_F32ONE", keeps, "0 or 1", err))) return rc;
  if (f32one < 0) f32one = 1;
  int dblone = 1; /* LSCE_DBLONE: the double single pass of narrow rows (0 off) */
  if ((rc = knob_word(&dblone, "LSCE_DBLONE", keeps, "0 or 1", err))) return rc;
  static const char *const tabs[] = {"0", "1", "2", NULL};
  int tab16 = 1; /* LSCE_TAB16: the 16-bit table pass: 0 off, 1 bfloat16, 2 bfloat16 and float16 */
  if ((rc = knob_word(&tab16, "LSCE_TAB16", tabs, "0, 1 or 2", err))) return rc;
  if (tab16 < 0) tab16 = 1;
  int f64one = 1; /* LSCE_F64ONE: the float64 rows' single pass (0 off) */
  if ((rc = knob_word(&f64one, "LSCE_F64ONE", keeps, "0 or 1", err))) return rc;
  if (f64one < 0) f64one = 1;
  int pipe = 1; /* LSCE_PIPE: the float32 forward+backward pipeline: 0 off, 1 large calls, all (2) any */
  if ((rc = knob_word(&pipe, "LSCE_PIPE", f32s, "0, 1 or all", err))) return rc;
  const char *fx = getenv("LSCE_FIXTURES");
  S.fixtures = fx && *fx ? fx : NULL;
  /* the libraries' configuration: what they read no longer comes from the environment */
  lsce_config c;
  lsce_config_default(&c);
  c.isa = S.isa ? (int)(strcmp(S.isa, "scalar") == 0 ? 0 : strcmp(S.isa, "avx2") == 0 ? 1 : 2) : -1;
  c.threads = S.threads;
  c.split = S.split;
  c.shards = S.shards;
  c.keep = S.keep;
  /* not validated (as before): only "0" turns the rung off, only "1" writes in place */
  const char *rr = getenv("LSCE_ROW_REFERENCE"), *ip = getenv("LSCE_CUDA_INPLACE");
  c.row_reference = !(rr && !strcmp(rr, "0"));
  c.cuda_inplace = ip && !strcmp(ip, "1");
  c.max_precision = S.max_prec;
  c.f32pass = f32 < 0 ? 1 : f32;
  c.f32one = f32one != 0;
  c.dblone = dblone != 0;
  c.tab16 = tab16;
  c.f64one = f64one != 0;
  c.pipe = pipe < 0 ? 1 : pipe;
  lsce_config_set(&c);
  return LSCE_OK;
}

const lsce_settings *lsce_settings_get(void) { return &S; }

void lsce_settings_ref_opts(lsce_ref_opts *o) {
  if (S.max_prec) o->max_prec = S.max_prec;
}

int lsce_settings_threads(void) { return S.threads > 0 ? S.threads : 2; }

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static void *parked(void *arg) {
  (void)arg;
  pthread_mutex_lock(&gate_mu); /* holds until the preflight has started them all */
  pthread_mutex_unlock(&gate_mu);
  return NULL;
}

int lsce_threads_preflight(const char *impl, lsce_err *err) {
  if (impl && strcmp(impl, "cpu_threads") != 0) return LSCE_OK;
  const int n = lsce_settings_threads();
  pthread_t t[LSCE_THREADS_CAP];
  int started = 0, e = 0;
  pthread_mutex_lock(&gate_mu); /* all n-1 alive at once, as the runtime's team will be */
  for (; started < n - 1; started++)
    if ((e = pthread_create(&t[started], NULL, parked, NULL)) != 0) break;
  pthread_mutex_unlock(&gate_mu);
  for (int k = 0; k < started; k++) pthread_join(t[k], NULL);
  if (e)
    return lsce_err_set(err, LSCE_EINCOMPLETE, "LSCE_THREADS: cannot start %d threads: %s", n,
                        strerror(e));
  return LSCE_OK;
}

int lsce_settings_check_precision(long start, int given, lsce_err *err) {
  if (!S.max_prec || start <= S.max_prec) return LSCE_OK;
  if (given)
    return lsce_err_set(err, LSCE_EINPUT, "--precision: %ld is outside [16, %ld]", start, S.max_prec);
  return lsce_err_set(err, LSCE_EINPUT,
                      "LSCE_MAX_PRECISION: %ld is below the starting precision %ld", S.max_prec, start);
}
