/* concat.h — concatenation along channels (torch.cat(dim=1)) of k tensors (N, C_i, S) into
 * (N, sum C_i, S), and its backward (the split).
 *
 * DenseNet without copies: rather than concatenating after every layer, a dense block owns one
 * buffer (N, C0 + L*g, S); layer l reads the channel prefix [0, C0 + l*g) through the sample
 * stride of batchnorm_dims.sn / conv2d_dims.in_sn and its convolution writes its g channels at
 * offset C0 + l*g via conv2d_dims.out_sn; gradients flow the same way into one gradient buffer
 * (accumulate the prefix gradients with concat_add_prefix). These two functions are for the
 * remaining cases (and the tests).
 */
#ifndef CHORUS_CONCAT_H
#define CHORUS_CONCAT_H

#include <stddef.h>

/* out: (N, sum C, S) written; ins[i]: (N, C[i], S), i < k. */
void concat_forward(float *out, const float *const *ins, const int *C, int k, int N, int S);

/* dins[i]: (N, C[i], S) WRITTEN (NULL entries skipped); dout: (N, sum C, S). */
void concat_backward(float *const *dins, const float *dout, const int *C, int k, int N, int S);

/* dst: (N, Cd, S) += the first Cd channels of src: (N, Cs, S), Cd <= Cs — the gradient of a
 * channel-prefix view added back into its own gradient buffer. */
void concat_add_prefix(float *dst, int Cd, const float *src, int Cs, int N, int S);

#endif
