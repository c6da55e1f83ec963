#!/bin/sh
# probe.sh — finds what this machine can build with by compiling tiny programs, and writes the
# result as make variables (HAVE_*) on stdout; a ✓/✗ line per dependency goes to stderr.
# Usage: CC=gcc NVCC=/usr/local/cuda/bin/nvcc CUDA_HOME=/usr/local/cuda sh scripts/probe.sh
CC=${CC:-cc}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=${NVCC:-$CUDA_HOME/bin/nvcc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

report() { # name ok what
    if [ "$2" = 1 ]; then printf '  \342\234\223 %-10s %s\n' "$1" "$3" >&2
    else printf '  \342\234\227 %-10s %s\n' "$1" "$3" >&2; fi
    echo "HAVE_$1 := $2"
}
probe_c() { # name what code flags...
    name=$1; what=$2; code=$3; shift 3
    printf '%b\n' "$code" > "$tmp/p.c"
    if $CC -std=c11 "$tmp/p.c" -o "$tmp/p" "$@" >/dev/null 2>&1; then report "$name" 1 "$what"
    else report "$name" 0 "$what"; fi
}

echo "probing dependencies (CC=$CC):" >&2
probe_c SNDFILE "libsndfile (audio input)" '#include <sndfile.h>\nint main(void){return sf_version_string()==0;}' -lsndfile
probe_c FFTW "FFTW3 single precision" '#include <fftw3.h>\nint main(void){fftwf_plan p=fftwf_plan_dft_r2c_1d(8,0,0,FFTW_ESTIMATE);return p==0;}' -lfftw3f
probe_c SOXR "libsoxr (resampling)" '#include <soxr.h>\nint main(void){return soxr_version()==0;}' -lsoxr
probe_c BLAS "OpenBLAS (cblas)" '#include <cblas.h>\nint main(void){float a=1,b=1,c=0;cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,1,1,1,1,&a,1,&b,1,0,&c,1);return c!=1;}' -lopenblas
probe_c OPENMP "OpenMP" '#include <omp.h>\nint main(void){return omp_get_max_threads()<1;}' -fopenmp
probe_c CMOCKA "cmocka (tests)" '#include <stdarg.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <setjmp.h>\n#include <cmocka.h>\nint main(void){return 0;}' -lcmocka
probe_c ESPEAK "libespeak-ng (data-synth)" '#include <espeak-ng/speak_lib.h>\nint main(void){return espeak_Info(0)==0;}' -lespeak-ng
if command -v mpicc >/dev/null 2>&1; then
    probe_c MPI "OpenMPI ($(command -v mpicc))" '#include <mpi.h>\nint main(int c,char**v){MPI_Init(&c,&v);MPI_Finalize();return 0;}' $(mpicc --showme:compile) $(mpicc --showme:link)
else
    report MPI 0 "OpenMPI (mpicc not found)"
fi
if [ -x "$NVCC" ]; then
    printf '#include <cuda_runtime.h>\n#include <cublas_v2.h>\n#include <cudnn.h>\n#include <nccl.h>\n__global__ void k(float*x){x[0]=1;}\nint main(void){cublasHandle_t h;cublasCreate(&h);cudnnHandle_t d;cudnnCreate(&d);int v;ncclGetVersion(&v);return 0;}\n' > "$tmp/p.cu"
    if "$NVCC" "$tmp/p.cu" -o "$tmp/pcu" -lcublas -lcudnn -lnccl >/dev/null 2>&1; then
        report CUDA 1 "CUDA + cuBLAS + cuDNN + NCCL ($NVCC)"
    else report CUDA 0 "CUDA + cuBLAS + cuDNN + NCCL (nvcc cannot build a test program)"; fi
else
    report CUDA 0 "CUDA + cuBLAS + cuDNN + NCCL (no nvcc at $NVCC)"
fi
if /usr/bin/python3 -c 'import torch, torchaudio, numpy' >/dev/null 2>&1; then
    report TORCH 1 "PyTorch reference (/usr/bin/python3)"
else report TORCH 0 "PyTorch reference (/usr/bin/python3 lacks torch/torchaudio/numpy)"; fi
