/* sv_tdnn.c — the x-vector speaker-embedding model (see sv_tdnn.h for the architecture and the
 * padding semantics). */
#include "models/sv_tdnn.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/options.h"
#include "models/model_util.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f
#define NL 5 /* frame layers */

static const int tdnn_k[NL] = {5, 3, 3, 1, 1};
static const int tdnn_dil[NL] = {1, 2, 3, 1, 1};

sv_tdnn_options sv_tdnn_options_default(void)
{
    sv_tdnn_options o = {.channels = 384, .stats_channels = 768};
    return o;
}

static const opt_desc tdnn_opts[] = {
    OPT_INT(sv_tdnn_options, channels, "channels", 1, 8192, "Width of frame1..frame4"),
    OPT_INT(sv_tdnn_options, stats_channels, "stats-channels", 1, 8192,
            "Width of frame5 (the statistics layer)"),
};

typedef struct {
    float *x;                  /* (N, F, T) transposed input */
    float *r[NL];              /* (N, C_l, T) relu(conv) = batch-norm input */
    float *z[NL];              /* (N, C_l, T) batch-norm output (masked for l = 0, 1) */
    float *mean[NL], *invstd[NL];
    float *pooled, *dpooled;   /* (N, 2S) */
    float *g0, *g1;            /* (N, max C, T) gradient ping-pong */
    float *ws;
} td_step;

typedef struct {
    /* first: nn_step_impl_destroy frees it; lens[0]: lengths of the last forward */
    nn_step_mem mem;
    sv_tdnn_options o;
    int F, E;
    int ch[NL + 1];            /* ch[0] = F, ch[l + 1] = width of layer l */
    size_t w[NL], b[NL], g[NL], be[NL], rm[NL], rv[NL], emb_w, emb_b;
    int N, T;
    td_step s;
} td_impl;

static conv1d_dims layer_dims(const td_impl *k, int l, int N, int T)
{
    int kk = tdnn_k[l], dil = tdnn_dil[l];
    conv1d_dims d = {.N = N, .Cin = k->ch[l], .T = T, .Cout = k->ch[l + 1], .k = kk,
                     .stride = 1, .pad = dil * (kk - 1) / 2, .dil = dil};
    return d;
}

static void carve(void *impl, const nn_backend *be, arena *a, int N, int T)
{
    td_impl *k = impl;
    td_step *s = &k->s;
    size_t NT = (size_t)N * T, cmax = 0, ws = 0;
    s->x = arena_alloc(a, NT * k->F);
    for (int l = 0; l < NL; l++) {
        size_t C = (size_t)k->ch[l + 1];
        s->r[l] = arena_alloc(a, NT * C);
        s->z[l] = arena_alloc(a, NT * C);
        s->mean[l] = arena_alloc(a, C);
        s->invstd[l] = arena_alloc(a, C);
        cmax = C > cmax ? C : cmax;
        conv1d_dims d = layer_dims(k, l, N, T);
        size_t w = be->conv1d_workspace_floats(&d);
        ws = w > ws ? w : ws;
    }
    s->pooled = arena_alloc(a, (size_t)N * 2 * k->ch[NL]);
    s->dpooled = arena_alloc(a, (size_t)N * 2 * k->ch[NL]);
    s->g0 = arena_alloc(a, NT * cmax);
    s->g1 = arena_alloc(a, NT * cmax);
    s->ws = arena_alloc(a, ws ? ws : 1);
}

static const nn_step_layout td_layout = {"tdnn", carve, 1, 0};

static ch_status td_reserve(nn_model *m, nn_ctx *ctx, int N, int T, ch_error *err)
{
    td_impl *k = m->impl;
    return nn_step_mem_reserve(&k->mem, &td_layout, k, ctx->be, N, T, err);
}

