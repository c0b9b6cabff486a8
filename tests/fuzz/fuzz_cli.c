/* fuzz_cli.c: libFuzzer target for the command line: argument grammar, problem loading, the
 * certified reference and the CPU implementations (cli/, reference/, impls/), on tiny problems and
 * writing no files. Claim checked: no input crashes, leaks, trips ASan/UBSan, or returns an exit
 * code outside the contract's 0-3.
 *
 * An input is one of two forms.
 *  - It starts with the .npy magic: the whole input is a logits file. Targets (N,) and weights (K,)
 *    are generated to match; the library path of `lsce reference` (lsce_problem_load +
 *    lsce_reference, gradient on) runs for every catalog variant, and so does every available
 *    registry row that takes the dtype (the path of `lsce run`).
 *  - Otherwise: lines, then sections. The lines before the first "\n%%\n" are argv tokens after
 *    "lsce" (e.g. "reference", "--logits", "@L", ...); the byte strings between the following
 *    "\n%%\n" separators are, in order, the files @L, @T, @W and @X. A missing @T or @W is
 *    generated to match @L; a missing @L is the seed fixture. Tokens: @L @T @W @X (those files),
 *    @l @t @w (fixtures/seed), and "--name=@L" likewise. The subcommands reference, run, compare,
 *    check, variants and impls run through the CLI's own entry points (cli/main.c is not linked:
 *    this file supplies lsce_fail and lsce_require, as cli/lsce_dev.c does).
 * Files live in memfds named /proc/self/fd/N. Every other path resolves inside an empty private
 * directory, the working directory while a command runs ('/' in a token becomes '_'); the values
 * of --out and --grad-out are redirected to a directory that does not exist, so a command computes
 * everything and then fails to write (exit 3). Each array is capped at 64 elements and
 * LSCE_MAX_PRECISION at 2048 bits; LSCE_SPLIT, LSCE_SHARDS, LSCE_THREADS default to 3, 3, 2.
 * LSCE_FUZZ_VERBOSE=1 prints each command's error line (useful when reproducing). */
#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* memfd_create */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "args.h"
#include "lsce/config.h"
#include "settings.h"
#include "lsce/npy.h"
#include "lsce/problem.h"
#include "lsce/reference.h"
#include "lsce/variants.h"
#if defined(LSCE_FUZZ_WITH_IMPLS)
#include "lsce/invoke.h"
#include "lsce/registry.h"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_ELEMS 64      /* per array: N*K <= 64 keeps one input well under a millisecond */
#define FUZZ_MAX_PREC 2048     /* bits; beyond it the reference exits 3 */
#define FUZZ_MAX_TOKENS 48
#define FUZZ_MAX_TOKEN_LEN 512
#define FUZZ_NOWHERE "/nonexistent-lsce-fuzz/out.npy"

static int verbose;
static char workdir[4096];
static int home_fd = -1; /* the directory libFuzzer runs in: its relative paths stay valid */

/* ---- what main.c provides to the subcommands (as lsce_dev.c does) ---------------------------- */
int lsce_fail(const lsce_err *err) {
  if (verbose) fprintf(stderr, "lsce: %s\n", err->line);
  return err->code;
}

int lsce_require(const void *args, const char *name, lsce_err *err) {
  if (lsce_arg_given((const lsce_args *)args, name)) return LSCE_OK;
  return lsce_err_set(err, LSCE_EINPUT, "%s: missing required option", name);
}

static void die(const char *what) {
  fprintf(stderr, "fuzz_cli: %s\n", what);
  abort();
}

/* ---- in-memory .npy files -------------------------------------------------------------------- */
typedef struct {
  unsigned char *b;
  size_t n, cap;
} buf;

static void buf_put(buf *o, const void *p, size_t n) {
  if (o->n + n > o->cap) {
    size_t c = o->cap ? o->cap : 256;
    while (c < o->n + n) c *= 2;
    unsigned char *nb = realloc(o->b, c);
    if (!nb) die("out of memory");
    o->b = nb;
    o->cap = c;
  }
  if (n) memcpy(o->b + o->n, p, n);
  o->n += n;
}

