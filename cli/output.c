/* cli/output.c: number formatting (locale-free: lsce never calls setlocale, so printf runs in the
 * "C" locale) and atomic output files. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "output.h"

const char *lsce_fmt_g17(char *buf, double x) {
  if (isnan(x)) return strcpy(buf, "nan");
  if (isinf(x)) return strcpy(buf, x > 0 ? "inf" : "-inf");
  if (x == 0) return strcpy(buf, "0");
  snprintf(buf, 32, "%.17g", x);
  return buf;
}

const char *lsce_fmt_hex(char *buf, double x) {
  if (isnan(x)) return strcpy(buf, "nan");
  if (isinf(x)) return strcpy(buf, x > 0 ? "inf" : "-inf");
  snprintf(buf, 40, "%a", x);
  return buf;
}

void lsce_outset_init(lsce_outset *o) { o->n = 0; }

int lsce_outset_add_f64(lsce_outset *o, const char *path, const double *data, int ndim,
                        const int64_t *shape, lsce_err *err) {
  if (o->n >= LSCE_MAX_OUTPUTS || strlen(path) >= sizeof o->final[0]) {
    lsce_outset_abort(o);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: path too long", path);
  }
  int k = o->n;
  strcpy(o->final[k], path);
  snprintf(o->temp[k], sizeof o->temp[k], "%s.lsce-tmp-%ld-%d", path, (long)getpid(), k);
  lsce_err e2;
  if (lsce_npy_write_f64(o->temp[k], data, ndim, shape, &e2) != LSCE_OK) {
    lsce_outset_abort(o);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: %s", path,
                        errno ? strerror(errno) : "write failed");
  }
  o->n++;
  return LSCE_OK;
}

int lsce_outset_commit(lsce_outset *o, lsce_err *err) {
  for (int k = 0; k < o->n; k++) {
    if (rename(o->temp[k], o->final[k]) != 0) {
      int en = errno;
      for (int j = k; j < o->n; j++) remove(o->temp[j]);
      o->n = 0;
      return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: %s", o->final[k], strerror(en));
    }
  }
  o->n = 0;
  return LSCE_OK;
}

void lsce_outset_abort(lsce_outset *o) {
  for (int k = 0; k < o->n; k++) remove(o->temp[k]);
  o->n = 0;
}

int lsce_check_memory(double bytes, const char *who, lsce_err *err) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return LSCE_OK;
  char line[256];
  double avail = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long long kb;
    if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) { avail = (double)kb * 1024.0; break; }
  }
  fclose(f);
  if (avail >= 0 && bytes > avail)
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: the outputs need %.3g GiB, only %.3g GiB of memory are available",
                        who, bytes / 1073741824.0, avail / 1073741824.0);
  return LSCE_OK;
}
