/* kws_densenet.c — the DenseNet-BiLSTM keyword model (see kws_densenet.h for the architecture,
 * the padding semantics and the memory plan). */
#include "models/kws_densenet.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/options.h"
#include "models/attention_pool.h"
#include "models/conv3x3_direct.h"
#include "models/lstm.h"
#include "models/lstm_cell.h"
#include "models/model_util.h"

#include <cblas.h>

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f
#define MAXB KWS_DENSENET_MAX_BLOCKS
#define MAXL KWS_DENSENET_MAX_LAYERS

kws_densenet_options kws_densenet_options_default(void)
{
    kws_densenet_options o = {.stem_channels = 24,
                              .blocks = 3,
                              .layers = 4,
                              .growth = 12,
                              .transition_channels = 48,
                              .lstm_hidden = 64,
                              .pooling = 0,
                              .attention_dim = 64,
                              .dropout = 0.0f};
    return o;
}

static const opt_desc kd_opts[] = {
    OPT_INT(kws_densenet_options, stem_channels, "stem-channels", 1, 4096,
            "Channels of the stem 3x3 conv"),
    OPT_INT(kws_densenet_options, blocks, "blocks", 1, MAXB,
            "Dense blocks (each halves the frequency axis)"),
    OPT_INT(kws_densenet_options, layers, "layers", 1, MAXL, "Dense layers per block"),
    OPT_INT(kws_densenet_options, growth, "growth", 1, 4096, "Channels added per dense layer"),
    OPT_INT(kws_densenet_options, transition_channels, "transition-channels", 1, 4096,
            "Output channels of each transition 1x1 conv"),
    OPT_INT(kws_densenet_options, lstm_hidden, "lstm-hidden", 1, 4096,
            "BiLSTM hidden size per direction"),
    OPT_CHOICE(kws_densenet_options, pooling, "pooling", "attention|mean",
               "Pooling over valid frames"),
    OPT_INT(kws_densenet_options, attention_dim, "attention-dim", 1, 4096,
            "Attention pooling hidden size"),
    OPT_FLOAT(kws_densenet_options, dropout, "dropout", 0.0, 0.99,
              "Dropout before the linear layer (training only)"),
};

/* One BN (+ conv) unit: a dense layer or a transition. Offsets into p->data / p->grad and
 * into m->buffers. */
typedef struct {
    int C;              /* BN channels = conv input channels */
    size_t gamma, beta, w;
    size_t rm, rv;
} kd_unit;

typedef struct {
    float *mean, *invstd, *var; /* (C) saved batch statistics; var = 1/invstd^2 - eps */
    float *scale, *shift;       /* (C) eval mode: the BN as one affine map (fused path) */
} kd_saved;

/* Every activation block of one step, carved from the arena in a fixed order. */
typedef struct {
    float *x;                     /* (N, 1, F0, T) */
    float *B[MAXB], *dB[MAXB];    /* (N, Ct[b], F[b], T) */
    float *R, *G;                 /* scratch (N, Ct, F, T), largest block */
    float *P, *dP;                /* pooled transition input (N, Ct, F/2, T) */
    float *Y, *dY;                /* last transition output (N, trans, F_last, T) */
    float *seq, *dseq;            /* (N, T, seq_dim) */
    float *y, *dy, *gates, *cells;
    float *att;                   /* attention saved */
    float *hT, *dhT;              /* (N, 2H, T) mean pooling only */
    float *pooled, *dpooled, *mask, *drop, *ddrop; /* (N, 2H) */
    float *ws;
    size_t ws_floats;
    kd_saved sv[MAXB][MAXL + 1];
} kd_step;

typedef struct {
    /* first: nn_step_impl_destroy frees it; lens[0]: lengths of the last forward */
    nn_step_mem mem;
    kws_densenet_options o;
    int F0, nb, L, g, trans, H, A, K;
    int Fb[MAXB + 1], C0[MAXB], Ct[MAXB];
    int seq_dim;
    size_t stem_w;
    kd_unit u[MAXB][MAXL + 1]; /* [b][L] = transition */
    size_t lstm_w, att_w, out_w, out_b;
    int N, T, have_train;      /* the last forward */
    int dropped;               /* it applied dropout */
    kd_step s;
} kd_impl;

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

static conv2d_dims stem_dims(const kd_impl *k, int N, int T)
{
    conv2d_dims d = {N, 1, k->F0, T, k->C0[0], 3, 3, 1, 1, 1, 1, 1, 1, 0,
                     (size_t)k->Ct[0] * k->F0 * T};
    return d;
}

static conv2d_dims dense_dims(const kd_impl *k, int b, int l, int N, int T)
{
    size_t sn = (size_t)k->Ct[b] * k->Fb[b] * T;
    conv2d_dims d = {N, k->C0[b] + l * k->g, k->Fb[b], T, k->g, 3, 3, 1, 1, 1, 1, 1, 1, sn, sn};
    return d;
}

