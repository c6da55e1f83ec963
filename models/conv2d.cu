/* conv2d.cu — 2-d convolution on the device with cuDNN (see conv2d.h for the layout and the
 * sample strides in_sn / out_sn, which map onto cuDNN's strided NCHW tensor descriptors as
 * (n, c, h, w) strides (in_sn, F*T, T, 1), so DenseNet's channel-prefix views work unchanged).
 *
 * Plans: descriptors, algorithms and workspace size depend only on the shape, so they are made
 * once per conv2d_dims (when the model sizes its workspace, i.e. at reserve time) and cached in
 * the context; a training step then only looks them up (no allocation, no cuDNN queries).
 * Algorithms come from cuDNN's heuristics (cudnnGet*Algorithm_v7: no trial runs), taking the
 * first that is supported and, for the two backward passes, deterministic, so results repeat
 * run to run like the CPU's. Math: CUDNN_FMA_MATH (true fp32) unless the context asks for TF32
 * (CUDNN_DEFAULT_MATH, which lets Ampere/Hopper tensor cores round inputs to TF32).
 * cuDNN 9 keeps this "legacy" convolution API (deprecated in favour of the graph API, still
 * supported); a graph-API port is a later step.
 * Accumulation: dw and db are ACCUMULATED (beta = 1), din is WRITTEN (beta = 0), as on the CPU.
 */
#include <stdlib.h>
#include <string.h>

#include "models/cuda_util.cuh"

struct conv_plan {
    conv2d_dims key; /* in_sn / out_sn resolved (never 0) */
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    size_t ws_bytes; /* max over the three passes */
};

struct conv_plans {
    int n, cap;
    conv_plan *p;
};

static conv2d_dims resolved(const conv2d_dims *d)
{
    conv2d_dims k = *d;
    if (!k.in_sn)
        k.in_sn = (size_t)d->Cin * d->F * d->T;
    if (!k.out_sn)
        k.out_sn = (size_t)d->Cout * conv2d_out_f(d) * conv2d_out_t(d);
    return k;
}

static bool same(const conv2d_dims *a, const conv2d_dims *b)
{
    return a->N == b->N && a->Cin == b->Cin && a->F == b->F && a->T == b->T &&
           a->Cout == b->Cout && a->kF == b->kF && a->kT == b->kT && a->sF == b->sF &&
           a->sT == b->sT && a->pF == b->pF && a->pT == b->pT && a->dF == b->dF &&
           a->dT == b->dT && a->in_sn == b->in_sn && a->out_sn == b->out_sn;
}

static void plan_destroy(conv_plan *p)
{
    if (p->x)
        cudnnDestroyTensorDescriptor(p->x);
    if (p->y)
        cudnnDestroyTensorDescriptor(p->y);
    if (p->bias)
        cudnnDestroyTensorDescriptor(p->bias);
    if (p->w)
        cudnnDestroyFilterDescriptor(p->w);
    if (p->conv)
        cudnnDestroyConvolutionDescriptor(p->conv);
}

extern "C" void conv2d_cuda_plans_free(cuda_ctx *c)
{
    conv_plans *ps = (conv_plans *)c->conv_plans;
    if (!ps)
        return;
    for (int i = 0; i < ps->n; i++)
        plan_destroy(&ps->p[i]);
    free(ps->p);
    free(ps);
    c->conv_plans = NULL;
}

