#!/bin/sh
# test_kws_train.sh — kws-train end to end on a small synthesised corpus: a tiny model learns
# (validation accuracy far above the 1/12 chance level), --json keys; determinism (same seed
# twice -> byte-identical model); kill-and-resume (--max-steps then --resume -> the same model,
# byte for byte, as an unbroken run); --init (same and different label sets) with --freeze /
# --lr-scale; bad input -> one clear line, exit 1 (data) or 2 (usage).
. "$(dirname "$0")/cli_lib.sh"
. "$(dirname "$0")/kws_fixture.sh"
KT="$CHORUS_BIN/kws-train"
T="$CHORUS_TMP/kws_train.$$"
rm -rf "$T"; mkdir -p "$T"

# 1. The fixture model learned: 12 classes (chance 8 %); 25 validation clips, so a broken
# pipeline (labels shuffled, features constant) stays near chance and cannot reach 40 %.
for k in samples_per_s epochs best_valid_accuracy compute_s comm_s wait_s staleness_mean \
         params flops_per_sample final_train_loss; do
    grep -q "\"$k\":" "$KWS_JSON" || { echo "FAIL: --json lacks $k: $(cat "$KWS_JSON")"; exit 1; }
done
acc=$(sed 's/.*"best_valid_accuracy":\([0-9.]*\).*/\1/' "$KWS_JSON")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.40) }' || { echo "FAIL: valid accuracy $acc < 0.40"; exit 1; }
echo "ok: tiny model, valid accuracy $acc (chance 0.083)"
grep -q '^test accuracy: ' "$KWS_FIX/train.out" || { echo "FAIL: no test accuracy line"; exit 1; }
grep -q '^confusion matrix' "$KWS_FIX/train.out" || { echo "FAIL: no confusion matrix"; exit 1; }

# 2. Determinism and resume, on an even smaller model and 20 bins (2 epochs, 7 steps each).
MO="stem-channels=4,blocks=1,layers=2,growth=4,transition-channels=8,lstm-hidden=8,attention-dim=8"
C="--threads 1 --seed 5 --epochs 2 --batch 32 --num-mel-bins 20 --model-opts $MO --checkpoint-every 4"
expect_ok "$KT" $C "$KWS_DATA" "$T/a.ckpt"
expect_ok "$KT" $C "$KWS_DATA" "$T/b.ckpt"
cmp -s "$T/a.ckpt" "$T/b.ckpt" || { echo "FAIL: same seed gave different models"; exit 1; }
echo "ok: same seed twice -> identical model"
# interrupted after step 9 (last complete checkpoint: step 8, mid-epoch 2), then resumed
expect_ok "$KT" $C --max-steps 9 "$KWS_DATA" "$T/c.ckpt"
[ -f "$T/c.ckpt.ckpts/DONE_8" ] || { echo "FAIL: no DONE_8 marker"; ls "$T/c.ckpt.ckpts"; exit 1; }
expect_ok "$KT" $C --resume "$KWS_DATA" "$T/c.ckpt"
grep -q "resuming from .*step 8" "$CLI_ERR" || { echo "FAIL: did not resume from step 8"; exit 1; }
cmp -s "$T/a.ckpt" "$T/c.ckpt" || { echo "FAIL: resumed run differs from the unbroken one"; exit 1; }
echo "ok: kill at step 9 + --resume -> byte-identical model"
# 2 model threads and 2 loader threads: still bit-identical run to run (the step-3 checkpoint)
C2="--threads 2 --loader-threads 2 --seed 5 --epochs 1 --batch 32 --num-mel-bins 20 --model-opts $MO --checkpoint-every 3 --max-steps 3"
expect_ok "$KT" $C2 "$KWS_DATA" "$T/t1.ckpt"
expect_ok "$KT" $C2 "$KWS_DATA" "$T/t2.ckpt"
cmp -s "$T/t1.ckpt.ckpts/ckpt-000000003.ckpt" "$T/t2.ckpt.ckpts/ckpt-000000003.ckpt" \
    || { echo "FAIL: --threads 2 --loader-threads 2 runs differ"; exit 1; }
