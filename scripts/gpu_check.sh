#!/bin/sh
# gpu_check.sh — the CUDA backend's checks on a GPU machine, in one go.
#
#   sh scripts/gpu_check.sh stage   (on a build machine with nvcc, no GPU needed)
#       builds the two CUDA tests portably (NATIVE=0, MPI=0, CUDA_ARCH="80 90") and copies them
#       with the non-CUDA shared libraries they need (OpenBLAS, cmocka, ...) into
#       build-gpu-stage/ (~42 MB), for machines whose image lacks our -dev packages; there, only
#       the libraries the machine lacks are used.
#   sh scripts/gpu_check.sh [run]   (on the GPU machine)
#       uses build-gpu-stage/ when present (carry it), else builds there (needs the -dev
#       packages); runs test_cuda_select and test_cuda_backend, then test_cuda_backend under
#       compute-sanitizer (memcheck, racecheck, initcheck, synccheck); prints a summary last.
#       Results and logs go to $OUT (or build-gpu-check/) when set. Exit 0 only if all passed.
# Device: CHORUS_CUDA_DEVICE (default cuda:0). Leaves the GPU's settings alone.
# Without a GPU, scripts/cuda_emu_check.sh runs the kernel logic of the cuBLAS-only layers
# (relu, linear, lstm, attention_pool, aam_softmax, time_mask, add_relu) on the CPU instead;
# that checks indexing and barriers, not device maths: the parity tolerances need this script.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STAGE=build-gpu-stage
mode=${1:-run}

if [ "$mode" = stage ]; then
    set -e
    make --no-print-directory BUILD=build-gpu NATIVE=0 MPI=0 CUDA_ARCH="80 90" -j2 \
        build-gpu/tests/test_cuda_backend build-gpu/tests/test_cuda_select
    grep -q 'HAVE_CUDA := 1' build-gpu/config.mk || { echo "gpu_check: no CUDA here (make BUILD=build-gpu config)"; exit 1; }
    rm -rf "$STAGE" && mkdir -p "$STAGE/lib"
    cp build-gpu/tests/test_cuda_backend build-gpu/tests/test_cuda_select "$STAGE/"
    # every resolved library except glibc's and CUDA's own (the GPU machine has those)
    ldd "$STAGE"/test_cuda_* | awk '$3 ~ /^\// {print $3}' | sort -u |
        grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so|/libcu|/libnccl' |
        while read -r lib; do cp -L "$lib" "$STAGE/lib/"; done
    du -sh "$STAGE"; ls "$STAGE/lib"
    exit 0
fi

LOG=${OUT:-$ROOT/build-gpu-check}
mkdir -p "$LOG"
nvidia-smi -L 2>&1 | tee "$LOG/gpu.txt"
if [ -x "$STAGE/test_cuda_backend" ]; then
    BIN=$STAGE
    # CUDA libraries: the toolkit's, then any pip wheel's (nvidia-cudnn-cu13, ...)
    extra=$(ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib 2>/dev/null)
    pylib=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null)
    [ -n "$pylib" ] && extra="$extra $(ls -d "$pylib"/*/lib 2>/dev/null)"
    # staged libraries only for what this machine lacks (its own libstdc++ etc. stay first)
    mkdir -p "$STAGE/use"
    LD_LIBRARY_PATH="$ROOT/$STAGE/use:$(echo $extra | tr ' ' ':')${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    for pass in 1 2 3; do # a library found now may bring dependencies of its own
        for lib in $(ldd "$BIN"/test_cuda_* | awk '/not found/ {print $1}' | sort -u); do
            [ -e "$STAGE/lib/$lib" ] && ln -sf "$ROOT/$STAGE/lib/$lib" "$STAGE/use/$lib"
        done
    done
    ls "$STAGE/use" | sed 's/^/staged library used: /'
    ldd "$BIN/test_cuda_backend" | grep 'not found' && echo "gpu_check: missing libraries (above)"
else
    BIN=build-gpu/tests
    make --no-print-directory BUILD=build-gpu CUDA_ARCH=90 -j"$(nproc)" \
        build-gpu/tests/test_cuda_backend build-gpu/tests/test_cuda_select > "$LOG/build.log" 2>&1 ||
        { tail -30 "$LOG/build.log"; echo "gpu_check: build failed (log: $LOG/build.log)"; exit 1; }
fi

summary=""; failed=0
step() { # name command...
    name=$1; shift
    t0=$(date +%s)
    timeout "$limit" "$@" > "$LOG/$name.log" 2>&1
    rc=$?
    # a skip is a failure here: this script exists to run where the GPU is
    case $rc in 0) res=PASS ;; 77) res=SKIP; failed=1 ;; *) res="FAIL($rc)"; failed=1 ;; esac
    summary="$summary$(printf '%-10s %-26s %4ss' "$res" "$name" $(( $(date +%s) - t0 )))\n"
    [ "$res" = PASS ] || tail -20 "$LOG/$name.log"
}
limit=120
step select "$BIN/test_cuda_select"
step parity "$BIN/test_cuda_backend"
limit=${SANITIZER_TIMEOUT:-100} # per tool: the four fit one 10-minute device call
grep -E 'max\|d\||identical|loss cpu|norm cpu|dropped' "$LOG/parity.log" > "$LOG/parity-numbers.txt"
CS=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer \
    /usr/local/cuda/compute-sanitizer/compute-sanitizer /opt/nvidia/*/compute-sanitizer 2>/dev/null | head -1)
if [ -n "$CS" ]; then
    for tool in memcheck racecheck initcheck synccheck; do
        step "sanitizer-$tool" "$CS" --tool "$tool" --error-exitcode 99 \
            "$BIN/test_cuda_backend"
    done
else
    summary="${summary}SKIP       compute-sanitizer (not on PATH)\n"
fi
echo "---- parity numbers (full: $LOG/parity.log)"
cat "$LOG/parity-numbers.txt"
echo "---- gpu_check summary ($(head -1 "$LOG/gpu.txt"))"
printf "$summary"
exit $failed
