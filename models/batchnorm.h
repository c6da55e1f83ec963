/* batchnorm.h — batch normalisation per channel (torch.nn.BatchNorm1d / BatchNorm2d,
 * affine=True, track_running_stats=True).
 *
 * Layout (N, C, S): S = F*T for 2-d inputs (N, C, F, T), S = T for 1-d inputs (N, C, T); the
 * statistics of channel c run over all N*S values. sn = floats between samples (0 = C*S), so a
 * DenseNet block can normalise a channel prefix of its concatenated buffer in place of a copy.
 *
 * Train: y = (x - mean) * invstd * gamma + beta with the biased batch variance,
 * invstd = 1/sqrt(var + eps); save_mean / save_invstd are kept for backward; running stats are
 * updated as torch does: r = (1 - momentum) r + momentum * batch, the running variance with the
 * unbiased batch variance (divisor N*S - 1). Eval: the running stats instead.
 * Running statistics are buffers, not parameters: a model keeps them in their own views (no
 * gradient, skipped by the optimizer) so checkpoints carry them.
 * Sums in double; OpenMP over channels (deterministic).
 */
#ifndef CHORUS_BATCHNORM_H
#define CHORUS_BATCHNORM_H

#include <stddef.h>

typedef struct {
    int N, C, S;
    size_t sn;      /* floats between samples of input and output; 0 = C*S */
    float eps;      /* torch default 1e-5 */
    float momentum; /* torch default 0.1 */
} batchnorm_dims;

/* out: (N, C, S) written; save_mean, save_invstd: (C) written; running_mean, running_var: (C)
 * updated. in: (N, C, S); gamma, beta: (C). out may equal in (in-place is not allowed for the
 * backward, which needs in). */
void batchnorm_forward_train(float *out, float *save_mean, float *save_invstd,
                             float *running_mean, float *running_var, const float *in,
                             const float *gamma, const float *beta, const batchnorm_dims *d);

/* out: (N, C, S) written with the running statistics; may equal in. */
void batchnorm_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var,
                            const batchnorm_dims *d);

/* Backward of the train-mode forward. din: (N, C, S) WRITTEN or NULL; dgamma, dbeta: (C)
 * ACCUMULATED. dout: (N, C, S); in: the forward input; save_*: what the forward saved. */
void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *save_mean, const float *save_invstd,
                        const float *gamma, const batchnorm_dims *d);

#endif
