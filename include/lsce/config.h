/* lsce/config.h: the process-wide run-time settings (core/config.c), the way dav1d takes its CPU
 * mask: set by the caller (the command line from its environment, cli/settings.c; liblsce through
 * lsce_set_config), read by the rows and the reference. The struct is lsce/types.h's lsce_config. */
#ifndef LSCE_CONFIG_H
#define LSCE_CONFIG_H
#include "lsce/types.h"
#ifdef __cplusplus
extern "C" {
#endif

void lsce_config_default(lsce_config *c);
/* Replaces the settings (the caller validated them; values out of range read as the defaults). */
void lsce_config_set(const lsce_config *c);
/* The settings in force (lsce_config_default's until set). */
const lsce_config *lsce_config_get(void);
#ifdef __cplusplus
}
#endif
#endif