static conv2d_dims trans_dims(const kd_impl *k, int b, int N, int T)
{
    size_t osn = b + 1 < k->nb ? (size_t)k->Ct[b + 1] * k->Fb[b + 1] * T : 0;
    conv2d_dims d = {N, k->Ct[b], k->Fb[b + 1], T, k->trans, 1, 1, 1, 1, 0, 0, 1, 1, 0, osn};
    return d;
}

static lstm_dims lstm_d(const kd_impl *k, int N, int T)
{
    lstm_dims d = {N, T, k->seq_dim, k->H, 1};
    return d;
}

static attention_pool_dims att_d(const kd_impl *k, int N, int T)
{
    attention_pool_dims d = {N, T, 2 * k->H, k->A};
    return d;
}

/* Carves a step's blocks for (N, T); with a planning arena only counts. */
static void carve(void *impl, const nn_backend *be, arena *a, int N, int T)
{
    kd_impl *k = impl;
    kd_step *s = &k->s;
    const size_t NT = (size_t)N * T;
    size_t big = 0, pbig = 0, ws = 0;
    s->x = arena_alloc(a, NT * k->F0);
    for (int b = 0; b < k->nb; b++) {
        size_t n = NT * k->Ct[b] * k->Fb[b];
        s->B[b] = arena_alloc(a, n);
        s->dB[b] = arena_alloc(a, n);
        big = max_sz(big, n);
        pbig = max_sz(pbig, NT * k->Ct[b] * k->Fb[b + 1]);
        for (int l = 0; l <= k->L; l++) {
            int C = k->u[b][l].C;
            s->sv[b][l].mean = arena_alloc(a, C);
            s->sv[b][l].invstd = arena_alloc(a, C);
            s->sv[b][l].var = arena_alloc(a, C);
            s->sv[b][l].scale = arena_alloc(a, C);
            s->sv[b][l].shift = arena_alloc(a, C);
            if (l < k->L) {
                conv2d_dims d = dense_dims(k, b, l, N, T);
                ws = max_sz(ws, be->conv2d_workspace_floats(&d));
            }
        }
        conv2d_dims d = trans_dims(k, b, N, T);
        ws = max_sz(ws, be->conv2d_workspace_floats(&d));
    }
    conv2d_dims sd = stem_dims(k, N, T);
    ws = max_sz(ws, be->conv2d_workspace_floats(&sd));
    s->R = arena_alloc(a, big);
    s->G = arena_alloc(a, big);
    s->P = arena_alloc(a, pbig);
    s->dP = arena_alloc(a, pbig);
    s->Y = arena_alloc(a, NT * k->seq_dim);
    s->dY = arena_alloc(a, NT * k->seq_dim);
    s->seq = arena_alloc(a, NT * k->seq_dim);
    s->dseq = arena_alloc(a, NT * k->seq_dim);
    lstm_dims ld = lstm_d(k, N, T);
    s->y = arena_alloc(a, NT * 2 * k->H);
    s->dy = arena_alloc(a, NT * 2 * k->H);
    s->gates = arena_alloc(a, lstm_gates_floats(&ld));
    s->cells = arena_alloc(a, lstm_cells_floats(&ld));
    ws = max_sz(ws, be->lstm_workspace_floats(&ld));
    if (k->o.pooling == 0) {
        attention_pool_dims ad = att_d(k, N, T);
        s->att = arena_alloc(a, attention_pool_saved_floats(&ad));
        ws = max_sz(ws, be->attention_pool_workspace_floats(&ad));
        s->hT = s->dhT = NULL;
    } else {
        s->att = NULL;
        s->hT = arena_alloc(a, NT * 2 * k->H);
        s->dhT = arena_alloc(a, NT * 2 * k->H);
    }
    size_t nh = (size_t)N * 2 * k->H;
    s->pooled = arena_alloc(a, nh);
    s->dpooled = arena_alloc(a, nh);
    s->mask = arena_alloc(a, nh);
    s->drop = arena_alloc(a, nh);
    s->ddrop = arena_alloc(a, nh);
    s->ws = arena_alloc(a, ws);
    s->ws_floats = ws;
}

/* Carves only what the eval-mode head (kd_head) of (N, T) reads and writes (streaming). */
static void carve_head(void *impl, const nn_backend *be, arena *a, int N, int T)
{
    kd_impl *k = impl;
    kd_step *s = &k->s;
    const size_t NT = (size_t)N * T;
    lstm_dims ld = lstm_d(k, N, T);
    size_t ws = be->lstm_workspace_floats(&ld);
    s->y = arena_alloc(a, NT * 2 * k->H);
    s->gates = arena_alloc(a, lstm_gates_floats(&ld));
    s->cells = arena_alloc(a, lstm_cells_floats(&ld));
    s->att = s->hT = NULL;
    if (k->o.pooling == 0) {
        attention_pool_dims ad = att_d(k, N, T);
        s->att = arena_alloc(a, attention_pool_saved_floats(&ad));
        ws = max_sz(ws, be->attention_pool_workspace_floats(&ad));
    } else {
        s->hT = arena_alloc(a, NT * 2 * k->H);
    }
    s->pooled = arena_alloc(a, (size_t)N * 2 * k->H);
    s->drop = s->mask = NULL;
    s->ws = arena_alloc(a, ws);
    s->ws_floats = ws;
}

