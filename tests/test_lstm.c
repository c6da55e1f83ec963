/* test_lstm.c — models/lstm and models/attention_pool: finite-difference gradient checks on odd
 * shapes with unequal lengths (both directions), and parity with PyTorch dumps written by
 * tests/ref/nn_lstm.py (torch.nn.LSTM batch_first + pack_padded_sequence; additive attention);
 * the cell's vectorised exp / sigmoid / tanh (models/lstm_cell.h) against double precision.
 */
#include "test_util.h"

#include <omp.h>
#include <unistd.h>

#include "common/rng.h"
#include "models/attention_pool.h"
#include "models/lstm.h"
#include "models/lstm_cell.h"

/* ---- gradient checking.
 * Loss L = sum(out * R) (+ sum(hn * Rh) + sum(cn * Rc) for the LSTM), accumulated in double,
 * central differences with eps = 1e-2 on every input and parameter element. Tolerance
 * |a - n| / max(1e-3, |a| + |n|) <= 2e-2: float32 forward with eps 1e-2 leaves ~1e-4 truncation
 * (eps^2 * f''') and ~1e-5 rounding (1e-7 * |L| / eps) error; LSTM/tanh/softmax are smooth, so
 * there are no kinks to avoid. */
typedef double (*loss_fn)(void *ctx);

static void grad_check(const char *what, float *v, const float *analytic, size_t n, loss_fn f,
                       void *ctx)
{
    const float eps = 1e-2f;
    double worst = 0.0;
    size_t wi = 0;
    double wa = 0, wn = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = v[i];
        v[i] = keep + eps;
        double lp = f(ctx);
        v[i] = keep - eps;
        double lm = f(ctx);
        v[i] = keep;
        double num = (lp - lm) / (2.0 * eps);
        double a = analytic[i];
        double rel = fabs(a - num) / fmax(1e-3, fabs(a) + fabs(num));
        if (rel > worst) {
            worst = rel;
            wi = i;
            wa = a;
            wn = num;
        }
    }
    printf("gradcheck %s: n=%zu worst rel err %.3g (element %zu: analytic %.6g numeric %.6g)\n",
           what, n, worst, wi, wa, wn);
    if (worst > 2e-2)
        fail_msg("gradcheck %s: rel err %.3g > 2e-2", what, worst);
}

typedef struct {
    lstm_dims d;
    int *lengths;
    float *x, *w, *y, *hn, *cn, *gates, *cells, *ws, *R, *Rh, *Rc;
} lstm_ctx;

static double lstm_loss(void *p)
{
    lstm_ctx *c = p;
    const lstm_dims *d = &c->d;
    int D = lstm_directions(d);
    lstm_forward(c->y, c->hn, c->cn, c->gates, c->cells, c->x, c->lengths, c->w, d, c->ws);
    double L = 0;
    size_t ny = (size_t)d->N * d->T * D * d->H, nh = (size_t)D * d->N * d->H;
    for (size_t i = 0; i < ny; i++)
        L += (double)c->y[i] * c->R[i];
    for (size_t i = 0; i < nh; i++)
        L += (double)c->hn[i] * c->Rh[i] + (double)c->cn[i] * c->Rc[i];
    return L;
}

static void lstm_gradcheck_case(int N, int T, int In, int H, int bidir, const int *lengths)
{
    rng r;
    rng_seed(&r, 42, (uint64_t)(N * 1000 + T * 10 + bidir));
    lstm_ctx c;
    memset(&c, 0, sizeof(c));
    c.d = (lstm_dims){N, T, In, H, bidir};
    c.lengths = (int *)lengths;
    const lstm_dims *d = &c.d;
    int D = lstm_directions(d);
    size_t nx = (size_t)N * T * In, nw = lstm_param_floats(d), ny = (size_t)N * T * D * H;
    size_t nh = (size_t)D * N * H;
    c.x = test_randn(&r, nx, 1.0f);
    c.w = test_randn(&r, nw, 0.4f);
    c.R = test_randn(&r, ny, 1.0f);
    c.Rh = test_randn(&r, nh, 1.0f);
    c.Rc = test_randn(&r, nh, 1.0f);
    c.y = malloc(sizeof(float) * ny);
    c.hn = malloc(sizeof(float) * nh);
    c.cn = malloc(sizeof(float) * nh);
    c.gates = malloc(sizeof(float) * lstm_gates_floats(d));
    c.cells = malloc(sizeof(float) * lstm_cells_floats(d));
    c.ws = malloc(sizeof(float) * lstm_workspace_floats(d));
    float *dx = malloc(sizeof(float) * nx), *dw = calloc(nw, sizeof(float));
    lstm_loss(&c);
    /* padded frames must be exactly zero */
    for (int n = 0; n < N; n++)
        for (int t = lengths[n]; t < T; t++)
            for (int k = 0; k < D * H; k++)
                assert_true(c.y[((size_t)n * T + t) * D * H + k] == 0.0f);
    lstm_backward(dx, dw, NULL, NULL, c.R, c.Rh, c.Rc, c.y, c.gates, c.cells, c.x, lengths, c.w,
                  d, c.ws);
    char what[64];
    snprintf(what, sizeof(what), "lstm dx (N%d T%d I%d H%d bi%d)", N, T, In, H, bidir);
    grad_check(what, c.x, dx, nx, lstm_loss, &c);
    snprintf(what, sizeof(what), "lstm dw (N%d T%d I%d H%d bi%d)", N, T, In, H, bidir);
    grad_check(what, c.w, dw, nw, lstm_loss, &c);
    free(c.x), free(c.w), free(c.R), free(c.Rh), free(c.Rc), free(c.y), free(c.hn), free(c.cn);
    free(c.gates), free(c.cells), free(c.ws), free(dx), free(dw);
}

