/* feat_internal.h — pieces shared by the feature computer's files (not a public API):
 * window functions (feat_window.c), sparse mel banks (mel_banks.c) and a vectorisable natural
 * log (here, inline, so the compiler can vectorise the loops that call it). */
#ifndef CHORUS_FEAT_INTERNAL_H
#define CHORUS_FEAT_INTERNAL_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "features.h"

/* Fills w[0..n) with the window of the given type, computed in double (KALDI-FEATURES.md §2). */
void feat_window_make(int type, float blackman_coeff, int n, float *w);

/* Triangular mel filters stored sparse: filter b has weights w[off[b] .. off[b]+len[b]) applying
 * to power-spectrum bins first[b] .. first[b]+len[b]. */
typedef struct {
    int num_bins;
    int *first; /* (num_bins) */
    int *len;   /* (num_bins) */
    int *off;   /* (num_bins) */
    float *w;   /* (total nonzeros) */
    int nnz;
} mel_banks;

/* Kaldi MelBanks (§5) for a padded FFT of `fft_size` points. CH_ERR_USAGE if a filter is empty
 * ("--num-mel-bins too large"). Owner: caller, mel_banks_free. */
ch_status mel_banks_make(mel_banks *mb, int num_bins, float samp_freq_hz, int fft_size,
                         float low_freq_hz, float high_freq_hz, ch_error *err);
void mel_banks_free(mel_banks *mb);

/* Frames processed together by the vertical SIMD pipeline (one AVX2 vector of floats). */
#define FEAT_LANES 8

/* Real power-of-two FFT of FEAT_LANES frames at once (feat_fft.c). */
typedef struct {
    int n, m;          /* real size n = 2m */
    float *twr, *twi;  /* (m) W_m^j, stage twiddles */
    float *wnr, *wni;  /* (m) W_n^k, real-split twiddles */
    int *rev;          /* (m) bit reversal of log2(m) bits */
} feat_fft;

ch_status feat_fft_make(feat_fft *f, int n, ch_error *err);
void feat_fft_free(feat_fft *f);
/* zr, zi: (m, LANES) with z[j] = x[2j] + i x[2j+1] of each lane's zero-padded frame; destroyed.
 * power: (m + 1, LANES) |X[k]|^2 for k = 0..m. */
void feat_fft_power(const feat_fft *f, float *restrict zr, float *restrict zi,
                    float *restrict power);

/* Natural log of a positive, finite, normal float; max error about 1 ulp (Cephes logf
 * polynomial). Written without branches or calls so loops over it vectorise. */
static inline float feat_logf(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u); /* bit casts by memcpy: the vectoriser handles these, unions not */
    int e = (int)((u >> 23) & 0xff) - 126;
    u = (u & 0x007fffffu) | 0x3f000000u; /* mantissa in [0.5, 1) */
    float m;
    memcpy(&m, &u, sizeof m);
    int small = m < 0.707106781186547524f;
    e -= small;
    m = (m - 1.0f) + (float)small * m; /* 2m - 1 or m - 1, both exact; no branch */
    float z = m * m;
    float y = 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    float fe = (float)e;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return m + y + 0.693359375f * fe;
}

/* y[i] = log(max(x[i], FLT_EPSILON)) for i < n (may alias). */
static inline void feat_log_floor(float *y, const float *x, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++) {
        y[i] = feat_logf(fmaxf(x[i], FLT_EPSILON));
    }
}

#endif
