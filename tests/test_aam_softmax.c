/* test_aam_softmax.c — models/aam_softmax: finite-difference gradients (d emb, d W) on both
 * branches of the target logit, m = 0 against the plain softmax cross-entropy layer, PyTorch
 * parity (WeSpeaker's ArcMarginProduct + F.cross_entropy, tests/ref/nn_aam.py: logits, loss,
 * d emb, d W) and the head / margin warm-up helpers.
 *
 * Tolerances: parity in float32 vs torch float32. cos is a D-term dot product of unit vectors
 * (rounding ~1e-7), times s <= 32: logits atol 2e-5 + rtol 1e-5; the loss (a log-sum-exp of
 * those, in double here): atol 2e-5 + rtol 1e-5. Gradients are O(s / N / |e|) ~ 0.1 with the
 * same relative rounding: atol 1e-5 + rtol 1e-4 (BLAS vs torch summation order).
 * Gradient checks use s = 8 so the loss stays smooth on the eps = 1e-2 scale (gradcheck.h).
 */
#include "test_util.h"

#include <math.h>

#include "common/rng.h"
#include "gradcheck.h"
#include "models/aam_softmax.h"
#include "models/softmax_ce.h"

typedef struct {
    aam_dims d;
    float *emb, *w, *ws;
    int *labels;
} aam_ctx;

static double aam_loss(void *p)
{
    aam_ctx *c = p;
    return aam_softmax_forward_backward(NULL, NULL, NULL, c->emb, c->w, c->labels, &c->d, c->ws);
}

/* Gradient check of one configuration; `flip` samples are built pointing away from their class
 * (target cos ~ -0.9x, the `cos - mmm` / easy-margin fallback branch); returns how many samples
 * took the fallback branch. The target logit has a kink (WeSpeaker) or a jump (easy margin) at
 * the threshold, so every target cos is asserted to be > 0.02 away from it. */
static int aam_grad_case(aam_dims d, int flip, uint64_t seed)
{
    rng r;
    rng_seed(&r, 21, seed);
    aam_ctx c = {.d = d, .emb = test_randn(&r, (size_t)d.N * d.D, 1),
                 .w = test_randn(&r, (size_t)d.K * d.D, 1),
                 .ws = test_zeros(aam_softmax_workspace_floats(&d)),
                 .labels = calloc(d.N, sizeof(int))};
    for (int n = 0; n < d.N; n++) {
        c.labels[n] = (int)rng_below(&r, (uint32_t)d.K);
        if (n < flip)
            for (int j = 0; j < d.D; j++)
                c.emb[n * d.D + j] =
                    -1.5f * c.w[c.labels[n] * d.D + j] + 0.2f * (float)rng_normal(&r);
        else if (d.easy_margin) /* easy margin jumps at cos = 0: keep the others well above */
            for (int j = 0; j < d.D; j++)
                c.emb[n * d.D + j] = 0.5f * c.emb[n * d.D + j] + 1.5f * c.w[c.labels[n] * d.D + j];
    }
    float *demb = test_zeros((size_t)d.N * d.D), *dw = test_zeros((size_t)d.K * d.D);
    float *logits = test_zeros((size_t)d.N * d.K);
    double loss = aam_softmax_forward_backward(logits, demb, dw, c.emb, c.w, c.labels, &d, c.ws);
    assert_true(isfinite(loss) && loss > 0);
    /* count fallback samples: the target logit is below s * cos(theta + m) computed directly */
    int fallback = 0;
    double th = d.easy_margin ? 0.0 : cos(M_PI - d.margin);
    for (int n = 0; n < d.N; n++) {
        const float *e = c.emb + n * d.D, *wy = c.w + c.labels[n] * d.D;
        double dot = 0, ne = 0, nw = 0;
        for (int j = 0; j < d.D; j++)
            dot += (double)e[j] * wy[j], ne += (double)e[j] * e[j], nw += (double)wy[j] * wy[j];
        double cy = dot / sqrt(ne * nw);
        fallback += cy <= th;
        /* the branch decision must not sit on the kink (a sign change within eps) */
        assert_true(fabs(cy - th) > 0.02);
    }
    printf("aam N=%d D=%d K=%d s=%g m=%g easy=%d: loss %.6f, %d fallback samples\n", d.N, d.D,
           d.K, d.scale, d.margin, d.easy_margin, loss, fallback);
    assert_true(gc_ok(gc_check("aam demb", c.emb, demb, (size_t)d.N * d.D, aam_loss, &c)));
    assert_true(gc_ok(gc_check("aam dw", c.w, dw, (size_t)d.K * d.D, aam_loss, &c)));
    /* dw accumulates: a second call adds the same gradient again */
    float *dw2 = test_zeros((size_t)d.K * d.D);
    memcpy(dw2, dw, sizeof(float) * d.K * d.D);
    aam_softmax_forward_backward(NULL, NULL, dw2, c.emb, c.w, c.labels, &d, c.ws);
    for (int i = 0; i < d.K * d.D; i++)
        assert_float_equal(dw2[i], 2 * dw[i], 1e-6 + 1e-5 * fabs(dw[i]));
    free(c.emb), free(c.w), free(c.ws), free(c.labels), free(demb), free(dw), free(dw2),
        free(logits);
    return fallback;
}