static const nn_step_layout kd_layout = {"densenet-bilstm", carve, 1, 1};

static ch_status kd_reserve(nn_model *m, nn_ctx *ctx, int N, int T, ch_error *err)
{
    kd_impl *k = m->impl;
    unsigned gen = k->mem.generation;
    ch_status st = nn_step_mem_reserve(&k->mem, &kd_layout, k, ctx->be, N, T, err);
    if (k->mem.generation != gen)
        k->have_train = 0; /* the train forward's saved values went with the old arena */
    return st;
}

/* relu over the first `cnt` floats of each of N samples sn apart (a channel prefix), as ONE
 * call over the span: one OpenMP region instead of N (thousands per step otherwise, and each
 * barrier costs dearly when threads share cores). The gaps (channels past the prefix) hold
 * finite values — the arena is zeroed at reserve and only ever holds layer outputs — and
 * nothing reads them. */
static size_t prefix_span(int N, size_t sn, size_t cnt) { return (size_t)(N - 1) * sn + cnt; }

static void relu_prefix(const nn_backend *be, float *x, int N, size_t sn, size_t cnt)
{
    be->relu_forward(x, x, prefix_span(N, sn, cnt));
}

/* R = relu(BN(in)) for unit (b, l) with channel stride sn; train: batch statistics (saved,
 * running stats updated); eval: running statistics; recompute: the saved batch statistics. */
enum { BN_TRAIN, BN_EVAL, BN_RECOMPUTE };
static void bn_relu(nn_model *m, const nn_backend *be, int b, int l, const float *in, float *R,
                    int N, int S, size_t sn, int mode)
{
    kd_impl *k = m->impl;
    const kd_unit *u = &k->u[b][l];
    kd_saved *sv = &k->s.sv[b][l];
    const float *w = m->p->data;
    batchnorm_dims bd = {N, u->C, S, sn, BN_EPS, BN_MOMENTUM};
    if (mode == BN_TRAIN) {
        be->batchnorm_forward_train(R, sv->mean, sv->invstd, m->buffers + u->rm,
                                    m->buffers + u->rv, in, w + u->gamma, w + u->beta, &bd);
        /* var such that 1/sqrt(var + eps) gives invstd back: lets backward recompute R with
         * the eval kernel instead of keeping it */
        for (int c = 0; c < u->C; c++)
            sv->var[c] = 1.0f / (sv->invstd[c] * sv->invstd[c]) - BN_EPS;
    } else if (mode == BN_EVAL) {
        be->batchnorm_forward_eval(R, in, w + u->gamma, w + u->beta, m->buffers + u->rm,
                                   m->buffers + u->rv, &bd);
    } else {
        be->batchnorm_forward_eval(R, in, w + u->gamma, w + u->beta, sv->mean, sv->var, &bd);
    }
    relu_prefix(be, R, N, sn, (size_t)u->C * S);
}

/* Transition input: R = relu(BN(B[b])), P = avgpool_(2,1)(R). */
static void trans_input(nn_model *m, const nn_backend *be, int b, int N, int T, int mode)
{
    kd_impl *k = m->impl;
    int S = k->Fb[b] * T;
    bn_relu(m, be, b, k->L, k->s.B[b], k->s.R, N, S, (size_t)k->Ct[b] * S, mode);
    pool2d_dims pd = {N, k->Ct[b], k->Fb[b], T, 2, 1, 2, 1};
    be->avgpool2d_forward(k->s.P, k->s.R, &pd);
}

/* The CNN (stem, dense blocks, transitions) of the (N, T) step carved last, from s->x into
 * s->seq (N, T, seq_dim). */
