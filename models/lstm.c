/* lstm.c — LSTM forward / backward through time on the CPU (see lstm.h for layouts).
 *
 * Forward, per direction: the input projection of all N*T frames is ONE sgemm
 * (N*T, I) x (I, 4H) written straight into the saved gates buffer; each step then adds the
 * recurrent term with one sgemm (N, H) x (H, 4H) and applies the cell element-wise (OpenMP over
 * the batch). Backward runs the steps in reverse, keeping the pre-activation gate gradients of
 * every frame (dG, (N*T, 4H)) and the previous hidden state of every frame (Hp, (N*T, H)), so
 * dW_ih, dW_hh and dx are three large sgemms after the loop instead of 3*T small ones.
 */
#include "models/lstm.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "models/lstm_cell.h"

int lstm_directions(const lstm_dims *d) { return d->bidirectional ? 2 : 1; }

/* Floats of one direction's parameters. */
static size_t dir_param_floats(const lstm_dims *d)
{
    size_t H4 = 4 * (size_t)d->H;
    return H4 * (size_t)d->In + H4 * (size_t)d->H + 2 * H4;
}

size_t lstm_param_floats(const lstm_dims *d)
{
    return (size_t)lstm_directions(d) * dir_param_floats(d);
}

size_t lstm_gates_floats(const lstm_dims *d)
{
    return (size_t)lstm_directions(d) * d->N * d->T * 4 * (size_t)d->H;
}

size_t lstm_cells_floats(const lstm_dims *d)
{
    return (size_t)lstm_directions(d) * d->N * d->T * (size_t)d->H;
}

size_t lstm_workspace_floats(const lstm_dims *d)
{
    size_t N = d->N, T = d->T, H = d->H;
    size_t fwd = N * 4 * H + 2 * N * H;
    size_t bwd = N * T * 4 * H + N * T * H + N * 4 * H + 3 * N * H;
    return fwd > bwd ? fwd : bwd;
}

/* Frame of sequence n (length len) at step s of direction dir; valid only for s < len. */
static inline int step_time(int dir, int s, int len) { return dir == 0 ? s : len - 1 - s; }

void lstm_forward(float *y, float *hn, float *cn, float *gates, float *cells, const float *x,
                  const int *lengths, const float *w, const lstm_dims *d, float *ws)
{
    /* x: (N, T, I) -> y: (N, T, D*H); gates: (D, N, T, 4H); cells: (D, N, T, H) */
    const int N = d->N, T = d->T, In = d->In, H = d->H, H4 = 4 * d->H;
    const int D = lstm_directions(d), DH = D * H, NT = N * T;
    float *tmp = ws;                       /* (N, 4H) recurrent term of one step */
    float *h = tmp + (size_t)N * H4;       /* (N, H) */
    float *c = h + (size_t)N * H;          /* (N, H) */

    memset(y, 0, sizeof(float) * (size_t)NT * DH);
    for (int dir = 0; dir < D; dir++) {
        const float *wih = w + dir * dir_param_floats(d);
        const float *whh = wih + (size_t)H4 * In;
        const float *bih = whh + (size_t)H4 * H;
        const float *bhh = bih + H4;
        float *G = gates + (size_t)dir * NT * H4;
        float *C = cells + (size_t)dir * NT * H;

        /* G = x W_ih^T + b_ih + b_hh, all frames at once: (N*T, I) x (I, 4H) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, NT, H4, In, 1.0f, x, In, wih, In, 0.0f,
                    G, H4);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < NT; r++)
            for (int j = 0; j < H4; j++)
                G[(size_t)r * H4 + j] += bih[j] + bhh[j];

        memset(h, 0, sizeof(float) * (size_t)N * H);
        memset(c, 0, sizeof(float) * (size_t)N * H);
        for (int s = 0; s < T; s++) {
            /* tmp = h W_hh^T: (N, H) x (H, 4H); h = 0 at the first step */
            if (s == 0)
                memset(tmp, 0, sizeof(float) * (size_t)N * H4);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, H4, H, 1.0f, h, H, whh,
                            H, 0.0f, tmp, H4);
#pragma omp parallel for schedule(static)
            for (int n = 0; n < N; n++) {
                int len = lengths[n];
                if (s >= len)
                    continue; /* padded: state untouched, output stays zero */
                int t = step_time(dir, s, len);
                float *g = G + ((size_t)n * T + t) * H4;
                const float *rt = tmp + (size_t)n * H4;
                float *hr = h + (size_t)n * H, *cr = c + (size_t)n * H;
                float *cs = C + ((size_t)n * T + t) * H;
                float *yr = y + ((size_t)n * T + t) * DH + (size_t)dir * H;
                /* the activations replace the pre-activations in G (kept for backward) */
                lstm_cell_step(g, rt, cr, hr, yr, g, cs, H);
            }
        }
        if (hn)
            memcpy(hn + (size_t)dir * N * H, h, sizeof(float) * (size_t)N * H);
        if (cn)
            memcpy(cn + (size_t)dir * N * H, c, sizeof(float) * (size_t)N * H);
    }
}

