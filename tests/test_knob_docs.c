/* tests/test_knob_docs.c: docs/cli.md cannot drift from lsce/knobs.h's table (lsce_knobs[]): its
 * "Environment" table has a row for every knob and no other, each row with the knob's error line as
 * cli/settings.c prints it (`must be <list>, got '<v>'`, `not <what>: '<v>'`, or "not validated"),
 * and "The order of errors" lists the knobs that can be junk in the table's order.
 * Usage: test_knob_docs docs/cli.md */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lsce/config.h"

static int failed = 0;
#define EXPECT(c, ...) do { if (!(c)) { failed++; printf("FAIL: "); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* the text from the line `head` to the next line starting with `stop` (NULL when absent); a copy */
static char *section(const char *doc, const char *head, const char *stop) {
  const char *a = strstr(doc, head);
  if (!a) return NULL;
  const char *b = strstr(a + strlen(head), stop);
  size_t n = b ? (size_t)(b - a) : strlen(a);
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, a, n);
  s[n] = 0;
  return s;
}

/* the table row of knob env in the Environment section: a copy of its line, or NULL */
static char *row_of(const char *env_sec, const char *env) {
  char key[128];
  snprintf(key, sizeof key, "\n| `%s` |", env);
  return section(env_sec, key, "\n|");
}

static int validated(const lsce_knob *k) {
  return k->kind == LSCE_KNOB_WORD || k->kind == LSCE_KNOB_COUNT || k->kind == LSCE_KNOB_PREC;
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: test_knob_docs docs/cli.md\n"); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 1; }
  static char doc[1 << 20];
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  fclose(f);
  doc[n] = 0;
  char *env = section(doc, "\n## Environment\n", "\n## ");
  EXPECT(env != NULL, "no \"## Environment\" section");
  if (!env) return 1;
  char line[512];
  for (int i = 0; i < lsce_nknobs; i++) {
    const lsce_knob *k = &lsce_knobs[i];
    char *row = row_of(env, k->env);
    EXPECT(row != NULL, "%s: no row `| `%s` |` in docs/cli.md \"Environment\"", k->env, k->env);
    if (!row) continue;
    line[0] = 0;
    if (k->kind == LSCE_KNOB_WORD) snprintf(line, sizeof line, "`lsce: %s: must be %s, got '<v>'`", k->env, k->list);
    if (k->kind == LSCE_KNOB_COUNT || k->kind == LSCE_KNOB_PREC)
      snprintf(line, sizeof line, "`lsce: %s: not %s: '<v>'`", k->env, k->what);
    if (k->kind == LSCE_KNOB_FLAG) snprintf(line, sizeof line, "(not validated");
    EXPECT(!line[0] || strstr(row, line), "%s: its row lacks %s", k->env, line);
    free(row);
  }
  /* no row for a knob the table does not have */
  for (const char *p = env; (p = strstr(p, "\n| `LSCE_")); p++) {
    char name[64] = "";
    sscanf(p + 4, "%63[A-Z0-9_]", name);
    int known = 0;
    for (int i = 0; i < lsce_nknobs; i++) known |= !strcmp(lsce_knobs[i].env, name);
    EXPECT(known, "docs/cli.md \"Environment\" has a row for %s, which lsce/knobs.h does not have", name);
  }
  /* "The order of errors": item 0 names the junk-able knobs in the table's order */
  char *ord = section(doc, "0. **Environment knobs**", "\n1. ");
  EXPECT(ord != NULL, "no item \"0. **Environment knobs**\" in \"The order of errors\"");
  if (ord) {
    const char *p = ord;
    for (int i = 0; i < lsce_nknobs; i++) {
      if (!validated(&lsce_knobs[i])) continue;
      char want[80];
      snprintf(want, sizeof want, "`%s`", lsce_knobs[i].env);
      const char *q = strstr(p, want);
      EXPECT(q != NULL, "\"The order of errors\" lacks %s after the knobs before it in lsce/knobs.h", lsce_knobs[i].env);
      if (q) p = q + strlen(want);
    }
    free(ord);
  }
  free(env);
  printf("%d knobs: %s\n", lsce_nknobs, failed ? "FAIL" : "ok");
  return failed ? 1 : 0;
}
