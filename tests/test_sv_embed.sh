#!/bin/sh
# test_sv_embed.sh — sv-trials and sv-embed end to end on a fixture written by the C test
# binary (test_sv_embed --write-fixture: a tiny random tdnn checkpoint, a VoxCeleb-style folder
# of synthetic voices, odd audio): data -> sv-trials (split, both formats, --write-dir) ->
# sv-embed (scp:, list:, files; ark / ark,scp / ark,t) -> sv-score score/eval reads the ark;
# byte-identical output at --threads 1 and 2; the ark parsed by an independent NumPy reader
# equals the text ark; --vad (a voice padded with low noise embeds like the bare voice, noise
# alone falls back to the whole utterance, said once); bad utterances skipped with a warning naming them and exit 1; and bad
# checkpoints, lists and flags: one clear line, the right exit code, no crash.
. "$(dirname "$0")/cli_lib.sh"
EMB="$CHORUS_BIN/sv-embed"
TR="$CHORUS_BIN/sv-trials"
SC="$CHORUS_BIN/sv-score"
FIX="$CHORUS_BUILD/tests/test_sv_embed"
for b in "$EMB" "$TR" "$SC" "$FIX"; do [ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }; done
D="$CHORUS_TMP/sv_embed"; rm -rf "$D"; mkdir -p "$D"
"$FIX" --write-fixture "$D" || { echo "FAIL: fixture writer"; exit 1; }
M="$D/tdnn.ckpt"

# ---- sv-trials: layouts, split, formats, determinism
expect_ok "$TR" --json --format voxceleb --nontarget-ratio 2 --write-dir "$D/all" "$D/vox" "$D/all/trials.vox"
cp "$D/all/trials.vox" "$D/trials.vox"  # the trials may go into the --write-dir
grep -q '"layout":"voxceleb"' "$CLI_OUT" || cli_fail "layout not voxceleb: $(cat "$CLI_OUT")"
grep -q '"n_target":12,"n_nontarget":24' "$CLI_OUT" || cli_fail "counts: $(cat "$CLI_OUT")"
[ "$(wc -l < "$D/trials.vox")" = 36 ] || cli_fail "trials.vox has $(wc -l < "$D/trials.vox") lines"
[ "$(wc -l < "$D/all/wav.scp")" = 12 ] || cli_fail "wav.scp lines"
grep -q '^1 spk0/sess0/00000.wav spk0/sess0/00002.wav$' "$D/trials.vox" || cli_fail "voxceleb trial line"
grep -q '^spk0/sess0/00000.wav spk0$' "$D/all/utt2spk" || cli_fail "utt2spk keyed by path"
expect_ok "$TR" --format voxceleb --nontarget-ratio 2 "$D/vox" "$D/trials.vox2"
cmp -s "$D/trials.vox" "$D/trials.vox2" || cli_fail "same seed, different trials"
expect_ok "$TR" --seed 3 --format voxceleb --nontarget-ratio 2 "$D/vox" "$D/trials.vox3"
cmp -s "$D/trials.vox" "$D/trials.vox3" && cli_fail "another --seed gave the same nontargets"
expect_ok "$TR" --max-targets-per-spk 1 --nontarget-ratio 0 "$D/vox" "$D/trials.k1"
[ "$(wc -l < "$D/trials.k1")" = 4 ] || cli_fail "one target per speaker"
grep -q '^spk1-sess[01]-0000[0-2] spk1-sess[01]-0000[0-2] target$' "$D/trials.k1" || cli_fail "kaldi trial line"
# the split: test + dev + train speakers are the whole set, disjoint
: > "$D/spk_parts"
for p in train dev test; do
    "$TR" --split $p --split-fractions 0.5,0.0,0.5 --nontarget-ratio 0 --write-dir "$D/part_$p" "$D/vox" "$D/t_$p" 2>/dev/null
    [ -f "$D/part_$p/spk2utt" ] && cut -d' ' -f1 "$D/part_$p/spk2utt" >> "$D/spk_parts"
