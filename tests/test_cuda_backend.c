/* test_cuda_backend.c — CUDA ≡ CPU parity of every layer in the CUDA table, the optimizer and
 * the error path: for each case, random inputs, the CPU layer on host copies, the CUDA entry on
 * device copies (outputs poisoned with NaN first, accumulated outputs pre-filled with the same
 * random values on both sides), then the results compared.
 *
 * SKIPs (exit 77, saying why) in a CUDA=0 build and where no GPU / driver is present; the device
 * is $CHORUS_CUDA_DEVICE or cuda:0.
 *
 * Tolerances (float32 on both sides; the reference is the CPU layer, itself checked against
 * PyTorch by test_layers):
 *  - exact (0): ReLU, pooling (same window order, same argmax), concat, dropout backward and
 *    out = in * mask, batch-norm eval (the affine step is kept free of FMA).
 *  - GEMM / cuDNN results (linear, conv2d, conv1d): atol 1e-5 + rtol 1e-4 for outputs and input
 *    gradients, atol 1e-4 + rtol 1e-4 for weight / bias gradients (sums over the batch), as
 *    test_layers uses against PyTorch: summation order differs, fp32 (no TF32) both sides.
 *  - double-accumulated reductions (batch norm train/backward, time pooling, softmax CE):
 *    atol 1e-6 + rtol 1e-5 (only the final float rounding and the order of double sums differ).
 *  - optimizer steps: rtol 1e-6 (expected bit-exact: same float operation order, no FMA).
 *  - a CUDA graph replay: as the eager calls it captured.
 *  - TF32 (an option, off by default): relative L2 error vs the fp32 CPU < 5e-3, printed.
 */
#include "test_util.h"

#include "common/rng.h"
#include "models/backend.h"
#include "models/backend_select.h"
#include "models/batchnorm.h"
#include "models/concat.h"
#include "models/conv1d.h"
#include "models/conv2d.h"
#include "models/dropout.h"
#include "models/linear.h"
#include "models/optim.h"
#include "models/pool2d.h"
#include "models/relu.h"
#include "models/softmax_ce.h"
#include "models/time_pool.h"
#include "models/aam_softmax.h"
#include "models/attention_pool.h"
#include "models/lstm.h"
#include "models/resblock.h"
#include "models/time_mask.h"

#if CHORUS_HAVE_CUDA
#include "models/backend_cuda.h"
#include "models/cuda_ctx.h"

#define ATOL_Y 1e-5
#define ATOL_W 1e-4
#define RTOL 1e-4
#define ATOL_R 1e-6
#define RTOL_R 1e-5

static nn_ctx g_ctx; /* opened once in main, before cmocka runs the cases */

/* ---- host / device helpers: every failure ends the case with the context's message */

static void check_device(const char *what)
{
    ch_error err;
    if (nn_device_check(&g_ctx, &err) != CH_OK)
        fail_msg("%s: %s", what, err.msg);
}

static float *h_rand(rng *r, size_t n, double scale)
{
    float *h = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(h);
    for (size_t i = 0; i < n; i++)
        h[i] = (float)(scale * (2.0 * rng_uniform(r) - 1.0));
    return h;
}

static float *h_nan(size_t n)
{
    float *h = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(h);
    for (size_t i = 0; i < n; i++)
        h[i] = NAN;
    return h;
}

static void *d_alloc(size_t bytes)
{
    cuda_ctx *c = g_ctx.device;
    void *p;
    if (cuda_alloc(c, &p, bytes, "test buffer") != CH_OK)
        check_device("cuda_alloc");
    return p;
}

static void *d_from(const void *h, size_t bytes)
{
    void *p = d_alloc(bytes);
    if (cuda_upload(g_ctx.device, p, h, bytes) != CH_OK)
        check_device("cuda_upload");
    return p;
}

static float *d_nan(size_t n)
{
    float *h = h_nan(n);
    float *d = d_from(h, sizeof(float) * n);
    free(h);
    return d;
}

/* Host copy of n floats at d (owned by the caller). */
static float *h_from(const void *d, size_t n)
{
    check_device("before download");
    float *h = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(h);
    if (cuda_download(g_ctx.device, h, d, sizeof(float) * n) != CH_OK)
        check_device("cuda_download");
    return h;
}

static void compare_dev(const char *what, const void *d, const float *want, size_t n, double atol,
                        double rtol)
{
    float *got = h_from(d, n);
    test_assert_close(what, got, want, n, atol, rtol);
    free(got);
}

static void assert_same_bits(const char *what, const void *d, const void *want, size_t bytes)
{
    float *got = h_from(d, bytes / sizeof(float));
    if (memcmp(got, want, bytes) != 0) {
        const unsigned char *a = (const unsigned char *)got, *b = want;
        size_t i = 0;
        while (a[i] == b[i])
            i++;
        free(got);
        fail_msg("%s: differs from the CPU at byte %zu (float %zu)", what, i, i / sizeof(float));
    }
    printf("%s: %zu bytes identical\n", what, bytes);
    free(got);
}

static float *dup(const float *h, size_t n)
{
    float *c = malloc(sizeof(float) * (n ? n : 1));
    assert_non_null(c);
    memcpy(c, h, sizeof(float) * n);
    return c;
}

/* ---- cases */

static void test_relu(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 11, 0);
    const size_t n = 100003;
    float *x = h_rand(&r, n, 1.0), *g = h_rand(&r, n, 1.0);
    float *y = malloc(sizeof(float) * n), *dx = malloc(sizeof(float) * n);
    relu_forward(y, x, n);
    relu_backward(dx, g, y, n);
    float *dX = d_from(x, sizeof(float) * n), *dG = d_from(g, sizeof(float) * n);
    float *dY = d_nan(n), *dDX = d_nan(n);
    g_ctx.be->relu_forward(dY, dX, n);
    g_ctx.be->relu_backward(dDX, dG, dY, n);
    check_device("relu");
    assert_same_bits("relu forward", dY, y, sizeof(float) * n);
    assert_same_bits("relu backward", dDX, dx, sizeof(float) * n);
    cuda_free(dX), cuda_free(dG), cuda_free(dY), cuda_free(dDX);
    free(x), free(g), free(y), free(dx);
}

static void linear_case(int N, int In, int Out, int bias, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    linear_dims d = {N, In, Out};
    size_t nx = (size_t)N * In, ny = (size_t)N * Out, nw = (size_t)Out * In;
    float *x = h_rand(&r, nx, 1.0), *w = h_rand(&r, nw, 0.3), *b = h_rand(&r, Out, 0.5);
    float *g = h_rand(&r, ny, 1.0), *dw = h_rand(&r, nw, 0.1), *db = h_rand(&r, Out, 0.1);
    float *y = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx);
    float *dX = d_from(x, sizeof(float) * nx), *dW = d_from(w, sizeof(float) * nw);
    float *dB = d_from(b, sizeof(float) * Out), *dG = d_from(g, sizeof(float) * ny);
    float *ddW = d_from(dw, sizeof(float) * nw), *ddB = d_from(db, sizeof(float) * Out);
    float *dY = d_nan(ny), *ddX = d_nan(nx);
    linear_forward(y, x, w, bias ? b : NULL, &d);
    linear_backward(dx, dw, bias ? db : NULL, g, x, w, &d);
    g_ctx.be->linear_forward(dY, dX, dW, bias ? dB : NULL, &d);
    g_ctx.be->linear_backward(ddX, ddW, bias ? ddB : NULL, dG, dX, dW, &d);
    check_device("linear");
    compare_dev("linear y", dY, y, ny, ATOL_Y, RTOL);
    compare_dev("linear dx", ddX, dx, nx, ATOL_Y, RTOL);
    compare_dev("linear dw (accumulated)", ddW, dw, nw, ATOL_W, RTOL);
    compare_dev("linear db (accumulated)", ddB, db, Out, ATOL_W, RTOL);
    cuda_free(dX), cuda_free(dW), cuda_free(dB), cuda_free(dG), cuda_free(ddW), cuda_free(ddB);
    cuda_free(dY), cuda_free(ddX);
    free(x), free(w), free(b), free(g), free(dw), free(db), free(y), free(dx);
}

