#!/bin/sh
# test_feat_extract.sh — feat-extract end to end: Kaldi archive output equal to the torchaudio
# reference (fbank-80, MFCC) on synthesised speech and on the real FLAC clips of ../shared/data
# (when present), scp and positional inputs, dither determinism across thread
# counts, VAD / CMVN options, bad utterances (warn, skip, "Done N out of M", exit 1 unless
# --max-failures) and bad usage (exit 2). Needs the dumps of tests/ref/kaldi_features.py.
. "$(dirname "$0")/cli_lib.sh"
FE="$CHORUS_BIN/feat-extract"
REF="$CHORUS_REF/kaldi_features.bin"
[ -x "$FE" ] || { echo "SKIP: $FE not built"; exit 77; }
[ -f "$REF" ] || { echo "SKIP: $REF missing (reference script not run)"; exit 77; }
D="$CHORUS_TMP/feat_extract"; mkdir -p "$D"
A="$CHORUS_REF/feat_audio"
printf 'synth %s\nshort %s\n' "$A/synth.wav" "$A/short.wav" > "$D/wav.scp"

# compare.py ARK KEY REFNAME MAXTOL MEANTOL: reads our binary ark (BFM) and the CHTENSOR dump.
cat > "$D/compare.py" <<'PY'
import struct, sys, numpy as np
sys.path.insert(0, sys.argv[6])
ark, key, refname, maxtol, meantol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
def read_ark(p):
    out, b, i = {}, open(p, "rb").read(), 0
    while i < len(b):
        j = b.index(b" ", i); k = b[i:j].decode(); i = j + 1
        assert b[i:i+2] == b"\0B" and b[i+2:i+5] == b"FM ", "not a binary float matrix"
        i += 5; _, r, _, c = struct.unpack("<bibi", b[i:i+10]); i += 10
        out[k] = np.frombuffer(b[i:i+4*r*c], "<f4").reshape(r, c); i += 4*r*c
    return out
def read_ref(p, name):
    b = open(p, "rb").read(); assert b[:8] == b"CHTENSOR"; n = struct.unpack("<I", b[8:12])[0]; i = 12
    for _ in range(n):
        l = struct.unpack("<I", b[i:i+4])[0]; nm = b[i+4:i+4+l].decode(); i += 4 + l
        nd = struct.unpack("<I", b[i:i+4])[0]; dims = struct.unpack("<%dq" % nd, b[i+4:i+4+8*nd]); i += 4 + 8*nd
        cnt = int(np.prod(dims)) if nd else 1
        if nm == name: return np.frombuffer(b[i:i+4*cnt], "<f4").reshape(dims)
        i += 4*cnt
    raise KeyError(name)
a = read_ark(ark)[key]; r = read_ref(sys.argv[7], refname)
assert a.shape == r.shape, (a.shape, r.shape)
d = np.abs(a.astype(np.float64) - r)
print("%s %s vs %s: %s max|d| %.3g mean|d| %.3g" % (ark, key, refname, a.shape, d.max(), d.mean()))
sys.exit(0 if d.max() <= maxtol and d.mean() <= meantol else 1)
PY
cmp_ref() { /usr/bin/python3 "$D/compare.py" "$1" "$2" "$3" 1e-2 1e-4 "$CHORUS_ROOT/tests/ref" "$REF" || cli_fail "parity $1 $2 $3"; }

# parity through the whole command (audio_read -> features -> ark,scp); tolerances as
# tests/test_features.c (BENCH.md bar)
expect_ok "$FE" --feature-type=fbank --num-mel-bins=80 --dither=0 scp:"$D/wav.scp" ark,scp:"$D/fb.ark","$D/fb.scp"
cmp_ref "$D/fb.ark" synth synth/fbank80_snip
cmp_ref "$D/fb.ark" short short/fbank80_snip
grep -q "^synth $D/fb.ark:" "$D/fb.scp" || cli_fail "scp does not index the ark"
expect_ok "$FE" --feature-type=mfcc --dither=0 --snip-edges=false "$A/synth.wav" ark:"$D/mfcc.ark"
cmp_ref "$D/mfcc.ark" synth synth/mfcc13_nosnip   # key = basename; MFCC defaults use-energy=true

