/* test_npy.c: unit tests for core/npy.c (the strict .npy reader/writer and the half conversions).
 * Standalone: `test_npy [CORPUS_DIR]` (default tests/corpus) prints one line per failed check and
 * ends with "N passed, M failed, K skipped"; exits nonzero when anything failed. */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "lsce/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed, skipped;
static char tmpdir[256];

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int check(int ok, const char *fmt, ...) {
  if (ok) {
    passed++;
    return 1;
  }
  failed++;
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  return 0;
}

static uint64_t dbits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}
static double bitsd(uint64_t u) {
  double d;
  memcpy(&d, &u, 8);
  return d;
}
static uint32_t fbits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static float bitsf(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static int is_nan(double d) { return d != d; }
/* Identical doubles, with all NaNs equal and -0 distinct from +0. */
static int same(double a, double b) { return (is_nan(a) && is_nan(b)) || dbits(a) == dbits(b); }

/* ------------------------------------------------------------------------------------------------
 * Building .npy buffers by hand */

typedef struct {
  unsigned char *p;
  size_t n;
} bytes;

/* magic + version + header length (as given, or computed when hlen_override < 0) + header +
 * data. The header text is used as is: no padding, no newline. */
static bytes make_npy(int major, int minor, const char *hdr, size_t hdr_len, long long hlen_override,
                      const void *data, size_t data_len) {
  size_t pre = major >= 2 ? 12 : 10;
  bytes b;
  b.n = pre + hdr_len + data_len;
  b.p = malloc(b.n ? b.n : 1);
  if (!b.p) abort();
  memcpy(b.p, "\x93NUMPY", 6);
  b.p[6] = (unsigned char)major;
  b.p[7] = (unsigned char)minor;
  unsigned long long hl = hlen_override >= 0 ? (unsigned long long)hlen_override : hdr_len;
  for (size_t k = 0; k < pre - 8; k++) b.p[8 + k] = (unsigned char)(hl >> (8 * k));
  if (hdr_len) memcpy(b.p + pre, hdr, hdr_len);
  if (data_len) memcpy(b.p + pre + hdr_len, data, data_len);
  return b;
}
static bytes npy1(const char *hdr, const void *data, size_t data_len) {
  return make_npy(1, 0, hdr, strlen(hdr), -1, data, data_len);
}

static void put_be(unsigned char *p, uint64_t v, int n) {
  for (int k = 0; k < n; k++) p[k] = (unsigned char)(v >> (8 * (n - 1 - k)));
}
static void put_le(unsigned char *p, uint64_t v, int n) {
  for (int k = 0; k < n; k++) p[k] = (unsigned char)(v >> (8 * k));
}

static int write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fwrite(p, 1, n, f) == n;
  return (fclose(f) == 0 && ok) ? 0 : -1;
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  unsigned char *p = malloc(cap);
  size_t r;
  while (p && (r = fread(p + len, 1, cap - len, f)) > 0) {
    len += r;
    if (len == cap) {
      unsigned char *q = realloc(p, cap *= 2);
      if (!q) free(p);
      p = q;
    }
  }
  fclose(f);
  *n = len;
  return p;
}

/* ------------------------------------------------------------------------------------------------
 * Half conversions */

static double f16_ref(uint16_t h) { /* independent reference: value by arithmetic */
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v;
  if (e == 31) return m ? NAN : (s ? -INFINITY : INFINITY);
  if (e == 0) v = m / 16777216.0;
  else {
    v = (1024 + m) / 1024.0;
    for (int k = 15; k > e; k--) v /= 2;
    for (int k = 15; k < e; k++) v *= 2;
  }
  return s ? -v : v;
}