static void test_linear(void **state)
{
    (void)state;
    linear_case(7, 33, 19, 1, 21);
    linear_case(64, 256, 12, 0, 22); /* no bias: db must stay as it was */
    linear_case(1, 5, 3, 1, 23);
}

/* conv2d with optional DenseNet-style strided views: the input is the first Cin channels of a
 * (N, Cin + ein, F, T) buffer, the output is written at channel offset eoff of a
 * (N, Cout + eout, Fo, To) buffer; the channels around it must keep their (sentinel) values. */
static void conv2d_case(conv2d_dims d, int ein, int eout, int eoff, int bias, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    const int Fo = conv2d_out_f(&d), To = conv2d_out_t(&d);
    const size_t FT = (size_t)d.F * d.T, FoTo = (size_t)Fo * To;
    d.in_sn = ein ? (size_t)(d.Cin + ein) * FT : 0;
    d.out_sn = eout ? (size_t)(d.Cout + eout) * FoTo : 0;
    const size_t nin = (size_t)d.N * (d.Cin + ein) * FT;
    const size_t nout = (size_t)d.N * (d.Cout + eout) * FoTo;
    const size_t nw = conv2d_weight_floats(&d), off = (size_t)eoff * FoTo;
    float *x = h_rand(&r, nin, 1.0), *w = h_rand(&r, nw, 0.3), *b = h_rand(&r, d.Cout, 0.5);
    float *g = h_rand(&r, nout, 1.0), *dw = h_rand(&r, nw, 0.1), *db = h_rand(&r, d.Cout, 0.1);
    float *y = h_rand(&r, nout, 9.0); /* sentinels around the written channels */
    float *dx = h_rand(&r, nin, 9.0);
    float *dw0 = dup(dw, nw), *db0 = dup(db, d.Cout); /* the accumulators' start */
    float *dY = d_from(y, sizeof(float) * nout), *ddX = d_from(dx, sizeof(float) * nin);
    float *ws = malloc(sizeof(float) * (conv2d_workspace_floats(&d) + 1));
    conv2d_forward(y + off, x, w, bias ? b : NULL, &d, ws);
    conv2d_backward(dx, dw, bias ? db : NULL, g + off, x, w, &d, ws);

    size_t wsn = g_ctx.be->conv2d_workspace_floats(&d);
    check_device("conv2d workspace sizing");
    float *dWS = d_alloc(sizeof(float) * (wsn ? wsn : 1));
    float *dX = d_from(x, sizeof(float) * nin), *dW = d_from(w, sizeof(float) * nw);
    float *dB = d_from(b, sizeof(float) * d.Cout), *dG = d_from(g, sizeof(float) * nout);
    float *ddW = d_from(dw0, sizeof(float) * nw), *ddB = d_from(db0, sizeof(float) * d.Cout);
    g_ctx.be->conv2d_forward(dY + off, dX, dW, bias ? dB : NULL, &d, dWS);
    g_ctx.be->conv2d_backward(ddX, ddW, bias ? ddB : NULL, dG + off, dX, dW, &d, dWS);
    check_device("conv2d");
    char what[160];
    snprintf(what, sizeof what, "conv2d %dx%d s%d,%d p%d,%d d%d,%d views %d/%d y", d.kF, d.kT,
             d.sF, d.sT, d.pF, d.pT, d.dF, d.dT, ein, eout);
    compare_dev(what, dY, y, nout, ATOL_Y, RTOL); /* includes the untouched sentinels */
    compare_dev("conv2d dx (sentinels in unread channels)", ddX, dx, nin, ATOL_Y, RTOL);
    compare_dev("conv2d dw (accumulated)", ddW, dw, nw, ATOL_W, RTOL);
    compare_dev("conv2d db (accumulated)", ddB, db, d.Cout, ATOL_W, RTOL);

    /* determinism: the same backward again from the same start gives the same bits */
    float *dw1 = h_from(ddW, nw);
    if (cuda_upload(g_ctx.device, ddW, dw0, sizeof(float) * nw) != CH_OK)
        check_device("upload");
    g_ctx.be->conv2d_backward(ddX, ddW, NULL, dG + off, dX, dW, &d, dWS);
    assert_same_bits("conv2d dw repeat (deterministic algorithms)", ddW, dw1, sizeof(float) * nw);

    cuda_free(dY), cuda_free(ddX), cuda_free(dWS), cuda_free(dX), cuda_free(dW), cuda_free(dB);
    cuda_free(dG), cuda_free(ddW), cuda_free(ddB);
    free(x), free(w), free(b), free(g), free(dw), free(db), free(y), free(dx), free(ws);
    free(dw0), free(db0), free(dw1);
}

static void test_conv2d(void **state)
{
    (void)state;
    conv2d_dims a = {.N = 3, .Cin = 4, .F = 10, .T = 13, .Cout = 6, .kF = 3, .kT = 3, .sF = 1,
                     .sT = 1, .pF = 1, .pT = 1, .dF = 1, .dT = 1};
    conv2d_case(a, 0, 0, 0, 1, 31);
    conv2d_dims b = {.N = 2, .Cin = 3, .F = 17, .T = 21, .Cout = 5, .kF = 3, .kT = 5, .sF = 2,
                     .sT = 1, .pF = 0, .pT = 2, .dF = 1, .dT = 2};
    conv2d_case(b, 0, 0, 0, 0, 32);
    conv2d_dims c = {.N = 4, .Cin = 8, .F = 5, .T = 7, .Cout = 3, .kF = 1, .kT = 1, .sF = 1,
                     .sT = 1, .pF = 0, .pT = 0, .dF = 1, .dT = 1};
    conv2d_case(c, 0, 0, 0, 1, 33);
    /* DenseNet layer: read 5 of 9 channels, write 3 channels at offset 5 of 8 */
    conv2d_dims e = {.N = 3, .Cin = 5, .F = 8, .T = 9, .Cout = 3, .kF = 3, .kT = 3, .sF = 1,
                     .sT = 1, .pF = 1, .pT = 1, .dF = 1, .dT = 1};
    conv2d_case(e, 4, 5, 5, 0, 34);
}

static void test_conv1d(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 41, 0);
    conv1d_dims d = {.N = 3, .Cin = 6, .T = 40, .Cout = 5, .k = 3, .stride = 1, .pad = 2, .dil = 2};
    const int To = conv1d_out_t(&d);
    size_t nx = (size_t)d.N * d.Cin * d.T, ny = (size_t)d.N * d.Cout * To;
    size_t nw = (size_t)d.Cout * d.Cin * d.k;
    float *x = h_rand(&r, nx, 1.0), *w = h_rand(&r, nw, 0.3), *b = h_rand(&r, d.Cout, 0.5);
    float *g = h_rand(&r, ny, 1.0), *dw = h_rand(&r, nw, 0.1), *db = h_rand(&r, d.Cout, 0.1);
    float *dX = d_from(x, sizeof(float) * nx), *dW = d_from(w, sizeof(float) * nw);
    float *dB = d_from(b, sizeof(float) * d.Cout), *dG = d_from(g, sizeof(float) * ny);
    float *ddW = d_from(dw, sizeof(float) * nw), *ddB = d_from(db, sizeof(float) * d.Cout);
    float *y = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx);
    float *ws = malloc(sizeof(float) * (conv1d_workspace_floats(&d) + 1));
    conv1d_forward(y, x, w, b, &d, ws);
    conv1d_backward(dx, dw, db, g, x, w, &d, ws);
    size_t wsn = g_ctx.be->conv1d_workspace_floats(&d);
    check_device("conv1d workspace sizing");
    float *dWS = d_alloc(sizeof(float) * (wsn ? wsn : 1)), *dY = d_nan(ny), *ddX = d_nan(nx);
    g_ctx.be->conv1d_forward(dY, dX, dW, dB, &d, dWS);
    g_ctx.be->conv1d_backward(ddX, ddW, ddB, dG, dX, dW, &d, dWS);
    check_device("conv1d");
    compare_dev("conv1d y", dY, y, ny, ATOL_Y, RTOL);
    compare_dev("conv1d dx", ddX, dx, nx, ATOL_Y, RTOL);
    compare_dev("conv1d dw", ddW, dw, nw, ATOL_W, RTOL);
    compare_dev("conv1d db", ddB, db, d.Cout, ATOL_W, RTOL);
    cuda_free(dX), cuda_free(dW), cuda_free(dB), cuda_free(dG), cuda_free(ddW), cuda_free(ddB);
    cuda_free(dWS), cuda_free(dY), cuda_free(ddX);
    free(x), free(w), free(b), free(g), free(dw), free(db), free(y), free(dx), free(ws);
}

