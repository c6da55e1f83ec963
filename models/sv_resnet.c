/* sv_resnet.c — the thin ResNet speaker-embedding model (see sv_resnet.h for the architecture
 * and the padding semantics). */
#include "models/sv_resnet.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/options.h"
#include "models/model_util.h"
#include "models/resblock.h"
#include "models/time_mask.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f
#define MAXB (4 * SV_RESNET_MAX_BLOCKS)

sv_resnet_options sv_resnet_options_default(void)
{
    sv_resnet_options o = {.channels = 16, .blocks = {3, 4, 6, 3}};
    return o;
}

static const opt_desc rn_opts[] = {
    OPT_INT(sv_resnet_options, channels, "channels", 1, 4096,
            "Stem / layer1 width (layer s: channels * 2^(s-1))"),
    OPT_INT(sv_resnet_options, blocks[0], "blocks1", 1, SV_RESNET_MAX_BLOCKS,
            "Basic blocks in layer1 (stride 1)"),
    OPT_INT(sv_resnet_options, blocks[1], "blocks2", 1, SV_RESNET_MAX_BLOCKS,
            "Basic blocks in layer2 (stride 2)"),
    OPT_INT(sv_resnet_options, blocks[2], "blocks3", 1, SV_RESNET_MAX_BLOCKS,
            "Basic blocks in layer3 (stride 2)"),
    OPT_INT(sv_resnet_options, blocks[3], "blocks4", 1, SV_RESNET_MAX_BLOCKS,
            "Basic blocks in layer4 (stride 2)"),
};

typedef struct {
    int layer;            /* 0..3 */
    int Cin, Cout, F, stride;
    size_t w1, g1, b1, w2, g2, b2, wp, gp, bp;      /* offsets into p->data / grad */
    size_t rm1, rv1, rm2, rv2, rmp, rvp;            /* offsets into m->buffers */
} rn_block;

typedef struct {
    float *x;                      /* (N, 1, F, T) */
    float *ys, *as;                /* stem conv output, masked relu(bn) */
    float *mean_s, *invstd_s;
    float *out[MAXB];              /* block outputs */
    resblock_saved sv[MAXB];
    float *pooled, *dpooled;       /* (N, 2 C4 F4) */
    float *g0, *g1;                /* gradient ping-pong, largest activation */
    float *scratch, *ws;
} rn_step;

typedef struct {
    /* first: nn_step_impl_destroy frees it; lens[0..4]: lengths at the stem / after each layer */
    nn_step_mem mem;
    sv_resnet_options o;
    int F, E, nb;
    int Fs[5];                     /* bins at the stem / after each layer */
    size_t stem_w, stem_g, stem_b, stem_rm, stem_rv, emb_w, emb_b;
    rn_block b[MAXB];
    int Ts[5];                     /* frames at the stem / after each layer, last forward */
    int N;
    rn_step s;
} rn_impl;

static int down(int x, int stride) { return (x - 1) / stride + 1; }

static resblock_dims block_dims(const rn_impl *k, int i, int N, int T)
{
    const rn_block *b = &k->b[i];
    resblock_dims d = {N, b->Cin, b->Cout, b->F, T, b->stride, BN_EPS, BN_MOMENTUM};
    return d;
}

static conv2d_dims stem_dims(const rn_impl *k, int N, int T)
{
    conv2d_dims d = {N, 1, k->F, T, k->o.channels, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0};
    return d;
}

/* Frames entering block i for a T-frame input. */
static int block_t(const rn_impl *k, int i, int T)
{
    for (int j = 0; j < i; j++)
        T = down(T, k->b[j].stride);
    return T;
}

