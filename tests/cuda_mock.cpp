/* tests/cuda_mock.cpp: the recording CUDA runtime of tests/cuda_mock.h. Only what rowblock.o and nccl_vocab.o call
 * (nm lists it), with the runtime's signatures from cuda_runtime_api.h. A launch is refused
 * (cudaErrorInvalidConfiguration, reported by the next cudaGetLastError, as the runtime does) when
 * gridDim.x > 2^31 - 1, gridDim.y or .z > 65535, more than 1024 threads, or more than 48 KiB of
 * dynamic shared memory. An accepted launch runs the kernel on the host (tests/cuda_emu.h, with the
 * launch's grid and arguments, the kernel found by the name nvcc registered for it), unless
 * mock.emulate is 0 (LSCE_MOCK_KERNELS=skip: launches do nothing, as unlaunched kernels).
 * Devices: LSCE_MOCK_DEVICES=n (default 1) visible devices, cudaSetDevice(0..n-1), the current one
 * tracked (cudaGetDevice); all share the host's memory, so a copy between them is a memmove (the
 * fake NCCL of tests/fake_nccl.c relies on it). For a whole program (lsce-mock): LSCE_MOCK_FAIL_AT=k
 * makes the k-th failable call fail, and LSCE_MOCK_REPORT=FILE writes at exit one line
 * "calls=<failable calls> failed=<0|1> live_allocs=<n> live_events=<n> live_streams=<n>". */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <map>
#include <set>
#include <string>
#include "cuda_mock.h"
#include "cuda_emu.h"

mock_state mock;
static std::set<void *> events;
static std::map<void *, size_t> allocs; /* device memory: mmap'd, so big blocks stay untouched (even under MALLOC_PERTURB_) */
/* host stub -> mangled device name; filled by the registration that runs before main, so built on
 * first use (not a namespace-scope object, whose constructor might run after it) */
static std::map<const void *, std::string> &kernel_names(void) {
  static std::map<const void *, std::string> m;
  return m;
}
static int skip_env = -1; /* LSCE_MOCK_KERNELS=skip, read at the first launch */
static std::set<void *> streams;
static int cur_dev = 0;
/* LSCE_MOCK_DEVICES, LSCE_MOCK_FAIL_AT and LSCE_MOCK_REPORT, read at the first call that needs them */
static int n_devices(void) {
  static int n = 0;
  if (!n) {
    const char *e = getenv("LSCE_MOCK_DEVICES");
    n = e && atoi(e) >= 1 ? atoi(e) : 1;
  }
  return n;
}
static void report(void) {
  const char *f = getenv("LSCE_MOCK_REPORT");
  FILE *o = f ? fopen(f, "w") : NULL;
  if (!o) return;
  fprintf(o, "calls=%ld failed=%d live_allocs=%ld live_events=%ld live_streams=%ld\n", mock.calls, mock.failed,
          mock.live_allocs, mock.live_events, (long)streams.size());
  fclose(o);
}
static void program_env(void) {
  static int done = 0;
  if (done) return;
  done = 1;
  const char *e = getenv("LSCE_MOCK_FAIL_AT");
  if (e && atol(e) >= 1) mock.fail_at = atol(e);
  if (getenv("LSCE_MOCK_REPORT")) atexit(report);
}
static cudaError_t last = cudaSuccess;
static dim3 cfg_grid, cfg_block;
static size_t cfg_shm;

void mock_reset(void) {
  mock.log.clear();
  mock.calls = 0; mock.fail_at = -1; mock.failed = 0; mock.corrupt_d2d = 0;
  last = cudaSuccess;
}

static void rec(mock_kind k, size_t bytes = 0, unsigned gx = 0, unsigned gy = 0, unsigned gz = 0) {
  mock_event e = {k, bytes, gx, gy, gz};
  mock.log.push_back(e);
}
/* a failable call: true when this one is to fail */
static bool inject(void) {
  program_env();
  if (++mock.calls == mock.fail_at) { mock.failed = 1; return true; }
  return false;
}

