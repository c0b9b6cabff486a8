/* tests/fault_alloc.c: an LD_PRELOAD shim for tests/test_faults.py that makes one allocation of the
 * program's own code fail with ENOMEM: the Nth call (N = $LSCE_FAULT_ALLOC, from 1) of malloc,
 * calloc, realloc, aligned_alloc or posix_memalign whose caller lies in the main executable (lsce,
 * lsce-mpi: their code is linked in statically) and that comes after main() started (the static CUDA
 * runtime's constructors allocate before); allocations made inside libc, OpenMP, MPI, FLINT or the
 * loader pass, so what fails is always a call site lsce is responsible for.
 * $LSCE_FAULT_ALLOC_RANK restricts the fault to one MPI rank ($OMPI_COMM_WORLD_RANK), and
 * $LSCE_FAULT_ALLOC_COUNT names a file to which each process appends, at exit, how many such calls
 * it made (so the test knows the points it can sample). N = 0 fails nothing.
 * $LSCE_FAULT_ALLOC_MIN = B (bytes) fails, in the same places, every request of at least B bytes
 * instead (a memory failure aimed at one large buffer, e.g. a row block of a wide problem: used by
 * tests/test_mpi_options_f64.py). glibc only: the real
 * allocators are glibc's exported __libc_* entry points (no dlsym, which itself allocates). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static uintptr_t lo[16], hi[16];
static int nseg;
static long target;
static size_t min_bytes; /* LSCE_FAULT_ALLOC_MIN: fail every request of at least this many bytes (0: off) */
static atomic_long calls;
static atomic_int armed;

typedef int (*main_fn)(int, char **, char **);
static main_fn real_main;

static int armed_main(int argc, char **argv, char **envp) {
  atomic_store(&armed, 1);
  return real_main(argc, argv, envp);
}

/* the program's main() runs armed: glibc's start-up calls it through here */
int __libc_start_main(main_fn m, int argc, char **argv, void (*init)(void), void (*fini)(void),
                      void (*rtld_fini)(void), void *stack_end) {
  int (*real)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);
  *(void **)&real = dlsym(RTLD_NEXT, "__libc_start_main");
  real_main = m;
  return real(armed_main, argc, argv, init, fini, rtld_fini, stack_end);
}

static int first_object(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  (void)data;
  for (int i = 0; i < info->dlpi_phnum && nseg < 16; i++)
    if (info->dlpi_phdr[i].p_type == PT_LOAD && (info->dlpi_phdr[i].p_flags & PF_X)) {
      lo[nseg] = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
      hi[nseg] = lo[nseg] + info->dlpi_phdr[i].p_memsz;
      nseg++;
    }
  return 1; /* the first object is the main program */
}

__attribute__((constructor)) static void init(void) {
  const char *n = getenv("LSCE_FAULT_ALLOC"), *rank = getenv("LSCE_FAULT_ALLOC_RANK");
  const char *me = getenv("OMPI_COMM_WORLD_RANK");
  const char *mb = getenv("LSCE_FAULT_ALLOC_MIN");
  target = n ? atol(n) : 0;
  min_bytes = mb && *mb ? (size_t)strtoull(mb, NULL, 10) : 0;
  if (rank && *rank && (!me || strcmp(rank, me) != 0)) target = 0, min_bytes = 0;
  dl_iterate_phdr(first_object, NULL);
}

__attribute__((destructor)) static void fini(void) {
  const char *f = getenv("LSCE_FAULT_ALLOC_COUNT");
  if (!f || !*f) return;
  FILE *o = fopen(f, "a");
  if (o) {
    fprintf(o, "%ld\n", (long)atomic_load(&calls));
    fclose(o);
  }
}

/* a place for a debugger's breakpoint: the failing call's stack */
__attribute__((noinline)) void fault_hit(void) { __asm__ volatile(""); }

/* 1 when this call (from return address ra, asking for n bytes) is one to fail */
static int fails(void *ra, size_t n) {
  uintptr_t a = (uintptr_t)ra;
  int mine = 0;
  for (int i = 0; i < nseg; i++) mine |= a >= lo[i] && a < hi[i];
  if (!mine || !atomic_load(&armed)) return 0;
  long k = atomic_fetch_add(&calls, 1) + 1;
  if (k != target && !(min_bytes && n >= min_bytes)) return 0;
  fault_hit();
  errno = ENOMEM;
  return 1;
}

void *malloc(size_t n) { return fails(__builtin_return_address(0), n) ? NULL : __libc_malloc(n); }
void *calloc(size_t m, size_t n) {
  const size_t b = n && m > SIZE_MAX / n ? SIZE_MAX : m * n;
  return fails(__builtin_return_address(0), b) ? NULL : __libc_calloc(m, n);
}
void *realloc(void *p, size_t n) { return fails(__builtin_return_address(0), n) ? NULL : __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { return fails(__builtin_return_address(0), n) ? NULL : __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
  if (fails(__builtin_return_address(0), n)) return ENOMEM;
  void *r = __libc_memalign(a, n);
  if (!r) return ENOMEM;
  *p = r;
  return 0;
}