static void test_half(void) {
  /* f16 -> double, exact */
  struct { uint16_t h; double v; } f16v[] = {
      {0x0000, 0.0}, {0x0001, 0x1p-24}, {0x0002, 0x1p-23}, {0x03ff, 1023 * 0x1p-24},
      {0x0400, 0x1p-14}, {0x3c00, 1.0}, {0x3c01, 1.0 + 0x1p-10}, {0xc000, -2.0},
      {0x7bff, 65504.0}, {0x3555, 0x1.554p-2}, {0x8001, -0x1p-24}};
  for (size_t k = 0; k < sizeof f16v / sizeof f16v[0]; k++)
    check(same(lsce_f16_to_double(f16v[k].h), f16v[k].v), "f16_to_double(0x%04x)", f16v[k].h);
  check(dbits(lsce_f16_to_double(0x8000)) == dbits(-0.0), "f16 -0");
  check(lsce_f16_to_double(0x7c00) == INFINITY, "f16 +inf");
  check(lsce_f16_to_double(0xfc00) == -INFINITY, "f16 -inf");
  check(is_nan(lsce_f16_to_double(0x7e00)) && is_nan(lsce_f16_to_double(0x7c01)) &&
            is_nan(lsce_f16_to_double(0xfe00)),
        "f16 nan");
  /* bf16 -> double */
  check(same(lsce_bf16_to_double(0x3f80), 1.0), "bf16 1");
  check(same(lsce_bf16_to_double(0x0001), 0x1p-133), "bf16 min subnormal");
  check(same(lsce_bf16_to_double(0x007f), 127 * 0x1p-133), "bf16 max subnormal");
  check(same(lsce_bf16_to_double(0x0080), 0x1p-126), "bf16 min normal");
  check(same(lsce_bf16_to_double(0x7f7f), 0x1.fep127), "bf16 max");
  check(same(lsce_bf16_to_double(0xc0a0), -5.0), "bf16 -5");
  check(lsce_bf16_to_double(0xff80) == -INFINITY, "bf16 -inf");
  check(is_nan(lsce_bf16_to_double(0x7fc0)) && is_nan(lsce_bf16_to_double(0x7f81)), "bf16 nan");
  check(dbits(lsce_bf16_to_double(0x8000)) == dbits(-0.0), "bf16 -0");

  /* Exhaustive: every f16/bf16 value against a reference, and round trip through double. */
  int bad16 = 0, badbf = 0, badrt = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    double v = lsce_f16_to_double((uint16_t)h);
    if (!same(v, f16_ref((uint16_t)h))) bad16++;
    if (!is_nan(v) && lsce_double_to_f16(v) != h) badrt++;
    if (is_nan(v) && !((lsce_double_to_f16(v) & 0x7c00) == 0x7c00 && (lsce_double_to_f16(v) & 0x3ff)))
      badrt++;
    double w = lsce_bf16_to_double((uint16_t)h);
    if (!same(w, (double)bitsf(h << 16))) badbf++;
    if (!is_nan(w) && lsce_double_to_bf16(w) != h) badrt++;
    if (is_nan(w) && !((lsce_double_to_bf16(w) & 0x7f80) == 0x7f80 && (lsce_double_to_bf16(w) & 0x7f)))
      badrt++;
  }
  check(bad16 == 0, "f16_to_double mismatches: %d", bad16);
  check(badbf == 0, "bf16_to_double mismatches: %d", badbf);
  check(badrt == 0, "half round-trip mismatches: %d", badrt);

  /* Exhaustive midpoints: exactly halfway goes to the even neighbour, a hair off goes to the
   * nearer one. Covers every subnormal, the subnormal/normal seam and every binade. */
  int badmid = 0;
  for (int fmt = 0; fmt < 2; fmt++) {
    uint16_t top = fmt == 0 ? 0x7bff : 0x7f7f;
    for (uint32_t h = 0; h < top; h++) {
      double a = fmt == 0 ? lsce_f16_to_double((uint16_t)h) : lsce_bf16_to_double((uint16_t)h);
      double b = fmt == 0 ? lsce_f16_to_double((uint16_t)(h + 1)) : lsce_bf16_to_double((uint16_t)(h + 1));
      double mid = a + (b - a) / 2; /* exact: few significant bits */
      uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
      uint16_t (*to)(double) = fmt == 0 ? lsce_double_to_f16 : lsce_double_to_bf16;
      double below = bitsd(dbits(mid) - 1), above = bitsd(dbits(mid) + 1);
      if (to(mid) != even || to(below) != h || to(above) != h + 1) badmid++;
      if (to(-mid) != (even | 0x8000) || to(-below) != (h | 0x8000)) badmid++;
    }
  }
  check(badmid == 0, "half midpoint rounding mismatches: %d", badmid);

  /* Named edge cases of double -> f16. */
  struct { double x; uint16_t h; const char *what; } tof16[] = {
      {65504.0, 0x7bff, "max"},
      {65519.99, 0x7bff, "just below the overflow threshold"},
      {65520.0, 0x7c00, "overflow threshold ties to infinity"},
      {1e300, 0x7c00, "huge"},
      {-1e300, 0xfc00, "-huge"},
      {0x1p-25, 0x0000, "half the min subnormal ties to zero"},
      {0x1.0000000000001p-25, 0x0001, "just above half the min subnormal"},
      {0x1.8p-24, 0x0002, "1.5 min subnormals ties to even (2)"},
      {0x1p-26, 0x0000, "quarter min subnormal"},
      {1023.5 * 0x1p-24, 0x0400, "max subnormal + half ulp ties up to min normal"},
      {1.0 + 0x1p-11, 0x3c00, "1 + half ulp ties to 1"},
      {1.0 + 3 * 0x1p-11, 0x3c02, "1 + 1.5 ulp ties to even"},
      {1.0 + 0x1p-11 + 0x1p-40, 0x3c01, "no double rounding through float"},
      {0x1p-1074, 0x0000, "min double subnormal"},
      {-0x1p-1074, 0x8000, "-min double subnormal"},
      {-0.0, 0x8000, "-0"},
      {2049.0, 0x6800, "2049 ties to 2048"},
      {2051.0, 0x6802, "2051 ties to 2052"},
  };
  for (size_t k = 0; k < sizeof tof16 / sizeof tof16[0]; k++) {
    uint16_t got = lsce_double_to_f16(tof16[k].x);
    check(got == tof16[k].h, "double_to_f16 %s: got 0x%04x want 0x%04x", tof16[k].what, got,
          tof16[k].h);
  }
  uint16_t n16 = lsce_double_to_f16(bitsd(UINT64_C(0x7ff0000000000001))); /* payload in low bits */
  check((n16 & 0x7c00) == 0x7c00 && (n16 & 0x3ff) != 0, "f16 nan with low payload stays nan");
  check(lsce_double_to_f16(bitsd(UINT64_C(0xfff8000000000000))) >> 15 == 1, "f16 -nan sign");
  check(lsce_double_to_f16(INFINITY) == 0x7c00, "f16 inf");

  struct { double x; uint16_t h; const char *what; } tobf[] = {
      {1.0 + 0x1p-8, 0x3f80, "1 + half ulp ties to 1"},
      {1.0 + 3 * 0x1p-8, 0x3f82, "1 + 1.5 ulp ties to even"},
      {1.0 + 0x1p-8 + 0x1p-40, 0x3f81, "no double rounding through float"},
      {0x1.fep127, 0x7f7f, "max"},
      {0x1.ffp127, 0x7f80, "overflow threshold ties to infinity"},
      {0x1.fefffffffffffp127, 0x7f7f, "just below the overflow threshold"},
      {0x1p-134, 0x0000, "half the min subnormal ties to zero"},
      {0x1.8p-133, 0x0002, "1.5 min subnormals ties to even"},
      {0x1p-1000, 0x0000, "tiny"},
      {-3.0, 0xc040, "-3"},
  };
  for (size_t k = 0; k < sizeof tobf / sizeof tobf[0]; k++) {
    uint16_t got = lsce_double_to_bf16(tobf[k].x);
    check(got == tobf[k].h, "double_to_bf16 %s: got 0x%04x want 0x%04x", tobf[k].what, got,
          tobf[k].h);
  }
  uint16_t nbf = lsce_double_to_bf16(bitsd(UINT64_C(0x7ff0000000000001)));
  check((nbf & 0x7f80) == 0x7f80 && (nbf & 0x7f) != 0, "bf16 nan with low payload stays nan");

  /* double -> f32: named cases, then pseudo-random doubles in float range against the C cast
   * (correctly rounded under the default rounding mode on IEEE hosts). */
  struct { double x; uint32_t f; const char *what; } tof32[] = {
      {0x1p-149, 0x00000001, "min subnormal"},
      {0x1p-150, 0x00000000, "half min subnormal ties to zero"},
      {0x1.8p-149, 0x00000002, "1.5 min subnormal ties to even"},
      {0x1.fffffep127, 0x7f7fffff, "max"},
      {0x1.ffffffp127, 0x7f800000, "overflow threshold ties to infinity"},
      {1e39, 0x7f800000, "overflow"},
      {-1e300, 0xff800000, "-overflow"},
      {1.0 + 0x1p-24, 0x3f800000, "1 + half ulp"},
      {1.0 + 0x1p-24 + 0x1p-50, 0x3f800001, "1 + half ulp + a bit"},
      {-0.0, 0x80000000, "-0"},
  };
  for (size_t k = 0; k < sizeof tof32 / sizeof tof32[0]; k++) {
    uint32_t got = fbits(lsce_double_to_f32(tof32[k].x));
    check(got == tof32[k].f, "double_to_f32 %s: got 0x%08x want 0x%08x", tof32[k].what,
          (unsigned)got, (unsigned)tof32[k].f);
  }
  check(is_nan(lsce_double_to_f32(NAN)), "f32 nan");
  uint64_t seed = 0x9e3779b97f4a7c15u;
  int badf32 = 0;
  for (int k = 0; k < 200000; k++) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    uint64_t u = seed;
    /* exponents within float range, subnormals included */
    unsigned e = (unsigned)(1023 - 152 + (u >> 11) % 282);
    u = (u & UINT64_C(0x800fffffffffffff)) | ((uint64_t)e << 52);
    if (k % 4 == 0) u &= ~UINT64_C(0xfffffff); /* many exact ties and near-ties */
    double x = bitsd(u);
    if (x > 3.4e38 || x < -3.4e38) continue;
    if (fbits(lsce_double_to_f32(x)) != fbits((float)x)) badf32++;
  }
  check(badf32 == 0, "double_to_f32 differs from the C cast on %d random values", badf32);
}

