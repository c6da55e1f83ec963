/* test_sv_models.c — the speaker-embedding models (models/sv_tdnn, models/sv_resnet) and the
 * layers they add (models/resblock, models/time_mask):
 *  - finite-difference gradient checks (tests/gradcheck.h) of the residual block, with a
 *    projection (stride 2) and identity shortcut, masked lengths; and directional-derivative
 *    checks of every parameter tensor of both whole models on tiny configs (train mode,
 *    variable lengths; why not element-wise: see model_gradcheck);
 *  - PyTorch parity (tests/ref/sv_models.py, bench/sv/ref_models.py) on small configs with
 *    variable lengths: eval- and train-mode embeddings, every parameter gradient for a random
 *    upstream gradient, batch-norm running statistics after the train step;
 *  - padding invariance: in eval mode each utterance of a padded batch (garbage past its
 *    length) gets the embedding it gets alone, unpadded; also across an arena growth;
 *  - default sizes: parameter counts and FLOPs per 2-s sample of both (printed; params within
 *    20%, resnet >= 3x the FLOPs), one forward at the default size; hparams errors.
 *
 * Tolerances (float32 throughout, torch on one thread, BLAS / im2col summation order differs):
 *  - embeddings: atol 1e-5 + rtol 1e-4. Each passes 5 (tdnn) or 12 (resnet) conv + batch-norm
 *    layers; batch norm divides by a batch std that can be ~0.1, amplifying float32 rounding
 *    (~1e-7 relative per sum of up to ~300 terms) layer by layer; measured max |d| <= 7e-7.
 *  - parameter gradients: |d| <= 1e-4 * max|ref| + 1e-4 * |ref| per tensor, i.e. relative to the
 *    tensor's scale: gradients of batch-norm networks are sums over N*F*T positions of
 *    products whose terms cancel (the BN backward subtracts means), so small elements carry
 *    absolute errors of the size of the large ones' rounding; measured max |d| <= 2.5e-5 where
 *    max|ref| ~ 15 (2e-6 of the scale). A wrong index or a missing term gives errors of the
 *    order of max|ref|.
 *  - running statistics: atol 1e-5 + rtol 1e-4 (one momentum update of float32 means / vars).
 *  - padding invariance: atol 1e-5 + rtol 1e-4 (same arithmetic, different GEMM shapes).
 */
#include "test_util.h"

#include <omp.h>

#include "common/rng.h"
#include "gradcheck.h"
#include "models/backend.h"
#include "models/model.h"
#include "models/resblock.h"
#include "models/time_mask.h"

static float *filled(size_t n, float v)
{
    float *a = test_zeros(n);
    for (size_t i = 0; i < n; i++)
        a[i] = v;
    return a;
}

/* Gradient check through the ReLUs inside a residual block, whose inputs cannot be kept away
 * from the kinks by construction (the test keeps batch-norm betas near 3 so few are near 0):
 * an element passes when the central difference matches (gradcheck.h rule) or, failing that,
 * when one of the one-sided differences (x, x +- eps) does — a kink
 * within eps of x on one side leaves the other side smooth, and the analytic gradient is that
 * side's derivative. One-sided passes are counted as kinks and limited to 10% of the elements
 * (at least 2), so a wrong gradient, which no side matches, still fails.
 * Noise floor: the loss sums ~100 float32 outputs (rounding ~1e-6 absolute), so a difference
 * quotient carries ~1e-4 absolute noise; the relative error's denominator is floored at 1% of
 * the tensor's largest gradient (gradcheck.h floors at 1e-3 absolute) so that elements 100x
 * smaller than their tensor's scale (e.g. inputs reaching the output only through batch
 * statistics) are not judged on noise. */
