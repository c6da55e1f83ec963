#!/bin/sh
# bench/kws/accuracy.sh BUILD [EPOCHS] [-- OPTIONS...] — KWS real-data accuracy, chorus vs
# PyTorch: trains $BUILD/bin/kws-train and bench/kws/ref_train.py (the same DenseNet-BiLSTM,
# recipe and speaker-disjoint split; see its header) one after the other on the same data with
# the same epochs and threads, and prints
#
#   system    best valid acc   test acc   samples/s   wall s
#
# then writes the rows to bench/results/kws_accuracy.csv. Not part of `make bench` (it trains
# for real: about an hour per system for 40 epochs on 2 busy cores); hence not named run.sh.
#
# EPOCHS: default kws-train's default (read from its --help). OPTIONS after "--" go to BOTH
# trainers (they share option names: --batch, --lr, --noise-prob, --shift-ms, --model-opts, ...).
# Environment: DATA (default ../shared/data/speech-commands-v2-test-A), THREADS (2),
# VALID_PERCENT / TEST_PERCENT (11.667 / 1.333), SEED (1), SYSTEMS ("chorus pytorch"),
# LOGDIR (keep each system's stdout/stderr, JSON and the chorus model there; default a temp dir),
# REUSE=1 (with LOGDIR: a system whose finished run is already there is not run again, so the
# two can be run one at a time, e.g. SYSTEMS=pytorch, and then tabulated together).
#
# Why those percentages: this folder is the canonical v2 TEST set, whose speakers all hash into
# [10, 20) % (TF's which_set), so the default 10 / 10 would put every speaker in the test split
# and train on _silence_ alone. valid < 11.667 % then gives 21 validation speakers (413 clips),
# [11.667, 13) % 22 test speakers (440 clips), the other 100 speakers train (2082 clips).
# Both trainers print the split; the script stops if their counts differ.
set -u
BUILD=${1:-build}
shift 2>/dev/null || true
EPOCHS=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then EPOCHS=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
KT="$BUILD/bin/kws-train"
DATA=${DATA:-$ROOT/../shared/data/speech-commands-v2-test-A}
THREADS=${THREADS:-2}
VALID_PERCENT=${VALID_PERCENT:-11.667}
TEST_PERCENT=${TEST_PERCENT:-1.333}
SEED=${SEED:-1}
SYSTEMS=${SYSTEMS:-chorus pytorch}
PY=/usr/bin/python3
[ -x "$KT" ] || { echo "accuracy: $KT not built (make BUILD=... )" >&2; exit 1; }
[ -d "$DATA" ] || { echo "accuracy: $DATA: no such folder" >&2; exit 1; }
if [ -z "$EPOCHS" ]; then
    EPOCHS=$("$KT" --help 2>&1 | sed -n 's/^ *--epochs=INT.*(default: \([0-9]*\)).*/\1/p')
    [ -n "$EPOCHS" ] || EPOCHS=40
fi
case "$EPOCHS" in ''|*[!0-9]*) echo "accuracy: EPOCHS must be a positive integer, got '$EPOCHS'" >&2; exit 2 ;; esac
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$JEMALLOC" ] || { echo "accuracy: $JEMALLOC missing, PyTorch runs with glibc malloc" >&2; JEMALLOC=; }
if [ -n "${LOGDIR:-}" ]; then   # keep the logs, JSON and model there
    TMP=$LOGDIR; mkdir -p "$TMP" || exit 1
else
    TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
fi
COMMON="--epochs $EPOCHS --threads $THREADS --seed $SEED --valid-percent $VALID_PERCENT --test-percent $TEST_PERCENT"
echo "data $DATA, $EPOCHS epochs, $THREADS threads, valid/test percent $VALID_PERCENT/$TEST_PERCENT, extra: $*"

