#!/bin/sh
# test_kws_dist.sh — kws-train under mpirun (train/dist.h wired into train/trainer.c), on the
# small synthesised KWS corpus with a tiny model:
#  (a) --dist sync, 2 ranks == 1 rank with --grad-accum 2 (same seed): the same per-epoch loss
#      lines and bit-identical parameters and optimizer moments in the periodic checkpoints.
#      The BN running statistics differ by design (1 rank updates them once per micro-batch,
#      i.e. twice per step; 2 ranks once per step each, then average), so validation accuracy
#      may differ; the size of that difference is printed. The 2-rank run uses 1-kB buckets,
#      so its all-reduce starts on finished layers while backward runs (--dist-overlap); and
#      2 ranks x --grad-accum 2 give the same model with and without that overlap;
#  (b) --dist async and downpour, 1 server + 2 workers, learn: train loss well below the
#      no-learning level (lr 1e-9 run) and validation accuracy above what that run reaches;
#      --json reports staleness, bytes per step, global samples/s;
#  (c) a rank killed (SIGKILL) mid-run ends the job (no hang, mpirun names the rank); --resume
#      under mpirun continues from the last complete checkpoint and ends with the same model,
#      byte for byte, as an unbroken 2-rank run; an error of one rank is printed with its rank;
#  (d) bad layouts fail at start with one clear line and exit 2.
# Skips (77) without mpirun or when the build has no MPI.
. "$(dirname "$0")/cli_lib.sh"
KT="$CHORUS_BIN/kws-train"
for b in data-synth kws-train; do
    [ -x "$CHORUS_BIN/$b" ] || { echo "SKIP: $CHORUS_BIN/$b not built"; exit 77; }
done
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: no mpirun on PATH (OpenMPI not installed)"; exit 77; }
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
T="$CHORUS_TMP/kws_dist"; rm -rf "$T"; mkdir -p "$T"
export OMP_NUM_THREADS=1
# Under make asan: see tests/test_dist_mpi.sh (OpenMPI plugins and LSan)
export OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}fast_unwind_on_malloc=0"

# the corpus of tests/kws_fixture.sh (reused when a KWS test already made it)
DATA="$CHORUS_TMP/kws_fixture/data"
if [ ! -f "$DATA/validation_list.txt" ]; then
    DATA="$T/data"
    "$CHORUS_BIN/data-synth" --quiet --seed 1 --kws-speakers 10 --clips-per-word 2 \
        --noise-seconds 5 --kws "$DATA" > /dev/null \
        || { echo "SKIP: data-synth could not make the corpus (espeak-ng missing?)"; exit 77; }
fi

json_num() { tail -1 "$2" | sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
run_mpi() { # NP OUT args...: stdout to OUT, stderr to OUT.err
    np=$1; out=$2; shift 2
    timeout 120 $MPIRUN -np "$np" "$KT" "$@" > "$out" 2> "$out.err"
}
# ckcmp A B: "<params bit-identical 0/1> max|dparam| max|param| max|dbuffer| max|buffer|"
ckcmp() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import struct, sys
import numpy as np
def load(p):
    d = open(p, 'rb').read()
    tb, npar, nbuf = struct.unpack_from('<IQQ', d, 12)   # models/checkpoint.h header
    off = 40 + tb
    return (np.frombuffer(d, '<f4', npar, off), np.frombuffer(d, '<f4', nbuf, off + 4 * npar))
(pa, ba), (pb, bb) = load(sys.argv[1]), load(sys.argv[2])
db = float(np.abs(ba - bb).max()) if len(ba) else 0.0
print("%d %.3g %.3g %.3g %.3g" % (int(len(pa) == len(pb) and (pa == pb).all()),
      float(np.abs(pa - pb).max()), float(np.abs(pa).max()), db,
      float(np.abs(ba).max()) if len(ba) else 0.0))
PY
}
# statecmp A B: the optimizer state files (.state.0) equal except for the world-size field
# (bytes 88..91, checkpoint.h) and the CRC that covers it
statecmp() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
a, b = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
sys.exit(0 if len(a) == len(b) and a[:88] == b[:88] and a[92:-4] == b[92:-4] else 1)
PY
}

MO="stem-channels=4,blocks=1,layers=2,growth=4,transition-channels=8,lstm-hidden=8,attention-dim=8"
TINY="--threads 1 --num-mel-bins 20 --model-opts $MO"

# Is kws-train built with MPI? (without it every process is a world of 1)
run_mpi 2 "$T/probe.out" $TINY --epochs 1 --max-steps 1 --json "$DATA" "$T/probe.ckpt" \
    || { cat "$T/probe.out.err"; echo "FAIL: kws-train under mpirun -np 2"; exit 1; }