/* A format 1.0 .npy of `descr`, shape (ndim 1 or 2), holding `nbytes` of raw little-endian data. */
static void npy_make(buf *o, const char *descr, int ndim, const int64_t *shape, const void *raw,
                     size_t nbytes) {
  char h[256];
  int n;
  if (ndim == 1)
    n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }", descr,
                 (long long)shape[0]);
  else
    n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %lld), }",
                 descr, (long long)shape[0], (long long)shape[1]);
  size_t hl = (size_t)n;
  while ((10 + hl + 1) % 64) h[hl++] = ' ';
  h[hl++] = '\n';
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                           (unsigned char)(hl >> 8)};
  o->n = 0;
  buf_put(o, pre, sizeof pre);
  buf_put(o, h, hl);
  buf_put(o, raw, nbytes);
}

/* fixtures/seed as committed: logits float32 (3, 5), targets int64 (3,), weights float32 (5,). */
static const float seed_logits[15] = {0.f, .2f, .7f, .1f, 0.f, 0.f, .9f, .2f, .2f, 1.f,
                                      1.f, .2f, .7f, .9f, 1.f};
static const int64_t seed_targets[3] = {2, 1, 0};
static const float seed_weights[5] = {1.f, 2.f, .5f, 1.5f, .25f};

/* Targets (N,) int64 and weights (K,) float64 that fit logits (N, K): in range, with every fourth
 * row at the ignore index -100, and weights {1, 2, 0.5, 1.5, 0.25} repeated. */
static void make_targets(buf *o, int64_t N, int64_t K) {
  int64_t t[FUZZ_MAX_ELEMS], shape[1] = {N};
  for (int64_t i = 0; i < N; i++) t[i] = i % 4 == 3 ? -100 : (i * 2 + 2) % K;
  npy_make(o, "<i8", 1, shape, t, (size_t)N * sizeof t[0]);
}
static void make_weights(buf *o, int64_t K) {
  static const double w5[5] = {1, 2, .5, 1.5, .25};
  double w[FUZZ_MAX_ELEMS];
  int64_t shape[1] = {K};
  for (int64_t c = 0; c < K; c++) w[c] = w5[c % 5];
  npy_make(o, "<f8", 1, shape, w, (size_t)K * sizeof w[0]);
}

/* A memfd per file slot; its path is /proc/self/fd/<fd>. */
enum { F_L, F_T, F_W, F_X, F_SL, F_ST, F_SW, F_NSLOT };
static int slot_fd[F_NSLOT];
static char slot_path[F_NSLOT][64];

