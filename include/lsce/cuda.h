/* lsce/cuda.h: what the CUDA rows (impls/cuda/rowblock.cu, or impls/cuda/stub.c in a build without
 * CUDA) tell their callers besides the registry entry points: why CUDA is unavailable or why a call
 * failed (distinct statuses and one-line reasons), the device's properties, and the device-resident
 * timing that lsce-dev gpubench prints. No accuracy claim here: the rows' claims are in the
 * registry (impls/registry.inc). */
#ifndef LSCE_CUDA_H
#define LSCE_CUDA_H
#include <stddef.h>
#include <stdint.h>
#include "lsce/registry.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  LSCE_CUDA_OK = 0,
  LSCE_CUDA_NOT_BUILT,  /* lsce was built without CUDA (the stub) */
  LSCE_CUDA_NO_DEVICE,  /* no driver, or a driver that sees no device */
  LSCE_CUDA_OLD_DRIVER, /* the driver is older than the runtime linked into lsce */
  LSCE_CUDA_NO_MEMORY,  /* a device allocation failed */
  LSCE_CUDA_ERROR       /* any other CUDA error (launch, copy, event, ...) */
} lsce_cuda_status;

typedef struct {
  char name[256];
  int major, minor, sms;
  size_t mem_total, mem_free, l2_bytes;
  int driver_version, runtime_version; /* 1000 * major + 10 * minor */
} lsce_cuda_info;

/* Probes device 0 (and fills *info when the status is LSCE_CUDA_OK; info may be NULL). */
lsce_cuda_status lsce_cuda_probe(lsce_cuda_info *info);
/* The status and the one-line reason of the last failure (of a probe or of a row's call). */
lsce_cuda_status lsce_cuda_last_status(void);
const char *lsce_cuda_reason(void);

/* The L2 flush written before every timed sample: 4x the L2 size, at least 64 MiB. */
static inline size_t lsce_cuda_flush_bytes(size_t l2_bytes) {
  const size_t floor_bytes = (size_t)64 << 20;
  return 4 * l2_bytes > floor_bytes ? 4 * l2_bytes : floor_bytes;
}

/* Runs a CUDA row on the problem c with its launch shape (the registry row's device argument,
 * impls/registry.inc): the entry point behind every LSCE_CUDA_IMPL row. */
int lsce_cuda_run(double *loss, void *grad, lsce_dtype gdt, const lsce_call *c, int shape);
/* Device-resident timing of a CUDA row (cuda_rowblock, cuda_warp, cuda_split) on the problem c:
 * the inputs are uploaded once; each of reps + 1 samples (the first is a warm-up and dropped)
 * restores the logits from a pristine device copy (fwdbwd writes the gradient in place), writes a
 * flush buffer of 4x the L2 size, then records an event, enqueues the row's kernels with no host
 * synchronization and no allocation, records a second event; the host waits only after it. The
 * best sample in ms goes to *best_ms; the last sample's loss (c->prm's reduction) and, with
 * fwdbwd, its gradient (the input dtype, N x K) are read back into loss and grad for validation.
 * Returns 0, or 3 with lsce_cuda_reason() set. */
int lsce_cuda_time(double *best_ms, double *loss, void *grad, const char *impl, const lsce_call *c,
                   int fwdbwd, int reps);
/* The device-to-device copy of `bytes` bytes of host data src (uploaded once), timed as above
 * (flush, events around the copy alone); the copy's output is read back and compared with src:
 * returns 0, 1 when the copy differs, 3 on a CUDA error. */
int lsce_cuda_copy_ms(double *best_ms, const void *src, size_t bytes, int reps);
#ifdef __cplusplus
}
#endif
#endif
