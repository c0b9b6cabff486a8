/* cli/cli.h: the subcommands of `lsce` (docs/cli.md). Each returns the
 * process exit code and prints its own error line. */
#ifndef LSCE_CLI_H
#define LSCE_CLI_H
#include "lsce/npy.h"

int lsce_cmd_variants(int argc, char **argv);
int lsce_cmd_reference(int argc, char **argv); /* reference and run */
int lsce_cmd_compare(int argc, char **argv);
int lsce_cmd_impls(int argc, char **argv);
int lsce_cmd_verify(int argc, char **argv);
int lsce_cmd_check(int argc, char **argv);

const char *lsce_machine_name(void);  /* CPU model */
const char *lsce_compiler_name(void);

/* Prints "lsce: <line>" on stderr and returns err->code. */
int lsce_fail(const lsce_err *err);
/* Missing required option check: sets err when `name` is absent. */
int lsce_require(const void *args, const char *name, lsce_err *err);
#endif