/* the kernels of rowblock.cu by their parameter lists (a[i] points at parameter i) */
template <typename T>
static bool emulate_typed(const std::string &n, dim3 g, dim3 b, void **a) {
  const emu_capture none = {NULL, NULL};
  if (n.find("rowgroup_kernel") != std::string::npos) {
    const int G = n.find("Li32E") != std::string::npos ? 32 : 256;
    emu_rowgroup_kernel<T>(G, g.x, (int)b.x, *(double **)a[0], *(T **)a[1], *(const T **)a[2], *(const int64_t **)a[3],
                           *(const double **)a[4], (const lsce_params *)a[5], *(int64_t *)a[6], *(int64_t *)a[7],
                           *(lsce_cu_bounds *)a[8], none);
  } else if (n.find("split_stats_kernel") != std::string::npos) {
    emu_split_stats_kernel<T>(g.x, g.y, (int)b.x, *(lsce_rowstats **)a[0], *(const T **)a[1], *(const int64_t **)a[2],
                              *(const double **)a[3], (const lsce_params *)a[4], *(int64_t *)a[5], *(int64_t *)a[6], *(int *)a[7]);
  } else if (n.find("split_grad_kernel") != std::string::npos) {
    emu_split_grad_kernel<T>(g.x, g.y, (int)b.x, *(T **)a[0], *(const T **)a[1], *(const lsce_gradcoef **)a[2],
                             *(const double **)a[3], *(const double **)a[4], (const lsce_params *)a[5], *(int64_t *)a[6],
                             *(int64_t *)a[7], *(int *)a[8], *(double **)a[9]);
  } else if (n.find("shard_stats_kernel") != std::string::npos) { /* cuda_nccl_vocab */
    emu_shard_stats_kernel<T>(g.x, (int)b.x, *(lsce_rowstats **)a[0], *(const T **)a[1], *(const int64_t **)a[2],
                              *(const double **)a[3], (const lsce_params *)a[4], *(int64_t *)a[5], *(int64_t *)a[6],
                              *(int64_t *)a[7]);
  } else if (n.find("shard_grad_kernel") != std::string::npos) {
    emu_shard_grad_kernel<T>(g.x, (int)b.x, *(T **)a[0], *(const T **)a[1], *(const lsce_gradcoef **)a[2],
                             *(const double **)a[3], *(const lsce_rowstats **)a[4], *(int **)a[5], *(const int64_t **)a[6],
                             *(const double **)a[7], (const lsce_params *)a[8], *(int64_t *)a[9], *(int64_t *)a[10],
                             *(int64_t *)a[11], *(int64_t *)a[12], *(lsce_cu_bounds *)a[13]);
  } else if (n.find("opt_block_kernel") != std::string::npos) { /* P: lsce_cu_op1, lsce_cu_op2 or double */
    T *gr = *(T **)a[0];
    const T *zz = *(const T **)a[1];
    lsce_cu_obuf ob = *(lsce_cu_obuf *)a[2];
    lsce_cu_oprm oq = *(lsce_cu_oprm *)a[3];
    if (n.find("lsce_cu_op1") != std::string::npos) emu_opt_block_kernel<T, lsce_cu_op1>(g.x, g.y, (int)b.x, gr, zz, ob, oq);
    else if (n.find("lsce_cu_op2") != std::string::npos) emu_opt_block_kernel<T, lsce_cu_op2>(g.x, g.y, (int)b.x, gr, zz, ob, oq);
    else emu_opt_block_kernel<T, double>(g.x, g.y, (int)b.x, gr, zz, ob, oq);
  } else {
    return false;
  }
  return true;
}

