/* relu.h — rectified linear unit, element-wise. In-place allowed (out == in, din == dout): the
 * backward needs only the forward OUTPUT (out > 0 <=> in > 0). */
#ifndef CHORUS_RELU_H
#define CHORUS_RELU_H

#include <stddef.h>

/* out: (n) = max(in, 0); in: (n). */
void relu_forward(float *out, const float *in, size_t n);
/* din: (n) WRITTEN = dout where out > 0, else 0; dout, out: (n). */
void relu_backward(float *din, const float *dout, const float *out, size_t n);

#endif