done
[ "$(sort "$D/spk_parts" | uniq | wc -l)" = 4 ] || cli_fail "split parts do not cover 4 speakers"
[ "$(wc -l < "$D/spk_parts")" = 4 ] || cli_fail "a speaker is in two parts"
[ -f "$D/part_dev/spk2utt" ] && cli_fail "a zero fraction got speakers"
expect_error 1 'dev part of the split has no speakers' "$TR" --split dev --split-fractions 0.5,0,0.5 "$D/vox" "$D/x"
expect_error 2 'split-fractions' "$TR" --split-fractions 0.5,0.6 "$D/vox" "$D/x"
expect_error 1 'no such folder' "$TR" "$D/nope" "$D/x"
expect_error 1 'no speaker has at least 9 utterances' "$TR" --min-utts 9 "$D/vox" "$D/x"
mkdir -p "$D/one/spkA" "$D/one/spkB"; cp "$D/vox/spk0/sess0/00000.wav" "$D/one/spkA/"; cp "$D/vox/spk1/sess0/00000.wav" "$D/one/spkB/"
expect_error 1 'spkA has 1 utterance; target trials need 2' "$TR" --min-utts 1 "$D/one" "$D/x"
expect_error 2 'format' "$TR" --format nist "$D/vox" "$D/x"
expect_error 2 '' "$TR" "$D/vox"

# ---- sv-embed: scp input, threads, readers
expect_ok "$EMB" --threads 1 "$M" "scp:$D/all/wav.scp" "ark,scp:$D/e1.ark,$D/e1.scp"
grep -q 'done 12 of 12 utterances' "$CLI_ERR" || cli_fail "no 'done 12 of 12' line"
expect_ok "$EMB" --threads 2 --json "$M" "scp:$D/all/wav.scp" "ark:$D/e2.ark"
cmp -s "$D/e1.ark" "$D/e2.ark" || cli_fail "--threads 1 and 2 give different embeddings"
grep -q '"done":12,"total":12,"failed":0,"dim":8,"kind":"tdnn"' "$CLI_OUT" || cli_fail "json: $(cat "$CLI_OUT")"
expect_ok "$EMB" --quiet "$M" "scp:$D/all/wav.scp" "ark,t:$D/e1.txt"
[ "$(grep -c '\[' "$D/e1.txt")" = 12 ] || cli_fail "text ark entries"
# sv-score reads the ark through the scp; eval runs on the scores
expect_ok "$SC" score "$D/trials.vox" "scp:$D/e1.scp" "$D/scores"
[ "$(wc -l < "$D/scores")" = 36 ] || cli_fail "scores lines"
expect_ok "$SC" eval --json "$D/trials.vox" "$D/scores"
grep -q '"n_target":12' "$CLI_OUT" || cli_fail "eval: $(cat "$CLI_OUT")"
# an independent reader (NumPy) of the binary ark agrees with the text ark
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    /usr/bin/python3 - "$D/e1.ark" "$D/e1.txt" > "$D/py.log" 2>&1 <<'PYEOF' || cli_fail "NumPy reader: $(tail -3 "$D/py.log")"
import struct, sys, numpy as np
b = open(sys.argv[1], "rb").read()
ark, i = {}, 0
while i < len(b):
    sp = b.index(b" ", i); key = b[i:sp].decode(); i = sp + 1
    assert b[i:i + 2] == b"\0B" and b[i + 2:i + 5] == b"FV ", b[i:i + 5]
    size, dim = struct.unpack("<bi", b[i + 5:i + 10]); assert size == 4
    ark[key] = np.frombuffer(b[i + 10:i + 10 + 4 * dim], "<f4"); i += 10 + 4 * dim
txt = {}
for line in open(sys.argv[2]):
    k, rest = line.split(None, 1)
    txt[k] = np.array(rest.strip().strip("[]").split(), dtype=np.float64)
