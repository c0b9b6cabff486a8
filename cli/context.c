/* cli/context.c: the machine and compiler named in every data file lsce writes. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

const char *lsce_machine_name(void) {
  static char name[256];
  if (name[0]) return name;
  snprintf(name, sizeof name, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return name;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *c = strchr(line, ':');
      if (c) {
        c++;
        while (*c == ' ' || *c == '\t') c++;
        c[strcspn(c, "\n")] = '\0';
        snprintf(name, sizeof name, "%s", c);
      }
      break;
    }
  }
  fclose(f);
  return name;
}

const char *lsce_compiler_name(void) {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown";
#endif
}
