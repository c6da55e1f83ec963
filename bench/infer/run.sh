#!/bin/sh
# bench/infer/run.sh BUILD — KWS inference latency per 1-s clip (40 x 98) at batch 1, 1
# thread, eval mode, the default DenseNet-BiLSTM: chorus (bench_kws_infer, model reserved once)
# side by side with PyTorch (bench/kws/ref_model.py --mode infer under torch.no_grad(), jemalloc,
# OPENBLAS_NUM_THREADS=1), plus the peak RSS of both. Median of REPEATS (default 200) timed
# forwards after warm-up; *_cpu_ms rows use process CPU time (fairer on a shared machine).
# Prints "case chorus peer ratio" rows (ratio = peer / chorus: > 1 means chorus is faster or
# smaller) and writes bench/results/infer.csv.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BIN="$BUILD/bench/bench_kws_infer"
[ -x "$BIN" ] || { echo "infer: $BIN not built (make bench)"; exit 1; }
REPEATS=${REPEATS:-200}
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$JEMALLOC" ] || { echo "infer: $JEMALLOC missing, PyTorch runs with glibc malloc" >&2; JEMALLOC=; }
# Both sides use libgomp. On this shared, oversubscribed machine a spinning OpenMP barrier
# burns the core a descheduled team-mate needs (measured: chorus 2 threads 5.8 -> 9.8
# samples/s, PyTorch likewise hit); passive waiting is applied to BOTH (override to compare).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$BIN" 1 98 "$REPEATS" > "$TMP/chorus.txt" || exit 1
(cd bench/kws && LD_PRELOAD=$JEMALLOC OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
    /usr/bin/python3 ref_model.py --mode infer --threads 1 --frames 98 --steps "$REPEATS" \
    --warmup 5) > "$TMP/peer.txt" || exit 1
sh bench/train/table.sh "$TMP/chorus.txt" "$TMP/peer.txt" bench/results/infer.csv
