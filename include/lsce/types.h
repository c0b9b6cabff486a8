/* lsce/types.h: what every layer and the public API (lsce/lsce.h) share: the array dtypes, the
 * status codes, which are the command line's exit codes (docs/cli.md "Errors and exit codes"), and
 * the run-time settings (lsce_config). */
#ifndef LSCE_TYPES_H
#define LSCE_TYPES_H
#include "lsce/knobs.h"

typedef enum {
  LSCE_DT_F64 = 0, LSCE_DT_F32, LSCE_DT_F16, LSCE_DT_BF16, /* bf16 is stored as '<u2'/'>u2' */
  LSCE_DT_I32, LSCE_DT_I64
} lsce_dtype;

/* Exit codes of the contract. */
enum { LSCE_OK = 0, LSCE_EFAIL = 1, LSCE_EINPUT = 2, LSCE_EINCOMPLETE = 3 };

/* The run-time settings of the libraries, set through an API (lsce_set_config in liblsce; the
 * command line reads its LSCE_* environment knobs once, docs/cli.md "Environment", and sets them):
 * no library code reads the environment. lsce_config_default gives the values of an empty
 * environment. Its fields are the X rows of lsce/knobs.h's table, in the table's order: each row
 * gives the field's name, type, knob, default and meaning. */
typedef struct {
  LSCE_KNOBS(LSCE_KNOB_FIELD, LSCE_KNOB_NONE)
} lsce_config;
#endif