static void kd_cnn(nn_model *m, const nn_backend *be, int N, int T, int train)
{
    kd_impl *k = m->impl;
    kd_step *s = &k->s;
    const float *w = m->p->data;
    conv2d_dims sd = stem_dims(k, N, T);
    be->conv2d_forward(s->B[0], s->x, w + k->stem_w, NULL, &sd, s->ws);
    const int mode = train ? BN_TRAIN : BN_EVAL;
    for (int b = 0; b < k->nb; b++) {
        const int S = k->Fb[b] * T;
        const size_t sn = (size_t)k->Ct[b] * S;
        for (int l = 0; l < k->L; l++) {
            const kd_unit *u = &k->u[b][l];
            conv2d_dims d = dense_dims(k, b, l, N, T);
            float *out = s->B[b] + (size_t)u->C * S;
            if (!train && be->conv2d_bnrelu_forward && conv3x3_direct_ok(&d)) {
                /* eval: BN -> ReLU folded into the conv's input copy (no R pass); the affine
                 * map is batchnorm_forward_eval's */
                kd_saved *sv = &s->sv[b][l];
                for (int c = 0; c < u->C; c++) {
                    double inv = 1.0 / sqrt((double)m->buffers[u->rv + c] + BN_EPS);
                    double g = w[u->gamma + c];
                    sv->scale[c] = (float)(inv * g);
                    sv->shift[c] = (float)(w[u->beta + c] - m->buffers[u->rm + c] * inv * g);
                }
                be->conv2d_bnrelu_forward(out, s->B[b], sv->scale, sv->shift, w + u->w, NULL,
                                          &d, s->ws);
                continue;
            }
            bn_relu(m, be, b, l, s->B[b], s->R, N, S, sn, mode);
            be->conv2d_forward(out, s->R, w + u->w, NULL, &d, s->ws);
        }
        trans_input(m, be, b, N, T, mode);
        conv2d_dims d = trans_dims(k, b, N, T);
        be->conv2d_forward(b + 1 < k->nb ? s->B[b + 1] : s->Y, s->P, w + k->u[b][k->L].w, NULL,
                           &d, s->ws);
    }
    /* (N, trans, Fl, T) -> (N, T, trans * Fl) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int i = 0; i < k->seq_dim; i++)
                s->seq[((size_t)n * T + t) * k->seq_dim + i] =
                    s->Y[((size_t)n * k->seq_dim + i) * T + t];
}

static void kd_pool_out(nn_model *m, const nn_backend *be, int N, int T, int train, rng *r,
                        float *out);

/* BiLSTM, pooling, (dropout,) linear of the (N, T) step carved last: seq (N, T, seq_dim) with
 * lengths k->mem.lens[0] -> out (N, K). */
static void kd_head(nn_model *m, const nn_backend *be, const float *seq, int N, int T,
                    int train, rng *r, float *out)
{
    kd_impl *k = m->impl;
    kd_step *s = &k->s;
    const float *w = m->p->data;
    lstm_dims ld = lstm_d(k, N, T);
    be->lstm_forward(s->y, NULL, NULL, s->gates, s->cells, seq, k->mem.lens[0], w + k->lstm_w, &ld,
                     s->ws);
    kd_pool_out(m, be, N, T, train, r, out);
}

/* Pooling over s->y (N, T, 2H), (dropout,) linear -> out (N, K). */
static void kd_pool_out(nn_model *m, const nn_backend *be, int N, int T, int train, rng *r,
                        float *out)
{
    kd_impl *k = m->impl;
    kd_step *s = &k->s;
    const float *w = m->p->data;
    const int Dm = 2 * k->H;
    if (k->o.pooling == 0) {
        attention_pool_dims ad = att_d(k, N, T);
        be->attention_pool_forward(s->pooled, s->att, s->y, k->mem.lens[0], w + k->att_w, &ad,
                                   s->ws);
    } else {
        for (int n = 0; n < N; n++)
            for (int t = 0; t < T; t++)
                for (int c = 0; c < Dm; c++)
                    s->hT[((size_t)n * Dm + c) * T + t] = s->y[((size_t)n * T + t) * Dm + c];
        time_pool_dims td = {N, Dm, T, 0.0f, 0};
        be->mean_pool_forward(s->pooled, s->hT, k->mem.lens[0], &td);
    }
    const float *z = s->pooled;
    if (train && k->o.dropout > 0.0f && r) {
        be->dropout_forward_train(s->drop, s->mask, s->pooled, (size_t)N * Dm, k->o.dropout, r);
        z = s->drop;
    }
    k->dropped = z == s->drop;
    linear_dims lin = {N, Dm, k->K};
    be->linear_forward(out, z, w + k->out_w, w + k->out_b, &lin);
}

static void kd_forward(nn_model *m, nn_ctx *ctx, const nn_input *in, int train, rng *r,
                       float *out)
{
    kd_impl *k = m->impl;
    const int N = in->N, T = in->T, F0 = k->F0;
    nn_step_mem_begin(&k->mem);
    carve(k, ctx->be, &k->mem.ar, N, T);
    kd_step *s = &k->s;
    k->N = N;
    k->T = T;
    k->have_train = train;
    memcpy(k->mem.lens[0], in->lengths, sizeof(int) * (size_t)N);

    /* (N, T, F) -> (N, 1, F, T) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F0; f++)
                s->x[((size_t)n * F0 + f) * T + t] = in->x[((size_t)n * T + t) * F0 + f];
    kd_cnn(m, ctx->be, N, T, train);
    kd_head(m, ctx->be, s->seq, N, T, train, r, out);
}

static void kd_backward(nn_model *m, nn_ctx *ctx, const float *dout)
{
    kd_impl *k = m->impl;
    if (!k->have_train)
        return; /* caller bug: no train-mode forward to differentiate */
    const nn_backend *be = ctx->be;
    kd_step *s = &k->s;
    const int N = k->N, T = k->T, Dm = 2 * k->H;
    const float *w = m->p->data;
    float *gw = m->p->grad;
    nn_step_mem_clamp_threads(&k->mem);

    const int dropped = k->dropped;
    linear_dims lin = {N, Dm, k->K};
    be->linear_backward(s->ddrop, gw + k->out_w, gw + k->out_b, dout,
                        dropped ? s->drop : s->pooled, w + k->out_w, &lin);
    nn_grads_final_from(ctx, k->out_w);
    const float *dpooled = s->ddrop;
    if (dropped) {
        be->dropout_backward(s->dpooled, s->ddrop, s->mask, (size_t)N * Dm);
        dpooled = s->dpooled;
    }
    if (k->o.pooling == 0) {
        attention_pool_dims ad = att_d(k, N, T);
        be->attention_pool_backward(s->dy, gw + k->att_w, dpooled, s->att, s->y, k->mem.lens[0],
                                    w + k->att_w, &ad, s->ws);
        nn_grads_final_from(ctx, k->att_w);
    } else {
        time_pool_dims td = {N, Dm, T, 0.0f, 0};
        be->mean_pool_backward(s->dhT, dpooled, k->mem.lens[0], &td);
        for (int n = 0; n < N; n++)
            for (int t = 0; t < T; t++)
                for (int c = 0; c < Dm; c++)
                    s->dy[((size_t)n * T + t) * Dm + c] = s->dhT[((size_t)n * Dm + c) * T + t];
    }
    lstm_dims ld = lstm_d(k, N, T);
    be->lstm_backward(s->dseq, gw + k->lstm_w, NULL, NULL, s->dy, NULL, NULL, s->y, s->gates,
                      s->cells, s->seq, k->mem.lens[0], w + k->lstm_w, &ld, s->ws);
    nn_grads_final_from(ctx, k->lstm_w);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int i = 0; i < k->seq_dim; i++)
            for (int t = 0; t < T; t++)
                s->dY[((size_t)n * k->seq_dim + i) * T + t] =
                    s->dseq[((size_t)n * T + t) * k->seq_dim + i];

    for (int b = k->nb - 1; b >= 0; b--) {
        const int S = k->Fb[b] * T;
        const size_t sn = (size_t)k->Ct[b] * S;
        /* transition: its output gradient is the next block's first channels (or dY) */
        {
            const kd_unit *u = &k->u[b][k->L];
            const kd_saved *sv = &s->sv[b][k->L];
            trans_input(m, be, b, N, T, BN_RECOMPUTE);
            conv2d_dims d = trans_dims(k, b, N, T);
            be->conv2d_backward(s->dP, gw + u->w, NULL, b + 1 < k->nb ? s->dB[b + 1] : s->dY,
                                s->P, w + u->w, &d, s->ws);
            pool2d_dims pd = {N, k->Ct[b], k->Fb[b], T, 2, 1, 2, 1};
            be->avgpool2d_backward(s->G, s->dP, &pd);
            be->relu_backward(s->G, s->G, s->R, (size_t)N * sn);
            batchnorm_dims bd = {N, u->C, S, 0, BN_EPS, BN_MOMENTUM};
            /* writes every channel of dB[b]: the dense layers below accumulate into it */
            be->batchnorm_backward(s->dB[b], gw + u->gamma, gw + u->beta, s->G, s->B[b],
                                   sv->mean, sv->invstd, w + u->gamma, &bd);
            nn_grads_final_from(ctx, u->gamma); /* the unit's [gamma, beta, w] */
        }
        for (int l = k->L - 1; l >= 0; l--) {
            const kd_unit *u = &k->u[b][l];
            const kd_saved *sv = &s->sv[b][l];
            const size_t cnt = (size_t)u->C * S;
            bn_relu(m, be, b, l, s->B[b], s->R, N, S, sn, BN_RECOMPUTE);
            conv2d_dims d = dense_dims(k, b, l, N, T);
            be->conv2d_backward(s->G, gw + u->w, NULL, s->dB[b] + cnt, s->R, w + u->w, &d,
                                s->ws);
            be->relu_backward(s->G, s->G, s->R, prefix_span(N, sn, cnt));
            batchnorm_dims bd = {N, u->C, S, sn, BN_EPS, BN_MOMENTUM};
            /* into R (free again): dB[b] needs +=, the BN backward writes */
            be->batchnorm_backward(s->R, gw + u->gamma, gw + u->beta, s->G, s->B[b], sv->mean,
                                   sv->invstd, w + u->gamma, &bd);
            nn_grads_final_from(ctx, u->gamma);
#pragma omp parallel for schedule(static)
            for (int n = 0; n < N; n++) {
                float *dst = s->dB[b] + (size_t)n * sn;
                const float *src = s->R + (size_t)n * sn;
                for (size_t i = 0; i < cnt; i++)
                    dst[i] += src[i];
            }
        }
    }
    conv2d_dims sd = stem_dims(k, N, T);
    be->conv2d_backward(NULL, gw + k->stem_w, NULL, s->dB[0], s->x, w + k->stem_w, &sd, s->ws);
    nn_grads_final_from(ctx, k->stem_w);
}

