/* aam_softmax.cu — additive angular margin softmax loss on the device (see aam_softmax.h; the
 * steps and rounding points of aam_softmax.c, the same workspace layout):
 *   row normalisation: one block per row, |x|^2 as a fixed-order double block sum;
 *   cos = en wn^T: cuBLAS sgemm;
 *   margin + softmax CE: one block per sample (block max / sum in double), the row's loss into
 *   the context's double scratch, d loss / d cos into g; one thread then sums the N row losses
 *   in order and the mean comes back through the pinned scalar (so this entry waits for the
 *   stream, like softmax_ce_forward_backward_cuda);
 *   demb = proj(g wn), dw += proj(g^T en): cuBLAS sgemm, then the normalisation's backward (one
 *   block per row).
 * No atomics: deterministic. labels is a device array with values in [0, K). */
#include <math.h>

#include "models/cuda_util.cuh"

#define AAM_NORM_EPS 1e-12 /* F.normalize's eps, as aam_softmax.c */

/* out[r] = x[r] / max(|x[r]|, eps), inv[r] = 1 / max(|x[r]|, eps): one block per row. */
static __global__ void aam_normalise_k(float *out, float *inv, const float *x, int D)
{
    __shared__ double sh[CU_BLOCK];
    const size_t r = blockIdx.x;
    const float *xr = x + r * D;
    double ss = 0.0;
    for (int j = threadIdx.x; j < D; j += blockDim.x)
        ss += (double)xr[j] * xr[j];
    ss = cu_block_sum(ss, sh);
    const double iv = 1.0 / fmax(sqrt(ss), AAM_NORM_EPS);
    if (threadIdx.x == 0)
        inv[r] = (float)iv;
    for (int j = threadIdx.x; j < D; j += blockDim.x)
        out[r * D + j] = (float)(xr[j] * iv);
}

/* dx[r] (=, or += when acc) = (dy - y <y, dy>) * inv, or dy * inv where |x| was clamped.
 * One block per row; dx may equal dy (each element is read before it is written, and every
 * read of the row's dot product finishes at the block sum's barrier). */
static __global__ void aam_normalise_bwd_k(float *dx, const float *dy, const float *y,
                                           const float *inv, const float *x, int D, int acc)
{
    __shared__ double sh[CU_BLOCK];
    const size_t r = blockIdx.x;
    const float *yr = y + r * D, *gr = dy + r * D, *xr = x + r * D;
    double dot = 0.0, ss = 0.0;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        dot += (double)yr[j] * gr[j];
        ss += (double)xr[j] * xr[j];
    }
    dot = cu_block_sum(dot, sh);
    ss = cu_block_sum(ss, sh);
    if (sqrt(ss) < AAM_NORM_EPS)
        dot = 0.0;
    float *o = dx + r * D;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        const float v = (float)((gr[j] - yr[j] * dot) * inv[r]);
        o[j] = acc ? o[j] + v : v;
    }
}

/* One block per sample n: logits (optional), the row loss, and g = d loss / d cos. */
static __global__ void aam_rows_k(double *row_loss, float *logits, float *g, const float *cosv,
                                  const int *labels, int N, int K, double s, double cos_m,
                                  double sin_m, double th, double mmm, int easy)
{
    __shared__ double sh[CU_BLOCK];
    const int n = blockIdx.x, y = labels[n];
    const float *c = cosv + (size_t)n * K;
    float *z = g + (size_t)n * K; /* logits first, then overwritten by d loss / d cos */
    const double cy = c[y];
    const double sine = sqrt(fmin(fmax(1.0 - cy * cy, 0.0), 1.0));
    double phi, dphi; /* the target's modified cosine and d phi / d cos */
    if (easy ? cy > 0.0 : cy > th) {
        phi = cy * cos_m - sine * sin_m;
        dphi = cos_m + (sine > 0.0 ? sin_m * cy / sine : 0.0);
    } else {
        phi = easy ? cy : cy - mmm;
        dphi = 1.0;
    }
    const float zy = (float)(s * phi); /* = z[y], computed here so no thread reads another's */
    double mx = -INFINITY;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        const float zk = k == y ? zy : (float)(s * (double)c[k]);
        z[k] = zk;
        if (logits)
            logits[(size_t)n * K + k] = zk;
        mx = zk > mx ? (double)zk : mx;
    }
    mx = cu_block_max(mx, sh);
    double se = 0.0;
    for (int k = threadIdx.x; k < K; k += blockDim.x)
        se += exp((double)z[k] - mx);
    se = cu_block_sum(se, sh);
    const double lse = mx + log(se);
    if (threadIdx.x == 0)
        row_loss[n] = lse - zy;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        const double p = exp((double)z[k] - lse);
        const double dz = (p - (k == y ? 1.0 : 0.0)) / N;
        z[k] = (float)(s * dz * (k == y ? dphi : 1.0));
    }
}

