#!/bin/sh
# run.sh — the test runner behind `make check` / `make test` / `make asan`.
#
# 1. Writes the PyTorch/NumPy reference dumps: every tests/ref/*.py runs as
#    `/usr/bin/python3 tests/ref/X.py OUT_DIR` into $BUILD/ref (skipped, and said so, when
#    /usr/bin/python3 has no torch; tests that need a dump then SKIP).
# 2. Runs every $BUILD/tests/test_* binary and every tests/test_*.sh script.
#    Exit 0 = pass, 77 = skip (the test prints why), anything else = fail.
# Environment given to tests: CHORUS_ROOT (repo), CHORUS_BUILD, CHORUS_BIN (commands),
# CHORUS_REF (dumps), CHORUS_SHARED (../shared when present, else empty), CHORUS_TMP (scratch).
# Ends with the line "N passed, N failed, N skipped" and exits non-zero if anything failed.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
export CHORUS_ROOT="$ROOT" CHORUS_BUILD="$BUILD" CHORUS_BIN="$BUILD/bin" CHORUS_REF="$BUILD/ref"
if [ -d "$ROOT/../shared/data" ]; then CHORUS_SHARED=$(cd "$ROOT/../shared" && pwd); else CHORUS_SHARED=""; fi
export CHORUS_SHARED
export CHORUS_TMP="$BUILD/test-tmp"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=1
# Under make asan: leaks inside third-party libraries are suppressed, ours are errors. Slow
# unwinding on malloc: the libraries (OpenMPI's plugins above all) have no frame pointers, so
# the fast unwinder stops at "<unknown module>" and the suppressions cannot match.
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
rm -rf "$CHORUS_TMP"; mkdir -p "$CHORUS_TMP" "$CHORUS_REF"
[ -n "${ONLY:-}" ] && echo "only tests matching: $ONLY"

if /usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1; then
    for py in tests/ref/*.py; do
        [ -e "$py" ] || continue
        case "$py" in */_*) continue ;; esac
        if ! /usr/bin/python3 "$py" "$CHORUS_REF" > "$CHORUS_TMP/ref-$(basename "$py").log" 2>&1; then
            echo "FAIL  reference script $py (log: $CHORUS_TMP/ref-$(basename "$py").log)"
            tail -5 "$CHORUS_TMP/ref-$(basename "$py").log"
            ref_failed=1
        fi
    done
else
    echo "SKIP  reference dumps: /usr/bin/python3 has no torch (run make deps)"
fi

pass=0; fail=0; skip=0; failed=""
run_one() { # name cmd...
    name=$1; shift
    if [ -n "${ONLY:-}" ]; then case "$name" in *$ONLY*) ;; *) return ;; esac; fi
    log="$CHORUS_TMP/$name.log"
    t0=$(date +%s)
    "$@" > "$log" 2>&1
    rc=$?
    dt=$(( $(date +%s) - t0 ))
    if [ $rc = 0 ]; then pass=$((pass + 1)); printf 'PASS  %-36s %4ss\n' "$name" "$dt"
    elif [ $rc = 77 ]; then skip=$((skip + 1)); printf 'SKIP  %-36s %s\n' "$name" "$(grep -m1 -i 'skip' "$log" | cut -c1-100)"
    else fail=$((fail + 1)); failed="$failed $name"; printf 'FAIL  %-36s %4ss (exit %s)\n' "$name" "$dt" "$rc"; tail -25 "$log" | sed 's/^/      /'; fi
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/test_*.sh; do
    [ -e "$t" ] || continue
    run_one "$(basename "$t" .sh)" sh "$t"
done
if [ "${ref_failed:-0}" = 1 ]; then fail=$((fail + 1)); failed="$failed reference-scripts"; fi
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
