/* time_mask.cu — padded-frame masking on the device (see time_mask.h): one thread per element
 * of the padded tail, no arithmetic, so the result is exactly the CPU's. lengths is a device
 * array (values clamped to T as on the CPU) or NULL (no-op). */
#include "models/cuda_util.cuh"

static __global__ void time_mask_k(float *x, const int *lengths, int N, int R, int T)
{
    const size_t total = (size_t)N * R * T;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const int t = (int)(i % T), n = (int)(i / ((size_t)R * T));
        if (t >= lengths[n]) /* lengths[n] >= T: nothing to clear */
            x[i] = 0.0f;
    }
}

extern "C" void time_mask_cuda(float *x, const int *lengths, int N, int R, int T)
{
    if (!lengths)
        return; /* the CPU's no-op, without touching the context */
    CU_ENTRY(c);
    const size_t total = (size_t)N * R * T;
    if (total == 0)
        return;
    time_mask_k<<<cu_blocks(total), CU_BLOCK, 0, c->stream>>>(x, lengths, N, R, T);
    CUDA_CHECK_LAUNCH(c, "time_mask_k");
}
