#!/usr/bin/env bash
# tests/test_gpu_check.sh ROOT LSCE LSCE_DEV LSCE_NOCUDA LSCE_DEV_NOCUDA CUDA_BUILT: scripts/gpu-check's
# rehearsal (suite quick). Where no GPU works (skipped, 77, where one does: run gpu-check itself
# there), every broken case must exit 1 with its own clear message and never say PASS or OK:
#   1. no nvidia-smi                        -> "nvidia-smi not found", nothing written
#   2. nvidia-smi that cannot reach a driver -> "nvidia-smi failed: ...", nothing written
#   3. a fake nvidia-smi listing an H200, the real build (no driver here)
#                                           -> "lsce's CUDA runtime sees no device", nothing written
#                                              (CUDA_BUILT false: the build is the stub, as in 4)
#   4. the same with lsce built without CUDA -> "built without CUDA", nothing written
#   5. the same with an lsce that cannot start (a missing shared library) -> "lsce cannot start"
#   6. a fake device that passes the probe, so every later step runs and fails here (verify,
#      gpuverify, gpubench, the PyTorch peer without CUDA; verify on fixtures/options too) -> exit 1,
#      exactly one JSON written,
#      listing each failure, the summary line saying FAIL.
set -u
root=$1; lsce=$2; dev=$3; lsce_nc=$4; dev_nc=$5; cuda_built=$6
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "a GPU works here: run scripts/gpu-check itself"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
mkdir -p "$tmp/nosmi" "$tmp/smi" "$tmp/deadsmi"
# a PATH without nvidia-smi: the system directories, minus any that hold one
nosmi_path=$(echo "$PATH" | tr ':' '\n' | while read -r d; do [ -n "$d" ] && [ ! -e "$d/nvidia-smi" ] && printf '%s:' "$d"; done)
printf '#!/bin/sh\necho "NVIDIA H200, 580.159.03, 143771 MiB, 0 MiB"\n' > "$tmp/smi/nvidia-smi"
printf '#!/bin/sh\necho "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver."\nexit 9\n' > "$tmp/deadsmi/nvidia-smi"
chmod +x "$tmp/smi/nvidia-smi" "$tmp/deadsmi/nvidia-smi"
pack() { # pack DIR LSCE LSCE_DEV: a --prebuilt directory
  mkdir -p "$1/lib"; cp "$2" "$1/lsce"; cp "$3" "$1/lsce-dev"
}
pack "$tmp/real" "$lsce" "$dev"
pack "$tmp/nocuda" "$lsce_nc" "$dev_nc"
mkdir -p "$tmp/broken"
printf '#!/bin/sh\necho "$0: error while loading shared libraries: libflint.so.18: cannot open shared object file" >&2\nexit 127\n' > "$tmp/broken/lsce"
cp "$tmp/broken/lsce" "$tmp/broken/lsce-dev"; chmod +x "$tmp/broken/lsce" "$tmp/broken/lsce-dev"
# a device that passes the probe (lsce-dev answers gpuprobe), everything else real
pack "$tmp/fakedev" "$lsce" "$dev"
mv "$tmp/fakedev/lsce-dev" "$tmp/fakedev/lsce-dev.real"
cat > "$tmp/fakedev/lsce-dev" <<'SH'
#!/bin/sh
if [ "$1" = gpuprobe ]; then
  echo '{"name": "NVIDIA H200 (rehearsal)", "capability": "9.0", "sms": 132, "mem_total": 150754820096, "mem_free": 150000000000, "l2_bytes": 62914560, "driver": "13.0", "runtime": "13.0"}'
  exit 0
fi
exec "$(dirname "$0")/lsce-dev.real" "$@"
SH
chmod +x "$tmp/fakedev/lsce-dev"

case_() { # case_ NAME PATH PREBUILT EXPECTED_MESSAGE EXPECT_JSON
  local name=$1 path=$2 pre=$3 msg=$4 json=$5 o="$tmp/out-$1"
  PATH="$path" "$root/scripts/gpu-check" --prebuilt "$pre" --out "$o" --budget 120 > "$tmp/$name.log" 2>&1
  local rc=$?
  local n=$(ls "$o" 2>/dev/null | wc -l)
  local ok=1
  [ $rc -eq 1 ] || { echo "FAIL $name: exit $rc, expected 1"; ok=0; }
  grep -qF -- "$msg" "$tmp/$name.log" || { echo "FAIL $name: no \"$msg\" in its output"; ok=0; }
  if grep -qE 'rehearsal OK|: PASS$' "$tmp/$name.log"; then echo "FAIL $name: says OK/PASS"; ok=0; fi
  [ "$n" -eq "$json" ] || { echo "FAIL $name: $n files written, expected $json"; ok=0; }
  if [ $ok -eq 1 ]; then echo "ok   $name: exit 1: $(grep -m1 'FAIL' "$tmp/$name.log")"; else sed 's/^/     | /' "$tmp/$name.log"; bad=1; fi
}
case_ no-nvidia-smi "$nosmi_path" "$tmp/real" "no NVIDIA GPU here: nvidia-smi not found" 0
case_ dead-driver "$tmp/deadsmi:$nosmi_path" "$tmp/real" "nvidia-smi failed: NVIDIA-SMI has failed" 0
if [ "$cuda_built" = true ]; then
  case_ fake-gpu "$tmp/smi:$nosmi_path" "$tmp/real" "lsce's CUDA runtime sees no device" 0
else
  case_ fake-gpu "$tmp/smi:$nosmi_path" "$tmp/real" "this lsce was built without CUDA" 0
fi
case_ no-cuda-build "$tmp/smi:$nosmi_path" "$tmp/nocuda" "this lsce was built without CUDA" 0
case_ lsce-cannot-start "$tmp/smi:$nosmi_path" "$tmp/broken" "lsce cannot start (exit 127): " 0
case_ every-step-fails "$tmp/smi:$nosmi_path" "$tmp/fakedev" "step failures; wrote" 1
if [ -f "$tmp/every-step-fails.log" ]; then
  code=11; [ "$cuda_built" = true ] || code=10 # no device here / the stub
  for m in "verify cuda_rowblock-0: no results" "verify cuda_split-1: no results" "verify cuda_warp-options-0: no results" "lsce-dev gpuverify: exit $code" "lsce-dev gpubench: exit $code" "PyTorch peer"; do
    grep -qF "failure: $m" "$tmp/every-step-fails.log" || { echo "FAIL every-step-fails: no \"failure: $m\" in the summary"; bad=1; }
  done
fi
exit $bad