/* Fills p for k; CH_OK or the recorded failure. */
static ch_status plan_make(cuda_ctx *c, conv_plan *p, const conv2d_dims *k)
{
    memset(p, 0, sizeof *p);
    p->key = *k;
    const int Fo = conv2d_out_f(k), To = conv2d_out_t(k);
    const cudnnMathType_t math = c->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
    CH_TRY(CUDNN_CHECK(c, cudnnCreateTensorDescriptor(&p->x)));
    CH_TRY(CUDNN_CHECK(c, cudnnCreateTensorDescriptor(&p->y)));
    CH_TRY(CUDNN_CHECK(c, cudnnCreateTensorDescriptor(&p->bias)));
    CH_TRY(CUDNN_CHECK(c, cudnnCreateFilterDescriptor(&p->w)));
    CH_TRY(CUDNN_CHECK(c, cudnnCreateConvolutionDescriptor(&p->conv)));
    CH_TRY(CUDNN_CHECK(c, cudnnSetTensor4dDescriptorEx(p->x, CUDNN_DATA_FLOAT, k->N, k->Cin, k->F,
                                                       k->T, (int)k->in_sn, k->F * k->T, k->T,
                                                       1)));
    CH_TRY(CUDNN_CHECK(c, cudnnSetTensor4dDescriptorEx(p->y, CUDNN_DATA_FLOAT, k->N, k->Cout, Fo,
                                                       To, (int)k->out_sn, Fo * To, To, 1)));
    CH_TRY(CUDNN_CHECK(c, cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW,
                                                     CUDNN_DATA_FLOAT, 1, k->Cout, 1, 1)));
    CH_TRY(CUDNN_CHECK(c, cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                     k->Cout, k->Cin, k->kF, k->kT)));
    CH_TRY(CUDNN_CHECK(c, cudnnSetConvolution2dDescriptor(p->conv, k->pF, k->pT, k->sF, k->sT,
                                                          k->dF, k->dT, CUDNN_CROSS_CORRELATION,
                                                          CUDNN_DATA_FLOAT)));
    CH_TRY(CUDNN_CHECK(c, cudnnSetConvolutionMathType(p->conv, math)));

    /* heuristics, best first; take the first usable one */
    enum { MAXA = 16 };
    int got = 0, i;
    size_t bytes = 0;
    cudnnConvolutionFwdAlgoPerf_t fp[MAXA];
    CH_TRY(CUDNN_CHECK(c, cudnnGetConvolutionForwardAlgorithm_v7(c->cudnn, p->x, p->w, p->conv,
                                                                 p->y, MAXA, &got, fp)));
    for (i = 0; i < got && fp[i].status != CUDNN_STATUS_SUCCESS; i++)
        ;
    if (i == got)
        return CUDNN_CHECK(c, CUDNN_STATUS_NOT_SUPPORTED); /* names this line in the message */
    p->fwd = fp[i].algo;
    CH_TRY(CUDNN_CHECK(c, cudnnGetConvolutionForwardWorkspaceSize(c->cudnn, p->x, p->w, p->conv,
                                                                  p->y, p->fwd, &bytes)));
    p->ws_bytes = bytes;

    cudnnConvolutionBwdDataAlgoPerf_t dp[MAXA];
    CH_TRY(CUDNN_CHECK(c, cudnnGetConvolutionBackwardDataAlgorithm_v7(
                              c->cudnn, p->w, p->y, p->conv, p->x, MAXA, &got, dp)));
    for (i = 0; i < got && (dp[i].status != CUDNN_STATUS_SUCCESS ||
                            dp[i].determinism != CUDNN_DETERMINISTIC);
         i++)
        ;
    if (i == got)
        return CUDNN_CHECK(c, CUDNN_STATUS_NOT_SUPPORTED);
    p->bwd_data = dp[i].algo;
    CH_TRY(CUDNN_CHECK(c, cudnnGetConvolutionBackwardDataWorkspaceSize(
                              c->cudnn, p->w, p->y, p->conv, p->x, p->bwd_data, &bytes)));
    p->ws_bytes = bytes > p->ws_bytes ? bytes : p->ws_bytes;

    cudnnConvolutionBwdFilterAlgoPerf_t wp[MAXA];
    CH_TRY(CUDNN_CHECK(c, cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                              c->cudnn, p->x, p->y, p->conv, p->w, MAXA, &got, wp)));
    for (i = 0; i < got && (wp[i].status != CUDNN_STATUS_SUCCESS ||
                            wp[i].determinism != CUDNN_DETERMINISTIC);
         i++)
        ;
    if (i == got)
        return CUDNN_CHECK(c, CUDNN_STATUS_NOT_SUPPORTED);
    p->bwd_filter = wp[i].algo;
    CH_TRY(CUDNN_CHECK(c, cudnnGetConvolutionBackwardFilterWorkspaceSize(
                              c->cudnn, p->x, p->y, p->conv, p->w, p->bwd_filter, &bytes)));
    p->ws_bytes = bytes > p->ws_bytes ? bytes : p->ws_bytes;
    return CH_OK;
}