now() { date +%s.%N; }
# run_system NAME: trains, leaves the JSON summary in $TMP/NAME.json and the wall time in .wall
run_system() {
    name=$1; shift
    t0=$(now)
    if [ "$name" = chorus ]; then
        # shellcheck disable=SC2086
        "$KT" $COMMON --json "$@" "$DATA" "$TMP/model.ckpt" > "$TMP/chorus.out" 2> "$TMP/chorus.err"
    else
        # shellcheck disable=SC2086
        LD_PRELOAD=$JEMALLOC OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$THREADS \
            $PY bench/kws/ref_train.py $COMMON --json "$@" "$DATA" \
            > "$TMP/pytorch.out" 2> "$TMP/pytorch.err"
    fi
    rc=$?
    t1=$(now)
    echo "$t0 $t1" | awk '{printf "%.1f\n", $2 - $1}' > "$TMP/$name.wall"
    tail -n 1 "$TMP/$name.out" > "$TMP/$name.json"
    return $rc
}

failed=""
for sys in $SYSTEMS; do
    echo "== $sys"
    if [ -n "${LOGDIR:-}" ] && [ "${REUSE:-0}" = 1 ] && [ -s "$TMP/$sys.json" ] && [ -s "$TMP/$sys.wall" ]; then
        echo "  (REUSE=1: the run already in $TMP)"
        grep -E "train /|best valid" "$TMP/$sys.err" | sed 's/^/  /'
        continue
    fi
    if ! run_system "$sys" "$@"; then
        echo "accuracy: $sys failed:" >&2
        tail -n 5 "$TMP/$sys.err" >&2
        failed="$failed $sys"
        continue
    fi
    grep -E "train /|best valid" "$TMP/$sys.err" | sed 's/^/  /'
done

mkdir -p bench/results
$PY - "$TMP" "$EPOCHS" "$THREADS" "$VALID_PERCENT" "$TEST_PERCENT" $SYSTEMS <<'EOF'
import json, os, re, sys
tmp, epochs, threads, vp, tp = sys.argv[1:6]
systems = sys.argv[6:]
rows, counts = [], {}
for s in systems:
    try:
        j = json.loads(open(os.path.join(tmp, s + ".json")).read())
        wall = float(open(os.path.join(tmp, s + ".wall")).read())
    except (OSError, ValueError):
        continue
    err = open(os.path.join(tmp, s + ".err")).read()
    m = re.search(r"(\d+) train / (\d+) valid / (\d+) test", err)
    counts[s] = tuple(map(int, m.groups())) if m else None
    rows.append((s, j, wall))
print("%-8s %15s %9s %10s %8s %6s %8s" % ("system", "best valid acc", "test acc", "samples/s",
                                           "wall s", "epoch", "params"))
for s, j, wall in rows:
    print("%-8s %14.2f%% %8.2f%% %10.1f %8.0f %6d %8d" % (
        s, 100 * j["best_valid_accuracy"], 100 * j["test_accuracy"], j["samples_per_s"], wall,
        j["best_epoch"], j["params"]))
if len(rows) == 2:
    a, b = rows[0][1], rows[1][1]
    print("valid acc difference %s - %s: %+.2f points; speed ratio %.2fx" % (
        rows[0][0], rows[1][0], 100 * (a["best_valid_accuracy"] - b["best_valid_accuracy"]),
        a["samples_per_s"] / b["samples_per_s"] if b["samples_per_s"] else float("nan")))
with open("bench/results/kws_accuracy.csv", "w") as f:
    f.write("system,epochs,threads,valid_percent,test_percent,n_train,n_valid,n_test,"
            "best_valid_accuracy,best_epoch,test_accuracy,samples_per_s,wall_s,params\n")
    for s, j, wall in rows:
        c = counts.get(s) or ("", "", "")
        f.write("%s,%s,%s,%s,%s,%s,%s,%s,%.6f,%d,%.6f,%.2f,%.1f,%d\n" % (
            s, epochs, threads, vp, tp, c[0], c[1], c[2], j["best_valid_accuracy"],
            j["best_epoch"], j["test_accuracy"], j["samples_per_s"], wall, j["params"]))
known = {s: c for s, c in counts.items() if c}
if len(set(known.values())) > 1:
    print("accuracy: the two splits differ: %s" % known, file=sys.stderr)
    sys.exit(1)
EOF
rc=$?
echo "wrote bench/results/kws_accuracy.csv"
[ -z "$failed" ] || { echo "failed:$failed"; exit 1; }
exit $rc