cmp -s "$T/t1.ckpt.ckpts/ckpt-000000003.ckpt.state.0" "$T/t2.ckpt.ckpts/ckpt-000000003.ckpt.state.0" \
    || { echo "FAIL: --threads 2 optimizer states differ"; exit 1; }
echo "ok: --threads 2 --loader-threads 2 twice -> identical checkpoint and optimizer state"
# another seed gives another model
expect_ok "$KT" $C --seed 6 --checkpoint-every 0 "$KWS_DATA" "$T/d.ckpt"
if cmp -s "$T/a.ckpt" "$T/d.ckpt"; then echo "FAIL: seeds 5 and 6 gave the same model"; exit 1; fi
# grad accumulation trains (4 micro-batches per step)
expect_ok "$KT" $C --grad-accum 4 --max-steps 2 "$KWS_DATA" "$T/e.ckpt"

# 3. --init: same labels (weights kept) and all-words labels (classifier re-initialised).
expect_ok "$KT" --threads 1 --epochs 1 --max-steps 2 --init "$KWS_MODEL" --freeze stem \
    --lr-scale block1=0.1 "$KWS_DATA" "$T/f.ckpt"
expect_ok "$KT" --threads 1 --epochs 1 --max-steps 2 --classes all --init "$KWS_MODEL" \
    "$KWS_DATA" "$T/g.ckpt"
grep -q "classifier re-initialised" "$CLI_ERR" || { echo "FAIL: no classifier re-init note"; exit 1; }
echo "ok: --init, --freeze, --lr-scale"