static int gc_check_kinked(const char *what, float *v, const float *analytic, size_t n,
                           gc_loss_fn f, void *ctx)
{
    double worst = 0.0, amax = 0.0;
    size_t kinks = 0, wi = 0;
    for (size_t i = 0; i < n; i++)
        amax = fmax(amax, fabs(analytic[i]));
    const double floor = fmax(1e-3, 1e-2 * amax);
    const double eps = GC_EPS;
    double l0 = f(ctx);
    for (size_t i = 0; i < n; i++) {
        float keep = v[i];
        v[i] = keep + GC_EPS;
        double lp = f(ctx);
        v[i] = keep - GC_EPS;
        double lm = f(ctx);
        v[i] = keep;
        double a = analytic[i], best = INFINITY;
        const double num[3] = {(lp - lm) / (2.0 * eps), (lp - l0) / eps, (l0 - lm) / eps};
        int which = 0;
        for (int k = 0; k < 3; k++) {
            double rel = fabs(a - num[k]) / fmax(floor, fabs(a) + fabs(num[k]));
            if (isnan(rel))
                rel = INFINITY;
            if (rel < best && (k == 0 || best > GC_TOL)) {
                best = rel;
                which = k;
            }
            if (k == 0 && rel <= GC_TOL)
                break;
        }
        if (which && best <= GC_TOL)
            kinks++;
        if (getenv("GC_DEBUG") && (which || best > GC_TOL))
            printf("  %s[%zu]: analytic %.6g central %.6g right %.6g left %.6g\n", what, i, a,
                   num[0], num[1], num[2]);
        if (!(best <= worst)) {
            worst = best;
            wi = i;
        }
    }
    f(ctx);
    printf("gradcheck %s: n=%zu worst rel err %.3g (element %zu), %zu kink(s)\n", what, n,
           worst, wi, kinks);
    return worst <= GC_TOL && kinks <= (n / 10 > 2 ? n / 10 : 2);
}

/* ---- time_mask */
static void test_time_mask(void **state)
{
    (void)state;
    int len[3] = {5, 2, 7}, out[3];
    float x[3 * 2 * 5];
    for (int i = 0; i < 30; i++)
        x[i] = 1.0f;
    time_mask(x, len, 3, 2, 5);
    for (int n = 0; n < 3; n++)
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < 5; t++)
                assert_float_equal(x[(n * 2 + r) * 5 + t], t < len[n] ? 1.0f : 0.0f, 0);
    time_lengths_conv(out, len, 3, 3, 2, 1); /* (L - 1) / 2 + 1 = ceil(L / 2) */
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 4);
    time_lengths_conv(out, len, 3, 5, 1, 0); /* valid conv: L - 4, at least 1 */
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 1);
    assert_int_equal(out[2], 3);
}

/* ---- residual block gradient check (train mode) */
typedef struct {
    resblock_dims d;
    float *x, *out, *R, *scratch, *ws;
    float *w[9];                 /* w1 g1 b1 w2 g2 b2 wp gp bp */
    float *rm[6];
    resblock_saved s;
    const int *lens;
    size_t no;
} rb_ctx;

static resblock_weights rb_weights(rb_ctx *c)
{
    resblock_weights w = {c->w[0], c->w[1], c->w[2], c->w[3], c->w[4], c->w[5],
                          c->w[6], c->w[7], c->w[8]};
    return w;
}

static double rb_loss(void *p)
{
    rb_ctx *c = p;
    resblock_weights w = rb_weights(c);
    resblock_running rs = {c->rm[0], c->rm[1], c->rm[2], c->rm[3], c->rm[4], c->rm[5]};
    resblock_forward(c->out, &c->s, &rs, c->x, &w, &c->d, c->lens, 1, nn_backend_cpu(),
                     c->scratch, c->ws);
    return gc_dot(c->out, c->R, c->no);
}