/* The plan for d (made on first use), or NULL with the failure recorded in c. */
static const conv_plan *plan_get(cuda_ctx *c, const conv2d_dims *d)
{
    conv2d_dims k = resolved(d);
    conv_plans *ps = (conv_plans *)c->conv_plans;
    if (ps)
        for (int i = 0; i < ps->n; i++)
            if (same(&ps->p[i].key, &k))
                return &ps->p[i];
    if (!ps) {
        ps = (conv_plans *)calloc(1, sizeof *ps);
        if (!ps) {
            CUDA_CHECK(c, cudaErrorMemoryAllocation);
            return NULL;
        }
        c->conv_plans = ps;
    }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 16;
        conv_plan *np = (conv_plan *)realloc(ps->p, sizeof *np * cap);
        if (!np) {
            CUDA_CHECK(c, cudaErrorMemoryAllocation);
            return NULL;
        }
        ps->p = np;
        ps->cap = cap;
    }
    conv_plan *p = &ps->p[ps->n];
    if (plan_make(c, p, &k) != CH_OK) {
        plan_destroy(p);
        return NULL;
    }
    ps->n++;
    return p;
}

extern "C" size_t conv2d_workspace_floats_cuda(const conv2d_dims *d)
{
    cuda_ctx *c = cuda_ctx_begin(__func__);
    if (!c)
        return 0;
    const conv_plan *p = plan_get(c, d);
    return p ? (p->ws_bytes + sizeof(float) - 1) / sizeof(float) : 0;
}

extern "C" void conv2d_forward_cuda(float *out, const float *in, const float *w, const float *b,
                                    const conv2d_dims *d, float *ws)
{
    CU_ENTRY(c);
    const conv_plan *p = plan_get(c, d);
    if (!p)
        return;
    const float one = 1.0f, zero = 0.0f;
    if (CUDNN_CHECK(c, cudnnConvolutionForward(c->cudnn, &one, p->x, in, p->w, w, p->conv, p->fwd,
                                               ws, p->ws_bytes, &zero, p->y, out)) != CH_OK)
        return;
    if (b)
        CUDNN_CHECK(c, cudnnAddTensor(c->cudnn, &one, p->bias, b, &one, p->y, out));
}

extern "C" void conv2d_backward_cuda(float *din, float *dw, float *db, const float *dout,
                                     const float *in, const float *w, const conv2d_dims *d,
                                     float *ws)
{
    CU_ENTRY(c);
    const conv_plan *p = plan_get(c, d);
    if (!p)
        return;
    const float one = 1.0f, zero = 0.0f;
    if (din && CUDNN_CHECK(c, cudnnConvolutionBackwardData(c->cudnn, &one, p->w, w, p->y, dout,
                                                           p->conv, p->bwd_data, ws, p->ws_bytes,
                                                           &zero, p->x, din)) != CH_OK)
        return;
    if (CUDNN_CHECK(c, cudnnConvolutionBackwardFilter(c->cudnn, &one, p->x, in, p->y, dout,
                                                      p->conv, p->bwd_filter, ws, p->ws_bytes,
                                                      &one, p->w, dw)) != CH_OK)
        return;
    if (db)
        CUDNN_CHECK(c, cudnnConvolutionBackwardBias(c->cudnn, &one, p->y, dout, &one, p->bias, db));
}