/* batch norm over a channel prefix view when extra > 0 (sn = (C + extra) * S) */
static void batchnorm_case(int N, int C, int S, int extra, int with_din, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    batchnorm_dims d = {N, C, S, extra ? (size_t)(C + extra) * S : 0, 1e-5f, 0.1f};
    const size_t n = (size_t)N * (C + extra) * S;
    float *x = h_rand(&r, n, 2.0), *gm = h_rand(&r, C, 1.0), *bt = h_rand(&r, C, 1.0);
    float *g = h_rand(&r, n, 1.0), *rm = h_rand(&r, C, 0.5), *rv = h_rand(&r, C, 0.5);
    for (int c = 0; c < C; c++)
        rv[c] = 1.0f + rv[c]; /* a variance */
    for (size_t i = 0; i < n; i++)
        x[i] += 0.7f; /* a mean away from zero */
    float *dg = h_rand(&r, C, 0.1), *dbt = h_rand(&r, C, 0.1);
    float *y = h_rand(&r, n, 9.0), *dx = h_rand(&r, n, 9.0), *ye = h_rand(&r, n, 9.0);
    float *dX = d_from(x, sizeof(float) * n), *dGm = d_from(gm, sizeof(float) * C);
    float *dBt = d_from(bt, sizeof(float) * C), *dG = d_from(g, sizeof(float) * n);
    float *dRm = d_from(rm, sizeof(float) * C), *dRv = d_from(rv, sizeof(float) * C);
    float *ddg = d_from(dg, sizeof(float) * C), *ddbt = d_from(dbt, sizeof(float) * C);
    float *dY = d_from(y, sizeof(float) * n), *ddX = d_from(dx, sizeof(float) * n);
    float *dYe = d_from(ye, sizeof(float) * n), *dSm = d_nan(C), *dSi = d_nan(C);
    float *sm = malloc(sizeof(float) * C), *si = malloc(sizeof(float) * C);
    /* eval first, with the running stats before the train step updates them */
    batchnorm_forward_eval(ye, x, gm, bt, rm, rv, &d);
    g_ctx.be->batchnorm_forward_eval(dYe, dX, dGm, dBt, dRm, dRv, &d);
    batchnorm_forward_train(y, sm, si, rm, rv, x, gm, bt, &d);
    batchnorm_backward(with_din ? dx : NULL, dg, dbt, g, x, sm, si, gm, &d);
    g_ctx.be->batchnorm_forward_train(dY, dSm, dSi, dRm, dRv, dX, dGm, dBt, &d);
    g_ctx.be->batchnorm_backward(with_din ? ddX : NULL, ddg, ddbt, dG, dX, dSm, dSi, dGm, &d);
    check_device("batchnorm");
    assert_same_bits("batchnorm eval (incl. untouched channels)", dYe, ye, sizeof(float) * n);
    compare_dev("batchnorm train y", dY, y, n, ATOL_R, RTOL_R);
    compare_dev("batchnorm save_mean", dSm, sm, C, ATOL_R, RTOL_R);
    compare_dev("batchnorm save_invstd", dSi, si, C, ATOL_R, RTOL_R);
    compare_dev("batchnorm running_mean", dRm, rm, C, ATOL_R, RTOL_R);
    compare_dev("batchnorm running_var (unbiased update)", dRv, rv, C, ATOL_R, RTOL_R);
    compare_dev("batchnorm dx (sentinels when NULL)", ddX, dx, n, ATOL_R, RTOL_R);
    compare_dev("batchnorm dgamma (accumulated)", ddg, dg, C, ATOL_R, RTOL_R);
    compare_dev("batchnorm dbeta (accumulated)", ddbt, dbt, C, ATOL_R, RTOL_R);
    cuda_free(dX), cuda_free(dGm), cuda_free(dBt), cuda_free(dG), cuda_free(dRm), cuda_free(dRv);
    cuda_free(ddg), cuda_free(ddbt), cuda_free(dY), cuda_free(ddX), cuda_free(dYe);
    cuda_free(dSm), cuda_free(dSi);
    free(x), free(gm), free(bt), free(g), free(rm), free(rv), free(dg), free(dbt), free(y);
    free(dx), free(ye), free(sm), free(si);
}

static void test_batchnorm(void **state)
{
    (void)state;
    batchnorm_case(4, 5, 37, 0, 1, 51);   /* 2-d layer, S = F*T */
    batchnorm_case(3, 4, 50, 3, 1, 52);   /* channel prefix of a DenseNet buffer */
    batchnorm_case(2, 6, 1000, 0, 0, 53); /* din NULL, many values per channel */
    batchnorm_case(1, 3, 1, 0, 1, 54);    /* N*S = 1: unbiased divisor guard */
}

static void pool_case(pool2d_dims d, int quantise, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    const size_t nin = (size_t)d.N * d.C * d.F * d.T, nout = pool2d_out_floats(&d);
    float *x = h_rand(&r, nin, 1.0), *g = h_rand(&r, nout, 1.0);
    if (quantise) /* few distinct values: many ties for the max */
        for (size_t i = 0; i < nin; i++)
            x[i] = (float)(int)(x[i] * 2.0f);
    float *ya = malloc(sizeof(float) * nout), *ym = malloc(sizeof(float) * nout);
    float *dxa = malloc(sizeof(float) * nin), *dxm = malloc(sizeof(float) * nin);
    int32_t *am = malloc(sizeof(int32_t) * nout);
    avgpool2d_forward(ya, x, &d);
    avgpool2d_backward(dxa, g, &d);
    maxpool2d_forward(ym, am, x, &d);
    maxpool2d_backward(dxm, g, am, &d);
    float *dX = d_from(x, sizeof(float) * nin), *dG = d_from(g, sizeof(float) * nout);
    float *dYa = d_nan(nout), *dYm = d_nan(nout), *dDa = d_nan(nin), *dDm = d_nan(nin);
    int32_t *dAm = (int32_t *)d_nan(nout);
    g_ctx.be->avgpool2d_forward(dYa, dX, &d);
    g_ctx.be->avgpool2d_backward(dDa, dG, &d);
    g_ctx.be->maxpool2d_forward(dYm, dAm, dX, &d);
    g_ctx.be->maxpool2d_backward(dDm, dG, dAm, &d);
    check_device("pool2d");
    assert_same_bits("avgpool forward", dYa, ya, sizeof(float) * nout);
    assert_same_bits("avgpool backward", dDa, dxa, sizeof(float) * nin);
    assert_same_bits("maxpool forward", dYm, ym, sizeof(float) * nout);
    assert_same_bits("maxpool argmax (ties to the first)", dAm, am, sizeof(int32_t) * nout);
    assert_same_bits("maxpool backward", dDm, dxm, sizeof(float) * nin);
    cuda_free(dX), cuda_free(dG), cuda_free(dYa), cuda_free(dYm), cuda_free(dDa), cuda_free(dDm);
    cuda_free(dAm);
    free(x), free(g), free(ya), free(ym), free(dxa), free(dxm), free(am);
}

static void test_pool2d(void **state)
{
    (void)state;
    pool2d_dims a = {2, 3, 10, 7, 2, 1, 2, 1}; /* frequency only */
    pool_case(a, 0, 61);
    pool2d_dims b = {2, 2, 11, 9, 3, 3, 2, 2}; /* overlapping windows */
    pool_case(b, 1, 62);
    pool2d_dims c = {1, 4, 8, 8, 2, 2, 2, 2};
    pool_case(c, 1, 63);
}

