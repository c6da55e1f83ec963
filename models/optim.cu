/* optim.cu — SGD / AdamW steps and global-norm clipping on device arrays, with optim.h's exact
 * semantics. The update arithmetic is written with round-to-nearest intrinsics (__fmul_rn, ...)
 * in the CPU's evaluation order so nvcc cannot contract it into FMAs: one step then matches
 * optim.c bit for bit (gcc -std=c11 does not contract either). Bias corrections and other
 * per-step scalars are computed on the host in double, as optim.c does. */
#include <math.h>

#include "models/cuda_util.cuh"

static __global__ void sgd_k(float *p, float *buf, const float *g, size_t n, float wd, float mom,
                             float damp, int nesterov, float lr, int first)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float d = g[i];
        if (wd != 0.0f)
            d = __fadd_rn(d, __fmul_rn(wd, p[i]));
        if (buf) {
            float b = first ? d : __fadd_rn(__fmul_rn(mom, buf[i]), __fmul_rn(damp, d));
            buf[i] = b;
            d = nesterov ? __fadd_rn(d, __fmul_rn(mom, b)) : b;
        }
        p[i] = __fsub_rn(p[i], __fmul_rn(lr, d));
    }
}

static __global__ void adamw_k(float *p, float *m, float *v, const float *g, size_t n,
                               float decay, float b1c, float b2, float b2c, float step_size,
                               float bc2_sqrt, float eps)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float gi = g[i];
        float pi = __fmul_rn(p[i], decay);
        float mi = __fadd_rn(m[i], __fmul_rn(b1c, __fsub_rn(gi, m[i])));
        float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(b2c, gi), gi));
        m[i] = mi;
        v[i] = vi;
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2_sqrt), eps);
        p[i] = __fsub_rn(pi, __fmul_rn(step_size, __fdiv_rn(mi, denom)));
    }
}

/* partial[b] = sum of g^2 over block b's grid-stride share (double, fixed order) */
static __global__ void sumsq_k(double *partial, const float *g, size_t n)
{
    __shared__ double sh[CU_BLOCK];
    double s = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += (double)g[i] * g[i];
    s = cu_block_sum(s, sh);
    if (threadIdx.x == 0)
        partial[blockIdx.x] = s;
}

static __global__ void sum_in_order_k(double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    x[n] = s;
}

static __global__ void scale_k(float *g, size_t n, float c)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        g[i] *= c;
}

/* blocks of the norm reduction for a range: at most 1024 so the partials stay small */
static unsigned norm_blocks(size_t n)
{
    unsigned b = cu_blocks(n);
    return b > 1024 ? 1024 : b;
}

extern "C" ch_status optim_state_init_cuda(optim_state *st, const optim_options *o, size_t n,
                                           ch_error *err)
{
    /* optim_state_init validates the options and fills kind / n_moments; its host buffers (for
     * n = 0) are dropped again and replaced by device ones */
    CH_TRY(optim_state_init(st, o, 0, err));
    const int nm = st->n_moments;
    optim_state_free(st);
    st->n = n;
    cuda_ctx *c = cuda_ctx_begin(__func__);
    if (!c)
        return cuda_ctx_status(cuda_ctx_current(), err);
    for (int k = 0; k < nm; k++) {
        if (cuda_alloc(c, (void **)&st->moment[k], (n ? n : 1) * sizeof(float),
                       "optimizer moments") != CH_OK ||
            CUDA_CHECK(c, cudaMemsetAsync(st->moment[k], 0, (n ? n : 1) * sizeof(float),
                                          c->stream)) != CH_OK) {
            st->n_moments = k + 1;
            optim_state_free_cuda(st);
            return cuda_ctx_status(c, err);
        }
    }
    st->n_moments = nm;
    return CH_OK;
}

extern "C" void optim_state_free_cuda(optim_state *st)
{
    if (!st)
        return;
    for (int k = 0; k < 2; k++) {
        cudaFree(st->moment[k]);
        st->moment[k] = NULL;
    }
    st->n_moments = 0;
}

