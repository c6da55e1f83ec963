/* test_layers.c — PyTorch parity of the core layers (models/conv2d, conv1d, batchnorm, relu,
 * pool2d, linear, dropout, time_pool, softmax_ce): each case loads the dump written by
 * tests/ref/nn_layers.py (x, weights, y, dy and every gradient), runs the C forward and backward
 * on the same values and compares, printing max/mean |d| per tensor.
 *
 * Tolerances (float32 throughout, torch on one thread):
 *  - outputs and input gradients: atol 1e-5 + rtol 1e-4. Each value is a sum of at most ~100
 *    products of O(1) numbers; float32 rounding of such a sum is ~sqrt(100) * 6e-8 * |terms|
 *    ~ 1e-6, and summation order differs between BLAS and torch's kernels.
 *  - parameter gradients (dW, db, dgamma, dbeta: sums over the whole batch, up to ~700 terms
 *    with values up to ~30): atol 1e-4 + rtol 1e-4 for the same reason, scaled.
 * A missing dump SKIPs when torch is not installed and FAILs when it is.
 */
#include "test_util.h"

#include "models/batchnorm.h"
#include "models/conv1d.h"
#include "models/conv2d.h"
#include "models/dropout.h"
#include "models/linear.h"
#include "models/pool2d.h"
#include "models/relu.h"
#include "models/softmax_ce.h"
#include "models/time_pool.h"

#define ATOL_Y 1e-5
#define ATOL_W 1e-4
#define RTOL 1e-4

static void conv2d_case(const char *name)
{
    tf_file *f = test_ref_load("nn_layers_%s.tsr", name);
    const float *cfg = test_ref_get(f, "cfg", 14);
    conv2d_dims d = {.N = (int)cfg[0], .Cin = (int)cfg[1], .F = (int)cfg[2], .T = (int)cfg[3],
                     .Cout = (int)cfg[4], .kF = (int)cfg[5], .kT = (int)cfg[6], .sF = (int)cfg[7],
                     .sT = (int)cfg[8], .pF = (int)cfg[9], .pT = (int)cfg[10], .dF = (int)cfg[11],
                     .dT = (int)cfg[12]};
    int has_b = (int)cfg[13];
    size_t nx = (size_t)d.N * d.Cin * d.F * d.T, ny = conv2d_out_floats(&d);
    size_t nw = conv2d_weight_floats(&d);
    const float *x = test_ref_get(f, "x", nx), *w = test_ref_get(f, "w", nw),
                *b = has_b ? test_ref_get(f, "b", d.Cout) : NULL;
    float *y = test_zeros(ny), *dx = test_zeros(nx), *dw = test_zeros(nw), *db = test_zeros(d.Cout);
    float *ws = test_zeros(conv2d_workspace_floats(&d));
    printf("%s: N=%d Cin=%d F=%d T=%d Cout=%d k=%dx%d s=%d,%d p=%d,%d d=%d,%d -> %dx%d\n", name,
           d.N, d.Cin, d.F, d.T, d.Cout, d.kF, d.kT, d.sF, d.sT, d.pF, d.pT, d.dF, d.dT,
           conv2d_out_f(&d), conv2d_out_t(&d));
    conv2d_forward(y, x, w, b, &d, ws);
    test_assert_close("  y", y, test_ref_get(f, "y", ny), ny, ATOL_Y, RTOL);
    conv2d_backward(dx, dw, has_b ? db : NULL, test_ref_get(f, "dy", ny), x, w, &d, ws);
    test_assert_close("  dx", dx, test_ref_get(f, "dx", nx), nx, ATOL_Y, RTOL);
    test_assert_close("  dw", dw, test_ref_get(f, "dw", nw), nw, ATOL_W, RTOL);
    if (has_b)
        test_assert_close("  db", db, test_ref_get(f, "db", d.Cout), d.Cout, ATOL_W, RTOL);
    /* accumulation: a second backward must double dw (parameter gradients are +=) */
    conv2d_backward(NULL, dw, NULL, test_ref_get(f, "dy", ny), x, w, &d, ws);
    float *dw2 = test_zeros(nw);
    for (size_t i = 0; i < nw; i++)
        dw2[i] = 2.0f * test_ref_get(f, "dw", nw)[i];
    test_assert_close("  dw after 2 backwards (+=)", dw, dw2, nw, 2 * ATOL_W, RTOL);
    free(dw2);
    free(y), free(dx), free(dw), free(db), free(ws);
    tf_free(f);
}

