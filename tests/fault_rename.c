/* tests/fault_rename.c: an LD_PRELOAD shim for tests/test_faults.py that makes rename() fail with
 * EBUSY when its target's last component equals $LSCE_FAULT_RENAME (every other call goes to libc):
 * the one commit failure that a full disk, a memory limit or a signal cannot produce. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rename(const char *from, const char *to) {
  static int (*real)(const char *, const char *);
  if (!real) *(void **)&real = dlsym(RTLD_NEXT, "rename");
  const char *victim = getenv("LSCE_FAULT_RENAME");
  const char *base = strrchr(to, '/');
  base = base ? base + 1 : to;
  if (victim && *victim && strcmp(base, victim) == 0) {
    errno = EBUSY;
    return -1;
  }
  return real(from, to);
}