/* ------------------------------------------------------------------------------------------------
 * Parsing good buffers */

static int parse_ok(bytes b, lsce_npy *a, const char *what) {
  lsce_err err = {0, ""};
  int rc = lsce_npy_parse(a, b.p, b.n, "t.npy", &err);
  return check(rc == LSCE_OK, "%s: parse failed: %s", what, err.line);
}

static void test_parse_good(void) {
  unsigned char d[64];
  lsce_npy a;
  struct { const char *descr; lsce_dtype dt; int size; int big; } dts[] = {
      {"<f8", LSCE_DT_F64, 8, 0}, {">f8", LSCE_DT_F64, 8, 1}, {"<f4", LSCE_DT_F32, 4, 0},
      {">f4", LSCE_DT_F32, 4, 1}, {"<f2", LSCE_DT_F16, 2, 0}, {">f2", LSCE_DT_F16, 2, 1},
      {"<u2", LSCE_DT_BF16, 2, 0}, {">u2", LSCE_DT_BF16, 2, 1}, {"<i4", LSCE_DT_I32, 4, 0},
      {">i4", LSCE_DT_I32, 4, 1}, {"<i8", LSCE_DT_I64, 8, 0}, {">i8", LSCE_DT_I64, 8, 1},
      {"=f8", LSCE_DT_F64, 8, -1}, {"=i4", LSCE_DT_I32, 4, -1}, {"=u2", LSCE_DT_BF16, 2, -1}};
  const int host_big = ((const unsigned char *)&(const uint16_t){1})[0] == 0;
  for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
    int big = dts[k].big < 0 ? host_big : dts[k].big;
    /* values -1.5, 2, 0.25 (floats) or -7, 123456, INT_MIN-ish (ints), shape (3,) */
    uint64_t raw[3];
    double want_f[3] = {-1.5, 2.0, 0.25};
    int64_t want_i[3] = {-7, 123456, dts[k].size == 4 ? -2147483647 - 1 : INT64_MIN};
    for (int j = 0; j < 3; j++) {
      switch (dts[k].dt) {
      case LSCE_DT_F64: raw[j] = dbits(want_f[j]); break;
      case LSCE_DT_F32: raw[j] = fbits((float)want_f[j]); break;
      case LSCE_DT_F16: raw[j] = lsce_double_to_f16(want_f[j]); break;
      case LSCE_DT_BF16: raw[j] = lsce_double_to_bf16(want_f[j]); break;
      default: raw[j] = (uint64_t)want_i[j]; break;
      }
      if (big) put_be(d + j * dts[k].size, raw[j], dts[k].size);
      else put_le(d + j * dts[k].size, raw[j], dts[k].size);
    }
    char hdr[128];
    snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (3,), }\n",
             dts[k].descr);
    bytes b = npy1(hdr, d, (size_t)(3 * dts[k].size));
    if (parse_ok(b, &a, dts[k].descr)) {
      check(a.dtype == dts[k].dt && a.ndim == 1 && a.shape[0] == 3 && a.shape[1] == 1 &&
                a.count == 3 && a.swap == (big != host_big) && a.map == NULL,
            "%s: metadata", dts[k].descr);
      for (int j = 0; j < 3; j++) {
        if (dts[k].dt == LSCE_DT_I32 || dts[k].dt == LSCE_DT_I64) {
          check(lsce_npy_get_i(&a, j) == want_i[j], "%s: get_i[%d]", dts[k].descr, j);
          check(lsce_npy_get_f(&a, j) == (double)want_i[j], "%s: get_f[%d]", dts[k].descr, j);
        } else {
          check(same(lsce_npy_get_f(&a, j), want_f[j]), "%s: get_f[%d] = %g", dts[k].descr, j,
                lsce_npy_get_f(&a, j));
        }
      }
      lsce_npy_free(&a);
    }
    free(b.p);
  }

  /* Header spellings that must all parse to shape (2, 3) float64. */
  double v6[6] = {1, 2, 3, 4, 5, 6};
  unsigned char d6[48];
  for (int j = 0; j < 6; j++) put_le(d6 + 8 * j, dbits(v6[j]), 8);
  const char *spellings[] = {
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
      "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}",
      "{\"descr\":\"<f8\",\"fortran_order\":False,\"shape\":(2,3)}",
      "  {  'fortran_order'  :  False ,'descr':'<f8','shape'  :(  2 ,  3 , ) ,  }   \n",
      "{'descr': '<f8',\n 'fortran_order': False,\n\t'shape': (2, 3)}\r\n",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }",
  };
  for (size_t k = 0; k < sizeof spellings / sizeof spellings[0]; k++) {
    bytes b = npy1(spellings[k], d6, sizeof d6);
    if (parse_ok(b, &a, spellings[k])) {
      check(a.dtype == LSCE_DT_F64 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 &&
                a.count == 6 && lsce_npy_get_f(&a, 5) == 6.0,
            "spelling %zu: contents", k);
      lsce_npy_free(&a);
    }
    free(b.p);
  }

  /* Shapes: (), (0,), (0, 5), (5, 0), (1, 1). */
  struct { const char *shape; int ndim; int64_t s0, s1, count; } shp[] = {
      {"()", 0, 1, 1, 1}, {"(0,)", 1, 0, 1, 0}, {"(0, 5)", 2, 0, 5, 0},
      {"(5, 0)", 2, 5, 0, 0}, {"(1, 1)", 2, 1, 1, 1}, {"(9223372036854775807, 0)", 2, INT64_MAX, 0, 0}};
  for (size_t k = 0; k < sizeof shp / sizeof shp[0]; k++) {
    char hdr[128];
    snprintf(hdr, sizeof hdr, "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }\n",
             shp[k].shape);
    bytes b = npy1(hdr, d6, (size_t)shp[k].count * 8);
    if (parse_ok(b, &a, shp[k].shape)) {
      check(a.ndim == shp[k].ndim && a.shape[0] == shp[k].s0 && a.shape[1] == shp[k].s1 &&
                a.count == shp[k].count && (a.count > 0 || a.data == NULL),
            "shape %s: metadata", shp[k].shape);
      if (a.count == 1) check(lsce_npy_get_f(&a, 0) == 1.0, "shape %s: value", shp[k].shape);
      lsce_npy_free(&a);
    }
    free(b.p);
  }

  /* Format 2.0 and 3.0: 4-byte header length. */
  for (int major = 2; major <= 3; major++) {
    const char *hdr = "{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }          \n";
    unsigned char d2[16];
    put_be(d2, (uint64_t)-5, 8);
    put_be(d2 + 8, UINT64_C(0x7fffffffffffffff), 8);
    bytes b = make_npy(major, 0, hdr, strlen(hdr), -1, d2, 16);
    char what[32];
    snprintf(what, sizeof what, "format %d.0", major);
    if (parse_ok(b, &a, what)) {
      check(a.dtype == LSCE_DT_I64 && a.count == 2 && lsce_npy_get_i(&a, 0) == -5 &&
                lsce_npy_get_i(&a, 1) == INT64_MAX,
            "%s: contents", what);
      lsce_npy_free(&a);
    }
    free(b.p);
  }

  /* Unaligned data (header length not a multiple of anything) still reads right. */
  {
    const char *hdr = "{'descr':'<f8','fortran_order':False,'shape':(2,)}";
    bytes b = npy1(hdr, d6, 16);
    if (parse_ok(b, &a, "unaligned")) {
      check(lsce_npy_get_f(&a, 0) == 1.0 && lsce_npy_get_f(&a, 1) == 2.0, "unaligned: values");
      lsce_npy_free(&a);
    }
    free(b.p);
  }
}

