/* cli/json_read.h: a small strict JSON reader (RFC 8259 subset: no \u escapes beyond ASCII) for the
 * fixture manifest. */
#ifndef LSCE_CLI_JSON_READ_H
#define LSCE_CLI_JSON_READ_H
#include <stddef.h>
typedef enum { LSCE_J_NULL, LSCE_J_BOOL, LSCE_J_NUM, LSCE_J_STR, LSCE_J_ARR, LSCE_J_OBJ } lsce_jtype;
typedef struct lsce_jval {
  lsce_jtype t;
  double num;
  int b;
  char *str;
  struct lsce_jval *items; /* array items or object values */
  char **keys;             /* object keys */
  int n;
} lsce_jval;
/* Returns NULL on a syntax error (err gets "offset N: what"). */
lsce_jval *lsce_json_parse(const char *text, size_t len, char *err, size_t errlen);
const lsce_jval *lsce_json_get(const lsce_jval *obj, const char *key);
const char *lsce_json_gets(const lsce_jval *obj, const char *key); /* string member or NULL */
void lsce_json_free(lsce_jval *v);
/* The whole file (malloc'd, *len bytes, not terminated), or NULL when it cannot be read. */
char *lsce_read_text(const char *path, size_t *len);
#endif