static void slot_set(int s, const void *p, size_t n) {
  if (ftruncate(slot_fd[s], 0) != 0) die("ftruncate failed");
  size_t off = 0;
  while (off < n) {
    ssize_t w = pwrite(slot_fd[s], (const char *)p + off, n - off, (off_t)off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("pwrite to a memfd failed");
    off += (size_t)w;
  }
}

/* ---- set up once ----------------------------------------------------------------------------- */
static void cleanup(void) {
  if (workdir[0]) rmdir(workdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *v = getenv("LSCE_FUZZ_VERBOSE");
  verbose = v && *v && strcmp(v, "0") != 0;
  setenv("LSCE_MAX_PRECISION", "2048", 1);
  /* Slice tiny rows too, so the CPU rows' split and shard merges run (as verify_quick_slices does);
   * set them in the environment to choose others. */
  setenv("LSCE_SPLIT", "3", 0);
  setenv("LSCE_SHARDS", "3", 0);
  setenv("LSCE_THREADS", "2", 0);
  lsce_err serr; /* the knobs reach the libraries as the command line hands them over */
  if (lsce_settings_load(&serr)) die(serr.line);
  for (int s = 0; s < F_NSLOT; s++) {
    slot_fd[s] = memfd_create("lsce-fuzz", 0);
    if (slot_fd[s] < 0) die("memfd_create failed");
    snprintf(slot_path[s], sizeof slot_path[s], "/proc/self/fd/%d", slot_fd[s]);
  }
  buf o = {0};
  int64_t ls[2] = {3, 5}, ts[1] = {3}, ws[1] = {5};
  npy_make(&o, "<f4", 2, ls, seed_logits, sizeof seed_logits);
  slot_set(F_SL, o.b, o.n);
  npy_make(&o, "<i8", 1, ts, seed_targets, sizeof seed_targets);
  slot_set(F_ST, o.b, o.n);
  npy_make(&o, "<f4", 1, ws, seed_weights, sizeof seed_weights);
  slot_set(F_SW, o.b, o.n);
  free(o.b);
  /* Relative paths typed by the fuzzer resolve in an empty private directory. */
  const char *tmp = getenv("TMPDIR");
  snprintf(workdir, sizeof workdir, "%s/lsce-fuzz-cli-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(workdir)) die("cannot create the private working directory");
  home_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (home_fd < 0) die("cannot open the current directory");
  atexit(cleanup);
  /* Results go nowhere: the fuzzer reports on stderr. */
  fflush(stdout);
  if (!freopen("/dev/null", "w", stdout)) die("cannot redirect stdout");
  return 0;
}

/* No command may leave a file behind: the working directory stays empty. */
static void check_nothing_written(void) {
  DIR *d = opendir(workdir);
  if (!d) die("cannot list the private working directory");
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      fprintf(stderr, "fuzz_cli: a command wrote '%s'\n", e->d_name);
      abort();
    }
  }
  closedir(d);
}

static void check_code(int rc, const char *what) {
  if (rc < 0 || rc > 3) {
    fprintf(stderr, "fuzz_cli: %s returned %d, outside the contract's exit codes 0-3\n", what, rc);
    abort();
  }
}

/* 0 when the bytes are a .npy of more than FUZZ_MAX_ELEMS elements (too slow to be worth it). */
static int small_enough(const unsigned char *p, size_t n, int64_t *N, int64_t *K) {
  lsce_npy a;
  lsce_err err;
  *N = *K = -1;
  if (lsce_npy_parse(&a, p, n, "x", &err) != LSCE_OK) return 1;
  int ok = a.count <= FUZZ_MAX_ELEMS;
  if (a.ndim == 2) {
    *N = a.shape[0];
    *K = a.shape[1];
  }
  lsce_npy_free(&a);
  return ok;
}

/* The (N, K) that generated targets and weights are made for: the logits' own when they are a
 * small valid 2-D array, else (1, 1) (the loader reports the logits first anyway). */
static void fit_shape(int64_t *N, int64_t *K) {
  if (*N < 0 || *N > FUZZ_MAX_ELEMS || *K < 1 || *K > FUZZ_MAX_ELEMS) {
    *N = 1;
    *K = 1;
  }
}

#if defined(LSCE_FUZZ_WITH_IMPLS)
/* Every available registry row that takes the logits' dtype, as `lsce run` calls it. */
static void run_impls(const lsce_problem *p) {
  size_t nl = (size_t)(p->reduction == LSCE_RED_NONE ? p->N : 1), ng = (size_t)(p->N * p->K);
  double *loss = malloc((nl ? nl : 1) * sizeof *loss), *grad = malloc((ng ? ng : 1) * sizeof *grad);
  if (!loss || !grad) die("out of memory");
  const lsce_config saved = *lsce_config_get();
  for (int pass = 0; pass < 2; pass++) { /* the machine's ISA, then the scalar kernels */
    if (pass == 1) {
      if (saved.isa >= 0) break; /* the user chose one (LSCE_ISA) */
      lsce_config cf = saved;
      cf.isa = 0;
      lsce_config_set(&cf);
    }
    for (int k = 0; k < lsce_nimpls; k++) {
      const lsce_impl *im = &lsce_impls[k];
      if (!lsce_impl_takes(im, p->logits.dtype) || !im->available()) continue;
      lsce_err err = {0, ""};
      int rc = lsce_invoke(im, p, loss, grad, "run", &err);
      if (rc != LSCE_OK && verbose) fprintf(stderr, "lsce: %s: %s\n", im->name, err.line);
      check_code(rc, im->name);
    }
  }
  lsce_config_set(&saved);
  free(loss);
  free(grad);
}
#endif

/* ---- form 1: a logits file through the library path of `lsce reference` ---------------------- */
static void run_library(int64_t N, int64_t K) {
  static const unsigned long e_num[3] = {1, 3, 0}, e_den[3] = {10, 10, 1}; /* 0.1, 0.3, 0 */
  for (int v = 0; v < LSCE_V_COUNT; v++) {
    lsce_problem p;
    lsce_problem_init(&p);
    p.variant = v;
    mpq_set_ui(p.e, e_num[v % 3], e_den[v % 3]);
    p.reduction = v % 3 == 0 ? LSCE_RED_NONE : v % 3 == 1 ? LSCE_RED_MEAN : LSCE_RED_SUM;
    if (lsce_variants[v].needs_pad_index) p.pad_index = K > 1 ? K - 1 : 0;
    lsce_err err = {0, ""};
    int rc = lsce_problem_load(&p, slot_path[F_L], slot_path[F_T],
                               lsce_variants[v].needs_weights ? slot_path[F_W] : NULL, &err);
    if (rc == LSCE_OK) {
      if (p.N != N || p.K != K) die("lsce_problem_load reports another shape than the header");
      lsce_ref_opts o;
      lsce_ref_opts_default(&o);
      o.max_prec = FUZZ_MAX_PREC;
      o.want_grad = 1;
      lsce_ref_result r;
      rc = lsce_reference(&r, &p, &o, "reference", &err);
      if (rc == LSCE_OK) {
        if (r.nloss != (p.reduction == LSCE_RED_NONE ? N : 1)) die("wrong number of loss values");
        if (N * K > 0 && !r.grad) die("no gradient although want_grad was set");
        lsce_ref_result_free(&r);
      }
    }
    if (rc != LSCE_OK && verbose) fprintf(stderr, "lsce: %s\n", err.line);
    check_code(rc, "lsce_problem_load/lsce_reference");
#if defined(LSCE_FUZZ_WITH_IMPLS)
    if (rc == LSCE_OK) run_impls(&p);
#endif
    lsce_problem_clear(&p);
  }
}

/* ---- form 2: argv tokens through the subcommands -------------------------------------------- */
static const char *map_value(const char *v) {
  static const char *const names[F_NSLOT] = {"@L", "@T", "@W", "@X", "@l", "@t", "@w"};
  for (int s = 0; s < F_NSLOT; s++)
    if (!strcmp(v, names[s])) return slot_path[s];
  return NULL;
}

static int is_output_opt(const char *t, size_t len) {
  return (len == 5 && !memcmp(t, "--out", 5)) || (len == 10 && !memcmp(t, "--grad-out", 10));
}

static void run_argv(char **tok, int ntok) {
  char *argv[FUZZ_MAX_TOKENS + 2];
  char *owned[FUZZ_MAX_TOKENS];
  int argc = 0, nowned = 0;
  argv[argc++] = (char *)"lsce";
  for (int k = 0; k < ntok; k++) {
    char *t = tok[k];
    for (char *c = t; *c; c++)
      if (*c == '/') *c = '_';
    const char *m = map_value(t);
    char *eq = strncmp(t, "--", 2) == 0 ? strchr(t, '=') : NULL;
    if (k > 0 && is_output_opt(tok[k - 1], strlen(tok[k - 1]))) {
      argv[argc++] = (char *)FUZZ_NOWHERE; /* the value of --out/--grad-out: never a real path */
    } else if (m) {
      argv[argc++] = (char *)m;
    } else if (eq && (is_output_opt(t, (size_t)(eq - t)) || map_value(eq + 1))) {
      const char *val = is_output_opt(t, (size_t)(eq - t)) ? FUZZ_NOWHERE : map_value(eq + 1);
      size_t n = (size_t)(eq - t) + 1 + strlen(val) + 1;
      char *s = malloc(n);
      if (!s) die("out of memory");
      snprintf(s, n, "%.*s=%s", (int)(eq - t), t, val);
      owned[nowned++] = s;
      argv[argc++] = s;
    } else {
      argv[argc++] = t;
    }
  }
  argv[argc] = NULL;
  int rc = -1;
  /* The subcommands that meson found in cli/ (LSCE_FUZZ_CMD_*); verify is left out: it walks the
   * fixture directories, far beyond a tiny input. */
  const char *cmd = argc >= 2 ? argv[1] : "";
  if (chdir(workdir) != 0) die("cannot enter the private working directory");
  if (!strcmp(cmd, "reference")) rc = lsce_cmd_reference(argc, argv);
#if defined(LSCE_FUZZ_WITH_IMPLS)
  else if (!strcmp(cmd, "run")) rc = lsce_cmd_reference(argc, argv);
#endif
#if defined(LSCE_FUZZ_CMD_COMPARE)
  else if (!strcmp(cmd, "compare")) rc = lsce_cmd_compare(argc, argv);
#endif
#if defined(LSCE_FUZZ_CMD_VARIANTS)
  else if (!strcmp(cmd, "variants")) rc = lsce_cmd_variants(argc, argv);
#endif
#if defined(LSCE_FUZZ_CMD_IMPLS)
  else if (!strcmp(cmd, "impls")) rc = lsce_cmd_impls(argc, argv);
#endif
#if defined(LSCE_FUZZ_CMD_CHECK)
  else if (!strcmp(cmd, "check")) rc = lsce_cmd_check(argc, argv);
#endif
  if (fchdir(home_fd) != 0) die("cannot return to the starting directory");
  if (rc != -1) check_code(rc, cmd);
  fflush(stdout);
  for (int k = 0; k < nowned; k++) free(owned[k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  int64_t N, K, N2, K2;
  buf o = {0};
  if (size >= 6 && memcmp(data, magic, 6) == 0) {
    if (!small_enough(data, size, &N, &K)) return 0;
    fit_shape(&N, &K);
    slot_set(F_L, data, size);
    make_targets(&o, N, K);
    slot_set(F_T, o.b, o.n);
    make_weights(&o, K);
    slot_set(F_W, o.b, o.n);
    free(o.b);
    run_library(N, K);
    check_nothing_written();
    return 0;
  }

  /* Form 2. Copy to a NUL-terminated buffer, split off the "%%" sections. */
  char *text = malloc(size + 1);
  if (!text) die("out of memory");
  memcpy(text, data, size);
  text[size] = '\0';
  const char *sec[5] = {text, NULL, NULL, NULL, NULL};
  size_t seclen[5] = {size, 0, 0, 0, 0};
  int nsec = 1;
  /* Separators: "\n%%\n" (its newlines belong to it, so a section's bytes are exact), or "%%\n"
   * at the very start (no argv lines). */
  for (size_t i = 0; i < size && nsec < 5; i++) {
    size_t sep = 0;
    if (i == 0 && size >= 3 && !memcmp(text, "%%\n", 3)) sep = 3;
    else if (i + 4 <= size && !memcmp(text + i, "\n%%\n", 4)) sep = 4;
    if (!sep) continue;
    seclen[nsec - 1] = (size_t)(text + i - sec[nsec - 1]);
    sec[nsec] = text + i + sep;
    seclen[nsec] = size - (i + sep);
    nsec++;
    i += sep - 1;
  }
  int64_t n1 = -1, k1 = -1;
  for (int s = 1; s < nsec; s++) {
    if (!small_enough((const unsigned char *)sec[s], seclen[s], &N2, &K2)) {
      free(text);
      return 0;
    }
    if (s == 1) { n1 = N2; k1 = K2; }
  }
  if (nsec > 1) {
    slot_set(F_L, sec[1], seclen[1]);
  } else {
    int64_t ls[2] = {3, 5};
    npy_make(&o, "<f4", 2, ls, seed_logits, sizeof seed_logits);
    slot_set(F_L, o.b, o.n);
    n1 = 3;
    k1 = 5;
  }
  fit_shape(&n1, &k1);
  if (nsec > 2) slot_set(F_T, sec[2], seclen[2]);
  else { make_targets(&o, n1, k1); slot_set(F_T, o.b, o.n); }
  if (nsec > 3) slot_set(F_W, sec[3], seclen[3]);
  else { make_weights(&o, k1); slot_set(F_W, o.b, o.n); }
  slot_set(F_X, nsec > 4 ? sec[4] : "", nsec > 4 ? seclen[4] : 0);
  free(o.b);

  /* argv tokens: the lines of section 0 (a trailing '\r' is kept: it is part of the token) */
  char *tok[FUZZ_MAX_TOKENS];
  int ntok = 0;
  char *line = text;
  char *end = text + seclen[0];
  while (line < end && ntok < FUZZ_MAX_TOKENS) {
    char *nl = memchr(line, '\n', (size_t)(end - line));
    char *stop = nl ? nl : end;
    *stop = '\0';
    if (strlen(line) > FUZZ_MAX_TOKEN_LEN) line[FUZZ_MAX_TOKEN_LEN] = '\0';
    tok[ntok++] = line;
    line = stop + 1;
  }
  if (ntok < FUZZ_MAX_TOKENS || line >= end) run_argv(tok, ntok);
  free(text);
  check_nothing_written();
  return 0;
}
