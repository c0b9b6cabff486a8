#!/usr/bin/env bash
# run_fuzz.sh: the meson tests of a libFuzzer target (suite `sanitize`).
#   run_fuzz.sh fuzz   FUZZER ARTIFACT_DIR SECONDS DICT SEED_DIR...
#       a bounded run: the seed directories are copied into a temporary corpus (the repository is
#       never written), then FUZZER runs for SECONDS (LSCE_FUZZ_SECONDS overrides). A crash, leak,
#       sanitizer report, timeout or out-of-memory fails the test; the input that caused it is kept
#       as ARTIFACT_DIR/<target>-crash-<sha1> (or -leak-, -timeout-, -oom-): copy it into
#       tests/fuzz/regressions/<npy|cli>/ with the fix, and the replay test keeps it fixed.
#   run_fuzz.sh replay FUZZER DIR...
#       runs FUZZER once on every file of every DIR (not recursive, dotfiles skipped): the committed
#       seeds and crash regressions. Writes nothing.
set -uo pipefail
mode=${1:?usage: run_fuzz.sh fuzz|replay FUZZER ...}
fuzzer=$(realpath "${2:?missing FUZZER}") || exit 1
shift 2
name=$(basename "$fuzzer")

case "$mode" in
fuzz)
  mkdir -p "${1:?missing ARTIFACT_DIR}" || exit 1
  artifacts=$(realpath "$1") || exit 1
  seconds=${LSCE_FUZZ_SECONDS:-${2:?missing SECONDS}}
  dict=$(realpath "${3:?missing DICT}") || exit 1
  shift 3
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/lsce-$name-XXXXXX") || exit 1
  trap 'rm -rf "$tmp"' EXIT
  mkdir "$tmp/corpus"
  nseed=0
  for d in "$@"; do
    [ -d "$d" ] || { echo "run_fuzz: no seed directory $d" >&2; exit 1; }
    for f in "$d"/*; do
      [ -f "$f" ] || continue
      # prefix with the directory so equal names in two seed sets do not collide
      cp "$f" "$tmp/corpus/$(basename "$d")--$(basename "$f")" && nseed=$((nseed + 1))
    done
  done
  echo "run_fuzz: $name for ${seconds}s from $nseed seeds; artifacts go to $artifacts/$name-*"
  # Absolute paths throughout: fuzz_cli works in a private directory while a command runs, and a
  # crash artifact is written from there.
  # -timeout: one input taking over 20 s is a bug (they are capped to be tiny); -rss_limit_mb
  # bounds memory; -max_len keeps mutations small (the seeds are under 1 KiB); -runs is a backstop.
  # -error_exitcode/-timeout_exitcode: libFuzzer's default, 77, is what meson reads as SKIP. -seed:
  # the bounded CI runs replay one input sequence (LSCE_FUZZ_SEED picks another; long runs explore).
  (cd "$tmp" && "$fuzzer" -max_total_time="$seconds" -runs=50000000 -rss_limit_mb=2048 \
      -error_exitcode=1 -timeout_exitcode=1 -seed="${LSCE_FUZZ_SEED:-1}" \
      -timeout=20 -max_len=4096 -dict="$dict" -use_value_profile=1 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$name-" "$tmp/corpus")
  rc=$?
  echo "run_fuzz: $name exited $rc; corpus grew to $(find "$tmp/corpus" -type f | wc -l) inputs"
  if [ $rc -ne 0 ]; then
    echo "run_fuzz: FAIL. Reproduce with: $fuzzer <artifact> (see tests/fuzz/README.md)"
    ls -l "$artifacts"/"$name"-* 2>/dev/null
  fi
  exit $rc
  ;;
replay)
  files=()
  for d in "$@"; do
    [ -d "$d" ] || { echo "run_fuzz: no directory $d" >&2; exit 1; }
    for f in "$d"/*; do
      [ -f "$f" ] && files+=("$(realpath "$f")")
    done
  done
  [ ${#files[@]} -gt 0 ] || { echo "run_fuzz: nothing to replay"; exit 77; }
  echo "run_fuzz: replaying ${#files[@]} inputs through $name"
  # With only file arguments libFuzzer runs each once, in order, and writes nothing.
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/lsce-$name-XXXXXX") || exit 1
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && "$fuzzer" -rss_limit_mb=2048 -timeout=60 -error_exitcode=1 -timeout_exitcode=1 \
      -artifact_prefix="$tmp/" "${files[@]}")
  rc=$?
  [ $rc -eq 0 ] && echo "run_fuzz: all ${#files[@]} inputs ran clean"
  exit $rc
  ;;
*)
  echo "usage: run_fuzz.sh fuzz|replay FUZZER ..." >&2
  exit 2
  ;;
esac
