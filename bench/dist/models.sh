#!/bin/sh
# bench/dist/models.sh BUILD — plain async vs Downpour SGD with the REAL models through the real
# commands, on 3 hosts made with network namespaces (../shared/tools/netns_cluster.sh) whose
# links are capped by a tc token bucket (RATES: Mbit/s per host, default 10; a list runs each):
#   kws: kws-train, densenet-bilstm with small --model-opts, on a data-synth --kws corpus;
#   sv:  sv-train, tdnn with small --model-opts and --chunk-s 1, on a data-synth --speakers corpus;
#   svr: sv-train, the thin resnet (channels=4), same corpus (add it to MODELS: not run by
#        default, its compute per sample makes the sweep several times longer).
# Each model runs 1 parameter server + 2 workers (one per host, --threads 1) with --ps-optim
# adagrad, the same seed, --epochs and --batch (so the same number of samples) as
#   plain async (--dist async --ps 1), and Downpour with --n-fetch = --n-push = F for F in
#   $FETCHES (default "1 4 16"; F = 1 is Downpour's degenerate case and should match async).
# Per run it reports: job samples/s (dist report), its ratio to plain async, staleness mean/max,
# bytes moved per worker step, the kept model's validation metric (KWS: accuracy, higher is
# better; SV: EER, lower is better) and its difference to async, and the wall seconds from launch
# until the per-epoch validation line first reached a target (stderr lines are time-stamped as
# they arrive; "-": never reached). The target is, unless KWS_TARGET / SV_TARGET (in %) say
# otherwise, plain async's best validation metric loosened by SLACK points (default 3: accuracy
# minus 3, EER plus 3), i.e. "as good as async, within the validation sets' noise".
# Unless SYNC=0: each model also runs sync data parallel (2 workers, no server, the trainer's
# AdamW at KWS_SYNC_LR / SV_SYNC_LR) over the same capped link, same samples; and at the end the
# KWS model's sync scaling, 1 rank vs 2 hosts on an uncapped link. Unless OVERLAP=0: the KWS
# model's sync all-reduce overlapped with backward vs after it, 2 hosts at OVERLAP_MBIT (20).
# Prints one row per run and writes bench/results/dist_models.csv.
# Needs root, `ip netns`, bash and mpirun; NETNS=0 skips. Env knobs: RATES, FETCHES, KWS_EPOCHS,
# SV_EPOCHS, KWS_BATCH, SV_BATCH, KWS_LR, SV_LR (async and Downpour), DP_EXTRA (more Downpour
# options, e.g. --local-update), DP_LR (Downpour's lr if it
# should differ), KWS_SYNC_LR, SV_SYNC_LR, KWS_TARGET, SV_TARGET, SVR_EPOCHS (8), SVR_TARGET,
# SLACK, MODELS ("kws sv"; "kws sv svr" adds the resnet), SYNC,
# SYNC_EPOCHS, LOGS (a folder to keep every run's stdout and time-stamped stderr in).
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
KT="$BUILD/bin/kws-train"; SVT="$BUILD/bin/sv-train"; DS="$BUILD/bin/data-synth"
for b in "$KT" "$SVT" "$DS"; do
    [ -x "$b" ] || { echo "dist models: $b not built (make)"; exit 1; }
