/* conv3x3_direct.c — direct 3x3 convolution kernels (see conv3x3_direct.h). GCC vector
 * extensions sized to the target's registers; no intrinsics, so it builds without
 * -march=native too. */
#include "models/conv3x3_direct.h"

/* This file is compiled as ISO C (-std=c11), where GCC does not fuse a * b + c into one FMA;
 * the kernels below are nothing but multiply-adds, so allow the fusion here (it is also the
 * more accurate rounding). */
#pragma GCC optimize("fp-contract=fast")

#include <omp.h>
#include <string.h>

/* One vector = one machine register (a wider GCC vector than the ISA's changes the ABI of
 * the helpers and warns): 16 floats with AVX-512, 8 with AVX, 4 with plain SSE. */
#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif
typedef float vf __attribute__((vector_size(VL * sizeof(float))));

static inline vf ld(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st(float *p, vf v) { memcpy(p, &v, sizeof v); }

static inline float hsum(vf v)
{
    /* fixed pairwise order: deterministic */
    float a[VL];
    memcpy(a, &v, sizeof a);
    for (int w = VL / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            a[i] += a[i + w];
    return a[0];
}

int conv3x3_direct_ok(const conv2d_dims *d)
{
    return d->kF == 3 && d->kT == 3 && d->sF == 1 && d->sT == 1 && d->pF == 1 && d->pT == 1 &&
           d->dF == 1 && d->dT == 1;
}

/* Padded row length: the vector blocks cover Tv = T rounded up to VL frames; loads reach
 * column Tv + VL at most (dW's +1 offset), so Tp = Tv + VL (also keeps rows 64-byte multiples). */
static int padded_t(int T) { return (T + VL - 1) / VL * VL + VL; }

size_t conv3x3_direct_floats(const conv2d_dims *d)
{
    size_t plane = (size_t)(d->F + 2) * padded_t(d->T);
    return (size_t)(d->Cin + d->Cout) * plane + (size_t)d->Cin * d->Cout * 9 + VL;
}

/* xp (C, F+2, Tp): zero border, xp[c][f+1][t+1] = x[c][f][t]. Only the border is cleared
 * (clearing whole planes cost as much as the copy). */
static void pad_planes(float *xp, const float *x, int C, int F, int T, int Tp)
{
    for (int c = 0; c < C; c++) {
        float *pc = xp + (size_t)c * (F + 2) * Tp;
        memset(pc, 0, sizeof(float) * Tp);
        for (int f = 0; f < F; f++) {
            float *row = pc + (size_t)(f + 1) * Tp;
            row[0] = 0.0f;
            memcpy(row + 1, x + ((size_t)c * F + f) * T, sizeof(float) * T);
            memset(row + 1 + T, 0, sizeof(float) * (size_t)(Tp - 1 - T));
        }
        memset(pc + (size_t)(F + 1) * Tp, 0, sizeof(float) * Tp);
    }
}

/* As pad_planes, with xp[c][f+1][t+1] = relu(x[c][f][t] * scale[c] + shift[c]). */
static void pad_planes_bnrelu(float *xp, const float *x, const float *scale, const float *shift,
                              int C, int F, int T, int Tp)
{
    for (int c = 0; c < C; c++) {
        float *pc = xp + (size_t)c * (F + 2) * Tp;
        const float a = scale[c], s = shift[c];
        memset(pc, 0, sizeof(float) * Tp);
        for (int f = 0; f < F; f++) {
            float *row = pc + (size_t)(f + 1) * Tp;
            const float *xr = x + ((size_t)c * F + f) * T;
            row[0] = 0.0f;
            for (int t = 0; t < T; t++) {
                const float v = xr[t] * a + s;
                row[t + 1] = v > 0.0f ? v : 0.0f;
            }
            memset(row + 1 + T, 0, sizeof(float) * (size_t)(Tp - 1 - T));
        }
        memset(pc + (size_t)(F + 1) * Tp, 0, sizeof(float) * Tp);
    }
}

/* NC output channels (co0 .. co0+NC-1) x NR output rows (f .. f+NR-1) x VL frames from tb:
 * NC * NR accumulators stay in registers over all input channels and taps; each input vector
 * loaded (NR + 2 rows x 3 shifts per input channel) feeds every output row it touches.
 * Measured on the AMD EPYC (AVX-512) dev machine, 60 -> 12 channels, 40 x 98: NC = 12, NR = 1
 * reaches ~62 GFLOP/s on one core (im2col + OpenBLAS: ~25); NR = 2 spills (24 accumulators)
 * and was slower, so only NR = 1 is instantiated. */
#define FWD_BLOCK(NC, NR)                                                                      \
    static inline void fwd_block_##NC##_##NR(float *y, const float *xp, const float *w,        \
                                             const float *b, int co0, int Cin, int Cout, int F, \
                                             int T, int Tp, int f, int tb)                     \
    {                                                                                          \
        vf acc[NR][NC];                                                                        \
        _Pragma("GCC unroll 2") for (int o = 0; o < NR; o++)                                   \
            _Pragma("GCC unroll 12") for (int c = 0; c < NC; c++) acc[o][c] = (vf){0};         \
        for (int ci = 0; ci < Cin; ci++) {                                                     \
            const float *wc = w + (size_t)ci * 9 * Cout + co0;                                 \
            const float *xr = xp + ((size_t)ci * (F + 2) + f) * Tp + tb;                       \
            _Pragma("GCC unroll 4") for (int r = 0; r < NR + 2; r++)                           \
                _Pragma("GCC unroll 3") for (int j = 0; j < 3; j++)                            \
            {                                                                                  \
                const vf xv = ld(xr + (size_t)r * Tp + j);                                     \
                _Pragma("GCC unroll 2") for (int o = 0; o < NR; o++)                           \
                {                                                                              \
                    const int i = r - o;                                                       \
                    if (i < 0 || i > 2)                                                        \
                        continue;                                                              \
                    _Pragma("GCC unroll 12") for (int c = 0; c < NC; c++)                      \
                        acc[o][c] += xv * wc[(size_t)(i * 3 + j) * Cout + c];                  \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        for (int o = 0; o < NR; o++)                                                           \
            for (int c = 0; c < NC; c++) {                                                     \
                vf a = acc[o][c];                                                              \
                if (b)                                                                         \
                    a += b[co0 + c];                                                           \
                float *yr = y + ((size_t)(co0 + c) * F + f + o) * T + tb;                      \
                if (tb + VL <= T)                                                              \
                    st(yr, a);                                                                 \
                else {                                                                         \
                    float tmp[VL];                                                             \
                    st(tmp, a);                                                                \
                    memcpy(yr, tmp, sizeof(float) * (size_t)(T - tb));                         \
                }                                                                              \
            }                                                                                  \
    }
FWD_BLOCK(12, 1)
FWD_BLOCK(8, 1)
FWD_BLOCK(4, 1)
FWD_BLOCK(1, 1)

#define FWD_COLS(NR)                                                                           \
    do {                                                                                       \
        int co = 0;                                                                            \
        for (; co + 12 <= Cout; co += 12)                                                      \
            fwd_block_12_##NR(y, xp, w, b, co, Cin, Cout, F, T, Tp, f, tb);                          \
        for (; co + 8 <= Cout; co += 8)                                                        \
            fwd_block_8_##NR(y, xp, w, b, co, Cin, Cout, F, T, Tp, f, tb);                           \
        for (; co + 4 <= Cout; co += 4)                                                        \
            fwd_block_4_##NR(y, xp, w, b, co, Cin, Cout, F, T, Tp, f, tb);                           \
        for (; co < Cout; co++)                                                                \
            fwd_block_1_##NR(y, xp, w, b, co, Cin, Cout, F, T, Tp, f, tb);                           \
    } while (0)

/* y (Cout, F, T) = conv(xp) + b with xp already padded and the weights transposed to
 * (Cin, 9, Cout): the NC weights a tap needs are adjacent (one base register, not NC). */
static void fwd_core(float *y, const float *xp, const float *w, const float *b, int Cin,
                     int Cout, int F, int T, int Tp)
{
    for (int f = 0; f < F; f++)
        for (int tb = 0; tb < T; tb += VL)
            FWD_COLS(1);
}

/* wt (Cin, 9, Cout) from w (Cout, Cin, 3, 3). */
static void transpose_w(float *wt, const float *w, int Cin, int Cout)
{
    for (int co = 0; co < Cout; co++)
        for (int ci = 0; ci < Cin; ci++)
            for (int k = 0; k < 9; k++)
                wt[((size_t)ci * 9 + k) * Cout + co] = w[((size_t)co * Cin + ci) * 9 + k];
}

/* Scratch layout: xp (Cin planes), gp (Cout planes), wt (Cin * Cout * 9). */
static float *scratch_wt(float *scratch, const conv2d_dims *d)
{
    return scratch + (size_t)(d->Cin + d->Cout) * (d->F + 2) * padded_t(d->T);
}

void conv3x3_direct_forward(float *y, const float *x, const float *w, const float *b,
                            const conv2d_dims *d, float *scratch)
{
    const int Tp = padded_t(d->T);
    float *wt = scratch_wt(scratch, d);
    transpose_w(wt, w, d->Cin, d->Cout);
    pad_planes(scratch, x, d->Cin, d->F, d->T, Tp);
    fwd_core(y, scratch, wt, b, d->Cin, d->Cout, d->F, d->T, Tp);
}

void conv2d_bnrelu_forward(float *out, const float *in, const float *scale, const float *shift,
                           const float *w, const float *b, const conv2d_dims *d, float *ws)
{
    const int Tp = padded_t(d->T);
    const size_t isn = d->in_sn ? d->in_sn : (size_t)d->Cin * d->F * d->T;
    const size_t osn = d->out_sn ? d->out_sn : (size_t)d->Cout * d->F * d->T;
    /* the same per-thread slots as conv2d_workspace_floats (its slot is at least ours) */
    const size_t slot = conv2d_workspace_floats(d) / (size_t)omp_get_max_threads();
#pragma omp parallel for schedule(static)
    for (int n = 0; n < d->N; n++) {
        float *xp = ws + (size_t)omp_get_thread_num() * slot, *wt = scratch_wt(xp, d);
        transpose_w(wt, w, d->Cin, d->Cout);
        pad_planes_bnrelu(xp, in + (size_t)n * isn, scale, shift, d->Cin, d->F, d->T, Tp);
        fwd_core(out + (size_t)n * osn, xp, wt, b, d->Cin, d->Cout, d->F, d->T, Tp);
    }
}

void conv3x3_direct_backward(float *dx, float *dw, const float *g, const float *x,
                             const float *w, const conv2d_dims *d, float *scratch)
{
    const int Cin = d->Cin, Cout = d->Cout, F = d->F, T = d->T, Tp = padded_t(T);
    const size_t plane = (size_t)(F + 2) * Tp;
    float *xp = scratch, *gp = xp + (size_t)Cin * plane, *wt = gp + (size_t)Cout * plane;
    pad_planes(gp, g, Cout, F, T, Tp);
    if (dx) {
        /* dx = full correlation of g with the flipped kernel: a 3x3 conv from Cout to Cin
         * channels with weights w'[ci][co][i][j] = w[co][ci][2-i][2-j], given to fwd_core
         * transposed as (Cout, 9, Cin) */
        for (int co = 0; co < Cout; co++)
            for (int ci = 0; ci < Cin; ci++)
                for (int k = 0; k < 9; k++)
                    wt[((size_t)co * 9 + k) * Cin + ci] = w[((size_t)co * Cin + ci) * 9 + 8 - k];
        fwd_core(dx, gp, wt, NULL, Cout, Cin, F, T, Tp);
    }
    /* dw[co][ci][i][j] += sum_{f,t} g[co][f][t] * xp[ci][f+i][t+j]; g read from its padded
     * copy (interior at +1, +1), whose zero columns past T silence the tail lanes */
    pad_planes(xp, x, Cin, F, T, Tp);
    for (int ci = 0; ci < Cin; ci++)
        for (int co = 0; co < Cout; co += 3) {
            /* 3 output channels x 9 taps = 27 accumulators: per (row, 16 frames) 3 g loads and
             * 9 x loads feed 27 FMAs (the loop is load-bound; 2 channels gave 18 per 11) */
            const int nco = Cout - co < 3 ? Cout - co : 3;
            vf a[3][9];
            for (int c = 0; c < 3; c++)
                for (int k = 0; k < 9; k++)
                    a[c][k] = (vf){0};
            const float *g0 = gp + ((size_t)co * (F + 2) + 1) * Tp + 1;
            const float *g1 = nco > 1 ? g0 + plane : g0, *g2 = nco > 2 ? g0 + 2 * plane : g0;
            for (int f = 0; f < F; f++) {
                const float *xr = xp + ((size_t)ci * (F + 2) + f) * Tp;
                const size_t go = (size_t)f * Tp;
                for (int tb = 0; tb < T; tb += VL) {
                    const vf gv0 = ld(g0 + go + tb), gv1 = ld(g1 + go + tb),
                             gv2 = ld(g2 + go + tb);
                    _Pragma("GCC unroll 3") for (int i = 0; i < 3; i++)
                        _Pragma("GCC unroll 3") for (int j = 0; j < 3; j++)
                    {
                        const vf xv = ld(xr + (size_t)i * Tp + tb + j);
                        a[0][i * 3 + j] += gv0 * xv;
                        a[1][i * 3 + j] += gv1 * xv;
                        a[2][i * 3 + j] += gv2 * xv;
                    }
                }
            }
            for (int c = 0; c < nco; c++)
                for (int k = 0; k < 9; k++)
                    dw[((size_t)(co + c) * Cin + ci) * 9 + k] += hsum(a[c][k]);
        }
}
