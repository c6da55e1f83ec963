#!/bin/sh
# bench/infer/stream.sh BUILD [MODEL] — streaming keyword detection speed: kws-detect over a
# MINUTES-long (default 10) recording of synthetic keywords between pink-noise gaps, 1 thread,
# --hop 0.1, in real-time factors (audio seconds per second; the _cpu rows use the process CPU
# time, fairer on a shared machine). Two rows: the fast path (CNN once over the stream, only the
# BiLSTM head per window) and --exact-windows (whole model per window, as before), plus their
# ratio, and how far the fast path's posteriors are from the exact ones.
# MODEL: a densenet-bilstm checkpoint; default: the default-size model trained 1 epoch on a
# small data-synth corpus without CMN (speed does not depend on the weights). No PyTorch peer yet.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
B="$BUILD/bin"
for c in data-synth kws-train kws-detect; do
    [ -x "$B/$c" ] || { echo "stream: $B/$c not built (make)"; exit 1; }
done
MINUTES=${MINUTES:-10}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
"$B/data-synth" --quiet --seed 1 --kws-speakers 10 --clips-per-word 2 --noise-seconds 5 \
    --kws "$TMP/data" > /dev/null || { echo "stream: data-synth failed"; exit 1; }
MODEL=${2:-}
if [ -z "$MODEL" ]; then
    MODEL="$TMP/model.ckpt"
    # without per-clip CMN: the fast path is then exact (a CMN model defaults to exact windows,
    # since the stream cannot share per-window means) and the two rows compare like for like
    "$B/kws-train" --quiet --threads 1 --seed 3 --epochs 1 --batch 16 --spec-augment=false --cmn=false \
        "$TMP/data" "$MODEL" > /dev/null || { echo "stream: kws-train failed"; exit 1; }
fi
/usr/bin/python3 - "$TMP/data" "$TMP/long.wav" "$MINUTES" <<'PY' || exit 1
import glob, random, sys, wave
import numpy as np
data, out, minutes = sys.argv[1], sys.argv[2], float(sys.argv[3])
random.seed(5); np.random.seed(5)
def rd(p):
    w = wave.open(p, 'rb')
    return np.frombuffer(w.readframes(w.getnframes()), dtype='<i2').astype(np.float32)
noise = rd(data + '/_background_noise_/pink_noise.wav')
words = ['yes', 'no', 'up', 'down', 'left', 'right', 'on', 'off', 'stop', 'go']
clips = {w: sorted(glob.glob('%s/%s/*.wav' % (data, w))) for w in words}
total, parts, t = int(16000 * 60 * minutes), [], 0
while t < total:
    gap = int(16000 * random.uniform(0.5, 2.0))
    o = np.random.randint(0, max(1, len(noise) - gap))
    seg = np.resize(noise[o:o + gap] * 0.1, gap)
    c = rd(random.choice(clips[random.choice(words)]))
    parts += [seg, c]; t += gap + len(c)
x = np.clip(np.concatenate(parts)[:total], -32768, 32767).astype('<i2')
w = wave.open(out, 'wb'); w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
w.writeframes(x.tobytes()); w.close()
PY
run() { # name, extra options
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$B/kws-detect" --threads 1 --hop 0.1 --json \
        --posteriors "$TMP/$1.post" $2 "$MODEL" "$TMP/long.wav" | tail -1 > "$TMP/$1.json" \
        || { echo "stream: kws-detect $2 failed"; exit 1; }
}
key() { sed "s/.*\"$2\":\([0-9.]*\).*/\1/" "$TMP/$1.json"; }
run fast --fast-windows
run exact --exact-windows
echo "case                          fast      exact     ratio"
for k in realtime_factor realtime_factor_cpu; do
    f=$(key fast $k); e=$(key exact $k)
    awk -v k="$k" -v f="$f" -v e="$e" 'BEGIN { printf "stream_%-22s %-9.1f %-9.1f %.2f\n", k, f, e, (e > 0 ? f / e : 0) }'
done
paste -d' ' "$TMP/fast.post" "$TMP/exact.post" | awk '
    { n = (NF - 4) / 2; wm = 0
      for (k = 0; k < n; k++) { d = $(3 + k) - $(n + 5 + k); if (d < 0) d = -d; s += d; c++; if (d > wm) wm = d }
      if (wm > m) m = wm; if (wm > 0.2) far++ }
    END { printf "fast vs exact posteriors: %d windows, mean |dp| %.4f, max |dp| %.4f, %.1f%% of windows > 0.2\n",
          NR, s / c, m, 100 * far / NR }'
