/* cuda_util.cuh — HOST EMULATION stand-in for models/cuda_util.cuh, used only by
 * scripts/cuda_emu_check.sh (found first on its include path). It lets a models/<layer>.cu be
 * compiled by g++ and run on the CPU: __global__/__device__ vanish, __shared__ becomes a
 * function-static (one block runs at a time, so that is exactly block-shared memory), and each
 * kernel launch (rewritten by the script into emu_launch) runs its blocks one after another,
 * each with blockDim real threads and a barrier for __syncthreads. Same helpers and the same
 * fixed-order block reduction as the real header. */
#ifndef EMU_CUDA_UTIL_CUH
#define EMU_CUDA_UTIL_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <functional>

#include "models/backend_cuda.h"
#include "models/cuda_ctx.h"

#undef __global__
#undef __device__
#undef __shared__
#define __global__
#define __device__
#define __shared__ static
using std::max;
using std::min;

struct emu_dim {
    unsigned x, y, z;
};
extern thread_local emu_dim blockIdx, threadIdx;
extern emu_dim blockDim, gridDim;
void emu_sync(void);
void emu_run(unsigned grid, unsigned block, const std::function<void()> &f);
static inline void __syncthreads() { emu_sync(); }

#define CU_BLOCK 256

static inline unsigned cu_blocks(size_t n)
{
    size_t b = (n + CU_BLOCK - 1) / CU_BLOCK;
    if (b < 1)
        b = 1;
    return (unsigned)(b > 65535 ? 65535 : b);
}

static inline double cu_block_sum(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

static inline double cu_block_max(double v, double *sh)
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

#define CU_ENTRY(c)                         \
    cuda_ctx *c = cuda_ctx_begin(__func__); \
    if (!c)                                 \
        return

/* k<<<grid, block, 0, stream>>>(args) is rewritten to emu_launch(grid, block, k, args) */
#define emu_launch(G, B, K, ...) emu_run((G), (B), [&] { K(__VA_ARGS__); })

#endif
