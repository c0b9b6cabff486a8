/* core/config.c: the process-wide run-time settings (lsce/config.h). Set before work starts (the
 * command line once, at start-up); a caller that changes them between calls must not do so while
 * a call runs. */
#include "lsce/config.h"

void lsce_config_default(lsce_config *c) {
  c->isa = -1;
  c->threads = 0;
  c->split = 0;
  c->shards = 0;
  c->keep = 1;
  c->row_reference = 1;
  c->cuda_inplace = 0;
  c->max_precision = 0;
  c->f32pass = 1;
  c->f32one = 1;
  c->dblone = 1;
  c->tab16 = 1;
  c->f64one = 1;
  c->pipe = 1;
}

/* the defaults of lsce_config_default, by name (a positional list went stale when knobs were added) */
static lsce_config C = {.isa = -1, .keep = 1, .row_reference = 1, .f32pass = 1, .f32one = 1, .dblone = 1, .tab16 = 1,
                        .f64one = 1, .pipe = 1};

void lsce_config_set(const lsce_config *c) { C = *c; }
const lsce_config *lsce_config_get(void) { return &C; }
