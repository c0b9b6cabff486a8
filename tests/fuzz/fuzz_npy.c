/* fuzz_npy.c: libFuzzer target for the strict .npy reader (core/npy.c). Each input is parsed from
 * memory with lsce_npy_parse and, when it fits a pipe, read again through lsce_npy_read from a pipe
 * (the header-first, grow-as-bytes-arrive path); both must agree. Claim checked: no input crashes,
 * over-reads, leaks or trips UBSan, and an accepted array has every element readable. */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#endif
#include "lsce/npy.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, size_t size) {
  fprintf(stderr, "fuzz_npy: %s (input of %zu bytes)\n", what, size);
  abort();
}

/* Reads every element the way the problem layer does; returns a checksum so nothing is elided. */
static uint64_t touch_all(const lsce_npy *a) {
  uint64_t acc = 0;
  for (int64_t i = 0; i < a->count; i++) {
    if (a->dtype == LSCE_DT_I32 || a->dtype == LSCE_DT_I64) {
      acc += (uint64_t)lsce_npy_get_i(a, i);
    } else {
      double d = lsce_npy_get_f(a, i);
      uint64_t u;
      memcpy(&u, &d, sizeof u);
      acc ^= u + (acc << 6);
    }
  }
  return acc;
}

static void check_header(const lsce_npy *a, size_t size) {
  if (a->ndim < 0 || a->ndim > 2) die("ndim outside [0, 2]", size);
  if (a->shape[0] < 0 || a->shape[1] < 0) die("negative dimension accepted", size);
  if (a->count != a->shape[0] * a->shape[1]) die("count != shape[0] * shape[1]", size);
  if ((uint64_t)a->count * lsce_dtype_size(a->dtype) > size) die("count runs past the input", size);
  if (a->count > 0 && !a->data) die("no data pointer for a non-empty array", size);
}

/* The same bytes through a pipe: lsce_npy_read cannot map it, so it takes read_into_memory. */
static void via_pipe(const uint8_t *data, size_t size, const lsce_npy *mem, int rc_mem) {
  int fds[2];
  if (pipe(fds) != 0) return;
  int cap = fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  if (cap < 0) cap = fcntl(fds[1], F_GETPIPE_SZ);
  if (cap < 0 || (size_t)cap < size) { /* would block: skip (the memory parse already ran) */
    close(fds[0]);
    close(fds[1]);
    return;
  }
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(fds[1], data + off, size - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  close(fds[1]);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
  lsce_npy b;
  lsce_err err = {0, ""};
  int rc = lsce_npy_read(&b, path, &err);
  close(fds[0]);
  if (off != size) { /* short write: nothing to compare */
    if (rc == LSCE_OK) lsce_npy_free(&b);
    return;
  }
  if (rc == LSCE_EINCOMPLETE) return; /* /proc not mounted, out of memory: not the parser's fault */
  if ((rc == LSCE_OK) != (rc_mem == LSCE_OK)) {
    fprintf(stderr, "fuzz_npy: memory parse rc=%d, pipe read rc=%d (%s)\n", rc_mem, rc, err.line);
    die("lsce_npy_parse and lsce_npy_read (pipe) disagree", size);
  }
  if (rc == LSCE_OK) {
    check_header(&b, size);
    if (b.dtype != mem->dtype || b.ndim != mem->ndim || b.shape[0] != mem->shape[0] ||
        b.shape[1] != mem->shape[1] || b.swap != mem->swap)
      die("pipe read gives another header than the memory parse", size);
    size_t nbytes = (size_t)b.count * lsce_dtype_size(b.dtype);
    if (nbytes && memcmp(b.data, mem->data, nbytes) != 0)
      die("pipe read gives other data than the memory parse", size);
    (void)touch_all(&b);
    lsce_npy_free(&b);
  }
}

volatile uint64_t lsce_fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lsce_npy a;
  lsce_err err = {0, ""};
  int rc = lsce_npy_parse(&a, data, size, "fuzz.npy", &err);
  if (rc != LSCE_OK) {
    if (rc != LSCE_EINPUT) die("lsce_npy_parse returned a code other than 0 or 2", size);
    /* The message is one line naming the input, and ends inside the buffer. */
    if (memchr(err.line, '\0', sizeof err.line) == NULL) die("unterminated error line", size);
    if (strncmp(err.line, "fuzz.npy: ", 10) != 0) die("error line does not name the input", size);
    for (const char *p = err.line; *p; p++)
      if ((unsigned char)*p < 0x20) die("control character in the error line", size);
  } else {
    check_header(&a, size);
    lsce_fuzz_sink += touch_all(&a);
  }
  via_pipe(data, size, &a, rc);
  if (rc == LSCE_OK) lsce_npy_free(&a); /* a parse from memory owns nothing; free must cope */
  return 0;
}
