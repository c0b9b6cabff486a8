/* cli/progress.h: a one-line progress bar on stderr (rows or cases done, percent, ETA) for long commands,
 * shown only when stderr is a terminal and the work has run for a second; cleared before any
 * other stderr line, so error lines stay whole. */
#ifndef LSCE_CLI_PROGRESS_H
#define LSCE_CLI_PROGRESS_H
#include "lsce/reference.h"

/* Attaches the bar to a reference run: `label` (e.g. "reference" or "verify: case NAME") is copied. */
void lsce_progress_attach(lsce_ref_opts *o, const char *label);
/* Steps of a longer job (verify: cases of a manifest): `done` of `total` `unit` so far; done == 0
 * or a new label restarts the clock. */
void lsce_progress_steps(const char *label, int64_t done, int64_t total, const char *unit);
/* Erases the bar (if shown); lsce_fail calls it before printing. */
void lsce_progress_clear(void);
#endif
