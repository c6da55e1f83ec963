/* resblock.h — the ResNet basic block (He et al. 2016; torchvision / WeSpeaker BasicBlock) as
 * one composite layer over (frequency, time):
 *
 *   a1  = mask(relu(bn1(conv3x3_s(in))))          conv1: Cin -> Cout, stride s, pad 1, no bias
 *   z2  = bn2(conv3x3(a1))                        conv2: Cout -> Cout, pad 1, no bias
 *   sc  = bnp(conv1x1_s(in))  when s != 1 or Cin != Cout (projection), else in
 *   out = mask(relu(z2 + sc))
 *
 * in (N, Cin, F, T), out (N, Cout, Fo, To) with Fo = (F - 1) / s + 1, To = (T - 1) / s + 1.
 * mask zeroes frames t >= lengths_out[n] (models/time_mask.h; NULL = no masking), so a block
 * fed a masked input gives each sample the output it would get alone. Because the mask comes
 * right after a ReLU and the backward reads the masked outputs, the ReLU backward (out > 0)
 * already zeroes the gradient there: no separate backward mask.
 *
 * Every operation goes through the backend table (be), including the mask (be->time_mask) and
 * the residual add + ReLU (be->add_relu_forward, below). Weights are PyTorch's layouts and
 * names: conv1.weight, bn1.{weight,bias}, conv2.weight, bn2.{weight,bias},
 * shortcut.0.weight, shortcut.1.{weight,bias}.
 */
#ifndef CHORUS_RESBLOCK_H
#define CHORUS_RESBLOCK_H

#include <stddef.h>

#include "models/backend.h"

typedef struct {
    int N, Cin, Cout, F, T; /* input (N, Cin, F, T) */
    int stride;             /* on both axes, >= 1 */
    float eps, momentum;    /* batch norm (torch: 1e-5, 0.1) */
} resblock_dims;

typedef struct {            /* PyTorch layouts; the p* are NULL without projection */
    const float *w1, *g1, *b1; /* conv1 (Cout, Cin, 3, 3), bn1 (Cout) */
    const float *w2, *g2, *b2; /* conv2 (Cout, Cout, 3, 3), bn2 (Cout) */
    const float *wp, *gp, *bp; /* projection (Cout, Cin, 1, 1), its bn (Cout) */
} resblock_weights;

typedef struct {            /* gradients, ACCUMULATED; same shapes as resblock_weights */
    float *w1, *g1, *b1, *w2, *g2, *b2, *wp, *gp, *bp;
} resblock_grads;

typedef struct {            /* batch-norm running statistics (Cout each), updated in training */
    float *rm1, *rv1, *rm2, *rv2, *rmp, *rvp;
} resblock_running;

typedef struct {            /* forward values kept for backward; (N, Cout, Fo, To) unless noted */
    float *y1;              /* conv1 output */
    float *a1;              /* masked relu(bn1(y1)) */
    float *y2;              /* conv2 output */
    float *yp;              /* projection conv output (NULL without projection) */
    float *mean1, *invstd1, *mean2, *invstd2, *meanp, *invstdp; /* (Cout) batch statistics */
} resblock_saved;

/* out: (n) = max(a + b, 0), element-wise (the block's residual add; out may equal a or b).
 * The backward is relu_backward on out, feeding both branches. */
void add_relu_forward(float *out, const float *a, const float *b, size_t n);

/* 1 when the block has a projection shortcut (stride != 1 or Cin != Cout). */
int resblock_has_proj(const resblock_dims *d);
int resblock_out_f(const resblock_dims *d);
int resblock_out_t(const resblock_dims *d);
/* N * Cout * Fo * To. */
size_t resblock_out_floats(const resblock_dims *d);
/* Scratch (3 outputs + 1 input) and convolution workspace (the backend's largest) needed by
 * both forward and backward. */
size_t resblock_scratch_floats(const resblock_dims *d);
size_t resblock_workspace_floats(const nn_backend *be, const resblock_dims *d);

/* out: (N, Cout, Fo, To) written; s: filled (its buffers are also the eval-mode temporaries);
 * rs: updated when train; in: (N, Cin, F, T); lengths_out: (N) valid output frames or NULL. */
void resblock_forward(float *out, const resblock_saved *s, resblock_running *rs, const float *in,
                      const resblock_weights *w, const resblock_dims *d, const int *lengths_out,
                      int train, const nn_backend *be, float *scratch, float *ws);

/* Backward of a train-mode forward. din: (N, Cin, F, T) WRITTEN or NULL; g ACCUMULATED;
 * dout: (N, Cout, Fo, To); out, s, in: as the forward left them. */
void resblock_backward(float *din, const resblock_grads *g, const float *dout, const float *out,
                       const resblock_saved *s, const float *in, const resblock_weights *w,
                       const resblock_dims *d, const nn_backend *be, float *scratch, float *ws);

#endif
