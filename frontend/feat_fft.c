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

#define V FEAT_LANES

/* zr, zi: (m, V) in place -> bit-reversed spectrum. */
static void fft_dif(const feat_fft *f, float *restrict zr, float *restrict zi)
{
    const int m = f->m;
    for (int len = m; len >= 2; len >>= 1) {
        const int half = len / 2, tstep = m / len;
        for (int s = 0; s < m; s += len) {
            for (int j = 0; j < half; j++) {
                const float wr = f->twr[j * tstep], wi = f->twi[j * tstep];
                float *restrict ar = zr + (size_t)(s + j) * V, *restrict ai = zi + (size_t)(s + j) * V;
                float *restrict br = zr + (size_t)(s + j + half) * V;
                float *restrict bi = zi + (size_t)(s + j + half) * V;
                if (j == 0) {
#pragma omp simd
                    for (int l = 0; l < V; l++) {
                        float xr = ar[l] - br[l], xi = ai[l] - bi[l];
                        ar[l] += br[l];
                        ai[l] += bi[l];
                        br[l] = xr;
                        bi[l] = xi;
                    }
                    continue;
                }
#pragma omp simd
                for (int l = 0; l < V; l++) {
                    float xr = ar[l] - br[l], xi = ai[l] - bi[l];
                    ar[l] += br[l];
                    ai[l] += bi[l];
                    br[l] = xr * wr - xi * wi;
                    bi[l] = xr * wi + xi * wr;
                }
            }
        }
    }
}

void feat_fft_power(const feat_fft *f, float *restrict zr, float *restrict zi,
                    float *restrict power)
{
    fft_dif(f, zr, zi);
    const int m = f->m;
    const int *rev = f->rev;
    {
        const float *r0 = zr, *i0 = zi; /* rev[0] = 0 */
        float *p0 = power, *pm = power + (size_t)m * V;
#pragma omp simd
        for (int l = 0; l < V; l++) {
            float x0 = r0[l] + i0[l], xm = r0[l] - i0[l];
            p0[l] = x0 * x0;
            pm[l] = xm * xm;
        }
    }
    for (int k = 1; k < m; k++) {
        const float *ar = zr + (size_t)rev[k] * V, *ai = zi + (size_t)rev[k] * V;
        const float *br = zr + (size_t)rev[m - k] * V, *bi = zi + (size_t)rev[m - k] * V;
        const float wr = f->wnr[k], wi = f->wni[k];
        float *p = power + (size_t)k * V;
#pragma omp simd
        for (int l = 0; l < V; l++) {
            /* b = conj(Z[m-k]) */
            float er = 0.5f * (ar[l] + br[l]), ei = 0.5f * (ai[l] - bi[l]);
            float or_ = 0.5f * (ai[l] + bi[l]), oi = -0.5f * (ar[l] - br[l]);
            float xr = er + (wr * or_ - wi * oi), xi = ei + (wr * oi + wi * or_);
            p[l] = xr * xr + xi * xi;
        }
    }
}
