/* tests/fault_malloc.c: an LD_PRELOAD shim for tests/test_mpi_options_f64.py that makes malloc,
 * calloc and realloc fail (NULL, ENOMEM) for a request of at least $LSCE_FAULT_MALLOC_MIN bytes
 * (every other request goes to glibc's own allocator): a memory failure at one chosen, large
 * allocation (a row buffer of a wide problem), which RLIMIT_AS cannot aim at. */
#include <errno.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

static int refused(size_t n) {
  static size_t lim;
  static int init;
  if (!init) {
    const char *s = getenv("LSCE_FAULT_MALLOC_MIN");
    lim = s && *s ? (size_t)strtoull(s, NULL, 10) : 0;
    init = 1;
  }
  if (lim == 0 || n < lim) return 0;
  errno = ENOMEM;
  return 1;
}

void *malloc(size_t n) { return refused(n) ? NULL : __libc_malloc(n); }
void *calloc(size_t n, size_t m) { return m && n > (size_t)-1 / m ? __libc_calloc(n, m) : refused(n * m) ? NULL : __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { return refused(n) ? NULL : __libc_realloc(p, n); }
