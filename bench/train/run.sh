#!/bin/sh
# bench/train/run.sh BUILD — KWS training speed and memory: the default DenseNet-BiLSTM, batch
# 64, 1-s clips (40 x 98, random features and labels), the model step only (forward + label-
# smoothed CE + backward + AdamW), chorus (bench_kws_train) side by side with PyTorch
# (bench/kws/ref_model.py --mode train: same model, batch, optimizer, torch.set_num_threads(N),
# jemalloc, OPENBLAS_NUM_THREADS=1 as BENCH.md asks), 1 and 2 threads. The two alternate per
# thread count so both see the same machine load.
# Prints "case chorus peer ratio" rows and writes bench/results/train.csv. ratio = how many
# times better chorus is: chorus/peer for samples/s, peer/chorus for peak RSS.
# *_cpu rows divide by process CPU time instead of wall time (x threads): on this shared,
# oversubscribed machine they are the fairer figure. STEPS (default 5) timed steps per run.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BIN="$BUILD/bench/bench_kws_train"
[ -x "$BIN" ] || { echo "train: $BIN not built (make bench)"; exit 1; }
STEPS=${STEPS:-5}
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$JEMALLOC" ] || { echo "train: $JEMALLOC missing, PyTorch runs with glibc malloc" >&2; JEMALLOC=; }
# Both sides use libgomp. On this shared, oversubscribed machine a spinning OpenMP barrier
# burns the core a descheduled team-mate needs (measured: chorus 2 threads 5.8 -> 9.8
# samples/s, PyTorch likewise hit); passive waiting is applied to BOTH (override to compare).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
: > "$TMP/chorus.txt"; : > "$TMP/peer.txt"
for th in 1 2; do
    OMP_NUM_THREADS=$th OPENBLAS_NUM_THREADS=1 "$BIN" "$th" 64 98 "$STEPS" >> "$TMP/chorus.txt" || exit 1
    (cd bench/kws && LD_PRELOAD=$JEMALLOC OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$th \
        /usr/bin/python3 ref_model.py --mode train --threads "$th" --batch 64 --frames 98 \
        --steps "$STEPS") >> "$TMP/peer.txt" || exit 1
done
sh bench/train/table.sh "$TMP/chorus.txt" "$TMP/peer.txt" bench/results/train.csv