static void resblock_grad_case(resblock_dims d, const int *in_lens)
{
    rng r;
    rng_seed(&r, 31, (uint64_t)(d.stride * 10 + d.Cin));
    const nn_backend *be = nn_backend_cpu();
    int proj = resblock_has_proj(&d), To = resblock_out_t(&d);
    size_t ni = (size_t)d.N * d.Cin * d.F * d.T, no = resblock_out_floats(&d);
    int out_lens[8];
    time_lengths_conv(out_lens, in_lens, d.N, 3, d.stride, 1);
    rb_ctx c = {.d = d, .x = test_randn(&r, ni, 1), .out = test_zeros(no),
                .R = test_randn(&r, no, 1), .scratch = test_zeros(resblock_scratch_floats(&d)),
                .ws = test_zeros(resblock_workspace_floats(be, &d)), .lens = out_lens, .no = no};
    time_mask(c.x, in_lens, d.N, d.Cin * d.F, d.T); /* the block's input contract */
    size_t wn[9] = {(size_t)d.Cout * d.Cin * 9, d.Cout, d.Cout, (size_t)d.Cout * d.Cout * 9,
                    d.Cout, d.Cout, (size_t)d.Cout * d.Cin, d.Cout, d.Cout};
    for (int i = 0; i < 9; i++) {
        if (i >= 6 && !proj) {
            c.w[i] = NULL;
            continue;
        }
        c.w[i] = test_randn(&r, wn[i], i % 3 == 0 ? 0.4f : 0.3f);
        if (i % 3 != 0) /* gamma around 1, beta around 3 (see the kink note above) */
            for (size_t j = 0; j < wn[i]; j++)
                c.w[i][j] += i % 3 == 1 ? 1.0f : 3.0f;
    }
    for (int i = 0; i < 6; i++)
        c.rm[i] = filled(d.Cout, i % 2 ? 1.0f : 0.0f);
    c.s.y1 = test_zeros(no), c.s.a1 = test_zeros(no), c.s.y2 = test_zeros(no),
    c.s.yp = proj ? test_zeros(no) : NULL;
    float *st[6];
    for (int i = 0; i < 6; i++)
        st[i] = test_zeros(d.Cout);
    c.s.mean1 = st[0], c.s.invstd1 = st[1], c.s.mean2 = st[2], c.s.invstd2 = st[3];
    c.s.meanp = st[4], c.s.invstdp = st[5];

    float *dx = test_zeros(ni), *dw[9];
    for (int i = 0; i < 9; i++)
        dw[i] = c.w[i] ? test_zeros(wn[i]) : NULL;
    resblock_grads g = {dw[0], dw[1], dw[2], dw[3], dw[4], dw[5], dw[6], dw[7], dw[8]};
    rb_loss(&c);
    /* masked output frames are zero */
    for (int n = 0; n < d.N; n++)
        for (int ch = 0; ch < d.Cout * resblock_out_f(&d); ch++)
            for (int t = out_lens[n]; t < To; t++)
                assert_float_equal(c.out[((size_t)n * d.Cout * resblock_out_f(&d) + ch) * To + t],
                                   0.0f, 0);
    resblock_weights w = rb_weights(&c);
    resblock_backward(dx, &g, c.R, c.out, &c.s, c.x, &w, &d, be, c.scratch, c.ws);
    printf("resblock N=%d Cin=%d Cout=%d F=%d T=%d stride=%d proj=%d\n", d.N, d.Cin, d.Cout, d.F,
           d.T, d.stride, proj);
    static const char *const nm[9] = {"resblock dw1", "resblock dg1", "resblock db1",
                                      "resblock dw2", "resblock dg2", "resblock db2",
                                      "resblock dwp", "resblock dgp", "resblock dbp"};
    assert_true(gc_check_kinked("resblock dx", c.x, dx, ni, rb_loss, &c));
    for (int i = 0; i < 9; i++)
        if (c.w[i])
            assert_true(gc_check_kinked(nm[i], c.w[i], dw[i], wn[i], rb_loss, &c));
    free(c.x), free(c.out), free(c.R), free(c.scratch), free(c.ws), free(dx);
    for (int i = 0; i < 9; i++)
        free(c.w[i]), free(dw[i]);
    for (int i = 0; i < 6; i++)
        free(c.rm[i]), free(st[i]);
    free(c.s.y1), free(c.s.a1), free(c.s.y2), free(c.s.yp);
}

