/* lstm.cu — LSTM forward / backward through time on the device (see lstm.h for layouts and
 * lstm.c for the CPU version this mirrors step for step).
 *
 * Own kernels + cuBLAS rather than cuDNN's RNN API: cuDNN keeps the gate activations in an
 * opaque reserve space and wants its own weight layout, which would break lstm.h's contract
 * (explicit saved gates / cells, PyTorch's flat weight layout, dw accumulated in place). cuDNN
 * (cudnnRNNForward with padded I/O and seqLengthArray) is a later optimisation behind the same
 * entry points.
 *
 * Forward, per direction: G = x W_ih^T for all N*T frames as ONE sgemm into the saved gates,
 * plus b_ih + b_hh; then per step one sgemm tmp = h W_hh^T (N, 4H) and one element-wise kernel
 * (a thread per (n, k)) that activates the gates, updates c and h, and writes y, gates, cells
 * for the sequences still active (s < lengths[n]; the reverse direction walks t = len-1-s).
 * Backward, per direction: steps in reverse, one element-wise kernel for the pre-activation
 * gate gradients (kept for every frame in dG, plus the previous hidden state in Hp), one sgemm
 * dA W_hh, one copy kernel into dh for the active rows; then dW_ih, dW_hh, dx as three large
 * sgemms and the biases as a double column sum (one thread per gate unit, rows in order).
 * The host loops over all T steps (lengths is a device array; inactive rows just do nothing),
 * as the CPU does. No atomics: deterministic. The same tanh-through-expf as the CPU; device
 * expf and the GEMM summation order differ, so parity is to rounding.
 * Workspace: the CPU layout and size (lstm_workspace_floats), on the device.
 */
#include <math.h>

#include "models/cuda_util.cuh"

static __device__ inline float lstm_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* lstm.c's tanh_fast: no cancellation for large |x|, saturates to +-1 */
static __device__ inline float lstm_tanh(float x)
{
    const float t = expf(-2.0f * fabsf(x));
    return copysignf((1.0f - t) / (1.0f + t), x);
}

static __device__ inline int lstm_step_time(int dir, int s, int len)
{
    return dir == 0 ? s : len - 1 - s;
}

/* G (rows, 4H) += b_ih + b_hh (the sum rounded to float first, as the CPU). */
static __global__ void lstm_bias_k(float *G, const float *bih, const float *bhh, size_t rows,
                                   int H4)
{
    const size_t total = rows * H4;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const int j = (int)(i % H4);
        G[i] += bih[j] + bhh[j];
    }
}

/* One forward step s of direction dir: a thread per (n, k). rt: (N, 4H) recurrent term, or
 * NULL at the first step (h = 0). */
static __global__ void lstm_fwd_step_k(float *y, float *G, float *C, float *h, float *c,
                                       const float *rt, const int *lengths, int N, int T, int H,
                                       int DH, int dir, int s)
{
    const size_t total = (size_t)N * H;
    const int H4 = 4 * H;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const int n = (int)(i / H), k = (int)(i % H), len = lengths[n];
        if (s >= len)
            continue; /* padded: state untouched, output stays zero */
        const int t = lstm_step_time(dir, s, len);
        float *g = G + ((size_t)n * T + t) * H4;
        const float *r = rt ? rt + (size_t)n * H4 : NULL;
        const float gi = lstm_sigmoid(g[k] + (r ? r[k] : 0.0f));
        const float gf = lstm_sigmoid(g[H + k] + (r ? r[H + k] : 0.0f));
        const float gg = lstm_tanh(g[2 * H + k] + (r ? r[2 * H + k] : 0.0f));
        const float go = lstm_sigmoid(g[3 * H + k] + (r ? r[3 * H + k] : 0.0f));
        const float cv = gf * c[i] + gi * gg;
        const float hv = go * lstm_tanh(cv);
        g[k] = gi;
        g[H + k] = gf;
        g[2 * H + k] = gg;
        g[3 * H + k] = go;
        c[i] = cv;
        h[i] = hv;
        C[((size_t)n * T + t) * H + k] = cv;
        y[((size_t)n * T + t) * DH + (size_t)dir * H + k] = hv;
    }
}

