/* cli/cmd_impls.c: `lsce impls [--json]`: one line per registry row. */
#include <stdio.h>
#include "cli.h"
#include "args.h"
#include "lsce/json.h"
#include "lsce/registry.h"

static const lsce_opt opts[] = {{"--json", 0}, {"--help", 0}};
static const lsce_dtype order[4] = {LSCE_DT_F64, LSCE_DT_F32, LSCE_DT_F16, LSCE_DT_BF16};

int lsce_cmd_impls(int argc, char **argv) {
  lsce_args a;
  lsce_err err;
  if (lsce_args_parse(&a, opts, 2, argc, argv, 2, "impls", &err)) return lsce_fail(&err);
  if (lsce_arg_given(&a, "--help")) {
    fputs("usage: lsce impls [--json]\n"
          "One line per registry row: name, device, dtypes, tier, available, isa.\n", stdout);
    return 0;
  }
  int json = lsce_arg_given(&a, "--json");
  if (json) fputs("[", stdout);
  for (int k = 0; k < lsce_nimpls; k++) {
    const lsce_impl *im = &lsce_impls[k];
    int av = im->available();
    if (!json) {
      printf("%s\t%s\t", im->name, im->device);
      int first = 1;
      for (int d = 0; d < 4; d++)
        if (im->dtypes & LSCE_DT_BIT(order[d])) { printf("%s%s", first ? "" : ",", lsce_dtype_name(order[d])); first = 0; }
      printf("\t%s\t%s\t%s\n", im->tier, av ? "yes" : "no", im->isa());
      continue;
    }
    fputs(k ? ",\n {\"name\": " : "{\"name\": ", stdout);
    lsce_json_str(stdout, im->name);
    fputs(", \"device\": ", stdout); lsce_json_str(stdout, im->device);
    fputs(", \"dtypes\": [", stdout);
    int first = 1;
    for (int d = 0; d < 4; d++)
      if (im->dtypes & LSCE_DT_BIT(order[d])) {
        if (!first) fputs(", ", stdout);
        lsce_json_str(stdout, lsce_dtype_name(order[d]));
        first = 0;
      }
    fputs("], \"tier\": ", stdout); lsce_json_str(stdout, im->tier);
    fputs(", \"bounds\": {", stdout);
    first = 1;
    for (int d = 0; d < 4; d++)
      if (im->dtypes & LSCE_DT_BIT(order[d])) {
        if (!first) fputs(", ", stdout);
        lsce_json_str(stdout, lsce_dtype_name(order[d]));
        fputs(": {\"loss_ulp\": ", stdout); lsce_json_num(stdout, im->bounds[order[d]].loss_ulp);
        fputs(", \"grad_ulp\": ", stdout); lsce_json_num(stdout, im->bounds[order[d]].grad_ulp);
        fputs("}", stdout);
        first = 0;
      }
    printf("}, \"available\": %s, \"isa\": ", av ? "true" : "false");
    lsce_json_str(stdout, im->isa());
    fputs("}", stdout);
  }
  if (json) fputs("]\n", stdout);
  return 0;
}