static void td_forward(nn_model *m, nn_ctx *ctx, const nn_input *in, int train, rng *r,
                       float *out)
{
    (void)r;
    td_impl *k = m->impl;
    const nn_backend *be = ctx->be;
    const int N = in->N, T = in->T, F = k->F;
    nn_step_mem_begin(&k->mem);
    carve(k, be, &k->mem.ar, N, T);
    td_step *s = &k->s;
    const float *w = m->p->data;
    k->N = N;
    k->T = T;
    for (int n = 0; n < N; n++)
        k->mem.lens[0][n] = in->lengths ? in->lengths[n] : T;

    /* (N, T, F) -> (N, F, T) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F; f++)
                s->x[((size_t)n * F + f) * T + t] = in->x[((size_t)n * T + t) * F + f];
    /* the contract says zero past the lengths; make it so rather than trust it */
    be->time_mask(s->x, k->mem.lens[0], N, F, T);

    const float *h = s->x;
    for (int l = 0; l < NL; l++) {
        conv1d_dims cd = layer_dims(k, l, N, T);
        const int C = k->ch[l + 1];
        const size_t n = (size_t)N * C * T;
        be->conv1d_forward(s->r[l], h, w + k->w[l], w + k->b[l], &cd, s->ws);
        be->relu_forward(s->r[l], s->r[l], n);
        batchnorm_dims bd = {N, C, T, 0, BN_EPS, BN_MOMENTUM};
        if (train)
            be->batchnorm_forward_train(s->z[l], s->mean[l], s->invstd[l], m->buffers + k->rm[l],
                                        m->buffers + k->rv[l], s->r[l], w + k->g[l],
                                        w + k->be[l], &bd);
        else
            be->batchnorm_forward_eval(s->z[l], s->r[l], w + k->g[l], w + k->be[l],
                                       m->buffers + k->rm[l], m->buffers + k->rv[l], &bd);
        if (l + 1 < NL && tdnn_k[l + 1] > 1) /* feeds a kernel wider than one frame */
            be->time_mask(s->z[l], k->mem.lens[0], N, C, T);
        h = s->z[l];
    }
    time_pool_dims td = {N, k->ch[NL], T, 1e-7f, 1};
    be->stats_pool_forward(s->pooled, h, k->mem.lens[0], &td);
    linear_dims ld = {N, 2 * k->ch[NL], k->E};
    be->linear_forward(out, s->pooled, w + k->emb_w, w + k->emb_b, &ld);
}

static void td_backward(nn_model *m, nn_ctx *ctx, const float *dout)
{
    td_impl *k = m->impl;
    const nn_backend *be = ctx->be;
    const int N = k->N, T = k->T;
    td_step *s = &k->s;
    const float *w = m->p->data;
    float *gw = m->p->grad;

    linear_dims ld = {N, 2 * k->ch[NL], k->E};
    be->linear_backward(s->dpooled, gw + k->emb_w, gw + k->emb_b, dout, s->pooled,
                        w + k->emb_w, &ld);
    nn_grads_final_from(ctx, k->emb_w);
    time_pool_dims td = {N, k->ch[NL], T, 1e-7f, 1};
    float *dz = s->g0, *tmp = s->g1;
    be->stats_pool_backward(dz, s->dpooled, s->pooled, s->z[NL - 1], k->mem.lens[0], &td);
    for (int l = NL - 1; l >= 0; l--) {
        const int C = k->ch[l + 1];
        const size_t n = (size_t)N * C * T;
        if (l + 1 < NL && tdnn_k[l + 1] > 1) /* the forward zeroed these frames */
            be->time_mask(dz, k->mem.lens[0], N, C, T);
        batchnorm_dims bd = {N, C, T, 0, BN_EPS, BN_MOMENTUM};
        be->batchnorm_backward(tmp, gw + k->g[l], gw + k->be[l], dz, s->r[l], s->mean[l],
                               s->invstd[l], w + k->g[l], &bd);
        be->relu_backward(tmp, tmp, s->r[l], n);
        conv1d_dims cd = layer_dims(k, l, N, T);
        be->conv1d_backward(l > 0 ? dz : NULL, gw + k->w[l], gw + k->b[l], tmp,
                            l > 0 ? s->z[l - 1] : s->x, w + k->w[l], &cd, s->ws);
        nn_grads_final_from(ctx, k->w[l]); /* the layer's [w, b, gamma, beta] */
    }
}

static double td_flops(const nn_model *m, int T)
{
    const td_impl *k = m->impl;
    double f = 0;
    for (int l = 0; l < NL; l++)
        f += 2.0 * k->ch[l] * k->ch[l + 1] * tdnn_k[l] * T;
    f += 2.0 * 2 * k->ch[NL] * k->E;
    return f;
}

