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
/* 8 floats / 8 int32 as GCC/Clang vector extensions (see feat_log_floor below). */
typedef float feat_v8f __attribute__((vector_size(32), __may_alias__));
typedef int32_t feat_v8i __attribute__((vector_size(32), __may_alias__));

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

/* 8 floats / 8 int32 as GCC/Clang vector extensions: one vector = the FEAT_LANES frames of a
 * "vertical" row, so the hot loops are vectorised by construction, whatever the compiler's
 * vectoriser decides (it does not vectorise these loops in -std=c11 mode). may_alias: they
 * are loaded straight from float buffers (64-byte aligned workspace rows). */

/* Natural log of 8 positive, finite, normal floats; max error about 1 ulp (Cephes logf
 * polynomial), branch-free. Bit-identical to feat_logf below. */
static inline feat_v8f feat_logf_v8(feat_v8f x)
{
    feat_v8i u = (feat_v8i)x;
    feat_v8i e = ((u >> 23) & 0xff) - 126;
    u = (u & 0x007fffff) | 0x3f000000; /* mantissa in [0.5, 1) */
    feat_v8f m = (feat_v8f)u;
    feat_v8i small = m < 0.707106781186547524f; /* -1 where true */
    e += small;
    m = (m - 1.0f) + (feat_v8f)(small & (feat_v8i)m); /* 2m - 1 or m - 1, both exact */
    feat_v8f z = m * m;
    feat_v8f y = m * 7.0376836292e-2f - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    feat_v8f fe = __builtin_convertvector(e, feat_v8f);
    y += fe * -2.12194440e-4f;
    y += z * -0.5f;
    return m + y + fe * 0.693359375f;
}

/* Scalar twin of feat_logf_v8 (same operations, same rounding). */
static inline float feat_logf(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    int e = (int)((u >> 23) & 0xff) - 126;
    u = (u & 0x007fffffu) | 0x3f000000u;
    float m;
    memcpy(&m, &u, sizeof m);
    int small = m < 0.707106781186547524f;
    e -= small;
    m = (m - 1.0f) + (small ? m : 0.0f);
    float z = m * m;
    float y = m * 7.0376836292e-2f - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    float fe = (float)e;
    y += fe * -2.12194440e-4f;
    y += z * -0.5f;
    return m + y + fe * 0.693359375f;
}

/* y[i] = log(max(x[i], FLT_EPSILON)) for i < n (may alias). Whole vectors when y and x are
 * 32-byte aligned; n need not be a multiple of 8. */
static inline void feat_log_floor(float *y, const float *x, int n)
{
    int i = 0;
    if (((uintptr_t)y % 32) == 0 && ((uintptr_t)x % 32) == 0) {
        const feat_v8f eps = {FLT_EPSILON, FLT_EPSILON, FLT_EPSILON, FLT_EPSILON,
                              FLT_EPSILON, FLT_EPSILON, FLT_EPSILON, FLT_EPSILON};
        for (; i + 8 <= n; i += 8) {
            feat_v8f v = *(const feat_v8f *)(x + i);
            feat_v8i keep = v > eps;
            v = (feat_v8f)((keep & (feat_v8i)v) | (~keep & (feat_v8i)eps));
            *(feat_v8f *)(y + i) = feat_logf_v8(v);
        }
    }
    for (; i < n; i++)
        y[i] = feat_logf(x[i] > FLT_EPSILON ? x[i] : FLT_EPSILON);
}

#endif
