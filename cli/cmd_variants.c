/* cli/cmd_variants.c: `lsce variants [--json]`, the catalog in catalog order. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "args.h"
#include "lsce/json.h"
#include "lsce/variants.h"
#include "lsce/problem.h"

static const lsce_opt opts[] = {{"--json", 0}, {"--help", 0}};

int lsce_cmd_variants(int argc, char **argv) {
  lsce_args a;
  lsce_err err;
  if (lsce_args_parse(&a, opts, 2, argc, argv, 2, "variants", &err)) return lsce_fail(&err);
  if (lsce_arg_given(&a, "--help")) {
    fputs("usage: lsce variants [--json]\n"
          "One line per catalog variant: id, target mass, off-target mass, weights, mean denominator.\n",
          stdout);
    return 0;
  }
  int json = lsce_arg_given(&a, "--json");
  if (json) fputs("[", stdout);
  for (int v = 0; v < LSCE_V_COUNT; v++) {
    const lsce_variant *d = &lsce_variants[v];
    if (!json) {
      printf("%s\t%s\t%s\t%s\t%s\n", d->id, d->target_mass, d->off_mass, d->weights, d->mean_denominator);
      continue;
    }
    fputs(v ? ",\n {" : "{", stdout);
    fputs("\"id\": ", stdout); lsce_json_str(stdout, d->id);
    fputs(", \"target_mass\": ", stdout); lsce_json_str(stdout, d->target_mass);
    fputs(", \"off_mass\": ", stdout); lsce_json_str(stdout, d->off_mass);
    fputs(", \"support\": ", stdout); lsce_json_str(stdout, d->support);
    fputs(", \"weights\": ", stdout); lsce_json_str(stdout, d->weights);
    fputs(", \"mean_denominator\": ", stdout); lsce_json_str(stdout, d->mean_denominator);
    printf(", \"kl\": %s, \"needs_weights\": %s, \"needs_pad_index\": %s, \"min_K\": %d",
           d->kl ? "true" : "false", d->needs_weights ? "true" : "false",
           d->needs_pad_index ? "true" : "false", d->min_K);
    printf(", \"needs_tp\": %s", (d->weighting == LSCE_W_SHARD) ? "true" : "false");
    fputs(", \"used_by\": ", stdout); lsce_json_str(stdout, d->used_by);
    /* the table's other columns (lsce/variants.inc), after the keys above */
    fputs(", \"family\": ", stdout); lsce_json_str(stdout, d->family);
    printf(", \"off_divisor\": %d", d->off_divisor);
    fputs(", \"weighting\": ", stdout); lsce_json_str(stdout, lsce_weighting_name(d->weighting));
    printf(", \"pad\": %s", d->pad ? "true" : "false");
    fputs(", \"partner\": ", stdout);
    if (d->partner >= 0) lsce_json_str(stdout, lsce_variants[d->partner].id); else fputs("null", stdout);
    fputs(", \"identity\": ", stdout);
    if (d->ident != LSCE_IDENT_NONE) {
      fputs("{\"kind\": ", stdout); lsce_json_str(stdout, lsce_ident_name(d->ident));
      fputs(", \"rhs\": ", stdout); lsce_json_str(stdout, d->ident_rhs >= 0 ? lsce_variants[d->ident_rhs].id : "ce");
      fputs("}", stdout);
    } else fputs("null", stdout);
    /* issue #15: the options reference accepts for this variant (docs/formulations.md "Which option
     * goes with which variant"), soft (N, K) targets, and weights that are optional */
    int sig = !strcmp(d->family, "sigmoid");
    printf(", \"soft_targets\": %s, \"weights_optional\": %s", lsce_variant_takes_soft(v) ? "true" : "false",
           sig ? "true" : "false");
    fputs(", \"options\": [", stdout);
    int first = 1;
    static const char *const opt15[] = {"--weights", "--pad-index", "--logit-scale", "--softcap", "--z-loss",
                                        "--sample-weights", "--normalizer"};
    for (int k = 0; k < 7; k++) {
      int takes = k == 0 ? (d->needs_weights || sig) : k == 1 ? d->needs_pad_index
                : k == 4 ? !sig : k == 6 ? d->weighting != LSCE_W_NLL : 1;
      if (!takes) continue;
      fputs(first ? "" : ", ", stdout);
      lsce_json_str(stdout, opt15[k]);
      first = 0;
    }
    fputs("]", stdout);
    fputs("}", stdout);
  }
  if (json) fputs("]\n", stdout);
  return 0;
}
