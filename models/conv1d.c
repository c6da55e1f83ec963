/* conv1d.c — 1-d convolution as a conv2d with a frequency axis of size 1 (see conv1d.h). */
#include "models/conv1d.h"

#include "models/conv2d.h"

static conv2d_dims as_2d(const conv1d_dims *d)
{
    conv2d_dims c = {.N = d->N, .Cin = d->Cin, .F = 1, .T = d->T, .Cout = d->Cout, .kF = 1,
                     .kT = d->k, .sF = 1, .sT = d->stride, .pF = 0, .pT = d->pad, .dF = 1,
                     .dT = d->dil};
    return c;
}

int conv1d_out_t(const conv1d_dims *d)
{
    conv2d_dims c = as_2d(d);
    return conv2d_out_t(&c);
}

size_t conv1d_workspace_floats(const conv1d_dims *d)
{
    conv2d_dims c = as_2d(d);
    return conv2d_workspace_floats(&c);
}

void conv1d_forward(float *out, const float *in, const float *w, const float *b,
                    const conv1d_dims *d, float *ws)
{
    /* out: (N, Cout, To); in: (N, Cin, T); w: (Cout, Cin, k) */
    conv2d_dims c = as_2d(d);
    conv2d_forward(out, in, w, b, &c, ws);
}

void conv1d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const conv1d_dims *d, float *ws)
{
    /* din: (N, Cin, T); dw: (Cout, Cin, k); dout: (N, Cout, To) */
    conv2d_dims c = as_2d(d);
    conv2d_backward(din, dw, db, dout, in, w, &c, ws);
}