static void test_lstm_gradcheck(void **state)
{
    (void)state;
    const int len_bi[3] = {7, 3, 5};
    lstm_gradcheck_case(3, 7, 5, 4, 1, len_bi);
    const int len_uni[2] = {4, 6};
    lstm_gradcheck_case(2, 6, 3, 5, 0, len_uni);
}

typedef struct {
    attention_pool_dims d;
    int *lengths;
    float *h, *w, *out, *saved, *ws, *R;
} attn_ctx;

static double attn_loss(void *p)
{
    attn_ctx *c = p;
    attention_pool_forward(c->out, c->saved, c->h, c->lengths, c->w, &c->d, c->ws);
    double L = 0;
    for (size_t i = 0; i < (size_t)c->d.N * c->d.Dm; i++)
        L += (double)c->out[i] * c->R[i];
    return L;
}

static void test_attention_gradcheck(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 7, 1);
    int lengths[4] = {5, 1, 3, 0}; /* 0: empty sequence -> zero output and gradients */
    attn_ctx c;
    memset(&c, 0, sizeof(c));
    c.d = (attention_pool_dims){4, 5, 7, 4};
    c.lengths = lengths;
    size_t nh = (size_t)4 * 5 * 7, nw = attention_pool_param_floats(&c.d);
    c.h = test_randn(&r, nh, 1.0f);
    c.w = test_randn(&r, nw, 0.5f);
    c.R = test_randn(&r, 4 * 7, 1.0f);
    c.out = malloc(sizeof(float) * 4 * 7);
    c.saved = malloc(sizeof(float) * attention_pool_saved_floats(&c.d));
    c.ws = malloc(sizeof(float) * attention_pool_workspace_floats(&c.d));
    float *dh = malloc(sizeof(float) * nh), *dw = calloc(nw, sizeof(float));
    attn_loss(&c);
    attention_pool_backward(dh, dw, c.R, c.saved, c.h, lengths, c.w, &c.d, c.ws);
    for (int k = 0; k < 7; k++)
        assert_true(c.out[3 * 7 + k] == 0.0f);
    for (int i = 0; i < 5 * 7; i++)
        assert_true(dh[3 * 5 * 7 + i] == 0.0f && dh[1 * 5 * 7 + 7 + i % 28] == 0.0f);
    grad_check("attention dh", c.h, dh, nh, attn_loss, &c);
    grad_check("attention dw", c.w, dw, nw, attn_loss, &c);
    free(c.h), free(c.w), free(c.R), free(c.out), free(c.saved), free(c.ws), free(dh), free(dw);
}

/* ---- PyTorch parity. Tolerance atol 1e-5 + rtol 1e-4: one float32 layer with ~10 recurrent
 * steps; BLAS vs torch summation order and expf/tanhf vs torch's vectorised versions differ by
 * a few ulp per op, which the recurrence compounds to ~1e-6. */
