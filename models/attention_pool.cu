/* attention_pool.cu — additive attention pooling on the device (see attention_pool.h).
 *
 * Same steps and the same float/double rounding points as attention_pool.c:
 *   forward:  u = h W^T (one cuBLAS sgemm over the N*T frames), then one block per sequence:
 *             threads over frames take u = tanh(u + b) and e_t = v . u_t (double, serial over
 *             A, as the CPU), a fixed-order block max / sum gives the softmax, and threads over
 *             features take out = sum_t alpha_t h_t (double, serial over t).
 *   backward: one block per sequence for de_t and dZ = de v (1 - u^2) and dh = alpha dout,
 *             then cuBLAS for dv += u^T de (sgemv), dW += dZ^T h and dh += dZ W (sgemm), and a
 *             column sum in double (one thread per attention unit, rows in order) for db.
 * No atomics: deterministic run to run. The device's tanhf / exp differ from glibc's by an ulp
 * or two and the GEMMs sum in another order, so parity is to rounding (GEMM tolerances).
 * lengths is a device array; like the CPU, u past a sequence's length stays h W^T (no bias,
 * no tanh) and is never read. */
#include <math.h>

#include "models/cuda_util.cuh"

/* One block per sequence n: finishes u, writes alpha (N, T) and out (N, Dm). */
static __global__ void ap_fwd_k(float *out, float *u, float *alpha, const float *h,
                                const int *lengths, const float *b, const float *v, int T, int Dm,
                                int A)
{
    __shared__ double sh[CU_BLOCK];
    const int n = blockIdx.x, len = min(lengths[n], T); /* > T would read past h */
    float *al = alpha + (size_t)n * T;
    float *o = out + (size_t)n * Dm;
    if (len <= 0) { /* uniform over the block: no barrier is skipped by only some threads */
        for (int t = threadIdx.x; t < T; t += blockDim.x)
            al[t] = 0.0f;
        for (int k = threadIdx.x; k < Dm; k += blockDim.x)
            o[k] = 0.0f;
        return;
    }
    double emax = -INFINITY;
    for (int t = threadIdx.x; t < T; t += blockDim.x) {
        if (t >= len) {
            al[t] = 0.0f;
            continue;
        }
        float *ur = u + ((size_t)n * T + t) * A;
        double e = 0.0;
        for (int a = 0; a < A; a++) {
            ur[a] = tanhf(ur[a] + b[a]);
            e += (double)v[a] * ur[a];
        }
        al[t] = (float)e; /* the CPU keeps e as a float here too */
        emax = e > emax ? e : emax;
    }
    emax = cu_block_max(emax, sh);
    double z = 0.0;
    for (int t = threadIdx.x; t < len; t += blockDim.x)
        z += exp((double)al[t] - emax);
    z = cu_block_sum(z, sh);
    for (int t = threadIdx.x; t < len; t += blockDim.x)
        al[t] = (float)(exp((double)al[t] - emax) / z);
    __syncthreads(); /* alpha (global) complete before any thread reads all of it */
    for (int k = threadIdx.x; k < Dm; k += blockDim.x) {
        double acc = 0.0;
        for (int t = 0; t < len; t++)
            acc += (double)al[t] * h[((size_t)n * T + t) * Dm + k];
        o[k] = (float)acc;
    }
}

/* One block per sequence n: de (N*T), dZ (N*T, A), and dh = alpha dout (when dh != NULL). */
static __global__ void ap_bwd_k(float *dh, float *de, float *dZ, const float *dout,
                                const float *u, const float *alpha, const float *h,
                                const int *lengths, const float *v, int T, int Dm, int A)
{
    __shared__ double sh[CU_BLOCK];
    const int n = blockIdx.x, len = max(0, min(lengths[n], T));
    const float *al = alpha + (size_t)n * T;
    const float *go = dout + (size_t)n * Dm;
    float *den = de + (size_t)n * T;
    double sum = 0.0;
    for (int t = threadIdx.x; t < len; t += blockDim.x) {
        const float *hr = h + ((size_t)n * T + t) * Dm;
        double da = 0.0;
        for (int k = 0; k < Dm; k++)
            da += (double)go[k] * hr[k];
        den[t] = (float)da; /* dalpha_t, rounded to float as on the CPU */
        sum += al[t] * da;
    }
    sum = cu_block_sum(sum, sh); /* its barriers also order the den writes above */
    for (int t = threadIdx.x; t < T; t += blockDim.x)
        den[t] = t < len ? (float)(al[t] * ((double)den[t] - sum)) : 0.0f;
    __syncthreads();
    const size_t rows = (size_t)T * A;
    for (size_t i = threadIdx.x; i < rows; i += blockDim.x) {
        const int t = (int)(i / A), a = (int)(i % A);
        const size_t r = (size_t)n * T + t;
        const float ua = u[r * A + a];
        dZ[r * A + a] = t < len ? den[t] * v[a] * (1.0f - ua * ua) : 0.0f;
    }
    if (!dh)
        return;
    const size_t cells = (size_t)T * Dm;
    for (size_t i = threadIdx.x; i < cells; i += blockDim.x) {
        const int t = (int)(i / Dm), k = (int)(i % Dm);
        dh[((size_t)n * T + t) * Dm + k] = t < len ? al[t] * go[k] : 0.0f;
    }
}