/* One backward step s of direction dir: a thread per (n, k); writes dA (N, 4H) (zero for
 * inactive rows), the frame's dG and Hp, and updates dc. */
static __global__ void lstm_bwd_step_k(float *dA, float *dG, float *Hp, const float *dh,
                                       float *dc, const float *dy, const float *y,
                                       const float *G, const float *C, const int *lengths, int N,
                                       int T, int H, int DH, int dir, int s)
{
    const size_t total = (size_t)N * H;
    const int H4 = 4 * H;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const int n = (int)(i / H), k = (int)(i % H), len = lengths[n];
        float *da = dA + (size_t)n * H4;
        if (s >= len) {
            da[k] = da[H + k] = da[2 * H + k] = da[3 * H + k] = 0.0f;
            continue;
        }
        const int t = lstm_step_time(dir, s, len);
        const int tp = dir == 0 ? t - 1 : t + 1; /* previous frame in this direction */
        const size_t idx = (size_t)n * T + t;
        const float *g = G + idx * H4;
        const float gi = g[k], gf = g[H + k], gg = g[2 * H + k], go = g[3 * H + k];
        const float tc = lstm_tanh(C[idx * H + k]);
        const float dhv = dh[i] + dy[idx * DH + (size_t)dir * H + k];
        const float dcv = dc[i] + dhv * go * (1.0f - tc * tc);
        const float cp = s > 0 ? C[((size_t)n * T + tp) * H + k] : 0.0f;
        const float a0 = dcv * gg * gi * (1.0f - gi);
        const float a1 = dcv * cp * gf * (1.0f - gf);
        const float a2 = dcv * gi * (1.0f - gg * gg);
        const float a3 = dhv * tc * go * (1.0f - go);
        da[k] = a0, da[H + k] = a1, da[2 * H + k] = a2, da[3 * H + k] = a3;
        float *dgr = dG + idx * H4;
        dgr[k] = a0, dgr[H + k] = a1, dgr[2 * H + k] = a2, dgr[3 * H + k] = a3;
        dc[i] = dcv * gf;
        Hp[idx * H + k] = s > 0 ? y[((size_t)n * T + tp) * DH + (size_t)dir * H + k] : 0.0f;
    }
}

/* dh[n] = tmp[n] for the rows active at step s. */
static __global__ void lstm_copy_active_k(float *dh, const float *tmp, const int *lengths,
                                          int N, int H, int s)
{
    const size_t total = (size_t)N * H;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        if (s < lengths[i / H])
            dh[i] = tmp[i];
}

/* dbih[j] += sum_r dG[r, j], dbhh[j] += the same: double, rows in order. */
static __global__ void lstm_bias_grad_k(float *dbih, float *dbhh, const float *dG, int rows,
                                        int H4)
{
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < H4; j += gridDim.x * blockDim.x) {
        double acc = 0.0;
        for (int r = 0; r < rows; r++)
            acc += dG[(size_t)r * H4 + j];
        dbih[j] += (float)acc;
        dbhh[j] += (float)acc;
    }
}

static size_t dir_param_floats(const lstm_dims *d)
{
    const size_t H4 = 4 * (size_t)d->H;
    return H4 * (size_t)d->In + H4 * (size_t)d->H + 2 * H4;
}

/* Device-to-device copy (or zero fill when src is NULL) of n floats on the stream. */
static ch_status copy_or_zero(cuda_ctx *c, float *dst, const float *src, size_t n)
{
    if (src)
        return CUDA_CHECK(c, cudaMemcpyAsync(dst, src, sizeof(float) * n,
                                             cudaMemcpyDeviceToDevice, c->stream));
    return CUDA_CHECK(c, cudaMemsetAsync(dst, 0, sizeof(float) * n, c->stream));
}