static void carve(void *impl, const nn_backend *be, arena *a, int N, int T)
{
    rn_impl *k = impl;
    rn_step *s = &k->s;
    const int C0 = k->o.channels;
    size_t stem_n = (size_t)N * C0 * k->F * T, big = stem_n, scratch = 0;
    conv2d_dims sd = stem_dims(k, N, T);
    size_t ws = be->conv2d_workspace_floats(&sd);
    s->x = arena_alloc(a, (size_t)N * k->F * T);
    s->ys = arena_alloc(a, stem_n);
    s->as = arena_alloc(a, stem_n);
    s->mean_s = arena_alloc(a, C0);
    s->invstd_s = arena_alloc(a, C0);
    for (int i = 0; i < k->nb; i++) {
        resblock_dims d = block_dims(k, i, N, block_t(k, i, T));
        size_t no = resblock_out_floats(&d), C = (size_t)d.Cout;
        s->out[i] = arena_alloc(a, no);
        resblock_saved *v = &s->sv[i];
        v->y1 = arena_alloc(a, no);
        v->a1 = arena_alloc(a, no);
        v->y2 = arena_alloc(a, no);
        v->yp = resblock_has_proj(&d) ? arena_alloc(a, no) : NULL;
        v->mean1 = arena_alloc(a, C);
        v->invstd1 = arena_alloc(a, C);
        v->mean2 = arena_alloc(a, C);
        v->invstd2 = arena_alloc(a, C);
        v->meanp = arena_alloc(a, C);
        v->invstdp = arena_alloc(a, C);
        big = no > big ? no : big;
        size_t sc = resblock_scratch_floats(&d), w = resblock_workspace_floats(be, &d);
        scratch = sc > scratch ? sc : scratch;
        ws = w > ws ? w : ws;
    }
    const rn_block *last = &k->b[k->nb - 1];
    size_t np = (size_t)N * 2 * last->Cout * k->Fs[4];
    s->pooled = arena_alloc(a, np);
    s->dpooled = arena_alloc(a, np);
    s->g0 = arena_alloc(a, big);
    s->g1 = arena_alloc(a, big);
    s->scratch = arena_alloc(a, scratch);
    s->ws = arena_alloc(a, ws ? ws : 1);
}

static const nn_step_layout rn_layout = {"resnet", carve, 5, 0};

static ch_status rn_reserve(nn_model *m, nn_ctx *ctx, int N, int T, ch_error *err)
{
    rn_impl *k = m->impl;
    return nn_step_mem_reserve(&k->mem, &rn_layout, k, ctx->be, N, T, err);
}

static resblock_weights block_w(const rn_block *b, const float *w)
{
    int p = b->stride != 1 || b->Cin != b->Cout;
    resblock_weights r = {w + b->w1, w + b->g1, w + b->b1, w + b->w2, w + b->g2, w + b->b2,
                          p ? w + b->wp : NULL, p ? w + b->gp : NULL, p ? w + b->bp : NULL};
    return r;
}