done
command -v mpirun >/dev/null 2>&1 || { echo "dist models: no mpirun: skipped"; exit 0; }
NS="$ROOT/../shared/tools/netns_cluster.sh"
if [ "${NETNS:-1}" = 0 ] || [ ! -f "$NS" ] || [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1 \
    || ! command -v bash >/dev/null 2>&1; then
    echo "dist models: netns part skipped (needs root, ip, bash and $NS; NETNS=${NETNS:-1})"
    exit 0
fi

RATES=${RATES:-10}
FETCHES=${FETCHES:-"1 4 16"}
MODELS=${MODELS-"kws sv"}
KWS_EPOCHS=${KWS_EPOCHS:-12}; KWS_BATCH=${KWS_BATCH:-16}; KWS_LR=${KWS_LR:-0.3}
SV_EPOCHS=${SV_EPOCHS:-16}; SV_BATCH=${SV_BATCH:-16}; SV_LR=${SV_LR:-0.05}
SVR_EPOCHS=${SVR_EPOCHS:-8}
KWS_SYNC_LR=${KWS_SYNC_LR:-0.005}; SV_SYNC_LR=${SV_SYNC_LR:-0.002}
SLACK=${SLACK:-3}
# the small keyword model every KWS run here trains, and the sync sections' run of it
KWS_SMALL="--threads 1 --num-mel-bins 20 --model-opts stem-channels=8,blocks=2,layers=2,growth=8,transition-channels=16,lstm-hidden=24,attention-dim=16"
SYNC_KWS="$KWS_SMALL --seed 1 --epochs ${SYNC_EPOCHS:-2} --batch 32 --json"
fails=0
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
TMP=$(mktemp -d)
# the namespaces, bridge and veths are machine-wide: always take them down again
cleanup() {
    bash "$NS" down > /dev/null 2>&1
    [ -n "${LOGS:-}" ] && mkdir -p "$LOGS" && cp "$TMP"/*.out "$TMP"/*.err "$LOGS"/ 2> /dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p bench/results
CSV=bench/results/dist_models.csv
echo "model,mode,link_mbit,epochs,batch,samples_per_s,ratio_vs_async,worker_comm_pct,staleness_mean,staleness_max,bytes_per_step,metric,best_valid,delta_vs_async_pt,target_pct,time_to_target_s,test_metric,wall_s" > "$CSV"
jnum() { tail -1 "$2" | sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p"; }
now() { date +%s.%N; }
# stamp: prefixes every line with the time it arrived (a shell loop: `read` takes a line as soon
# as it is written, where mawk would wait for a full input block)
stamp() { while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done; }

# ---- corpora (a few seconds): larger than the tests' so validation resolves a few points
t_all=$(now)
"$DS" --quiet --seed 1 --threads 2 --kws-speakers 40 --clips-per-word 2 --noise-seconds 5 \
    --kws "$TMP/kws" > /dev/null || { echo "dist models: data-synth --kws failed"; exit 1; }
"$DS" --quiet --seed 3 --threads 2 --sv-speakers 40 --utts-per-speaker 10 --speakers "$TMP/sv" \
    > /dev/null || { echo "dist models: data-synth --speakers failed"; exit 1; }

# run_ps NP NAME BIN ARGS...: NP ranks over the hosts, one per host; stdout -> NAME.out, time-stamped
# stderr -> NAME.err, wall seconds -> NAME.wall. One retry: ORTE's wire-up over fresh
# namespaces occasionally fails to route to a daemon.
run_ps() {
    np=$1; name=$2; shift 2
    for _ in 1 2; do
        t0=$(now)
        ( timeout 300 bash "$NS" run "$np" "$@" 2>&1 > "$TMP/$name.out"; echo $? > "$TMP/$name.rc" ) \
            | stamp > "$TMP/$name.err"
        echo "$t0" > "$TMP/$name.t0"
        awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f\n", b - a }' > "$TMP/$name.wall"
        [ "$(cat "$TMP/$name.rc")" = 0 ] && [ -n "$(jnum samples_per_s "$TMP/$name.out")" ] && return 0
    done
    { grep -m2 -e '-train: ' "$TMP/$name.err" || tail -3 "$TMP/$name.err"; } | cut -d' ' -f2-
    echo "dist models: $name failed twice"; return 1
}
# first_reach NAME KIND TARGET: seconds from launch to the first epoch line of run NAME whose
# validation metric reaches TARGET (%; acc >= TARGET, eer <= TARGET), or "-"
first_reach() {
    awk -v k="$2" -v tg="$3" -v t0="$(cat "$TMP/$1.t0")" '
        k == "acc" && / valid acc / { v = $0; sub(/.* valid acc /, "", v); v += 0;
                                     if (v >= tg - 1e-9) { printf "%.1f\n", $1 - t0; found = 1; exit } }
        k == "eer" && / valid EER / { v = $0; sub(/.* valid EER /, "", v); v += 0;
                                     if (v <= tg + 1e-9) { printf "%.1f\n", $1 - t0; found = 1; exit } }
        END { if (!found) print "-" }' "$TMP/$1.err"
}

fmt='%-30s %9s %6s %6s %13s %10s %8s %7s %9s\n'
for RATE in $RATES; do
if ! bash "$NS" up 3 0 "$RATE" > "$TMP/ns.log" 2>&1; then
    cat "$TMP/ns.log"; echo "dist models: skipped (could not create the namespaces)"
    exit 0
fi
printf "$fmt" "case (3 hosts @${RATE}Mbit/s)" samples/s "x" "comm%" "stale mean/max" bytes/step valid "d pt" "t->tgt s"
for model in $MODELS; do
    case $model in
    kws)
        BIN=$KT; KIND=acc; KEY=best_valid_accuracy; TKEY=test_accuracy; EP=$KWS_EPOCHS; BS=$KWS_BATCH
        ARGS="$KWS_SMALL
              --spec-augment=false --noise-prob 0.3"
        LR=$KWS_LR; SLR=$KWS_SYNC_LR; DATA="$TMP/kws"; TGT=${KWS_TARGET:-} ;;
    sv)
        BIN=$SVT; KIND=eer; KEY=best_valid_eer; TKEY=test_eer; EP=$SV_EPOCHS; BS=$SV_BATCH
        ARGS="--threads 1 --split-fractions 0.6,0.2,0.2 --num-mel-bins 30 --chunk-s 1
              --model-opts channels=48,stats-channels=96 --embedding-dim 48"
        LR=$SV_LR; SLR=$SV_SYNC_LR; DATA="$TMP/sv"; TGT=${SV_TARGET:-} ;;
    svr)  # the thin ResNet: more compute per parameter than the tdnn
        BIN=$SVT; KIND=eer; KEY=best_valid_eer; TKEY=test_eer; EP=$SVR_EPOCHS; BS=$SV_BATCH
        ARGS="--threads 1 --split-fractions 0.6,0.2,0.2 --num-mel-bins 30 --chunk-s 1
              --model resnet --model-opts channels=4 --embedding-dim 48"
        LR=$SV_LR; SLR=$SV_SYNC_LR; DATA="$TMP/sv"; TGT=${SVR_TARGET:-} ;;
    *) echo "dist models: unknown model $model"; exit 2 ;;
    esac
    COMMON="$ARGS --seed 1 --epochs $EP --batch $BS --json"
    runs="async"
    for f in $FETCHES; do runs="$runs dp$f"; done
    [ "${SYNC:-1}" = 1 ] && runs="$runs sync"
    for r in $runs; do
        np=3
        case $r in
        async) m="--dist async --ps 1 --ps-optim adagrad --lr $LR" ;;
        dp*) m="--dist downpour --ps 1 --ps-optim adagrad --lr ${DP_LR:-$LR} --n-fetch ${r#dp} --n-push ${r#dp} ${DP_EXTRA:-}" ;;
        sync) np=2; m="--dist sync --lr $SLR" ;;   # the trainer's AdamW, gradients all-reduced
        esac
        # shellcheck disable=SC2086
        run_ps $np "$model-$r" "$BIN" $COMMON $m "$DATA" "$TMP/$model-$r.ckpt" || fails=$((fails + 1))
    done
    as=$(jnum samples_per_s "$TMP/$model-async.out"); am=$(jnum "$KEY" "$TMP/$model-async.out")
    # the target: plain async's best validation metric, loosened by SLACK points
    [ -n "$TGT" ] || [ -z "$am" ] || TGT=$(awk -v a="$am" -v s="$SLACK" -v k=$KIND \
        'BEGIN { printf "%.2f", k == "acc" ? 100 * a - s : 100 * a + s }')
    for r in $runs; do
        o="$TMP/$model-$r.out"
        s=$(jnum samples_per_s "$o"); v=$(jnum "$KEY" "$o")
        if [ -z "$s" ]; then
            printf "$fmt" "$model $r" failed - - - - - - -
            echo "$model,$r,$RATE,$EP,$BS,failed,,,,,,,,,,,," >> "$CSV"
            continue
        fi
        x=$(awk -v a="$s" -v b="$as" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }')
        d=$(awk -v a="$v" -v b="$am" 'BEGIN { if (b != "") printf "%+.1f", 100 * (a - b); else print "-" }')
        sm=$(jnum staleness_mean "$o"); sx=$(jnum staleness_max "$o"); bps=$(jnum bytes_per_step "$o")
        # the workers' share of their time spent in fetches and pushes
        cs=$(awk -v c="$(jnum compute_s "$o")" -v m="$(jnum comm_s "$o")" -v w="$(jnum wait_s "$o")" \
            'BEGIN { t = c + m + w; printf "%.0f", (t > 0) ? 100 * m / t : 0 }')
        tt=-; [ -n "$TGT" ] && tt=$(first_reach "$model-$r" $KIND "$TGT")
        case $r in
        async) label="$model async" ;;
        sync) label="$model sync, 2 workers"; sm="-"; sx="-" ;;
        *) label="$model downpour F=P=${r#dp}" ;;
        esac
        printf "$fmt" "$label" "$s" "$x" "$cs" "$sm / $sx" "$bps" \
            "$(awk -v a="$v" 'BEGIN { printf "%.1f%%", 100 * a }')" "$d" "$tt"
        echo "$model,${r},$RATE,$EP,$BS,$s,$x,$cs,$sm,$sx,$bps,valid_$KIND,$v,$d,$TGT,$tt,$(jnum $TKEY "$o"),$(cat "$TMP/$model-$r.wall")" >> "$CSV"
    done
    echo "  ($model: $EP epochs, batch $BS, $(jnum params "$TMP/$model-async.out") params; $(sed -n '1s/^[0-9.]* [^:]*: //p' "$TMP/$model-async.err" 2> /dev/null);"
    echo "   valid $KIND of the kept model; d pt = its points vs plain async$([ $KIND = eer ] && echo ', + is worse'); t->tgt: valid $KIND $TGT %)"
done
bash "$NS" down > /dev/null 2>&1
done

# ---- sync data parallel, 1 rank vs 2 hosts of the KWS model, uncapped link
if [ "${SYNC:-1}" = 1 ]; then
    bash "$NS" down > /dev/null 2>&1
    bash "$NS" up 2 0 0 > "$TMP/ns.log" 2>&1 || { cat "$TMP/ns.log"; exit 1; }
    # shellcheck disable=SC2086
    "$KT" $SYNC_KWS "$TMP/kws" "$TMP/s1.ckpt" > "$TMP/s1.out" 2> "$TMP/s1.err" || { tail -3 "$TMP/s1.err"; exit 1; }
    # shellcheck disable=SC2086
    timeout 600 bash "$NS" run 2 "$KT" $SYNC_KWS --dist sync "$TMP/kws" "$TMP/s2.ckpt" > "$TMP/s2.out" 2> "$TMP/s2.err" \
        || { tail -3 "$TMP/s2.err"; exit 1; }
    s1=$(jnum samples_per_s "$TMP/s1.out"); s2=$(jnum samples_per_s "$TMP/s2.out")
    printf "$fmt" "kws sync 1 rank (no link)" "$s1" "-" "-" "-" "-" "-" "-" "-"
    printf "$fmt" "kws sync 2 hosts, uncapped" "$s2" \
        "$(awk -v a="$s2" -v b="$s1" 'BEGIN { printf "%.2f", a / b }')" "-" "-" "$(jnum bytes_per_step "$TMP/s2.out")" "-" "-" "-"
    echo "  (sync scaling efficiency $(awk -v a="$s2" -v b="$s1" 'BEGIN { printf "%.0f", 100 * a / (2 * b) }') %)"
    echo "kws,sync1,0,${SYNC_EPOCHS:-2},32,$s1,,,,,,,,,,,," >> "$CSV"
    echo "kws,sync2,0,${SYNC_EPOCHS:-2},32,$s2,$(awk -v a="$s2" -v b="$s1" 'BEGIN { printf "%.2f", a / b }'),,,,$(jnum bytes_per_step "$TMP/s2.out"),,,,,,," >> "$CSV"
fi

# ---- sync all-reduce overlapped with backward (--dist-overlap) vs after backward, 2 hosts
# linked at OVERLAP_MBIT (default 20: the gradient's transfer takes about as long as a step's
# backward here, where overlap can hide it). Same seed, data and steps; the models are equal
# bit for bit (tests/test_kws_dist.sh), only the time differs.
if [ "${OVERLAP:-1}" = 1 ]; then
    OM=${OVERLAP_MBIT:-20}
    bash "$NS" down > /dev/null 2>&1
    bash "$NS" up 2 0 "$OM" > "$TMP/ns.log" 2>&1 || { cat "$TMP/ns.log"; exit 1; }
    for ov in true false; do
        # shellcheck disable=SC2086
        timeout 600 bash "$NS" run 2 "$KT" $SYNC_KWS --dist sync --dist-overlap=$ov "$TMP/kws" "$TMP/ov-$ov.ckpt" \
            > "$TMP/ov-$ov.out" 2> "$TMP/ov-$ov.err" || { tail -3 "$TMP/ov-$ov.err"; exit 1; }
    done
    ot=$(jnum samples_per_s "$TMP/ov-true.out"); of=$(jnum samples_per_s "$TMP/ov-false.out")
    # wait_s: rank 0's time blocked after backward until the step's all-reduce had finished
    ct=$(jnum wait_s "$TMP/ov-true.out"); cf=$(jnum wait_s "$TMP/ov-false.out")
    printf "$fmt" "kws sync 2 hosts@${OM}Mb, after bwd" "$of" "-" "-" "-" "$(jnum bytes_per_step "$TMP/ov-false.out")" "-" "-" "-"
    printf "$fmt" "kws sync 2 hosts@${OM}Mb, overlap" "$ot" \
        "$(awk -v a="$ot" -v b="$of" 'BEGIN { printf "%.2f", a / b }')" "-" "-" "$(jnum bytes_per_step "$TMP/ov-true.out")" "-" "-" "-"
    echo "  (x = overlapped / after backward; rank 0 blocked after backward waiting for the all-reduce: $ct s overlapped, $cf s after backward)"
    echo "kws,sync2_after_backward,$OM,${SYNC_EPOCHS:-2},32,$of,,,,,$(jnum bytes_per_step "$TMP/ov-false.out"),,,,,,," >> "$CSV"
    echo "kws,sync2_overlap,$OM,${SYNC_EPOCHS:-2},32,$ot,$(awk -v a="$ot" -v b="$of" 'BEGIN { printf "%.2f", a / b }'),,,,$(jnum bytes_per_step "$TMP/ov-true.out"),,,,,,," >> "$CSV"
    bash "$NS" down > /dev/null 2>&1
fi
echo "(wrote $CSV in $(awk -v a="$t_all" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s; x = samples/s vs plain async; shared 2-core machine: compare ratios)"
[ "$fails" = 0 ] || { echo "dist models: $fails run(s) failed"; exit 1; }
