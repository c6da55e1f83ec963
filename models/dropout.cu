/* dropout.cu — inverted dropout on the device (see dropout.h).
 *
 * The mask comes from a counter-based hash rather than a sequential generator, so every element
 * is drawn independently in parallel: u_i = top 24 bits of mix(seed + i * golden) / 2^24, with
 * mix the SplitMix64 finaliser (a bijection with full avalanche; Steele et al. 2014), and
 * element i dropped when u_i < p. seed is one rng_u64 draw from the caller's generator per call,
 * so a run's seed still fixes every mask, and consecutive calls get unrelated masks. 24 bits
 * make u exact in float; p is resolved to 2^-24.
 */
#include "models/cuda_util.cuh"

static __device__ inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static __global__ void dropout_fwd_k(float *out, float *mask, const float *in, size_t n, float p,
                                     float keep, uint64_t seed)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float u = (float)(mix64(seed + (uint64_t)i * 0x9e3779b97f4a7c15ULL) >> 40) *
                  (1.0f / 16777216.0f);
        float m = (p > 0.0f && u < p) ? 0.0f : keep;
        mask[i] = m;
        out[i] = in[i] * m;
    }
}

static __global__ void dropout_bwd_k(float *din, const float *dout, const float *mask, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        din[i] = dout[i] * mask[i];
}

extern "C" void dropout_forward_train_cuda(float *out, float *mask, const float *in, size_t n,
                                           float p, rng *r)
{
    CU_ENTRY(c);
    /* like the CPU, leave the caller's generator untouched when p = 0 */
    uint64_t seed = p > 0.0f ? rng_u64(r) : 0;
    if (n == 0)
        return;
    dropout_fwd_k<<<cu_blocks(n), CU_BLOCK, 0, c->stream>>>(out, mask, in, n, p,
                                                            1.0f / (1.0f - p), seed);
    CUDA_CHECK_LAUNCH(c, "dropout_fwd_k");
}

extern "C" void dropout_backward_cuda(float *din, const float *dout, const float *mask, size_t n)
{
    CU_ENTRY(c);
    if (n == 0)
        return;
    dropout_bwd_k<<<cu_blocks(n), CU_BLOCK, 0, c->stream>>>(din, dout, mask, n);
    CUDA_CHECK_LAUNCH(c, "dropout_bwd_k");
}
