/* test_kws_fast.c — the fast streaming path (infer/kws_stream.h kws_fast_*, models/kws_densenet.h
 * streaming entry points) on a small random densenet-bilstm:
 *  - the CNN is translation-equivariant: a chunk computed with its R-frame halo equals the
 *    whole-sequence pass bit for bit, and a lone window's CNN output equals the whole-sequence
 *    one away from the window's R edge frames (where the lone window sees zero padding);
 *  - the head entry point equals the full forward on a window's own CNN output;
 *  - the head from shared per-frame BiLSTM input gates equals the head on copied windows;
 *  - kws_fast gives the same posteriors (1e-6) whatever the chunk size and the push sizes (CMN
 *    on and off), one per window, in order, none for audio shorter than a window, and refuses
 *    non-densenet models.
 */
#include "test_util.h"

#include "infer/kws_stream.h"
#include "models/kws_densenet.h"

enum { T = 98, F = 40, K = 5 };

/* A kws_model around a random densenet-bilstm (no checkpoint, no feature computer). */
static void make_km(kws_model *km, bool cmn)
{
    memset(km, 0, sizeof *km);
    rng r;
    rng_seed(&r, 7, 0);
    ch_error err;
    assert_int_equal(nn_model_create(&km->model, "densenet-bilstm",
                                     "stem-channels=6,blocks=2,layers=2,growth=4,"
                                     "transition-channels=8,lstm-hidden=12,attention-dim=8",
                                     F, K, &r, &err),
                     CH_OK);
    /* non-trivial batch-norm running statistics, so eval mode is not the identity */
    for (size_t i = 0; i < km->model->n_buffers; i++)
        km->model->buffers[i] = 0.5f + 0.25f * (float)((i * 37) % 7) / 7.0f;
    km->fe = kws_frontend_default();
    km->fe.cmn = cmn;
    km->n_labels = K;
    km->T = T;
    km->F = F;
    km->ctx.be = nn_backend_cpu();
    km->ctx.threads = 1;
}

static float *random_frames(long n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 1);
    float *x = malloc(sizeof(float) * (size_t)n * F);
    assert_non_null(x);
    for (long i = 0; i < n * F; i++)
        x[i] = 3.0f * rng_normal(&r) + 5.0f;
    return x;
}

static void test_cnn_chunks(void **state)
{
    (void)state;
    kws_model km;
    make_km(&km, false);
    nn_model *m = km.model;
    assert_true(kws_densenet_is(m));
    const int R = kws_densenet_halo(m), D = kws_densenet_seq_dim(m);
    assert_int_equal(R, 1 + 2 * 2);
    const int n = 300;
    ch_error err;
    assert_int_equal(kws_densenet_stream_reserve(m, &km.ctx, 4, T, n, &err), CH_OK);
    float *x = random_frames(n, 1);
    float *whole = malloc(sizeof(float) * (size_t)n * D);
    float *part = malloc(sizeof(float) * (size_t)n * D);
    float *tmp = malloc(sizeof(float) * (size_t)n * D);
    kws_densenet_cnn_forward(m, &km.ctx, x, n, whole);
    /* chunks [a, b) from input [a - R, b + R) clipped: the seams are invisible */
    static const int cuts[] = {0, 1, 17, 18, 60, 155, 299, 300};
    for (size_t c = 0; c + 1 < sizeof cuts / sizeof *cuts; c++) {
        int a = cuts[c], b = cuts[c + 1];
        int lo = a - R < 0 ? 0 : a - R, hi = b + R > n ? n : b + R;
        kws_densenet_cnn_forward(m, &km.ctx, x + (size_t)lo * F, hi - lo, tmp);
        memcpy(part + (size_t)a * D, tmp + (size_t)(a - lo) * D, sizeof(float) * (size_t)(b - a) * D);
    }
    assert_memory_equal(part, whole, sizeof(float) * (size_t)n * D);
    /* a halo one frame short does change the chunk's edge frame (the test can fail) */
    kws_densenet_cnn_forward(m, &km.ctx, x + (size_t)(100 - R + 1) * F, 50 + 2 * (R - 1), tmp);
    assert_true(memcmp(tmp + (size_t)(R - 1) * D, whole + (size_t)100 * D, sizeof(float) * D) != 0);
    /* a lone window: equal away from its edges, different at them */
    const int f0 = 123;
    kws_densenet_cnn_forward(m, &km.ctx, x + (size_t)f0 * F, T, tmp);
    assert_memory_equal(tmp + (size_t)R * D, whole + (size_t)(f0 + R) * D,
                        sizeof(float) * (size_t)(T - 2 * R) * D);
    assert_true(memcmp(tmp, whole + (size_t)f0 * D, sizeof(float) * D) != 0);
    assert_true(memcmp(tmp + (size_t)(T - 1) * D, whole + (size_t)(f0 + T - 1) * D,
                       sizeof(float) * D) != 0);
    /* head(CNN(window)) == the full forward of that window */
    float lo1[K], lo2[K];
    kws_densenet_head_forward(m, &km.ctx, tmp, 1, T, lo1);
    assert_int_equal(m->ops->reserve(m, &km.ctx, 1, T, &err), CH_OK);
    int len = T;
    nn_input in = {1, T, F, x + (size_t)f0 * F, &len};
    m->ops->forward(m, &km.ctx, &in, 0, NULL, lo2);
    for (int k = 0; k < K; k++)
        assert_float_equal(lo1[k], lo2[k], 1e-5 * (1 + fabsf(lo2[k])));
    free(x);
    free(whole);
    free(part);
    free(tmp);
    kws_model_free(&km);
}

