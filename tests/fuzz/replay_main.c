/* replay_main.c: a main() for the fuzz targets where libFuzzer is absent (gcc builds, valgrind):
 * runs LLVMFuzzerTestOneInput once on each file named, and on each file of each directory named
 * (sorted, dotfiles skipped, not recursive). Everything goes to stderr (a target may silence
 * stdout): a line "replaying <path>" before each input, so a crash names its culprit, then
 * "replayed N inputs". Exits 0, or 1 when a named path could not be read. */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 1;
  }
  size_t cap = 4096, n = 0;
  unsigned char *b = malloc(cap);
  for (;;) {
    if (!b) {
      fclose(f);
      fprintf(stderr, "replay: out of memory reading %s\n", path);
      return 1;
    }
    n += fread(b + n, 1, cap - n, f);
    if (n < cap) break;
    unsigned char *nb = realloc(b, cap * 2);
    if (!nb) free(b);
    b = nb;
    cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(b);
    fprintf(stderr, "replay: cannot read %s\n", path);
    return 1;
  }
  /* An exact-size copy, as libFuzzer passes it, so an over-read is an over-read. */
  unsigned char *exact = malloc(n ? n : 1);
  if (!exact) {
    free(b);
    return 1;
  }
  memcpy(exact, b, n);
  free(b);
  fprintf(stderr, "replaying %s\n", path);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  long count = 0;
  int errors = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      errors++;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      errors += replay_file(argv[i]);
      count++;
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (!d) {
      fprintf(stderr, "replay: cannot list %s\n", argv[i]);
      errors++;
      continue;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      if (nn == cap) {
        cap = cap ? 2 * cap : 64;
        char **nb = realloc(names, cap * sizeof *names);
        if (!nb) break;
        names = nb;
      }
      size_t len = strlen(argv[i]) + 1 + strlen(e->d_name) + 1;
      names[nn] = malloc(len);
      if (!names[nn]) break;
      snprintf(names[nn], len, "%s/%s", argv[i], e->d_name);
      nn++;
    }
    closedir(d);
    if (nn) qsort(names, nn, sizeof *names, cmp_str);
    for (size_t k = 0; k < nn; k++) {
      struct stat fs;
      if (stat(names[k], &fs) == 0 && S_ISREG(fs.st_mode)) {
        errors += replay_file(names[k]);
        count++;
      }
      free(names[k]);
    }
    free(names);
  }
  fprintf(stderr, "replayed %ld inputs, %d unreadable\n", count, errors);
  return errors ? 1 : 0;
}
