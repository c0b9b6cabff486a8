/* lsce/types.h: the two enumerations every layer and the public API (lsce/lsce.h) share: the array
 * dtypes and the status codes, which are the command line's exit codes (docs/cli.md "Errors and exit codes"). */
#ifndef LSCE_TYPES_H
#define LSCE_TYPES_H

typedef enum {
  LSCE_DT_F64 = 0, LSCE_DT_F32, LSCE_DT_F16, LSCE_DT_BF16, /* bf16 is stored as '<u2'/'>u2' */
  LSCE_DT_I32, LSCE_DT_I64
} lsce_dtype;

/* Exit codes of the contract. */
enum { LSCE_OK = 0, LSCE_EFAIL = 1, LSCE_EINPUT = 2, LSCE_EINCOMPLETE = 3 };
#endif
