#!/bin/sh
# cuda_emu_check.sh — checks CUDA kernels WITHOUT a GPU: compiles models/<layer>.cu as host C++
# (scripts/cuda_emu/: a stand-in cuda_util.cuh, host versions of the few CUDA runtime / cuBLAS
# calls, blocks run one at a time with blockDim real threads and a barrier for __syncthreads)
# and runs the matching cases of tests/test_cuda_backend.c against the CPU layers.
#
#   sh scripts/cuda_emu_check.sh [asan|tsan]      (default asan)
#   EMU_LIB_BUILD=build-x sh scripts/cuda_emu_check.sh   (reuse a CUDA=0 build's libchorus.a)
#
# What it checks: indexing, the row-major <-> cuBLAS column-major arguments, lengths/padding
# handling, accumulate-vs-write contracts, barrier placement (a missed barrier by some threads
# deadlocks; tsan reports shared/global data races inside a block), plus ASan/UBSan on the
# kernels and the test code. What it cannot: device maths (expf/tanhf ulps, FMA contraction),
# the real cuBLAS summation order, warp-level behaviour, launch limits, cuDNN layers, speed.
# So the parity numbers it prints are ~0; the tolerances are exercised only on a GPU
# (scripts/gpu_check.sh). Emulated: relu, linear, lstm, attention_pool, aam_softmax,
# time_mask, resblock (add_relu). Takes a few minutes (one thread per emulated CUDA thread).
# Needs a CUDA toolkit's headers (types only) and builds the CPU library with CUDA=0 into
# build-cuda-emu-cpu; outputs go to build-cuda-emu-<san>/.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
san=${1:-asan}
case $san in
    asan) SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" ;;
    tsan) SANFLAGS="-fsanitize=thread" ;;
    *) echo "usage: sh scripts/cuda_emu_check.sh [asan|tsan]" >&2; exit 2 ;;
esac
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
[ -f "$CUDA_HOME/include/cublas_v2.h" ] || { echo "cuda_emu_check: no CUDA headers in $CUDA_HOME/include" >&2; exit 1; }
OUT=build-cuda-emu-$san
EMU=scripts/cuda_emu
if [ -n "${EMU_LIB_BUILD:-}" ]; then # an existing CUDA=0 build directory
    LIBB=$EMU_LIB_BUILD
    grep -q 'CUDA=0\|HAVE_CUDA := 0' "$LIBB/config.mk" 2>/dev/null || [ ! -f "$LIBB/obj/models/cuda_ctx_cuda.o" ] ||
        { echo "cuda_emu_check: $LIBB is a CUDA build; give a CUDA=0 one" >&2; exit 1; }
    [ -f "$LIBB/libchorus.a" ] || { echo "cuda_emu_check: no $LIBB/libchorus.a" >&2; exit 1; }
else
    LIBB=build-cuda-emu-cpu
    make --no-print-directory BUILD=$LIBB CUDA=0 MPI=0 NATIVE=0 -j2 $LIBB/libchorus.a > /dev/null
fi
mkdir -p "$OUT"
CXX="g++ -std=c++17 -O1 -g $SANFLAGS -I$EMU/inc -I. -I$CUDA_HOME/include -Wall -Wextra -Wno-unused-function -Wno-unused-parameter"
for f in relu linear lstm attention_pool aam_softmax time_mask resblock; do
    # k<<<grid, block, 0, c->stream>>>(args) -> emu_launch(grid, block, k, args)
    { printf '#line 1 "models/%s.cu"\n' "$f"
      sed -E 's/([A-Za-z_0-9]+)<<<(.*), ([^,]*), 0, c->stream>>>\(/emu_launch(\2, \3, \1, /' "models/$f.cu"
    } > "$OUT/$f.cpp"
    if grep -q '<<<' "$OUT/$f.cpp"; then echo "cuda_emu_check: unrewritten launch in models/$f.cu" >&2; exit 1; fi
    $CXX -c "$OUT/$f.cpp" -o "$OUT/$f.o"
done
$CXX -c $EMU/emu_rt.cpp -o "$OUT/emu_rt.o"
$CXX -c $EMU/emu_table.cpp -o "$OUT/emu_table.o"
gcc -std=c11 -D_GNU_SOURCE -O1 -g $SANFLAGS -fopenmp -I. -Itests -I$CUDA_HOME/include \
    -DCHORUS_HAVE_CUDA=1 -Wall -Wextra -Wno-unused-function -Wno-old-style-declaration -c $EMU/emu_main.c -o "$OUT/emu_main.o"
g++ $SANFLAGS -fopenmp "$OUT"/*.o $LIBB/libchorus.a -lsndfile -lfftw3f -lsoxr -lopenblas -lm \
    -lpthread $(grep -q 'HAVE_ESPEAK := 1' $LIBB/config.mk 2>/dev/null && echo -lespeak-ng) \
    -lcmocka -o "$OUT/test_cuda_emu"
# one CPU thread for the reference layers (OpenMP / OpenBLAS threads are not instrumented)
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1" "$OUT/test_cuda_emu"