static void test_concat(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 71, 0);
    const int C[3] = {2, 5, 1}, k = 3, N = 3, S = 17, Ct = 8;
    float *ins[3], *dins_h[3], *dIns[3], *dDins[3];
    for (int i = 0; i < k; i++) {
        ins[i] = h_rand(&r, (size_t)N * C[i] * S, 1.0);
        dins_h[i] = malloc(sizeof(float) * N * C[i] * S);
        dIns[i] = d_from(ins[i], sizeof(float) * N * C[i] * S);
        dDins[i] = d_nan((size_t)N * C[i] * S);
    }
    const size_t nout = (size_t)N * Ct * S;
    float *y = malloc(sizeof(float) * nout), *g = h_rand(&r, nout, 1.0);
    concat_forward(y, (const float *const *)ins, C, k, N, S);
    float *dins_cpu[3] = {dins_h[0], NULL, dins_h[2]};
    concat_backward(dins_cpu, g, C, k, N, S);
    float *dY = d_nan(nout), *dG = d_from(g, sizeof(float) * nout);
    g_ctx.be->concat_forward(dY, (const float *const *)dIns, C, k, N, S);
    float *dDins_skip[3] = {dDins[0], NULL, dDins[2]};
    g_ctx.be->concat_backward(dDins_skip, dG, C, k, N, S);
    check_device("concat");
    assert_same_bits("concat forward", dY, y, sizeof(float) * nout);
    assert_same_bits("concat backward [0]", dDins[0], dins_h[0], sizeof(float) * N * C[0] * S);
    assert_same_bits("concat backward [2]", dDins[2], dins_h[2], sizeof(float) * N * C[2] * S);
    float *skipped = h_from(dDins[1], (size_t)N * C[1] * S);
    for (size_t i = 0; i < (size_t)N * C[1] * S; i++)
        if (!isnan(skipped[i]))
            fail_msg("concat backward wrote the NULL entry's buffer (element %zu)", i);
    free(skipped);
    for (int i = 0; i < k; i++)
        free(ins[i]), free(dins_h[i]), cuda_free(dIns[i]), cuda_free(dDins[i]);
    free(y), free(g), cuda_free(dY), cuda_free(dG);
}

static void test_dropout(void **state)
{
    (void)state;
    rng r, r2;
    rng_seed(&r, 81, 0);
    const size_t n = 200000;
    const float p = 0.3f, keep = 1.0f / (1.0f - p);
    float *x = h_rand(&r, n, 1.0), *g = h_rand(&r, n, 1.0);
    float *dX = d_from(x, sizeof(float) * n), *dG = d_from(g, sizeof(float) * n);
    float *dY = d_nan(n), *dM = d_nan(n), *dM2 = d_nan(n), *dDX = d_nan(n);
    rng_seed(&r, 5, 1);
    rng_seed(&r2, 5, 1);
    g_ctx.be->dropout_forward_train(dY, dM, dX, n, p, &r);
    g_ctx.be->dropout_forward_train(dY, dM2, dX, n, p, &r2); /* same seed: same mask */
    g_ctx.be->dropout_backward(dDX, dG, dM, n);
    check_device("dropout");
    float *m = h_from(dM, n), *y = h_from(dY, n), *dx = h_from(dDX, n);
    assert_same_bits("dropout mask is fixed by the seed", dM2, m, sizeof(float) * n);
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i] != 0.0f && m[i] != keep)
            fail_msg("dropout mask[%zu] = %g, not 0 or %g", i, m[i], keep);
        dropped += m[i] == 0.0f;
        if (y[i] != x[i] * m[i] || dx[i] != g[i] * m[i])
            fail_msg("dropout element %zu: y or dx is not in/dout * mask", i);
    }
    double frac = (double)dropped / n, sd = sqrt(p * (1 - p) / n);
    printf("dropout: dropped %.4f (p %.2f, 5 sd = %.4f)\n", frac, p, 5 * sd);
    assert_true(fabs(frac - p) < 5 * sd);
    /* the next call draws a new seed: a different mask */
    g_ctx.be->dropout_forward_train(dY, dM2, dX, n, p, &r);
    float *m2 = h_from(dM2, n);
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += m2[i] == m[i];
    assert_true(same < n - n / 10);
    /* p = 0: everything kept and the generator untouched */
    rng before = r;
    g_ctx.be->dropout_forward_train(dY, dM2, dX, n, 0.0f, &r);
    float *m3 = h_from(dM2, n);
    for (size_t i = 0; i < n; i++)
        if (m3[i] != 1.0f)
            fail_msg("dropout p=0: mask[%zu] = %g", i, m3[i]);
    assert_true(before.state == r.state);
    free(x), free(g), free(m), free(y), free(dx), free(m2), free(m3);
    cuda_free(dX), cuda_free(dG), cuda_free(dY), cuda_free(dM), cuda_free(dM2), cuda_free(dDX);
}

static void time_pool_case(int N, int C, int T, int unbiased, int use_lengths, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    time_pool_dims d = {N, C, T, 1e-7f, unbiased};
    int *len = malloc(sizeof(int) * N);
    for (int n = 0; n < N; n++)
        len[n] = n == 0 ? T : 1 + (int)rng_below(&r, (uint32_t)T);
    if (N > 1)
        len[N - 1] = 1; /* a one-frame utterance */
    const size_t nx = (size_t)N * C * T;
    float *x = h_rand(&r, nx, 1.0), *gm = h_rand(&r, (size_t)N * C, 1.0);
    float *gs = h_rand(&r, (size_t)N * 2 * C, 1.0);
    float *ym = malloc(sizeof(float) * N * C), *ys = malloc(sizeof(float) * N * 2 * C);
    float *dxm = malloc(sizeof(float) * nx), *dxs = malloc(sizeof(float) * nx);
    const int *L = use_lengths ? len : NULL;
    mean_pool_forward(ym, x, L, &d);
    mean_pool_backward(dxm, gm, L, &d);
    stats_pool_forward(ys, x, L, &d);
    stats_pool_backward(dxs, gs, ys, x, L, &d);
    int *dL = use_lengths ? d_from(len, sizeof(int) * N) : NULL;
    float *dX = d_from(x, sizeof(float) * nx), *dGm = d_from(gm, sizeof(float) * N * C);
    float *dGs = d_from(gs, sizeof(float) * N * 2 * C);
    float *dYm = d_nan((size_t)N * C), *dYs = d_nan((size_t)N * 2 * C);
    float *dDm = d_nan(nx), *dDs = d_nan(nx);
    g_ctx.be->mean_pool_forward(dYm, dX, dL, &d);
    g_ctx.be->mean_pool_backward(dDm, dGm, dL, &d);
    g_ctx.be->stats_pool_forward(dYs, dX, dL, &d);
    g_ctx.be->stats_pool_backward(dDs, dGs, dYs, dX, dL, &d);
    check_device("time pooling");
    compare_dev("mean pool y", dYm, ym, (size_t)N * C, ATOL_R, RTOL_R);
    assert_same_bits("mean pool dx (zero past lengths)", dDm, dxm, sizeof(float) * nx);
    compare_dev("stats pool y", dYs, ys, (size_t)N * 2 * C, ATOL_R, RTOL_R);
    compare_dev("stats pool dx", dDs, dxs, nx, ATOL_R, RTOL_R);
    free(len), free(x), free(gm), free(gs), free(ym), free(ys), free(dxm), free(dxs);
    cuda_free(dL), cuda_free(dX), cuda_free(dGm), cuda_free(dGs), cuda_free(dYm);
    cuda_free(dYs), cuda_free(dDm), cuda_free(dDs);
}

static void test_time_pool(void **state)
{
    (void)state;
    time_pool_case(5, 7, 300, 1, 1, 91);
    time_pool_case(3, 4, 50, 0, 1, 92);
    time_pool_case(2, 3, 20, 1, 0, 93);
}

