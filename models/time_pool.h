/* time_pool.h — pooling over time with per-utterance lengths: mean pooling and statistics
 * pooling (mean and standard deviation, x-vector / WeSpeaker TSTP).
 *
 * Input (N, C, T) (channels, then time: the TDNN / ResNet layout), lengths (N) with
 * 1 <= lengths[n] <= T: only frames t < lengths[n] count, padded frames are ignored and get zero
 * gradient. Mean output (N, C). Statistics output (N, 2C) = [mean (C), std (C)] with
 *   std = sqrt(var + eps),  var = sum (x - mean)^2 / (L - unbiased)
 * (WeSpeaker: unbiased = 1, eps = 1e-7 — torch.var's default; SpeechBrain-like: unbiased = 0).
 * With unbiased = 1 and L = 1 the divisor is taken as 1. The backward of the statistics reads
 * the forward output (mean and std), so nothing else is saved. Sums in double, OpenMP over N.
 */
#ifndef CHORUS_TIME_POOL_H
#define CHORUS_TIME_POOL_H

typedef struct {
    int N, C, T;
    float eps;    /* statistics pooling only */
    int unbiased; /* statistics pooling only: 1 = divide by L-1 */
} time_pool_dims;

/* out: (N, C) written; in: (N, C, T); lengths: (N) or NULL for all T. */
void mean_pool_forward(float *out, const float *in, const int *lengths, const time_pool_dims *d);
/* din: (N, C, T) WRITTEN (zero at padded frames); dout: (N, C). */
void mean_pool_backward(float *din, const float *dout, const int *lengths,
                        const time_pool_dims *d);

/* out: (N, 2C) written = [mean, std]; in: (N, C, T); lengths: (N) or NULL. */
void stats_pool_forward(float *out, const float *in, const int *lengths, const time_pool_dims *d);
/* din: (N, C, T) WRITTEN; dout: (N, 2C); out: the forward output; in: the forward input. */
void stats_pool_backward(float *din, const float *dout, const float *out, const float *in,
                         const int *lengths, const time_pool_dims *d);

#endif
