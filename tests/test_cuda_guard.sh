#!/usr/bin/env bash
# tests/test_cuda_guard.sh LSCE_MOCK ADVERSARIAL_DIR: the CUDA rows' own error bound (issue #11) on
# the adversarial set (fixtures/adversarial: the K-1 family's cancellation at e = 1 in every dtype,
# the huge gaps), through lsce-mock (the real host code of impls/cuda/rowblock.cu with its kernels
# run by the host emulation, tests/cuda_mock.cpp). Suite quick, well under a second per run.
# For cuda_rowblock, cuda_warp and cuda_split, gradient separate and in place:
#   1. with the reference rung on: `verify` passes every result within the row's declared bounds
#      (the registry's, as `lsce impls --json` lists them) and some rows did climb the ladder
#      (escalated_rows > 0 somewhere: the device's check flagged them, the host recomputed them);
#   2. with LSCE_ROW_REFERENCE=0: no wrong result is accepted: every result that misses its bound
#      has flagged rows (verify then exits 1 for it; 0 when all pass).
# Without the guard these rows failed 8 of the 264 results (float32 and bfloat16 at e = 1, 7.28e4
# ulp of the loss at worst).
set -u
lsce=$1; adv=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
for r in cuda_rowblock cuda_warp cuda_split; do
  for inplace in 0 1; do
    for ref in 1 0; do
      j="$tmp/$r-$inplace-$ref.json"
      LSCE_CUDA_INPLACE=$inplace LSCE_ROW_REFERENCE=$ref "$lsce" verify --fixtures "$adv" --impl "$r" --json "$j" \
        >"$tmp/out" 2>&1
      rc=$?
      what="verify $r on the adversarial set (in place: $inplace, reference rung: $ref)"
      n=$(grep -c '"impl": ' "$j" 2>/dev/null); n=${n:-0}
      failed=$(grep -c '"pass": false' "$j" 2>/dev/null); failed=${failed:-0}
      # a result that misses its bound while none of its rows is flagged: a wrong result accepted
      unflagged=$(grep '"pass": false' "$j" 2>/dev/null | grep -c '"flagged_rows": 0,')
      esc=$(grep -c '"escalated_rows": [1-9.0]*[1-9]' "$j" 2>/dev/null); esc=${esc:-0}
      if [ "$n" -lt 200 ]; then
        echo "FAIL $what: exit $rc, only $n results"; sed 's/^/     | /' "$tmp/out" | tail -n 5; bad=1
      elif [ "$ref" = 1 ] && { [ $rc -ne 0 ] || [ "$failed" -ne 0 ]; }; then
        echo "FAIL $what: exit $rc, $failed of $n results outside their bounds"; grep '^FAIL' "$tmp/out" | head -n 5 | sed 's/^/     | /'; bad=1
      elif [ "$ref" = 0 ] && { [ "$unflagged" -ne 0 ] || { [ $rc -ne 0 ] && [ "$failed" -eq 0 ]; }; }; then
        echo "FAIL $what: exit $rc, $unflagged results outside their bounds with no row flagged"; bad=1
      elif [ "$esc" -eq 0 ]; then
        echo "FAIL $what: no row escalated: the device's check flagged nothing on the cancellation rows"; bad=1
      else
        echo "ok   $what: $n results, $failed outside their bounds (each with flagged rows), $esc with escalated rows"
      fi
    done
  done
done
exit $bad
