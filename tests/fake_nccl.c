/* tests/fake_nccl.c: a stand-in for libnccl.so.2 (built as build/tests/libnccl.so.2), so that
 * cuda_nccl_vocab (impls/cuda/nccl_vocab.cu) runs under the recording CUDA runtime
 * (tests/cuda_mock.cpp) on a machine without a GPU: the row's own dlopen("libnccl.so.2") finds it
 * through LD_LIBRARY_PATH. Only what the row calls, with nccl.h's signatures: ncclGetVersion (0: the
 * fake), ncclCommInitAll, ncclCommDestroy, ncclGroupStart/End, ncclAllGather, ncclGetErrorString.
 * The mock's device memory is host memory, so an all-gather is host memcpys: the calls queued in a
 * group are checked (one per rank of the clique, equal counts) and done at the outermost
 * ncclGroupEnd; outside a group only a one-rank clique completes (real NCCL would wait for the
 * others). Fault injection: LSCE_FAKE_NCCL_FAIL=k makes the k-th call of ncclCommInitAll,
 * ncclGroupStart, ncclAllGather, ncclGroupEnd return ncclSystemError. The devices named must be
 * below LSCE_MOCK_DEVICES (default 1), the mock's device count. No accuracy claim: it moves bytes. */
#include <nccl.h>
#include <stdlib.h>
#include <string.h>

struct ncclComm {
  int rank, nranks;
  void *clique; /* shared by the communicators of one ncclCommInitAll */
};

enum { MAXQ = 64 };
static struct {
  ncclComm_t comm;
  const void *send;
  void *recv;
  size_t bytes;
} queue[MAXQ];
static int nq = 0, depth = 0, failed_group = 0;
static long calls = 0;

static int fail_now(void) {
  const char *e = getenv("LSCE_FAKE_NCCL_FAIL");
  return ++calls == (e ? atol(e) : -1);
}

static size_t type_size(ncclDataType_t t) {
  switch (t) {
  case ncclInt8: case ncclUint8: case ncclFloat8e4m3: case ncclFloat8e5m2: return 1;
  case ncclFloat16: case ncclBfloat16: return 2;
  case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
  default: return 8;
  }
}

ncclResult_t ncclGetVersion(int *v) {
  *v = 0;
  return ncclSuccess;
}

const char *ncclGetErrorString(ncclResult_t r) {
  switch (r) {
  case ncclSuccess: return "no error (fake NCCL)";
  case ncclSystemError: return "injected system error (fake NCCL)";
  case ncclInvalidArgument: return "invalid argument (fake NCCL)";
  case ncclInvalidUsage: return "invalid usage (fake NCCL)";
  default: return "error (fake NCCL)";
  }
}

ncclResult_t ncclCommInitAll(ncclComm_t *comm, int ndev, const int *devlist) {
  if (fail_now()) return ncclSystemError;
  const char *e = getenv("LSCE_MOCK_DEVICES");
  const int n = e && atoi(e) >= 1 ? atoi(e) : 1;
  if (ndev < 1 || ndev > n) return ncclInvalidArgument;
  for (int r = 0; r < ndev; r++)
    if (devlist && (devlist[r] < 0 || devlist[r] >= n)) return ncclInvalidArgument;
  void *clique = malloc(1);
  for (int r = 0; r < ndev; r++) {
    comm[r] = (ncclComm_t)malloc(sizeof(struct ncclComm));
    comm[r]->rank = r; comm[r]->nranks = ndev; comm[r]->clique = clique;
  }
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t c) {
  free(c);
  return ncclSuccess;
}

ncclResult_t ncclGroupStart(void) {
  if (fail_now()) return ncclSystemError;
  if (depth++ == 0) { nq = 0; failed_group = 0; }
  return ncclSuccess;
}

/* the queued all-gathers: every clique complete (one call per rank, equal sizes), then copied */
static ncclResult_t run_queue(void) {
  for (int a = 0; a < nq; a++) {
    int n = 0;
    for (int b = 0; b < nq; b++) {
      if (queue[b].comm->clique != queue[a].comm->clique) continue;
      if (queue[b].bytes != queue[a].bytes) return ncclInvalidUsage;
      if (b != a && queue[b].comm->rank == queue[a].comm->rank) return ncclInvalidUsage;
      n++;
    }
    if (n != queue[a].comm->nranks) return ncclInvalidUsage;
  }
  for (int a = 0; a < nq; a++) /* every receiver gets every sender's block at its rank */
    for (int b = 0; b < nq; b++)
      if (queue[b].comm->clique == queue[a].comm->clique)
        memcpy((char *)queue[a].recv + (size_t)queue[b].comm->rank * queue[b].bytes, queue[b].send, queue[b].bytes);
  return ncclSuccess;
}

ncclResult_t ncclAllGather(const void *send, void *recv, size_t count, ncclDataType_t t, ncclComm_t comm,
                           cudaStream_t s) {
  (void)s;
  if (fail_now()) { failed_group = 1; return ncclSystemError; }
  if (!comm || !send || !recv) return ncclInvalidArgument;
  if (depth == 0) {
    if (comm->nranks != 1) return ncclInvalidUsage;
    memcpy(recv, send, count * type_size(t));
    return ncclSuccess;
  }
  if (nq == MAXQ) return ncclInvalidUsage;
  queue[nq].comm = comm; queue[nq].send = send; queue[nq].recv = recv; queue[nq].bytes = count * type_size(t);
  nq++;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void) {
  if (depth == 0) return ncclInvalidUsage;
  const int fail = fail_now();
  if (--depth > 0) return fail ? ncclSystemError : ncclSuccess;
  ncclResult_t r = fail ? ncclSystemError : failed_group ? ncclInvalidUsage : run_queue();
  nq = 0;
  return r;
}