# real speech straight from the FLAC files of ../shared/data (libsndfile decode -> features)
# against torchaudio on the same clips; skipped, and said so, without ../shared
if [ -s "$A/real_flac.scp" ]; then
    expect_ok "$FE" --feature-type=fbank --num-mel-bins=80 --dither=0 scp:"$A/real_flac.scp" ark:"$D/real80.ark"
    expect_ok "$FE" --feature-type=mfcc --dither=0 scp:"$A/real_flac.scp" ark:"$D/realmfcc.ark"
    while read -r key path; do
        cmp_ref "$D/real80.ark" "$key" "$key/fbank80_snip"
        cmp_ref "$D/realmfcc.ark" "$key" "$key/mfcc13_snip"
    done < "$A/real_flac.scp"
else
    echo "SKIP part: real FLAC speech (../shared/data absent when the reference was written)"
fi

# default dither=1: Kaldi's rand() sequence carried across utterances; same bytes for 1 and 2
# threads and between runs
expect_ok "$FE" --feature-type=mfcc --threads=1 scp:"$D/wav.scp" ark:"$D/d1.ark"
expect_ok "$FE" --feature-type=mfcc --threads=2 scp:"$D/wav.scp" ark:"$D/d2.ark"
cmp "$D/d1.ark" "$D/d2.ark" || cli_fail "dithered output depends on the thread count"
cmp -s "$D/d1.ark" "$D/mfcc.ark" && cli_fail "dither had no effect"

# VAD drops frames (0.3 s of digital silence in synth); CMVN changes values; text output
expect_ok "$FE" --feature-type=mfcc --dither=0 --vad --cmvn=sliding --center=true --cmn-window=300 "$A/synth.wav" ark,t:"$D/vad.txt"
rows_vad=$(grep -c '^ *[-0-9]' "$D/vad.txt")
expect_ok "$FE" --feature-type=mfcc --dither=0 "$A/synth.wav" ark,t:"$D/all.txt"
rows_all=$(grep -c '^ *[-0-9]' "$D/all.txt")
echo "VAD kept $rows_vad of $rows_all frames"
[ "$rows_vad" -lt "$rows_all" ] && [ "$rows_vad" -gt $((rows_all / 4)) ] || cli_fail "VAD kept $rows_vad of $rows_all"
expect_ok "$FE" --dither=0 --vad "$A/synth.wav" ark:"$D/fbvad.ark"  # fbank without energy: separate energy

# bad utterances: warned by name, skipped, counted; exit 1 unless --max-failures allows
printf 'synth %s\nmissing %s\ntiny %s\n' "$A/synth.wav" "$D/nope.wav" "$D/tiny.wav" > "$D/bad.scp"
head -c 100 "$A/short.wav" > "$D/tiny.wav"
expect_error 1 "Done 1 out of 3" "$FE" --dither=0 scp:"$D/bad.scp" ark:"$D/bad.ark"
grep -q "WARNING: utterance missing" "$CLI_ERR" || cli_fail "no warning naming the utterance"
expect_ok "$FE" --dither=0 --max-failures=2 --json scp:"$D/bad.scp" ark:"$D/bad.ark"
tail -1 "$CLI_OUT" | grep -q '"done":1,"total":3,"failed":2' || cli_fail "json: $(tail -1 "$CLI_OUT")"

# bad usage: exit 2 with one line
expect_error 2 "num-mel-bins" "$FE" --num-mel-bins=abc scp:"$D/wav.scp" ark:"$D/x.ark"
expect_error 2 "." "$FE" scp:"$D/wav.scp"
expect_error 2 "num-ceps" "$FE" --feature-type=mfcc --num-ceps=40 scp:"$D/wav.scp" ark:"$D/x.ark"
expect_error 1 "nothere.scp" "$FE" scp:"$D/nothere.scp" ark:"$D/x.ark"
expect_ok "$FE" --help
grep -q -- "--num-mel-bins" "$CLI_OUT" || cli_fail "--help lacks --num-mel-bins"
echo "$cli_checks checks passed"
