/* cli/settings.c: the environment knobs read once, by lsce/knobs.h's table (its rows' kinds give
 * the grammar and the contract's error line), and handed to the libraries as their configuration
 * (lsce/config.h: no library reads the environment); and the thread preflight (see settings.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "settings.h"
#include "lsce/config.h"
#include "lsce/reference.h"

static lsce_settings S;

/* COUNT: decimal digits without sign, at least k->lo; values beyond k->cap read as k->cap. */
static int knob_count(long long *v, const lsce_knob *k, const char *s, lsce_err *err) {
  long long x = 0;
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9' || c - s > 40)
      return lsce_err_set(err, LSCE_EINPUT, "%s: not %s: '%.64s'", k->env, k->what, s);
    if (x <= k->cap) x = x * 10 + (*c - '0');
  }
  if (x < k->lo) return lsce_err_set(err, LSCE_EINPUT, "%s: %s is below %lld", k->env, s, k->lo);
  *v = x > k->cap ? k->cap : x;
  return LSCE_OK;
}

/* WORD: one of k->words; the value is its index. */
static int knob_word(long long *v, const lsce_knob *k, const char *s, lsce_err *err) {
  for (int w = 0; k->words[w]; w++)
    if (!strcmp(s, k->words[w])) { *v = w; return LSCE_OK; }
  return lsce_err_set(err, LSCE_EINPUT, "%s: must be %s, got '%.64s'", k->env, k->list, s);
}

/* PREC (LSCE_MAX_PRECISION): decimal bits, at least k->lo (its own lines, unlike COUNT's). */
static int knob_prec(long long *v, const lsce_knob *k, const char *s, lsce_err *err) {
  long x = 0;
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9' || x > 100000000L)
      return lsce_err_set(err, LSCE_EINPUT, "%s: not %s: '%s'", k->env, k->what, s);
    x = x * 10 + (*c - '0');
  }
  if (x < k->lo) return lsce_err_set(err, LSCE_EINPUT, "%s: must be at least %lld", k->env, k->lo);
  *v = x;
  return LSCE_OK;
}

int lsce_settings_load(lsce_err *err) {
  memset(&S, 0, sizeof S);
  lsce_config c; /* set only when every knob is good */
  lsce_config_default(&c);
  for (int i = 0; i < lsce_nknobs; i++) { /* lsce/knobs.h's rows, in its order (the order of errors) */
    const lsce_knob *k = &lsce_knobs[i];
    const char *s = getenv(k->env);
    long long v = k->def;
    int rc = LSCE_OK;
    if (s && *s) switch (k->kind) {
      case LSCE_KNOB_WORD: rc = knob_word(&v, k, s, err); break;
      case LSCE_KNOB_COUNT: rc = knob_count(&v, k, s, err); break;
      case LSCE_KNOB_PREC: rc = knob_prec(&v, k, s, err); break;
      case LSCE_KNOB_FLAG: v = strcmp(s, k->word) ? k->def : !k->def; break; /* not validated */
      default: break;
      }
    if (rc) return rc;
    if (k->field) lsce_knob_put(&c, k, v);
    else if (!strcmp(k->env, "LSCE_CERTIFY")) S.certify = (int)v + 1; /* the table's special cases */
    else if (!strcmp(k->env, "LSCE_FIXTURES")) S.fixtures = s && *s ? s : NULL;
  }
  lsce_config_set(&c); /* the libraries' configuration: they read no environment */
  return LSCE_OK;
}

const lsce_settings *lsce_settings_get(void) { return &S; }

void lsce_settings_ref_opts(lsce_ref_opts *o) {
  lsce_err unused; /* the reference's own reading of lsce_config (validated when it was set) */
  lsce_ref_opts_env(o, &unused);
}

int lsce_settings_threads(void) { return lsce_config_get()->threads > 0 ? lsce_config_get()->threads : 2; }

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
  const long mp = lsce_config_get()->max_precision;
  if (!mp || start <= mp) return LSCE_OK;
  if (given)
    return lsce_err_set(err, LSCE_EINPUT, "--precision: %ld is outside [16, %ld]", start, mp);
  return lsce_err_set(err, LSCE_EINPUT,
                      "LSCE_MAX_PRECISION: %ld is below the starting precision %ld", mp, start);
}