static void test_resblock_grad(void **state)
{
    (void)state;
    static const int lens_a[3] = {9, 6, 3}, lens_b[2] = {7, 4};
    resblock_grad_case((resblock_dims){3, 2, 3, 5, 9, 2, 1e-5f, 0.1f}, lens_a);
    resblock_grad_case((resblock_dims){2, 3, 3, 4, 7, 1, 1e-5f, 0.1f}, lens_b);
}

/* ---- whole models */
static nn_model *make_model(const char *kind, const char *hp, int F, int E, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    nn_model *m = NULL;
    ch_error err;
    ch_status st = nn_model_create(&m, kind, hp, F, E, &r, &err);
    if (st != CH_OK)
        fail_msg("nn_model_create %s (%s): %s", kind, hp, err.msg);
    return m;
}

static void reserve(nn_model *m, nn_ctx *ctx, int N, int T)
{
    ch_error err;
    if (m->ops->reserve(m, ctx, N, T, &err) != CH_OK)
        fail_msg("reserve: %s", err.msg);
}

/* 1 when view `name` is a batch norm's weight; prefix gets "<module>." */
static int bn_prefix(const char *name, char *prefix, size_t n)
{
    static const char *const ends[] = {"bn.weight", "bn1.weight", "bn2.weight",
                                       "shortcut.1.weight"};
    size_t L = strlen(name);
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        size_t e = strlen(ends[i]);
        if (L >= e && strcmp(name + L - e, ends[i]) == 0 && (L == e || name[L - e - 1] == '.')) {
            snprintf(prefix, n, "%.*s", (int)(L - strlen("weight")), name);
            return 1;
        }
    }
    return 0;
}

/* Copies every parameter and running statistic of the dump into m (checks the buffer layout:
 * (running_mean, running_var) pairs in parameter-table order). */
static void load_weights(nn_model *m, const tf_file *f, const char *pre)
{
    size_t off = 0;
    for (int i = 0; i < m->p->nviews; i++) {
        const param_view *v = &m->p->views[i];
        memcpy(m->p->data + v->offset, test_ref_get(f, v->name, v->count),
               sizeof(float) * v->count);
        char prefix[PARAM_NAME_MAX], nm[2 * PARAM_NAME_MAX];
        if (bn_prefix(v->name, prefix, sizeof prefix)) {
            assert_true(off + 2 * v->count <= m->n_buffers);
            snprintf(nm, sizeof nm, "%s%srunning_mean", pre, prefix);
            memcpy(m->buffers + off, test_ref_get(f, nm, v->count), sizeof(float) * v->count);
            snprintf(nm, sizeof nm, "%s%srunning_var", pre, prefix);
            memcpy(m->buffers + off + v->count, test_ref_get(f, nm, v->count),
                   sizeof(float) * v->count);
            off += 2 * v->count;
        }
    }
    assert_int_equal(off, m->n_buffers);
}

/* Asserts |a - b| <= k * max|b| + k * |b| elementwise (scale-relative, see the header). */
static void assert_close_scaled(const char *what, const float *a, const float *b, size_t n,
                                double k)
{
    double mx = 0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs(b[i]));
    test_assert_close(what, a, b, n, k * mx + 1e-12, k);
}