/* db[a] += sum over rows of dZ (rows, A): double, rows in order. */
static __global__ void ap_col_sum_acc_k(float *db, const float *dZ, int rows, int A)
{
    for (int a = blockIdx.x * blockDim.x + threadIdx.x; a < A; a += gridDim.x * blockDim.x) {
        double s = 0.0;
        for (int r = 0; r < rows; r++)
            s += dZ[(size_t)r * A + a];
        db[a] += (float)s;
    }
}

extern "C" void attention_pool_forward_cuda(float *out, float *saved, const float *h,
                                            const int *lengths, const float *w,
                                            const attention_pool_dims *d, float *ws)
{
    (void)ws;
    CU_ENTRY(c);
    const int N = d->N, T = d->T, Dm = d->Dm, A = d->A, NT = N * T;
    if (N == 0)
        return;
    const float *W = w, *b = w + (size_t)A * Dm, *v = b + A;
    float *u = saved, *alpha = saved + (size_t)NT * A;
    const float one = 1.0f, zero = 0.0f;
    /* u (NT, A) = h (NT, Dm) W^T: column-major u^T = W_cm^T h_cm (see linear.cu) */
    if (NT > 0 && CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, A, NT, Dm,
                                              &one, W, Dm, h, Dm, &zero, u, A)) != CH_OK)
        return;
    ap_fwd_k<<<N, CU_BLOCK, 0, c->stream>>>(out, u, alpha, h, lengths, b, v, T, Dm, A);
    CUDA_CHECK_LAUNCH(c, "ap_fwd_k");
}

extern "C" void attention_pool_backward_cuda(float *dh, float *dw, const float *dout,
                                             const float *saved, const float *h,
                                             const int *lengths, const float *w,
                                             const attention_pool_dims *d, float *ws)
{
    CU_ENTRY(c);
    const int N = d->N, T = d->T, Dm = d->Dm, A = d->A, NT = N * T;
    if (NT == 0)
        return;
    const float *W = w, *v = w + (size_t)A * Dm + A;
    float *dW = dw, *db = dw + (size_t)A * Dm, *dv = db + A;
    const float *u = saved, *alpha = saved + (size_t)NT * A;
    float *de = ws, *dZ = ws + NT; /* same workspace layout as the CPU */
    const float one = 1.0f;
    ap_bwd_k<<<N, CU_BLOCK, 0, c->stream>>>(dh, de, dZ, dout, u, alpha, h, lengths, v, T, Dm, A);
    if (CUDA_CHECK_LAUNCH(c, "ap_bwd_k") != CH_OK)
        return;
    /* dv (A) += u^T de: u_cm is (A, NT) */
    if (CUBLAS_CHECK(c, cublasSgemv(c->cublas, CUBLAS_OP_N, A, NT, &one, u, A, de, 1, &one, dv,
                                    1)) != CH_OK)
        return;
    /* dW (A, Dm) += dZ^T h: column-major dW^T (Dm, A) += h_cm (Dm, NT) dZ_cm^T (NT, A) */
    if (CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_T, Dm, A, NT, &one, h, Dm,
                                    dZ, A, &one, dW, Dm)) != CH_OK)
        return;
    ap_col_sum_acc_k<<<(A + CU_BLOCK - 1) / CU_BLOCK, CU_BLOCK, 0, c->stream>>>(db, dZ, NT, A);
    if (CUDA_CHECK_LAUNCH(c, "ap_col_sum_acc_k") != CH_OK)
        return;
    /* dh (NT, Dm) += dZ (NT, A) W (A, Dm): column-major dh^T = W_cm dZ_cm */
    if (dh)
        CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_N, Dm, NT, A, &one, W, Dm,
                                    dZ, A, &one, dh, Dm));
}
