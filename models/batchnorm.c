/* batchnorm.c — batch normalisation forward (train, eval) and backward on the CPU
 * (see batchnorm.h). */
#include "models/batchnorm.h"

#include <math.h>

static size_t sample_stride(const batchnorm_dims *d)
{
    return d->sn ? d->sn : (size_t)d->C * d->S;
}

void batchnorm_forward_train(float *out, float *save_mean, float *save_invstd,
                             float *running_mean, float *running_var, const float *in,
                             const float *gamma, const float *beta, const batchnorm_dims *d)
{
    /* out, in: (N, C, S); save_*, running_*, gamma, beta: (C) */
    const size_t sn = sample_stride(d);
    const double m = (double)d->N * d->S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < d->C; c++) {
        double s = 0.0;
        for (int n = 0; n < d->N; n++) {
            const float *x = in + n * sn + (size_t)c * d->S;
            for (int i = 0; i < d->S; i++)
                s += x[i];
        }
        double mean = s / m, ss = 0.0;
        for (int n = 0; n < d->N; n++) {
            const float *x = in + n * sn + (size_t)c * d->S;
            for (int i = 0; i < d->S; i++) {
                double v = x[i] - mean;
                ss += v * v;
            }
        }
        double var = ss / m;
        double invstd = 1.0 / sqrt(var + d->eps);
        save_mean[c] = (float)mean;
        save_invstd[c] = (float)invstd;
        double unbiased = m > 1 ? ss / (m - 1) : var;
        running_mean[c] = (float)((1.0 - d->momentum) * running_mean[c] + d->momentum * mean);
        running_var[c] = (float)((1.0 - d->momentum) * running_var[c] + d->momentum * unbiased);
        float scale = (float)(invstd * gamma[c]), shift = (float)(beta[c] - mean * invstd * gamma[c]);
        for (int n = 0; n < d->N; n++) {
            const float *x = in + n * sn + (size_t)c * d->S;
            float *y = out + n * sn + (size_t)c * d->S;
            for (int i = 0; i < d->S; i++)
                y[i] = x[i] * scale + shift;
        }
    }
}

void batchnorm_forward_eval(float *out, const float *in, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var,
                            const batchnorm_dims *d)
{
    /* out, in: (N, C, S) */
    const size_t sn = sample_stride(d);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < d->C; c++) {
        double invstd = 1.0 / sqrt((double)running_var[c] + d->eps);
        float scale = (float)(invstd * gamma[c]);
        float shift = (float)(beta[c] - running_mean[c] * invstd * gamma[c]);
        for (int n = 0; n < d->N; n++) {
            const float *x = in + n * sn + (size_t)c * d->S;
            float *y = out + n * sn + (size_t)c * d->S;
            for (int i = 0; i < d->S; i++)
                y[i] = x[i] * scale + shift;
        }
    }
}

void batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                        const float *in, const float *save_mean, const float *save_invstd,
                        const float *gamma, const batchnorm_dims *d)
{
    /* din, dout, in: (N, C, S); dgamma, dbeta, save_*, gamma: (C) */
    const size_t sn = sample_stride(d);
    const double m = (double)d->N * d->S;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < d->C; c++) {
        const double mean = save_mean[c], invstd = save_invstd[c];
        double sg = 0.0, sgx = 0.0; /* sum dy, sum dy * xhat */
        for (int n = 0; n < d->N; n++) {
            const float *x = in + n * sn + (size_t)c * d->S;
            const float *g = dout + n * sn + (size_t)c * d->S;
            for (int i = 0; i < d->S; i++) {
                sg += g[i];
                sgx += g[i] * (x[i] - mean) * invstd;
            }
        }
        dgamma[c] += (float)sgx;
        dbeta[c] += (float)sg;
        if (!din)
            continue;
        /* dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) */
        const double k = gamma[c] * invstd, mg = sg / m, mgx = sgx / m;
        for (int n = 0; n < d->N; n++) {
            const float *x = in + n * sn + (size_t)c * d->S;
            const float *g = dout + n * sn + (size_t)c * d->S;
            float *dx = din + n * sn + (size_t)c * d->S;
            for (int i = 0; i < d->S; i++)
                dx[i] = (float)(k * (g[i] - mg - (x[i] - mean) * invstd * mgx));
        }
    }
}
