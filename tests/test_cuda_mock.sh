#!/usr/bin/env bash
# tests/test_cuda_mock.sh LSCE_MOCK LSCE_DEV_MOCK: lsce and lsce-dev linked with the recording CUDA
# runtime of tests/cuda_mock.cpp, whose launches run the kernels in the host emulation
# (tests/cuda_emu.h): the CUDA rows' whole path but the device, on the CPU (suite quick).
#   1. `lsce verify --quick --impl R` for every CUDA row, gradient separate and in place: the rows
#      (host code + emulated kernels) meet their bounds against the certified reference; with a
#      third argument (fixtures/megatron) also on k1-megatron's set, gradient separate;
#   2. `lsce-dev gpuverify --quick` and `gpubench --quick` accept these results (exit 0, every line
#      "pass"/"validated" true), so the first GPU run is not failed by its own checks;
#   3. with LSCE_MOCK_KERNELS=skip (launches accepted, kernels never run: the symptom of the
#      gridDim.y defect), both reject every result (exit 1).
set -u
lsce=$1; dev=$2; megatron=${3:-}
bad=0
for r in cuda_rowblock cuda_warp cuda_split; do
  for inplace in 0 1; do
    out=$(LSCE_CUDA_INPLACE=$inplace "$lsce" verify --quick --impl "$r" 2>&1); rc=$?
    if [ $rc -ne 0 ] || ! echo "$out" | grep -q "$r"; then
      echo "FAIL verify $r (in place: $inplace): exit $rc"; echo "$out" | tail -n 5 | sed 's/^/     | /'; bad=1
    else
      echo "ok   verify $r (in place: $inplace): $(echo "$out" | grep -m1 "$r" | tr '\t' ' ')"
    fi
  done
done
if [ -n "$megatron" ]; then
  for r in cuda_rowblock cuda_warp cuda_split; do
    out=$("$lsce" verify --quick --impl "$r" --fixtures "$megatron" 2>&1); rc=$?
    if [ $rc -ne 0 ] || ! echo "$out" | grep -q "$r megatron .* PASS"; then
      echo "FAIL verify $r on k1-megatron's set: exit $rc"; echo "$out" | tail -n 5 | sed 's/^/     | /'; bad=1
    else
      echo "ok   verify $r on k1-megatron's set: $(echo "$out" | grep -m1 "$r" | tr '\t' ' ')"
    fi
  done
fi
for cmd in gpuverify gpubench; do
  out=$("$dev" "$cmd" --quick 2>/dev/null); rc=$?
  n=$(echo "$out" | grep -c '^{'); f=$(echo "$out" | grep -cE '"(pass|validated)": false')
  if [ $rc -ne 0 ] || [ "$n" -lt 6 ] || [ "$f" -ne 0 ]; then
    echo "FAIL $cmd --quick on emulated kernels: exit $rc, $n lines, $f rejected"; echo "$out" | sed 's/^/     | /'; bad=1
  else
    echo "ok   $cmd --quick on emulated kernels: $n results accepted"
  fi
  out=$(LSCE_MOCK_KERNELS=skip "$dev" "$cmd" --quick 2>&1); rc=$?
  f=$(echo "$out" | grep -c '^FAIL')
  if [ $rc -ne 1 ] || [ "$f" -lt 6 ]; then
    echo "FAIL $cmd --quick with kernels never run: exit $rc, $f rejections"; echo "$out" | sed 's/^/     | /'; bad=1
  else
    echo "ok   $cmd --quick with kernels never run: exit 1, $f results rejected"
  fi
done
exit $bad
