/* feat_fft.c — power spectra of 8 real frames at once ("vertical" SIMD: element i of frame l
 * at [i * FEAT_LANES + l], so every operation is one 8-float vector op that GCC vectorises).
 *
 * A real FFT of N = 2M points as a complex FFT of M points on z[n] = x[2n] + i x[2n+1]
 * (iterative radix-2 decimation in frequency, output in bit-reversed order), then the usual
 * split: X[k] = (Z[k] + conj Z[M-k]) / 2 - i W_N^k (Z[k] - conj Z[M-k]) / 2. Twiddles are
 * computed in double and stored as float. Only powers of two (N >= 4); the computer falls back
 * to FFTW for other sizes. Deterministic (no planner timing), unlike FFTW_MEASURE plans. */
#include <math.h>
#include <stdlib.h>

#include "feat_internal.h"

void feat_fft_free(feat_fft *f)
{
    if (!f)
        return;
    free(f->twr);
    free(f->twi);
    free(f->wnr);
    free(f->wni);
    free(f->rev);
    memset(f, 0, sizeof *f);
}

ch_status feat_fft_make(feat_fft *f, int n, ch_error *err)
{
    memset(f, 0, sizeof *f);
    if (n < 4 || (n & (n - 1)))
        return ch_fail(err, CH_ERR_INTERNAL, "features: fft size %d is not a power of two >= 4",
                       n);
    int m = n / 2, bits = 0;
    while ((1 << bits) < m)
        bits++;
    f->n = n;
    f->m = m;
    f->twr = ch_malloc(err, sizeof(float) * (size_t)m, "fft");
    f->twi = ch_malloc(err, sizeof(float) * (size_t)m, "fft");
    f->wnr = ch_malloc(err, sizeof(float) * (size_t)m, "fft");
    f->wni = ch_malloc(err, sizeof(float) * (size_t)m, "fft");
    f->rev = ch_malloc(err, sizeof(int) * (size_t)m, "fft");
    if (!f->twr || !f->twi || !f->wnr || !f->wni || !f->rev) {
        feat_fft_free(f);
        return CH_ERR_NOMEM;
    }
    for (int j = 0; j < m; j++) {
        f->twr[j] = (float)cos(2.0 * M_PI * j / m);
        f->twi[j] = (float)-sin(2.0 * M_PI * j / m);
        f->wnr[j] = (float)cos(2.0 * M_PI * j / n);
        f->wni[j] = (float)-sin(2.0 * M_PI * j / n);
        int r = 0;
        for (int b = 0; b < bits; b++)
            if (j & (1 << b))
                r |= 1 << (bits - 1 - b);
        f->rev[j] = r;
    }
    return CH_OK;
}

/* zr, zi: (m) vectors in place -> bit-reversed spectrum. Radix-4 stages, each equal to two
 * radix-2 DIF stages (same output order), with a final radix-2 stage when log2(m) is odd:
 * for q = len/4, j < q, a_k = z[s + j + k q], W = W_len:
 *   z[j] = (a0 + a2) + (a1 + a3)            z[q + j]  = ((a0 + a2) - (a1 + a3)) W^2j
 *   z[2q + j] = ((a0 - a2) - i(a1 - a3)) W^j   z[3q + j] = ((a0 - a2) + i(a1 - a3)) W^3j */
static void fft_dif(const feat_fft *f, feat_v8f *restrict zr, feat_v8f *restrict zi)
{
    const int m = f->m;
    const float *twr = f->twr, *twi = f->twi;
    int len = m;
    for (; len >= 4; len >>= 2) {
        const int q = len / 4, tstep = m / len;
        for (int s = 0; s < m; s += len) {
            feat_v8f *r0 = zr + s, *r1 = r0 + q, *r2 = r1 + q, *r3 = r2 + q;
            feat_v8f *i0 = zi + s, *i1 = i0 + q, *i2 = i1 + q, *i3 = i2 + q;
            for (int j = 0; j < q; j++) {
                feat_v8f t0r = r0[j] + r2[j], t0i = i0[j] + i2[j];
                feat_v8f t1r = r0[j] - r2[j], t1i = i0[j] - i2[j];
                feat_v8f t2r = r1[j] + r3[j], t2i = i1[j] + i3[j];
                /* t3 = -i (a1 - a3) */
                feat_v8f t3r = i1[j] - i3[j], t3i = r3[j] - r1[j];
                r0[j] = t0r + t2r;
                i0[j] = t0i + t2i;
                feat_v8f ur = t0r - t2r, ui = t0i - t2i;      /* * W^2j */
                feat_v8f vr = t1r + t3r, vi = t1i + t3i;      /* * W^j */
                feat_v8f wr_ = t1r - t3r, wi_ = t1i - t3i;    /* * W^3j */
                if (j == 0) {
                    r1[j] = ur;
                    i1[j] = ui;
                    r2[j] = vr;
                    i2[j] = vi;
                    r3[j] = wr_;
                    i3[j] = wi_;
                    continue;
                }
                const int k1 = j * tstep, k2 = 2 * k1, k3 = 3 * k1;
                r1[j] = ur * twr[k2] - ui * twi[k2];
                i1[j] = ur * twi[k2] + ui * twr[k2];
                r2[j] = vr * twr[k1] - vi * twi[k1];
                i2[j] = vr * twi[k1] + vi * twr[k1];
                r3[j] = wr_ * twr[k3] - wi_ * twi[k3];
                i3[j] = wr_ * twi[k3] + wi_ * twr[k3];
            }
        }
    }
    if (len == 2) { /* last radix-2 stage: twiddle 1 */
        for (int s = 0; s < m; s += 2) {
            feat_v8f xr = zr[s] - zr[s + 1], xi = zi[s] - zi[s + 1];
            zr[s] += zr[s + 1];
            zi[s] += zi[s + 1];
            zr[s + 1] = xr;
            zi[s + 1] = xi;
        }
    }
}

void feat_fft_power(const feat_fft *f, float *restrict zr_, float *restrict zi_,
                    float *restrict power_)
{
    feat_v8f *zr = (feat_v8f *)zr_, *zi = (feat_v8f *)zi_, *power = (feat_v8f *)power_;
    fft_dif(f, zr, zi);
    const int m = f->m;
    const int *rev = f->rev;
    {
        feat_v8f x0 = zr[0] + zi[0], xm = zr[0] - zi[0]; /* rev[0] = 0 */
        power[0] = x0 * x0;
        power[m] = xm * xm;
    }
    for (int k = 1; k < m; k++) {
        const feat_v8f ar = zr[rev[k]], ai = zi[rev[k]];
        const feat_v8f br = zr[rev[m - k]], bi = zi[rev[m - k]]; /* b = conj(Z[m-k]) */
        const float wr = f->wnr[k], wi = f->wni[k];
        feat_v8f er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);
        feat_v8f or_ = 0.5f * (ai + bi), oi = -0.5f * (ar - br);
        feat_v8f xr = er + (wr * or_ - wi * oi), xi = ei + (wr * oi + wi * or_);
        power[k] = xr * xr + xi * xi;
    }
}
