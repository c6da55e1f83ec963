/* relu.cu — ReLU forward/backward on the device (see relu.h; exact, element-wise). */
#include "models/cuda_util.cuh"

static __global__ void relu_fwd_k(float *out, const float *in, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

static __global__ void relu_bwd_k(float *din, const float *dout, const float *out, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

extern "C" void relu_forward_cuda(float *out, const float *in, size_t n)
{
    CU_ENTRY(c);
    if (n == 0)
        return;
    relu_fwd_k<<<cu_blocks(n), CU_BLOCK, 0, c->stream>>>(out, in, n);
    CUDA_CHECK_LAUNCH(c, "relu_fwd_k");
}

extern "C" void relu_backward_cuda(float *din, const float *dout, const float *out, size_t n)
{
    CU_ENTRY(c);
    if (n == 0)
        return;
    relu_bwd_k<<<cu_blocks(n), CU_BLOCK, 0, c->stream>>>(din, dout, out, n);
    CUDA_CHECK_LAUNCH(c, "relu_bwd_k");
}