/* ------------------------------------------------------------------------------------------------
 * Parsing bad buffers */

static void expect_bad(bytes b, const char *want, const char *what) {
  lsce_npy a;
  lsce_err err = {0, ""};
  memset(&a, 0x5a, sizeof a);
  int rc = lsce_npy_parse(&a, b.p, b.n, "x.npy", &err);
  if (!check(rc == LSCE_EINPUT && err.code == LSCE_EINPUT, "%s: rc %d (%s)", what, rc, err.line))
    return;
  check(strncmp(err.line, "x.npy: ", 7) == 0 && strstr(err.line + 7, want) != NULL &&
            strchr(err.line, '\n') == NULL,
        "%s: message '%s' lacks '%s'", what, err.line, want);
  check(a.map == NULL && a.data == NULL && a.count == 0, "%s: struct not cleared", what);
  lsce_npy_free(&a);
}

static void bad1(const char *hdr, size_t data_len, const char *want) {
  static unsigned char zeros[256];
  bytes b = npy1(hdr, zeros, data_len);
  expect_bad(b, want, hdr);
  free(b.p);
}

static void test_parse_bad(void) {
  static unsigned char zeros[256];
  bytes b;
  /* preamble */
  b.p = zeros, b.n = 0;
  expect_bad(b, "not a .npy file (file is empty)", "empty");
  b.p = (unsigned char *)"\x93NUMPX\x01\x00\x10\x00", b.n = 10;
  expect_bad(b, "not a .npy file (bad magic)", "bad magic");
  b.p = (unsigned char *)"PK\x03\x04", b.n = 4;
  expect_bad(b, "not a .npy file (bad magic)", "zip file");
  b.p = (unsigned char *)"\x93NUM", b.n = 4;
  expect_bad(b, "bad header: file ends inside the preamble (4 bytes)", "short magic");
  b.p = (unsigned char *)"\x93NUMPY\x01\x00\x10", b.n = 9;
  expect_bad(b, "file ends inside the preamble (9 bytes)", "short preamble 1.0");
  b.p = (unsigned char *)"\x93NUMPY\x02\x00\x10\x00\x00", b.n = 11;
  expect_bad(b, "file ends inside the preamble (11 bytes)", "short preamble 2.0");
  const char *good = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n";
  b = make_npy(4, 0, good, strlen(good), -1, zeros, 8);
  expect_bad(b, "unsupported .npy format version 4.0", "version 4.0");
  free(b.p);
  b = make_npy(1, 1, good, strlen(good), -1, zeros, 8);
  expect_bad(b, "unsupported .npy format version 1.1", "version 1.1");
  free(b.p);
  b = make_npy(0, 0, good, strlen(good), -1, zeros, 8);
  expect_bad(b, "unsupported .npy format version 0.0", "version 0.0");
  free(b.p);
  b = make_npy(1, 0, "", 0, -1, NULL, 0);
  expect_bad(b, "bad header: header length is 0", "zero-length header");
  free(b.p);
  b = make_npy(1, 0, good, strlen(good), 500, zeros, 8);
  expect_bad(b, "bad header: header length 500 runs past the end of the file (74 bytes)",
             "header past end");
  free(b.p);
  b = make_npy(2, 0, good, strlen(good), 0xffffffffLL, zeros, 8);
  expect_bad(b, "header length 4294967295 runs past the end of the file", "2.0 header past end");
  free(b.p);
  b = make_npy(1, 0, good, 20, -1, NULL, 0);
  expect_bad(b, "bad header: unterminated string", "header cut short");
  free(b.p);
  {
    size_t big = 70000;
    char *h = malloc(big);
    memset(h, ' ', big);
    memcpy(h, good, strlen(good) - 1);
    b = make_npy(2, 0, h, big, -1, zeros, 8);
    expect_bad(b, "bad header: header length 70000 exceeds the limit of 65536 bytes", "huge header");
    free(b.p);
    free(h);
  }
  b = make_npy(1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\0", 56, -1, zeros, 8);
  expect_bad(b, "bad header: byte 0x00 at header offset 55 is not printable ASCII", "NUL in header");
  free(b.p);
  b = make_npy(3, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (), } \xc3\xa9", 58, -1,
               zeros, 8);
  expect_bad(b, "byte 0xc3 at header offset 56 is not printable ASCII", "utf-8 in 3.0 header");
  free(b.p);

  /* dict syntax */
  bad1("", 0, "header length is 0");
  bad1("   \n", 8, "bad header: expected '{', found the end of the header");
  bad1("descr", 8, "bad header: expected '{' at header offset 0, found 'd'");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (), } x", 8,
       "bad header: expected the end of the header after '}' at header offset 56, found 'x'");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (), },", 8, "expected the end of the header");
  bad1("{'descr': '<f8' 'fortran_order': False, 'shape': (), }", 8,
       "bad header: expected ',' or '}' after a value at header offset 16, found '''");
  bad1("{'descr' '<f8', 'fortran_order': False, 'shape': (), }", 8, "expected ':' after a key");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (), ", 8,
       "expected a quoted string, found the end of the header");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': ()", 8,
       "expected ',' or '}' after a value, found the end of the header");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (), ,}", 8, "expected a quoted string");
  bad1("{descr: '<f8', 'fortran_order': False, 'shape': (), }", 8, "expected a quoted string");
  bad1("{'descr': b'<f8', 'fortran_order': False, 'shape': (), }", 8, "expected a quoted string");
  bad1("{'descr': '<f8}", 8, "unterminated string");
  bad1("{'descr': '<f8\", 'fortran_order': False, 'shape': (), }", 8,
       "expected ',' or '}' after a value at header offset 18, found 'f'");
  bad1("{'de\\x73cr': '<f8', 'fortran_order': False, 'shape': (), }", 8,
       "escape sequences in strings are not supported");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (), 'foo': 1}", 8,
       "bad header: unknown key 'foo'");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (), '': 1}", 8, "unknown key ''");
  bad1("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (), }", 8,
       "bad header: duplicate key 'descr'");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (), 'shape': (), }", 8,
       "duplicate key 'shape'");
  bad1("{'descr': '<f8', 'fortran_order': False, }", 8, "bad header: missing key 'shape'");
  bad1("{'descr': '<f8', 'shape': (), }", 8, "bad header: missing key 'fortran_order'");
  bad1("{'fortran_order': False, 'shape': (), }", 8, "bad header: missing key 'descr'");
  bad1("{}", 8, "missing key 'descr'");
  bad1("{'descr': '<f8', 'fortran_order': True, 'shape': (), }", 8, "Fortran order is not supported");
  bad1("{'descr': '<f8', 'fortran_order': 0, 'shape': (), }", 8,
       "bad header: 'fortran_order' must be True or False");
  bad1("{'descr': '<f8', 'fortran_order': 'False', 'shape': (), }", 8, "must be True or False");
  bad1("{'descr': '<f8', 'fortran_order': Falsey, 'shape': (), }", 8, "must be True or False");
  bad1("{'descr': '<f8', 'fortran_order': false, 'shape': (), }", 8, "must be True or False");

  /* shape */
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), }", 8,
       "unsupported shape with 3 dimensions (at most 2 are supported)");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1), }", 8,
       "unsupported shape with 5 dimensions");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", 8,
       "bad header: negative dimension in 'shape'");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (2, -3), }", 8, "negative dimension");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (+1,), }", 8, "expected a dimension");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (9223372036854775808,), }", 8,
       "bad header: dimension in 'shape' overflows int64");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999999, 1), }", 8,
       "overflows int64");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }",
       8, "bad header: shape (4611686018427387904, 4611686018427387904) is too large");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }", 8,
       "bad header: shape (2305843009213693952,) is too large");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (125000000000000000,), }", 8,
       "data is truncated: expected 1000000000000000000 bytes, found 8");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846975,), }", 8,
       "bad header: shape (1152921504606846975,) is too large");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (3), }", 24,
       "'shape' must be a tuple (a 1-tuple needs a trailing comma)");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': [3], }", 24,
       "'shape' must be a tuple, not a list");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': 3, }", 24, "expected '(' to start 'shape'");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (03,), }", 24,
       "invalid integer in 'shape' (leading zero)");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (3 4), }", 96,
       "expected ',' or ')' in 'shape'");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (3,,), }", 24, "expected a dimension");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (,), }", 24, "expected a dimension");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (3.0,), }", 24, "invalid integer");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (3_0,), }", 240, "invalid integer");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (3x,), }", 24, "invalid integer");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (0x3,), }", 24, "invalid integer");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (3,", 24,
       "expected a dimension in 'shape', found the end of the header");
  {
    const char *h = "{'descr': '<f8', 'fortran_order': False, 'shape': (3L,), }";
    b = make_npy(3, 0, h, strlen(h), -1, zeros, 24);
    expect_bad(b, "invalid integer in 'shape'", "L suffix in 3.0");
    free(b.p);
  }

  /* dtypes */
  const char *dts[] = {"|i1", "|u1", "|b1", "|O", "<c16", "<c8", "S3", "|S3", "<U4", "|V8", "<f16",
                       "|f8", "f8", "<f8 ", "<u4", "<u8", "<i2", ">c8", "<M8[ns]", "", "<F8", "<d"};
  for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
    char hdr[160], want[64];
    snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (2,), }", dts[k]);
    snprintf(want, sizeof want, "unsupported dtype '%s'", dts[k]);
    bad1(hdr, 16, want);
  }
  bad1("{'descr': '<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', "
       "'fortran_order': False, 'shape': (2,), }",
       16, "unsupported dtype '<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
  bad1("{'descr': [('a', '<f8'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }", 24,
       "unsupported dtype (structured arrays are not supported)");
  bad1("{'descr': 8, 'fortran_order': False, 'shape': (2,), }", 16, "expected a quoted string");

  /* data length */
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 5), }", 60,
       "data is truncated: expected 120 bytes, found 60");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 0,
       "data is truncated: expected 24 bytes, found 0");
  bad1("{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", 7,
       "data is longer than the header says: expected 6 bytes, found 7");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", 8,
       "data is longer than the header says: expected 0 bytes, found 8");
  bad1("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 0,
       "data is truncated: expected 8 bytes, found 0");

  /* A Fortran-order file with an unsupported dtype reports the dtype first; syntax beats both. */
  bad1("{'descr': '|i1', 'fortran_order': True, 'shape': (2,), }", 2, "unsupported dtype '|i1'");
  bad1("{'descr': '|i1', 'fortran_order': True, 'shape': (2,), 'q': 1}", 2, "unknown key 'q'");

  /* Control characters in the name are neutralised so the message stays one line. */
  {
    lsce_npy a;
    lsce_err err = {0, ""};
    int rc = lsce_npy_parse(&a, "junk", 4, "a\nb.npy", &err);
    check(rc == LSCE_EINPUT && strcmp(err.line, "a?b.npy: not a .npy file (bad magic)") == 0,
          "control characters in the name: '%s'", err.line);
    rc = lsce_npy_parse(&a, NULL, 0, "n.npy", &err);
    check(rc == LSCE_EINPUT && strstr(err.line, "file is empty"), "NULL buffer: %s", err.line);
  }
}