if [ "$(json_num world "$T/probe.out")" != 2 ]; then echo "SKIP: kws-train built without MPI (world 1 under mpirun)"; exit 77; fi

# ---- (a) sync, 2 ranks == 1 rank --grad-accum 2
C="$TINY --seed 5 --epochs 4 --batch 32 --checkpoint-every 2 --json"
expect_ok "$KT" $C --grad-accum 2 "$DATA" "$T/acc2.ckpt"
cp "$CLI_ERR" "$T/acc2.err"; cp "$CLI_OUT" "$T/acc2.out"
# 1-kB buckets: the gradient goes out in many buckets, started while backward runs (overlap)
run_mpi 2 "$T/r2.out" $C --bucket-kb 1 "$DATA" "$T/r2.ckpt" || { cat "$T/r2.out.err"; echo "FAIL: sync -np 2"; exit 1; }
grep 'train loss' "$T/acc2.err" | sed 's/, valid acc.*//' > "$T/acc2.loss"
grep 'train loss' "$T/r2.out.err" | sed 's/, valid acc.*//' > "$T/r2.loss"
[ "$(wc -l < "$T/r2.loss")" = 4 ] || { cat "$T/r2.out.err"; echo "FAIL: 2 ranks: expected 4 epoch lines (rank 0 only)"; exit 1; }
cmp -s "$T/acc2.loss" "$T/r2.loss" || { diff "$T/acc2.loss" "$T/r2.loss"; echo "FAIL: per-epoch loss differs"; exit 1; }
[ "$(json_num final_train_loss "$T/acc2.out")" = "$(json_num final_train_loss "$T/r2.out")" ] \
    || { echo "FAIL: final_train_loss $(json_num final_train_loss "$T/acc2.out") vs $(json_num final_train_loss "$T/r2.out")"; exit 1; }
ls "$T/r2.ckpt.ckpts" | grep -q '\.state\.1' && { echo "FAIL: rank 1 wrote checkpoint files"; exit 1; }
for s in 26 28; do
    f=$(printf 'ckpt-%09d.ckpt' $s)
    [ -f "$T/r2.ckpt.ckpts/DONE_$s" ] || { ls "$T/r2.ckpt.ckpts"; echo "FAIL: 2 ranks: no DONE_$s"; exit 1; }
    set -- $(ckcmp "$T/acc2.ckpt.ckpts/$f" "$T/r2.ckpt.ckpts/$f")
    [ "$1" = 1 ] || { echo "FAIL: step $s: 2-rank parameters differ from --grad-accum 2 by $2 (max |param| $3)"; exit 1; }
    statecmp "$T/acc2.ckpt.ckpts/$f.state.0" "$T/r2.ckpt.ckpts/$f.state.0" \
        || { echo "FAIL: step $s: optimizer state differs"; exit 1; }
    echo "step $s: parameters and AdamW moments bit-identical; BN running stats max|d| $4 (max $5)"
done
# the comparison can fail: one rank without accumulation is not bit-identical
expect_ok "$KT" $C "$DATA" "$T/acc1.ckpt"
set -- $(ckcmp "$T/acc1.ckpt.ckpts/ckpt-000000028.ckpt" "$T/r2.ckpt.ckpts/ckpt-000000028.ckpt")
[ "$1" = 0 ] || { echo "FAIL: --grad-accum 1 and 2 ranks agree bit for bit: the check above proves nothing"; exit 1; }
echo "ok: sync 2 ranks == 1 rank --grad-accum 2 (loss lines, params, moments); 1 rank without accumulation differs by $2"
echo "    valid accuracy: 1 rank $(json_num best_valid_accuracy "$T/acc2.out"), 2 ranks $(json_num best_valid_accuracy "$T/r2.out") (BN running stats differ, see above)"
# overlapped all-reduce with accumulation (each finished layer of the last micro-batch gets the
# earlier micro-batch's gradient added before it goes out) == all-reduce after backward
O="$TINY --seed 6 --epochs 2 --batch 32 --grad-accum 2 --bucket-kb 1"
run_mpi 2 "$T/ov.out" $O "$DATA" "$T/ov.ckpt" || { cat "$T/ov.out.err"; echo "FAIL: sync overlap"; exit 1; }
run_mpi 2 "$T/nov.out" $O --dist-overlap=false "$DATA" "$T/nov.ckpt" || { cat "$T/nov.out.err"; echo "FAIL: sync --dist-overlap=false"; exit 1; }
set -- $(ckcmp "$T/ov.ckpt" "$T/nov.ckpt")
[ "$1" = 1 ] || { echo "FAIL: overlapped and after-backward all-reduce differ by $2"; exit 1; }
echo "ok: 2 ranks x --grad-accum 2: overlapped bucket all-reduce == all-reduce after backward, bit for bit"
bps=$(json_num bytes_per_step "$T/r2.out"); np=$(json_num params "$T/r2.out")
[ "$bps" = $((4 * np)) ] || { echo "FAIL: sync bytes/step $bps, expected 4 x $np"; exit 1; }
grep -q '"dist":{"mode":"sync","world":2' "$T/r2.out" || { echo "FAIL: no dist report"; exit 1; }

