/* dropout.c — inverted dropout with an explicit mask (see dropout.h). */
#include "models/dropout.h"

#include <string.h>

void dropout_forward_train(float *out, float *mask, const float *in, size_t n, float p, rng *r)
{
    /* out, mask, in: (n) */
    const float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = (p > 0.0f && rng_uniform(r) < (double)p) ? 0.0f : keep;
        out[i] = in[i] * mask[i];
    }
}

void dropout_forward_eval(float *out, const float *in, size_t n)
{
    /* out, in: (n) */
    if (out != in)
        memcpy(out, in, sizeof(float) * n);
}

void dropout_backward(float *din, const float *dout, const float *mask, size_t n)
{
    /* din, dout, mask: (n) */
    for (size_t i = 0; i < n; i++)
        din[i] = dout[i] * mask[i];
}