/* Every prefix of a good file must fail cleanly (never crash, never read past the end). */
static void test_prefixes(void) {
  const char *hdr = "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }   \n";
  unsigned char d[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  for (int major = 1; major <= 3; major++) {
    bytes b = make_npy(major, 0, hdr, strlen(hdr), -1, d, sizeof d);
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
      unsigned char *copy = malloc(n ? n : 1); /* exact-size copy so ASan sees any over-read */
      memcpy(copy, b.p, n);
      lsce_npy a;
      lsce_err err = {0, ""};
      if (lsce_npy_parse(&a, copy, n, "p.npy", &err) != LSCE_EINPUT) bad++;
      free(copy);
    }
    lsce_npy a;
    lsce_err err = {0, ""};
    check(bad == 0, "format %d.0: %d prefixes were not rejected", major, bad);
    if (check(lsce_npy_parse(&a, b.p, b.n, "p.npy", &err) == LSCE_OK, "full file: %s", err.line))
      check(lsce_npy_get_f(&a, 3) == (double)bitsf(0x0d0e0f10u), "full file: value");
    free(b.p);
  }
}

/* ------------------------------------------------------------------------------------------------
 * Files: write, read back, errors */

static void path_in_tmp(char *out, size_t n, const char *leaf) {
  snprintf(out, n, "%s/%s", tmpdir, leaf);
}

