/* cli/json.c: see json.h. */
#include <math.h>
#include "json.h"
#include "output.h"

void lsce_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
    else if (*c < 0x20) fprintf(f, "\\u%04x", *c);
    else fputc(*c, f);
  }
  fputc('"', f);
}

void lsce_json_num(FILE *f, double x) {
  char b[48];
  if (!isfinite(x)) { lsce_json_str(f, lsce_fmt_g17(b, x)); return; }
  fputs(lsce_fmt_g17(b, x), f);
}

void lsce_json_hex(FILE *f, double x) {
  char b[48];
  lsce_json_str(f, lsce_fmt_hex(b, x));
}