static void rn_forward(nn_model *m, nn_ctx *ctx, const nn_input *in, int train, rng *r,
                       float *out)
{
    (void)r;
    rn_impl *k = m->impl;
    const nn_backend *be = ctx->be;
    const int N = in->N, T = in->T, F = k->F, C0 = k->o.channels;
    nn_step_mem_begin(&k->mem);
    carve(k, be, &k->mem.ar, N, T);
    rn_step *s = &k->s;
    const float *w = m->p->data;
    float *buf = m->buffers;
    k->N = N;
    k->Ts[0] = T;
    for (int n = 0; n < N; n++)
        k->mem.lens[0][n] = in->lengths ? in->lengths[n] : T;

    /* (N, T, F) -> (N, 1, F, T) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F; f++)
                s->x[((size_t)n * F + f) * T + t] = in->x[((size_t)n * T + t) * F + f];
    /* the contract says zero past the lengths; make it so rather than trust it */
    be->time_mask(s->x, k->mem.lens[0], N, F, T);

    conv2d_dims sd = stem_dims(k, N, T);
    be->conv2d_forward(s->ys, s->x, w + k->stem_w, NULL, &sd, s->ws);
    batchnorm_dims bd = {N, C0, F * T, 0, BN_EPS, BN_MOMENTUM};
    if (train)
        be->batchnorm_forward_train(s->as, s->mean_s, s->invstd_s, buf + k->stem_rm,
                                    buf + k->stem_rv, s->ys, w + k->stem_g, w + k->stem_b, &bd);
    else
        be->batchnorm_forward_eval(s->as, s->ys, w + k->stem_g, w + k->stem_b, buf + k->stem_rm,
                                   buf + k->stem_rv, &bd);
    const size_t stem_n = (size_t)N * C0 * F * T;
    be->relu_forward(s->as, s->as, stem_n);
    be->time_mask(s->as, k->mem.lens[0], N, C0 * F, T);

    const float *h = s->as;
    int t = T, li = 0;
    const int *len = k->mem.lens[0];
    for (int i = 0; i < k->nb; i++) {
        const rn_block *b = &k->b[i];
        if (b->layer != li) { /* entering layer b->layer: lengths after its stride */
            li = b->layer;
            time_lengths_conv(k->mem.lens[li], len, N, 3, b->stride, 1);
            len = k->mem.lens[li];
            t = down(t, b->stride);
            k->Ts[li] = t;
        }
        resblock_dims d = block_dims(k, i, N, block_t(k, i, T));
        resblock_weights bw = block_w(b, w);
        resblock_running rs = {buf + b->rm1, buf + b->rv1, buf + b->rm2, buf + b->rv2,
                               buf + b->rmp, buf + b->rvp};
        resblock_forward(s->out[i], &s->sv[i], &rs, h, &bw, &d, len, train, be, s->scratch,
                         s->ws);
        h = s->out[i];
    }
    const rn_block *last = &k->b[k->nb - 1];
    time_pool_dims td = {N, last->Cout * k->Fs[4], t, 1e-7f, 1};
    be->stats_pool_forward(s->pooled, h, len, &td);
    linear_dims ld = {N, 2 * last->Cout * k->Fs[4], k->E};
    be->linear_forward(out, s->pooled, w + k->emb_w, w + k->emb_b, &ld);
}

static void rn_backward(nn_model *m, nn_ctx *ctx, const float *dout)
{
    rn_impl *k = m->impl;
    const nn_backend *be = ctx->be;
    const int N = k->N, T = k->Ts[0], F = k->F, C0 = k->o.channels;
    rn_step *s = &k->s;
    const float *w = m->p->data;
    float *gw = m->p->grad;
    const rn_block *last = &k->b[k->nb - 1];
    const int D = last->Cout * k->Fs[4];

    linear_dims ld = {N, 2 * D, k->E};
    be->linear_backward(s->dpooled, gw + k->emb_w, gw + k->emb_b, dout, s->pooled, w + k->emb_w,
                        &ld);
    nn_grads_final_from(ctx, k->emb_w);
    time_pool_dims td = {N, D, k->Ts[last->layer], 1e-7f, 1};
    float *g = s->g0, *gin = s->g1;
    be->stats_pool_backward(g, s->dpooled, s->pooled, s->out[k->nb - 1],
                            k->mem.lens[last->layer], &td);
    for (int i = k->nb - 1; i >= 0; i--) {
        const rn_block *b = &k->b[i];
        resblock_dims d = block_dims(k, i, N, block_t(k, i, T));
        resblock_weights bw = block_w(b, w);
        int p = resblock_has_proj(&d);
        resblock_grads bg = {gw + b->w1, gw + b->g1, gw + b->b1, gw + b->w2, gw + b->g2,
                             gw + b->b2, p ? gw + b->wp : NULL, p ? gw + b->gp : NULL,
                             p ? gw + b->bp : NULL};
        const float *bin = i > 0 ? s->out[i - 1] : s->as;
        resblock_backward(gin, &bg, g, s->out[i], &s->sv[i], bin, &bw, &d, be, s->scratch,
                          s->ws);
        nn_grads_final_from(ctx, b->w1); /* the block's conv1 ... shortcut parameters */
        float *tmp = g;
        g = gin;
        gin = tmp;
    }
    /* stem: relu (masked output) -> bn -> conv */
    const size_t stem_n = (size_t)N * C0 * F * T;
    be->relu_backward(g, g, s->as, stem_n);
    batchnorm_dims bd = {N, C0, F * T, 0, BN_EPS, BN_MOMENTUM};
    be->batchnorm_backward(gin, gw + k->stem_g, gw + k->stem_b, g, s->ys, s->mean_s,
                           s->invstd_s, w + k->stem_g, &bd);
    conv2d_dims sd = stem_dims(k, N, T);
    be->conv2d_backward(NULL, gw + k->stem_w, NULL, gin, s->x, w + k->stem_w, &sd, s->ws);
    nn_grads_final_from(ctx, k->stem_w); /* conv1, bn1 */
}

