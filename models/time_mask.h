/* time_mask.h — zeroing the padded frames of a batch of variable-length sequences, and the
 * lengths after a strided layer.
 *
 * Why: a convolution over time near a sequence's end reads the frames after it. In the input
 * those are zero, but after a conv + batch norm they are not, so without masking an
 * utterance's embedding would depend on how much padding its batch had. The speaker models
 * zero the padded frames of every activation that feeds a kernel wider than 1 in time; then
 * in eval mode sample n's output equals the output of running it alone, unpadded (zero padding
 * is what the convolution would read there anyway). The backward of the mask is the same mask
 * on the gradient.
 */
#ifndef CHORUS_TIME_MASK_H
#define CHORUS_TIME_MASK_H

/* x: (N, R, T), R rows of T frames per sample (R = C for (N, C, T), C * F for (N, C, F, T)):
 * x[n, r, t] = 0 for t >= lengths[n]. lengths NULL: no-op. OpenMP over N. */
void time_mask(float *x, const int *lengths, int N, int R, int T);

/* out[n] = lengths after a conv with kernel k, stride s, padding p, dilation 1 applied with
 * zero padding to a sequence of in[n] frames: (L + 2p - k) / s + 1 (>= 1). */
void time_lengths_conv(int *out, const int *in, int N, int k, int s, int p);

#endif
