/* lsce/npy.h: a strict reader and an atomic-friendly writer for NumPy .npy files (format 1.0-3.0).
 * The reader validates every header field against the file size before it allocates or maps
 * anything; element access converts exactly (every supported dtype embeds exactly in double or
 * int64). */
#ifndef LSCE_NPY_H
#define LSCE_NPY_H
#include <stddef.h>
#include <stdint.h>
#include "lsce/types.h" /* lsce_dtype, LSCE_OK .. LSCE_EINCOMPLETE */

#ifdef __cplusplus
extern "C" {
#endif


/* One error line, without the "lsce: " prefix: "<name>: [location: ]<message>". */
typedef struct {
  int code;        /* LSCE_EINPUT or LSCE_EINCOMPLETE */
  char line[1024];
} lsce_err;

int lsce_err_set(lsce_err *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  ;

typedef struct {
  lsce_dtype dtype;
  int ndim;             /* 0, 1 or 2 */
  int64_t shape[2];     /* unused entries are 1 */
  int64_t count;        /* number of elements */
  int swap;             /* 1 when the file's byte order differs from the host's */
  const unsigned char *data; /* count * elem_size bytes, C order */
  void *map;            /* mmap base (or malloc'd buffer), owned */
  size_t map_len;
  int mapped;
} lsce_npy;

size_t lsce_dtype_size(lsce_dtype t);

/* An lsce_npy over the caller's memory, read in place (never copied; lsce_npy_free frees nothing):
 * dtype, ndim in 0..2, shape[k] for k < ndim, C order and native byte order. LSCE_EINPUT
 * "<name>: ..." for an unsupported dtype or rank, a negative dimension, a size that overflows, or
 * no data. With lsce_problem_validate it makes a problem of in-memory arrays (no files). */
int lsce_npy_view(lsce_npy *a, lsce_dtype dtype, int ndim, const int64_t *shape, const void *data,
                  const char *name, lsce_err *err);
const char *lsce_dtype_name(lsce_dtype t); /* "float64", "float32", "float16", "bfloat16", "int32", "int64" */

/* Read `path` (mapped read-only when it is a regular file). On failure returns LSCE_EINPUT
 * (malformed or unsupported: err->line names the path as typed, e.g. "x.npy: not a .npy file (bad
 * magic)") or LSCE_EINCOMPLETE (cannot open/read), and `a` holds nothing. '<u2' always means
 * bfloat16 bit patterns. */
int lsce_npy_read(lsce_npy *a, const char *path, lsce_err *err);
/* Same, from a memory buffer (used by the fuzzer); `name` is used in messages. The buffer must
 * outlive `a`. */
int lsce_npy_parse(lsce_npy *a, const void *buf, size_t len, const char *name, lsce_err *err);
void lsce_npy_free(lsce_npy *a);

/* Element i (flat, C order): lsce_npy_get_f converts float dtypes exactly (and int32 exactly, int64
 * rounded); lsce_npy_get_i reads int dtypes (0 for float dtypes). */
double lsce_npy_get_f(const lsce_npy *a, int64_t i);
int64_t lsce_npy_get_i(const lsce_npy *a, int64_t i);

/* Write a float64 little-endian .npy (format 1.0) of shape `shape[0..ndim)` (ndim 0, 1 or 2) to the
 * exact path given. Returns LSCE_OK, LSCE_EINCOMPLETE ("<path>: cannot write: <reason>", the partial
 * file removed) or LSCE_EINPUT (bad shape, no data, integers that do not fit). */
int lsce_npy_write_f64(const char *path, const double *data, int ndim, const int64_t *shape,
                       lsce_err *err);
/* Write with another dtype (F64, F32, F16, BF16 as uint16, I32, I64); `data` holds doubles that are
 * rounded to nearest-even in the target float type (ints are converted exactly). */
int lsce_npy_write(const char *path, lsce_dtype dt, const double *data, int ndim,
                   const int64_t *shape, lsce_err *err);

/* Exact conversions between the half formats and double (round to nearest even on the way in). */
double lsce_f16_to_double(uint16_t h);
double lsce_bf16_to_double(uint16_t h);
uint16_t lsce_double_to_f16(double x);
uint16_t lsce_double_to_bf16(double x);
float lsce_double_to_f32(double x);
#ifdef __cplusplus
}
#endif
#endif
