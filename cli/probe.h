/* cli/probe.h: the designed probe cases shared by `lsce probe` (which writes them) and
 * `lsce identify` (whose pad convention they follow: class 0 is the pad class of k2-pad-kl). */
#ifndef LSCE_CLI_PROBE_H
#define LSCE_CLI_PROBE_H
#include "lsce/variants.h"
#define LSCE_PROBE_NCASES 6
#define LSCE_PROBE_MAXN 8
#define LSCE_PROBE_MAXK 8
#define LSCE_PROBE_PAD 0
typedef struct { const char *name; int N, K, weighted; lsce_reduction red; } lsce_probe_case;
extern const lsce_probe_case lsce_probe_cases[LSCE_PROBE_NCASES];
int lsce_cmd_probe(int argc, char **argv);
int lsce_cmd_identify(int argc, char **argv);
#endif