static void test_roundtrip(void) {
  const lsce_dtype all[] = {LSCE_DT_F64, LSCE_DT_F32, LSCE_DT_F16, LSCE_DT_BF16, LSCE_DT_I32,
                            LSCE_DT_I64};
  const char *descr[] = {"<f8", "<f4", "<f2", "<u2", "<i4", "<i8"};
  struct { int ndim; int64_t shape[2]; } shapes[] = {{0, {0, 0}}, {1, {7, 0}}, {2, {3, 5}},
                                                     {1, {0, 0}}, {2, {0, 4}}, {2, {4, 0}},
                                                     {2, {1, 1}}, {1, {1000, 0}}};
  double src[1000], isrc[1000];
  for (int k = 0; k < 1000; k++) {
    isrc[k] = (k % 2 ? -1 : 1) * (k * 37 % 1001);
    src[k] = isrc[k] * (k % 3 ? 1 : 0.5) + (k % 5 ? 0 : 0.1);
  }
  double fsrc[16] = {0.1, -0.0, 65504.0, 1e-7, 1e10, -3.5, 1.0 / 3, 1e-40, 2.5, 0x1p-24, 7, 8, 9,
                     1e300, -1e-300, 12345.678};
  for (size_t t = 0; t < sizeof all / sizeof all[0]; t++) {
    int isint = all[t] == LSCE_DT_I32 || all[t] == LSCE_DT_I64;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
      char path[512], leaf[64];
      snprintf(leaf, sizeof leaf, "rt_%s_%zu.npy", lsce_dtype_name(all[t]), s);
      path_in_tmp(path, sizeof path, leaf);
      int64_t count = 1;
      for (int k = 0; k < shapes[s].ndim; k++) count *= shapes[s].shape[k];
      const double *data = isint ? isrc : count <= 16 ? fsrc : src;
      lsce_err err = {0, ""};
      int rc = lsce_npy_write(path, all[t], data, shapes[s].ndim, shapes[s].shape, &err);
      if (!check(rc == LSCE_OK, "write %s: %s", leaf, err.line)) continue;

      /* The header is byte-identical to numpy.save's. */
      size_t n;
      unsigned char *raw = slurp(path, &n);
      char want[256];
      if (shapes[s].ndim == 0)
        snprintf(want, sizeof want, "{'descr': '%s', 'fortran_order': False, 'shape': (), }",
                 descr[t]);
      else if (shapes[s].ndim == 1)
        snprintf(want, sizeof want, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }",
                 descr[t], (long long)shapes[s].shape[0]);
      else
        snprintf(want, sizeof want,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }", descr[t],
                 (long long)shapes[s].shape[0], (long long)shapes[s].shape[1]);
      size_t wl = strlen(want);
      int hdr_ok = raw && n >= 128 && memcmp(raw, "\x93NUMPY\x01\x00\x76\x00", 10) == 0 &&
                   memcmp(raw + 10, want, wl) == 0 && raw[127] == '\n' &&
                   n == 128 + (size_t)count * lsce_dtype_size(all[t]);
      for (size_t k = 10 + wl; hdr_ok && k < 127; k++) hdr_ok = raw[k] == ' ';
      check(hdr_ok, "%s: header is not numpy's", leaf);
      free(raw);

      lsce_npy a;
      rc = lsce_npy_read(&a, path, &err);
      if (!check(rc == LSCE_OK, "read %s: %s", leaf, err.line)) continue;
      check(a.dtype == all[t] && a.ndim == shapes[s].ndim && a.count == count && !a.swap &&
                a.shape[0] == (shapes[s].ndim > 0 ? shapes[s].shape[0] : 1) &&
                a.shape[1] == (shapes[s].ndim > 1 ? shapes[s].shape[1] : 1) &&
                (count == 0 || a.mapped),
            "%s: metadata", leaf);
      int bad = 0;
      for (int64_t i = 0; i < count; i++) {
        double want_v;
        switch (all[t]) {
        case LSCE_DT_F64: want_v = data[i]; break;
        case LSCE_DT_F32: want_v = (double)lsce_double_to_f32(data[i]); break;
        case LSCE_DT_F16: want_v = lsce_f16_to_double(lsce_double_to_f16(data[i])); break;
        case LSCE_DT_BF16: want_v = lsce_bf16_to_double(lsce_double_to_bf16(data[i])); break;
        default: want_v = data[i]; break;
        }
        if (isint ? lsce_npy_get_i(&a, i) != (int64_t)data[i] : !same(lsce_npy_get_f(&a, i), want_v))
          bad++;
      }
      check(bad == 0, "%s: %d values differ", leaf, bad);
      lsce_npy_free(&a);
      check(a.map == NULL && a.data == NULL, "%s: free clears", leaf);
      unlink(path);
    }
  }

  /* lsce_npy_write_f64 and extreme ints. */
  {
    char path[512];
    path_in_tmp(path, sizeof path, "f64.npy");
    int64_t shape[1] = {3};
    double v[3] = {-9223372036854775808.0, 9223372036854774784.0, -1};
    lsce_err err = {0, ""};
    lsce_npy a;
    check(lsce_npy_write_f64(path, v, 1, shape, &err) == LSCE_OK, "write_f64: %s", err.line);
    if (check(lsce_npy_read(&a, path, &err) == LSCE_OK, "read f64: %s", err.line)) {
      check(a.dtype == LSCE_DT_F64 && lsce_npy_get_f(&a, 1) == v[1], "f64 contents");
      lsce_npy_free(&a);
    }
    check(lsce_npy_write(path, LSCE_DT_I64, v, 1, shape, &err) == LSCE_OK, "write i64 extremes");
    if (check(lsce_npy_read(&a, path, &err) == LSCE_OK, "read i64: %s", err.line)) {
      check(lsce_npy_get_i(&a, 0) == INT64_MIN && lsce_npy_get_i(&a, 1) == 9223372036854774784LL &&
                lsce_npy_get_i(&a, 2) == -1,
            "i64 extremes");
      lsce_npy_free(&a);
    }
    double bad_i[3][1] = {{2147483648.0}, {0.5}, {NAN}};
    for (int k = 0; k < 3; k++) {
      int64_t one[1] = {1};
      int rc = lsce_npy_write(path, LSCE_DT_I32, bad_i[k], 1, one, &err);
      check(rc == LSCE_EINPUT && strstr(err.line, "is not an integer that fits int32"),
            "write i32 rejects value %d: %s", k, err.line);
    }
    double big[1] = {9223372036854775808.0};
    int64_t one[1] = {1};
    check(lsce_npy_write(path, LSCE_DT_I64, big, 1, one, &err) == LSCE_EINPUT, "write i64 2^63");
    int64_t neg[2] = {-1, 2};
    check(lsce_npy_write(path, LSCE_DT_F64, v, 2, neg, &err) == LSCE_EINPUT, "write negative shape");
    check(lsce_npy_write(path, LSCE_DT_F64, v, 3, shape, &err) == LSCE_EINPUT, "write ndim 3");
    unlink(path);
  }

  /* Big arrays (mmap path, several write chunks). */
  {
    char path[512];
    path_in_tmp(path, sizeof path, "big.npy");
    int64_t n = 300000, shape[2] = {1000, 300};
    double *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (double)i * 0.75 - 1000;
    lsce_err err = {0, ""};
    lsce_npy a;
    check(lsce_npy_write(path, LSCE_DT_F32, v, 2, shape, &err) == LSCE_OK, "write big: %s", err.line);
    if (check(lsce_npy_read(&a, path, &err) == LSCE_OK, "read big: %s", err.line)) {
      int bad = 0;
      for (int64_t i = 0; i < n; i++) bad += lsce_npy_get_f(&a, i) != (double)(float)v[i];
      check(bad == 0 && a.mapped && a.count == n, "big: %d values differ", bad);
      lsce_npy_free(&a);
    }
    free(v);
    unlink(path);
  }
}

