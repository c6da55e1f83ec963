/* conv2d.h — 2-d convolution (cross-correlation, like torch.nn.Conv2d with groups=1), forward and
 * backward on the CPU.
 *
 * Layout as PyTorch: input (N, Cin, F, T) with frequency as height and time as width, weight
 * (Cout, Cin, kF, kT), bias (Cout) or NULL, output (N, Cout, Fo, To) with
 *   Fo = (F + 2 pF - dF (kF - 1) - 1) / sF + 1   (same for To)
 * Zero padding, per-axis stride and dilation.
 *
 * Sample strides: in_sn / out_sn give the distance in floats between samples n and n+1 of the
 * input / output (0 = packed: Cin*F*T / Cout*Fo*To). They let a DenseNet block run without
 * copies: the block owns one (N, Ctot, F, T) buffer; layer l reads its first C0 + l*g channels
 * (in_sn = Ctot*F*T) and writes its g new channels straight at channel offset C0 + l*g
 * (out = buf + (C0 + l*g)*F*T, out_sn = Ctot*F*T). See models/concat.h.
 *
 * Method: per sample, im2col into the workspace (skipped for 1x1, stride 1, no padding) and one
 * cblas_sgemm; OpenMP over the batch, each thread with its own slice of workspace. Backward
 * keeps per-thread partial dW/db over a static split of the batch and sums them in thread order,
 * so results are deterministic for a given thread count. Workspace is sized for
 * omp_get_max_threads() at the time conv2d_workspace_floats is called: do not raise the thread
 * count between sizing and calling.
 */
#ifndef CHORUS_CONV2D_H
#define CHORUS_CONV2D_H

#include <stddef.h>

typedef struct {
    int N, Cin, F, T;   /* input */
    int Cout;           /* output channels */
    int kF, kT;         /* kernel */
    int sF, sT;         /* stride (>= 1) */
    int pF, pT;         /* zero padding on both sides */
    int dF, dT;         /* dilation (>= 1) */
    size_t in_sn;       /* floats between input samples; 0 = Cin*F*T */
    size_t out_sn;      /* floats between output samples; 0 = Cout*Fo*To */
} conv2d_dims;

/* Output height (frequency) and width (time). */
int conv2d_out_f(const conv2d_dims *d);
int conv2d_out_t(const conv2d_dims *d);
/* Floats of output (N*Cout*Fo*To, packed), of the weight and of the workspace needed by both
 * conv2d_forward and conv2d_backward. */
size_t conv2d_out_floats(const conv2d_dims *d);
size_t conv2d_weight_floats(const conv2d_dims *d);
size_t conv2d_workspace_floats(const conv2d_dims *d);
/* Forward FLOPs (2 * multiply-adds), for speed reports. */
double conv2d_flops(const conv2d_dims *d);

/* out: (N, Cout, Fo, To) written. in: (N, Cin, F, T); w: (Cout, Cin, kF, kT); b: (Cout) or NULL. */
void conv2d_forward(float *out, const float *in, const float *w, const float *b,
                    const conv2d_dims *d, float *ws);

/* din: (N, Cin, F, T) WRITTEN (=), or NULL when not needed; dw: (Cout, Cin, kF, kT) and
 * db: (Cout) ACCUMULATED (+=), db may be NULL. dout: (N, Cout, Fo, To); in, w as in forward. */
void conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const conv2d_dims *d, float *ws);

#endif
