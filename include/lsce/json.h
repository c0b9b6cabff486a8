/* lsce/json.h (core/json.c): the contract's number format and strict JSON output helpers: strings escaped, non-finite numbers as "inf", "-inf",
 * "nan" strings, finite doubles with 17 significant digits (round-trip exact). */
#ifndef LSCE_JSON_H
#define LSCE_JSON_H
#include <stdio.h>
/* "%.17g", "0" for either zero, "inf", "-inf", "nan" (never "-nan"). buf >= 32 bytes. */
const char *lsce_fmt_g17(char *buf, double x);
/* "%a" with the same non-finite spellings. */
const char *lsce_fmt_hex(char *buf, double x);
void lsce_json_str(FILE *f, const char *s);
void lsce_json_num(FILE *f, double x);
void lsce_json_hex(FILE *f, double x); /* "%a" as a JSON string */
#endif