/* Feed `p[0..n)` through a pipe and read it via /proc/self/fd (the non-mmap path). */
static int read_via_pipe(const unsigned char *p, size_t n, lsce_npy *a, lsce_err *err) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(fds[0]);
    size_t off = 0;
    while (off < n) {
      ssize_t w = write(fds[1], p + off, n - off);
      if (w <= 0) _exit(1);
      off += (size_t)w;
    }
    _exit(0);
  }
  close(fds[1]);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fds[0]);
  int rc = lsce_npy_read(a, path, err);
  close(fds[0]);
  int st;
  waitpid(pid, &st, 0);
  return rc;
}

static void test_files(void) {
  lsce_npy a;
  lsce_err err = {0, ""};
  char path[512];
  int rc;

  path_in_tmp(path, sizeof path, "does-not-exist.npy");
  rc = lsce_npy_read(&a, path, &err);
  check(rc == LSCE_EINCOMPLETE && err.code == LSCE_EINCOMPLETE && strstr(err.line, ": cannot open: "),
        "missing file: %d %s", rc, err.line);
  rc = lsce_npy_read(&a, tmpdir, &err);
  check(rc == LSCE_EINCOMPLETE && strstr(err.line, ": cannot read: "), "directory: %d %s", rc,
        err.line);

  /* A bad file on disk reports through the mmap path with the path as typed. */
  path_in_tmp(path, sizeof path, "trunc.npy");
  const char *hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 5), }\n";
  static unsigned char zeros[200];
  bytes b = npy1(hdr, zeros, 60);
  write_file(path, b.p, b.n);
  free(b.p);
  rc = lsce_npy_read(&a, path, &err);
  char want[600];
  snprintf(want, sizeof want, "%s: data is truncated: expected 120 bytes, found 60", path);
  check(rc == LSCE_EINPUT && strcmp(err.line, want) == 0, "truncated file: %s", err.line);
  path_in_tmp(path, sizeof path, "empty.npy");
  write_file(path, "", 0);
  rc = lsce_npy_read(&a, path, &err);
  check(rc == LSCE_EINPUT && strstr(err.line, "not a .npy file (file is empty)"), "empty file: %s",
        err.line);
  /* count 0 file */
  path_in_tmp(path, sizeof path, "zero.npy");
  b = npy1("{'descr': '<i4', 'fortran_order': False, 'shape': (0, 3), }\n", NULL, 0);
  write_file(path, b.p, b.n);
  free(b.p);
  rc = lsce_npy_read(&a, path, &err);
  if (check(rc == LSCE_OK, "count-0 file: %s", err.line)) {
    check(a.count == 0 && a.data == NULL && a.shape[1] == 3, "count-0 file metadata");
    lsce_npy_free(&a);
  }

  /* Pipes: good (large, so the buffer grows), truncated, longer, bad header. */
  if (access("/proc/self/fd", R_OK) == 0) {
    size_t n = 3u << 20;
    unsigned char *d = malloc(n);
    for (size_t k = 0; k < n; k++) d[k] = (unsigned char)(k * 7);
    char h2[128];
    snprintf(h2, sizeof h2, "{'descr': '<i4', 'fortran_order': False, 'shape': (%zu,), }\n", n / 4);
    b = npy1(h2, d, n);
    rc = read_via_pipe(b.p, b.n, &a, &err);
    if (check(rc == LSCE_OK, "pipe: %s", err.line)) {
      int32_t want0;
      memcpy(&want0, d + n - 4, 4);
      check(a.count == (int64_t)(n / 4) && !a.mapped && lsce_npy_get_i(&a, a.count - 1) == want0,
            "pipe: contents");
      lsce_npy_free(&a);
    }
    rc = read_via_pipe(b.p, b.n - 5, &a, &err);
    check(rc == LSCE_EINPUT && strstr(err.line, "data is truncated: expected 3145728 bytes, found 3145723"),
          "pipe truncated: %s", err.line);
    free(b.p);
    b = npy1(h2, d, n - 3);
    unsigned char *longer = malloc(b.n + 4);
    memcpy(longer, b.p, b.n);
    memset(longer + b.n, 1, 4);
    /* header says n bytes; n - 3 + 4 = n + 1 bytes follow */
    rc = read_via_pipe(longer, b.n + 4, &a, &err);
    check(rc == LSCE_EINPUT &&
              strstr(err.line, "data is longer than the header says: expected 3145728 bytes, found more"),
          "pipe longer: %s", err.line);
    free(longer);
    free(b.p);
    rc = read_via_pipe((const unsigned char *)"\x93NUMPY\x01\x00\xff\x00{", 11, &a, &err);
    check(rc == LSCE_EINPUT && strstr(err.line, "header length 255 runs past the end of the file (11 bytes)"),
          "pipe short header: %s", err.line);
    rc = read_via_pipe((const unsigned char *)"", 0, &a, &err);
    check(rc == LSCE_EINPUT && strstr(err.line, "file is empty"), "pipe empty: %s", err.line);
    b = npy1("{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n", zeros, 8);
    rc = read_via_pipe(b.p, b.n, &a, &err);
    if (check(rc == LSCE_OK, "pipe scalar: %s", err.line)) lsce_npy_free(&a);
    free(b.p);
    free(d);
  } else {
    skipped++;
  }

  /* Write failures. */
  rc = lsce_npy_write_f64("/nonexistent-dir-lsce/x.npy", NULL, 0, NULL, &err);
  check(rc == LSCE_EINPUT && strstr(err.line, "cannot write: no data"), "write with no data: %s",
        err.line);
  {
    double one = 1;
    rc = lsce_npy_write_f64("/nonexistent-dir-lsce/x.npy", &one, 0, NULL, &err);
    check(rc == LSCE_EINCOMPLETE &&
              strncmp(err.line, "/nonexistent-dir-lsce/x.npy: cannot write: ", 43) == 0,
          "write to a missing directory: %s", err.line);
  }
  /* A write that fails midway (file size limit) removes the partial file. */
  {
    path_in_tmp(path, sizeof path, "partial.npy");
    pid_t pid = fork();
    if (pid == 0) {
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit rl = {4096, 4096};
      if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
      static double v[100000];
      int64_t shape[1] = {100000};
      lsce_err e2 = {0, ""};
      int r = lsce_npy_write_f64(path, v, 1, shape, &e2);
      if (r != LSCE_EINCOMPLETE || !strstr(e2.line, ": cannot write: ")) _exit(1);
      if (access(path, F_OK) == 0) _exit(2);
      _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "failed write: status %d (1: wrong error, 2: file left)",
          WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  }
}

