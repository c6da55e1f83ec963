/* linear.c — fully connected layer through cblas_sgemm (see linear.h). */
#include "models/linear.h"

#include <stddef.h>

#include <cblas.h>

void linear_forward(float *out, const float *in, const float *w, const float *b,
                    const linear_dims *d)
{
    /* out: (N, Out) = in: (N, In) x w^T: (In, Out) + b */
    float beta = 0.0f;
    if (b) {
        for (int n = 0; n < d->N; n++)
            for (int o = 0; o < d->Out; o++)
                out[(size_t)n * d->Out + o] = b[o];
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->N, d->Out, d->In, 1.0f, in, d->In, w,
                d->In, beta, out, d->Out);
}

void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const linear_dims *d)
{
    /* din: (N, In) = dout (N, Out) x w (Out, In); dw (Out, In) += dout^T x in; db += sum_n dout */
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->N, d->In, d->Out, 1.0f, dout,
                    d->Out, w, d->In, 0.0f, din, d->In);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->Out, d->In, d->N, 1.0f, dout, d->Out,
                in, d->In, 1.0f, dw, d->In);
    if (db)
        for (int o = 0; o < d->Out; o++) {
            double s = 0.0;
            for (int n = 0; n < d->N; n++)
                s += dout[(size_t)n * d->Out + o];
            db[o] += (float)s;
        }
}