static void softmax_case(int N, int K, float smoothing, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    softmax_ce_dims d = {N, K, smoothing};
    float *z = h_rand(&r, (size_t)N * K, 4.0), *dz = malloc(sizeof(float) * N * K);
    int *y = malloc(sizeof(int) * N);
    for (int n = 0; n < N; n++)
        y[n] = (int)rng_below(&r, (uint32_t)K);
    double loss = softmax_ce_forward_backward(dz, z, y, &d);
    float *dZ = d_from(z, sizeof(float) * N * K), *dDZ = d_nan((size_t)N * K);
    int *dYl = d_from(y, sizeof(int) * N);
    double dloss = g_ctx.be->softmax_ce_forward_backward(dDZ, dZ, dYl, &d);
    check_device("softmax_ce");
    printf("softmax_ce N=%d K=%d: loss cpu %.9g cuda %.9g\n", N, K, loss, dloss);
    assert_true(fabs(dloss - loss) <= 1e-9 + 1e-9 * fabs(loss));
    compare_dev("softmax_ce dlogits", dDZ, dz, (size_t)N * K, ATOL_R * 1e-1, RTOL_R);
    /* loss only (dlogits NULL) */
    double l2 = g_ctx.be->softmax_ce_forward_backward(NULL, dZ, dYl, &d);
    check_device("softmax_ce (loss only)");
    assert_true(l2 == dloss);
    free(z), free(dz), free(y), cuda_free(dZ), cuda_free(dDZ), cuda_free(dYl);
}

static void test_softmax_ce(void **state)
{
    (void)state;
    softmax_case(9, 13, 0.1f, 101);
    softmax_case(4, 1211, 0.0f, 102); /* more classes than threads per block */
}

static void optim_case(optim_options o, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    const size_t n = 5000;
    optim_range ranges[3] = {{0, 1000, 1.0f, 0}, {1000, 1500, 0.5f, 0}, {2500, 2500, 1.0f, 1}};
    float *p = h_rand(&r, n, 1.0);
    float *dP = d_from(p, sizeof(float) * n);
    optim_state st, dst;
    ch_error err;
    assert_int_equal(optim_state_init(&st, &o, n, &err), CH_OK);
    if (optim_state_init_cuda(&dst, &o, n, &err) != CH_OK)
        fail_msg("optim_state_init_cuda: %s", err.msg);
    for (int step = 0; step < 3; step++) {
        float *g = h_rand(&r, n, 1.0);
        float *dG = d_from(g, sizeof(float) * n);
        double lr = 0.01 * (step + 1);
        if (step == 2) { /* clipping on the last step */
            double t = optim_clip_grad_norm(g, ranges, 3, 1.0);
            double dt = optim_clip_grad_norm_cuda(dG, ranges, 3, 1.0);
            check_device("clip");
            printf("clip: norm cpu %.9g cuda %.9g\n", t, dt);
            assert_true(fabs(t - dt) <= 1e-9 * t);
            compare_dev("clipped grad", dG, g, n, 0, 1e-6);
        }
        optim_step(p, &st, g, ranges, 3, &o, lr);
        optim_step_cuda(dP, &dst, dG, ranges, 3, &o, lr);
        check_device("optim step");
        free(g), cuda_free(dG);
    }
    assert_int_equal(st.step, dst.step);
    compare_dev(o.kind == OPTIM_ADAMW ? "adamw params" : "sgd params", dP, p, n, 0, 1e-6);
    for (int k = 0; k < st.n_moments; k++)
        compare_dev("moment", dst.moment[k], st.moment[k], n, 0, 1e-6);
    optim_state_free(&st);
    optim_state_free_cuda(&dst);
    free(p), cuda_free(dP);
}

static void test_optim(void **state)
{
    (void)state;
    optim_options sgd = optim_options_sgd(0.1);
    sgd.momentum = 0.9;
    sgd.nesterov = 1;
    sgd.weight_decay = 1e-3;
    optim_case(sgd, 111);
    optim_options plain = optim_options_sgd(0.1);
    optim_case(plain, 112);
    optim_case(optim_options_adamw(1e-3), 113);
}

/* A captured step (linear -> ReLU -> linear backward chain) replayed on new inputs written into
 * the same buffers gives what eager CPU calls give. */
static void test_graph(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 121, 0);
    linear_dims d = {16, 40, 24};
    size_t nx = (size_t)d.N * d.In, ny = (size_t)d.N * d.Out, nw = (size_t)d.Out * d.In;
    float *w = h_rand(&r, nw, 0.3), *b = h_rand(&r, d.Out, 0.5);
    float *dW = d_from(w, sizeof(float) * nw), *dB = d_from(b, sizeof(float) * d.Out);
    float *dX = d_nan(nx), *dG = d_nan(ny), *dY = d_nan(ny), *dH = d_nan(ny), *dDH = d_nan(ny);
    float *dDX = d_nan(nx), *ddW = d_nan(nw);
    cuda_ctx *c = g_ctx.device;
    cuda_graph gr;
    if (cuda_graph_begin(c) != CH_OK)
        check_device("cuda_graph_begin");
    CUDA_CHECK(c, cudaMemsetAsync(ddW, 0, sizeof(float) * nw, c->stream));
    g_ctx.be->linear_forward(dY, dX, dW, dB, &d);
    g_ctx.be->relu_forward(dH, dY, ny);
    g_ctx.be->relu_backward(dDH, dG, dH, ny);
    g_ctx.be->linear_backward(dDX, ddW, NULL, dDH, dX, dW, &d);
    if (cuda_graph_end(c, &gr) != CH_OK)
        check_device("cuda_graph_end");
    float *px, *pg;
    if (cuda_host_alloc(c, (void **)&px, sizeof(float) * nx, "pinned x") != CH_OK ||
        cuda_host_alloc(c, (void **)&pg, sizeof(float) * ny, "pinned g") != CH_OK)
        check_device("cuda_host_alloc");
    for (int rep = 0; rep < 3; rep++) {
        float *x = h_rand(&r, nx, 1.0), *g = h_rand(&r, ny, 1.0);
        float *y = malloc(sizeof(float) * ny), *dh = malloc(sizeof(float) * ny);
        float *dx = malloc(sizeof(float) * nx), *dw = calloc(nw, sizeof(float));
        linear_forward(y, x, w, b, &d);
        relu_forward(y, y, ny);
        relu_backward(dh, g, y, ny);
        linear_backward(dx, dw, NULL, dh, x, w, &d);
        /* the step loop's way in: pinned staging buffers, asynchronous copies, then replay */
        memcpy(px, x, sizeof(float) * nx);
        memcpy(pg, g, sizeof(float) * ny);
        if (cuda_upload_async(c, dX, px, sizeof(float) * nx) != CH_OK ||
            cuda_upload_async(c, dG, pg, sizeof(float) * ny) != CH_OK ||
            cuda_graph_launch(c, &gr) != CH_OK)
            check_device("graph replay");
        check_device("graph replay");
        compare_dev("graph: relu(linear) output", dH, y, ny, ATOL_Y, RTOL);
        compare_dev("graph: dx", dDX, dx, nx, ATOL_Y, RTOL);
        compare_dev("graph: dw", ddW, dw, nw, ATOL_W, RTOL);
        free(x), free(g), free(y), free(dh), free(dx), free(dw);
    }
    cuda_graph_free(&gr);
    cuda_host_free(px), cuda_host_free(pg);
    cuda_free(dW), cuda_free(dB), cuda_free(dX), cuda_free(dG), cuda_free(dY), cuda_free(dH);
    cuda_free(dDH), cuda_free(dDX), cuda_free(ddW);
    free(w), free(b);
}

/* ---- the speaker / KWS layers (lstm.cu, attention_pool.cu, aam_softmax.cu, time_mask.cu,
 * resblock.cu). Tolerances: the forward outputs of LSTM / attention pooling as the GEMM layers
 * (atol 1e-5 + rtol 1e-4; device expf/tanhf are within 2 ulp of glibc's and the recurrence
 * sums in cuBLAS's order); their backward values atol 1e-4 + rtol 1e-4 (sums over N*T frames,
 * through T steps); AAM-softmax atol 1e-4 + rtol 1e-3 (cos differs by GEMM rounding, ~1e-7,
 * and is multiplied by the scale s = 32 before the softmax). Masking and add+ReLU are exact. */

#define ATOL_B 1e-4
#define ATOL_AAM 1e-4
#define RTOL_AAM 1e-3

