#!/bin/sh
# test_bad_input.sh — every command of the foundation (feat-extract, data-synth) fed bad input:
# missing, empty, truncated, corrupt, non-audio, stereo, 8/44.1/48 kHz, very short and very
# long (10 min) audio, as direct files, as wav.scp entries and through wav.scp pipes; malformed
# wav.scp files, wav archives given as input, malformed and unwritable output specifiers; bad
# flags and config files. Each must give one clear line naming the file and the problem and a
# non-zero exit, or a documented conversion (resampled / mixed down, said once on stderr) with
# the right number of frames. Never a crash: cli_lib.sh fails on signals and on sanitizer
# reports, so under `make asan` this is also the memory check of the error paths.
# Audio fixtures: tests/bad_audio.h, written by `test_audio --make-fixtures DIR`.
. "$(dirname "$0")/cli_lib.sh"
FE="$CHORUS_BIN/feat-extract"
DS="$CHORUS_BIN/data-synth"
TA="$CHORUS_BUILD/tests/test_audio"
for b in "$FE" "$DS" "$TA"; do [ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }; done
D="$CHORUS_TMP/bad_input.$$"
rm -rf "$D"; mkdir -p "$D"
"$TA" --make-fixtures "$D/fx" > "$D/cases.tsv" || { echo "FAIL: fixtures not written"; exit 1; }
n_cases=$(wc -l < "$D/cases.tsv")
[ "$n_cases" -ge 15 ] || { echo "FAIL: only $n_cases fixtures"; exit 1; }
TAB=$(printf '\t')

# frames of N samples at 16 kHz with Kaldi's defaults (25 ms / 10 ms, snip-edges)
frames() { if [ "$1" -lt 400 ]; then echo 0; else echo $(( ($1 - 400) / 160 + 1 )); fi; }
# samples at 16 kHz each valid fixture gives (bad_audio.h: 1 s sine, short 100, long 600 s)
samples_of() { case "$1" in short100) echo 100 ;; long10min) echo 9600000 ;; *) echo 16000 ;; esac; }
json_field() { tail -1 "$CLI_OUT" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
# the WARNING line for utterance key must name the path and contain the expected problem
expect_warning() { # key path msg
    line=$(grep "^WARNING: utterance $1 " "$CLI_ERR" | head -1)
    [ -n "$line" ] || cli_fail "no warning for utterance $1"
    case "$line" in *"$2"*) ;; *) cli_fail "warning does not name $2: $line" ;; esac
    [ "$3" = "-" ] || case "$line" in *"$3"*) ;; *) cli_fail "warning lacks '$3': $line" ;; esac
    [ "$(grep -c "^WARNING: utterance $1 " "$CLI_ERR")" = 1 ] || cli_fail "utterance $1 warned twice"
}

# ---- 1. each fixture as a direct file
n_ok=0; n_bad=0
while IFS="$TAB" read -r name path expect msg; do
    if [ "$name" = short100 ]; then
        # shorter than one frame: an error with snip-edges, one padded frame without
        expect_error 1 "Done 0 out of 1" "$FE" --dither=0 "$path" ark:"$D/o.ark"
        expect_warning short100 "$path" "too short: 100 samples"
        expect_ok "$FE" --dither=0 --snip-edges=false --json "$path" ark:"$D/o.ark"
        [ "$(json_field frames)" = 1 ] || cli_fail "short100 without snip-edges: $(tail -1 "$CLI_OUT")"
        n_bad=$((n_bad + 1))
    elif [ "$expect" = ok ]; then
        expect_ok "$FE" --dither=0 --json "$path" ark:"$D/o.ark"
        want=$(frames "$(samples_of "$name")")
        [ "$(json_field frames)" = "$want" ] || cli_fail "$name: $(tail -1 "$CLI_OUT"), want $want frames"
        case "$name" in
            mono8k|mono44k|mono48k)
                grep -q "note: $name is at [0-9]* Hz: resampled to 16000 Hz" "$CLI_ERR" || cli_fail "$name: resampling not said" ;;
            stereo16k)
                grep -q "note: $name has 2 channels: mixed down to mono" "$CLI_ERR" || cli_fail "$name: mixdown not said" ;;
            *)
                grep -q "note:" "$CLI_ERR" && cli_fail "$name: a conversion note for a file that needs none" ;;
        esac
        echo "ok: $name -> $want frames"
        n_ok=$((n_ok + 1))
    else
        expect_error 1 "Done 0 out of 1 utterances" "$FE" --dither=0 "$path" ark:"$D/o.ark"
        expect_warning "$(basename "${path%.*}")" "$path" "$msg"
        # --quiet hides warnings, so the error line itself must still say which and why
        expect_error 1 "1 of 1 utterances failed, first: .*$path" "$FE" --quiet --dither=0 "$path" ark:"$D/o.ark"
        n_bad=$((n_bad + 1))
    fi
