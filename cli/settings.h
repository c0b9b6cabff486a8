/* cli/settings.h: the environment knobs, read and validated once when a subcommand starts (junk is
 * `lsce: <KNOB>: <message>`, exit 2), and the threads that the chosen count needs started before
 * any work (a failure is exit 3, not the OpenMP runtime's own exit). */
#ifndef LSCE_CLI_SETTINGS_H
#define LSCE_CLI_SETTINGS_H
#include "lsce/npy.h"
#include "lsce/reference.h"

/* The knobs of the command line alone (the Y rows of lsce/knobs.h); the others are lsce_config's
 * (lsce_config_get()). LSCE_THREADS_CAP is lsce/knobs.h's. */
typedef struct {
  int certify;         /* LSCE_CERTIFY: 0 automatic, 1 fast, 2 reference */
  const char *fixtures;/* LSCE_FIXTURES or NULL */
} lsce_settings;

/* Validates every knob (an empty value counts as unset), fills the process-wide settings, and sets
 * the libraries' configuration (lsce_config_set: the rows' and the reference's knobs, LSCE_THREADS
 * capped). Returns LSCE_OK or LSCE_EINPUT naming the knob. */
int lsce_settings_load(lsce_err *err);
const lsce_settings *lsce_settings_get(void);

/* The thread count the threaded implementations will use (LSCE_THREADS or their default 2). */
int lsce_settings_threads(void);
/* Before implementation `impl` runs (NULL: any of them may): when it is the threaded one
 * (cpu_threads, the only row that starts threads), starts and joins that many threads minus one,
 * all alive at once with default attributes, as the OpenMP runtime's team will be. When the system
 * cannot create them: LSCE_EINCOMPLETE `LSCE_THREADS: cannot start N threads: why` (the runtime
 * itself would print its own message and exit 1, or crash). */
int lsce_threads_preflight(const char *impl, lsce_err *err);

/* LSCE_MAX_PRECISION (when set) into the reference's options: lsce_ref_opts_env, which reads
 * lsce_config (the CLI read the knob once). */
void lsce_settings_ref_opts(lsce_ref_opts *o);

/* The starting precision `start` (from --precision when `given`, else the default) must not exceed
 * LSCE_MAX_PRECISION: one rule for every command that runs the reference. */
int lsce_settings_check_precision(long start, int given, lsce_err *err);
#endif