# ---- (b) async and downpour: 1 server + 2 workers
P="$TINY --seed 3 --epochs 8 --batch 8 --spec-augment=false --noise-prob 0.3 --quiet --json --ps 1 --ps-momentum 0.9"
run_mpi 3 "$T/none.out" $P --epochs 2 --dist async --lr 1e-9 "$DATA" "$T/none.ckpt" \
    || { cat "$T/none.out.err"; echo "FAIL: async lr 1e-9"; exit 1; }
l0=$(json_num final_train_loss "$T/none.out"); a0=$(json_num best_valid_accuracy "$T/none.out")
ge "$l0" 2.45 || { echo "FAIL: without learning the train loss is $l0: the bar below proves nothing"; exit 1; }
ge 0.20 "$a0" || { echo "FAIL: without learning the valid accuracy is $a0: the bar below proves nothing"; exit 1; }
echo "no learning (lr 1e-9): train loss $l0, valid accuracy $a0"
for mode in "async" "downpour --n-fetch 2 --n-push 2"; do
    name=${mode%% *}
    t0=$(date +%s)
    run_mpi 3 "$T/$name.out" $P --dist $mode --lr 0.1 "$DATA" "$T/$name.ckpt" \
        || { cat "$T/$name.out.err"; echo "FAIL: $mode"; exit 1; }
    l=$(json_num final_train_loss "$T/$name.out"); a=$(json_num best_valid_accuracy "$T/$name.out")
    # measured: loss 1.9-2.2, accuracy 0.40-0.44 (25 valid clips, majority class 0.12)
    ge 2.30 "$l" || { echo "FAIL: $name: train loss $l > 2.30 (no learning: $l0)"; exit 1; }
    ge "$a" 0.28 || { echo "FAIL: $name: valid accuracy $a < 0.28 (no learning: $a0)"; exit 1; }
    ge "$a" "$a0" || { echo "FAIL: $name: valid accuracy $a below the no-learning run's $a0"; exit 1; }
    [ -s "$T/$name.ckpt" ] || { echo "FAIL: $name: no model written"; exit 1; }
    for k in samples_per_s compute_s comm_s wait_s staleness_mean staleness_max bytes_per_step; do
        [ -n "$(json_num $k "$T/$name.out")" ] || { echo "FAIL: $name: --json lacks $k"; exit 1; }
    done
    echo "ok: $mode: train loss $l, valid accuracy $a, $(json_num samples_per_s "$T/$name.out") samples/s, staleness mean $(json_num staleness_mean "$T/$name.out") max $(json_num staleness_max "$T/$name.out"), $(json_num bytes_per_step "$T/$name.out") bytes/step ($(( $(date +%s) - t0 )) s)"
done
ab=$(json_num bytes_per_step "$T/async.out"); db=$(json_num bytes_per_step "$T/downpour.out")
ge "$(awk -v a="$ab" 'BEGIN { print a * 0.55 }')" "$db" || { echo "FAIL: downpour moves $db bytes/step, async $ab"; exit 1; }
# every worker step is one push (mean steps per worker from the report)
pushes=$(tail -1 "$T/async.out" | sed -n 's/.*"pushes":\([0-9]*\).*/\1/p')
wsteps=$(json_num steps "$T/async.out")
[ "$pushes" = "$(awk -v s="$wsteps" 'BEGIN { printf "%d", 2 * s }')" ] \
    || { echo "FAIL: async: $pushes pushes, expected 2 workers x $wsteps steps"; exit 1; }

