/* cuda_util.cuh — small helpers shared by the models/<layer>.cu files: grid sizing, a
 * deterministic block reduction in double, and the entry prologue. Device-side only; included by
 * .cu files, never by C. */
#ifndef CHORUS_CUDA_UTIL_CUH
#define CHORUS_CUDA_UTIL_CUH

#include <stddef.h>
#include <stdint.h>

#include "models/backend_cuda.h"
#include "models/cuda_ctx.h"

/* Threads per block of the element-wise and reduction kernels (a power of two: the block
 * reduction below relies on it). */
#define CU_BLOCK 256

/* Blocks for n elements with a grid-stride loop: enough to fill the chip, capped so that the
 * grid size stays an int. */
static inline unsigned cu_blocks(size_t n)
{
    size_t b = (n + CU_BLOCK - 1) / CU_BLOCK;
    if (b < 1)
        b = 1;
    return (unsigned)(b > 65535 ? 65535 : b);
}

/* Sum of v over the block, in a fixed tree order (deterministic for a given block size).
 * sh: CU_BLOCK doubles of shared memory. Result valid in every thread. All threads must call. */
static __device__ inline double cu_block_sum(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads(); /* sh may be reused right after */
    return r;
}

/* Max of v over the block, in the same fixed tree order; the same contract as cu_block_sum. */
static __device__ inline double cu_block_max(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s && sh[threadIdx.x + s] > sh[threadIdx.x])
            sh[threadIdx.x] = sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

/* Prologue of every CUDA entry: the current healthy context, or return (the error, if any, is
 * already recorded; see cuda_ctx.h). */
#define CU_ENTRY(c)                          \
    cuda_ctx *c = cuda_ctx_begin(__func__);  \
    if (!c)                                  \
        return

#endif