static bool emulate(const void *stub, dim3 g, dim3 b, void **a) {
  auto it = kernel_names().find(stub);
  if (it == kernel_names().end()) return false;
  const std::string &n = it->second;
  if (n.find("split_merge_kernel") != std::string::npos) {
    const emu_capture none = {NULL, NULL};
    emu_split_merge_kernel(g.x, (int)b.x, *(double **)a[0], *(lsce_gradcoef **)a[1], *(double **)a[2],
                           *(const lsce_rowstats **)a[3], *(const int64_t **)a[4], *(const double **)a[5],
                           (const lsce_params *)a[6], *(int64_t *)a[7], *(int *)a[8], *(lsce_rowstats **)a[9], none);
    return true;
  }
  if (n.find("split_guard_kernel") != std::string::npos) {
    emu_split_guard_kernel(g.x, (int)b.x, *(double **)a[0], *(const lsce_rowstats **)a[1], *(const double **)a[2],
                           *(const int64_t **)a[3], *(const double **)a[4], (const lsce_params *)a[5], *(int64_t *)a[6],
                           *(int64_t *)a[7], *(int *)a[8], *(int *)a[9], *(lsce_cu_bounds *)a[10]);
    return true;
  }
  if (n.find("rank_merge_kernel") != std::string::npos) { /* cuda_nccl_vocab */
    emu_rank_merge_kernel(g.x, (int)b.x, *(double **)a[0], *(lsce_gradcoef **)a[1], *(double **)a[2],
                          *(lsce_rowstats **)a[3], *(const lsce_rowstats **)a[4], *(const int64_t **)a[5],
                          *(const double **)a[6], (const lsce_params *)a[7], *(int64_t *)a[8], *(int64_t *)a[9],
                          *(int *)a[10], *(lsce_cu_bounds *)a[11]);
    return true;
  }
  if (n.find("opt_row_kernel") != std::string::npos) {
    emu_opt_row_kernel(g.x, (int)b.x, *(lsce_cu_obuf *)a[0], *(lsce_cu_oprm *)a[1], *(int *)a[2]);
    return true;
  }
  if (n.find("kernelIf") != std::string::npos) return emulate_typed<float>(n, g, b, a);
  if (n.find("13__nv_bfloat16") != std::string::npos) return emulate_typed<bf16>(n, g, b, a);
  if (n.find("6__half") != std::string::npos) return emulate_typed<f16>(n, g, b, a);
  return false;
}