extern "C" size_t lstm_workspace_floats_cuda(const lstm_dims *d)
{
    return lstm_workspace_floats(d); /* same layout as the CPU */
}

extern "C" void lstm_forward_cuda(float *y, float *hn, float *cn, float *gates, float *cells,
                                  const float *x, const int *lengths, const float *w,
                                  const lstm_dims *d, float *ws)
{
    CU_ENTRY(c);
    const int N = d->N, T = d->T, In = d->In, H = d->H, H4 = 4 * d->H;
    const int D = lstm_directions(d), DH = D * H, NT = N * T;
    const size_t NH = (size_t)N * H;
    if (NH == 0)
        return;
    float *tmp = ws;              /* (N, 4H) recurrent term of one step */
    float *h = tmp + (size_t)N * H4; /* (N, H) */
    float *cs = h + NH;           /* (N, H) */
    const float one = 1.0f, zero = 0.0f;
    const unsigned blocks = cu_blocks(NH);

    if (NT > 0 && copy_or_zero(c, y, NULL, (size_t)NT * DH) != CH_OK)
        return;
    for (int dir = 0; dir < D; dir++) {
        const float *wih = w + dir * dir_param_floats(d);
        const float *whh = wih + (size_t)H4 * In;
        const float *bih = whh + (size_t)H4 * H;
        const float *bhh = bih + H4;
        float *G = gates + (size_t)dir * NT * H4;
        float *C = cells + (size_t)dir * NT * H;
        if (copy_or_zero(c, h, NULL, NH) != CH_OK || copy_or_zero(c, cs, NULL, NH) != CH_OK)
            return;
        if (NT > 0) {
            /* G (NT, 4H) = x (NT, In) W_ih^T, then + b_ih + b_hh (see linear.cu for the
             * row-major -> column-major reading) */
            if (CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, H4, NT, In,
                                            &one, wih, In, x, In, &zero, G, H4)) != CH_OK)
                return;
            lstm_bias_k<<<cu_blocks((size_t)NT * H4), CU_BLOCK, 0, c->stream>>>(G, bih, bhh,
                                                                                (size_t)NT, H4);
            if (CUDA_CHECK_LAUNCH(c, "lstm_bias_k") != CH_OK)
                return;
        }
        for (int s = 0; s < T; s++) {
            /* tmp (N, 4H) = h (N, H) W_hh^T; skipped at the first step (h = 0) */
            if (s > 0 && CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, H4, N,
                                                     H, &one, whh, H, h, H, &zero, tmp,
                                                     H4)) != CH_OK)
                return;
            lstm_fwd_step_k<<<blocks, CU_BLOCK, 0, c->stream>>>(
                y, G, C, h, cs, s > 0 ? tmp : NULL, lengths, N, T, H, DH, dir, s);
            if (CUDA_CHECK_LAUNCH(c, "lstm_fwd_step_k") != CH_OK)
                return;
        }
        if (hn && copy_or_zero(c, hn + (size_t)dir * NH, h, NH) != CH_OK)
            return;
        if (cn && copy_or_zero(c, cn + (size_t)dir * NH, cs, NH) != CH_OK)
            return;
    }
}