done < "$D/cases.tsv"
echo "direct files: $n_ok converted or read, $n_bad rejected"
[ "$n_ok" -ge 8 ] && [ "$n_bad" -ge 7 ] || cli_fail "fixture table changed: $n_ok ok, $n_bad bad"

# ---- 2. all fixtures in one wav.scp (parallel chunk, dither on): the good ones are written,
# every bad one is warned once by key and path, the count is right, and the output does not
# depend on the thread count (failed utterances consume no dither state)
cut -f1,2 "$D/cases.tsv" | tr "$TAB" ' ' > "$D/all.scp"
want_done=$((n_ok))
expect_error 1 "Done $want_done out of $n_cases utterances" "$FE" --threads=2 scp:"$D/all.scp" ark,scp:"$D/all2.ark","$D/all2.scp"
while IFS="$TAB" read -r name path expect msg; do
    [ "$expect" = ok ] && continue
    expect_warning "$name" "$path" "$msg"
done < "$D/cases.tsv"
[ "$(grep -c "note: .* resampled" "$CLI_ERR")" = 1 ] || cli_fail "resampling not said exactly once"
grep -q "resampled 3 file(s) to 16000 Hz" "$CLI_ERR" || cli_fail "resampling summary"
[ "$(grep -c "note: .* mixed down" "$CLI_ERR")" = 1 ] || cli_fail "mixdown not said exactly once"
[ "$(wc -l < "$D/all2.scp")" = "$want_done" ] || cli_fail "scp has $(wc -l < "$D/all2.scp") entries"
expect_error 1 "Done $want_done out of" "$FE" --threads=1 scp:"$D/all.scp" ark:"$D/all1.ark"
cmp -s "$D/all1.ark" "$D/all2.ark" || cli_fail "output with failures depends on the thread count"
expect_ok "$FE" --quiet --max-failures="$((n_cases - want_done))" scp:"$D/all.scp" ark:"$D/all3.ark"
[ -s "$CLI_ERR" ] && cli_fail "--quiet printed: $(head -1 "$CLI_ERR")"
expect_error 1 "failed, first: utterance" "$FE" --quiet --max-failures="$((n_cases - want_done - 1))" scp:"$D/all.scp" ark:"$D/all3.ark"
echo "ok: scp with all fixtures: $want_done of $n_cases written, same bytes for 1 and 2 threads"

# ---- 3. wav.scp pipes (Kaldi's "command |"): the output is the audio; failures are named
mono8k=$(grep "^mono8k$TAB" "$D/cases.tsv" | cut -f2)
notaudio=$(grep "^notaudio$TAB" "$D/cases.tsv" | cut -f2)
printf 'good cat %s |\nfails false |\nsilent true |\njunk cat %s |\n' "$mono8k" "$notaudio" > "$D/pipes.scp"
expect_error 1 "Done 1 out of 4" "$FE" --dither=0 scp:"$D/pipes.scp" ark:"$D/p.ark"
expect_warning fails "false |" "command failed (exit status 1)"
expect_warning silent "true |" "command wrote no data"
expect_warning junk "cat $notaudio |" "not readable audio"
expect_ok "$FE" --dither=0 "$mono8k" ark,t:"$D/direct.txt"
printf 'good cat %s |\n' "$mono8k" > "$D/pipe1.scp"
expect_ok "$FE" --dither=0 scp:"$D/pipe1.scp" ark,t:"$D/pipe1.txt"
sed '1s/^[^ ]*//' "$D/direct.txt" > "$D/a.txt"; sed '1s/^[^ ]*//' "$D/pipe1.txt" > "$D/b.txt"
[ "$(wc -l < "$D/a.txt")" -gt 90 ] && cmp -s "$D/a.txt" "$D/b.txt" || cli_fail "pipe and file give different features"
echo "ok: wav.scp pipes"