static void lstm_parity_case(const char *file)
{
    tf_file *f = test_ref_load("%s", file);
    const float *dims = test_ref_get(f, "dims", 0), *lf = test_ref_get(f, "lengths", 0);
    lstm_dims d = {(int)dims[0], (int)dims[1], (int)dims[2], (int)dims[3], (int)dims[4]};
    int D = lstm_directions(&d), lengths[64];
    for (int n = 0; n < d.N; n++)
        lengths[n] = (int)lf[n];
    size_t nx = (size_t)d.N * d.T * d.In, ny = (size_t)d.N * d.T * D * d.H;
    size_t nh = (size_t)D * d.N * d.H, nw = lstm_param_floats(&d);
    const float *x = test_ref_get(f, "x", 0), *w = test_ref_get(f, "w", nw);
    float *y = malloc(sizeof(float) * ny), *hn = malloc(sizeof(float) * nh);
    float *cn = malloc(sizeof(float) * nh), *dh0 = malloc(sizeof(float) * nh);
    float *dc0 = malloc(sizeof(float) * nh), *dx = malloc(sizeof(float) * nx);
    float *dw = calloc(nw, sizeof(float));
    float *gates = malloc(sizeof(float) * lstm_gates_floats(&d));
    float *cells = malloc(sizeof(float) * lstm_cells_floats(&d));
    float *ws = malloc(sizeof(float) * lstm_workspace_floats(&d));
    lstm_forward(y, hn, cn, gates, cells, x, lengths, w, &d, ws);
    lstm_backward(dx, dw, dh0, dc0, test_ref_get(f, "dy", 0), test_ref_get(f, "dhn", 0),
                  test_ref_get(f, "dcn", 0), y, gates, cells, x, lengths, w, &d, ws);
    printf("parity %s (N=%d T=%d I=%d H=%d bidirectional=%d)\n", file, d.N, d.T, d.In, d.H,
           d.bidirectional);
    test_assert_close("  y", y, test_ref_get(f, "y", 0), ny, 1e-5, 1e-4);
    test_assert_close("  h_n", hn, test_ref_get(f, "hn", 0), nh, 1e-5, 1e-4);
    test_assert_close("  c_n", cn, test_ref_get(f, "cn", 0), nh, 1e-5, 1e-4);
    test_assert_close("  dx", dx, test_ref_get(f, "dx", 0), nx, 1e-5, 1e-4);
    test_assert_close("  dw", dw, test_ref_get(f, "dw", 0), nw, 1e-5, 1e-4);
    test_assert_close("  dh0", dh0, test_ref_get(f, "dh0", 0), nh, 1e-5, 1e-4);
    test_assert_close("  dc0", dc0, test_ref_get(f, "dc0", 0), nh, 1e-5, 1e-4);
    free(y), free(hn), free(cn), free(dh0), free(dc0), free(dx), free(dw), free(gates);
    free(cells), free(ws), tf_free(f);
}

static void test_lstm_parity_bi(void **state)
{
    (void)state;
    lstm_parity_case("nn_lstm_bi.tsr");
}

static void test_lstm_parity_uni(void **state)
{
    (void)state;
    lstm_parity_case("nn_lstm_uni.tsr");
}

static void test_attention_parity(void **state)
{
    (void)state;
    tf_file *f = test_ref_load("nn_attn_a.tsr");
    const float *dims = test_ref_get(f, "dims", 0), *lf = test_ref_get(f, "lengths", 0);
    attention_pool_dims d = {(int)dims[0], (int)dims[1], (int)dims[2], (int)dims[3]};
    int lengths[64];
    for (int n = 0; n < d.N; n++)
        lengths[n] = (int)lf[n];
    size_t nh = (size_t)d.N * d.T * d.Dm, nw = attention_pool_param_floats(&d);
    const float *h = test_ref_get(f, "h", 0), *w = test_ref_get(f, "w", 0);
    float *out = malloc(sizeof(float) * d.N * d.Dm);
    float *saved = malloc(sizeof(float) * attention_pool_saved_floats(&d));
    float *ws = malloc(sizeof(float) * attention_pool_workspace_floats(&d));
    float *dh = malloc(sizeof(float) * nh), *dw = calloc(nw, sizeof(float));
    attention_pool_forward(out, saved, h, lengths, w, &d, ws);
    attention_pool_backward(dh, dw, test_ref_get(f, "dout", 0), saved, h, lengths, w, &d, ws);
    printf("parity nn_attn_a.tsr (N=%d T=%d D=%d A=%d)\n", d.N, d.T, d.Dm, d.A);
    test_assert_close("  out", out, test_ref_get(f, "out", 0), (size_t)d.N * d.Dm, 1e-5, 1e-4);
    test_assert_close("  alpha", saved + (size_t)d.N * d.T * d.A, test_ref_get(f, "alpha", 0),
                      (size_t)d.N * d.T, 1e-5, 1e-4);
    test_assert_close("  dh", dh, test_ref_get(f, "dh", 0), nh, 1e-5, 1e-4);
    test_assert_close("  dw", dw, test_ref_get(f, "dw", 0), nw, 1e-5, 1e-4);
    free(out), free(saved), free(ws), free(dh), free(dw), tf_free(f);
}

