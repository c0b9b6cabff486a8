/* cli/progress.c: see progress.h. At most four redraws a second; the ETA assumes the work left costs
 * what the work done cost on average. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "progress.h"

typedef struct {
  char label[96];
  double t0;
} bar;

static bar rows_bar, steps_bar;
static double last_draw;
static int shown;

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

/* Redraws "lsce: LABEL: DONE/TOTAL UNIT (P%), ETA T" once the bar is a second old. */
static void draw(const bar *b, int64_t done, int64_t total, const char *unit) {
  double t = now();
  if (done <= 0 || total <= 0 || t - b->t0 < 1.0 || t - last_draw < 0.25) return;
  last_draw = t;
  char eta[32];
  hms(eta, sizeof eta, (t - b->t0) * (double)(total - done) / (double)done);
  fprintf(stderr, "\r\033[Klsce: %s: %lld/%lld %s (%.0f%%), ETA %s", b->label, (long long)done,
          (long long)total, unit, 100.0 * (double)done / (double)total, eta);
  fflush(stderr);
  shown = 1;
}

static void tick(void *user, int64_t done, int64_t rows) {
  (void)user;
  if (done == 0) rows_bar.t0 = now();
  draw(&rows_bar, done, rows, "rows");
}

void lsce_progress_attach(lsce_ref_opts *o, const char *label) {
  if (!isatty(STDERR_FILENO)) return;
  snprintf(rows_bar.label, sizeof rows_bar.label, "%s", label);
  rows_bar.t0 = now();
  o->progress = tick;
  o->progress_user = NULL;
}

void lsce_progress_steps(const char *label, int64_t done, int64_t total, const char *unit) {
  if (!isatty(STDERR_FILENO)) return;
  if (done == 0 || strcmp(steps_bar.label, label) != 0) {
    snprintf(steps_bar.label, sizeof steps_bar.label, "%s", label);
    steps_bar.t0 = now();
  }
  draw(&steps_bar, done, total, unit);
}

void lsce_progress_clear(void) {
  if (!shown) return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  shown = 0;
}