# ---- 4. malformed wav.scp files
expect_error 1 "nothere.scp: cannot open" "$FE" scp:"$D/nothere.scp" ark:"$D/o.ark"
expect_error 1 "fx: is a directory" "$FE" scp:"$D/fx" ark:"$D/o.ark"
: > "$D/empty.scp"
expect_error 1 "empty.scp: no utterances" "$FE" scp:"$D/empty.scp" ark:"$D/o.ark"
printf '\n   \n\t\n' > "$D/blank.scp"
expect_error 1 "blank.scp: no utterances" "$FE" scp:"$D/blank.scp" ark:"$D/o.ark"
printf 'a %s\nb   \n' "$mono8k" > "$D/novalue.scp"
expect_error 1 "novalue.scp:2: key 'b' has no value" "$FE" scp:"$D/novalue.scp" ark:"$D/o.ark"
printf 'a %s\nb %s\na %s\n' "$mono8k" "$mono8k" "$mono8k" > "$D/dup.scp"
expect_error 1 "dup.scp:3: duplicate key 'a' \(first on line 1\)" "$FE" scp:"$D/dup.scp" ark:"$D/o.ark"
expect_error 1 "all1.ark:1: binary data .*is this an ark" "$FE" scp:"$D/all1.ark" ark:"$D/o.ark"
printf 'a %s\r\nb %s\r\n' "$mono8k" "$mono8k" > "$D/crlf.scp"     # Windows line ends: accepted
expect_ok "$FE" --dither=0 scp:"$D/crlf.scp" ark:"$D/o.ark"
mkdir -p "$D/with space"; cp "$mono8k" "$D/with space/x.wav"          # value = rest of the line
printf 'sp %s\n' "$D/with space/x.wav" > "$D/space.scp"
expect_ok "$FE" --dither=0 scp:"$D/space.scp" ark:"$D/o.ark"
echo "ok: malformed wav.scp files"

