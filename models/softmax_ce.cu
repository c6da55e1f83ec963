/* softmax_ce.cu — softmax cross-entropy with label smoothing on the device (see softmax_ce.h):
 * one block per row computes the row's loss into the context's double scratch and writes the
 * row's gradient; one thread then sums the N row losses in order, and the mean comes back
 * through the context's pinned scalar. Returning the loss waits for the stream (the entry's
 * signature returns it); a graph-captured step needs a variant that leaves it on the device.
 * labels is a device array with values in [0, K). */
#include <math.h>

#include "models/cuda_util.cuh"

static __global__ void ce_rows_k(double *row_loss, float *dlogits, const float *logits,
                                 const int *labels, int N, int K, double eps)
{
    __shared__ double sh[CU_BLOCK];
    const int n = blockIdx.x;
    const float *z = logits + (size_t)n * K;
    double mx = -INFINITY;
    for (int k = threadIdx.x; k < K; k += blockDim.x)
        mx = z[k] > mx ? (double)z[k] : mx;
    mx = cu_block_max(mx, sh);
    double se = 0.0, sz = 0.0;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        se += exp(z[k] - mx);
        sz += z[k] - mx;
    }
    se = cu_block_sum(se, sh);
    sz = cu_block_sum(sz, sh);
    const double lse = log(se);
    const int y = labels[n];
    if (threadIdx.x == 0) {
        double nll = -(z[y] - mx - lse);
        double smooth = -(sz / K - lse);
        row_loss[n] = (1.0 - eps) * nll + eps * smooth;
    }
    if (!dlogits)
        return;
    float *g = dlogits + (size_t)n * K;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        double p = exp(z[k] - mx - lse);
        double q = eps / K + (k == y ? 1.0 - eps : 0.0);
        g[k] = (float)((p - q) / N);
    }
}

static __global__ void ce_mean_k(double *row_loss, int N)
{
    double total = 0.0;
    for (int n = 0; n < N; n++)
        total += row_loss[n];
    row_loss[N] = total / N;
}

extern "C" double softmax_ce_forward_backward_cuda(float *dlogits, const float *logits,
                                                   const int *labels, const softmax_ce_dims *d)
{
    cuda_ctx *c = cuda_ctx_begin(__func__);
    if (!c || d->N == 0)
        return NAN;
    if (cuda_ctx_scratch(c, (size_t)d->N + 1) != CH_OK)
        return NAN;
    ce_rows_k<<<d->N, CU_BLOCK, 0, c->stream>>>(c->scratch, dlogits, logits, labels, d->N, d->K,
                                                d->smoothing);
    if (CUDA_CHECK_LAUNCH(c, "ce_rows_k") != CH_OK)
        return NAN;
    ce_mean_k<<<1, 1, 0, c->stream>>>(c->scratch, d->N);
    if (CUDA_CHECK_LAUNCH(c, "ce_mean_k") != CH_OK)
        return NAN;
    if (CUDA_CHECK(c, cudaMemcpyAsync(c->host_scalar, c->scratch + d->N, sizeof(double),
                                      cudaMemcpyDeviceToHost, c->stream)) != CH_OK ||
        CUDA_CHECK(c, cudaStreamSynchronize(c->stream)) != CH_OK)
        return NAN;
    return *c->host_scalar;
}