# ---- (c) kill one rank mid-run, then --resume
K="$C --quiet"
rm -rf "$T/k.ckpt" "$T/k.ckpt.ckpts"
timeout 120 $MPIRUN -np 2 "$KT" $K "$DATA" "$T/k.ckpt" > "$T/kill.out" 2> "$T/kill.err" &
mpi_pid=$!
i=0
while [ ! -f "$T/k.ckpt.ckpts/DONE_4" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
victim=""
for p in $(pgrep -f "kws-train .*$T/k.ckpt" || true); do
    if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$p; fi
done
[ -n "$victim" ] || { wait $mpi_pid; cat "$T/kill.err"; echo "FAIL: rank 1 not found running after DONE_4 (run too fast?)"; exit 1; }
kill -9 "$victim"
t0=$(date +%s)
wait $mpi_pid; rc=$?
dt=$(( $(date +%s) - t0 ))
[ $rc != 0 ] && [ $rc != 124 ] || { cat "$T/kill.err"; echo "FAIL: killed rank: exit $rc after ${dt}s (124 = hang)"; exit 1; }
grep -qE "rank 1 .*signal 9|rank 1.*Killed" "$T/kill.err" || { cat "$T/kill.err"; echo "FAIL: no message naming the killed rank"; exit 1; }
echo "ok: SIGKILL of rank 1 ended the job in ${dt}s: $(grep -m1 -E 'rank 1 .*signal 9|rank 1.*Killed' "$T/kill.err" | cut -c1-120)"
last=$(ls "$T/k.ckpt.ckpts" | sed -n 's/^DONE_//p' | sort -n | tail -1)
run_mpi 2 "$T/res.out" $C --resume "$DATA" "$T/k.ckpt" || { cat "$T/res.out.err"; echo "FAIL: --resume under mpirun"; exit 1; }
grep -q "resuming from .*step $last" "$T/res.out.err" || { cat "$T/res.out.err"; echo "FAIL: did not resume from step $last"; exit 1; }
# the unbroken run: (a)'s 2-rank run, same options
cmp -s "$T/r2.ckpt" "$T/k.ckpt" || { echo "FAIL: killed + resumed model differs from the unbroken run: $(ckcmp "$T/r2.ckpt" "$T/k.ckpt")"; exit 1; }
echo "ok: --resume from step $last under mpirun -> the unbroken run's model, byte for byte"
# an error of one rank: rank 0 cannot write its checkpoint folder -> "rank 0: ...", job ended
: > "$T/notadir"
timeout 120 $MPIRUN -np 2 "$KT" $TINY --epochs 1 --checkpoint-every 1 --checkpoint-dir "$T/notadir/x" \
    "$DATA" "$T/e.ckpt" > "$T/err.out" 2> "$T/err.err"; rc=$?
[ $rc = 1 ] || { cat "$T/err.err"; echo "FAIL: rank error: expected exit 1, got $rc"; exit 1; }
grep -q "^kws-train: rank 0: .*notadir" "$T/err.err" || { cat "$T/err.err"; echo "FAIL: error line does not name rank 0"; exit 1; }
echo "ok (1): $(grep -m1 '^kws-train: rank 0' "$T/err.err")"

# ---- (d) bad layouts and collective errors: one line, before training
one_line() { # NP CODE PATTERN args...
    np=$1; code=$2; pat=$3; shift 3
    timeout 60 $MPIRUN -np "$np" "$KT" "$@" > "$T/bad.out" 2> "$T/bad.err"; rc=$?
    [ $rc = "$code" ] || { cat "$T/bad.err"; echo "FAIL: expected exit $code, got $rc: -np $np $*"; exit 1; }
    n=$(grep -c '^kws-train: ' "$T/bad.err")
    [ "$n" = 1 ] || { cat "$T/bad.err"; echo "FAIL: expected one error line, got $n: -np $np $*"; exit 1; }
    line=$(grep '^kws-train: ' "$T/bad.err")
    echo "$line" | grep -qE -- "$pat" || { echo "FAIL: '$line' does not match '$pat'"; exit 1; }
    grep -q 'epoch' "$T/bad.err" && { echo "FAIL: trained before failing"; exit 1; }
    echo "ok ($rc): $line"
}
one_line 2 2 "--ps 2 leaves no worker in a world of 2 ranks" $TINY --dist async --ps 2 "$DATA" "$T/b.ckpt"
one_line 3 2 "--ps 3 leaves no worker in a world of 3 ranks" $TINY --dist downpour --ps 3 "$DATA" "$T/b.ckpt"
one_line 2 2 "--workers-per-node 3, but a node runs 2 ranks" $TINY --workers-per-node 3 "$DATA" "$T/b.ckpt"
one_line 3 2 "n-fetch / --n-push apply to --dist downpour" $TINY --dist async --n-fetch 4 "$DATA" "$T/b.ckpt"
one_line 2 2 "--grad-accum" $TINY --batch 2 --grad-accum 4 "$DATA" "$T/b.ckpt"
one_line 2 1 "nosuchdir" $TINY "$T/nosuchdir" "$T/b.ckpt"
expect_error 2 "^kws-train: --dist async needs at least 2 ranks" "$KT" $TINY --dist async "$DATA" "$T/b.ckpt"
expect_error 2 "^kws-train: --dist downpour needs at least 2 ranks" "$KT" $TINY --dist downpour "$DATA" "$T/b.ckpt"
echo "all kws dist checks passed"