/* Zeroes x[dir, n, t, :] (row width X) for t >= lengths[n]: the unspecified padded parts of
 * the saved gates / cells, so that only the contract is compared. */
static void zero_padded(float *x, const int *lengths, int D, int N, int T, int X)
{
    for (int dir = 0; dir < D; dir++)
        for (int n = 0; n < N; n++)
            for (int t = lengths[n]; t < T; t++)
                memset(x + (((size_t)dir * N + n) * T + t) * X, 0, sizeof(float) * (size_t)X);
}

static void compare_dev_masked(const char *what, const void *d, float *want, const int *lengths,
                               int D, int N, int T, int X, double atol, double rtol)
{
    size_t n = (size_t)D * N * T * X;
    float *got = h_from(d, n);
    zero_padded(got, lengths, D, N, T, X);
    zero_padded(want, lengths, D, N, T, X);
    test_assert_close(what, got, want, n, atol, rtol);
    free(got);
}

static void lstm_case(lstm_dims d, const int *len, int with_final_grads, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    const int D = lstm_directions(&d), N = d.N, T = d.T;
    const size_t nx = (size_t)N * T * d.In, ny = (size_t)N * T * D * d.H;
    const size_t nhs = (size_t)D * N * d.H, nw = lstm_param_floats(&d);
    const size_t ng = lstm_gates_floats(&d), nc = lstm_cells_floats(&d);
    float *x = h_rand(&r, nx, 1.0), *w = h_rand(&r, nw, 0.4), *gy = h_rand(&r, ny, 1.0);
    float *ghn = h_rand(&r, nhs, 1.0), *gcn = h_rand(&r, nhs, 1.0);
    float *dw = h_rand(&r, nw, 0.1), *dw0 = dup(dw, nw);
    float *y = malloc(sizeof(float) * ny), *hn = malloc(sizeof(float) * nhs);
    float *cn = malloc(sizeof(float) * nhs), *gates = malloc(sizeof(float) * ng);
    float *cells = malloc(sizeof(float) * nc), *dx = malloc(sizeof(float) * nx);
    float *dh0 = malloc(sizeof(float) * nhs), *dc0 = malloc(sizeof(float) * nhs);
    float *ws = malloc(sizeof(float) * (lstm_workspace_floats(&d) + 1));
    const float *ghn_use = with_final_grads ? ghn : NULL, *gcn_use = with_final_grads ? gcn : NULL;
    lstm_forward(y, hn, cn, gates, cells, x, len, w, &d, ws);
    lstm_backward(dx, dw, dh0, dc0, gy, ghn_use, gcn_use, y, gates, cells, x, len, w, &d, ws);

    size_t wsn = g_ctx.be->lstm_workspace_floats(&d);
    float *dWS = d_alloc(sizeof(float) * (wsn ? wsn : 1));
    int *dL = d_from(len, sizeof(int) * N);
    float *dX = d_from(x, sizeof(float) * nx), *dW = d_from(w, sizeof(float) * nw);
    float *dGY = d_from(gy, sizeof(float) * ny), *dGHN = d_from(ghn, sizeof(float) * nhs);
    float *dGCN = d_from(gcn, sizeof(float) * nhs), *ddW = d_from(dw0, sizeof(float) * nw);
    float *dY = d_nan(ny), *dHN = d_nan(nhs), *dCN = d_nan(nhs), *dGates = d_nan(ng);
    float *dCells = d_nan(nc), *ddX = d_nan(nx), *dDH0 = d_nan(nhs), *dDC0 = d_nan(nhs);
    g_ctx.be->lstm_forward(dY, dHN, dCN, dGates, dCells, dX, dL, dW, &d, dWS);
    g_ctx.be->lstm_backward(ddX, ddW, dDH0, dDC0, dGY, with_final_grads ? dGHN : NULL,
                            with_final_grads ? dGCN : NULL, dY, dGates, dCells, dX, dL, dW, &d,
                            dWS);
    check_device("lstm");
    char what[120];
    snprintf(what, sizeof what, "lstm N=%d T=%d In=%d H=%d D=%d y (zero past lengths)", N, T,
             d.In, d.H, D);
    compare_dev(what, dY, y, ny, ATOL_Y, RTOL);
    compare_dev("lstm h_n", dHN, hn, nhs, ATOL_Y, RTOL);
    compare_dev("lstm c_n", dCN, cn, nhs, ATOL_Y, RTOL);
    compare_dev_masked("lstm saved gates (valid frames)", dGates, gates, len, D, N, T, 4 * d.H,
                       ATOL_Y, RTOL);
    compare_dev_masked("lstm saved cells (valid frames)", dCells, cells, len, D, N, T, d.H,
                       ATOL_Y, RTOL);
    compare_dev("lstm dx (zero past lengths)", ddX, dx, nx, ATOL_B, RTOL);
    compare_dev("lstm dw (accumulated)", ddW, dw, nw, ATOL_B, RTOL);
    compare_dev("lstm dh0", dDH0, dh0, nhs, ATOL_B, RTOL);
    compare_dev("lstm dc0", dDC0, dc0, nhs, ATOL_B, RTOL);

    /* determinism: the backward again from the same start, dx NULL and no initial-state
     * gradients, gives the same dw bits */
    float *dw1 = h_from(ddW, nw);
    if (cuda_upload(g_ctx.device, ddW, dw0, sizeof(float) * nw) != CH_OK)
        check_device("upload");
    g_ctx.be->lstm_backward(NULL, ddW, NULL, NULL, dGY, with_final_grads ? dGHN : NULL,
                            with_final_grads ? dGCN : NULL, dY, dGates, dCells, dX, dL, dW, &d,
                            dWS);
    check_device("lstm backward repeat");
    assert_same_bits("lstm dw repeat (deterministic)", ddW, dw1, sizeof(float) * nw);

    cuda_free(dWS), cuda_free(dL), cuda_free(dX), cuda_free(dW), cuda_free(dGY), cuda_free(dGHN);
    cuda_free(dGCN), cuda_free(ddW), cuda_free(dY), cuda_free(dHN), cuda_free(dCN);
    cuda_free(dGates), cuda_free(dCells), cuda_free(ddX), cuda_free(dDH0), cuda_free(dDC0);
    free(x), free(w), free(gy), free(ghn), free(gcn), free(dw), free(dw0), free(y), free(hn);
    free(cn), free(gates), free(cells), free(dx), free(dh0), free(dc0), free(ws), free(dw1);
}

static void test_lstm(void **state)
{
    (void)state;
    /* bidirectional, lengths in any order: full, short, empty, one frame */
    const int len_a[5] = {9, 4, 0, 1, 7};
    lstm_case((lstm_dims){.N = 5, .T = 9, .In = 6, .H = 8, .bidirectional = 1}, len_a, 1, 141);
    /* unidirectional, no final-state gradients, H * N above one block of threads */
    const int len_b[3] = {12, 12, 5};
    lstm_case((lstm_dims){.N = 3, .T = 12, .In = 20, .H = 100, .bidirectional = 0}, len_b, 0,
              142);
    /* the KWS model's shape class: bidirectional over 40 features */
    const int len_c[2] = {30, 23};
    lstm_case((lstm_dims){.N = 2, .T = 30, .In = 40, .H = 32, .bidirectional = 1}, len_c, 1, 143);
}

