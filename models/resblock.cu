/* resblock.cu — the residual block's own element-wise step on the device (see resblock.h):
 * out = max(a + b, 0). One float add and a compare, as on the CPU, so exact. The rest of the
 * block goes through the other backend entries (conv2d, batchnorm, relu, time_mask). */
#include "models/cuda_util.cuh"

static __global__ void add_relu_k(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float v = a[i] + b[i];
        out[i] = v > 0.0f ? v : 0.0f;
    }
}

extern "C" void add_relu_forward_cuda(float *out, const float *a, const float *b, size_t n)
{
    CU_ENTRY(c);
    if (n == 0)
        return;
    add_relu_k<<<cu_blocks(n), CU_BLOCK, 0, c->stream>>>(out, a, b, n);
    CUDA_CHECK_LAUNCH(c, "add_relu_k");
}
