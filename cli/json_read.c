/* cli/json_read.c: see json_read.h. Recursive descent with a depth limit; numbers are read with a
 * locale-free scanner (digits accumulated, then scaled; exact enough for manifest integers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_read.h"

typedef struct { const char *s; size_t i, n; char *err; size_t errlen; int depth; } P;

static void ws(P *p) { while (p->i < p->n && strchr(" \t\r\n", p->s[p->i])) p->i++; }
static int fail(P *p, const char *what) {
  if (p->err && !p->err[0]) snprintf(p->err, p->errlen, "offset %zu: %s", p->i, what);
  return 0;
}
static int value(P *p, lsce_jval *v);
static void clear(lsce_jval *v);

static int str(P *p, char **out) {
  if (p->i >= p->n || p->s[p->i] != '"') return fail(p, "expected a string");
  p->i++;
  size_t cap = 16, k = 0;
  char *b = malloc(cap);
  if (!b) return fail(p, "out of memory");
  while (p->i < p->n && p->s[p->i] != '"') {
    char c = p->s[p->i++];
    if ((unsigned char)c < 0x20) { free(b); return fail(p, "control character in string"); }
    if (c == '\\') {
      if (p->i >= p->n) break;
      char e = p->s[p->i++];
      switch (e) {
      case 'n': c = '\n'; break; case 't': c = '\t'; break; case 'r': c = '\r'; break;
      case 'b': c = '\b'; break; case 'f': c = '\f'; break;
      case '"': case '\\': case '/': c = e; break;
      case 'u': {
        unsigned u = 0;
        for (int d = 0; d < 4; d++) {
          if (p->i >= p->n) { free(b); return fail(p, "bad \\u escape"); }
          char h = p->s[p->i++];
          u = u * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 99);
        }
        if (u > 0x7f) { free(b); return fail(p, "non-ASCII \\u escape"); }
        c = (char)u;
        break;
      }
      default: free(b); return fail(p, "bad escape");
      }
    }
    if (k + 2 > cap) { cap *= 2; char *nb = realloc(b, cap); if (!nb) { free(b); return fail(p, "out of memory"); } b = nb; }
    b[k++] = c;
  }
  if (p->i >= p->n) { free(b); return fail(p, "unterminated string"); }
  p->i++;
  b[k] = '\0';
  *out = b;
  return 1;
}

static int num(P *p, double *out) {
  size_t st = p->i;
  if (p->s[p->i] == '-') p->i++;
  while (p->i < p->n && strchr("0123456789.eE+-", p->s[p->i])) p->i++;
  char buf[64];
  size_t len = p->i - st;
  if (len == 0 || len >= sizeof buf) return fail(p, "bad number");
  memcpy(buf, p->s + st, len);
  buf[len] = '\0';
  /* locale-free: integer part, fraction, exponent */
  const char *c = buf;
  int neg = 0;
  if (*c == '-') { neg = 1; c++; }
  double v = 0, scale = 1;
  int nd = 0;
  while (*c >= '0' && *c <= '9') { v = v * 10 + (*c - '0'); c++; nd++; }
  if (*c == '.') { c++; while (*c >= '0' && *c <= '9') { v = v * 10 + (*c - '0'); scale *= 10; c++; nd++; } }
  if (nd == 0) return fail(p, "bad number");
  int ex = 0, eneg = 0;
  if (*c == 'e' || *c == 'E') {
    c++;
    if (*c == '+' || *c == '-') { eneg = *c == '-'; c++; }
    if (!(*c >= '0' && *c <= '9')) return fail(p, "bad exponent");
    while (*c >= '0' && *c <= '9') { if (ex < 10000) ex = ex * 10 + (*c - '0'); c++; }
  }
  if (*c) return fail(p, "bad number");
  v /= scale;
  while (ex-- > 0) v = eneg ? v / 10 : v * 10;
  *out = neg ? -v : v;
  return 1;
}

static int lit(P *p, const char *w) {
  size_t l = strlen(w);
  if (p->n - p->i < l || memcmp(p->s + p->i, w, l) != 0) return 0;
  p->i += l;
  return 1;
}