extern "C" {
cudaError_t cudaMalloc(void **p, size_t n) {
  *p = NULL;
  rec(M_MALLOC, n);
  if (inject()) return cudaErrorMemoryAllocation;
  void *m = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return cudaErrorMemoryAllocation;
  if (n <= (1u << 20)) memset(m, 0xff, n); /* uninitialised device memory: NaN-like bytes (not the big flush buffers) */
  allocs[m] = n ? n : 1;
  *p = m;
  mock.live_allocs = (long)allocs.size();
  return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
  rec(M_FREE);
  if (!p) return cudaSuccess;
  auto it = allocs.find(p);
  if (it == allocs.end()) return cudaErrorInvalidValue;
  munmap(p, it->second);
  allocs.erase(it);
  mock.live_allocs = (long)allocs.size();
  return cudaSuccess;
}
static cudaError_t copy(void *d, const void *s, size_t n, cudaMemcpyKind k) {
  rec(k == cudaMemcpyHostToDevice ? M_H2D : k == cudaMemcpyDeviceToHost ? M_D2H : M_D2D, n);
  if (inject()) return cudaErrorUnknown;
  memmove(d, s, n);
  if (k == cudaMemcpyDeviceToDevice && mock.corrupt_d2d && n) ((unsigned char *)d)[n / 2] ^= 1;
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k) { return copy(d, s, n, k); }
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t) { return copy(d, s, n, k); }
/* the NCCL row's calls (impls/cuda/nccl_vocab.cu): a 2-D copy is one failable call */
cudaError_t cudaMemcpy2D(void *d, size_t dp, const void *s, size_t sp, size_t w, size_t h, cudaMemcpyKind k) {
  rec(k == cudaMemcpyHostToDevice ? M_H2D : k == cudaMemcpyDeviceToHost ? M_D2H : M_D2D, w * h);
  if (inject()) return cudaErrorUnknown;
  for (size_t r = 0; r < h; r++) memmove((char *)d + r * dp, (const char *)s + r * sp, w);
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
  rec(M_OTHER);
  if (d < 0 || d >= n_devices()) return cudaErrorInvalidDevice;
  if (inject()) return cudaErrorUnknown;
  cur_dev = d;
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t *s) {
  rec(M_OTHER);
  *s = (cudaStream_t)0;
  if (inject()) return cudaErrorUnknown;
  *s = (cudaStream_t)malloc(8);
  streams.insert((void *)*s);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  rec(M_OTHER);
  return streams.erase((void *)s) ? (free((void *)s), cudaSuccess) : cudaErrorInvalidResourceHandle;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t) {
  rec(M_MEMSET, n);
  if (inject()) return cudaErrorUnknown;
  if (n <= (1u << 20)) memset(p, v, n); /* the L2 flush's contents do not matter: never touched */
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
  rec(M_EVCREATE);
  *e = NULL;
  if (inject()) return cudaErrorUnknown;
  *e = (cudaEvent_t)malloc(8);
  events.insert((void *)*e);
  mock.live_events = (long)events.size();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  rec(M_EVDESTROY);
  if (!events.erase((void *)e)) return cudaErrorInvalidResourceHandle;
  free((void *)e);
  mock.live_events = (long)events.size();
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { rec(M_RECORD); return inject() ? cudaErrorUnknown : cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { rec(M_EVSYNC); return inject() ? cudaErrorLaunchFailure : cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t, cudaEvent_t) {
  rec(M_ELAPSED);
  *ms = 1.0f;
  return inject() ? cudaErrorUnknown : cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { rec(M_STREAMSYNC); return inject() ? cudaErrorLaunchFailure : cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { rec(M_DEVSYNC); return inject() ? cudaErrorLaunchFailure : cudaSuccess; }
cudaError_t cudaGetLastError(void) {
  rec(M_LASTERROR);
  cudaError_t e = last;
  last = cudaSuccess;
  return e;
}
cudaError_t cudaGetDevice(int *d) { rec(M_OTHER); *d = cur_dev; return inject() ? cudaErrorUnknown : cudaSuccess; }
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int) {
  rec(M_OTHER);
  *v = a == cudaDevAttrL2CacheSize ? (int)mock.l2_bytes : 0;
  return inject() ? cudaErrorUnknown : cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int *n) { *n = n_devices(); return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
  memset(p, 0, sizeof *p);
  strcpy(p->name, "mock");
  p->major = 9; p->minor = 0; p->multiProcessorCount = 132; p->l2CacheSize = (int)mock.l2_bytes;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *f, size_t *t) { *f = (size_t)1 << 34; *t = (size_t)1 << 35; return cudaSuccess; }
cudaError_t cudaRuntimeGetVersion(int *v) { *v = 13000; return cudaSuccess; }
cudaError_t cudaDriverGetVersion(int *v) { *v = 13000; return cudaSuccess; }
const char *cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "mock error"; }
const char *cudaGetErrorName(cudaError_t e) {
  switch (e) {
  case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
  case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
  case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  default: return "cudaErrorUnknown";
  }
}

/* the launch path nvcc's host stubs take (crt/host_runtime.h, crt/device_functions.h) */
void **__cudaRegisterFatBinary(void *) { static void *h; return &h; }
void __cudaRegisterFatBinaryEnd(void **) {}
void __cudaUnregisterFatBinary(void **) {}
void __cudaRegisterFunction(void **, const char *host, char *, const char *name, int, uint3 *, uint3 *, dim3 *, dim3 *, int *) {
  kernel_names()[host] = name;
}
unsigned __cudaPushCallConfiguration(dim3 g, dim3 b, size_t shm, struct CUstream_st *) {
  cfg_grid = g; cfg_block = b; cfg_shm = shm;
  return 0;
}
cudaError_t __cudaPopCallConfiguration(dim3 *g, dim3 *b, size_t *shm, void *) {
  *g = cfg_grid; *b = cfg_block; *shm = cfg_shm;
  return cudaSuccess;
}
cudaError_t __cudaGetKernel(cudaKernel_t *k, const void *f) { *k = (cudaKernel_t)f; return cudaSuccess; }
cudaError_t __cudaLaunchKernel(cudaKernel_t k, dim3 g, dim3 b, void **args, size_t shm, cudaStream_t) {
  const unsigned long long threads = (unsigned long long)b.x * b.y * b.z;
  if (g.x < 1 || g.x > 2147483647u || g.y < 1 || g.y > 65535 || g.z < 1 || g.z > 65535 || threads < 1 ||
      threads > 1024 || shm > 48 * 1024) {
    rec(M_LAUNCH_REFUSED, shm, g.x, g.y, g.z);
    last = cudaErrorInvalidConfiguration;
    return last;
  }
  rec(M_LAUNCH, shm, g.x, g.y, g.z);
  if (inject()) { last = cudaErrorLaunchFailure; return last; }
  if (skip_env < 0) {
    const char *e = getenv("LSCE_MOCK_KERNELS");
    skip_env = e && !strcmp(e, "skip");
  }
  if (mock.emulate && !skip_env && !emulate((const void *)k, g, b, args)) { last = cudaErrorInvalidDeviceFunction; return last; }
  return cudaSuccess;
}
}
