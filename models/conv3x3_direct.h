/* conv3x3_direct.h — direct (im2col-free) 3x3 convolution, stride 1, padding 1, dilation 1,
 * one sample at a time: the fast path conv2d.c takes for exactly that shape (DenseNet dense
 * layers, ResNet blocks). Internal to conv2d.c; the public interface stays models/conv2d.h.
 *
 * Why: with few output channels (a DenseNet's growth of 12) im2col + sgemm is bound by memory
 * traffic — the 9x-expanded column matrix is written, packed and read again while each of its
 * elements feeds only Cout multiply-adds. The direct kernel keeps one register of frames for
 * each of up to 12 output channels and streams a zero-padded copy of the input plane (1x, not
 * 9x) through L1: per input vector load, 12 FMAs. The input gradient is the same kernel on the
 * padded output gradient with the weights transposed and flipped; the weight gradient reduces
 * 3 output channels x 9 taps per pass in registers. One core of the dev machine (AVX-512),
 * 60 -> 12 channels on 40 x 98: forward ~75 GFLOP/s, backward ~50 (im2col + OpenBLAS: ~25).
 *
 * Layouts as conv2d.h: x (Cin, F, T), w (Cout, Cin, 3, 3), y (Cout, F, T), all for one sample.
 * Scratch: conv3x3_direct_floats(d) floats (per thread), 64-byte aligned by the caller or not.
 * Summation order differs from im2col + sgemm (floats: ~1e-7 relative), deterministic.
 */
#ifndef CHORUS_CONV3X3_DIRECT_H
#define CHORUS_CONV3X3_DIRECT_H

#include <stddef.h>

#include "models/conv2d.h"

/* 1 if d is a 3x3, stride 1, padding 1, dilation 1 convolution. */
int conv3x3_direct_ok(const conv2d_dims *d);
/* Scratch floats for one sample's forward or backward. */
size_t conv3x3_direct_floats(const conv2d_dims *d);

/* y (Cout, F, T) written = conv(x) + b (b may be NULL). */
void conv3x3_direct_forward(float *y, const float *x, const float *w, const float *b,
                            const conv2d_dims *d, float *scratch);
/* Eval-mode BN -> ReLU -> conv fused, over a batch: out (N, Cout, F, T) written =
 * conv3x3(relu(in * scale[c] + shift[c])) + b (b may be NULL). The affine and the ReLU are
 * applied while making the padded copy the kernel needs anyway, so the BN and ReLU passes (and
 * their output buffer) disappear. d must satisfy conv3x3_direct_ok (in_sn / out_sn honoured);
 * ws: conv2d_workspace_floats(d) floats (sized for omp_get_max_threads()). OpenMP over N. */
void conv2d_bnrelu_forward(float *out, const float *in, const float *scale, const float *shift,
                           const float *w, const float *b, const conv2d_dims *d, float *ws);

/* dw (Cout, Cin, 3, 3) ACCUMULATED; dx (Cin, F, T) WRITTEN when not NULL. g: (Cout, F, T). */
void conv3x3_direct_backward(float *dx, float *dw, const float *g, const float *x,
                             const float *w, const conv2d_dims *d, float *scratch);

#endif
