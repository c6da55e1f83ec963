#!/bin/sh
# bench/frontend/run.sh BUILD — fbank-80 speed, chorus side by side with kaldi-native-fbank
# and torchaudio.compliance.kaldi on the same signals, one thread (10 s, 60 s, 600 s), plus
# chorus multi-thread throughput over 512 one-second utterances. Prints
# "case chorus peer ratio" rows and writes bench/results/frontend.csv.
# kaldi-native-fbank is pip-installed into $BUILD/bench-venv (system site packages visible, so
# torch/torchaudio come from Debian); without network it runs against torchaudio only.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BIN="$BUILD/bench/bench_fbank"
[ -x "$BIN" ] || { echo "frontend: $BIN not built (make bench)"; exit 1; }
VENV="$BUILD/bench-venv"
PY=/usr/bin/python3
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import kaldi_native_fbank' 2>/dev/null; then
    echo "frontend: installing kaldi-native-fbank into $VENV" >&2
    { /usr/bin/python3 -m venv --system-site-packages "$VENV" && "$VENV/bin/pip" install -q kaldi-native-fbank; } >&2 \
        || echo "frontend: kaldi-native-fbank could not be installed; torchaudio only" >&2
fi
[ -x "$VENV/bin/python" ] && PY="$VENV/bin/python"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} "$BIN" "$TMP" > "$TMP/chorus.txt" || exit 1
LD_PRELOAD=$( [ -e /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ] && echo /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ) \
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "$PY" bench/frontend/peer_fbank.py "$TMP" > "$TMP/peer.txt" || exit 1
mkdir -p bench/results
CSV=bench/results/frontend.csv
echo "case,chorus_x_rt,peer,peer_x_rt,ratio" > "$CSV"
printf '%-22s %14s %22s %14s %8s\n' case chorus peer "peer" ratio
while IFS="$(printf '\t')" read -r name xrt; do
    if grep -q "^$name	" "$TMP/peer.txt"; then
        grep "^$name	" "$TMP/peer.txt" | while IFS="$(printf '\t')" read -r _ peer pxrt; do
            ratio=$(awk -v a="$xrt" -v b="$pxrt" 'BEGIN { printf "%.1f", a / b }')
            printf '%-22s %12sx RT %22s %12sx RT %7sx\n' "$name" "$xrt" "$peer" "$pxrt" "$ratio"
            echo "$name,$xrt,$peer,$pxrt,$ratio" >> "$CSV"
        done
    else
        printf '%-22s %12sx RT %22s %14s %8s\n' "$name" "$xrt" "-" "-" "-"
        echo "$name,$xrt,,," >> "$CSV"
    fi
done < "$TMP/chorus.txt"
echo "(wrote $CSV; x RT = seconds of audio per second of one core's compute unless the case says Nt)"
