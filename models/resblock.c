/* resblock.c — ResNet basic block (see resblock.h). */
#include "models/resblock.h"

#include <string.h>


void add_relu_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float v = a[i] + b[i];
        out[i] = v > 0.0f ? v : 0.0f;
    }
}

int resblock_has_proj(const resblock_dims *d) { return d->stride != 1 || d->Cin != d->Cout; }
int resblock_out_f(const resblock_dims *d) { return (d->F - 1) / d->stride + 1; }
int resblock_out_t(const resblock_dims *d) { return (d->T - 1) / d->stride + 1; }

size_t resblock_out_floats(const resblock_dims *d)
{
    return (size_t)d->N * d->Cout * resblock_out_f(d) * resblock_out_t(d);
}

static conv2d_dims conv1_dims(const resblock_dims *d)
{
    return (conv2d_dims){.N = d->N, .Cin = d->Cin, .F = d->F, .T = d->T, .Cout = d->Cout,
                         .kF = 3, .kT = 3, .sF = d->stride, .sT = d->stride, .pF = 1, .pT = 1,
                         .dF = 1, .dT = 1};
}

static conv2d_dims conv2_dims(const resblock_dims *d)
{
    return (conv2d_dims){.N = d->N, .Cin = d->Cout, .F = resblock_out_f(d),
                         .T = resblock_out_t(d), .Cout = d->Cout, .kF = 3, .kT = 3, .sF = 1,
                         .sT = 1, .pF = 1, .pT = 1, .dF = 1, .dT = 1};
}

static conv2d_dims proj_dims(const resblock_dims *d)
{
    return (conv2d_dims){.N = d->N, .Cin = d->Cin, .F = d->F, .T = d->T, .Cout = d->Cout,
                         .kF = 1, .kT = 1, .sF = d->stride, .sT = d->stride, .pF = 0, .pT = 0,
                         .dF = 1, .dT = 1};
}

static batchnorm_dims bn_dims(const resblock_dims *d)
{
    return (batchnorm_dims){.N = d->N, .C = d->Cout,
                            .S = resblock_out_f(d) * resblock_out_t(d), .sn = 0, .eps = d->eps,
                            .momentum = d->momentum};
}

size_t resblock_scratch_floats(const resblock_dims *d)
{
    return 3 * resblock_out_floats(d) + (size_t)d->N * d->Cin * d->F * d->T;
}

size_t resblock_workspace_floats(const nn_backend *be, const resblock_dims *d)
{
    conv2d_dims c1 = conv1_dims(d), c2 = conv2_dims(d), cp = proj_dims(d);
    size_t a = be->conv2d_workspace_floats(&c1), b = be->conv2d_workspace_floats(&c2);
    size_t c = be->conv2d_workspace_floats(&cp);
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

void resblock_forward(float *out, const resblock_saved *s, resblock_running *rs, const float *in,
                      const resblock_weights *w, const resblock_dims *d, const int *lengths_out,
                      int train, const nn_backend *be, float *scratch, float *ws)
{
    /* in: (N, Cin, F, T); out: (N, Cout, Fo, To) */
    conv2d_dims c1 = conv1_dims(d), c2 = conv2_dims(d), cp = proj_dims(d);
    batchnorm_dims bd = bn_dims(d);
    const size_t no = resblock_out_floats(d);
    const int R = d->Cout * resblock_out_f(d), To = resblock_out_t(d);
    float *z2 = scratch, *zp = scratch + no;

    be->conv2d_forward(s->y1, in, w->w1, NULL, &c1, ws);
    if (train)
        be->batchnorm_forward_train(s->a1, s->mean1, s->invstd1, rs->rm1, rs->rv1, s->y1, w->g1,
                                    w->b1, &bd);
    else
        be->batchnorm_forward_eval(s->a1, s->y1, w->g1, w->b1, rs->rm1, rs->rv1, &bd);
    be->relu_forward(s->a1, s->a1, no);
    be->time_mask(s->a1, lengths_out, d->N, R, To);

    be->conv2d_forward(s->y2, s->a1, w->w2, NULL, &c2, ws);
    if (train)
        be->batchnorm_forward_train(z2, s->mean2, s->invstd2, rs->rm2, rs->rv2, s->y2, w->g2,
                                    w->b2, &bd);
    else
        be->batchnorm_forward_eval(z2, s->y2, w->g2, w->b2, rs->rm2, rs->rv2, &bd);

    const float *sc = in;
    if (resblock_has_proj(d)) {
        be->conv2d_forward(s->yp, in, w->wp, NULL, &cp, ws);
        if (train)
            be->batchnorm_forward_train(zp, s->meanp, s->invstdp, rs->rmp, rs->rvp, s->yp,
                                        w->gp, w->bp, &bd);
        else
            be->batchnorm_forward_eval(zp, s->yp, w->gp, w->bp, rs->rmp, rs->rvp, &bd);
        sc = zp;
    }
    be->add_relu_forward(out, z2, sc, no);
    be->time_mask(out, lengths_out, d->N, R, To);
}

void resblock_backward(float *din, const resblock_grads *g, const float *dout, const float *out,
                       const resblock_saved *s, const float *in, const resblock_weights *w,
                       const resblock_dims *d, const nn_backend *be, float *scratch, float *ws)
{
    conv2d_dims c1 = conv1_dims(d), c2 = conv2_dims(d), cp = proj_dims(d);
    batchnorm_dims bd = bn_dims(d);
    const size_t no = resblock_out_floats(d), ni = (size_t)d->N * d->Cin * d->F * d->T;
    float *dz = scratch, *t2 = scratch + no, *t3 = scratch + 2 * no, *t4 = scratch + 3 * no;

    /* d(z2 + sc) = dout where out > 0 (masked frames have out = 0: zero gradient) */
    be->relu_backward(dz, dout, out, no);

    /* shortcut branch first: it writes din */
    if (resblock_has_proj(d)) {
        be->batchnorm_backward(t2, g->gp, g->bp, dz, s->yp, s->meanp, s->invstdp, w->gp, &bd);
        be->conv2d_backward(din, g->wp, NULL, t2, in, w->wp, &cp, ws);
    } else if (din) {
        memcpy(din, dz, sizeof(float) * no);
    }

    /* main branch */
    be->batchnorm_backward(t2, g->g2, g->b2, dz, s->y2, s->mean2, s->invstd2, w->g2, &bd);
    be->conv2d_backward(t3, g->w2, NULL, t2, s->a1, w->w2, &c2, ws);
    be->relu_backward(t3, t3, s->a1, no);
    be->batchnorm_backward(t2, g->g1, g->b1, t3, s->y1, s->mean1, s->invstd1, w->g1, &bd);
    be->conv2d_backward(din ? t4 : NULL, g->w1, NULL, t2, in, w->w1, &c1, ws);
    if (din) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < ni; i++)
            din[i] += t4[i];
    }
}