static const nn_model_ops td_ops = {
    .kind = "tdnn",
    .reserve = td_reserve,
    .forward = td_forward,
    .backward = td_backward,
    .flops_per_sample = td_flops,
    .destroy = nn_step_impl_destroy,
};

ch_status sv_tdnn_create(nn_model *m, const char *lines, rng *init, ch_error *err)
{
    sv_tdnn_options o = sv_tdnn_options_default();
    opt_group grp = {"tdnn", tdnn_opts, OPT_COUNT(tdnn_opts), &o};
    CH_TRY(nn_hparams_apply("tdnn", lines, &grp, err));
    if (m->in_bins == 0)
        m->in_bins = 80;
    td_impl *k = calloc(1, sizeof *k);
    if (!k)
        return ch_fail(err, CH_ERR_NOMEM, "tdnn: out of memory");
    m->impl = k;
    m->ops = &td_ops;
    k->o = o;
    k->F = m->in_bins;
    k->E = m->out_dim;
    k->ch[0] = k->F;
    for (int l = 0; l < NL; l++)
        k->ch[l + 1] = l + 1 < NL ? o.channels : o.stats_channels;

    /* parameter table: named_parameters() order of bench/sv/ref_models.py TDNN */
    param_spec spec[4 * NL + 2];
    char names[4 * NL + 2][PARAM_NAME_MAX];
    char groups[NL][16];
    int ns = 0;
    for (int l = 0; l < NL; l++) {
        int cin = k->ch[l], cout = k->ch[l + 1], kk = tdnn_k[l];
        snprintf(groups[l], sizeof groups[l], "frame%d", l + 1);
        snprintf(names[ns], PARAM_NAME_MAX, "frame%d.conv.weight", l + 1);
        spec[ns] = (param_spec){names[ns], 3, {cout, cin, kk, 0}, groups[l],
                                PARAM_INIT_TORCH_WEIGHT, 0, 0};
        ns++;
        snprintf(names[ns], PARAM_NAME_MAX, "frame%d.conv.bias", l + 1);
        spec[ns] = (param_spec){names[ns], 1, {cout, 0, 0, 0}, groups[l], PARAM_INIT_TORCH_BIAS,
                                cin * kk, 0};
        ns++;
        snprintf(names[ns], PARAM_NAME_MAX, "frame%d.bn.weight", l + 1);
        spec[ns] = (param_spec){names[ns], 1, {cout, 0, 0, 0}, groups[l], PARAM_INIT_ONES, 0, 0};
        ns++;
        snprintf(names[ns], PARAM_NAME_MAX, "frame%d.bn.bias", l + 1);
        spec[ns] = (param_spec){names[ns], 1, {cout, 0, 0, 0}, groups[l], PARAM_INIT_ZEROS, 0, 0};
        ns++;
    }
    const int S2 = 2 * k->ch[NL];
    spec[ns++] = (param_spec){"embedding.weight", 2, {k->E, S2, 0, 0}, "embedding",
                              PARAM_INIT_TORCH_WEIGHT, 0, 0};
    spec[ns++] = (param_spec){"embedding.bias", 1, {k->E, 0, 0, 0}, "embedding",
                              PARAM_INIT_TORCH_BIAS, S2, 0};
    CH_TRY(params_create(&m->p, spec, ns, err));
    params_init(m->p, init);

    const param_view *v = m->p->views;
    size_t nbuf = 0;
    for (int l = 0; l < NL; l++) {
        k->w[l] = v[4 * l].offset;
        k->b[l] = v[4 * l + 1].offset;
        k->g[l] = v[4 * l + 2].offset;
        k->be[l] = v[4 * l + 3].offset;
        k->rm[l] = nbuf;
        k->rv[l] = nbuf + (size_t)k->ch[l + 1];
        nbuf += 2 * (size_t)k->ch[l + 1];
    }
    k->emb_w = v[4 * NL].offset;
    k->emb_b = v[4 * NL + 1].offset;
    CH_TRY(nn_model_alloc_buffers(m, nbuf, "tdnn", err));
    for (int l = 0; l < NL; l++)
        for (int c = 0; c < k->ch[l + 1]; c++)
            m->buffers[k->rv[l] + c] = 1.0f;

    return nn_model_write_hparams(m, &grp, "tdnn", err);
}