static double kd_flops(const nn_model *m, int T)
{
    const kd_impl *k = m->impl;
    double f = 2.0 * k->C0[0] * 9 * k->F0 * T;
    for (int b = 0; b < k->nb; b++) {
        for (int l = 0; l < k->L; l++)
            f += 2.0 * k->g * k->u[b][l].C * 9 * k->Fb[b] * T;
        /* counted as the reference computes it: 1x1 conv at full frequency, then pooling */
        f += 2.0 * k->trans * k->Ct[b] * k->Fb[b] * T;
    }
    f += 2.0 * 2 * 4.0 * k->H * (k->seq_dim + k->H) * T; /* two directions, 4 gates */
    if (k->o.pooling == 0)
        f += 2.0 * k->A * (2 * k->H + 1) * T;
    f += 2.0 * 2 * k->H * k->K;
    return f;
}

static const nn_model_ops kd_ops = {
    .kind = "densenet-bilstm",
    .reserve = kd_reserve,
    .forward = kd_forward,
    .backward = kd_backward,
    .flops_per_sample = kd_flops,
    .destroy = nn_step_impl_destroy,
};

/* ---- streaming entry points (kws_densenet.h) ---- */

int kws_densenet_is(const nn_model *m) { return m && m->ops == &kd_ops; }

