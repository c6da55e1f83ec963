/* linear.cu — fully connected layer on the device with cuBLAS (see linear.h).
 *
 * cuBLAS is column-major; our tensors are row-major. A row-major (r, c) matrix is the
 * column-major (c, r) matrix with leading dimension c, i.e. its transpose, so each row-major
 * product is computed as the transposed product:
 *   out (N, Out) = in W^T     ->  out^T (Out, N) = W_cm^T (Out, In) . in_cm (In, N)
 *   din (N, In)  = dout W     ->  din^T (In, N)  = W_cm (In, Out) . dout_cm (Out, N)
 *   dW (Out, In) += dout^T in ->  dW^T (In, Out) += in_cm (In, N) . dout_cm^T (N, Out)
 * where X_cm is the row-major buffer read as column-major (= X^T). Bias: out is first filled
 * with b in every row and the sgemm adds onto it (beta = 1); db is a column sum of dout in
 * double, one thread per output feature (fixed order, deterministic).
 */
#include "models/cuda_util.cuh"

static __global__ void fill_rows_k(float *out, const float *b, int N, int Out)
{
    size_t n = (size_t)N * Out;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = b[i % Out];
}

static __global__ void col_sum_acc_k(float *db, const float *dout, int N, int Out)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= Out)
        return;
    double s = 0.0;
    for (int n = 0; n < N; n++)
        s += dout[(size_t)n * Out + j];
    db[j] += (float)s;
}

extern "C" void linear_forward_cuda(float *out, const float *in, const float *w, const float *b,
                                    const linear_dims *d)
{
    CU_ENTRY(c);
    if (d->N == 0 || d->Out == 0)
        return;
    const float one = 1.0f, zero = 0.0f;
    if (b) {
        fill_rows_k<<<cu_blocks((size_t)d->N * d->Out), CU_BLOCK, 0, c->stream>>>(out, b, d->N,
                                                                                  d->Out);
        if (CUDA_CHECK_LAUNCH(c, "fill_rows_k") != CH_OK)
            return;
    }
    CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, d->Out, d->N, d->In, &one, w,
                                d->In, in, d->In, b ? &one : &zero, out, d->Out));
}

extern "C" void linear_backward_cuda(float *din, float *dw, float *db, const float *dout,
                                     const float *in, const float *w, const linear_dims *d)
{
    CU_ENTRY(c);
    const float one = 1.0f, zero = 0.0f;
    if (din && CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_N, d->In, d->N,
                                           d->Out, &one, w, d->In, dout, d->Out, &zero, din,
                                           d->In)) != CH_OK)
        return;
    if (CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_T, d->In, d->Out, d->N,
                                    &one, in, d->In, dout, d->Out, &one, dw, d->In)) != CH_OK)
        return;
    if (db) {
        col_sum_acc_k<<<(d->Out + CU_BLOCK - 1) / CU_BLOCK, CU_BLOCK, 0, c->stream>>>(db, dout,
                                                                                     d->N, d->Out);
        CUDA_CHECK_LAUNCH(c, "col_sum_acc_k");
    }
}