static void test_conv2d(void **state)
{
    (void)state;
    conv2d_case("conv2d_a"); /* 3x3, pad 1 */
    conv2d_case("conv2d_b"); /* 3x2, stride (2,1), pad (0,2), dilation (1,2) */
    conv2d_case("conv2d_c"); /* 1x1 pointwise, no bias (the im2col-free path) */
    conv2d_case("conv2d_d"); /* 3x3, stride 2, pad 1, dilation (2,1) */
}

static void conv1d_case(const char *name)
{
    tf_file *f = test_ref_load("nn_layers_%s.tsr", name);
    const float *cfg = test_ref_get(f, "cfg", 8);
    conv1d_dims d = {.N = (int)cfg[0], .Cin = (int)cfg[1], .T = (int)cfg[2], .Cout = (int)cfg[3],
                     .k = (int)cfg[4], .stride = (int)cfg[5], .pad = (int)cfg[6],
                     .dil = (int)cfg[7]};
    size_t nx = (size_t)d.N * d.Cin * d.T, ny = (size_t)d.N * d.Cout * conv1d_out_t(&d);
    size_t nw = (size_t)d.Cout * d.Cin * d.k;
    const float *x = test_ref_get(f, "x", nx), *w = test_ref_get(f, "w", nw),
                *b = test_ref_get(f, "b", d.Cout);
    float *y = test_zeros(ny), *dx = test_zeros(nx), *dw = test_zeros(nw), *db = test_zeros(d.Cout);
    float *ws = test_zeros(conv1d_workspace_floats(&d));
    printf("%s: N=%d Cin=%d T=%d Cout=%d k=%d stride=%d pad=%d dil=%d -> To=%d\n", name, d.N,
           d.Cin, d.T, d.Cout, d.k, d.stride, d.pad, d.dil, conv1d_out_t(&d));
    conv1d_forward(y, x, w, b, &d, ws);
    test_assert_close("  y", y, test_ref_get(f, "y", ny), ny, ATOL_Y, RTOL);
    conv1d_backward(dx, dw, db, test_ref_get(f, "dy", ny), x, w, &d, ws);
    test_assert_close("  dx", dx, test_ref_get(f, "dx", nx), nx, ATOL_Y, RTOL);
    test_assert_close("  dw", dw, test_ref_get(f, "dw", nw), nw, ATOL_W, RTOL);
    test_assert_close("  db", db, test_ref_get(f, "db", d.Cout), d.Cout, ATOL_W, RTOL);
    free(y), free(dx), free(dw), free(db), free(ws);
    tf_free(f);
}

static void test_conv1d(void **state)
{
    (void)state;
    conv1d_case("conv1d_a"); /* k 3, dilation 2, pad 2 (TDNN context) */
    conv1d_case("conv1d_b"); /* k 5, stride 2, pad 1 */
}

static void bn_case(const char *name)
{
    tf_file *f = test_ref_load("nn_layers_%s.tsr", name);
    const int64_t *dims = NULL;
    int nd = 0;
    if (!tf_get(f, "x", &dims, &nd) || nd < 3)
        fail_msg("%s: no x of rank >= 3", name);
    batchnorm_dims d = {.N = (int)dims[0], .C = (int)dims[1], .S = 1, .eps = 1e-5f,
                        .momentum = 0.1f};
    for (int k = 2; k < nd; k++)
        d.S *= (int)dims[k];
    size_t nx = (size_t)d.N * d.C * d.S, C = (size_t)d.C;
    const float *x = test_ref_get(f, "x", nx), *g = test_ref_get(f, "gamma", C),
                *be = test_ref_get(f, "beta", C);
    float *rm = test_zeros(C), *rv = test_zeros(C), *mean = test_zeros(C), *invstd = test_zeros(C);
    memcpy(rm, test_ref_get(f, "rm0", C), C * sizeof(float));
    memcpy(rv, test_ref_get(f, "rv0", C), C * sizeof(float));
    float *y = test_zeros(nx), *dx = test_zeros(nx), *dg = test_zeros(C), *db = test_zeros(C);
    printf("%s: N=%d C=%d S=%d\n", name, d.N, d.C, d.S);
    batchnorm_forward_train(y, mean, invstd, rm, rv, x, g, be, &d);
    test_assert_close("  y (train)", y, test_ref_get(f, "y", nx), nx, ATOL_Y, RTOL);
    test_assert_close("  running_mean after 1 step", rm, test_ref_get(f, "rm1", C), C, ATOL_Y,
                      RTOL);
    test_assert_close("  running_var after 1 step (unbiased)", rv, test_ref_get(f, "rv1", C), C,
                      ATOL_Y, RTOL);
    batchnorm_backward(dx, dg, db, test_ref_get(f, "dy", nx), x, mean, invstd, g, &d);
    test_assert_close("  dx", dx, test_ref_get(f, "dx", nx), nx, ATOL_Y, RTOL);
    test_assert_close("  dgamma", dg, test_ref_get(f, "dgamma", C), C, ATOL_W, RTOL);
    test_assert_close("  dbeta", db, test_ref_get(f, "dbeta", C), C, ATOL_W, RTOL);
    batchnorm_forward_eval(y, x, g, be, rm, rv, &d);
    test_assert_close("  y (eval, updated running stats)", y, test_ref_get(f, "y_eval", nx), nx,
                      ATOL_Y, RTOL);
    free(rm), free(rv), free(mean), free(invstd), free(y), free(dx), free(dg), free(db);
    tf_free(f);
}