static void parity(const char *kind)
{
    tf_file *f = test_ref_load("sv_%s.tsr", kind);
    const float *cfg = tf_get(f, "cfg", NULL, NULL);
    assert_non_null(cfg);
    const int N = (int)cfg[0], T = (int)cfg[1], F = (int)cfg[2], E = (int)cfg[3];
    char hp[256];
    if (strcmp(kind, "tdnn") == 0)
        snprintf(hp, sizeof hp, "channels=%d,stats-channels=%d", (int)cfg[4], (int)cfg[5]);
    else
        snprintf(hp, sizeof hp, "channels=%d,blocks1=%d,blocks2=%d,blocks3=%d,blocks4=%d",
                 (int)cfg[4], (int)cfg[5], (int)cfg[6], (int)cfg[7], (int)cfg[8]);
    nn_model *m = make_model(kind, hp, F, E, 1);
    printf("%s parity: %s, N=%d T=%d F=%d E=%d, %zu params, %zu buffers\n", kind, hp, N, T, F, E,
           m->p->n, m->n_buffers);
    load_weights(m, f, "");
    const float *lf = test_ref_get(f, "lengths", N);
    int lens[16];
    for (int n = 0; n < N; n++)
        lens[n] = (int)lf[n];
    nn_input in = {N, T, F, test_ref_get(f, "x", (size_t)N * T * F), lens};
    nn_ctx ctx = {.be = nn_backend_cpu(), .threads = omp_get_max_threads()};
    reserve(m, &ctx, N, T);
    float *emb = test_zeros((size_t)N * E);
    m->ops->forward(m, &ctx, &in, 0, NULL, emb);
    test_assert_close("emb eval", emb, test_ref_get(f, "emb_eval", (size_t)N * E), (size_t)N * E,
                      1e-5, 1e-4);
    rng r;
    rng_seed(&r, 1, 1);
    m->ops->forward(m, &ctx, &in, 1, &r, emb);
    test_assert_close("emb train", emb, test_ref_get(f, "emb_train", (size_t)N * E), (size_t)N * E,
                      1e-5, 1e-4);
    params_zero_grad(m->p);
    m->ops->backward(m, &ctx, test_ref_get(f, "dy", (size_t)N * E));
    for (int i = 0; i < m->p->nviews; i++) {
        const param_view *v = &m->p->views[i];
        char nm[2 * PARAM_NAME_MAX];
        snprintf(nm, sizeof nm, "grad.%s", v->name);
        assert_close_scaled(nm, m->p->grad + v->offset, test_ref_get(f, nm, v->count), v->count,
                            1e-4);
    }
    /* running statistics after the train step: compare through a second model loaded with
     * the "after." values */
    nn_model *m2 = make_model(kind, hp, F, E, 1);
    load_weights(m2, f, "after.");
    test_assert_close("running stats after train step", m->buffers, m2->buffers, m->n_buffers,
                      1e-5, 1e-4);
    nn_model_free(m2);
    free(emb);
    nn_model_free(m);
    tf_free(f);
}

static void test_tdnn_parity(void **state)
{
    (void)state;
    parity("tdnn");
}

static void test_resnet_parity(void **state)
{
    (void)state;
    parity("resnet");
}

/* Eval mode: each utterance of a padded batch gets its own unpadded embedding, whatever the
 * padded frames hold. */
static void invariance(const char *kind, const char *hp, int F)
{
    const int N = 3, T = 19, E = 6, lens[3] = {19, 11, 4};
    nn_model *m = make_model(kind, hp, F, E, 3);
    /* non-trivial running statistics so eval-mode BN shifts zeros to non-zeros */
    rng r;
    rng_seed(&r, 33, 0);
    for (size_t i = 0; i < m->n_buffers; i++)
        m->buffers[i] = 0.5f + 0.3f * (float)rng_uniform(&r);
    float *x = test_randn(&r, (size_t)N * T * F, 1), *emb = test_zeros((size_t)N * E),
          *one = test_zeros(E);
    /* garbage (not zeros) past the lengths: the models must ignore it */
    for (int n = 0; n < N; n++)
        for (int t = lens[n]; t < T; t++)
            for (int f = 0; f < F; f++)
                x[((size_t)n * T + t) * F + f] = 5.0f + (float)t;
    nn_ctx ctx = {.be = nn_backend_cpu(), .threads = omp_get_max_threads()};
    /* a small reserve and forward first, so the arena also has to grow */
    reserve(m, &ctx, 1, 4);
    nn_input small = {1, 4, F, x + (size_t)2 * T * F, &lens[2]};
    m->ops->forward(m, &ctx, &small, 0, NULL, one);
    reserve(m, &ctx, N, T);
    nn_input in = {N, T, F, x, lens};
    m->ops->forward(m, &ctx, &in, 0, NULL, emb);
    test_assert_close("before / after the arena grew", one, emb + 2 * E, E, 1e-5, 1e-4);
    for (int n = 0; n < N; n++) {
        nn_input a = {1, lens[n], F, x + (size_t)n * T * F, &lens[n]};
        m->ops->forward(m, &ctx, &a, 0, NULL, one);
        char what[64];
        snprintf(what, sizeof what, "%s sample %d (L=%d) alone vs padded", kind, n, lens[n]);
        test_assert_close(what, emb + (size_t)n * E, one, E, 1e-5, 1e-4);
    }
    free(x), free(emb), free(one);
    nn_model_free(m);
}