static void test_aam_grad(void **state)
{
    (void)state;
    assert_int_equal(aam_grad_case((aam_dims){.N = 6, .D = 7, .K = 5, .scale = 8, .margin = 0.3f},
                                   0, 1),
                     0);
    /* m = 0.5: th = cos(pi - 0.5) = -0.878; flipped samples sit near cos = -0.99 */
    assert_true(aam_grad_case((aam_dims){.N = 7, .D = 9, .K = 4, .scale = 8, .margin = 0.5f}, 3,
                              2) >= 2);
    assert_true(aam_grad_case((aam_dims){.N = 5, .D = 6, .K = 3, .scale = 8, .margin = 0.2f,
                                         .easy_margin = 1},
                              2, 3) >= 2);
}

/* m = 0 is softmax cross-entropy on s * cos: compare with models/softmax_ce (no smoothing). */
static void test_aam_no_margin_is_softmax(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 22, 0);
    aam_dims d = {.N = 9, .D = 11, .K = 6, .scale = 10, .margin = 0};
    float *emb = test_randn(&r, 99, 1), *w = test_randn(&r, 66, 1);
    float *ws = test_zeros(aam_softmax_workspace_floats(&d));
    float *logits = test_zeros(54), *cosz = test_zeros(54);
    int labels[9];
    for (int n = 0; n < 9; n++)
        labels[n] = (int)rng_below(&r, 6);
    double loss = aam_softmax_forward_backward(logits, NULL, NULL, emb, w, labels, &d, ws);
    for (int n = 0; n < 9; n++)
        for (int k = 0; k < 6; k++) {
            double dot = 0, ne = 0, nw = 0;
            for (int j = 0; j < 11; j++) {
                dot += (double)emb[n * 11 + j] * w[k * 11 + j];
                ne += (double)emb[n * 11 + j] * emb[n * 11 + j];
                nw += (double)w[k * 11 + j] * w[k * 11 + j];
            }
            cosz[n * 6 + k] = (float)(10 * dot / sqrt(ne * nw));
        }
    test_assert_close("m=0 logits vs s*cos", logits, cosz, 54, 1e-5, 1e-5);
    softmax_ce_dims sd = {.N = 9, .K = 6, .smoothing = 0};
    double ref = softmax_ce_forward_backward(NULL, cosz, labels, &sd);
    printf("m=0 loss %.8f softmax_ce %.8f\n", loss, ref);
    assert_float_equal(loss, ref, 1e-5);
    free(emb), free(w), free(ws), free(logits), free(cosz);
}

