#!/bin/sh
# bench/run.sh BUILD — the `make bench` driver: runs every bench/<area>/run.sh in turn (sorted,
# e.g. frontend, kws, ...) with the build directory, each printing its "case chorus peer ratio"
# table and writing bench/results/<area>.csv. Exits non-zero if any area failed; BENCH=word runs
# only the areas whose name contains word.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
failed=""
for script in bench/*/run.sh; do
    [ -e "$script" ] || continue
    area=$(basename "$(dirname "$script")")
    if [ -n "${BENCH:-}" ]; then case "$area" in *$BENCH*) ;; *) continue ;; esac; fi
    echo "== bench/$area"
    if ! sh "$script" "$BUILD"; then
        echo "FAIL  bench/$area"
        failed="$failed $area"
    fi
done
[ -z "$failed" ] || { echo "failed:$failed"; exit 1; }