static void test_padding_invariance(void **state)
{
    (void)state;
    invariance("tdnn", "channels=7,stats-channels=9", 10);
    invariance("resnet", "channels=3,blocks1=1,blocks2=2,blocks3=1,blocks4=1", 12);
}

/* ---- whole-model gradient checks (tiny configs, train mode, variable lengths)
 * Element-wise differences are unreliable for a whole conv + ReLU + batch-norm stack in
 * float32: the batch norms amplify curvature and rounding, so the eps = 1e-2 quotient is off by
 * 5-30% on small elements and a smaller eps drowns them in noise (measured; the per-layer checks
 * above and in test_layers_grad.c do work). So per parameter tensor v the test checks
 * directional derivatives: along u = g_v / |g_v| (the analytic gradient's own direction, where
 * the derivative must equal |g_v|) and along two random unit directions, each against the
 * central difference (L(p + eps u) - L(p - eps u)) / (2 eps), eps = 1e-2 over the whole tensor.
 * Tolerance: |a - n| <= 2e-2 * max(|a| + |n|, 0.1 |g_v|, 1e-2); the 1e-2 floor is for tensors
 * whose gradient is ~0 (conv biases before batch norm), the quotient's rounding noise being
 * ~3e-5 (measured). A gradient with a wrong element, sign or scale changes the derivative along
 * its own direction by O(|g_v|). Variable lengths exercise the padded frames, the resnet both
 * kinds of shortcut. */
typedef struct {
    nn_model *m;
    nn_ctx ctx;
    nn_input in;
    float *out, *R;
    size_t nout;
    rng r;
} mg_ctx;

static double mg_loss(mg_ctx *c)
{
    c->m->ops->forward(c->m, &c->ctx, &c->in, 1, &c->r, c->out);
    return gc_dot(c->out, c->R, c->nout);
}

/* Directional check of view v along unit u; returns the relative error. */
static double dir_check(mg_ctx *c, const param_view *v, const float *u, double gnorm)
{
    float *p = c->m->p->data + v->offset, *keep = malloc(sizeof(float) * v->count);
    const float *g = c->m->p->grad + v->offset;
    const double eps = 1e-2;
    memcpy(keep, p, sizeof(float) * v->count);
    double a = 0;
    for (size_t j = 0; j < v->count; j++) {
        a += (double)g[j] * u[j];
        p[j] = keep[j] + (float)(eps * u[j]);
    }
    double lp = mg_loss(c);
    for (size_t j = 0; j < v->count; j++)
        p[j] = keep[j] - (float)(eps * u[j]);
    double lm = mg_loss(c);
    memcpy(p, keep, sizeof(float) * v->count);
    free(keep);
    double num = (lp - lm) / (2 * eps);
    return fabs(a - num) / fmax(fabs(a) + fabs(num), fmax(0.1 * gnorm, 1e-2));
}

