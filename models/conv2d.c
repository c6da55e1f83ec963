/* conv2d.c — 2-d convolution on the CPU: im2col + cblas_sgemm per sample, OpenMP over the batch
 * (see conv2d.h for layouts and the workspace contract). */
#include "models/conv2d.h"

#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "models/conv3x3_direct.h"

int conv2d_out_f(const conv2d_dims *d)
{
    return (d->F + 2 * d->pF - d->dF * (d->kF - 1) - 1) / d->sF + 1;
}

int conv2d_out_t(const conv2d_dims *d)
{
    return (d->T + 2 * d->pT - d->dT * (d->kT - 1) - 1) / d->sT + 1;
}

size_t conv2d_out_floats(const conv2d_dims *d)
{
    return (size_t)d->N * d->Cout * conv2d_out_f(d) * conv2d_out_t(d);
}

size_t conv2d_weight_floats(const conv2d_dims *d)
{
    return (size_t)d->Cout * d->Cin * d->kF * d->kT;
}

double conv2d_flops(const conv2d_dims *d)
{
    return 2.0 * (double)conv2d_out_floats(d) * d->Cin * d->kF * d->kT;
}

/* 1x1, stride 1, no padding: the input of one sample already is the (K, P) column matrix. */
static int is_pointwise(const conv2d_dims *d)
{
    return d->kF == 1 && d->kT == 1 && d->sF == 1 && d->sT == 1 && d->pF == 0 && d->pT == 0;
}

/* Per-thread workspace: col (K, P) (or the direct 3x3 kernel's scratch) + partial dW (Cout, K)
 * + partial db (Cout). */
static size_t slot_floats(const conv2d_dims *d)
{
    size_t K = (size_t)d->Cin * d->kF * d->kT, P = (size_t)conv2d_out_f(d) * conv2d_out_t(d);
    size_t col = K * P;
    if (conv3x3_direct_ok(d) && conv3x3_direct_floats(d) > col)
        col = conv3x3_direct_floats(d);
    return col + (size_t)d->Cout * K + (size_t)d->Cout + 16; /* +16 keeps slots 64-B apart */
}

/* Where the partial dW starts in a slot (after the col / scratch area). */
static size_t slot_col_floats(const conv2d_dims *d)
{
    return slot_floats(d) - (size_t)d->Cout * d->Cin * d->kF * d->kT - d->Cout - 16;
}

size_t conv2d_workspace_floats(const conv2d_dims *d)
{
    return (size_t)omp_get_max_threads() * slot_floats(d);
}

static size_t in_stride(const conv2d_dims *d)
{
    return d->in_sn ? d->in_sn : (size_t)d->Cin * d->F * d->T;
}

static size_t out_stride(const conv2d_dims *d)
{
    return d->out_sn ? d->out_sn : (size_t)d->Cout * conv2d_out_f(d) * conv2d_out_t(d);
}

/* col: (Cin*kF*kT, Fo*To) from x: (Cin, F, T); zeros where the kernel hits padding. */
static void im2col(float *col, const float *x, const conv2d_dims *d, int Fo, int To)
{
    for (int c = 0; c < d->Cin; c++)
        for (int i = 0; i < d->kF; i++)
            for (int j = 0; j < d->kT; j++) {
                float *row = col + (((size_t)c * d->kF + i) * d->kT + j) * Fo * To;
                for (int fo = 0; fo < Fo; fo++) {
                    int f = fo * d->sF - d->pF + i * d->dF;
                    float *r = row + (size_t)fo * To;
                    if (f < 0 || f >= d->F) {
                        memset(r, 0, sizeof(float) * To);
                        continue;
                    }
                    const float *xr = x + ((size_t)c * d->F + f) * d->T;
                    int off = j * d->dT - d->pT;
                    if (d->sT == 1) {
                        /* valid to: 0 <= to + off < T */
                        int lo = off < 0 ? -off : 0, hi = d->T - off;
                        if (hi > To)
                            hi = To;
                        if (lo > To)
                            lo = To;
                        if (hi < lo)
                            hi = lo;
                        memset(r, 0, sizeof(float) * lo);
                        memcpy(r + lo, xr + lo + off, sizeof(float) * (hi - lo));
                        memset(r + hi, 0, sizeof(float) * (To - hi));
                    } else {
                        for (int to = 0; to < To; to++) {
                            int t = to * d->sT + off;
                            r[to] = (t >= 0 && t < d->T) ? xr[t] : 0.0f;
                        }
                    }
                }
            }
}

