/* conv1d.cu — 1-d convolution on the device: conv2d with F = 1 and kF = 1, exactly as the CPU
 * layer does (see conv1d.h), so it shares conv2d.cu's cuDNN plans. */
#include "models/cuda_util.cuh"

static conv2d_dims as_2d(const conv1d_dims *d)
{
    conv2d_dims e = {};
    e.N = d->N;
    e.Cin = d->Cin;
    e.F = 1;
    e.T = d->T;
    e.Cout = d->Cout;
    e.kF = 1;
    e.kT = d->k;
    e.sF = 1;
    e.sT = d->stride;
    e.pF = 0;
    e.pT = d->pad;
    e.dF = 1;
    e.dT = d->dil;
    return e;
}

extern "C" size_t conv1d_workspace_floats_cuda(const conv1d_dims *d)
{
    conv2d_dims e = as_2d(d);
    return conv2d_workspace_floats_cuda(&e);
}

extern "C" void conv1d_forward_cuda(float *out, const float *in, const float *w, const float *b,
                                    const conv1d_dims *d, float *ws)
{
    conv2d_dims e = as_2d(d);
    conv2d_forward_cuda(out, in, w, b, &e, ws);
}

extern "C" void conv1d_backward_cuda(float *din, float *dw, float *db, const float *dout,
                                     const float *in, const float *w, const conv1d_dims *d,
                                     float *ws)
{
    conv2d_dims e = as_2d(d);
    conv2d_backward_cuda(din, dw, db, dout, in, w, &e, ws);
}