assert set(ark) == set(txt) and len(ark) == 12, (len(ark), len(txt))
for k in ark:
    v = ark[k]
    assert v.shape == (8,) and np.all(np.isfinite(v)), k
    assert abs(np.linalg.norm(v) - 1) < 1e-5, (k, np.linalg.norm(v))  # one chunk, normalised
    assert np.allclose(v, txt[k], rtol=1e-6, atol=1e-6), k
print("numpy reader ok", len(ark))
PYEOF
fi
# list: input, keys = the path as written (relative to the list's folder)
(cd "$D/vox" && ls spk*/sess*/*.wav) > "$D/vox/list.txt"
expect_ok "$EMB" "$M" "list:$D/vox/list.txt" "ark,t:$D/e_list.txt"
grep -q '^spk3/sess1/00001.wav  \[' "$D/e_list.txt" || cli_fail "list keys: $(head -c 200 "$D/e_list.txt")"
# the list and scp embeddings of one file are equal (same key there: write-dir used rel keys)
a=$(grep '^spk3/sess1/00001.wav ' "$D/e_list.txt"); b=$(grep '^spk3/sess1/00001.wav ' "$D/e1.txt")
[ "$a" = "$b" ] || cli_fail "list vs scp embedding differs"
# plain files, long audio in chunks, resampling and mixing down said once
expect_ok "$EMB" --json "$M" "$D/long.wav" "$D/rate8k.wav" "$D/stereo.wav" "ark,t:$D/e_files.txt"
grep -q '"chunks":6' "$CLI_OUT" || cli_fail "chunks: $(cat "$CLI_OUT")"
grep -q 'resampled to 16000 Hz' "$CLI_ERR" || cli_fail "no resampling note"
grep -q 'mixed down to mono' "$CLI_ERR" || cli_fail "no mix-down note"
grep -q "^$D/long.wav  \[" "$D/e_files.txt" || cli_fail "file key is not the path"
expect_ok "$EMB" --chunk-s 0 --json "$M" "$D/long.wav" "ark:$D/e_whole.ark"
grep -q '"chunks":1' "$CLI_OUT" || cli_fail "--chunk-s 0 is one chunk"

# ---- --vad: embed the voiced samples only; too little speech -> the whole utterance, counted
V="$D/vad_clean.wav $D/vad_padded.wav $D/vad_noise.wav"
# shellcheck disable=SC2086
expect_ok "$EMB" --vad --json "$M" $V "ark,t:$D/e_vad.txt"
grep -q '"vad":true,"speech_s":[0-9.]*,"vad_fallback":1}' "$CLI_OUT" || cli_fail "vad json: $(cat "$CLI_OUT")"
# kept: the voice twice (1.5 s each, give or take a frame) and the 2-s noise whole
sp=$(sed -n 's/.*"speech_s":\([0-9.]*\).*/\1/p' "$CLI_OUT")
awk -v s="$sp" 'BEGIN { exit !(s > 4.96 && s < 5.06) }' || cli_fail "VAD kept $sp s, want ~5.0"
[ "$(grep -c 'too little speech for VAD' "$CLI_ERR")" = 1 ] || cli_fail "fallback not said once: $(cat "$CLI_ERR")"
grep -q ': 1 utterance(s) had too little speech for VAD.*used whole' "$CLI_ERR" || cli_fail "fallback count"
# shellcheck disable=SC2086
expect_ok "$EMB" --json "$M" $V "ark,t:$D/e_novad.txt"
grep -q '"vad":false,"speech_s":9.000,"vad_fallback":0}' "$CLI_OUT" || cli_fail "no-vad json: $(cat "$CLI_OUT")"
grep -q 'too little speech' "$CLI_ERR" && cli_fail "fallback said without --vad"
vec() { grep "$2  \[" "$1" | sed 's/^[^[]*//'; }
[ "$(vec "$D/e_vad.txt" vad_noise.wav)" = "$(vec "$D/e_novad.txt" vad_noise.wav)" ] || cli_fail "fallback is not the whole-utterance embedding"
[ "$(vec "$D/e_vad.txt" vad_padded.wav)" = "$(vec "$D/e_novad.txt" vad_padded.wav)" ] && cli_fail "--vad did not change the padded embedding"
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    /usr/bin/python3 - "$D/e_vad.txt" "$D/e_novad.txt" > "$D/py_vad.log" 2>&1 <<'PYEOF' || cli_fail "VAD cosines: $(tail -3 "$D/py_vad.log")"
import sys, numpy as np
def ark(p):
    return {l.split()[0].rsplit("/", 1)[1]: np.array(l.split("[")[1].split("]")[0].split(), float)
            for l in open(p)}
v, n = ark(sys.argv[1]), ark(sys.argv[2])
cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
with_vad, without = cos(v["vad_padded.wav"], n["vad_clean.wav"]), cos(n["vad_padded.wav"], n["vad_clean.wav"])
print("cosine padded vs clean: --vad %.5f, without %.5f" % (with_vad, without))
assert with_vad > 0.99 and 1 - without > 10 * (1 - with_vad), (with_vad, without)
PYEOF
    cat "$D/py_vad.log"
fi
# the frames kept are feat-extract --vad's (same framing, same raw log-energy, dither 0)
FE="$CHORUS_BIN/feat-extract"
if [ -x "$FE" ]; then
    expect_ok "$EMB" --vad --json "$M" "$D/vad_padded.wav" "ark:$D/x1.ark"
    sp=$(sed -n 's/.*"speech_s":\([0-9.]*\).*/\1/p' "$CLI_OUT")
    expect_ok "$FE" --dither=0 --num-mel-bins=24 --vad --json "$D/vad_padded.wav" "ark:$D/x2.ark"
    fr=$(sed -n 's/.*"frames":\([0-9]*\).*/\1/p' "$CLI_OUT")
    awk -v s="$sp" -v f="$fr" 'BEGIN { exit !(f > 100 && int(s * 100 + 0.5) == f) }' ||
        cli_fail "sv-embed --vad kept $sp s, feat-extract --vad $fr frames"
    rm -f "$D/x1.ark" "$D/x2.ark"
fi
expect_error 2 "'maybe' is not a boolean" "$EMB" --vad=maybe "$M" "$D/vad_clean.wav" "ark:$D/x.ark"
[ "$(wc -l < "$CLI_ERR")" = 1 ] || cli_fail "a usage error of more than one line: $(cat "$CLI_ERR")"
expect_error 2 'vad-proportion-threshold: 1.5 is out of range' "$EMB" --vad --vad-proportion-threshold 1.5 "$M" "$D/vad_clean.wav" "ark:$D/x.ark"
expect_error 2 'vad-frames-context' "$EMB" --vad --vad-frames-context -1 "$M" "$D/vad_clean.wav" "ark:$D/x.ark"
expect_error 2 'vad-energy-threshold' "$EMB" --vad-energy-threshold abc "$M" "$D/vad_clean.wav" "ark:$D/x.ark"
expect_error 2 'vad-energy-mean-scale' "$EMB" --vad-energy-mean-scale=-1 "$M" "$D/vad_clean.wav" "ark:$D/x.ark"
[ -e "$D/x.ark" ] && cli_fail "a usage error left an ark"

# ---- bad utterances: skipped, named, exit 1 (or 0 within --max-failures)
: > "$D/empty.wav"
printf 'a %s\nb %s\nc %s\nd %s\ne %s\n' "$D/vox/spk0/sess0/00000.wav" "$D/missing.wav" "$D/short.wav" "$M" "$D/empty.wav" > "$D/bad.scp"
expect_error 1 'utterance' "$EMB" "$M" "scp:$D/bad.scp" "ark:$D/e_bad.ark"
grep -q 'utterance b (.*missing.wav)' "$CLI_ERR" || cli_fail "missing file not named"
grep -q 'utterance c (.*short.wav): too short' "$CLI_ERR" || cli_fail "short file not named"
grep -q 'utterance d ' "$CLI_ERR" || cli_fail "non-audio file not named"
grep -q 'utterance e (.*empty.wav)' "$CLI_ERR" || cli_fail "empty file not named"
grep -q 'done 1 of 5 utterances (4 failed)' "$CLI_ERR" || cli_fail "no done line"
expect_ok "$EMB" --max-failures 4 "$M" "scp:$D/bad.scp" "ark,t:$D/e_bad.txt"
[ "$(grep -c '\[' "$D/e_bad.txt")" = 1 ] || cli_fail "the good utterance was not written"
expect_error 1 '4 of 5 utterances failed' "$EMB" --quiet "$M" "scp:$D/bad.scp" "ark:$D/e_bad.ark"

# ---- bad checkpoints, lists and flags
expect_error 1 'keyword-spotting' "$EMB" "$D/kws.ckpt" "scp:$D/all/wav.scp" "ark:$D/x.ark"
expect_error 1 'not a speaker-embedding checkpoint' "$EMB" "$D/nofe.ckpt" "scp:$D/all/wav.scp" "ark:$D/x.ark"
expect_error 1 'feature bins' "$EMB" "$D/bins.ckpt" "scp:$D/all/wav.scp" "ark:$D/x.ark"
expect_error 1 'missing.ckpt' "$EMB" "$D/missing.ckpt" "scp:$D/all/wav.scp" "ark:$D/x.ark"
head -c 100 "$M" > "$D/trunc.ckpt"
expect_error 1 'trunc.ckpt' "$EMB" "$D/trunc.ckpt" "scp:$D/all/wav.scp" "ark:$D/x.ark"
cp "$M" "$D/flip.ckpt"; printf 'X' | dd of="$D/flip.ckpt" bs=1 seek=300 conv=notrunc 2>/dev/null
expect_error 1 'flip.ckpt' "$EMB" "$D/flip.ckpt" "scp:$D/all/wav.scp" "ark:$D/x.ark"
expect_error 1 'not a chorus checkpoint' "$EMB" "$D/all/wav.scp" "scp:$D/all/wav.scp" "ark:$D/x.ark"
[ -e "$D/x.ark" ] && cli_fail "a failed run left an ark"
: > "$D/empty.scp"
expect_error 1 'no utterances' "$EMB" "$M" "scp:$D/empty.scp" "ark:$D/x.ark"
printf 'onlykey\n' > "$D/malformed.scp"
expect_error 1 'malformed.scp' "$EMB" "$M" "scp:$D/malformed.scp" "ark:$D/x.ark"
expect_error 1 'nope.scp' "$EMB" "$M" "scp:$D/nope.scp" "ark:$D/x.ark"
expect_error 1 'nolist.txt' "$EMB" "$M" "list:$D/nolist.txt" "ark:$D/x.ark"
expect_error 2 'wav archives are not supported' "$EMB" "$M" "ark:$D/e1.ark" "ark:$D/x.ark"
expect_error 2 'chunk-s' "$EMB" --chunk-s abc "$M" "scp:$D/all/wav.scp" "ark:$D/x.ark"
expect_error 2 'chunk-hop-s' "$EMB" --chunk-s 1 --chunk-hop-s 2 "$M" "scp:$D/all/wav.scp" "ark:$D/x.ark"
expect_error 2 'average' "$EMB" --average median "$M" "scp:$D/all/wav.scp" "ark:$D/x.ark"
expect_error 2 '' "$EMB" "$M" "scp:$D/all/wav.scp"
expect_error 2 'scp' "$EMB" "$M" "scp:$D/all/wav.scp" "scp,ark:$D/a.scp,$D/a.ark"
expect_ok "$EMB" --help
grep -q 'chunk-hop-s' "$CLI_OUT" || cli_fail "--help lacks --chunk-hop-s"
grep -q 'vad-energy-threshold' "$CLI_OUT" || cli_fail "--help lacks the VAD thresholds"
echo "test_sv_embed: $cli_checks checks passed"
