/* lsce/config.h: the process-wide run-time settings (core/config.c), the way dav1d takes its CPU
 * mask: set by the caller (the command line from its environment, cli/settings.c; liblsce through
 * lsce_set_config), read by the rows and the reference. The struct is lsce/types.h's lsce_config,
 * whose fields are the X rows of lsce/knobs.h; lsce_knobs[] is that table as data. */
#ifndef LSCE_CONFIG_H
#define LSCE_CONFIG_H
#include "lsce/npy.h" /* lsce_err; lsce/types.h */
#ifdef __cplusplus
extern "C" {
#endif

/* How a knob is read and checked (lsce/knobs.h says what each kind means). */
enum { LSCE_KNOB_WORD = 1, LSCE_KNOB_COUNT, LSCE_KNOB_FLAG, LSCE_KNOB_PREC, LSCE_KNOB_TEXT };

/* One row of lsce/knobs.h's table. The rows' tails initialise the members after `def`. */
typedef struct {
  const char *env;          /* "LSCE_ISA" */
  int kind;                 /* LSCE_KNOB_* */
  const char *field;        /* the lsce_config field ("isa"); NULL: a knob of the command line alone */
  size_t offset;            /* of that field */
  int type;                 /* its C type: 1 int, 2 long, 3 long long */
  long long def;            /* the value of an empty environment */
  const char *const *words; /* WORD: the words, NULL-terminated (the value is the index) */
  const char *list;         /* WORD, FLAG: the values as the error line lists them */
  const char *lib_list;     /* WORD: lsce_set_config's list when it differs from .list */
  const char *word;         /* FLAG: the one value that flips the default */
  const char *what;         /* COUNT, PREC: `not <what>` */
  long long lo, cap;        /* WORD: the lowest value; COUNT, PREC: the lowest value the
                               environment may give; COUNT: larger values read as cap */
  const char *doc;          /* what the knob does */
} lsce_knob;
#define LSCE_WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

extern const lsce_knob lsce_knobs[]; /* in lsce/knobs.h's order */
extern const int lsce_nknobs;

/* A knob's field of c, as long long (k->field must not be NULL); and the store of v into it. */
long long lsce_knob_get(const lsce_config *c, const lsce_knob *k);
void lsce_knob_put(lsce_config *c, const lsce_knob *k, long long v);

void lsce_config_default(lsce_config *c);
/* lsce_set_config's checks: the first field outside what its row accepts is LSCE_EINPUT naming the
 * knob (c unchanged); else the COUNT fields above their cap are set to it and LSCE_OK. */
int lsce_config_check(lsce_config *c, lsce_err *err);
/* Replaces the settings (the caller validated them; values out of range read as the defaults). */
void lsce_config_set(const lsce_config *c);
/* The settings in force (lsce_config_default's until set). */
const lsce_config *lsce_config_get(void);
#ifdef __cplusplus
}
#endif
#endif
