/* time_pool.c — mean and statistics pooling over time with lengths (see time_pool.h). */
#include "models/time_pool.h"

#include <math.h>
#include <stddef.h>

static int len_of(const int *lengths, int n, int T) { return lengths ? lengths[n] : T; }

void mean_pool_forward(float *out, const float *in, const int *lengths, const time_pool_dims *d)
{
    /* out: (N, C); in: (N, C, T) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < d->N; n++) {
        int L = len_of(lengths, n, d->T);
        for (int c = 0; c < d->C; c++) {
            const float *x = in + ((size_t)n * d->C + c) * d->T;
            double s = 0.0;
            for (int t = 0; t < L; t++)
                s += x[t];
            out[(size_t)n * d->C + c] = (float)(s / L);
        }
    }
}

void mean_pool_backward(float *din, const float *dout, const int *lengths,
                        const time_pool_dims *d)
{
    /* din: (N, C, T); dout: (N, C) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < d->N; n++) {
        int L = len_of(lengths, n, d->T);
        for (int c = 0; c < d->C; c++) {
            float *dx = din + ((size_t)n * d->C + c) * d->T;
            float g = dout[(size_t)n * d->C + c] / (float)L;
            for (int t = 0; t < d->T; t++)
                dx[t] = t < L ? g : 0.0f;
        }
    }
}

static double divisor(int L, const time_pool_dims *d)
{
    return (d->unbiased && L > 1) ? (double)(L - 1) : (double)L;
}

void stats_pool_forward(float *out, const float *in, const int *lengths, const time_pool_dims *d)
{
    /* out: (N, 2C) = [mean, std]; in: (N, C, T) */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < d->N; n++) {
        int L = len_of(lengths, n, d->T);
        for (int c = 0; c < d->C; c++) {
            const float *x = in + ((size_t)n * d->C + c) * d->T;
            double s = 0.0, ss = 0.0;
            for (int t = 0; t < L; t++)
                s += x[t];
            double mean = s / L;
            for (int t = 0; t < L; t++)
                ss += (x[t] - mean) * (x[t] - mean);
            out[(size_t)n * 2 * d->C + c] = (float)mean;
            out[(size_t)n * 2 * d->C + d->C + c] = (float)sqrt(ss / divisor(L, d) + d->eps);
        }
    }
}

void stats_pool_backward(float *din, const float *dout, const float *out, const float *in,
                         const int *lengths, const time_pool_dims *d)
{
    /* din: (N, C, T); dout, out: (N, 2C); in: (N, C, T)
     * d mean / dx_t = 1/L; d std / dx_t = (x_t - mean) / (D * std), D = divisor (the
     * dependence through the mean cancels because sum (x_t - mean) = 0). */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < d->N; n++) {
        int L = len_of(lengths, n, d->T);
        double D = divisor(L, d);
        for (int c = 0; c < d->C; c++) {
            const float *x = in + ((size_t)n * d->C + c) * d->T;
            float *dx = din + ((size_t)n * d->C + c) * d->T;
            double mean = out[(size_t)n * 2 * d->C + c], sd = out[(size_t)n * 2 * d->C + d->C + c];
            double gm = dout[(size_t)n * 2 * d->C + c] / (double)L;
            double gs = dout[(size_t)n * 2 * d->C + d->C + c] / (D * sd);
            for (int t = 0; t < d->T; t++)
                dx[t] = t < L ? (float)(gm + gs * (x[t] - mean)) : 0.0f;
        }
    }
}