static void parity_case(const char *name)
{
    tf_file *f = test_ref_load("nn_aam_%s.tsr", name);
    const float *cfg = tf_get(f, "cfg", NULL, NULL);
    assert_non_null(cfg);
    aam_dims d = {.N = (int)cfg[0], .D = (int)cfg[1], .K = (int)cfg[2], .scale = cfg[3],
                  .margin = cfg[4], .easy_margin = (int)cfg[5]};
    size_t nE = (size_t)d.N * d.D, nW = (size_t)d.K * d.D, nL = (size_t)d.N * d.K;
    assert_int_equal(tf_numel(f, "emb"), nE);
    assert_int_equal(tf_numel(f, "w"), nW);
    assert_int_equal(tf_numel(f, "logits"), nL);
    assert_int_equal(tf_numel(f, "demb"), nE);
    assert_int_equal(tf_numel(f, "dw"), nW);
    const float *lab = tf_get(f, "labels", NULL, NULL);
    int *labels = calloc(d.N, sizeof(int));
    for (int n = 0; n < d.N; n++)
        labels[n] = (int)lab[n];
    float *ws = test_zeros(aam_softmax_workspace_floats(&d)), *logits = test_zeros(nL),
          *demb = test_zeros(nE);
    float *dw = test_zeros(nW);
    printf("case %s: N=%d D=%d K=%d s=%g m=%g easy=%d\n", name, d.N, d.D, d.K, d.scale, d.margin,
           d.easy_margin);
    double loss = aam_softmax_forward_backward(logits, demb, dw, tf_get(f, "emb", NULL, NULL),
                                               tf_get(f, "w", NULL, NULL), labels, &d, ws);
    float lossf = (float)loss;
    test_assert_close("loss", &lossf, tf_get(f, "loss", NULL, NULL), 1, 2e-5, 1e-5);
    test_assert_close("logits", logits, tf_get(f, "logits", NULL, NULL), nL, 2e-5, 1e-5);
    test_assert_close("demb", demb, tf_get(f, "demb", NULL, NULL), nE, 1e-5, 1e-4);
    test_assert_close("dw", dw, tf_get(f, "dw", NULL, NULL), nW, 1e-5, 1e-4);
    free(labels), free(ws), free(logits), free(demb), free(dw);
    tf_free(f);
}

static void test_aam_parity(void **state)
{
    (void)state;
    parity_case("std");
    parity_case("bigmargin");
    parity_case("easy");
    parity_case("nomargin");
}

static void test_aam_helpers(void **state)
{
    (void)state;
    assert_float_equal(aam_margin_warmup(0, 10, 20, 0.2f), 0.0f, 0);
    assert_float_equal(aam_margin_warmup(10, 10, 20, 0.2f), 0.0f, 0);
    assert_float_equal(aam_margin_warmup(15, 10, 20, 0.2f), 0.1f, 1e-7);
    assert_float_equal(aam_margin_warmup(20, 10, 20, 0.2f), 0.2f, 0);
    assert_float_equal(aam_margin_warmup(99, 10, 20, 0.2f), 0.2f, 0);
    assert_float_equal(aam_margin_warmup(0, 5, 5, 0.3f), 0.3f, 0);

    rng r;
    rng_seed(&r, 23, 0);
    aam_head *h = NULL;
    ch_error err;
    assert_int_equal(aam_head_create(&h, 40, 16, &r, &err), CH_OK);
    assert_int_equal(h->p->n, 640);
    const param_group *g = params_find_group(h->p, "head");
    assert_non_null(g);
    assert_int_equal(g->count, 640);
    /* Xavier-uniform bound sqrt(6 / (16 + 40)) = 0.327; values spread inside it */
    double mx = 0;
    for (int i = 0; i < 640; i++)
        mx = fmax(mx, fabs(h->w[i]));
    assert_true(mx <= 0.3274 && mx > 0.25);
    aam_head_free(h);
    aam_head_free(NULL);
    assert_int_equal(aam_head_create(&h, 0, 16, &r, &err), CH_ERR_USAGE);
    assert_null(h);
    printf("bad head size: %s\n", err.msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aam_grad),
        cmocka_unit_test(test_aam_no_margin_is_softmax),
        cmocka_unit_test(test_aam_parity),
        cmocka_unit_test(test_aam_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