static void test_batchnorm(void **state)
{
    (void)state;
    bn_case("bn2d"); /* (3, 5, 7, 11) */
    bn_case("bn1d"); /* (4, 6, 13) */
}

static void pool_case(const char *name, int is_max)
{
    tf_file *f = test_ref_load("nn_layers_%s.tsr", name);
    const float *cfg = test_ref_get(f, "cfg", 8);
    pool2d_dims d = {.N = (int)cfg[0], .C = (int)cfg[1], .F = (int)cfg[2], .T = (int)cfg[3],
                     .kF = (int)cfg[4], .kT = (int)cfg[5], .sF = (int)cfg[6], .sT = (int)cfg[7]};
    size_t nx = (size_t)d.N * d.C * d.F * d.T, ny = pool2d_out_floats(&d);
    const float *x = test_ref_get(f, "x", nx);
    float *y = test_zeros(ny), *dx = test_zeros(nx);
    int32_t *am = calloc(ny, sizeof(int32_t));
    printf("%s: (%d,%d,%d,%d) k=%dx%d s=%dx%d\n", name, d.N, d.C, d.F, d.T, d.kF, d.kT, d.sF,
           d.sT);
    if (is_max) {
        maxpool2d_forward(y, am, x, &d);
        maxpool2d_backward(dx, test_ref_get(f, "dy", ny), am, &d);
    } else {
        avgpool2d_forward(y, x, &d);
        avgpool2d_backward(dx, test_ref_get(f, "dy", ny), &d);
    }
    test_assert_close("  y", y, test_ref_get(f, "y", ny), ny, ATOL_Y, RTOL);
    test_assert_close("  dx", dx, test_ref_get(f, "dx", nx), nx, ATOL_Y, RTOL);
    free(y), free(dx), free(am);
    tf_free(f);
}

static void test_pool2d(void **state)
{
    (void)state;
    pool_case("avgpool", 0);    /* (2,1): frequency only */
    pool_case("maxpool", 1);    /* (2,3) stride (2,2) */
    pool_case("maxpool_ov", 1); /* 3x3 stride 2: overlapping windows add gradients */
}

static void test_linear(void **state)
{
    (void)state;
    tf_file *f = test_ref_load("nn_layers_linear.tsr");
    linear_dims d = {.N = 7, .In = 13, .Out = 5};
    size_t nx = 7 * 13, ny = 7 * 5, nw = 5 * 13;
    const float *x = test_ref_get(f, "x", nx), *w = test_ref_get(f, "w", nw),
                *b = test_ref_get(f, "b", 5);
    float *y = test_zeros(ny), *dx = test_zeros(nx), *dw = test_zeros(nw), *db = test_zeros(5);
    linear_forward(y, x, w, b, &d);
    test_assert_close("linear y", y, test_ref_get(f, "y", ny), ny, ATOL_Y, RTOL);
    linear_backward(dx, dw, db, test_ref_get(f, "dy", ny), x, w, &d);
    test_assert_close("linear dx", dx, test_ref_get(f, "dx", nx), nx, ATOL_Y, RTOL);
    test_assert_close("linear dw", dw, test_ref_get(f, "dw", nw), nw, ATOL_W, RTOL);
    test_assert_close("linear db", db, test_ref_get(f, "db", 5), 5, ATOL_W, RTOL);
    free(y), free(dx), free(dw), free(db);
    tf_free(f);
}

/* ReLU then dropout with torch's mask: r = relu(x), y = r * mask; dx through both. Then the C
 * mask generator: values in {0, 1/(1-p)}, drop rate near p, out = in * mask, eval = copy. */
