/* core/json.c: the contract's number format (locale-free: lsce never calls setlocale, so printf runs
 * in the "C" locale) and strict JSON output (see lsce/json.h). */
#include <math.h>
#include <string.h>
#include "lsce/json.h"

const char *lsce_fmt_g17(char *buf, double x) {
  if (isnan(x)) return strcpy(buf, "nan");
  if (isinf(x)) return strcpy(buf, x > 0 ? "inf" : "-inf");
  if (x == 0) return strcpy(buf, "0");
  snprintf(buf, 32, "%.17g", x);
  return buf;
}

const char *lsce_fmt_hex(char *buf, double x) {
  if (isnan(x)) return strcpy(buf, "nan");
  if (isinf(x)) return strcpy(buf, x > 0 ? "inf" : "-inf");
  snprintf(buf, 40, "%a", x);
  return buf;
}


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
