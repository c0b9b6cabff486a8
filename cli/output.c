/* cli/output.c: all-or-nothing output files (see output.h); the number format is core/json.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "output.h"

/* ---- same file --------------------------------------------------------------------------------- */

/* The canonical directory of `path` and its last component, as one string. 0 when the directory
 * cannot be resolved (then the caller compares the paths as typed). */
static int canonical(char *out, size_t n, const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[LSCE_PATH_MAX], real[PATH_MAX];
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  if (!realpath(dir, real)) return 0;
  return snprintf(out, n, "%s/%s", real, slash ? slash + 1 : path) < (int)n;
}

static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
  if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  if (ea != eb) return 0;
  char ca[2 * LSCE_PATH_MAX], cb[2 * LSCE_PATH_MAX];
  if (canonical(ca, sizeof ca, a) && canonical(cb, sizeof cb, b)) return strcmp(ca, cb) == 0;
  return strcmp(a, b) == 0;
}

int lsce_outputs_distinct(const char *const *opts, const char *const *paths, int n, lsce_err *err) {
  for (int j = 1; j < n; j++)
    for (int i = 0; i < j; i++)
      if (paths[i] && paths[j] && same_file(paths[i], paths[j]))
        return lsce_err_set(err, LSCE_EINPUT, "%s: names the same file as %s ('%s')", opts[j], opts[i],
                            paths[j]);
  return LSCE_OK;
}

/* ---- temporaries and the signals that must not leave them behind ------------------------------ */

/* The temporaries that exist now (or may: registered before they are created), for the handler. */
static char live[LSCE_MAX_OUTPUTS][LSCE_PATH_MAX];
static volatile sig_atomic_t nlive;
/* While the renames run, a signal that reaches another thread (the main one blocks them) is only
 * noted, and raised again after the last rename. */
static volatile sig_atomic_t committing, deferred;
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT};
#define NSIG_CLEAN ((int)(sizeof cleanup_signals / sizeof cleanup_signals[0]))

/* Async-signal-safe: unlink, restore the default, then die of the same signal (blocked inside the
 * handler, so raise() takes effect when it returns). */