static void attention_case(attention_pool_dims d, const int *len, int with_dh, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    const int N = d.N, T = d.T;
    const size_t nh = (size_t)N * T * d.Dm, no = (size_t)N * d.Dm;
    const size_t nw = attention_pool_param_floats(&d), ns = attention_pool_saved_floats(&d);
    float *h = h_rand(&r, nh, 1.0), *w = h_rand(&r, nw, 0.5), *go = h_rand(&r, no, 1.0);
    float *dw = h_rand(&r, nw, 0.1), *dw0 = dup(dw, nw), *dh = h_rand(&r, nh, 9.0);
    float *dh_start = dup(dh, nh); /* sentinels: must stay when dh is NULL */
    float *out = malloc(sizeof(float) * no), *saved = malloc(sizeof(float) * ns);
    float *ws = malloc(sizeof(float) * (attention_pool_workspace_floats(&d) + 1));
    attention_pool_forward(out, saved, h, len, w, &d, ws);
    attention_pool_backward(with_dh ? dh : NULL, dw, go, saved, h, len, w, &d, ws);

    size_t wsn = g_ctx.be->attention_pool_workspace_floats(&d);
    float *dWS = d_alloc(sizeof(float) * (wsn ? wsn : 1));
    int *dL = d_from(len, sizeof(int) * N);
    float *dH = d_from(h, sizeof(float) * nh), *dW = d_from(w, sizeof(float) * nw);
    float *dGO = d_from(go, sizeof(float) * no), *ddW = d_from(dw0, sizeof(float) * nw);
    float *ddH = d_from(dh_start, sizeof(float) * nh);
    float *dOut = d_nan(no), *dSaved = d_nan(ns);
    g_ctx.be->attention_pool_forward(dOut, dSaved, dH, dL, dW, &d, dWS);
    g_ctx.be->attention_pool_backward(with_dh ? ddH : NULL, ddW, dGO, dSaved, dH, dL, dW, &d,
                                      dWS);
    check_device("attention pooling");
    char what[120];
    snprintf(what, sizeof what, "attention pool N=%d T=%d Dm=%d A=%d out", N, T, d.Dm, d.A);
    compare_dev(what, dOut, out, no, ATOL_Y, RTOL);
    compare_dev("attention pool saved u, alpha (0 past lengths)", dSaved, saved, ns, ATOL_Y, RTOL);
    compare_dev(with_dh ? "attention pool dh" : "attention pool dh NULL: sentinels kept", ddH, dh,
                nh, ATOL_B, RTOL);
    compare_dev("attention pool dw (accumulated)", ddW, dw, nw, ATOL_B, RTOL);
    cuda_free(dWS), cuda_free(dL), cuda_free(dH), cuda_free(dW), cuda_free(dGO), cuda_free(ddW);
    cuda_free(ddH), cuda_free(dOut), cuda_free(dSaved);
    free(h), free(w), free(go), free(dw), free(dw0), free(dh), free(dh_start), free(out);
    free(saved), free(ws);
}

static void test_attention_pool(void **state)
{
    (void)state;
    const int len_a[4] = {11, 3, 0, 1}; /* full, short, empty (out = 0), one frame */
    attention_case((attention_pool_dims){.N = 4, .T = 11, .Dm = 16, .A = 8}, len_a, 1, 151);
    const int len_b[2] = {300, 177}; /* more frames than threads per block */
    attention_case((attention_pool_dims){.N = 2, .T = 300, .Dm = 64, .A = 32}, len_b, 1, 152);
    const int len_c[3] = {5, 2, 5};
    attention_case((attention_pool_dims){.N = 3, .T = 5, .Dm = 7, .A = 3}, len_c, 0, 153);
}

static void aam_case(aam_dims d, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    const int N = d.N, K = d.K, D = d.D;
    const size_t ne = (size_t)N * D, nw = (size_t)K * D, nl = (size_t)N * K;
    float *emb = h_rand(&r, ne, 1.0), *w = h_rand(&r, nw, 1.0), *dw = h_rand(&r, nw, 0.1);
    float *dw0 = dup(dw, nw), *logits = malloc(sizeof(float) * nl);
    float *demb = malloc(sizeof(float) * ne);
    float *ws = malloc(sizeof(float) * (aam_softmax_workspace_floats(&d) + 1));
    int *y = malloc(sizeof(int) * N);
    for (int n = 0; n < N; n++)
        y[n] = (int)rng_below(&r, (uint32_t)K);
    /* sample 0 points away from its class (cos = -1 < th: the fallback branch), sample 1 near
     * it (phi branch with a large cos) */
    for (int j = 0; j < D; j++) {
        emb[j] = -2.0f * w[(size_t)y[0] * D + j];
        if (N > 1)
            emb[D + j] = 0.5f * w[(size_t)y[1] * D + j] + 0.01f * emb[D + j];
    }
    double loss = aam_softmax_forward_backward(logits, demb, dw, emb, w, y, &d, ws);

    size_t wsn = g_ctx.be->aam_softmax_workspace_floats(&d);
    float *dWS = d_alloc(sizeof(float) * (wsn ? wsn : 1));
    int *dYl = d_from(y, sizeof(int) * N);
    float *dE = d_from(emb, sizeof(float) * ne), *dW = d_from(w, sizeof(float) * nw);
    float *ddW = d_from(dw0, sizeof(float) * nw), *dLg = d_nan(nl), *dDE = d_nan(ne);
    double dloss = g_ctx.be->aam_softmax_forward_backward(dLg, dDE, ddW, dE, dW, dYl, &d, dWS);
    check_device("aam_softmax");
    printf("aam_softmax N=%d D=%d K=%d s=%g m=%g easy=%d: loss cpu %.9g cuda %.9g\n", N, D, K,
           d.scale, d.margin, d.easy_margin, loss, dloss);
    assert_true(fabs(dloss - loss) <= 1e-5 + 1e-5 * fabs(loss));
    compare_dev("aam_softmax logits", dLg, logits, nl, ATOL_AAM, RTOL_AAM);
    compare_dev("aam_softmax demb", dDE, demb, ne, ATOL_AAM, RTOL_AAM);
    compare_dev("aam_softmax dw (accumulated)", ddW, dw, nw, ATOL_AAM, RTOL_AAM);
    /* loss only (all outputs NULL): the same loss, bit for bit */
    double l2 = g_ctx.be->aam_softmax_forward_backward(NULL, NULL, NULL, dE, dW, dYl, &d, dWS);
    check_device("aam_softmax (loss only)");
    assert_true(l2 == dloss);
    cuda_free(dWS), cuda_free(dYl), cuda_free(dE), cuda_free(dW), cuda_free(ddW), cuda_free(dLg);
    cuda_free(dDE);
    free(emb), free(w), free(dw), free(dw0), free(logits), free(demb), free(ws), free(y);
}

static void test_aam_softmax(void **state)
{
    (void)state;
    aam_case((aam_dims){.N = 8, .D = 32, .K = 50, .scale = 32.0f, .margin = 0.2f}, 161);
    aam_case((aam_dims){.N = 6, .D = 300, .K = 270, .scale = 30.0f, .margin = 0.3f,
                        .easy_margin = 1},
             162); /* D, K above the block size; easy margin */
    aam_case((aam_dims){.N = 3, .D = 16, .K = 5, .scale = 16.0f, .margin = 0.0f}, 163);
}

/* time_mask and the residual add + ReLU: exact. */
static void test_mask_add_relu(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 171, 0);
    const int N = 4, R = 6, T = 37, len[4] = {37, 10, 0, 50}; /* full, short, empty, > T */
    const size_t n = (size_t)N * R * T;
    float *x = h_rand(&r, n, 1.0), *a = h_rand(&r, n, 1.0), *b = h_rand(&r, n, 1.0);
    float *dX = d_from(x, sizeof(float) * n), *dX2 = d_from(x, sizeof(float) * n);
    float *dA = d_from(a, sizeof(float) * n), *dB = d_from(b, sizeof(float) * n);
    float *dO = d_nan(n);
    int *dL = d_from(len, sizeof(int) * N);
    time_mask(x, len, N, R, T);
    g_ctx.be->time_mask(dX, dL, N, R, T);
    g_ctx.be->time_mask(dX2, NULL, N, R, T); /* no lengths: untouched */
    check_device("time_mask");
    assert_same_bits("time_mask", dX, x, sizeof(float) * n);
    float *x2 = h_from(dX2, n);
    size_t zeroed = 0;
    for (size_t i = 0; i < n; i++)
        zeroed += x2[i] != x[i];
    assert_true(zeroed > 0); /* x was masked on the host, dX2 was not */
    free(x2);
    float *o = malloc(sizeof(float) * n);
    add_relu_forward(o, a, b, n);
    g_ctx.be->add_relu_forward(dO, dA, dB, n);
    g_ctx.be->add_relu_forward(dA, dA, dB, n); /* out may equal a */
    check_device("add_relu_forward");
    assert_same_bits("add_relu_forward", dO, o, sizeof(float) * n);
    assert_same_bits("add_relu_forward in place", dA, o, sizeof(float) * n);
    cuda_free(dX), cuda_free(dX2), cuda_free(dA), cuda_free(dB), cuda_free(dO), cuda_free(dL);
    free(x), free(a), free(b), free(o);
}

