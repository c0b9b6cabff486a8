/* cli/args.c: the option grammar of docs/cli.md "Arguments" (--name VALUE or --name=VALUE, each at
 * most once). The value grammars are core/values.c. */
#include <string.h>
#include "args.h"

int lsce_args_parse(lsce_args *a, const lsce_opt *opts, int nopts, int argc, char **argv, int first,
                    const char *cmd, lsce_err *err) {
  memset(a, 0, sizeof *a);
  a->opts = opts;
  a->nopts = nopts;
  a->fail_pos = argc;
  for (int i = first; i < argc; i++) {
    a->fail_pos = i;
    const char *arg = argv[i];
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
      return lsce_err_set(err, LSCE_EINPUT, "%s: unexpected argument '%s'", cmd, arg);
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    int k = -1;
    for (int j = 0; j < nopts; j++)
      if (strlen(opts[j].name) == nlen && strncmp(opts[j].name, arg, nlen) == 0) { k = j; break; }
    if (k < 0)
      return lsce_err_set(err, LSCE_EINPUT, "%.*s: unknown option for '%s'", (int)nlen, arg, cmd);
    if (a->values[k])
      return lsce_err_set(err, LSCE_EINPUT, "%s: given more than once", opts[k].name);
    const char *val;
    if (!opts[k].takes_value) {
      if (eq) return lsce_err_set(err, LSCE_EINPUT, "%s: takes no value", opts[k].name);
      val = "";
    } else if (eq) {
      val = eq + 1;
    } else {
      if (i + 1 >= argc) return lsce_err_set(err, LSCE_EINPUT, "%s: missing value", opts[k].name);
      val = argv[++i];
    }
    a->values[k] = val;
    a->pos[k] = i;
  }
  a->fail_pos = argc;
  return LSCE_OK;
}

static int find(const lsce_args *a, const char *name) {
  for (int j = 0; j < a->nopts; j++)
    if (strcmp(a->opts[j].name, name) == 0) return j;
  return -1;
}
const char *lsce_arg(const lsce_args *a, const char *name) {
  int j = find(a, name);
  return j < 0 ? NULL : a->values[j];
}
int lsce_arg_given(const lsce_args *a, const char *name) { return lsce_arg(a, name) != NULL; }

void lsce_args_order(const lsce_args *a, int *idx, int *n) {
  *n = 0;
  for (int j = 0; j < a->nopts; j++)
    if (a->values[j]) idx[(*n)++] = j;
  for (int x = 1; x < *n; x++) /* insertion sort by argv position */
    for (int y = x; y > 0 && a->pos[idx[y - 1]] > a->pos[idx[y]]; y--) {
      int t = idx[y]; idx[y] = idx[y - 1]; idx[y - 1] = t;
    }
}

