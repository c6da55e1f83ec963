/* concat.cu — channel concatenation and its split on the device (see concat.h): each input is
 * one strided 2-d copy (N rows of C[i]*S floats, row pitch sum C * S on the concatenated side),
 * so k inputs cost k cudaMemcpy2DAsync calls and no kernel. ins / dins / C are host arrays;
 * the tensors they point to are on the device. */
#include "models/cuda_util.cuh"

extern "C" void concat_forward_cuda(float *out, const float *const *ins, const int *C, int k,
                                    int N, int S)
{
    CU_ENTRY(c);
    size_t Ct = 0;
    for (int i = 0; i < k; i++)
        Ct += (size_t)C[i];
    size_t off = 0;
    for (int i = 0; i < k; i++) {
        const size_t w = (size_t)C[i] * S * sizeof(float);
        if (w && N && CUDA_CHECK(c, cudaMemcpy2DAsync(out + off, Ct * S * sizeof(float), ins[i], w,
                                                      w, (size_t)N, cudaMemcpyDeviceToDevice,
                                                      c->stream)) != CH_OK)
            return;
        off += (size_t)C[i] * S;
    }
}

extern "C" void concat_backward_cuda(float *const *dins, const float *dout, const int *C, int k,
                                     int N, int S)
{
    CU_ENTRY(c);
    size_t Ct = 0;
    for (int i = 0; i < k; i++)
        Ct += (size_t)C[i];
    size_t off = 0;
    for (int i = 0; i < k; i++) {
        const size_t w = (size_t)C[i] * S * sizeof(float);
        if (dins[i] && w && N &&
            CUDA_CHECK(c, cudaMemcpy2DAsync(dins[i], w, dout + off, Ct * S * sizeof(float), w,
                                            (size_t)N, cudaMemcpyDeviceToDevice,
                                            c->stream)) != CH_OK)
            return;
        off += (size_t)C[i] * S;
    }
}