# ---- 5. archives as input, malformed / unwritable outputs (nothing half-written is left)
expect_error 2 "wav archives are not supported" "$FE" ark:"$D/all1.ark" ark:"$D/o.ark"
expect_error 2 "not a wspecifier" "$FE" "$mono8k" "$D/out.ark"
expect_error 2 "needs two files" "$FE" "$mono8k" ark,scp:"$D/out.ark"
expect_error 2 "unknown wspecifier option 'bogus'" "$FE" "$mono8k" ark,bogus:"$D/out.ark"
expect_error 2 "no file name" "$FE" "$mono8k" ark:
expect_error 1 "/dev/null/x.ark: cannot create" "$FE" "$mono8k" ark:/dev/null/x.ark
expect_error 1 "$D/nodir/x.ark: cannot create" "$FE" "$mono8k" ark:"$D/nodir/x.ark"
ls "$D"/*.tmp.* > /dev/null 2>&1 && cli_fail "temporary files left behind"
[ -e "$D/out.ark" ] && cli_fail "an ark was written after a usage error"
echo "ok: archives and output specifiers"

# ---- 6. bad flags and config files (exit 2, one line naming the option or file)
expect_error 2 "num-mel-bins: 'x' is not an integer" "$FE" --num-mel-bins=x "$mono8k" ark:"$D/o.ark"
expect_error 2 "num-mel-bins: 0 is out of range" "$FE" --num-mel-bins=0 "$mono8k" ark:"$D/o.ark"
expect_error 2 "dither: 'nan' is not a finite number" "$FE" --dither=nan "$mono8k" ark:"$D/o.ark"
expect_error 2 "feature-type: 'plp' is not one of" "$FE" --feature-type=plp "$mono8k" ark:"$D/o.ark"
expect_error 2 "sample-frequency" "$FE" --sample-frequency=0 "$mono8k" ark:"$D/o.ark"
expect_error 2 "high-freq" "$FE" --low-freq=9000 "$mono8k" ark:"$D/o.ark"
expect_error 2 "unknown option '--bogus'" "$FE" --bogus "$mono8k" ark:"$D/o.ark"
expect_error 2 "wrong number of arguments: 1 \(usage: feat-extract .*see feat-extract --help\)" "$FE" "$mono8k"
stereo=$(grep "^stereo16k$TAB" "$D/cases.tsv" | cut -f2)
expect_error 1 "Done 0 out of 1" "$FE" --channel=5 "$stereo" ark:"$D/o.ark"
expect_warning stereo16k "$stereo" "channel 5 requested but the file has 2 channels"
expect_ok "$FE" --channel=1 "$stereo" ark:"$D/o.ark"   # one channel: no mixdown note
grep -q "mixed down" "$CLI_ERR" && cli_fail "--channel=1 still mixed down"
printf -- '--num-mel-bins=40\n# a comment\n--bogus=1\n' > "$D/bad.conf"
expect_error 2 "bad.conf:3: unknown option 'bogus'" "$FE" --config="$D/bad.conf" "$mono8k" ark:"$D/o.ark"
printf 'num-mel-bins=4\0\n' > "$D/bin.conf"
expect_error 2 "bin.conf:1: binary data" "$FE" --config="$D/bin.conf" "$mono8k" ark:"$D/o.ark"
expect_error 2 "nothere.conf: cannot open config file" "$FE" --config="$D/nothere.conf" "$mono8k" ark:"$D/o.ark"
expect_error 2 "is a directory, not a config file" "$FE" --config="$D/fx" "$mono8k" ark:"$D/o.ark"
echo "ok: feat-extract flags and configs"

# ---- 7. data-synth: bad flags, configs and output folders
SMALL="--quiet --kws-speakers 3 --clips-per-word 1 --noise-seconds 1"
expect_error 2 "kws-speakers: 'abc' is not an integer" "$DS" --kws-speakers abc --kws "$D/k"
expect_error 2 "kws-speakers: '3.5' is not an integer" "$DS" --kws-speakers 3.5 --kws "$D/k"
expect_error 2 "snr-min: 'nan' is not a finite number" "$DS" --snr-min nan --kws "$D/k"
expect_error 2 "noise-seconds: 'inf' is not a finite number" "$DS" --noise-seconds inf --kws "$D/k"
expect_error 2 "seed: -1 is out of range" "$DS" --seed -1 --kws "$D/k"
expect_error 2 "kws: missing value" "$DS" --kws
expect_error 2 "no output folder" "$DS" --kws ""
expect_error 2 "give two different folders" "$DS" $SMALL --kws "$D/same" --speakers "$D/same"
[ -e "$D/same" ] && cli_fail "data-synth wrote before rejecting its options"
expect_error 2 "bin.conf:1: binary data" "$DS" --config "$D/bin.conf" --kws "$D/k"
expect_error 2 "is a directory, not a config file" "$DS" --config "$D/fx" --kws "$D/k"
expect_error 1 "fx: exists and is not empty \(use --force\)" "$DS" $SMALL --kws "$D/fx"
expect_error 1 "mono8k.wav: exists and is not a directory" "$DS" $SMALL --kws "$mono8k"
expect_error 1 "/dev/null/sub: cannot create directory: Not a directory" "$DS" $SMALL --kws /dev/null/sub
expect_error 1 "cannot create directory" "$DS" $SMALL --speakers /proc/chorus-no-such/sv
[ -e "$D/k" ] && cli_fail "data-synth created an output folder on a usage error"
echo "ok: data-synth flags and folders"

# ---- 8. very long audio through a wav.scp with CMVN + VAD (the 10-minute fixture)
long=$(grep "^long10min$TAB" "$D/cases.tsv" | cut -f2)
if [ -n "$long" ]; then
    printf 'long %s\n' "$long" > "$D/long.scp"
    expect_ok "$FE" --feature-type=mfcc --dither=0 --cmvn=sliding --json scp:"$D/long.scp" ark:"$D/long.ark"
    [ "$(json_field frames)" = 59998 ] || cli_fail "10-minute file: $(tail -1 "$CLI_OUT")"
    echo "ok: 10 minutes -> 59998 frames"
fi

echo "$cli_checks checks passed"
rm -rf "$D"
