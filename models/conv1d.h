/* conv1d.h — 1-d convolution over time (the TDNN layer; torch.nn.Conv1d with groups=1).
 *
 * Input (N, Cin, T), weight (Cout, Cin, k), bias (Cout) or NULL, output (N, Cout, To) with
 * To = (T + 2 pad - dil (k - 1) - 1) / stride + 1. Implemented as conv2d with F = 1 and kF = 1
 * (the memory layouts coincide), so it shares conv2d's workspace and threading contract.
 */
#ifndef CHORUS_CONV1D_H
#define CHORUS_CONV1D_H

#include <stddef.h>

typedef struct {
    int N, Cin, T, Cout;
    int k, stride, pad, dil; /* stride, dil >= 1 */
} conv1d_dims;

int conv1d_out_t(const conv1d_dims *d);
size_t conv1d_workspace_floats(const conv1d_dims *d);

/* out: (N, Cout, To) written. in: (N, Cin, T); w: (Cout, Cin, k); b: (Cout) or NULL. */
void conv1d_forward(float *out, const float *in, const float *w, const float *b,
                    const conv1d_dims *d, float *ws);

/* din: (N, Cin, T) WRITTEN or NULL; dw (Cout, Cin, k), db (Cout) or NULL ACCUMULATED. */
void conv1d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const conv1d_dims *d, float *ws);

#endif
