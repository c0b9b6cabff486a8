/* tests/cuda_mock.h: a recording stand-in for the CUDA runtime (tests/cuda_mock.cpp), linked instead
 * of cudart into tests/test_cuda_host.cpp so the host side of impls/cuda/rowblock.cu runs on a
 * machine without a GPU. Device memory is host memory; every launch is checked as the runtime checks
 * it (grid, block, shared memory) and its kernel run by the host emulation (tests/cuda_emu.h), or
 * not run at all (mock.emulate = 0); any call can be made to fail. Also linked into lsce-mock, where
 * impls/cuda/nccl_vocab.cu runs on LSCE_MOCK_DEVICES devices with the fake NCCL (tests/fake_nccl.c). */
#ifndef LSCE_TEST_CUDA_MOCK_H
#define LSCE_TEST_CUDA_MOCK_H
#include <stddef.h>
#include <vector>

enum mock_kind { M_MALLOC, M_FREE, M_H2D, M_D2H, M_D2D, M_MEMSET, M_LAUNCH, M_LAUNCH_REFUSED, M_RECORD,
                 M_EVSYNC, M_STREAMSYNC, M_DEVSYNC, M_ELAPSED, M_EVCREATE, M_EVDESTROY, M_LASTERROR, M_OTHER };

struct mock_event {
  mock_kind kind;
  size_t bytes;   /* copies, memsets, allocations */
  unsigned gx, gy, gz; /* launches */
};

struct mock_state {
  std::vector<mock_event> log;
  long calls = 0;          /* failable calls so far */
  long fail_at = -1;       /* the call (1-based) to fail, -1: none */
  int failed = 0;          /* the injected failure happened */
  long live_allocs = 0, live_events = 0;
  int corrupt_d2d = 0;     /* flip a byte of every device-to-device copy */
  int emulate = 1;         /* run launched kernels on the host (tests/cuda_emu.h) */
  size_t l2_bytes = 2u << 20;
};
extern mock_state mock;
void mock_reset(void);
#endif