extern "C" void optim_step_cuda(float *param, optim_state *st, const float *grad,
                                const optim_range *ranges, int n_ranges, const optim_options *o,
                                double lr)
{
    CU_ENTRY(c);
    st->step++;
    for (int r = 0; r < n_ranges; r++) {
        const optim_range *rg = &ranges[r];
        if (rg->frozen || rg->count == 0)
            continue;
        const size_t off = rg->offset, n = rg->count;
        const double lr_d = (double)(float)(lr * rg->lr_scale); /* optim.c passes it as float */
        if (st->kind == OPTIM_ADAMW) {
            const double bc1 = 1.0 - pow(o->beta1, (double)st->step);
            const double bc2 = 1.0 - pow(o->beta2, (double)st->step);
            adamw_k<<<cu_blocks(n), CU_BLOCK, 0, c->stream>>>(
                param + off, st->moment[0] + off, st->moment[1] + off, grad + off, n,
                (float)(1.0 - lr_d * o->weight_decay), (float)(1.0 - o->beta1), (float)o->beta2,
                (float)(1.0 - o->beta2), (float)(lr_d / bc1), (float)sqrt(bc2), (float)o->eps);
            if (CUDA_CHECK_LAUNCH(c, "adamw_k") != CH_OK)
                return;
        } else {
            sgd_k<<<cu_blocks(n), CU_BLOCK, 0, c->stream>>>(
                param + off, st->n_moments ? st->moment[0] + off : NULL, grad + off, n,
                (float)o->weight_decay, (float)o->momentum, 1.0f - (float)o->dampening,
                o->nesterov, (float)lr_d, st->step == 1);
            if (CUDA_CHECK_LAUNCH(c, "sgd_k") != CH_OK)
                return;
        }
    }
}

extern "C" double optim_clip_grad_norm_cuda(float *grad, const optim_range *ranges, int n_ranges,
                                            double max_norm)
{
    cuda_ctx *c = cuda_ctx_begin(__func__);
    if (!c)
        return NAN;
    size_t parts = 0;
    for (int r = 0; r < n_ranges; r++)
        if (!ranges[r].frozen && ranges[r].count)
            parts += norm_blocks(ranges[r].count);
    if (cuda_ctx_scratch(c, parts + 1) != CH_OK)
        return NAN;
    size_t at = 0;
    for (int r = 0; r < n_ranges; r++) {
        if (ranges[r].frozen || !ranges[r].count)
            continue;
        unsigned b = norm_blocks(ranges[r].count);
        sumsq_k<<<b, CU_BLOCK, 0, c->stream>>>(c->scratch + at, grad + ranges[r].offset,
                                              ranges[r].count);
        if (CUDA_CHECK_LAUNCH(c, "sumsq_k") != CH_OK)
            return NAN;
        at += b;
    }
    sum_in_order_k<<<1, 1, 0, c->stream>>>(c->scratch, parts);
    if (CUDA_CHECK_LAUNCH(c, "sum_in_order_k") != CH_OK ||
        CUDA_CHECK(c, cudaMemcpyAsync(c->host_scalar, c->scratch + parts, sizeof(double),
                                      cudaMemcpyDeviceToHost, c->stream)) != CH_OK ||
        CUDA_CHECK(c, cudaStreamSynchronize(c->stream)) != CH_OK)
        return NAN;
    const double total = sqrt(*c->host_scalar);
    const double coef = max_norm / (total + 1e-6);
    if (coef < 1.0)
        for (int r = 0; r < n_ranges; r++) {
            if (ranges[r].frozen || !ranges[r].count)
                continue;
            scale_k<<<cu_blocks(ranges[r].count), CU_BLOCK, 0, c->stream>>>(
                grad + ranges[r].offset, ranges[r].count, (float)coef);
            if (CUDA_CHECK_LAUNCH(c, "scale_k") != CH_OK)
                return NAN;
        }
    return total;
}