static void on_signal(int sig) {
  if (committing) { deferred = sig; return; }
  for (int k = 0; k < nlive; k++) unlink(live[k]);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void install_handlers(void) {
  static int done;
  if (done) return;
  done = 1;
  for (int k = 0; k < NSIG_CLEAN; k++) {
    struct sigaction old, sa;
    if (sigaction(cleanup_signals[k], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    sigaction(cleanup_signals[k], &sa, NULL);
  }
}

static void block_signals(int block) {
  sigset_t set;
  sigemptyset(&set);
  for (int k = 0; k < NSIG_CLEAN; k++) sigaddset(&set, cleanup_signals[k]);
  sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

void lsce_outset_init(lsce_outset *o) { o->n = 0; }

void lsce_outset_abort(lsce_outset *o) {
  for (int k = 0; k < o->n; k++)
    if (o->temp[k][0]) unlink(o->temp[k]);
  nlive = 0;
  o->n = 0;
}

/* A fresh name "<dir>/.lsce-tmp-<pid>-<serial>" beside `path` (short, so it fits NAME_MAX whatever
 * the target's name). */
static void sibling(char *out, const char *path) {
  static unsigned serial;
  const char *slash = strrchr(path, '/');
  snprintf(out, LSCE_PATH_MAX, "%.*s.lsce-tmp-%ld-%u", slash ? (int)(slash - path + 1) : 0, path,
           (long)getpid(), serial++);
}

/* Registers `path`: its temporary (see sibling) or "" for a special file. Fails on a directory or a
 * set that is full. */
static int reserve(lsce_outset *o, const char *path, lsce_err *err) {
  if (o->n >= LSCE_MAX_OUTPUTS || strlen(path) >= LSCE_PATH_MAX - 40) {
    lsce_outset_abort(o);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: %s", path, strerror(ENAMETOOLONG));
  }
  struct stat st;
  int exists = stat(path, &st) == 0;
  if (exists && S_ISDIR(st.st_mode)) {
    lsce_outset_abort(o);
    return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: %s", path, strerror(EISDIR));
  }
  int k = o->n;
  strcpy(o->final[k], path);
  o->temp[k][0] = '\0';
  if (!exists || S_ISREG(st.st_mode)) {
    sibling(o->temp[k], path);
    install_handlers();
    if (nlive < LSCE_MAX_OUTPUTS) { /* the name is complete before the handler can see it */
      memcpy(live[nlive], o->temp[k], LSCE_PATH_MAX);
      nlive = nlive + 1;
    }
  }
  o->n++;
  return LSCE_OK;
}

/* "<path>: cannot write: <why>" from an error line about the temporary (or the path) */
static int fail_write(lsce_outset *o, int k, const char *line, lsce_err *err) {
  char final[LSCE_PATH_MAX];
  strcpy(final, o->final[k]);
  const char *why = strstr(line, ": cannot write: ");
  char w[256];
  snprintf(w, sizeof w, "%s", why ? why + 16 : "write failed");
  lsce_outset_abort(o);
  return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: %s", final, w);
}

int lsce_outset_add_f64(lsce_outset *o, const char *path, const double *data, int ndim,
                        const int64_t *shape, lsce_err *err) {
  int rc = reserve(o, path, err);
  if (rc) return rc;
  int k = o->n - 1;
  lsce_err e2;
  if (lsce_npy_write_f64(o->temp[k][0] ? o->temp[k] : path, data, ndim, shape, &e2) != LSCE_OK)
    return fail_write(o, k, e2.line, err);
  return LSCE_OK;
}

FILE *lsce_outset_open(lsce_outset *o, const char *path, lsce_err *err) {
  if (reserve(o, path, err)) return NULL;
  int k = o->n - 1;
  FILE *f = NULL;
  if (o->temp[k][0]) {
    int fd = open(o->temp[k], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0 && !(f = fdopen(fd, "w"))) close(fd);
  } else {
    f = fopen(path, "w");
  }
  if (!f) {
    char line[300];
    snprintf(line, sizeof line, ": cannot write: %s", strerror(errno));
    fail_write(o, k, line, err);
  }
  return f;
}

int lsce_outset_close(lsce_outset *o, FILE *f, const char *path, lsce_err *err) {
  errno = 0;
  int bad = fflush(f) != 0 || ferror(f);
  int en = errno;
  if (fclose(f) != 0 && !bad) { bad = 1; en = errno; }
  if (!bad) return LSCE_OK;
  for (int k = 0; k < o->n; k++)
    if (!strcmp(o->final[k], path)) {
      char line[300];
      snprintf(line, sizeof line, ": cannot write: %s", strerror(en ? en : EIO));
      return fail_write(o, k, line, err);
    }
  lsce_outset_abort(o);
  return lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: %s", path, strerror(en ? en : EIO));
}

int lsce_outset_check_stdout(lsce_outset *o, lsce_err *err) {
  errno = 0;
  if (fflush(stdout) == 0 && !ferror(stdout)) return LSCE_OK;
  int en = errno;
  lsce_outset_abort(o);
  return lsce_err_set(err, LSCE_EINCOMPLETE, "standard output: cannot write: %s", strerror(en ? en : EIO));
}

/* Each existing entry about to be replaced is first hard-linked to a backup name, so that when a
 * later rename fails every earlier output is put back (or removed, where it did not exist): the
 * outputs stay all or nothing even then. Where the file system refuses hard links, that one output
 * has no backup, and a failure after its rename leaves it replaced. */
int lsce_outset_commit(lsce_outset *o, lsce_err *err) {
  block_signals(1); /* a signal now takes effect after the last rename: all or nothing */
  committing = 1;
  char bak[LSCE_MAX_OUTPUTS][LSCE_PATH_MAX];
  int rc = LSCE_OK, done = 0, existed[LSCE_MAX_OUTPUTS];
  for (int k = 0; k < o->n; k++) {
    struct stat st;
    bak[k][0] = '\0';
    existed[k] = lstat(o->final[k], &st) == 0;
    if (o->temp[k][0] && existed[k]) {
      sibling(bak[k], o->final[k]);
      if (link(o->final[k], bak[k]) != 0) bak[k][0] = '\0';
    }
  }
  for (; done < o->n; done++) {
    if (o->temp[done][0] && rename(o->temp[done], o->final[done]) != 0) {
      rc = lsce_err_set(err, LSCE_EINCOMPLETE, "%s: cannot write: %s", o->final[done], strerror(errno));
      break;
    }
  }
  for (int k = 0; k < o->n; k++) {
    if (!o->temp[k][0]) continue;
    if (rc && k < done) { /* put back what was there */
      if (bak[k][0]) rename(bak[k], o->final[k]);
      else if (!existed[k]) unlink(o->final[k]);
    } else if (rc) {
      unlink(o->temp[k]);
    }
    if (bak[k][0]) unlink(bak[k]); /* gone already when it was renamed back */
  }
  nlive = 0;
  o->n = 0;
  committing = 0;
  if (deferred) { /* pending until the unblock below: the outputs are complete when it lands */
    signal(deferred, SIG_DFL);
    raise(deferred);
  }
  block_signals(0);
  return rc;
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
