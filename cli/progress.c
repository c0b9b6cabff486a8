/* cli/progress.c: see progress.h. At most four redraws a second; the ETA assumes the rows left cost
 * what the rows done cost on average. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "progress.h"

static struct {
  char label[96];
  double t0, last;
  int shown;
} P;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void hms(char *b, size_t n, double s) {
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(b, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60) snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
  else snprintf(b, n, "%lds", t);
}

static void tick(void *user, int64_t done, int64_t rows) {
  (void)user;
  double t = now();
  if (done == 0) { P.t0 = t; P.last = t; return; }
  if (t - P.t0 < 1.0 || t - P.last < 0.25) return;
  P.last = t;
  char eta[32];
  hms(eta, sizeof eta, (t - P.t0) * (double)(rows - done) / (double)done);
  fprintf(stderr, "\r\033[Klsce: %s: %lld/%lld rows (%.0f%%), ETA %s", P.label, (long long)done,
          (long long)rows, 100.0 * (double)done / (double)rows, eta);
  fflush(stderr);
  P.shown = 1;
}

void lsce_progress_attach(lsce_ref_opts *o, const char *label) {
  lsce_progress_clear();
  if (!isatty(STDERR_FILENO)) return;
  snprintf(P.label, sizeof P.label, "%s", label);
  P.t0 = P.last = now();
  o->progress = tick;
  o->progress_user = NULL;
}

void lsce_progress_clear(void) {
  if (!P.shown) return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  P.shown = 0;
}
