/* optim.h — SGD (momentum, Nesterov, weight decay) and AdamW on flat float arrays, with
 * torch.optim semantics, plus gradient clipping by global L2 norm (clip_grad_norm_).
 *
 * Parameters, gradients and moments are flat arrays mirroring the model's parameter buffer.
 * An update walks a list of (offset, count) ranges, each with its own lr scale and a freeze
 * flag (a frozen range is skipped entirely, like a torch parameter whose grad is None).
 *
 * Exact semantics (torch 2.x, single-tensor implementation):
 *   SGD:   d = g + wd*p; if momentum: buf = (first step) ? d : momentum*buf + (1-dampening)*d;
 *          d = nesterov ? d + momentum*buf : buf;  p -= lr*d
 *   AdamW: p *= 1 - lr*wd;  m = m + (1-b1)*(g - m);  v = b2*v + (1-b2)*g*g;
 *          p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * with lr = base lr * range lr_scale and t the optimizer's step count (one per optim_step call,
 * shared by all ranges; torch counts per parameter, which is the same unless a range is frozen
 * for some steps and then unfrozen).
 *
 * State (step count + moment buffers) is owned by optim_state (optim_state_init/_free) and is
 * serialised by the training-state checkpoint as plain arrays (see checkpoint.h).
 */
#ifndef CHORUS_OPTIM_H
#define CHORUS_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef enum { OPTIM_SGD = 0, OPTIM_ADAMW = 1 } optim_kind;

typedef struct {
    optim_kind kind;
    double lr;
    double weight_decay; /* SGD: L2 added to the gradient; AdamW: decoupled */
    double momentum;     /* SGD */
    double dampening;    /* SGD */
    int nesterov;        /* SGD (requires momentum > 0 and dampening 0, as torch) */
    double beta1, beta2, eps; /* AdamW */
} optim_options;

/* torch defaults: SGD (momentum 0, dampening 0, no Nesterov, wd 0); AdamW (0.9, 0.999, 1e-8,
 * wd 0.01). lr must still be set by the caller. */
optim_options optim_options_sgd(double lr);
optim_options optim_options_adamw(double lr);

typedef struct {
    size_t offset, count;
    float lr_scale; /* multiplies the base lr for this range */
    int frozen;     /* 1: not updated, its moments untouched */
} optim_range;

typedef struct {
    optim_kind kind;
    int64_t step;   /* optim_step calls so far */
    size_t n;       /* floats per moment buffer (= parameter count) */
    int n_moments;  /* SGD with momentum: 1 (buf); SGD without: 0; AdamW: 2 (m, v) */
    float *moment[2];
} optim_state;

/* Allocates zeroed moment buffers for n parameters; st is owned by the caller and released with
 * optim_state_free. CH_ERR_USAGE for inconsistent options (Nesterov without momentum...). */
ch_status optim_state_init(optim_state *st, const optim_options *o, size_t n, ch_error *err);
void optim_state_free(optim_state *st);

/* One update of param over the given ranges with gradient grad (read only), using and updating
 * st. lr is the base lr for this step (from a schedule); o->lr is ignored. */
void optim_step(float *param, optim_state *st, const float *grad, const optim_range *ranges,
                int n_ranges, const optim_options *o, double lr);

/* torch.nn.utils.clip_grad_norm_(max_norm, norm_type=2): total = L2 norm of grad over the ranges
 * (accumulated in double); if total > max_norm, every element is multiplied by
 * max_norm / (total + 1e-6) (torch multiplies by min(1, that), identical when below).
 * Returns the total norm before clipping. Frozen ranges are ignored. */
double optim_clip_grad_norm(float *grad, const optim_range *ranges, int n_ranges,
                            double max_norm);

#endif