extern "C" void lstm_backward_cuda(float *dx, float *dw, float *dh0, float *dc0, const float *dy,
                                   const float *dhn, const float *dcn, const float *y,
                                   const float *gates, const float *cells, const float *x,
                                   const int *lengths, const float *w, const lstm_dims *d,
                                   float *ws)
{
    CU_ENTRY(c);
    const int N = d->N, T = d->T, In = d->In, H = d->H, H4 = 4 * d->H;
    const int D = lstm_directions(d), DH = D * H, NT = N * T;
    const size_t NH = (size_t)N * H;
    if (NH == 0)
        return;
    float *dG = ws;                   /* (N*T, 4H) pre-activation gate gradients */
    float *Hp = dG + (size_t)NT * H4; /* (N*T, H) hidden state before each frame */
    float *dA = Hp + (size_t)NT * H;  /* (N, 4H) gate gradients of one step */
    float *dh = dA + (size_t)N * H4;  /* (N, H) running dL/dh */
    float *dc = dh + NH;              /* (N, H) running dL/dc */
    float *tmp = dc + NH;             /* (N, H) dA W_hh */
    const float one = 1.0f, zero = 0.0f;
    const unsigned blocks = cu_blocks(NH);

    for (int dir = 0; dir < D; dir++) {
        const float *wih = w + dir * dir_param_floats(d);
        const float *whh = wih + (size_t)H4 * In;
        float *dwih = dw + dir * dir_param_floats(d);
        float *dwhh = dwih + (size_t)H4 * In;
        float *dbih = dwhh + (size_t)H4 * H;
        float *dbhh = dbih + H4;
        const float *G = gates + (size_t)dir * NT * H4;
        const float *C = cells + (size_t)dir * NT * H;

        if ((NT > 0 && (copy_or_zero(c, dG, NULL, (size_t)NT * H4) != CH_OK ||
                        copy_or_zero(c, Hp, NULL, (size_t)NT * H) != CH_OK)) ||
            copy_or_zero(c, dh, dhn ? dhn + (size_t)dir * NH : NULL, NH) != CH_OK ||
            copy_or_zero(c, dc, dcn ? dcn + (size_t)dir * NH : NULL, NH) != CH_OK)
            return;
        for (int s = T - 1; s >= 0; s--) {
            lstm_bwd_step_k<<<blocks, CU_BLOCK, 0, c->stream>>>(dA, dG, Hp, dh, dc, dy, y, G, C,
                                                                lengths, N, T, H, DH, dir, s);
            if (CUDA_CHECK_LAUNCH(c, "lstm_bwd_step_k") != CH_OK)
                return;
            /* tmp (N, H) = dA (N, 4H) W_hh (4H, H): column-major tmp^T = whh_cm dA_cm */
            if (CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_N, H, N, H4, &one,
                                            whh, H, dA, H4, &zero, tmp, H)) != CH_OK)
                return;
            lstm_copy_active_k<<<blocks, CU_BLOCK, 0, c->stream>>>(dh, tmp, lengths, N, H, s);
            if (CUDA_CHECK_LAUNCH(c, "lstm_copy_active_k") != CH_OK)
                return;
        }
        if (dh0 && copy_or_zero(c, dh0 + (size_t)dir * NH, dh, NH) != CH_OK)
            return;
        if (dc0 && copy_or_zero(c, dc0 + (size_t)dir * NH, dc, NH) != CH_OK)
            return;
        if (NT == 0)
            continue;
        /* dW_ih (4H, In) += dG^T x: column-major dW_ih^T (In, 4H) += x_cm (In, NT) dG_cm^T */
        if (CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_T, In, H4, NT, &one, x,
                                        In, dG, H4, &one, dwih, In)) != CH_OK)
            return;
        /* dW_hh (4H, H) += dG^T Hp */
        if (CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_T, H, H4, NT, &one, Hp,
                                        H, dG, H4, &one, dwhh, H)) != CH_OK)
            return;
        lstm_bias_grad_k<<<(H4 + CU_BLOCK - 1) / CU_BLOCK, CU_BLOCK, 0, c->stream>>>(dbih, dbhh,
                                                                                    dG, NT, H4);
        if (CUDA_CHECK_LAUNCH(c, "lstm_bias_grad_k") != CH_OK)
            return;
        /* dx (NT, In) (=, then += for the reverse direction) = dG (NT, 4H) W_ih (4H, In) */
        if (dx && CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_N, In, NT, H4,
                                              &one, wih, In, dG, H4, dir == 0 ? &zero : &one, dx,
                                              In)) != CH_OK)
            return;
    }
}