/* Determinism and accumulation: two backward calls into the same dw give exactly 2x, and a
 * repeated forward gives bit-identical output. */
static void test_lstm_accumulate(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 9, 0);
    lstm_dims d = {5, 8, 6, 7, 1};
    int lengths[5] = {8, 1, 5, 8, 3};
    size_t nx = 5 * 8 * 6, ny = 5 * 8 * 14, nw = lstm_param_floats(&d);
    float *x = test_randn(&r, nx, 1), *w = test_randn(&r, nw, 0.3f), *dy = test_randn(&r, ny, 1);
    float *y = malloc(4 * ny), *y2 = malloc(4 * ny), *g = malloc(4 * lstm_gates_floats(&d));
    float *c = malloc(4 * lstm_cells_floats(&d)), *ws = malloc(4 * lstm_workspace_floats(&d));
    float *dw1 = calloc(nw, 4), *dw2 = calloc(nw, 4), *dx = malloc(4 * nx);
    lstm_forward(y2, NULL, NULL, g, c, x, lengths, w, &d, ws);
    lstm_forward(y, NULL, NULL, g, c, x, lengths, w, &d, ws);
    assert_memory_equal(y, y2, 4 * ny);
    lstm_backward(dx, dw1, NULL, NULL, dy, NULL, NULL, y, g, c, x, lengths, w, &d, ws);
    lstm_backward(NULL, dw2, NULL, NULL, dy, NULL, NULL, y, g, c, x, lengths, w, &d, ws);
    lstm_backward(NULL, dw2, NULL, NULL, dy, NULL, NULL, y, g, c, x, lengths, w, &d, ws);
    for (size_t i = 0; i < nw; i++)
        dw1[i] *= 2.0f;
    test_assert_close("dw accumulated twice vs 2x once", dw2, dw1, nw, 0, 1e-6);
    /* padded frames of dx are zero */
    for (int t = 1; t < 8; t++)
        for (int k = 0; k < 6; k++)
            assert_true(dx[(1 * 8 + t) * 6 + k] == 0.0f);
    free(x), free(w), free(dy), free(y), free(y2), free(g), free(c), free(ws), free(dw1);
    free(dw2), free(dx);
}

/* Same results, bit for bit, with 1 and 3 OpenMP threads (the element-wise work is split by
 * batch row and every reduction runs in a fixed order; BLAS runs single-threaded under
 * tests/run.sh). */
static void test_lstm_thread_determinism(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 13, 0);
    lstm_dims d = {7, 6, 4, 5, 1};
    int lengths[7] = {6, 2, 5, 6, 0, 3, 4}; /* 0: empty sequence (torch refuses; we give 0) */
    size_t nx = 7 * 6 * 4, ny = 7 * 6 * 10, nw = lstm_param_floats(&d);
    float *x = test_randn(&r, nx, 1), *w = test_randn(&r, nw, 0.3f), *dy = test_randn(&r, ny, 1);
    float *y[2], *dx[2], *dw[2];
    float *g = malloc(4 * lstm_gates_floats(&d)), *c = malloc(4 * lstm_cells_floats(&d));
    float *ws = malloc(4 * lstm_workspace_floats(&d));
    int saved = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k == 0 ? 1 : 3);
        y[k] = malloc(4 * ny);
        dx[k] = malloc(4 * nx);
        dw[k] = calloc(nw, 4);
        lstm_forward(y[k], NULL, NULL, g, c, x, lengths, w, &d, ws);
        lstm_backward(dx[k], dw[k], NULL, NULL, dy, NULL, NULL, y[k], g, c, x, lengths, w, &d, ws);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(y[0], y[1], 4 * ny);
    assert_memory_equal(dx[0], dx[1], 4 * nx);
    assert_memory_equal(dw[0], dw[1], 4 * nw);
    for (size_t i = 0; i < 6 * 10; i++)
        assert_true(y[0][4 * 6 * 10 + i] == 0.0f);
    for (size_t i = 0; i < 6 * 4; i++)
        assert_true(dx[0][4 * 6 * 4 + i] == 0.0f);
    for (size_t i = 0; i < nw; i++)
        assert_true(isfinite(dw[0][i]));
    printf("1 vs 3 threads: y, dx, dw bit-identical\n");
    for (int k = 0; k < 2; k++)
        free(y[k]), free(dx[k]), free(dw[k]);
    free(x), free(w), free(dy), free(g), free(c), free(ws);
}

