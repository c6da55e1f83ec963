/* dropout.h — inverted dropout (torch.nn.Dropout).
 *
 * Train: mask[i] = 1/(1-p) with probability 1-p, else 0 (drawn from the caller's rng in index
 * order, so a seed fixes it); out = in * mask. The mask is the saved forward output; backward
 * is din = dout * mask. Eval: identity (just use the input, or dropout_forward_eval to copy).
 * p = 0 gives mask = 1 everywhere; p must be < 1.
 */
#ifndef CHORUS_DROPOUT_H
#define CHORUS_DROPOUT_H

#include <stddef.h>

#include "common/rng.h"

/* out, mask: (n) written; in: (n). out may equal in. */
void dropout_forward_train(float *out, float *mask, const float *in, size_t n, float p, rng *r);
/* out: (n) = in (copy; skip the call when out would equal in). */
void dropout_forward_eval(float *out, const float *in, size_t n);
/* din: (n) WRITTEN = dout * mask; may equal dout. */
void dropout_backward(float *din, const float *dout, const float *mask, size_t n);

#endif
