#!/bin/sh
# bench/sv/run.sh BUILD [BATCH [STEPS]] — speaker-model training speed, chorus side by side with
# the PyTorch references (bench/sv/ref_models.py) on the same steps: tdnn and resnet at their
# defaults, 2-s chunks, AAM-softmax head over 1000 speakers, SGD momentum; 1 and 2 threads
# (PyTorch with jemalloc and OPENBLAS_NUM_THREADS=1, as BENCH.md asks). Prints samples/s of
# both, the ratio chorus/peer, chorus's achieved GFLOP/s, and the resnet/tdnn FLOP ratio beside
# the time ratio; writes bench/results/sv.csv. SV_BENCH_MODELS=tdnn (or resnet) runs one model.
set -u
BUILD=${1:-build}
BATCH=${2:-32}
STEPS=${3:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BIN="$BUILD/bench/bench_sv"
[ -x "$BIN" ] || { echo "sv: $BIN not built (make bench)"; exit 1; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
OPENBLAS_NUM_THREADS=1 "$BIN" "$BATCH" "$STEPS" > "$TMP/chorus.txt" || exit 1
LD_PRELOAD=$( [ -e /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ] && echo /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ) \
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 /usr/bin/python3 bench/sv/peer_sv.py "$BATCH" "$STEPS" \
    > "$TMP/peer.txt" || exit 1
mkdir -p bench/results
CSV=bench/results/sv.csv
echo "model,threads,batch,chorus_samples_s,peer_samples_s,ratio,chorus_gflops" > "$CSV"
printf '%-8s %7s %16s %16s %7s %14s\n' model threads "chorus smp/s" "pytorch smp/s" ratio "chorus GFLOP/s"
while IFS="$(printf '\t')" read -r model th sps gfl fl; do
    psps=$(awk -F'\t' -v m="$model" -v t="$th" '$1 == m && $2 == t { print $3 }' "$TMP/peer.txt")
    ratio=$(awk -v a="$sps" -v b="${psps:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-8s %7s %16s %16s %6sx %14s\n' "$model" "$th" "$sps" "${psps:--}" "$ratio" "$gfl"
    echo "$model,$th,$BATCH,$sps,${psps:-},$ratio,$gfl" >> "$CSV"
done < "$TMP/chorus.txt"
# FLOP ratio vs time ratio between the models (2 threads)
awk -F'\t' '$2 == 2 { s[$1] = $3; f[$1] = $5 }
    END { if (s["tdnn"] && s["resnet"])
            printf "resnet/tdnn at 2 threads: %.2fx the FLOPs per sample, %.2fx the time per sample (chorus)\n",
                   f["resnet"] / f["tdnn"], s["tdnn"] / s["resnet"] }' "$TMP/chorus.txt"
awk -F'\t' '$2 == 2 { s[$1] = $3 }
    END { if (s["tdnn"] && s["resnet"])
            printf "resnet/tdnn at 2 threads: %.2fx the time per sample (PyTorch)\n", s["tdnn"] / s["resnet"] }' "$TMP/peer.txt"
echo "(batch $BATCH, T=200, median of $STEPS steps after a warm-up; wrote $CSV)"