/* x: (Cin, F, T) += scattered col: (Cin*kF*kT, Fo*To); x must be zeroed first. */
static void col2im(float *x, const float *col, const conv2d_dims *d, int Fo, int To)
{
    for (int c = 0; c < d->Cin; c++)
        for (int i = 0; i < d->kF; i++)
            for (int j = 0; j < d->kT; j++) {
                const float *row = col + (((size_t)c * d->kF + i) * d->kT + j) * Fo * To;
                for (int fo = 0; fo < Fo; fo++) {
                    int f = fo * d->sF - d->pF + i * d->dF;
                    if (f < 0 || f >= d->F)
                        continue;
                    const float *r = row + (size_t)fo * To;
                    float *xr = x + ((size_t)c * d->F + f) * d->T;
                    int off = j * d->dT - d->pT;
                    if (d->sT == 1) { /* contiguous run of valid to, as in im2col */
                        int lo = off < 0 ? -off : 0, hi = d->T - off;
                        if (hi > To)
                            hi = To;
                        for (int to = lo; to < hi; to++)
                            xr[to + off] += r[to];
                    } else {
                        for (int to = 0; to < To; to++) {
                            int t = to * d->sT + off;
                            if (t >= 0 && t < d->T)
                                xr[t] += r[to];
                        }
                    }
                }
            }
}

void conv2d_forward(float *out, const float *in, const float *w, const float *b,
                    const conv2d_dims *d, float *ws)
{
    /* out: (N, Cout, Fo, To); in: (N, Cin, F, T); w: (Cout, Cin*kF*kT); b: (Cout) */
    const int Fo = conv2d_out_f(d), To = conv2d_out_t(d);
    const int K = d->Cin * d->kF * d->kT, P = Fo * To;
    const size_t isn = in_stride(d), osn = out_stride(d), slot = slot_floats(d);
    const int pw = is_pointwise(d), direct = conv3x3_direct_ok(d);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < d->N; n++) {
        float *col = ws + (size_t)omp_get_thread_num() * slot;
        const float *x = in + (size_t)n * isn;
        float *y = out + (size_t)n * osn;
        if (direct) {
            conv3x3_direct_forward(y, x, w, b, d, col);
            continue;
        }
        if (!pw)
            im2col(col, x, d, Fo, To);
        float beta = 0.0f;
        if (b) {
            for (int co = 0; co < d->Cout; co++)
                for (int p = 0; p < P; p++)
                    y[(size_t)co * P + p] = b[co];
            beta = 1.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->Cout, P, K, 1.0f, w, K,
                    pw ? x : col, P, beta, y, P);
    }
}

void conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const conv2d_dims *d, float *ws)
{
    /* din: (N, Cin, F, T); dw: (Cout, Cin*kF*kT); db: (Cout); dout: (N, Cout, Fo, To) */
    const int Fo = conv2d_out_f(d), To = conv2d_out_t(d);
    const int K = d->Cin * d->kF * d->kT, P = Fo * To;
    const size_t isn = in_stride(d), osn = out_stride(d), slot = slot_floats(d);
    const size_t ixn = (size_t)d->Cin * d->F * d->T; /* floats of one input sample */
    const int pw = is_pointwise(d), direct = conv3x3_direct_ok(d);
    int nth = 1;
#pragma omp parallel
    {
#pragma omp single
        nth = omp_get_num_threads();
        int th = omp_get_thread_num();
        float *col = ws + (size_t)th * slot;
        float *pdw = col + slot_col_floats(d);
        float *pdb = pdw + (size_t)d->Cout * K;
        memset(pdw, 0, sizeof(float) * ((size_t)d->Cout * K + d->Cout));
#pragma omp for schedule(static)
        for (int n = 0; n < d->N; n++) {
            const float *x = in + (size_t)n * isn;
            const float *g = dout + (size_t)n * osn;
            if (direct) {
                conv3x3_direct_backward(din ? din + (size_t)n * isn : NULL, pdw, g, x, w, d,
                                        col);
                if (db)
                    for (int co = 0; co < d->Cout; co++) {
                        double s = 0.0;
                        for (int p = 0; p < P; p++)
                            s += g[(size_t)co * P + p];
                        pdb[co] += (float)s;
                    }
                continue;
            }
            if (!pw)
                im2col(col, x, d, Fo, To);
            /* dW_partial (Cout, K) += g (Cout, P) x col^T (P, K) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->Cout, K, P, 1.0f, g, P,
                        pw ? x : col, P, 1.0f, pdw, K);
            for (int co = 0; db && co < d->Cout; co++) {
                double s = 0.0;
                for (int p = 0; p < P; p++)
                    s += g[(size_t)co * P + p];
                pdb[co] += (float)s;
            }
            if (din) {
                float *dx = din + (size_t)n * isn;
                if (pw) {
                    /* dx (Cin, P) = W^T (K, Cout) x g (Cout, P) */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, d->Cout, 1.0f, w,
                                K, g, P, 0.0f, dx, P);
                } else {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, d->Cout, 1.0f, w,
                                K, g, P, 0.0f, col, P);
                    memset(dx, 0, sizeof(float) * ixn);
                    col2im(dx, col, d, Fo, To);
                }
            }
        }
        /* implicit barrier: every partial is complete */
    }
    /* Sum the partials in thread order (deterministic for a given thread count). */
    const size_t nw = (size_t)d->Cout * K;
    for (int th = 0; th < nth; th++) {
        const float *pdw = ws + (size_t)th * slot + slot_col_floats(d);
        const float *pdb = pdw + nw;
        for (size_t i = 0; i < nw; i++)
            dw[i] += pdw[i];
        if (db)
            for (int co = 0; co < d->Cout; co++)
                db[co] += pdb[co];
    }
}