int kws_densenet_halo(const nn_model *m)
{
    const kd_impl *k = m->impl;
    return 1 + k->nb * k->L; /* the stem and every dense layer are 3 frames wide; 1x1 convs 1 */
}

int kws_densenet_seq_dim(const nn_model *m)
{
    const kd_impl *k = m->impl;
    return k->seq_dim;
}

ch_status kws_densenet_stream_reserve(nn_model *m, nn_ctx *ctx, int n_windows, int T_window,
                                      int T_chunk, ch_error *err)
{
    kd_impl *k = m->impl;
    if (n_windows < 1 || T_window < 1 || T_chunk < 1)
        return ch_fail(err, CH_ERR_USAGE, "densenet-bilstm: stream reserve for %d x %d, %d",
                       n_windows, T_window, T_chunk);
    const nn_step_cap held = k->mem.cap;
    int th = omp_get_max_threads();
    nn_step_cap cap = {held.N, held.T, th > held.threads ? th : held.threads,
                       n_windows > held.N ? n_windows : held.N};
    /* the arena must hold the head carving of n_windows x T_window, the CNN carving of one
     * T_chunk sequence, and still the full (held.N, held.T) one kd_reserve promised */
    arena p1 = arena_planner(), p2 = arena_planner(), p3 = arena_planner();
    carve_head(k, ctx->be, &p1, n_windows, T_window);
    carve(k, ctx->be, &p2, 1, T_chunk);
    if (held.N > 0)
        carve(k, ctx->be, &p3, held.N, held.T);
    size_t need = max_sz(max_sz(p1.peak, p2.peak), p3.peak);
    if (k->mem.ar.base && k->mem.ar.cap >= need && cap.threads == held.threads &&
        cap.lens <= held.lens)
        return CH_OK;
    k->have_train = 0;
    return nn_step_mem_grow(&k->mem, &kd_layout, need, cap, err);
}

void kws_densenet_cnn_forward(nn_model *m, nn_ctx *ctx, const float *x, int T, float *seq)
{
    kd_impl *k = m->impl;
    const int F0 = k->F0;
    nn_step_mem_begin(&k->mem);
    carve(k, ctx->be, &k->mem.ar, 1, T);
    kd_step *s = &k->s;
    k->have_train = 0;
    for (int t = 0; t < T; t++)
        for (int f = 0; f < F0; f++)
            s->x[(size_t)f * T + t] = x[(size_t)t * F0 + f];
    kd_cnn(m, ctx->be, 1, T, 0);
    memcpy(seq, s->seq, sizeof(float) * (size_t)T * k->seq_dim);
}

void kws_densenet_head_forward(nn_model *m, nn_ctx *ctx, const float *seq, int N, int T,
                               float *out)
{
    kd_impl *k = m->impl;
    nn_step_mem_begin(&k->mem);
    carve_head(k, ctx->be, &k->mem.ar, N, T);
    k->have_train = 0;
    for (int n = 0; n < N; n++)
        k->mem.lens[0][n] = T;
    kd_head(m, ctx->be, seq, N, T, 0, NULL, out);
}

int kws_densenet_gates_dim(const nn_model *m)
{
    const kd_impl *k = m->impl;
    return 8 * k->H;
}

/* Floats of one LSTM direction's parameters: w_ih (4H, In), w_hh (4H, H), b_ih, b_hh. */
static size_t kd_lstm_dir_floats(const kd_impl *k)
{
    return (size_t)4 * k->H * ((size_t)k->seq_dim + k->H + 2);
}

