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
SYNTH_OPTS="--seed $SEED --kws-speakers 20 --clips-per-word 2 --noise-seconds 10 --sv-speakers 40 --utts-per-speaker 8 --trials 300"
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

# a long recording with known keyword times: test-split clips of one speaker (10 keywords and 2
# other words, $LONG_OTHERS) with 0.6-1.5 s gaps, one gap a babble burst, over low pink noise;
# kws-detect scans it in streaming mode and each detection is matched to the truth by the rule
# of --eval-stream (same word, overlapping times, each true word found at most once; anything
# else, a detection over a non-keyword included, is a false alarm). ~3 s on 2 cores.
# DEMO_LONG_THRESHOLD sets the detection threshold (default 0.3: the demo's small, briefly
# trained model gives low posteriors; --eval-stream prints what 1 false alarm per hour needs).
if command -v sox > /dev/null 2>&1; then
    LONG="$OUT/long"
    LONG_OTHERS="bed cat"  # words of the corpus the model does not spot (--eval-stream: label -1)
    rm -rf "$LONG"; mkdir -p "$LONG"
    spk=$(grep '^yes/' "$KWS_DIR/testing_list.txt" | tail -1 | sed 's|.*/||; s|_nohash_.*||')
    pos=0; i=0; segs=""; : > "$LONG/truth.txt"
    for item in 9600:yes 16000:bed 12800:no 20800:up 14400:down 24000:@babble 9600:left \
                16000:cat 11200:right 19200:on 12800:off 22400:stop 16000:go 16000:-; do
        gap=${item%%:*}; w=${item#*:}; i=$((i + 1))
        if [ "$w" = @babble ]; then  # a noise burst instead of a silent gap
            sox "$KWS_DIR/_background_noise_/babble_noise.wav" "$LONG/s$i.wav" \
                trim 0 "${gap}s" vol 0.5
        else
            sox -r 16000 -c 1 -b 16 -n "$LONG/s$i.wav" trim 0 "${gap}s"
        fi
        segs="$segs $LONG/s$i.wav"; pos=$((pos + gap))
        case "$w" in -|@*) continue ;; esac
        c=$(grep "^$w/${spk}_nohash_" "$KWS_DIR/testing_list.txt" | head -1)
        [ -n "$c" ] || c=$(grep "^$w/" "$KWS_DIR/testing_list.txt" | head -1)
        [ -n "$c" ] || continue  # a corpus without this word: its gap stays silence
        n=$(soxi -s "$KWS_DIR/$c")
        echo "$pos $((pos + n)) $w" >> "$LONG/truth.txt"
        segs="$segs $KWS_DIR/$c"; pos=$((pos + n))
    done
    # shellcheck disable=SC2086
    sox $segs "$LONG/speech.wav"
    # the noise looped under the whole recording (-v on both: no automatic 1/2 scaling)
    sox -m -v 1 "$LONG/speech.wav" \
        -v 0.15 "|sox '$KWS_DIR/_background_noise_/pink_noise.wav' -p repeat 9" \
        "$LONG/recording.wav" trim 0 "${pos}s"
    # the truth in seconds, as --eval-stream reads it (<labels-dir>/<basename>.txt)
    awk '{ printf "%.3f %.3f %s\n", $1 / 16000, $2 / 16000, $3 }' "$LONG/truth.txt" \
        > "$LONG/recording.txt"
    echo "a $(awk -v n=$pos 'BEGIN { printf "%.1f", n / 16000 }')-s recording of speaker $spk's" \
        "test clips: \$DEMO_DIR/long/recording.wav (truth: recording.txt)"
    LONG_THR=${DEMO_LONG_THRESHOLD:-0.3}
    echo "\$ kws-detect --threshold $LONG_THR \$DEMO_DIR/kws.ckpt \$DEMO_DIR/long/recording.wav" \
        "> \$DEMO_DIR/long/detections.txt"
    "$BIN/kws-detect" --threshold "$LONG_THR" "$KWS_MODEL" "$LONG/recording.wav" \
        > "$LONG/detections.txt" || { echo "demo: failed (exit $?): kws-detect"; exit 1; }
    # truth vs detections (detections: file start_s end_s word score)
    awk -v thr="$LONG_THR" -v dur="$pos" -v others="$LONG_OTHERS" '
        BEGIN { n = split(others, o, " "); for (k = 1; k <= n; k++) other[o[k]] = 1 }
        FNR == NR { ts[++nt] = $1; te[nt] = $2; tw[nt] = $3; next }
        NF == 5 {
            nd++; ds[nd] = $2; de[nd] = $3; dw[nd] = $4; dp[nd] = $5; m = 0
            for (i = 1; i <= nt && !m; i++)
                if (!used[i] && tw[i] == $4 && ts[i] < $3 && te[i] > $2 && !(tw[i] in other)) {
                    used[i] = nd; m = 1
                }
            if (!m) fa[++nfa] = nd
        }
        END {
            hits = miss = 0
            for (i = 1; i <= nt; i++) {
                kw = !(tw[i] in other)
                if (used[i]) {
                    d = used[i]; hits++
                    r = sprintf("found   %6.2f-%6.2f %-6s %.2f", ds[d], de[d], dw[d], dp[d])
                } else if (kw) { r = "MISSED"; miss++ }
                else r = "(not a keyword)"
                printf "  truth %6.2f-%6.2f %-6s  %s\n", ts[i], te[i], tw[i], r
            }
            for (k = 1; k <= nfa; k++) {
                d = fa[k]
                printf "  false alarm            %6.2f-%6.2f %-6s %.2f\n", ds[d], de[d], dw[d], dp[d]
            }
            printf "long recording: %d of %d keywords found, %d missed, %d false alarm(s) in %.1f s" \
                   " (threshold %s)\n", hits, hits + miss, miss, nfa, dur / 16000, thr
        }' "$LONG/recording.txt" "$LONG/detections.txt"
    # the same count by kws-detect itself, plus the threshold 1 false alarm per hour would need
    run "$BIN/kws-detect" --threshold "$LONG_THR" --eval-stream "$LONG" "$KWS_MODEL" "$LONG/recording.wav"
