#!/bin/sh
# test_data_synth.sh — data-synth as a command: a small corpus is byte-identical for the same
# --seed and differs for another seed, --json summary counts, the default KWS corpus size and
# time, and bad flags / bad output folders -> exit 2 (usage) or 1 with one error line.
. "$(dirname "$0")/cli_lib.sh"
DS="$CHORUS_BIN/data-synth"
[ -x "$DS" ] || { echo "SKIP: $DS not built"; exit 77; }
T="$CHORUS_TMP/data_synth.$$"
rm -rf "$T"; mkdir -p "$T"
SMALL="--kws-speakers 3 --clips-per-word 1 --noise-seconds 1 --sv-speakers 3 --utts-per-speaker 2 --trials 8 --quiet"

# Determinism: same seed -> identical trees (paths inside wav.scp differ by folder, so the
# speaker corpora are compared after rewriting the folder name).
expect_ok "$DS" $SMALL --seed 11 --kws "$T/a/kws" --speakers "$T/a/sv"
expect_ok "$DS" $SMALL --seed 11 --kws "$T/b/kws" --speakers "$T/b/sv"
expect_ok "$DS" $SMALL --seed 12 --kws "$T/c/kws" --speakers "$T/c/sv"
sed -i "s|$T/b/|$T/a/|" "$T/b/sv/wav.scp"
sed -i "s|$T/c/|$T/a/|" "$T/c/sv/wav.scp"
diff -r "$T/a" "$T/b" > /dev/null || { echo "FAIL: same seed gave different corpora"; diff -rq "$T/a" "$T/b" | head; exit 1; }
echo "ok: seed 11 twice -> identical ($(find "$T/a" -type f | wc -l) files)"
if diff -r "$T/a" "$T/c" > /dev/null; then echo "FAIL: seeds 11 and 12 gave the same corpus"; exit 1; fi
ndiff=$(diff -rq "$T/a" "$T/c" 2>/dev/null | wc -l)
echo "ok: seed 12 differs ($ndiff files/entries differ)"
[ "$ndiff" -gt 50 ] || { echo "FAIL: only $ndiff differences between seeds"; exit 1; }

# Layout and counts: 20 word folders x 3 clips, 5 noise files, lists, Kaldi files.
n=$(find "$T/a/kws" -path '*_background_noise_*' -prune -o -name '*_nohash_*.wav' -print | wc -l)
[ "$n" = 60 ] || { echo "FAIL: $n clips, want 60"; exit 1; }
[ "$(ls "$T/a/kws/_background_noise_" | wc -l)" = 5 ] || { echo "FAIL: noise files"; exit 1; }
for f in validation_list.txt testing_list.txt; do [ -s "$T/a/kws/$f" ] || { echo "FAIL: $f"; exit 1; }; done
for f in wav.scp utt2spk spk2utt trials trials_voxceleb.txt; do [ -s "$T/a/sv/$f" ] || { echo "FAIL: $f"; exit 1; }; done
[ "$(wc -l < "$T/a/sv/trials")" = 8 ] || { echo "FAIL: trials count"; exit 1; }
sort -c "$T/a/sv/wav.scp" && sort -c "$T/a/sv/utt2spk" || { echo "FAIL: Kaldi tables not sorted"; exit 1; }
echo "ok: layout and counts"

# --json: one line with the counts; the default KWS corpus (20 words x 20 speakers x 2) in time.
t0=$(date +%s)
expect_ok "$DS" --json --quiet --kws "$T/default"
t1=$(date +%s)
tail -1 "$CLI_OUT" | grep -q '"kws_clips":800,' || { echo "FAIL: json: $(tail -1 "$CLI_OUT")"; exit 1; }
echo "ok: default KWS corpus: 800 clips in $((t1 - t0)) s ($(du -sh "$T/default" | cut -f1))"
[ $((t1 - t0)) -lt 60 ] || { echo "FAIL: default corpus took $((t1 - t0)) s (budget 30 s, 60 s on a loaded box)"; exit 1; }

# Errors.
expect_error 2 "unknown option '--bogus'" "$DS" --bogus --kws "$T/x"
expect_error 2 "give --kws" "$DS" --quiet
expect_error 2 "kws-speakers" "$DS" --kws-speakers 1 --kws "$T/x"
expect_error 2 "snr-min" "$DS" --snr-min 40 --snr-max 10 --kws "$T/x"
expect_error 2 "" "$DS" --kws "$T/x" extra-positional
expect_error 1 "exists and is not empty" "$DS" --quiet --kws "$T/a/kws"
touch "$T/afile"
expect_error 1 "cannot create" "$DS" --quiet --kws "$T/afile/sub"
expect_error 1 "cuda" "$DS" --quiet --device cuda --kws "$T/y"
echo "$cli_checks checks passed"
rm -rf "$T"
