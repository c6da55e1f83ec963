#!/bin/sh
# demo.sh BUILD — what `make demo` runs after building: the main jobs of chorus on synthesised
# data, one numbered section each, every section reusing what the previous ones wrote in
# $DEMO_DIR (default out/). A section is a block that starts with `section N "title"`; new
# sections (KWS training, detection, speaker models, scoring) are appended at the end and read
# the variables set above them ($KWS_DIR, $SV_DIR, $FEATS, ...).
#
#   make demo                      # or: sh scripts/demo.sh build
#   DEMO_DIR=/tmp/chorus-demo make demo
#
# Deterministic: the same seed gives the same corpus and the same features. Re-running reuses
# the corpus when it was made with the same options (a stamp file records them).
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BIN="$BUILD/bin"
OUT=${DEMO_DIR:-$ROOT/out}
SEED=${DEMO_SEED:-1}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
T_START=$(date +%s)

section() { printf '\n== %s. %s\n' "$1" "$2"; }
need() { for c in "$@"; do [ -x "$BIN/$c" ] || { echo "demo: $BIN/$c is not built (run make)"; exit 1; }; done; }
# run CMD...: prints the command (shortened paths), runs it, stops the demo if it fails
run() {
    echo "\$ $*" | sed "s|$BIN/||g; s|$OUT/|\$DEMO_DIR/|g"
    "$@" || { echo "demo: failed (exit $?): $1"; exit 1; }
}
count_lines() { wc -l < "$1" | tr -d ' '; }

# ---------------------------------------------------------------------------------------------
section 1 "Data: a small keyword corpus and a speaker corpus (data-synth, espeak-ng voices)"
need data-synth
KWS_DIR="$OUT/kws"       # Speech Commands layout: <word>/<speaker>_nohash_<n>.wav + lists
SV_DIR="$OUT/sv"         # Kaldi data dir: wav.scp utt2spk spk2utt trials
SYNTH_OPTS="--seed $SEED --kws-speakers 20 --clips-per-word 2 --noise-seconds 10 --sv-speakers 12 --utts-per-speaker 6 --trials 300"
if [ "$(cat "$OUT/synth.stamp" 2>/dev/null)" = "$SYNTH_OPTS" ] && [ -d "$KWS_DIR" ] && [ -d "$SV_DIR" ]; then
    echo "(reusing $KWS_DIR and $SV_DIR: same options as $OUT/synth.stamp)"
else
    rm -rf "$KWS_DIR" "$SV_DIR" "$OUT/synth.stamp"
    # shellcheck disable=SC2086
    run "$BIN/data-synth" $SYNTH_OPTS --kws "$KWS_DIR" --speakers "$SV_DIR"
    echo "$SYNTH_OPTS" > "$OUT/synth.stamp"