void kws_densenet_input_gates(nn_model *m, const float *seq, int T, float *gx)
{
    const kd_impl *k = m->impl;
    const int In = k->seq_dim, H4 = 4 * k->H;
    for (int dir = 0; dir < 2; dir++) {
        const float *wih = m->p->data + k->lstm_w + dir * kd_lstm_dir_floats(k);
        const float *bih = wih + (size_t)H4 * In + (size_t)H4 * k->H, *bhh = bih + H4;
        float *G = gx + (size_t)dir * H4;
        /* as lstm_forward: x W_ih^T, then + b_ih + b_hh */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, H4, In, 1.0f, seq, In, wih, In,
                    0.0f, G, 2 * H4);
        for (int t = 0; t < T; t++)
            for (int j = 0; j < H4; j++)
                G[(size_t)t * 2 * H4 + j] += bih[j] + bhh[j];
    }
}

void kws_densenet_head_gates_forward(nn_model *m, nn_ctx *ctx, const float *gx, int hop, int N,
                                     int T, float *out)
{
    kd_impl *k = m->impl;
    const int H = k->H, H4 = 4 * H, Dm = 2 * H;
    nn_step_mem_begin(&k->mem);
    carve_head(k, ctx->be, &k->mem.ar, N, T);
    kd_step *s = &k->s;
    k->have_train = 0;
    for (int n = 0; n < N; n++)
        k->mem.lens[0][n] = T;
    /* the saved-gates block is free in eval mode: the step's scratch */
    float *tmp = s->gates, *h = tmp + (size_t)N * H4, *c = h + (size_t)N * H;
    for (int dir = 0; dir < 2; dir++) {
        const float *whh = m->p->data + k->lstm_w + dir * kd_lstm_dir_floats(k) +
                           (size_t)H4 * k->seq_dim;
        memset(h, 0, sizeof(float) * (size_t)N * H);
        memset(c, 0, sizeof(float) * (size_t)N * H);
        for (int st = 0; st < T; st++) {
            int t = dir == 0 ? st : T - 1 - st;
            if (st == 0)
                memset(tmp, 0, sizeof(float) * (size_t)N * H4);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, H4, H, 1.0f, h, H, whh,
                            H, 0.0f, tmp, H4);
            for (int n = 0; n < N; n++) {
                const float *g = gx + ((size_t)n * hop + t) * 2 * H4 + (size_t)dir * H4;
                const float *rt = tmp + (size_t)n * H4;
                float *hr = h + (size_t)n * H, *cr = c + (size_t)n * H;
                float *yr = s->y + ((size_t)n * T + t) * Dm + (size_t)dir * H;
                lstm_cell_step(g, rt, cr, hr, yr, NULL, NULL, H); /* as lstm_forward */
            }
        }
    }
    kd_pool_out(m, ctx->be, N, T, 0, NULL, out);
}

#define MAX_SPECS (1 + MAXB * (MAXL + 1) * 3 + 8 + 3 + 2)