static void test_relu_dropout(void **state)
{
    (void)state;
    tf_file *f = test_ref_load("nn_layers_relu_dropout.tsr");
    const size_t n = 4 * 37;
    const float *x = test_ref_get(f, "x", n), *mask = test_ref_get(f, "mask", n);
    float *r = test_zeros(n), *y = test_zeros(n), *g = test_zeros(n);
    relu_forward(r, x, n);
    test_assert_close("relu y", r, test_ref_get(f, "r", n), n, 0.0, 0.0); /* exact: a select */
    /* y = r * mask is the train-mode forward with that mask: dropout_backward computes it */
    dropout_backward(y, r, mask, n);
    test_assert_close("dropout y (torch mask)", y, test_ref_get(f, "y", n), n, ATOL_Y, RTOL);
    dropout_backward(g, test_ref_get(f, "dy", n), mask, n);
    relu_backward(g, g, r, n); /* in place */
    test_assert_close("relu+dropout dx", g, test_ref_get(f, "dx", n), n, ATOL_Y, RTOL);
    tf_free(f);
    free(r), free(y), free(g);

    /* the C mask: 20000 draws with p = 0.3 — drop fraction within 5 sigma (sigma = 0.0032) */
    const size_t m = 20000;
    const float p = 0.3f;
    float *in = test_zeros(m), *out = test_zeros(m), *mk = test_zeros(m);
    for (size_t i = 0; i < m; i++)
        in[i] = (float)i * 1e-3f + 1.0f;
    rng rr;
    rng_seed(&rr, 7, 1);
    dropout_forward_train(out, mk, in, m, p, &rr);
    size_t dropped = 0, bad = 0;
    for (size_t i = 0; i < m; i++) {
        if (mk[i] == 0.0f)
            dropped++;
        else if (fabsf(mk[i] - 1.0f / (1.0f - p)) > 1e-7f)
            bad++;
        if (out[i] != in[i] * mk[i])
            bad++;
    }
    double frac = (double)dropped / m;
    printf("dropout C mask: dropped %.4f (p=%.2f), bad values %zu\n", frac, p, bad);
    assert_true(bad == 0);
    assert_true(fabs(frac - p) < 5 * sqrt(p * (1 - p) / m));
    dropout_forward_eval(out, in, m);
    assert_memory_equal(out, in, m * sizeof(float));
    free(in), free(out), free(mk);
}

static void test_time_pool(void **state)
{
    (void)state;
    tf_file *f = test_ref_load("nn_layers_time_pool.tsr");
    time_pool_dims d = {.N = 3, .C = 5, .T = 9, .eps = 1e-7f, .unbiased = 1};
    const float *lf = test_ref_get(f, "lengths", 3);
    int lengths[3] = {(int)lf[0], (int)lf[1], (int)lf[2]};
    size_t nx = 3 * 5 * 9;
    const float *x = test_ref_get(f, "x", nx);
    float *ym = test_zeros(15), *ys = test_zeros(30), *dx = test_zeros(nx);
    mean_pool_forward(ym, x, lengths, &d);
    test_assert_close("mean pool y", ym, test_ref_get(f, "y_mean", 15), 15, ATOL_Y, RTOL);
    mean_pool_backward(dx, test_ref_get(f, "dy_mean", 15), lengths, &d);
    test_assert_close("mean pool dx (0 at padding)", dx, test_ref_get(f, "dx_mean", nx), nx, ATOL_Y,
                      RTOL);
    stats_pool_forward(ys, x, lengths, &d);
    test_assert_close("stats pool y", ys, test_ref_get(f, "y_stats", 30), 30, ATOL_Y, RTOL);
    stats_pool_backward(dx, test_ref_get(f, "dy_stats", 30), ys, x, lengths, &d);
    test_assert_close("stats pool dx (0 at padding)", dx, test_ref_get(f, "dx_stats", nx), nx,
                      ATOL_Y, RTOL);
    free(ym), free(ys), free(dx);
    tf_free(f);
}

static void test_softmax_ce(void **state)
{
    (void)state;
    tf_file *f = test_ref_load("nn_layers_ce.tsr");
    softmax_ce_dims d = {.N = 6, .K = 7, .smoothing = test_ref_get(f, "eps", 1)[0]};
    const float *lf = test_ref_get(f, "labels", 6);
    int labels[6];
    for (int i = 0; i < 6; i++)
        labels[i] = (int)lf[i];
    float dz[42];
    float loss = (float)softmax_ce_forward_backward(dz, test_ref_get(f, "logits", 42), labels, &d);
    test_assert_close("ce loss (smoothing 0.1)", &loss, test_ref_get(f, "loss", 1), 1, ATOL_Y,
                      RTOL);
    test_assert_close("ce dlogits", dz, test_ref_get(f, "dlogits", 42), 42, ATOL_Y, RTOL);
    tf_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),      cmocka_unit_test(test_conv1d),
        cmocka_unit_test(test_batchnorm),   cmocka_unit_test(test_pool2d),
        cmocka_unit_test(test_linear),      cmocka_unit_test(test_relu_dropout),
        cmocka_unit_test(test_time_pool),   cmocka_unit_test(test_softmax_ce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
