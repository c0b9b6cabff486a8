/* cli/main.c: `lsce` dispatches to its subcommands; exit codes 0 success, 1 verdict failed, 2 bad
 * input or usage, 3 could not complete. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "args.h"
#include "probe.h"

static const char *usage =
  "usage: lsce <command> [options]\n"
  "\n"
  "  lsce variants [--json]\n"
  "  lsce impls [--json]\n"
  "  lsce reference PROBLEM [--precision BITS] [--out O.npy] [--grad-out G.npy]\n"
  "  lsce run --impl NAME PROBLEM [--out O.npy] [--grad-out G.npy]\n"
  "  lsce check PROBLEM (--loss X | --loss-file O.npy) [--grad G.npy] [--dtype T]\n"
  "             [--loss-dtype T] [--grad-dtype T] [--max-ulp U] [--max-grad-ulp G] [--json]\n"
  "  lsce compare --logits L.npy --targets T.npy [--weights W.npy] --smoothing E\n"
  "             [--reduction mean|sum] [--ignore-index I] [--pad-index P] [--json]\n"
  "  lsce verify [--impl NAME|all] [--quick] [--fixtures DIR] [--json FILE]\n"
  "  lsce probe --out DIR [--dtype T]\n"
  "  lsce identify --probe DIR --outputs ODIR [--json]\n"
  "\n"
  "  PROBLEM = --logits L.npy --targets T.npy [--weights W.npy] --variant ID --smoothing E\n"
  "            [--reduction mean|sum|none] [--ignore-index I] [--pad-index P]\n"
  "  T = float64 | float32 | float16 | bfloat16\n"
  "\n"
  "Exit codes: 0 success, 1 a verdict failed, 2 bad input or usage, 3 could not complete.\n";

int lsce_fail(const lsce_err *err) {
  fprintf(stderr, "lsce: %s\n", err->line);
  return err->code;
}

int lsce_require(const void *args, const char *name, lsce_err *err) {
  if (lsce_arg_given((const lsce_args *)args, name)) return LSCE_OK;
  return lsce_err_set(err, LSCE_EINPUT, "%s: missing required option", name);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "lsce: usage: no command given (see lsce --help)\n");
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "variants")) return lsce_cmd_variants(argc, argv);
  if (!strcmp(cmd, "reference") || !strcmp(cmd, "run")) return lsce_cmd_reference(argc, argv);
  if (!strcmp(cmd, "impls")) return lsce_cmd_impls(argc, argv);
  if (!strcmp(cmd, "verify")) return lsce_cmd_verify(argc, argv);
  if (!strcmp(cmd, "check")) return lsce_cmd_check(argc, argv);
  if (!strcmp(cmd, "compare")) return lsce_cmd_compare(argc, argv);
  if (!strcmp(cmd, "probe")) return lsce_cmd_probe(argc, argv);
  if (!strcmp(cmd, "identify")) return lsce_cmd_identify(argc, argv);
  fprintf(stderr, "lsce: %s: unknown command (see lsce --help)\n", cmd);
  return 2;
}
