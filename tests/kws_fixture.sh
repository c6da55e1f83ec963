# kws_fixture.sh — sourced by tests/test_kws_*.sh: a small synthetic keyword corpus and a tiny
# model trained on it, built once per test run into $CHORUS_TMP/kws_fixture (whichever KWS test
# runs first builds it; the others reuse it).
#   KWS_DATA   corpus: 20 words x 10 speakers x 2 clips, list files, 5 noise files
#   KWS_MODEL  densenet-bilstm with tiny sizes, 8 epochs (~30-60 s on 1 core)
#   KWS_JSON   the kws-train --json line of that run
#   KWS_MO     the tiny --model-opts
KWS_FIX="$CHORUS_TMP/kws_fixture"
KWS_DATA="$KWS_FIX/data"
KWS_MODEL="$KWS_FIX/model.ckpt"
KWS_JSON="$KWS_FIX/train.json"
KWS_MO="stem-channels=8,blocks=2,layers=2,growth=8,transition-channels=16,lstm-hidden=24,attention-dim=16"
for b in data-synth kws-train kws-detect; do
    [ -x "$CHORUS_BIN/$b" ] || { echo "SKIP: $CHORUS_BIN/$b not built"; exit 77; }
done
if [ ! -s "$KWS_JSON" ]; then
    rm -rf "$KWS_FIX"; mkdir -p "$KWS_FIX"
    "$CHORUS_BIN/data-synth" --quiet --seed 1 --kws-speakers 10 --clips-per-word 2 \
        --noise-seconds 5 --kws "$KWS_DATA" > /dev/null \
        || { echo "SKIP: data-synth could not make the corpus (espeak-ng missing?)"; exit 77; }
    t0=$(date +%s)
    # few clips, few epochs: a higher lr, light noise and no SpecAugment to learn fast
    "$CHORUS_BIN/kws-train" --threads 1 --seed 3 --epochs 8 --batch 16 --lr 5e-3 \
        --spec-augment=false --noise-prob 0.3 --model-opts "$KWS_MO" --json \
        "$KWS_DATA" "$KWS_MODEL" > "$KWS_FIX/train.out" 2> "$KWS_FIX/train.err" \
        || { echo "FAIL: fixture training failed"; tail -5 "$KWS_FIX/train.err"; exit 1; }
    tail -1 "$KWS_FIX/train.out" > "$KWS_JSON"
    echo "fixture: trained in $(( $(date +%s) - t0 )) s: $(cut -c1-160 "$KWS_JSON")"
fi

# kws_rekind IN OUT KIND: a copy of checkpoint IN whose model kind is KIND, with valid CRCs
# (checkpoint.h layout), to test that commands refuse checkpoints of another kind.
kws_rekind() {
    /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
tb = struct.unpack_from('<I', d, 12)[0]
fields, off = [], 40
for _ in range(4):
    n = struct.unpack_from('<I', d, off)[0]; fields.append(d[off + 4:off + 4 + n]); off += 4 + n
fields[0] = sys.argv[3].encode()
text = b''.join(struct.pack('<I', len(f)) + f for f in fields)
body = text + d[40 + tb:]
hdr = bytearray(d[:40])
struct.pack_into('<I', hdr, 12, len(text))
struct.pack_into('<I', hdr, 32, zlib.crc32(body) & 0xffffffff)
struct.pack_into('<I', hdr, 36, zlib.crc32(bytes(hdr[:36])) & 0xffffffff)
open(sys.argv[2], 'wb').write(bytes(hdr) + body)
PY
}
