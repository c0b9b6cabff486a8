/* cli/json.h: strict JSON output helpers: strings escaped, non-finite numbers as "inf", "-inf",
 * "nan" strings, finite doubles with 17 significant digits (round-trip exact). */
#ifndef LSCE_CLI_JSON_H
#define LSCE_CLI_JSON_H
#include <stdio.h>
void lsce_json_str(FILE *f, const char *s);
void lsce_json_num(FILE *f, double x);
void lsce_json_hex(FILE *f, double x); /* "%a" as a JSON string */
#endif