/* ------------------------------------------------------------------------------------------------
 * Committed corpus */

static void test_corpus(const char *dir) {
  char path[2048], line[1024];
  snprintf(path, sizeof path, "%s/bad_npy/EXPECTED.txt", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    printf("SKIP: corpus %s not found\n", path);
    skipped++;
    return;
  }
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    char *tab = strchr(line, '\t');
    if (!tab || line[0] == '#') continue;
    *tab = '\0';
    snprintf(path, sizeof path, "%s/bad_npy/%s", dir, line);
    lsce_npy a;
    lsce_err err = {0, ""};
    int rc = lsce_npy_read(&a, path, &err);
    size_t pl = strlen(path);
    check(rc == LSCE_EINPUT && strncmp(err.line, path, pl) == 0 && strncmp(err.line + pl, ": ", 2) == 0 &&
              strstr(err.line + pl + 2, tab + 1) != NULL,
          "corpus %s: rc %d, '%s' lacks '%s'", line, rc, err.line, tab + 1);
    if (rc == LSCE_OK) lsce_npy_free(&a);
    /* The same through the in-memory parser. */
    size_t len;
    unsigned char *raw = slurp(path, &len);
    if (raw) {
      rc = lsce_npy_parse(&a, raw, len, "m", &err);
      check(rc == LSCE_EINPUT && strstr(err.line, tab + 1), "corpus %s (memory): '%s'", line,
            err.line);
      free(raw);
    }
    n++;
  }
  fclose(f);
  check(n >= 15, "corpus has only %d bad files", n);

  /* Good seeds: dtype, shape, and the first and last values as written by make_bad_npy.py. */
  struct { const char *name; lsce_dtype dt; int ndim; int64_t s0, s1; double first, last; } good[] = {
      {"f8_2x3.npy", LSCE_DT_F64, 2, 2, 3, 1.5, 6},
      {"f4_scalar.npy", LSCE_DT_F32, 0, 1, 1, 3.25, 3.25},
      {"f2_be_4.npy", LSCE_DT_F16, 1, 4, 1, 1.0, 0x1p-24},
      {"bf16_3.npy", LSCE_DT_BF16, 1, 3, 1, 1.0, 0.5},
      {"i4_2x2.npy", LSCE_DT_I32, 2, 2, 2, -1, -2147483648.0},
      {"i8_v2_2.npy", LSCE_DT_I64, 1, 2, 1, -5, 9223372036854775807.0},
      {"f8_empty_0x3.npy", LSCE_DT_F64, 2, 0, 3, 0, 0}};
  for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
    snprintf(path, sizeof path, "%s/good_npy/%s", dir, good[k].name);
    lsce_npy a;
    lsce_err err = {0, ""};
    if (!check(lsce_npy_read(&a, path, &err) == LSCE_OK, "good corpus %s: %s", good[k].name,
               err.line))
      continue;
    int ok = a.dtype == good[k].dt && a.ndim == good[k].ndim && a.shape[0] == good[k].s0 &&
             a.shape[1] == good[k].s1;
    if (ok && a.count > 0) {
      int isint = a.dtype == LSCE_DT_I32 || a.dtype == LSCE_DT_I64;
      ok = isint ? lsce_npy_get_i(&a, 0) == (int64_t)good[k].first &&
                       (a.dtype == LSCE_DT_I64 ? lsce_npy_get_i(&a, a.count - 1) == INT64_MAX
                                               : lsce_npy_get_i(&a, a.count - 1) == INT32_MIN)
                 : lsce_npy_get_f(&a, 0) == good[k].first &&
                       lsce_npy_get_f(&a, a.count - 1) == good[k].last;
    }
    check(ok, "good corpus %s: contents", good[k].name);
    lsce_npy_free(&a);
  }
}

int main(int argc, char **argv) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/test_npy.XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  test_half();
  test_parse_good();
  test_parse_bad();
  test_prefixes();
  test_roundtrip();
  test_files();
  /* Corpus: argv[1], else next to this source file (meson compiles it by a path relative to the
   * build directory, where the test runs), else tests/corpus under the current directory. */
  char corpus[1024];
  const char *src = __FILE__, *slash = strrchr(src, '/');
  snprintf(corpus, sizeof corpus, "%.*s/corpus/bad_npy/EXPECTED.txt", slash ? (int)(slash - src) : 1,
           slash ? src : ".");
  if (argc > 1) test_corpus(argv[1]);
  else if (access(corpus, R_OK) == 0) {
    corpus[strlen(corpus) - strlen("/bad_npy/EXPECTED.txt")] = '\0';
    test_corpus(corpus);
  } else test_corpus("tests/corpus");
  /* leave nothing behind */
  const char *leaves[] = {"trunc.npy", "empty.npy", "zero.npy", "partial.npy"};
  for (size_t k = 0; k < sizeof leaves / sizeof leaves[0]; k++) {
    char path[512];
    path_in_tmp(path, sizeof path, leaves[k]);
    unlink(path);
  }
  rmdir(tmpdir);
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  return failed ? 1 : 0;
}