# 3b. The same clips as a Kaldi data dir (wav.scp, utt2spk, utt2label), noise from --noise-dir;
# a few wav.scp entries are Kaldi pipes ("cat f |"), read as feat-extract reads them.
mkdir -p "$T/kd"
for f in "$KWS_DATA"/*/*_nohash_*.wav; do
    w=$(basename "$(dirname "$f")"); b=$(basename "$f" .wav)
    echo "${b%%_*}-$w-$b $f"
done | sort | awk 'NR % 50 == 1 { $0 = $1 " cat " $2 " |" } 1' > "$T/kd/wav.scp"
grep -q ' |$' "$T/kd/wav.scp" || { echo "FAIL: no pipe entries in the Kaldi dir"; exit 1; }
awk '{ split($1, a, "-"); print $1, a[1] }' "$T/kd/wav.scp" > "$T/kd/utt2spk"
awk '{ split($1, a, "-"); print $1, a[2] }' "$T/kd/wav.scp" > "$T/kd/utt2label"
expect_ok "$KT" --threads 1 --epochs 1 --max-steps 1 --valid-percent 20 --model-opts "$MO" \
    --noise-dir "$KWS_DATA/_background_noise_" "$T/kd" "$T/h.ckpt"
grep -q "20 labels, .*speaker hash split), 5 noise signals" "$CLI_ERR" \
    || { echo "FAIL: Kaldi dir not read as expected"; cat "$CLI_ERR"; exit 1; }
echo "ok: Kaldi data dir with utt2label, --noise-dir"

# 3c. --write-split writes the lists of the split used; --valid-list/--test-list reproduce it.
expect_ok "$KT" --threads 1 --epochs 1 --max-steps 1 --model-opts "$MO" --write-split "$T/split" \
    "$KWS_DATA" "$T/i.ckpt"
n1=$(grep -o "[0-9]* train / [0-9]* valid / [0-9]* test clips" "$CLI_ERR")
for f in training validation testing; do
    [ -s "$T/split/${f}_list.txt" ] || { echo "FAIL: --write-split: no ${f}_list.txt"; exit 1; }
done
expect_ok "$KT" --threads 1 --epochs 1 --max-steps 1 --model-opts "$MO" \
    --valid-list "$T/split/validation_list.txt" --test-list "$T/split/testing_list.txt" \
    "$KWS_DATA" "$T/j.ckpt"
n2=$(grep -o "[0-9]* train / [0-9]* valid / [0-9]* test clips (list files)" "$CLI_ERR")
[ -n "$n1" ] && [ "$n2" = "$n1 (list files)" ] \
    || { echo "FAIL: split from the written lists: '$n2', want '$n1 (list files)'"; exit 1; }
expect_ok "$KT" --threads 1 --epochs 1 --max-steps 1 --model-opts "$MO" --split-salt x \
    "$KWS_DATA" "$T/k.ckpt"
grep -q "(salted speaker split)" "$CLI_ERR" || { echo "FAIL: --split-salt not salted"; exit 1; }
echo "ok: --write-split lists round-trip ($n1), --split-salt"

# 3d. --help is printed once under mpirun/srun: by launcher rank 0 only (the rank from the
# launcher's environment, as MPI is not up yet when --help is parsed); other ranks exit 0 silently.
expect_ok "$KT" --help
grep -q -- "--split-salt" "$CLI_OUT" || { echo "FAIL: --help lacks --split-salt"; exit 1; }
expect_ok env OMPI_COMM_WORLD_RANK=0 "$KT" --help
grep -q -- "--split-salt" "$CLI_OUT" || { echo "FAIL: rank 0 did not print --help"; exit 1; }
for v in OMPI_COMM_WORLD_RANK PMI_RANK SLURM_PROCID; do
    expect_ok env $v=1 "$KT" --help
    [ ! -s "$CLI_OUT" ] || { echo "FAIL: $v=1 printed --help"; exit 1; }
done
echo "ok: --help only on launcher rank 0"

# 4. Bad input.
mkdir -p "$T/empty" "$T/nowords/foo" "$T/kd_nolabels"
cp "$T/kd/wav.scp" "$T/kd/utt2spk" "$T/kd_nolabels/"
: > "$T/corrupt.ckpt"
kws_rekind "$KWS_MODEL" "$T/tdnn.ckpt" tdnn
Q="--quiet --threads 1 --epochs 1"
expect_error 1 "no such folder" "$KT" $Q "$T/missing" "$T/x.ckpt"
expect_error 1 "$T/empty" "$KT" $Q "$T/empty" "$T/x.ckpt"
expect_error 1 "nowords" "$KT" $Q "$T/nowords" "$T/x.ckpt"
expect_error 1 "cannot write" "$KT" $Q "$KWS_DATA" "$T/nodir/x.ckpt"
expect_error 2 "epochs" "$KT" $Q --epochs 0 "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "grad-accum" "$KT" $Q --batch 4 --grad-accum 8 "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "snr-min" "$KT" $Q --snr-min 30 --snr-max 10 "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "lr" "$KT" $Q --lr abc "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "unknown option" "$KT" $Q --bogus "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "expected 2 arguments" "$KT" $Q "$KWS_DATA"
expect_error 2 "dist async" "$KT" $Q --dist async "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "classes" "$KT" $Q --classes 7 "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "unknown kind" "$KT" $Q --model bogus "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "bogus" "$KT" $Q --model-opts bogus=1 "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "no parameter group 'nosuch'" "$KT" $Q --freeze nosuch "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "lr-scale" "$KT" $Q --lr-scale stem "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "resume" "$KT" $Q --resume "$KWS_DATA" "$T/x.ckpt"
expect_error 1 "missing.ckpt" "$KT" $Q --init "$T/missing.ckpt" "$KWS_DATA" "$T/x.ckpt"
expect_error 1 "corrupt.ckpt: empty" "$KT" $Q --init "$T/corrupt.ckpt" "$KWS_DATA" "$T/x.ckpt"
expect_error 1 "is a tdnn checkpoint" "$KT" $Q --init "$T/tdnn.ckpt" "$KWS_DATA" "$T/x.ckpt"
expect_error 1 "feature bins" "$KT" $Q --num-mel-bins 20 --init "$KWS_MODEL" "$KWS_DATA" "$T/x.ckpt"
expect_error 1 "utt2label" "$KT" $Q "$T/kd_nolabels" "$T/x.ckpt"
expect_error 1 "nolist.txt" "$KT" $Q --valid-list "$T/nolist.txt" "$KWS_DATA" "$T/x.ckpt"
expect_error 2 "split" "$KT" $Q --split bogus "$KWS_DATA" "$T/x.ckpt"
expect_error 1 "no audio files in the noise folder" "$KT" $Q --noise-dir "$T/empty" "$KWS_DATA" "$T/x.ckpt"
echo "ok: $cli_checks command checks"
rm -rf "$T"
