#!/usr/bin/env bash
# test_valgrind.sh: valgrind memcheck over `lsce` on the seed example (suite `sanitize`, main gcc
# build; valgrind cannot run ASan binaries). Each case must exit as the contract says with no
# memcheck error (invalid read/write, uninitialised use, bad free) and 0 bytes definitely or
# indirectly lost. "Possibly lost" and "still reachable" blocks (GMP/MPFR/Arb caches held until
# exit) are reported but allowed.
# Usage: tests/test_valgrind.sh path/to/lsce FIXTURE_SEED_DIR [BAD_NPY_DIR]
# Output: one line per case, then "N passed, M failed, S skipped"; exit 0 iff nothing failed
# (77: valgrind is not installed).
set -uo pipefail
lsce=${1:?usage: test_valgrind.sh LSCE SEED_DIR [BAD_NPY_DIR]}
seed=${2:?usage: test_valgrind.sh LSCE SEED_DIR [BAD_NPY_DIR]}
bad=${3:-}
if ! command -v valgrind >/dev/null 2>&1; then
  echo "skip: valgrind is not installed"
  exit 77
fi
if LC_ALL=C grep -q -a -m1 '__asan_init' "$lsce"; then
  echo "skip: $lsce is built with AddressSanitizer (valgrind checks the plain build)"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lsce-valgrind-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# vg NAME EXPECTED_EXIT_CODES LSCE_ARGS...: EXPECTED_EXIT_CODES is a '|'-list, e.g. "0" or "0|1".
vg() {
  local name=$1 want=$2
  shift 2
  local log="$tmp/$name.vg" rc why=""
  valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=yes \
    --log-file="$log" -- "$lsce" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  rc=$?
  local def ind pos
  def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -1)
  ind=$(sed -n 's/.*indirectly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -1)
  pos=$(sed -n 's/.*possibly lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tr -d , | tail -1)
  # "All heap blocks were freed" prints no LEAK SUMMARY: that is 0 everywhere.
  if grep -q "All heap blocks were freed" "$log"; then def=0; ind=0; pos=0; fi
  if [ "$rc" -eq 99 ]; then why="memcheck reported errors"
  elif ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then why="memcheck reported errors"
  elif [ "${def:-x}" != 0 ] || [ "${ind:-x}" != 0 ]; then
    why="leaks: definitely lost ${def:-?} bytes, indirectly lost ${ind:-?} bytes"
  elif ! [[ "|$want|" == *"|$rc|"* ]]; then why="exit $rc, want $want"
  fi
  if [ -z "$why" ]; then
    passed=$((passed + 1))
    echo "ok   $name (exit $rc, definitely 0, indirectly 0, possibly ${pos:-0} bytes)"
  else
    failed=$((failed + 1))
    echo "FAIL $name: $why"
    echo "     reproduce: ${LSCE_MAX_PRECISION:+LSCE_MAX_PRECISION=$LSCE_MAX_PRECISION }valgrind --leak-check=full $lsce $*"
    sed 's/^/     | /' "$tmp/$name.err" | head -5
    grep -v "^==[0-9]*== *$" "$log" | sed 's/^/     | /' | head -80
  fi
}

L="$seed/logits.npy" T="$seed/targets.npy" W="$seed/weights.npy"
# The reference on the seed example: loss, gradient, both outputs written.
vg reference_weighted_grad 0 reference --logits "$L" --targets "$T" --weights "$W" \
  --variant k-torch-weighted --smoothing 0.1 --out "$tmp/o.npy" --grad-out "$tmp/g.npy"
[ -s "$tmp/g.npy" ] || { failed=$((failed + 1)); echo "FAIL reference_weighted_grad: no --grad-out file"; }
# Per-row Ziv loops (none), a KL variant, and a high starting precision (Arb's constant caches).
vg reference_kl_none_grad 0 reference --logits "$L" --targets "$T" --variant k1-kl --smoothing 0.3 \
  --reduction none --grad-out "$tmp/g2.npy" --precision 4096
# compare on it: every variant and identity (exit 1 would be a failed identity, not a memory error).
vg compare 0\|1 compare --logits "$L" --targets "$T" --weights "$W" --smoothing 0.1 --pad-index 4
vg compare_json 0\|1 compare --logits "$L" --targets "$T" --weights "$W" --smoothing 0.1 --json
# Error paths free what they loaded: a malformed file (exit 2), a precision cap (exit 3).
if [ -n "$bad" ] && [ -f "$bad/truncated_data.npy" ]; then
  vg bad_targets_file 2 reference --logits "$L" --targets "$bad/truncated_data.npy" --variant k --smoothing 0.1
fi
LSCE_MAX_PRECISION=16 vg precision_cap 3 reference --logits "$L" --targets "$T" --variant k1 \
  --smoothing 0.1 --precision 16 --grad-out "$tmp/g3.npy"
if [ -e "$tmp/g3.npy" ]; then failed=$((failed + 1)); echo "FAIL precision_cap: wrote --grad-out"; fi

echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