/* lstm_expf8 within 2 ulp (relative 2.4e-7) of exp over [-87.3, 88.3] on a dense sweep (and
 * saturating, finite and positive, beyond); sigmoid and tanh within 3e-7 absolute everywhere,
 * exactly odd for tanh; the cell's 8-wide body equals its scalar tail unit for unit. */
static void test_cell_math(void **state)
{
    (void)state;
    double worst_exp = 0, worst_sig = 0, worst_tanh = 0;
    const int n = 1 << 20;
    for (int i = 0; i < n; i += 8) {
        float xs[8], ys[8], sg[8], th[8];
        for (int l = 0; l < 8; l++)
            xs[l] = -87.3f + (float)(175.6 * (double)(i + l) / n);
        lstm_st8(ys, lstm_expf8(lstm_ld8(xs)));
        for (int l = 0; l < 8; l++) {
            double ref = exp((double)xs[l]);
            double rel = fabs(ys[l] - ref) / ref;
            if (rel > worst_exp)
                worst_exp = rel;
        }
        for (int l = 0; l < 8; l++)
            xs[l] = -20.0f + (float)(40.0 * (double)(i + l) / n);
        lstm_st8(sg, lstm_sigmoid8(lstm_ld8(xs)));
        lstm_st8(th, lstm_tanh8(lstm_ld8(xs)));
        for (int l = 0; l < 8; l++) {
            double es = fabs(sg[l] - 1.0 / (1.0 + exp(-(double)xs[l])));
            double et = fabs(th[l] - tanh((double)xs[l]));
            worst_sig = es > worst_sig ? es : worst_sig;
            worst_tanh = et > worst_tanh ? et : worst_tanh;
            assert_true(lstm_tanhf(-xs[l]) == -lstm_tanhf(xs[l]));
        }
    }
    printf("lstm_expf8 max rel err %.3g, sigmoid max abs err %.3g, tanh %.3g\n", worst_exp,
           worst_sig, worst_tanh);
    assert_true(worst_exp <= 2.4e-7);
    assert_true(worst_sig <= 3e-7);
    assert_true(worst_tanh <= 3e-7);
    const float big[8] = {100, 1000, -100, -1000, 88.3f, -87.3f, 1e30f, -1e30f};
    float eb[8];
    lstm_st8(eb, lstm_expf8(lstm_ld8(big)));
    for (int l = 0; l < 8; l++)
        assert_true(isfinite(eb[l]) && eb[l] > 0);
    assert_true(lstm_tanhf(1e30f) == 1.0f && lstm_tanhf(-1e30f) == -1.0f);
    assert_true(lstm_sigmoidf(1e30f) == 1.0f && lstm_sigmoidf(-1e30f) < 1e-37f);

    /* H = 13: units 0..7 through the vector body, 8..12 through the scalar tail; the same
     * inputs shifted by 8 units move units from one path to the other */
    enum { H = 13 };
    rng r;
    rng_seed(&r, 3, 0);
    float a[4 * H], rt[4 * H], c0[H];
    for (int k = 0; k < 4 * H; k++)
        a[k] = (float)(rng_uniform(&r) * 8 - 4), rt[k] = (float)(rng_uniform(&r) * 2 - 1);
    for (int k = 0; k < H; k++)
        c0[k] = (float)(rng_uniform(&r) * 4 - 2);
    float c1[H], h1[H], acts[4 * H];
    memcpy(c1, c0, sizeof c1);
    lstm_cell_step(a, rt, c1, h1, NULL, acts, NULL, H);
    for (int k = 0; k < H; k++) {
        float c = c0[k], gi = lstm_sigmoidf(a[k] + rt[k]), gf = lstm_sigmoidf(a[H + k] + rt[H + k]);
        float gg = lstm_tanhf(a[2 * H + k] + rt[2 * H + k]);
        float go = lstm_sigmoidf(a[3 * H + k] + rt[3 * H + k]);
        float cv = gf * c + gi * gg;
        assert_true(c1[k] == cv);
        assert_true(h1[k] == go * lstm_tanhf(cv));
        assert_true(acts[k] == gi && acts[H + k] == gf && acts[2 * H + k] == gg &&
                    acts[3 * H + k] == go);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm_gradcheck),    cmocka_unit_test(test_attention_gradcheck),
        cmocka_unit_test(test_lstm_parity_bi),    cmocka_unit_test(test_lstm_parity_uni),
        cmocka_unit_test(test_attention_parity),  cmocka_unit_test(test_lstm_accumulate),
        cmocka_unit_test(test_lstm_thread_determinism), cmocka_unit_test(test_cell_math),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