else
    echo "(sox is not installed: skipping the long-recording detection; make deps installs it)"
fi

# ---------------------------------------------------------------------------------------------
section 4 "Speaker verification: two embedding models, their scores and fusion (sv-train, sv-trials, sv-embed, sv-score)"
need sv-train sv-trials sv-embed sv-score
SVX="$OUT/sv_exp"
mkdir -p "$SVX"
# speakers split by a hash of their name: 70 % train, 10 % dev (validation, fusion training),
# 20 % test; sv-train and sv-trials use the same split
SPLIT="--split-fractions 0.7,0.1,0.2 --split-seed 0"
for part in dev test; do
    run "$BIN/sv-trials" --quiet $SPLIT --split $part --write-dir "$SVX/$part" "$SV_DIR" "$SVX/$part.trials"
done
# small models and few epochs so the demo stays short; a bare `sv-train DATA MODEL` trains the
# default tdnn (1.9 M parameters) for 30 epochs on 2-s chunks
SV_COMMON="$SPLIT --epochs ${DEMO_SV_EPOCHS:-10} --batch 32 --chunk-s 1.5 --num-mel-bins 40 --seed $SEED"
run "$BIN/sv-train" $SV_COMMON --model tdnn --model-opts channels=128,stats-channels=256 \
    --embedding-dim 128 "$SV_DIR" "$SVX/tdnn.ckpt"
run "$BIN/sv-train" $SV_COMMON --model resnet --model-opts channels=4 --embedding-dim 128 \
    "$SV_DIR" "$SVX/resnet.ckpt"
for m in tdnn resnet; do
    for part in dev test; do
        run "$BIN/sv-embed" --quiet "$SVX/$m.ckpt" "scp:$SVX/$part/wav.scp" "ark:$SVX/$m.$part.ark"
        run "$BIN/sv-score" score --quiet "$SVX/$part.trials" "ark:$SVX/$m.$part.ark" "$SVX/$m.$part.scores"
    done
done
# logistic-regression fusion trained on the dev speakers' trials, applied to the test speakers'
run "$BIN/sv-score" fuse --quiet --key "$SVX/dev.trials" "$SVX/fusion.txt" "$SVX/tdnn.dev.scores" "$SVX/resnet.dev.scores"
run "$BIN/sv-score" apply --quiet "$SVX/fusion.txt" "$SVX/fused.test.scores" "$SVX/tdnn.test.scores" "$SVX/resnet.test.scores"
echo "test speakers ($(grep -c ' target$' "$SVX/test.trials") target, $(grep -c 'nontarget$' "$SVX/test.trials") nontarget trials):"
printf '  %-8s %8s %12s %12s\n' system "EER %" "minDCF(0.01)" "minDCF(0.05)"
for m in tdnn resnet fused; do
    "$BIN/sv-score" eval --json "$SVX/test.trials" "$SVX/$m.test.scores" --det "$SVX/$m.det.svg" \
        | tail -1 | awk -v m="$m" '{
            v["eer"] = v["min_dcf_p01"] = v["min_dcf_p05"] = ""
            n = split($0, kv, /[,{}]/)
            for (i = 1; i <= n; i++) { split(kv[i], p, ":"); gsub(/"/, "", p[1]); v[p[1]] = p[2] }
            printf "  %-8s %8.2f %12.4f %12.4f\n", m, 100 * v["eer"], v["min_dcf_p01"], v["min_dcf_p05"] }'
done
echo "DET curves: $SVX/{tdnn,resnet,fused}.det.svg"

printf '\n== demo done in %s s; everything is in %s\n' "$(( $(date +%s) - T_START ))" "$OUT"
