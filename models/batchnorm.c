/* batchnorm.c — batch normalisation forward (train, eval) and backward on the CPU
 * (see batchnorm.h). */
#include "models/batchnorm.h"

#include <math.h>

static size_t sample_stride(const batchnorm_dims *d)
{
    return d->sn ? d->sn : (size_t)d->C * d->S;
}

/* Sums in double with 8 independent accumulators: one serial chain of double adds runs at
 * ~1 element per 4 cycles; eight chains vectorise (same precision, a different order). */
static double sum_d(const float *x, int n)
{
    double a[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            a[j] += x[i + j];
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++)
        s += x[i];
    return s;
}

static double sumsq_d(const float *x, int n, double mean)
{
    double a[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            double v = x[i + j] - mean;
            a[j] += v * v;
        }
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) {
        double v = x[i] - mean;
        s += v * v;
    }
    return s;
}

/* sum g and sum g * (x - mean), 8 chains each */
static void sum_g_gx(const float *g, const float *x, int n, double mean, double *sg, double *sgx)
{
    double a[8] = {0}, b[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            a[j] += g[i + j];
            b[j] += g[i + j] * (x[i + j] - mean);
        }
    double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    double t = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
    for (; i < n; i++) {
        s += g[i];
        t += g[i] * (x[i] - mean);
    }
    *sg += s;
    *sgx += t;
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
        for (int n = 0; n < d->N; n++)
            s += sum_d(in + n * sn + (size_t)c * d->S, d->S);
        double mean = s / m, ss = 0.0;
        for (int n = 0; n < d->N; n++)
            ss += sumsq_d(in + n * sn + (size_t)c * d->S, d->S, mean);
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
        for (int n = 0; n < d->N; n++)
            sum_g_gx(dout + n * sn + (size_t)c * d->S, in + n * sn + (size_t)c * d->S, d->S,
                     mean, &sg, &sgx);
        sgx *= invstd;
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
