/* cli/progress.h: a one-line progress bar on stderr (rows done, percent, ETA) for long commands,
 * shown only when stderr is a terminal and the work has run for a second; cleared before any
 * other stderr line, so error lines stay whole. */
#ifndef LSCE_CLI_PROGRESS_H
#define LSCE_CLI_PROGRESS_H
#include "lsce/reference.h"

/* Attaches the bar to a reference run: `label` (e.g. "reference" or "verify: case NAME") is copied. */
void lsce_progress_attach(lsce_ref_opts *o, const char *label);
/* Erases the bar (if shown); lsce_fail calls it before printing. */
void lsce_progress_clear(void);
#endif
