/* core/config.c: the process-wide run-time settings (lsce/config.h), and lsce/knobs.h's table as
 * data (lsce_knobs[]) with the checks lsce_set_config makes from it. Set before work starts (the
 * command line once, at start-up); a caller that changes them between calls must not do so while
 * a call runs. */
#include <stddef.h>
#include "lsce/config.h"

#define TYPE_TAG(x) _Generic((x), int: 1, long: 2, long long: 3)
#define ROW_X(f, t, e, d, k, ...)                                                                     \
  {.env = e, .kind = LSCE_KNOB_##k, .field = #f, .offset = offsetof(lsce_config, f),                  \
   .type = TYPE_TAG(((lsce_config *)0)->f), .def = d, __VA_ARGS__},
#define ROW_Y(e, k, ...) {.env = e, .kind = LSCE_KNOB_##k, __VA_ARGS__},
const lsce_knob lsce_knobs[] = {LSCE_KNOBS(ROW_X, ROW_Y)};
const int lsce_nknobs = (int)(sizeof lsce_knobs / sizeof lsce_knobs[0]);

/* every field's default, by name (a positional list went stale when knobs were added) */
#define INIT_X(f, t, e, d, ...) .f = d,
#define DEFAULTS {LSCE_KNOBS(INIT_X, LSCE_KNOB_NONE)}

long long lsce_knob_get(const lsce_config *c, const lsce_knob *k) {
  const char *p = (const char *)c + k->offset;
  return k->type == 1 ? *(const int *)p : k->type == 2 ? *(const long *)p : *(const long long *)p;
}

void lsce_knob_put(lsce_config *c, const lsce_knob *k, long long v) {
  char *p = (char *)c + k->offset;
  if (k->type == 1) *(int *)p = (int)v;
  else if (k->type == 2) *(long *)p = (long)v;
  else *(long long *)p = v;
}

void lsce_config_default(lsce_config *c) { *c = (lsce_config)DEFAULTS; }

static long long nwords(const lsce_knob *k) {
  long long n = 0;
  while (k->words[n]) n++;
  return n;
}

int lsce_config_check(lsce_config *c, lsce_err *err) {
  for (int i = 0; i < lsce_nknobs; i++) {
    const lsce_knob *k = &lsce_knobs[i];
    if (!k->field) continue;
    const long long v = lsce_knob_get(c, k);
    switch (k->kind) {
    case LSCE_KNOB_WORD:
    case LSCE_KNOB_FLAG: {
      const long long lo = k->kind == LSCE_KNOB_WORD ? k->lo : 0, hi = k->kind == LSCE_KNOB_WORD ? nwords(k) - 1 : 1;
      if (v < lo || v > hi)
        return lsce_err_set(err, LSCE_EINPUT, "%s: must be %s, got %lld", k->env, k->lib_list ? k->lib_list : k->list, v);
      break;
    }
    case LSCE_KNOB_COUNT: /* 0 is the default; the environment's lowest value names the bound */
      if (v < 0) return lsce_err_set(err, LSCE_EINPUT, "%s: %lld is below %lld", k->env, v, k->lo);
      break;
    case LSCE_KNOB_PREC:
      if (v != 0 && v < k->lo) return lsce_err_set(err, LSCE_EINPUT, "%s: must be at least %lld", k->env, k->lo);
      break;
    default:
      break;
    }
  }
  for (int i = 0; i < lsce_nknobs; i++) /* as the command line caps LSCE_THREADS, LSCE_SPLIT, LSCE_SHARDS */
    if (lsce_knobs[i].kind == LSCE_KNOB_COUNT && lsce_knob_get(c, &lsce_knobs[i]) > lsce_knobs[i].cap)
      lsce_knob_put(c, &lsce_knobs[i], lsce_knobs[i].cap);
  return LSCE_OK;
}

static lsce_config C = DEFAULTS;

void lsce_config_set(const lsce_config *c) { C = *c; }
const lsce_config *lsce_config_get(void) { return &C; }
