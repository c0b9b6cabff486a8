#!/usr/bin/env bash
# tests/test_cuda.sh LSCE FIXTURES...: suite cuda. Skips (exit 77) without a CUDA device; with one,
# every CUDA row runs `lsce verify` on each fixture set given (the committed fixtures, and the
# adversarial set that the rows' own bound and ladder must pass: issue #11) with the gradient
# written to a separate buffer and in place over the logits (LSCE_CUDA_INPLACE=1), and fails on any
# missed bound.
set -u
lsce=$1
shift
rows=$("$lsce" impls | awk -F'\t' '$2 == "cuda" && $5 == "yes" {print $1}')
if [ -z "$rows" ]; then
  echo "no CUDA device: the cuda suite is skipped"
  exit 77
fi
status=0
for fixtures in "$@"; do
  for r in $rows; do
    for inplace in 0 1; do
      echo "== $r on $fixtures (in place: $inplace)"
      LSCE_CUDA_INPLACE=$inplace "$lsce" verify --fixtures "$fixtures" --impl "$r" || status=1
    done
  done
done
exit $status