ch_status kws_densenet_create(nn_model *m, const char *lines, rng *init, ch_error *err)
{
    kws_densenet_options o = kws_densenet_options_default();
    opt_group grp = {"densenet-bilstm", kd_opts, OPT_COUNT(kd_opts), &o};
    CH_TRY(nn_hparams_apply("densenet-bilstm", lines, &grp, err));
    if (m->in_bins == 0)
        m->in_bins = 40;
    kd_impl *k = calloc(1, sizeof *k);
    if (!k)
        return ch_fail(err, CH_ERR_NOMEM, "densenet-bilstm: out of memory");
    m->impl = k;
    m->ops = &kd_ops;
    k->o = o;
    k->F0 = m->in_bins;
    k->nb = o.blocks;
    k->L = o.layers;
    k->g = o.growth;
    k->trans = o.transition_channels;
    k->H = o.lstm_hidden;
    k->A = o.attention_dim;
    k->K = m->out_dim;
    k->Fb[0] = k->F0;
    for (int b = 0; b < k->nb; b++) {
        k->Fb[b + 1] = k->Fb[b] / 2;
        if (k->Fb[b + 1] < 1)
            return ch_fail(err, CH_ERR_USAGE, "densenet-bilstm: %d input bins cannot be halved "
                           "by %d blocks", k->F0, k->nb);
        k->C0[b] = b == 0 ? o.stem_channels : k->trans;
        k->Ct[b] = k->C0[b] + k->L * k->g;
    }
    k->seq_dim = k->trans * k->Fb[k->nb];

    /* parameter table: PyTorch's named_parameters() order of bench/kws/ref_model.py */
    static const char *const lstm_names[8] = {
        "lstm.weight_ih_l0",         "lstm.weight_hh_l0",         "lstm.bias_ih_l0",
        "lstm.bias_hh_l0",           "lstm.weight_ih_l0_reverse", "lstm.weight_hh_l0_reverse",
        "lstm.bias_ih_l0_reverse",   "lstm.bias_hh_l0_reverse"};
    param_spec spec[MAX_SPECS];
    char names[MAX_SPECS][PARAM_NAME_MAX];
    char groups[MAXB][16];
    int ns = 0;
    const float ls = 1.0f / sqrtf((float)k->H);
#define SPEC(nm_, grp_, init_, fan_, scale_, nd_, s0_, s1_, s2_, s3_)                          \
    do {                                                                                       \
        snprintf(names[ns], PARAM_NAME_MAX, "%s", nm_);                                        \
        spec[ns] = (param_spec){names[ns], nd_, {s0_, s1_, s2_, s3_}, grp_, init_, fan_, scale_}; \
        ns++;                                                                                  \
    } while (0)
    SPEC("stem.weight", "stem", PARAM_INIT_TORCH_WEIGHT, 0, 0, 4, k->C0[0], 1, 3, 3);
    int seq_idx = 0;
    char nm[PARAM_NAME_MAX];
    for (int b = 0; b < k->nb; b++) {
        snprintf(groups[b], sizeof groups[b], "block%d", b + 1);
        for (int l = 0; l <= k->L; l++, seq_idx++) {
            int C = l < k->L ? k->C0[b] + l * k->g : k->Ct[b];
            int cout = l < k->L ? k->g : k->trans, kk = l < k->L ? 3 : 1;
            k->u[b][l].C = C;
            snprintf(nm, sizeof nm, "blocks.%d.bn.weight", seq_idx);
            SPEC(nm, groups[b], PARAM_INIT_ONES, 0, 0, 1, C, 0, 0, 0);
            snprintf(nm, sizeof nm, "blocks.%d.bn.bias", seq_idx);
            SPEC(nm, groups[b], PARAM_INIT_ZEROS, 0, 0, 1, C, 0, 0, 0);
            snprintf(nm, sizeof nm, "blocks.%d.conv.weight", seq_idx);
            SPEC(nm, groups[b], PARAM_INIT_TORCH_WEIGHT, 0, 0, 4, cout, C, kk, kk);
        }
    }
    const int first_lstm = ns;
    for (int d = 0; d < 2; d++) {
        SPEC(lstm_names[4 * d + 0], "lstm", PARAM_INIT_UNIFORM, 0, ls, 2, 4 * k->H, k->seq_dim,
             0, 0);
        SPEC(lstm_names[4 * d + 1], "lstm", PARAM_INIT_UNIFORM, 0, ls, 2, 4 * k->H, k->H, 0, 0);
        SPEC(lstm_names[4 * d + 2], "lstm", PARAM_INIT_UNIFORM, 0, ls, 1, 4 * k->H, 0, 0, 0);
        SPEC(lstm_names[4 * d + 3], "lstm", PARAM_INIT_UNIFORM, 0, ls, 1, 4 * k->H, 0, 0, 0);
    }
    const int first_att = ns;
    if (o.pooling == 0) {
        SPEC("pool.proj.weight", "attention", PARAM_INIT_TORCH_WEIGHT, 0, 0, 2, k->A, 2 * k->H,
             0, 0);
        SPEC("pool.proj.bias", "attention", PARAM_INIT_TORCH_BIAS, 2 * k->H, 0, 1, k->A, 0, 0,
             0);
        SPEC("pool.v.weight", "attention", PARAM_INIT_TORCH_WEIGHT, 0, 0, 2, 1, k->A, 0, 0);
    }
    const int first_out = ns;
    SPEC("out.weight", "classifier", PARAM_INIT_TORCH_WEIGHT, 0, 0, 2, k->K, 2 * k->H, 0, 0);
    SPEC("out.bias", "classifier", PARAM_INIT_TORCH_BIAS, 2 * k->H, 0, 1, k->K, 0, 0, 0);
#undef SPEC
    CH_TRY(params_create(&m->p, spec, ns, err));
    params_init(m->p, init);

    /* offsets of every unit, buffers for the running statistics */
    const param_view *v = m->p->views;
    k->stem_w = v[0].offset;
    size_t nbuf = 0;
    int vi = 1;
    for (int b = 0; b < k->nb; b++)
        for (int l = 0; l <= k->L; l++) {
            kd_unit *u = &k->u[b][l];
            u->gamma = v[vi].offset;
            u->beta = v[vi + 1].offset;
            u->w = v[vi + 2].offset;
            vi += 3;
            u->rm = nbuf;
            u->rv = nbuf + (size_t)u->C;
            nbuf += 2 * (size_t)u->C;
        }
    k->lstm_w = v[first_lstm].offset;
    k->att_w = o.pooling == 0 ? v[first_att].offset : 0;
    k->out_w = v[first_out].offset;
    k->out_b = v[first_out + 1].offset;
    CH_TRY(nn_model_alloc_buffers(m, nbuf, "densenet-bilstm", err));
    for (int b = 0; b < k->nb; b++)
        for (int l = 0; l <= k->L; l++)
            for (int c = 0; c < k->u[b][l].C; c++)
                m->buffers[k->u[b][l].rv + c] = 1.0f;

    return nn_model_write_hparams(m, &grp, "densenet-bilstm", err);
}