fi
n_words=$(find "$KWS_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '_*' | wc -l)
n_clips=$(find "$KWS_DIR" -path '*/_background_noise_' -prune -o -name '*.wav' -print | wc -l)
echo "KWS corpus: $n_clips clips of $n_words words in $KWS_DIR"
echo "  validation $(count_lines "$KWS_DIR/validation_list.txt") clips, testing $(count_lines "$KWS_DIR/testing_list.txt") clips (whole speakers)"
echo "speaker corpus: $(count_lines "$SV_DIR/wav.scp") utterances of $(count_lines "$SV_DIR/spk2utt") speakers, $(count_lines "$SV_DIR/trials") trials in $SV_DIR"

# ---------------------------------------------------------------------------------------------
section 2 "Features: Kaldi-exact log-mel and MFCC into Kaldi archives (feat-extract)"
need feat-extract
FEATS="$OUT/feats"
mkdir -p "$FEATS"
# a wav.scp for the keyword clips: key = <word>/<file> without .wav, with '/' -> '-'
( cd "$KWS_DIR" && find . -path './_background_noise_' -prune -o -name '*.wav' -print | sed 's|^\./||' | LC_ALL=C sort ) |
    while read -r rel; do printf '%s %s\n' "$(echo "${rel%.wav}" | tr '/' '-')" "$KWS_DIR/$rel"; done > "$FEATS/kws_wav.scp"
# KWS: 40 log-mel bins (DESIGN.md §5), Kaldi defaults otherwise (dither 1 with Kaldi's rand())
run "$BIN/feat-extract" --feature-type=fbank --num-mel-bins=40 scp:"$FEATS/kws_wav.scp" \
    ark,scp:"$FEATS/kws_fbank40.ark","$FEATS/kws_fbank40.scp"
# speakers: 30 MFCC, energy VAD, sliding CMVN over 300 centred frames (the VoxCeleb recipe)
run "$BIN/feat-extract" --feature-type=mfcc --num-ceps=30 --num-mel-bins=30 --vad \
    --cmvn=sliding --center --cmn-window=300 scp:"$SV_DIR/wav.scp" \
    ark,scp:"$FEATS/sv_mfcc30.ark","$FEATS/sv_mfcc30.scp"
echo "KWS features: $(count_lines "$FEATS/kws_fbank40.scp") utterances x (~98 frames, 40 dims) in $FEATS/kws_fbank40.{ark,scp}"
echo "speaker features: $(count_lines "$FEATS/sv_mfcc30.scp") utterances (voiced frames, 30 dims) in $FEATS/sv_mfcc30.{ark,scp}"
# the first rows of one clip as text (the ark itself is Kaldi's binary format)
one=$(head -1 "$FEATS/kws_wav.scp" | cut -d' ' -f2)
echo "first frames of $(echo "$one" | sed "s|$OUT/|\$DEMO_DIR/|") (feat-extract ... ark,t:-):"
"$BIN/feat-extract" --quiet --feature-type=fbank --num-mel-bins=40 "$one" ark,t:- | sed -n '1,3p' | cut -c1-90 | sed 's/^/  /'

# ---------------------------------------------------------------------------------------------
section 3 "Keyword spotting: train a small DenseNet-BiLSTM, evaluate it, detect in a stream (kws-train, kws-detect)"
need kws-train kws-detect
KWS_MODEL="$OUT/kws.ckpt"
# a small model and few epochs so the demo takes minutes on a laptop; a bare
# `kws-train DATA MODEL` uses the full recipe (default model, 40 epochs, SpecAugment)
KWS_MO="stem-channels=8,blocks=2,layers=2,growth=8,transition-channels=16,lstm-hidden=24,attention-dim=16"
run "$BIN/kws-train" --seed "$SEED" --epochs "${DEMO_KWS_EPOCHS:-8}" --batch 16 --lr 5e-3 \
    --spec-augment=false --noise-prob 0.3 --model-opts "$KWS_MO" "$KWS_DIR" "$KWS_MODEL"
run "$BIN/kws-detect" --eval "$KWS_DIR" --eval-split test "$KWS_MODEL"
# clip mode: one test clip of each of four words, the two best labels each
clips=""
for w in yes no left stop; do
    c=$(grep "^$w/" "$KWS_DIR/testing_list.txt" | head -1)
    [ -n "$c" ] && clips="$clips $KWS_DIR/$c"
done
# shellcheck disable=SC2086
run "$BIN/kws-detect" --top-k 2 "$KWS_MODEL" $clips
# streaming from stdin: the same clips as raw 16-bit PCM (WAV headers stripped), 1.5 s of
# silence around each; detections print as they are found
echo "streaming the clips above, 1.5 s apart, as raw PCM on stdin (kws-detect ... -):"
{ for c in $clips; do head -c 48000 /dev/zero; tail -c +45 "$c"; done; head -c 48000 /dev/zero; } |
    "$BIN/kws-detect" --threshold 0.3 "$KWS_MODEL" - | sed 's/^/  /'

# ---------------------------------------------------------------------------------------------
# (next sections: speaker models on $SV_DIR, scoring)

printf '\n== demo done in %s s; everything is in %s\n' "$(( $(date +%s) - T_START ))" "$OUT"