void lstm_backward(float *dx, float *dw, float *dh0, float *dc0, const float *dy,
                   const float *dhn, const float *dcn, const float *y, const float *gates,
                   const float *cells, const float *x, const int *lengths, const float *w,
                   const lstm_dims *d, float *ws)
{
    /* dy: (N, T, D*H) -> dx: (N, T, I); dw: flat params; dh0, dc0 / dhn, dcn: (D, N, H) */
    const int N = d->N, T = d->T, In = d->In, H = d->H, H4 = 4 * d->H;
    const int D = lstm_directions(d), DH = D * H, NT = N * T;
    float *dG = ws;                         /* (N*T, 4H) pre-activation gate gradients */
    float *Hp = dG + (size_t)NT * H4;       /* (N*T, H) hidden state before each frame */
    float *dA = Hp + (size_t)NT * H;        /* (N, 4H) gate gradients of one step */
    float *dh = dA + (size_t)N * H4;        /* (N, H) running dL/dh */
    float *dc = dh + (size_t)N * H;         /* (N, H) running dL/dc */
    float *tmp = dc + (size_t)N * H;        /* (N, H) dA W_hh */

    for (int dir = 0; dir < D; dir++) {
        const float *wih = w + dir * dir_param_floats(d);
        const float *whh = wih + (size_t)H4 * In;
        float *dwih = dw + dir * dir_param_floats(d);
        float *dwhh = dwih + (size_t)H4 * In;
        float *dbih = dwhh + (size_t)H4 * H;
        float *dbhh = dbih + H4;
        const float *G = gates + (size_t)dir * NT * H4;
        const float *C = cells + (size_t)dir * NT * H;

        memset(dG, 0, sizeof(float) * (size_t)NT * H4);
        memset(Hp, 0, sizeof(float) * (size_t)NT * H);
        if (dhn)
            memcpy(dh, dhn + (size_t)dir * N * H, sizeof(float) * (size_t)N * H);
        else
            memset(dh, 0, sizeof(float) * (size_t)N * H);
        if (dcn)
            memcpy(dc, dcn + (size_t)dir * N * H, sizeof(float) * (size_t)N * H);
        else
            memset(dc, 0, sizeof(float) * (size_t)N * H);

        for (int s = T - 1; s >= 0; s--) {
#pragma omp parallel for schedule(static)
            for (int n = 0; n < N; n++) {
                int len = lengths[n];
                float *da = dA + (size_t)n * H4;
                if (s >= len) {
                    memset(da, 0, sizeof(float) * (size_t)H4);
                    continue;
                }
                int t = step_time(dir, s, len);
                int tp = dir == 0 ? t - 1 : t + 1; /* previous frame in this direction */
                size_t idx = (size_t)n * T + t;
                const float *g = G + idx * H4;
                const float *dyr = dy + idx * DH + (size_t)dir * H;
                const float *cprev = s > 0 ? C + ((size_t)n * T + tp) * H : NULL;
                const float *hprev = s > 0 ? y + ((size_t)n * T + tp) * DH + (size_t)dir * H : NULL;
                float *dhr = dh + (size_t)n * H, *dcr = dc + (size_t)n * H;
                float *hp = Hp + idx * H;
                float *dgr = dG + idx * H4;
                /* tanh of the cells into da's o slots: unit k reads its slot before writing it */
                lstm_tanh_row(C + idx * H, da + 3 * H, H);
                for (int k = 0; k < H; k++) {
                    float gi = g[k], gf = g[H + k], gg = g[2 * H + k], go = g[3 * H + k];
                    float tc = da[3 * H + k];
                    float dhv = dhr[k] + dyr[k];
                    float dcv = dcr[k] + dhv * go * (1.0f - tc * tc);
                    float cp = cprev ? cprev[k] : 0.0f;
                    da[k] = dcv * gg * gi * (1.0f - gi);
                    da[H + k] = dcv * cp * gf * (1.0f - gf);
                    da[2 * H + k] = dcv * gi * (1.0f - gg * gg);
                    da[3 * H + k] = dhv * tc * go * (1.0f - go);
                    dcr[k] = dcv * gf;
                    hp[k] = hprev ? hprev[k] : 0.0f;
                }
                memcpy(dgr, da, sizeof(float) * (size_t)H4);
            }
            /* dh_prev = dA W_hh: (N, 4H) x (4H, H); only active rows take it */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, H, H4, 1.0f, dA, H4, whh,
                        H, 0.0f, tmp, H);
#pragma omp parallel for schedule(static)
            for (int n = 0; n < N; n++)
                if (s < lengths[n])
                    memcpy(dh + (size_t)n * H, tmp + (size_t)n * H, sizeof(float) * (size_t)H);
        }
        if (dh0)
            memcpy(dh0 + (size_t)dir * N * H, dh, sizeof(float) * (size_t)N * H);
        if (dc0)
            memcpy(dc0 + (size_t)dir * N * H, dc, sizeof(float) * (size_t)N * H);

        /* dW_ih += dG^T x: (4H, N*T) x (N*T, I); dW_hh += dG^T Hp: (4H, N*T) x (N*T, H) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H4, In, NT, 1.0f, dG, H4, x, In, 1.0f,
                    dwih, In);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H4, H, NT, 1.0f, dG, H4, Hp, H,
                    1.0f, dwhh, H);
        /* biases: column sums of dG, in double, fixed row order */
#pragma omp parallel for schedule(static)
        for (int j = 0; j < H4; j++) {
            double acc = 0.0;
            for (int r = 0; r < NT; r++)
                acc += dG[(size_t)r * H4 + j];
            dbih[j] += (float)acc;
            dbhh[j] += (float)acc;
        }
        /* dx (=, then += for the reverse direction) = dG W_ih: (N*T, 4H) x (4H, I) */
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, NT, In, H4, 1.0f, dG, H4, wih,
                        In, dir == 0 ? 0.0f : 1.0f, dx, In);
    }
}
