/* batchnorm.cu — batch normalisation on the device (see batchnorm.h), with our own kernels:
 * one block per channel, sums in double through a fixed-order block reduction, the same
 * formulas as batchnorm.c (biased variance for normalising, unbiased N*S-1 divisor for the
 * running variance, running stats updated in double and stored as float).
 *
 * Why not cuDNN's batch norm: its legacy API is deprecated in cuDNN 9, it wants packed tensors
 * where DenseNet normalises a strided channel prefix (sn), it cannot skip din (NULL) and it
 * clamps eps to CUDNN_BN_MIN_EPSILON; these kernels do all of that and stay deterministic.
 * The affine step (and its shift) uses __fmul_rn/__fadd_rn/__dsub_rn so nvcc cannot contract
 * it into FMAs (gcc -std=c11 does not contract either): eval mode then matches the CPU bit for
 * bit. With one block per channel, layers with few channels and a large
 * N*S underuse the GPU (a two-stage reduction is the fix if profiles show it matters).
 */
#include <math.h>

#include "models/cuda_util.cuh"

static __device__ inline size_t bn_at(int j, int c, int S, size_t sn)
{
    /* j-th value of channel c, j in [0, N*S) */
    return (size_t)(j / S) * sn + (size_t)c * S + (size_t)(j % S);
}

static __global__ void bn_train_k(float *out, float *save_mean, float *save_invstd,
                                  float *running_mean, float *running_var, const float *in,
                                  const float *gamma, const float *beta, int N, int S, size_t sn,
                                  float eps, float momentum)
{
    __shared__ double sh[CU_BLOCK];
    const int c = blockIdx.x, M = N * S;
    const double m = (double)M;
    double s = 0.0;
    for (int j = threadIdx.x; j < M; j += blockDim.x)
        s += in[bn_at(j, c, S, sn)];
    const double mean = cu_block_sum(s, sh) / m;
    double ss = 0.0;
    for (int j = threadIdx.x; j < M; j += blockDim.x) {
        double v = in[bn_at(j, c, S, sn)] - mean;
        ss += v * v;
    }
    ss = cu_block_sum(ss, sh);
    const double var = ss / m, invstd = 1.0 / sqrt(var + eps);
    if (threadIdx.x == 0) {
        save_mean[c] = (float)mean;
        save_invstd[c] = (float)invstd;
        double unbiased = m > 1 ? ss / (m - 1) : var;
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
    const float scale = (float)(invstd * gamma[c]);
    const float shift = (float)__dsub_rn(beta[c], __dmul_rn(__dmul_rn(mean, invstd), gamma[c]));
    for (int j = threadIdx.x; j < M; j += blockDim.x) {
        size_t at = bn_at(j, c, S, sn);
        out[at] = __fadd_rn(__fmul_rn(in[at], scale), shift);
    }
}

static __global__ void bn_eval_k(float *out, const float *in, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, int N, int S, size_t sn, float eps)
{
    const int c = blockIdx.x, M = N * S;
    const double invstd = 1.0 / sqrt((double)running_var[c] + eps);
    const float scale = (float)(invstd * gamma[c]);
    const float shift =
        (float)__dsub_rn(beta[c], __dmul_rn(__dmul_rn(running_mean[c], invstd), gamma[c]));
    for (int j = threadIdx.x; j < M; j += blockDim.x) {
        size_t at = bn_at(j, c, S, sn);
        out[at] = __fadd_rn(__fmul_rn(in[at], scale), shift);
    }
}

static __global__ void bn_bwd_k(float *din, float *dgamma, float *dbeta, const float *dout,
                                const float *in, const float *save_mean,
                                const float *save_invstd, const float *gamma, int N, int S,
                                size_t sn)
{
    __shared__ double sh[CU_BLOCK];
    const int c = blockIdx.x, M = N * S;
    const double m = (double)M, mean = save_mean[c], invstd = save_invstd[c];
    double sg = 0.0, sgx = 0.0;
    for (int j = threadIdx.x; j < M; j += blockDim.x) {
        size_t at = bn_at(j, c, S, sn);
        double g = dout[at];
        sg += g;
        sgx += g * (in[at] - mean) * invstd;
    }
    sg = cu_block_sum(sg, sh);
    sgx = cu_block_sum(sgx, sh);
    if (threadIdx.x == 0) {
        dgamma[c] += (float)sgx;
        dbeta[c] += (float)sg;
    }
    if (!din)
        return;
    /* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) */
    const double k = gamma[c] * invstd, mg = sg / m, mgx = sgx / m;
    for (int j = threadIdx.x; j < M; j += blockDim.x) {
        size_t at = bn_at(j, c, S, sn);
        din[at] = (float)(k * (dout[at] - mg - (in[at] - mean) * invstd * mgx));
    }
}

static size_t bn_sn(const batchnorm_dims *d) { return d->sn ? d->sn : (size_t)d->C * d->S; }

extern "C" void batchnorm_forward_train_cuda(float *out, float *save_mean, float *save_invstd,
                                             float *running_mean, float *running_var,
                                             const float *in, const float *gamma,
                                             const float *beta, const batchnorm_dims *d)
{
    CU_ENTRY(c);
    if (d->C == 0 || d->N * d->S == 0)
        return;
    bn_train_k<<<d->C, CU_BLOCK, 0, c->stream>>>(out, save_mean, save_invstd, running_mean,
                                                 running_var, in, gamma, beta, d->N, d->S,
                                                 bn_sn(d), d->eps, d->momentum);
    CUDA_CHECK_LAUNCH(c, "bn_train_k");
}

extern "C" void batchnorm_forward_eval_cuda(float *out, const float *in, const float *gamma,
                                            const float *beta, const float *running_mean,
                                            const float *running_var, const batchnorm_dims *d)
{
    CU_ENTRY(c);
    if (d->C == 0 || d->N * d->S == 0)
        return;
    bn_eval_k<<<d->C, CU_BLOCK, 0, c->stream>>>(out, in, gamma, beta, running_mean, running_var,
                                                d->N, d->S, bn_sn(d), d->eps);
    CUDA_CHECK_LAUNCH(c, "bn_eval_k");
}

extern "C" void batchnorm_backward_cuda(float *din, float *dgamma, float *dbeta,
                                        const float *dout, const float *in,
                                        const float *save_mean, const float *save_invstd,
                                        const float *gamma, const batchnorm_dims *d)
{
    CU_ENTRY(c);
    if (d->C == 0 || d->N * d->S == 0)
        return;
    bn_bwd_k<<<d->C, CU_BLOCK, 0, c->stream>>>(din, dgamma, dbeta, dout, in, save_mean,
                                               save_invstd, gamma, d->N, d->S, bn_sn(d));
    CUDA_CHECK_LAUNCH(c, "bn_bwd_k");
}