/* The CUDA table now has every required entry. */
static void test_table_complete(void **state)
{
    (void)state;
    const char *missing = nn_backend_missing(nn_backend_cuda());
    if (missing)
        fail_msg("CUDA table lacks %s", missing);
}

/* ||a - b|| / ||b|| in double */
static double rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* TF32 is an option: its accuracy on a GEMM and a convolution of training-like sizes, measured
 * against the fp32 CPU result (the fp32 context's error printed beside it). TF32 keeps 10
 * mantissa bits, so ~1e-3 relative per product, averaging down over the sums; asserted < 5e-3
 * (fp32: < 1e-5). */
static void test_tf32_accuracy(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 131, 0);
    linear_dims ld = {256, 512, 256};
    conv2d_dims cd = {.N = 8, .Cin = 32, .F = 40, .T = 64, .Cout = 32, .kF = 3, .kT = 3, .sF = 1,
                      .sT = 1, .pF = 1, .pT = 1, .dF = 1, .dT = 1};
    size_t lnx = (size_t)ld.N * ld.In, lny = (size_t)ld.N * ld.Out, lnw = (size_t)ld.Out * ld.In;
    size_t cnx = (size_t)cd.N * cd.Cin * cd.F * cd.T, cny = conv2d_out_floats(&cd);
    size_t cnw = conv2d_weight_floats(&cd);
    float *lx = h_rand(&r, lnx, 1.0), *lw = h_rand(&r, lnw, 0.1), *ly = malloc(sizeof(float) * lny);
    float *cx = h_rand(&r, cnx, 1.0), *cw = h_rand(&r, cnw, 0.2), *cy = malloc(sizeof(float) * cny);
    float *ws = malloc(sizeof(float) * (conv2d_workspace_floats(&cd) + 1));
    linear_forward(ly, lx, lw, NULL, &ld);
    conv2d_forward(cy, cx, cw, NULL, &cd, ws);
    for (int tf32 = 0; tf32 <= 1; tf32++) {
        cuda_ctx *c;
        ch_error err;
        if (cuda_ctx_create(&c, test_env("CHORUS_CUDA_DEVICE", "cuda:0"), tf32, &err) != CH_OK)
            fail_msg("context (tf32=%d): %s", tf32, err.msg);
        cuda_ctx_bind(c);
        const nn_backend *be = nn_backend_cuda();
        size_t wsn = be->conv2d_workspace_floats(&cd);
        float *dWS, *dLX, *dLW, *dLY, *dCX, *dCW, *dCY;
        cuda_alloc(c, (void **)&dWS, sizeof(float) * (wsn + 1), "ws");
        cuda_alloc(c, (void **)&dLX, sizeof(float) * lnx, "x");
        cuda_alloc(c, (void **)&dLW, sizeof(float) * lnw, "w");
        cuda_alloc(c, (void **)&dLY, sizeof(float) * lny, "y");
        cuda_alloc(c, (void **)&dCX, sizeof(float) * cnx, "x");
        cuda_alloc(c, (void **)&dCW, sizeof(float) * cnw, "w");
        cuda_alloc(c, (void **)&dCY, sizeof(float) * cny, "y");
        cuda_upload(c, dLX, lx, sizeof(float) * lnx);
        cuda_upload(c, dLW, lw, sizeof(float) * lnw);
        cuda_upload(c, dCX, cx, sizeof(float) * cnx);
        cuda_upload(c, dCW, cw, sizeof(float) * cnw);
        be->linear_forward(dLY, dLX, dLW, NULL, &ld);
        be->conv2d_forward(dCY, dCX, dCW, NULL, &cd, dWS);
        float *gy = malloc(sizeof(float) * lny), *gc = malloc(sizeof(float) * cny);
        cuda_download(c, gy, dLY, sizeof(float) * lny);
        cuda_download(c, gc, dCY, sizeof(float) * cny);
        if (cuda_ctx_sync(c, &err) != CH_OK)
            fail_msg("tf32=%d: %s", tf32, err.msg);
        double el = rel_l2(gy, ly, lny), ec = rel_l2(gc, cy, cny);
        printf("%s: linear %dx%dx%d rel L2 err %.3g; conv2d 3x3 %dx%dx%dx%d rel L2 err %.3g\n",
               tf32 ? "TF32" : "FP32", ld.N, ld.In, ld.Out, el, cd.N, cd.Cin, cd.F, cd.T, ec);
        double lim = tf32 ? 5e-3 : 1e-5;
        assert_true(el < lim);
        assert_true(ec < lim);
        cuda_free(dWS), cuda_free(dLX), cuda_free(dLW), cuda_free(dLY), cuda_free(dCX);
        cuda_free(dCW), cuda_free(dCY), free(gy), free(gc);
        cuda_ctx_free(c);
    }
    cuda_ctx_bind(g_ctx.device);
    free(lx), free(lw), free(ly), free(cx), free(cw), free(cy), free(ws);
}

/* A failing call is recorded with its name, file:line and the library's message, later calls are
 * skipped, and the status comes back from nn_device_check. Uses a second context so the shared
 * one stays healthy. */
static void test_error_path(void **state)
{
    (void)state;
    cuda_ctx *bad;
    ch_error err;
    const char *dev = test_env("CHORUS_CUDA_DEVICE", "cuda:0");
    if (cuda_ctx_create(&bad, dev, 0, &err) != CH_OK)
        fail_msg("second context: %s", err.msg);
    cuda_ctx_bind(bad);
    linear_dims d = {4, -1, 3}; /* In < 0: cuBLAS rejects the sgemm */
    float *buf = d_alloc(64 * sizeof(float));
    nn_backend_cuda()->linear_forward(buf, buf, buf, NULL, &d);
    ch_status st = cuda_ctx_sync(bad, &err);
    printf("recorded: %s\n", err.msg);
    assert_int_equal(st, CH_ERR_INTERNAL);
    assert_non_null(strstr(err.msg, "cublasSgemm"));
    assert_non_null(strstr(err.msg, "linear.cu:"));
    assert_non_null(strstr(err.msg, dev[4] ? dev : "cuda:0"));
    cuda_free(buf);
    cuda_ctx_free(bad);
    cuda_ctx_bind(g_ctx.device);
    /* a wrong ordinal is refused up front */
    st = cuda_ctx_create(&bad, "cuda:999", 0, &err);
    printf("cuda:999: %s\n", err.msg);
    assert_int_equal(st, CH_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "cuda:999: no such device"));
}

int main(void)
{
    const char *dev = test_env("CHORUS_CUDA_DEVICE", "cuda:0");
    ch_error err;
    ch_status st = nn_device_open(&g_ctx, dev, 0, &err);
    if (st == CH_ERR_UNSUPPORTED)
        TEST_SKIP_ALL("no GPU here: %s", err.msg);
    if (st != CH_OK) {
        printf("FAIL: nn_device_open(%s): %s\n", dev, err.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu),      cmocka_unit_test(test_linear),
        cmocka_unit_test(test_conv2d),    cmocka_unit_test(test_conv1d),
        cmocka_unit_test(test_batchnorm), cmocka_unit_test(test_pool2d),
        cmocka_unit_test(test_concat),    cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_time_pool), cmocka_unit_test(test_softmax_ce),
        cmocka_unit_test(test_optim),     cmocka_unit_test(test_graph),
        cmocka_unit_test(test_lstm),      cmocka_unit_test(test_attention_pool),
        cmocka_unit_test(test_aam_softmax), cmocka_unit_test(test_mask_add_relu),
        cmocka_unit_test(test_table_complete),
        cmocka_unit_test(test_tf32_accuracy), cmocka_unit_test(test_error_path),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nn_device_close(&g_ctx);
    return rc;
}

#else /* CUDA=0 */

int main(void)
{
    TEST_SKIP_ALL("test_cuda_backend: built with CUDA=0 (no CUDA backend to compare)");
}

#endif