static void model_gradcheck(const char *kind, const char *hp, int F)
{
    const int N = 4, T = 24, E = 4;
    static const int lens[4] = {24, 19, 11, 6};
    mg_ctx c = {.m = make_model(kind, hp, F, E, 5),
                .ctx = {.be = nn_backend_cpu(), .threads = omp_get_max_threads()}};
    rng_seed(&c.r, 34, 0);
    float *x = test_randn(&c.r, (size_t)N * T * F, 1);
    for (int n = 0; n < N; n++)
        for (int t = lens[n]; t < T; t++)
            for (int f = 0; f < F; f++)
                x[((size_t)n * T + t) * F + f] = 0.0f;
    c.in = (nn_input){N, T, F, x, lens};
    c.nout = (size_t)N * E;
    c.out = test_zeros(c.nout);
    c.R = test_randn(&c.r, c.nout, 1);
    /* no ReLU input near 0 and no dead channel: a channel whose ReLU output is 0 everywhere
     * makes the next batch norm divide by sqrt(eps) and the statistics pooling's std sit at
     * sqrt(var + 1e-7) with var = 0, i.e. a kink exactly at the current point (measured on
     * tiny models at default init, in float64 torch too). tdnn: conv biases (before its ReLUs)
     * at 3, batch-norm betas left at 0 so the next conv's inputs stay centred; resnet:
     * batch-norm betas (before its ReLUs) at 3. The ReLU gating itself is covered by the
     * resblock check above, test_layers_grad.c and the PyTorch parity (random betas). */
    for (int i = 0; i < c.m->p->nviews; i++) {
        const param_view *v = &c.m->p->views[i];
        size_t L = strlen(v->name);
        char wname[PARAM_NAME_MAX], prefix[PARAM_NAME_MAX];
        if (L <= 5 || strcmp(v->name + L - 5, ".bias") != 0)
            continue;
        snprintf(wname, sizeof wname, "%.*sweight", (int)(L - 4), v->name);
        int bn = bn_prefix(wname, prefix, sizeof prefix);
        if (strcmp(kind, "tdnn") == 0 ? strstr(v->name, ".conv.") != NULL : bn)
            for (size_t j = 0; j < v->count; j++)
                c.m->p->data[v->offset + j] = 3.0f;
    }
    reserve(c.m, &c.ctx, N, T);
    mg_loss(&c);
    params_zero_grad(c.m->p);
    c.m->ops->backward(c.m, &c.ctx, c.R);
    printf("%s directional gradient check (%s): %zu params\n", kind, hp, c.m->p->n);
    double worst = 0;
    for (int i = 0; i < c.m->p->nviews; i++) {
        const param_view *v = &c.m->p->views[i];
        const float *g = c.m->p->grad + v->offset;
        float *u = test_zeros(v->count);
        double gn = 0;
        for (size_t j = 0; j < v->count; j++)
            gn += (double)g[j] * g[j];
        gn = sqrt(gn);
        double e[3] = {0, 0, 0};
        if (gn > 0) {
            for (size_t j = 0; j < v->count; j++)
                u[j] = (float)(g[j] / gn);
            e[0] = dir_check(&c, v, u, gn);
        }
        for (int k = 1; k < 3; k++) {
            double un = 0;
            for (size_t j = 0; j < v->count; j++) {
                u[j] = (float)rng_normal(&c.r);
                un += (double)u[j] * u[j];
            }
            for (size_t j = 0; j < v->count; j++)
                u[j] = (float)(u[j] / sqrt(un));
            e[k] = dir_check(&c, v, u, gn);
        }
        free(u);
        printf("  %-34s n=%-5zu |g|=%-10.4g rel err along g %.2g, random %.2g %.2g\n", v->name,
               v->count, gn, e[0], e[1], e[2]);
        for (int k = 0; k < 3; k++) {
            worst = fmax(worst, e[k]);
            if (!(e[k] <= GC_TOL))
                fail_msg("%s %s: directional derivative %d off by %.3g", kind, v->name, k, e[k]);
        }
    }
    printf("%s: worst directional rel err %.3g\n", kind, worst);
    free(x), free(c.out), free(c.R);
    nn_model_free(c.m);
}