static double rn_flops(const nn_model *m, int T)
{
    const rn_impl *k = m->impl;
    double f = 2.0 * 9 * k->o.channels * k->F * T;
    for (int i = 0; i < k->nb; i++) {
        const rn_block *b = &k->b[i];
        int t = block_t(k, i, T), Fo = down(b->F, b->stride), To = down(t, b->stride);
        double pos = (double)Fo * To;
        f += 2.0 * 9 * b->Cin * b->Cout * pos + 2.0 * 9 * b->Cout * b->Cout * pos;
        if (b->stride != 1 || b->Cin != b->Cout)
            f += 2.0 * b->Cin * b->Cout * pos;
    }
    const rn_block *last = &k->b[k->nb - 1];
    f += 2.0 * 2 * last->Cout * k->Fs[4] * k->E;
    return f;
}

static const nn_model_ops rn_ops = {
    .kind = "resnet",
    .reserve = rn_reserve,
    .forward = rn_forward,
    .backward = rn_backward,
    .flops_per_sample = rn_flops,
    .destroy = nn_step_impl_destroy,
};

#define MAX_SPECS (3 + MAXB * 9 + 2)

ch_status sv_resnet_create(nn_model *m, const char *lines, rng *init, ch_error *err)
{
    sv_resnet_options o = sv_resnet_options_default();
    opt_group grp = {"resnet", rn_opts, OPT_COUNT(rn_opts), &o};
    CH_TRY(nn_hparams_apply("resnet", lines, &grp, err));
    if (m->in_bins == 0)
        m->in_bins = 80;
    rn_impl *k = calloc(1, sizeof *k);
    if (!k)
        return ch_fail(err, CH_ERR_NOMEM, "resnet: out of memory");
    m->impl = k;
    m->ops = &rn_ops;
    k->o = o;
    k->F = m->in_bins;
    k->E = m->out_dim;
    k->Fs[0] = k->F;

    param_spec spec[MAX_SPECS];
    char names[MAX_SPECS][PARAM_NAME_MAX];
    static const char *const groups[4] = {"layer1", "layer2", "layer3", "layer4"};
    int ns = 0;
#define SPEC(grp_, init_, fan_, nd_, s0_, s1_, s2_, s3_, ...)                                 \
    do {                                                                                      \
        snprintf(names[ns], PARAM_NAME_MAX, __VA_ARGS__);                                     \
        spec[ns] = (param_spec){names[ns], nd_, {s0_, s1_, s2_, s3_}, grp_, init_, fan_, 0};  \
        ns++;                                                                                 \
    } while (0)
    const int C0 = o.channels;
    SPEC("stem", PARAM_INIT_TORCH_WEIGHT, 0, 4, C0, 1, 3, 3, "conv1.weight");
    SPEC("stem", PARAM_INIT_ONES, 0, 1, C0, 0, 0, 0, "bn1.weight");
    SPEC("stem", PARAM_INIT_ZEROS, 0, 1, C0, 0, 0, 0, "bn1.bias");
    int cin = C0, F = k->F, nb = 0;
    for (int L = 0; L < 4; L++) {
        int cout = C0 << L;
        for (int j = 0; j < o.blocks[L]; j++, nb++) {
            rn_block *b = &k->b[nb];
            b->layer = L;
            b->Cin = cin;
            b->Cout = cout;
            b->F = F;
            b->stride = (L > 0 && j == 0) ? 2 : 1;
            const char *g = groups[L];
            SPEC(g, PARAM_INIT_TORCH_WEIGHT, 0, 4, cout, cin, 3, 3, "layer%d.%d.conv1.weight",
                 L + 1, j);
            SPEC(g, PARAM_INIT_ONES, 0, 1, cout, 0, 0, 0, "layer%d.%d.bn1.weight", L + 1, j);
            SPEC(g, PARAM_INIT_ZEROS, 0, 1, cout, 0, 0, 0, "layer%d.%d.bn1.bias", L + 1, j);
            SPEC(g, PARAM_INIT_TORCH_WEIGHT, 0, 4, cout, cout, 3, 3, "layer%d.%d.conv2.weight",
                 L + 1, j);
            SPEC(g, PARAM_INIT_ONES, 0, 1, cout, 0, 0, 0, "layer%d.%d.bn2.weight", L + 1, j);
            SPEC(g, PARAM_INIT_ZEROS, 0, 1, cout, 0, 0, 0, "layer%d.%d.bn2.bias", L + 1, j);
            if (b->stride != 1 || cin != cout) {
                SPEC(g, PARAM_INIT_TORCH_WEIGHT, 0, 4, cout, cin, 1, 1,
                     "layer%d.%d.shortcut.0.weight", L + 1, j);
                SPEC(g, PARAM_INIT_ONES, 0, 1, cout, 0, 0, 0, "layer%d.%d.shortcut.1.weight",
                     L + 1, j);
                SPEC(g, PARAM_INIT_ZEROS, 0, 1, cout, 0, 0, 0, "layer%d.%d.shortcut.1.bias",
                     L + 1, j);
            }
            F = down(F, b->stride);
            cin = cout;
        }
        k->Fs[L + 1] = F;
    }
    k->nb = nb;
    const int S2 = 2 * cin * F;
    SPEC("embedding", PARAM_INIT_TORCH_WEIGHT, 0, 2, k->E, S2, 0, 0, "embedding.weight");
    SPEC("embedding", PARAM_INIT_TORCH_BIAS, S2, 1, k->E, 0, 0, 0, "embedding.bias");
#undef SPEC
    CH_TRY(params_create(&m->p, spec, ns, err));
    params_init(m->p, init);

    /* offsets, in table order; running statistics as (mean, var) pairs in the same order */
    const param_view *v = m->p->views;
    size_t nbuf = 0, bn_rv[1 + 3 * MAXB];
    int vi = 0, nbn = 0, bn_c[1 + 3 * MAXB];
#define NEXT_BN(g_, b_, rm_, rv_, C_)                                                          \
    do {                                                                                       \
        g_ = v[vi].offset;                                                                     \
        b_ = v[vi + 1].offset;                                                                 \
        vi += 2;                                                                               \
        rm_ = nbuf;                                                                            \
        rv_ = nbuf + (size_t)(C_);                                                             \
        nbuf += 2 * (size_t)(C_);                                                              \
        bn_rv[nbn] = rv_;                                                                      \
        bn_c[nbn++] = (C_);                                                                    \
    } while (0)
    k->stem_w = v[vi++].offset;
    NEXT_BN(k->stem_g, k->stem_b, k->stem_rm, k->stem_rv, C0);
    for (int i = 0; i < nb; i++) {
        rn_block *b = &k->b[i];
        b->w1 = v[vi++].offset;
        NEXT_BN(b->g1, b->b1, b->rm1, b->rv1, b->Cout);
        b->w2 = v[vi++].offset;
        NEXT_BN(b->g2, b->b2, b->rm2, b->rv2, b->Cout);
        if (b->stride != 1 || b->Cin != b->Cout) {
            b->wp = v[vi++].offset;
            NEXT_BN(b->gp, b->bp, b->rmp, b->rvp, b->Cout);
        }
    }
#undef NEXT_BN
    k->emb_w = v[vi].offset;
    k->emb_b = v[vi + 1].offset;
    CH_TRY(nn_model_alloc_buffers(m, nbuf, "resnet", err));
    for (int i = 0; i < nbn; i++) /* running variances start at 1 */
        for (int c = 0; c < bn_c[i]; c++)
            m->buffers[bn_rv[i] + c] = 1.0f;

    return nn_model_write_hparams(m, &grp, "resnet", err);
}
