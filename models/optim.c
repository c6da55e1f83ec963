/* optim.c — SGD / AdamW updates and global-norm clipping on flat ranges (see optim.h).
 * Element-wise and independent per element, so OpenMP over elements is deterministic; the
 * clipping norm is reduced in double in a fixed order (per-range, serial). */
#include "models/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

optim_options optim_options_sgd(double lr)
{
    optim_options o = {OPTIM_SGD, lr, 0.0, 0.0, 0.0, 0, 0.9, 0.999, 1e-8};
    return o;
}

optim_options optim_options_adamw(double lr)
{
    optim_options o = {OPTIM_ADAMW, lr, 0.01, 0.0, 0.0, 0, 0.9, 0.999, 1e-8};
    return o;
}

ch_status optim_state_init(optim_state *st, const optim_options *o, size_t n, ch_error *err)
{
    memset(st, 0, sizeof(*st));
    if (o->kind == OPTIM_SGD && o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        return ch_fail(err, CH_ERR_USAGE,
                       "optim: Nesterov momentum requires a momentum and zero dampening");
    if (o->kind == OPTIM_ADAMW && (o->beta1 < 0 || o->beta1 >= 1 || o->beta2 < 0 ||
                                   o->beta2 >= 1 || o->eps < 0))
        return ch_fail(err, CH_ERR_USAGE, "optim: invalid AdamW betas/eps");
    st->kind = o->kind;
    st->n = n;
    st->n_moments = o->kind == OPTIM_ADAMW ? 2 : (o->momentum != 0 ? 1 : 0);
    for (int k = 0; k < st->n_moments; k++) {
        st->moment[k] = ch_calloc(err, n ? n : 1, sizeof(float), "optim: moments");
        if (!st->moment[k]) {
            optim_state_free(st);
            return CH_ERR_NOMEM;
        }
    }
    return CH_OK;
}

void optim_state_free(optim_state *st)
{
    if (!st)
        return;
    for (int k = 0; k < 2; k++) {
        free(st->moment[k]);
        st->moment[k] = NULL;
    }
    st->n_moments = 0;
}

static void sgd_range(float *p, float *buf, const float *g, size_t n, const optim_options *o,
                      float lr, int first)
{
    const float wd = (float)o->weight_decay, mom = (float)o->momentum;
    const float damp = 1.0f - (float)o->dampening;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0.0f)
            d += wd * p[i];
        if (buf) {
            float b = first ? d : mom * buf[i] + damp * d;
            buf[i] = b;
            d = o->nesterov ? d + mom * b : b;
        }
        p[i] -= lr * d;
    }
}

static void adamw_range(float *p, float *m, float *v, const float *g, size_t n,
                        const optim_options *o, float lr, int64_t step)
{
    /* torch computes the bias corrections in Python floats (double), then uses them as floats */
    const double bc1 = 1.0 - pow(o->beta1, (double)step);
    const double bc2 = 1.0 - pow(o->beta2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - (double)lr * o->weight_decay);
    const float b1c = (float)(1.0 - o->beta1), b2 = (float)o->beta2, b2c = (float)(1.0 - o->beta2);
    const float eps = (float)o->eps;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float pi = p[i] * decay;
        float mi = m[i] + b1c * (gi - m[i]);
        float vi = b2 * v[i] + b2c * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi - step_size * (mi / denom);
    }
}

void optim_step(float *param, optim_state *st, const float *grad, const optim_range *ranges,
                int n_ranges, const optim_options *o, double lr)
{
    st->step++;
    for (int r = 0; r < n_ranges; r++) {
        const optim_range *rg = &ranges[r];
        if (rg->frozen || rg->count == 0)
            continue;
        size_t off = rg->offset;
        float lr_r = (float)(lr * rg->lr_scale);
        if (st->kind == OPTIM_ADAMW)
            adamw_range(param + off, st->moment[0] + off, st->moment[1] + off, grad + off,
                        rg->count, o, lr_r, st->step);
        else
            sgd_range(param + off, st->n_moments ? st->moment[0] + off : NULL, grad + off,
                      rg->count, o, lr_r, st->step == 1);
    }
}

double optim_clip_grad_norm(float *grad, const optim_range *ranges, int n_ranges,
                            double max_norm)
{
    double sq = 0.0;
    for (int r = 0; r < n_ranges; r++) {
        if (ranges[r].frozen)
            continue;
        const float *g = grad + ranges[r].offset;
        for (size_t i = 0; i < ranges[r].count; i++)
            sq += (double)g[i] * g[i];
    }
    double total = sqrt(sq);
    double coef = max_norm / (total + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        for (int r = 0; r < n_ranges; r++) {
            if (ranges[r].frozen)
                continue;
            float *g = grad + ranges[r].offset;
            for (size_t i = 0; i < ranges[r].count; i++)
                g[i] *= c;
        }
    }
    return total;
}