static void test_model_gradcheck(void **state)
{
    (void)state;
    model_gradcheck("tdnn", "channels=5,stats-channels=6", 6);
    model_gradcheck("resnet", "channels=2,blocks1=1,blocks2=1,blocks3=1,blocks4=1", 8);
}

/* ---- default sizes, one forward each, errors */
static void test_default_sizes(void **state)
{
    (void)state;
    nn_model *td = make_model("tdnn", NULL, 80, 256, 6), *rn = make_model("resnet", "", 80, 256, 6);
    double ft = td->ops->flops_per_sample(td, 200), fr = rn->ops->flops_per_sample(rn, 200);
    size_t pt = td->p->n, pr = rn->p->n;
    printf("default tdnn:   %zu parameters, %.3f GFLOP forward per 2-s sample (T=200)\n", pt,
           ft / 1e9);
    printf("default resnet: %zu parameters, %.3f GFLOP forward per 2-s sample (T=200)\n", pr,
           fr / 1e9);
    printf("resnet/tdnn: parameters %.3fx, FLOPs %.2fx\n", (double)pr / pt, fr / ft);
    printf("tdnn hparams:\n%sresnet hparams:\n%s", td->hparams, rn->hparams);
    assert_true(fabs((double)pr / pt - 1.0) <= 0.2);
    assert_true(fr >= 3.0 * ft);
    /* one eval forward at the default size: finite, samples differ */
    const int N = 2, T = 200;
    rng r;
    rng_seed(&r, 35, 0);
    float *x = test_randn(&r, (size_t)N * T * 80, 1), *e = test_zeros((size_t)N * 256);
    int lens[2] = {200, 150};
    for (int t = 150; t < T; t++)
        for (int f = 0; f < 80; f++)
            x[((size_t)T + t) * 80 + f] = 0.0f;
    nn_ctx ctx = {.be = nn_backend_cpu(), .threads = omp_get_max_threads()};
    nn_input in = {N, T, 80, x, lens};
    nn_model *ms[2] = {td, rn};
    for (int k = 0; k < 2; k++) {
        reserve(ms[k], &ctx, N, T);
        ms[k]->ops->forward(ms[k], &ctx, &in, 0, NULL, e);
        double diff = 0;
        for (int i = 0; i < N * 256; i++)
            assert_true(isfinite(e[i]));
        for (int i = 0; i < 256; i++)
            diff += fabs(e[i] - e[256 + i]);
        printf("%s default forward ok, mean |e0 - e1| = %.4g\n", ms[k]->kind, diff / 256);
        assert_true(diff > 0);
    }
    /* the resolved hparams recreate the same model */
    for (int k = 0; k < 2; k++) {
        nn_model *again = make_model(ms[k]->kind, ms[k]->hparams, 0, 0, 6);
        assert_int_equal(again->p->n, ms[k]->p->n);
        assert_int_equal(again->n_buffers, ms[k]->n_buffers);
        assert_memory_equal(again->p->data, ms[k]->p->data, sizeof(float) * again->p->n);
        nn_model_free(again);
    }
    free(x), free(e);
    nn_model_free(td);
    nn_model_free(rn);

    rng_seed(&r, 0, 0);
    nn_model *m = NULL;
    ch_error err;
    static const char *const bad[][2] = {{"tdnn", "channels=0"},
                                         {"tdnn", "kernel=3"},
                                         {"resnet", "blocks2=99"},
                                         {"resnet", "channels=abc"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nn_model_create(&m, bad[i][0], bad[i][1], 80, 256, &r, &err),
                         CH_ERR_USAGE);
        assert_null(m);
        printf("%s %s: %s\n", bad[i][0], bad[i][1], err.msg);
        assert_non_null(strstr(err.msg, bad[i][0]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_mask),         cmocka_unit_test(test_resblock_grad),
        cmocka_unit_test(test_tdnn_parity),       cmocka_unit_test(test_resnet_parity),
        cmocka_unit_test(test_padding_invariance), cmocka_unit_test(test_model_gradcheck),
        cmocka_unit_test(test_default_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