typedef struct {
    float *p;
    long n, cap;
} collect;

static ch_status on_win(void *arg, long w, const float *p, ch_error *err)
{
    (void)err;
    collect *c = arg;
    assert_int_equal(w, c->n); /* in order, none skipped */
    assert_true(c->n < c->cap);
    double s = 0;
    for (int k = 0; k < K; k++) {
        assert_true(p[k] >= 0 && p[k] <= 1);
        s += p[k];
    }
    assert_float_equal(s, 1.0, 1e-5);
    memcpy(c->p + c->n * K, p, sizeof(float) * K);
    c->n++;
    return CH_OK;
}

/* Posteriors of every window of x (n frames) through kws_fast, pushed `piece` frames at a
 * time. */
static long run_fast(kws_model *km, const float *x, long n, int hop, int batch, int chunk,
                     long piece, collect *c)
{
    kws_fast *f = NULL;
    ch_error err;
    assert_int_equal(kws_fast_create(&f, km, hop, batch, chunk, &err), CH_OK);
    c->n = 0;
    for (long i = 0; i < n; i += piece)
        assert_int_equal(kws_fast_push(f, x + i * F, n - i < piece ? n - i : piece, on_win, c,
                                       &err),
                         CH_OK);
    assert_int_equal(kws_fast_finish(f, on_win, c, &err), CH_OK);
    kws_fast_free(f);
    return c->n;
}

static void fast_invariance(bool cmn)
{
    kws_model km;
    make_km(&km, cmn);
    const long n = 1234;
    const int hop = 10;
    const long n_win = (n - T) / hop + 1;
    float *x = random_frames(n, 2);
    collect a = {malloc(sizeof(float) * 200 * K), 0, 200};
    collect b = {malloc(sizeof(float) * 200 * K), 0, 200};
    /* everything at once, one CNN call at finish */
    assert_int_equal(run_fast(&km, x, n, hop, 4, 4096, n, &a), n_win);
    /* small chunks, odd push sizes: several CNN calls, windows released as they complete.
     * The CNN output is bit-identical (test_cnn_chunks); the BiLSTM input-gate GEMM then runs
     * over other row counts, whose BLAS kernels may round the last bit differently: 1e-6. */
    assert_int_equal(run_fast(&km, x, n, hop, 4, 7, 13, &b), n_win);
    for (long i = 0; i < n_win * K; i++)
        assert_float_equal(a.p[i], b.p[i], 1e-6);
    assert_int_equal(run_fast(&km, x, n, hop, 4, 250, 1, &b), n_win);
    for (long i = 0; i < n_win * K; i++)
        assert_float_equal(a.p[i], b.p[i], 1e-6);
    /* another batch size: other GEMM shapes, same values to rounding */
    assert_int_equal(run_fast(&km, x, n, hop, 64, 50, 100, &b), n_win);
    for (long i = 0; i < n_win * K; i++)
        assert_float_equal(a.p[i], b.p[i], 1e-5);
    /* the shared-input-gates head equals the plain head on copied windows (1e-5) */
    {
        const int D = kws_densenet_seq_dim(km.model), G = kws_densenet_gates_dim(km.model);
        ch_error err;
        assert_int_equal(kws_densenet_stream_reserve(km.model, &km.ctx, 3, T, 200, &err), CH_OK);
        float *seq = malloc(sizeof(float) * 200 * D), *gx = malloc(sizeof(float) * 200 * G);
        float *win = malloc(sizeof(float) * 3 * T * D), l1[3 * K], l2[3 * K];
        kws_densenet_cnn_forward(km.model, &km.ctx, x, 200, seq);
        kws_densenet_input_gates(km.model, seq, 200, gx);
        for (int w = 0; w < 3; w++)
            memcpy(win + (size_t)w * T * D, seq + (size_t)w * 40 * D, sizeof(float) * T * D);
        kws_densenet_head_forward(km.model, &km.ctx, win, 3, T, l1);
        kws_densenet_head_gates_forward(km.model, &km.ctx, gx, 40, 3, T, l2);
        for (int i = 0; i < 3 * K; i++)
            assert_float_equal(l1[i], l2[i], 1e-5 * (1 + fabsf(l1[i])));
        free(seq);
        free(gx);
        free(win);
    }
    /* shorter than a window: no windows at all */
    assert_int_equal(run_fast(&km, x, T - 1, hop, 4, 7, 5, &b), 0);
    assert_int_equal(run_fast(&km, x, T, hop, 4, 7, 5, &b), 1);
    free(a.p);
    free(b.p);
    free(x);
    kws_model_free(&km);
}

static void test_fast_chunking(void **state)
{
    (void)state;
    fast_invariance(false);
    fast_invariance(true);
}

static void test_fast_refuses_other_kinds(void **state)
{
    (void)state;
    kws_model km;
    memset(&km, 0, sizeof km);
    rng r;
    rng_seed(&r, 1, 0);
    ch_error err;
    assert_int_equal(nn_model_create(&km.model, "tdnn", NULL, F, K, &r, &err), CH_OK);
    assert_false(kws_densenet_is(km.model));
    km.n_labels = K;
    km.T = T;
    km.F = F;
    km.ctx.be = nn_backend_cpu();
    kws_fast *f = NULL;
    assert_int_equal(kws_fast_create(&f, &km, 10, 4, 100, &err), CH_ERR_USAGE);
    assert_null(f);
    assert_non_null(strstr(err.msg, "densenet-bilstm"));
    kws_model_free(&km);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_chunks),
        cmocka_unit_test(test_fast_chunking),
        cmocka_unit_test(test_fast_refuses_other_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