static __global__ void aam_mean_k(double *row_loss, int N)
{
    double total = 0.0;
    for (int n = 0; n < N; n++)
        total += row_loss[n];
    row_loss[N] = total / N;
}

extern "C" size_t aam_softmax_workspace_floats_cuda(const aam_dims *d)
{
    return aam_softmax_workspace_floats(d); /* same layout as the CPU */
}

extern "C" double aam_softmax_forward_backward_cuda(float *logits, float *demb, float *dw,
                                                    const float *emb, const float *w,
                                                    const int *labels, const aam_dims *d,
                                                    float *ws)
{
    cuda_ctx *c = cuda_ctx_begin(__func__);
    const int N = d->N, K = d->K, D = d->D;
    if (!c || N <= 0 || K <= 0 || D <= 0)
        return NAN;
    float *en = ws, *wn = en + (size_t)N * D, *dwn = wn + (size_t)K * D;
    float *cosv = dwn + (size_t)K * D, *g = cosv + (size_t)N * K;
    float *inv_e = g + (size_t)N * K, *inv_w = inv_e + N;
    const double s = d->scale, m = d->margin;
    const double cos_m = cos(m), sin_m = sin(m), th = cos(M_PI - m), mmm = 1.0 + cos(M_PI - m);
    const float one = 1.0f, zero = 0.0f;

    if (cuda_ctx_scratch(c, (size_t)N + 1) != CH_OK)
        return NAN;
    aam_normalise_k<<<N, CU_BLOCK, 0, c->stream>>>(en, inv_e, emb, D);
    if (CUDA_CHECK_LAUNCH(c, "aam_normalise_k (emb)") != CH_OK)
        return NAN;
    aam_normalise_k<<<K, CU_BLOCK, 0, c->stream>>>(wn, inv_w, w, D);
    if (CUDA_CHECK_LAUNCH(c, "aam_normalise_k (w)") != CH_OK)
        return NAN;
    /* cos (N, K) = en (N, D) wn^T: column-major cos^T = wn_cm^T en_cm (see linear.cu) */
    if (CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_T, CUBLAS_OP_N, K, N, D, &one, wn, D, en,
                                    D, &zero, cosv, K)) != CH_OK)
        return NAN;
    aam_rows_k<<<N, CU_BLOCK, 0, c->stream>>>(c->scratch, logits, g, cosv, labels, N, K, s,
                                              cos_m, sin_m, th, mmm, d->easy_margin);
    if (CUDA_CHECK_LAUNCH(c, "aam_rows_k") != CH_OK)
        return NAN;
    aam_mean_k<<<1, 1, 0, c->stream>>>(c->scratch, N);
    if (CUDA_CHECK_LAUNCH(c, "aam_mean_k") != CH_OK)
        return NAN;
    if (demb) {
        /* d loss / d en (N, D) = g (N, K) wn (K, D), into demb, then projected in place */
        if (CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_N, D, N, K, &one, wn,
                                        D, g, K, &zero, demb, D)) != CH_OK)
            return NAN;
        aam_normalise_bwd_k<<<N, CU_BLOCK, 0, c->stream>>>(demb, demb, en, inv_e, emb, D, 0);
        if (CUDA_CHECK_LAUNCH(c, "aam_normalise_bwd_k (emb)") != CH_OK)
            return NAN;
    }
    if (dw) {
        /* d loss / d wn (K, D) = g^T (K, N) en (N, D): column-major dwn^T = en_cm g_cm^T */
        if (CUBLAS_CHECK(c, cublasSgemm(c->cublas, CUBLAS_OP_N, CUBLAS_OP_T, D, K, N, &one, en,
                                        D, g, K, &zero, dwn, D)) != CH_OK)
            return NAN;
        aam_normalise_bwd_k<<<K, CU_BLOCK, 0, c->stream>>>(dw, dwn, wn, inv_w, w, D, 1);
        if (CUDA_CHECK_LAUNCH(c, "aam_normalise_bwd_k (w)") != CH_OK)
            return NAN;
    }
    if (CUDA_CHECK(c, cudaMemcpyAsync(c->host_scalar, c->scratch + N, sizeof(double),
                                      cudaMemcpyDeviceToHost, c->stream)) != CH_OK ||
        CUDA_CHECK(c, cudaStreamSynchronize(c->stream)) != CH_OK)
        return NAN;
    return *c->host_scalar;
}
