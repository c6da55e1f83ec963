/* time_pool.cu — mean and statistics pooling over time on the device (see time_pool.h): one
 * block per (n, c) row for the forward sums (double, fixed-order block reduction), one thread per
 * element for the backward (no reduction; same formulas as time_pool.c). lengths is a device
 * array or NULL. */
#include <math.h>

#include "models/cuda_util.cuh"

static __device__ inline int tp_len(const int *lengths, int n, int T)
{
    return lengths ? lengths[n] : T;
}

static __device__ inline double tp_divisor(int L, int unbiased)
{
    return (unbiased && L > 1) ? (double)(L - 1) : (double)L;
}

/* mode 0: mean (out (N, C)); mode 1: mean and std (out (N, 2C)) */
static __global__ void tp_fwd_k(float *out, const float *in, const int *lengths, int C, int T,
                                float eps, int unbiased, int mode)
{
    __shared__ double sh[CU_BLOCK];
    const int row = blockIdx.x, n = row / C, c = row % C, L = tp_len(lengths, n, T);
    const float *x = in + (size_t)row * T;
    double s = 0.0;
    for (int t = threadIdx.x; t < L; t += blockDim.x)
        s += x[t];
    const double mean = cu_block_sum(s, sh) / L;
    if (mode == 0) {
        if (threadIdx.x == 0)
            out[(size_t)n * C + c] = (float)mean;
        return;
    }
    double ss = 0.0;
    for (int t = threadIdx.x; t < L; t += blockDim.x)
        ss += (x[t] - mean) * (x[t] - mean);
    ss = cu_block_sum(ss, sh);
    if (threadIdx.x == 0) {
        out[(size_t)n * 2 * C + c] = (float)mean;
        out[(size_t)n * 2 * C + C + c] = (float)sqrt(ss / tp_divisor(L, unbiased) + eps);
    }
}

static __global__ void mean_bwd_k(float *din, const float *dout, const int *lengths, int N, int C,
                                  int T)
{
    const size_t total = (size_t)N * C * T;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t row = i / T;
        const int t = (int)(i % T), n = (int)(row / C), L = tp_len(lengths, n, T);
        float g = dout[row] / (float)L;
        din[i] = t < L ? g : 0.0f;
    }
}

static __global__ void stats_bwd_k(float *din, const float *dout, const float *out,
                                   const float *in, const int *lengths, int N, int C, int T,
                                   int unbiased)
{
    const size_t total = (size_t)N * C * T;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t row = i / T;
        const int t = (int)(i % T), n = (int)(row / C), c = (int)(row % C);
        const int L = tp_len(lengths, n, T);
        if (t >= L) {
            din[i] = 0.0f;
            continue;
        }
        const double D = tp_divisor(L, unbiased);
        const size_t o = (size_t)n * 2 * C;
        const double mean = out[o + c], sd = out[o + C + c];
        const double gm = dout[o + c] / (double)L, gs = dout[o + C + c] / (D * sd);
        din[i] = (float)(gm + gs * (in[i] - mean));
    }
}

extern "C" void mean_pool_forward_cuda(float *out, const float *in, const int *lengths,
                                       const time_pool_dims *d)
{
    CU_ENTRY(c);
    if (d->N * d->C == 0)
        return;
    tp_fwd_k<<<d->N * d->C, CU_BLOCK, 0, c->stream>>>(out, in, lengths, d->C, d->T, 0.0f, 0, 0);
    CUDA_CHECK_LAUNCH(c, "tp_fwd_k (mean)");
}

extern "C" void mean_pool_backward_cuda(float *din, const float *dout, const int *lengths,
                                        const time_pool_dims *d)
{
    CU_ENTRY(c);
    size_t total = (size_t)d->N * d->C * d->T;
    if (total == 0)
        return;
    mean_bwd_k<<<cu_blocks(total), CU_BLOCK, 0, c->stream>>>(din, dout, lengths, d->N, d->C, d->T);
    CUDA_CHECK_LAUNCH(c, "mean_bwd_k");
}

extern "C" void stats_pool_forward_cuda(float *out, const float *in, const int *lengths,
                                        const time_pool_dims *d)
{
    CU_ENTRY(c);
    if (d->N * d->C == 0)
        return;
    tp_fwd_k<<<d->N * d->C, CU_BLOCK, 0, c->stream>>>(out, in, lengths, d->C, d->T, d->eps,
                                                      d->unbiased, 1);
    CUDA_CHECK_LAUNCH(c, "tp_fwd_k (stats)");
}

extern "C" void stats_pool_backward_cuda(float *din, const float *dout, const float *out,
                                         const float *in, const int *lengths,
                                         const time_pool_dims *d)
{
    CU_ENTRY(c);
    size_t total = (size_t)d->N * d->C * d->T;
    if (total == 0)
        return;
    stats_bwd_k<<<cu_blocks(total), CU_BLOCK, 0, c->stream>>>(din, dout, out, in, lengths, d->N,
                                                              d->C, d->T, d->unbiased);
    CUDA_CHECK_LAUNCH(c, "stats_bwd_k");
}
