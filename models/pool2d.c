/* pool2d.c — average / max pooling forward and backward (see pool2d.h). OpenMP over the N*C
 * planes, which are independent. */
#include "models/pool2d.h"

#include <string.h>

int pool2d_out_f(const pool2d_dims *d) { return (d->F - d->kF) / d->sF + 1; }
int pool2d_out_t(const pool2d_dims *d) { return (d->T - d->kT) / d->sT + 1; }

size_t pool2d_out_floats(const pool2d_dims *d)
{
    return (size_t)d->N * d->C * pool2d_out_f(d) * pool2d_out_t(d);
}

void avgpool2d_forward(float *out, const float *in, const pool2d_dims *d)
{
    /* out: (N, C, Fo, To); in: (N, C, F, T) */
    const int Fo = pool2d_out_f(d), To = pool2d_out_t(d), NC = d->N * d->C;
    const float inv = 1.0f / (float)(d->kF * d->kT);
#pragma omp parallel for schedule(static)
    for (int p = 0; p < NC; p++) {
        const float *x = in + (size_t)p * d->F * d->T;
        float *y = out + (size_t)p * Fo * To;
        if (d->kF == 2 && d->kT == 1 && d->sF == 2 && d->sT == 1) {
            /* frequency-only pooling (the DenseNet transitions): rows add, vectorised; the
             * same sums in the same order as the general loop */
            for (int fo = 0; fo < Fo; fo++) {
                const float *a = x + (size_t)(2 * fo) * d->T, *b = a + d->T;
                float *yo = y + (size_t)fo * To;
                for (int t = 0; t < To; t++)
                    yo[t] = (a[t] + b[t]) * inv;
            }
            continue;
        }
        for (int fo = 0; fo < Fo; fo++)
            for (int to = 0; to < To; to++) {
                float s = 0.0f;
                for (int i = 0; i < d->kF; i++)
                    for (int j = 0; j < d->kT; j++)
                        s += x[(size_t)(fo * d->sF + i) * d->T + to * d->sT + j];
                y[(size_t)fo * To + to] = s * inv;
            }
    }
}

void avgpool2d_backward(float *din, const float *dout, const pool2d_dims *d)
{
    /* din: (N, C, F, T); dout: (N, C, Fo, To) */
    const int Fo = pool2d_out_f(d), To = pool2d_out_t(d), NC = d->N * d->C;
    const float inv = 1.0f / (float)(d->kF * d->kT);
#pragma omp parallel for schedule(static)
    for (int p = 0; p < NC; p++) {
        float *dx = din + (size_t)p * d->F * d->T;
        const float *g = dout + (size_t)p * Fo * To;
        memset(dx, 0, sizeof(float) * d->F * d->T);
        for (int fo = 0; fo < Fo; fo++)
            for (int to = 0; to < To; to++) {
                float v = g[(size_t)fo * To + to] * inv;
                for (int i = 0; i < d->kF; i++)
                    for (int j = 0; j < d->kT; j++)
                        dx[(size_t)(fo * d->sF + i) * d->T + to * d->sT + j] += v;
            }
    }
}

void maxpool2d_forward(float *out, int32_t *argmax, const float *in, const pool2d_dims *d)
{
    /* out, argmax: (N, C, Fo, To); in: (N, C, F, T) */
    const int Fo = pool2d_out_f(d), To = pool2d_out_t(d), NC = d->N * d->C;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < NC; p++) {
        const float *x = in + (size_t)p * d->F * d->T;
        float *y = out + (size_t)p * Fo * To;
        int32_t *a = argmax + (size_t)p * Fo * To;
        for (int fo = 0; fo < Fo; fo++)
            for (int to = 0; to < To; to++) {
                int32_t best = (fo * d->sF) * d->T + to * d->sT;
                for (int i = 0; i < d->kF; i++)
                    for (int j = 0; j < d->kT; j++) {
                        int32_t k = (fo * d->sF + i) * d->T + to * d->sT + j;
                        if (x[k] > x[best])
                            best = k;
                    }
                y[(size_t)fo * To + to] = x[best];
                a[(size_t)fo * To + to] = best;
            }
    }
}

void maxpool2d_backward(float *din, const float *dout, const int32_t *argmax,
                        const pool2d_dims *d)
{
    /* din: (N, C, F, T); dout, argmax: (N, C, Fo, To) */
    const int Fo = pool2d_out_f(d), To = pool2d_out_t(d), NC = d->N * d->C;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < NC; p++) {
        float *dx = din + (size_t)p * d->F * d->T;
        const float *g = dout + (size_t)p * Fo * To;
        const int32_t *a = argmax + (size_t)p * Fo * To;
        memset(dx, 0, sizeof(float) * d->F * d->T);
        for (int k = 0; k < Fo * To; k++)
            dx[a[k]] += g[k];
    }
}
