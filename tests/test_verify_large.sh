#!/usr/bin/env bash
# tests/test_verify_large.sh PYTHON GEN LSCE DIR (suite slow): writes the large-K fixture set
# (K = 32000, 50257, 128256, 256000; fixtures/gen_fixtures.py, byte-identical each time) into DIR
# and runs `lsce verify` on it: every CPU row within its bounds there too (the fast certifier
# settles these sizes).
set -u
"$1" "$2" --set large --out "$4" --lsce "$3" >/dev/null || { echo "generating the large set failed"; exit 1; }
exec "$3" verify --fixtures "$4"
