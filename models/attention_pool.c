/* attention_pool.c — additive attention pooling over time (see attention_pool.h). Softmax with
 * max subtraction and double sums; all projections are single sgemm/sgemv calls over N*T rows,
 * so reductions run in a fixed order (deterministic for any thread count). */
#include "models/attention_pool.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "models/lstm_cell.h"

size_t attention_pool_param_floats(const attention_pool_dims *d)
{
    return (size_t)d->A * d->Dm + 2 * (size_t)d->A;
}

size_t attention_pool_saved_floats(const attention_pool_dims *d)
{
    return (size_t)d->N * d->T * ((size_t)d->A + 1);
}

size_t attention_pool_workspace_floats(const attention_pool_dims *d)
{
    return (size_t)d->N * d->T * ((size_t)d->A + 1);
}

void attention_pool_forward(float *out, float *saved, const float *h, const int *lengths,
                            const float *w, const attention_pool_dims *d, float *ws)
{
    /* h: (N, T, Dm) -> out: (N, Dm); saved: u (N, T, A), alpha (N, T) */
    (void)ws;
    const int N = d->N, T = d->T, Dm = d->Dm, A = d->A, NT = N * T;
    const float *W = w, *b = w + (size_t)A * Dm, *v = b + A;
    float *u = saved, *alpha = saved + (size_t)NT * A;

    /* u = tanh(h W^T + b): (N*T, Dm) x (Dm, A) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, NT, A, Dm, 1.0f, h, Dm, W, Dm, 0.0f, u,
                A);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int len = lengths[n];
        float *al = alpha + (size_t)n * T;
        float *o = out + (size_t)n * Dm;
        memset(al, 0, sizeof(float) * (size_t)T);
        memset(o, 0, sizeof(float) * (size_t)Dm);
        if (len <= 0)
            continue;
        double emax = -INFINITY;
        for (int t = 0; t < len; t++) {
            float *ur = u + ((size_t)n * T + t) * A;
            for (int a = 0; a < A; a++)
                ur[a] += b[a];
            lstm_tanh_row(ur, ur, A); /* the LSTM cell's vectorised tanh (libm's: 5x slower) */
            double e = 0.0;
            for (int a = 0; a < A; a++)
                e += (double)v[a] * ur[a];
            al[t] = (float)e;
            if (e > emax)
                emax = e;
        }
        double z = 0.0;
        for (int t = 0; t < len; t++)
            z += exp((double)al[t] - emax);
        for (int t = 0; t < len; t++)
            al[t] = (float)(exp((double)al[t] - emax) / z);
        for (int k = 0; k < Dm; k++) {
            double acc = 0.0;
            for (int t = 0; t < len; t++)
                acc += (double)al[t] * h[((size_t)n * T + t) * Dm + k];
            o[k] = (float)acc;
        }
    }
}

void attention_pool_backward(float *dh, float *dw, const float *dout, const float *saved,
                             const float *h, const int *lengths, const float *w,
                             const attention_pool_dims *d, float *ws)
{
    /* dout: (N, Dm) -> dh: (N, T, Dm); dw: flat (W (A, Dm), b (A), v (A)) */
    const int N = d->N, T = d->T, Dm = d->Dm, A = d->A, NT = N * T;
    const float *W = w, *v = w + (size_t)A * Dm + A;
    float *dW = dw, *db = dw + (size_t)A * Dm, *dv = db + A;
    const float *u = saved, *alpha = saved + (size_t)NT * A;
    float *de = ws;             /* (N*T) dL/de_t */
    float *dZ = ws + NT;        /* (N*T, A) dL/d(W h + b) */

#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int len = lengths[n] > 0 ? lengths[n] : 0;
        const float *al = alpha + (size_t)n * T;
        const float *go = dout + (size_t)n * Dm;
        double sum = 0.0;
        for (int t = 0; t < len; t++) {
            const float *hr = h + ((size_t)n * T + t) * Dm;
            double da = 0.0;
            for (int k = 0; k < Dm; k++)
                da += (double)go[k] * hr[k];
            de[(size_t)n * T + t] = (float)da; /* dalpha_t for now */
            sum += al[t] * da;
        }
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)n * T + t;
            float *dz = dZ + r * A;
            if (t >= len) {
                de[r] = 0.0f;
                memset(dz, 0, sizeof(float) * (size_t)A);
                if (dh)
                    memset(dh + r * Dm, 0, sizeof(float) * (size_t)Dm);
                continue;
            }
            float e = (float)(al[t] * ((double)de[r] - sum));
            de[r] = e;
            const float *ur = u + r * A;
            for (int a = 0; a < A; a++)
                dz[a] = e * v[a] * (1.0f - ur[a] * ur[a]);
            if (dh)
                for (int k = 0; k < Dm; k++)
                    dh[r * Dm + k] = al[t] * go[k];
        }
    }
    /* dv += u^T de: (A, N*T) x (N*T); dW += dZ^T h: (A, N*T) x (N*T, Dm) */
    cblas_sgemv(CblasRowMajor, CblasTrans, NT, A, 1.0f, u, A, de, 1, 1.0f, dv, 1);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, A, Dm, NT, 1.0f, dZ, A, h, Dm, 1.0f, dW,
                Dm);
    for (int a = 0; a < A; a++) {
        double acc = 0.0;
        for (int r = 0; r < NT; r++)
            acc += dZ[(size_t)r * A + a];
        db[a] += (float)acc;
    }
    /* dh += dZ W: (N*T, A) x (A, Dm) */
    if (dh)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, NT, Dm, A, 1.0f, dZ, A, W, Dm,
                    1.0f, dh, Dm);
}