static int push(lsce_jval *v, int *cap) {
  if (v->n < *cap) return 1;
  int nc = *cap ? *cap * 2 : 8;
  lsce_jval *ni = realloc(v->items, sizeof(lsce_jval) * (size_t)nc);
  if (!ni) return 0;
  v->items = ni;
  if (v->t == LSCE_J_OBJ) {
    char **nk = realloc(v->keys, sizeof(char *) * (size_t)nc);
    if (!nk) return 0;
    v->keys = nk;
  }
  *cap = nc;
  return 1;
}

static int value(P *p, lsce_jval *v) {
  memset(v, 0, sizeof *v);
  ws(p);
  if (p->i >= p->n) return fail(p, "unexpected end");
  if (++p->depth > 64) return fail(p, "nesting too deep");
  char c = p->s[p->i];
  int ok = 1, cap = 0;
  if (c == '{' || c == '[') {
    v->t = c == '{' ? LSCE_J_OBJ : LSCE_J_ARR;
    char close = c == '{' ? '}' : ']';
    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == close) { p->i++; p->depth--; return 1; }
    for (;;) {
      if (!push(v, &cap)) return fail(p, "out of memory");
      if (v->t == LSCE_J_OBJ) {
        ws(p);
        if (!str(p, &v->keys[v->n])) return 0;
        ws(p);
        if (p->i >= p->n || p->s[p->i] != ':') { free(v->keys[v->n]); return fail(p, "expected ':'"); }
        p->i++;
      }
      if (!value(p, &v->items[v->n])) {
        clear(&v->items[v->n]);
        if (v->t == LSCE_J_OBJ) free(v->keys[v->n]);
        return 0;
      }
      v->n++;
      ws(p);
      if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
      if (p->i < p->n && p->s[p->i] == close) { p->i++; break; }
      return fail(p, "expected ',' or a closing bracket");
    }
  } else if (c == '"') {
    v->t = LSCE_J_STR;
    ok = str(p, &v->str);
  } else if (lit(p, "true")) { v->t = LSCE_J_BOOL; v->b = 1; }
  else if (lit(p, "false")) { v->t = LSCE_J_BOOL; }
  else if (lit(p, "null")) { v->t = LSCE_J_NULL; }
  else { v->t = LSCE_J_NUM; ok = num(p, &v->num); }
  p->depth--;
  return ok;
}

static void clear(lsce_jval *v) {
  for (int k = 0; k < v->n; k++) {
    clear(&v->items[k]);
    if (v->t == LSCE_J_OBJ) free(v->keys[k]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
}

void lsce_json_free(lsce_jval *v) { if (v) { clear(v); free(v); } }

lsce_jval *lsce_json_parse(const char *text, size_t len, char *err, size_t errlen) {
  P p = {text, 0, len, err, errlen, 0};
  if (err && errlen) err[0] = '\0';
  lsce_jval *v = calloc(1, sizeof *v);
  if (!v) return NULL;
  if (!value(&p, v)) { clear(v); free(v); return NULL; }
  ws(&p);
  if (p.i != p.n) { fail(&p, "trailing characters"); clear(v); free(v); return NULL; }
  return v;
}

const lsce_jval *lsce_json_get(const lsce_jval *o, const char *key) {
  if (!o || o->t != LSCE_J_OBJ) return NULL;
  for (int k = 0; k < o->n; k++) if (strcmp(o->keys[k], key) == 0) return &o->items[k];
  return NULL;
}

const char *lsce_json_gets(const lsce_jval *o, const char *key) {
  const lsce_jval *v = lsce_json_get(o, key);
  return v && v->t == LSCE_J_STR ? v->str : NULL;
}

char *lsce_read_text(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 14, n = 0;
  char *b = malloc(cap);
  while (b) {
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
    if (n == cap) { cap *= 2; char *nb = realloc(b, cap); if (!nb) { free(b); b = NULL; } else b = nb; }
  }
  fclose(f);
  *len = n;
  return b;
}
