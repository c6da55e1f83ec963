#!/bin/sh
# bench/sv/real_data.sh BUILD [EPOCHS] [SYN_SPEAKERS] [PRE_EPOCHS] — the speaker-verification
# results on real speech (issue 4): the 143 speakers of ../shared/data/speech-commands-v2-test-A
# (1-s clips, speaker = the hash before _nohash_), split speaker-disjointly 0.7 / 0.1 / 0.2
# (train / dev / test, split seed 0: the same split in sv-train and sv-trials).
#   1. tdnn and resnet trained on the train speakers (sv-train, EPOCHS epochs, 1-s chunks, the
#      dev speakers' EER picks the best epoch);
#   2. each embeds every clip (sv-embed), cosine scores on the dev and test trials (sv-score);
#   3. logistic-regression fusion of the two trained on the dev scores, applied to the test;
#   4. transfer: tdnn pretrained PRE_EPOCHS epochs on SYN_SPEAKERS synthetic speakers
#      (data-synth), then fine-tuned EPOCHS epochs on the real train speakers (--init; the
#      head re-made), against the tdnn trained on the real speakers alone (step 1).
# Prints a table of EER / minDCF(0.01) / minDCF(0.05) / Cllr on the test trials; leaves every
# file in $OUT (default /tmp/sv_real). MODEL_OPTS_TDNN / MODEL_OPTS_RESNET override the sizes.
set -eu
BUILD=${1:-build}
EPOCHS=${2:-20}
SYN=${3:-300}
PRE_EPOCHS=${4:-10}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
B="$BUILD/bin"
DATA=${SV_DATA:-$ROOT/../shared/data/speech-commands-v2-test-A}
OUT=${OUT:-/tmp/sv_real}
THREADS=${THREADS:-2}
[ -d "$DATA" ] || { echo "real_data: $DATA not found (SKIP)"; exit 0; }
mkdir -p "$OUT"
SPLIT="--split-fractions 0.7,0.1,0.2 --split-seed 0"
TRAIN="$SPLIT --num-mel-bins 80 --chunk-s 1 --threads $THREADS --batch 64 --json"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# trials over the dev and test speakers, and wav.scp files keyed as the trials name them
for part in dev test; do
    "$B/sv-trials" $SPLIT --split $part --write-dir "$OUT/$part" "$DATA" "$OUT/$part.trials" 2>&1 | tail -1 >&2
done

# embed + score + evaluate a model: NAME CKPT
score_model() {
    for part in dev test; do
        "$B/sv-embed" --quiet --threads "$THREADS" "$2" "scp:$OUT/$part/wav.scp" "ark:$OUT/$1.$part.ark"
        "$B/sv-score" score --quiet "$OUT/$part.trials" "ark:$OUT/$1.$part.ark" "$OUT/$1.$part.scores"
    done
    "$B/sv-score" eval --json "$OUT/test.trials" "$OUT/$1.test.scores" | tail -1 > "$OUT/$1.eval.json"
}
train() { # NAME MODEL OPTS DATA [extra...]
    name=$1 model=$2 opts=$3 data=$4; shift 4
    log "sv-train $name ($model $opts) on $data"
    "$B/sv-train" $TRAIN --model "$model" ${opts:+--model-opts "$opts"} "$@" "$data" \
        "$OUT/$name.ckpt" > "$OUT/$name.train.out" 2> "$OUT/$name.train.err"
    tail -1 "$OUT/$name.train.out" > "$OUT/$name.train.json"
}

train tdnn tdnn "${MODEL_OPTS_TDNN:-}" "$DATA" --epochs "$EPOCHS"
score_model tdnn "$OUT/tdnn.ckpt"
train resnet resnet "${MODEL_OPTS_RESNET:-}" "$DATA" --epochs "$EPOCHS"
score_model resnet "$OUT/resnet.ckpt"

log "fusion (trained on the dev trials)"
"$B/sv-score" fuse --quiet --key "$OUT/dev.trials" "$OUT/fusion.txt" "$OUT/tdnn.dev.scores" "$OUT/resnet.dev.scores"
"$B/sv-score" apply --quiet "$OUT/fusion.txt" "$OUT/fused.test.scores" "$OUT/tdnn.test.scores" "$OUT/resnet.test.scores"
"$B/sv-score" eval --json "$OUT/test.trials" "$OUT/fused.test.scores" | tail -1 > "$OUT/fused.eval.json"

if [ "$SYN" -gt 0 ]; then
    [ -f "$OUT/syn/wav.scp" ] || "$B/data-synth" --quiet --seed 11 --sv-speakers "$SYN" \
        --utts-per-speaker 10 --threads "$THREADS" --speakers "$OUT/syn" > /dev/null
    train pretrain tdnn "${MODEL_OPTS_TDNN:-}" "$OUT/syn" --epochs "$PRE_EPOCHS" \
        --split-fractions 0.95,0.05,0
    train finetune tdnn "" "$DATA" --epochs "$EPOCHS" --init "$OUT/pretrain.ckpt"
    score_model finetune "$OUT/finetune.ckpt"
fi

num() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" "$2"; }
printf '\n%-34s %8s %9s %9s %7s %10s %9s\n' system "EER %" "minDCF.01" "minDCF.05" Cllr params "train s"
row() { # LABEL NAME [TRAIN-NAME]
    e="$OUT/$2.eval.json"; t="$OUT/${3:-$2}.train.json"
    [ -f "$e" ] || return 0
    secs=$(grep -h 'loaded in\|steps,' "$OUT/${3:-$2}.train.err" 2>/dev/null | head -0)
    printf '%-34s %8.2f %9.4f %9.4f %7.3f %10s %9s\n' "$1" \
        "$(awk -v x="$(num eer "$e")" 'BEGIN { print 100 * x }')" "$(num min_dcf_p01 "$e")" \
        "$(num min_dcf_p05 "$e")" "$(num cllr "$e")" "$([ -f "$t" ] && num params "$t")" \
        "$([ -f "$t" ] && awk -v a="$(num compute_s "$t")" -v b="$(num wait_s "$t")" 'BEGIN { printf "%.0f", a + b }')"
}
row "tdnn (real train speakers)" tdnn
row "resnet (real train speakers)" resnet
row "fusion tdnn+resnet (dev-trained)" fused
row "tdnn synthetic-pretrained+finetune" finetune
echo "(test: $(grep -c ' target$' "$OUT/test.trials") target / $(grep -c 'nontarget$' "$OUT/test.trials") nontarget trials; $EPOCHS epochs; files in $OUT)"
