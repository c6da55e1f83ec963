/* mel_banks.c — Kaldi's triangular mel filter bank (MelBanks, KALDI-FEATURES.md §5), in float
 * math exactly as Kaldi computes it (MelScale = 1127 logf(1 + f/700)), stored sparse. */
#include <math.h>
#include <stdlib.h>

#include "feat_internal.h"

static float mel_scale(float f)
{
    return 1127.0f * logf(1.0f + f / 700.0f);
}

void mel_banks_free(mel_banks *mb)
{
    if (!mb)
        return;
    free(mb->first);
    free(mb->len);
    free(mb->off);
    free(mb->w);
    memset(mb, 0, sizeof *mb);
}

ch_status mel_banks_make(mel_banks *mb, int num_bins, float samp_freq_hz, int fft_size,
                         float low_freq_hz, float high_freq_hz, ch_error *err)
{
    memset(mb, 0, sizeof *mb);
    int num_fft_bins = fft_size / 2;
    float nyquist = 0.5f * samp_freq_hz;
    float lo = low_freq_hz, hi = high_freq_hz > 0.0f ? high_freq_hz : nyquist + high_freq_hz;
    float fft_bin_width = samp_freq_hz / (float)fft_size;
    float mel_lo = mel_scale(lo), mel_hi = mel_scale(hi);
    float delta = (mel_hi - mel_lo) / (float)(num_bins + 1);

    mb->num_bins = num_bins;
    mb->first = ch_calloc(err, (size_t)num_bins, sizeof(int), "mel banks");
    mb->len = ch_calloc(err, (size_t)num_bins, sizeof(int), "mel banks");
    mb->off = ch_calloc(err, (size_t)num_bins, sizeof(int), "mel banks");
    float *tmp = ch_calloc(err, (size_t)num_fft_bins, sizeof(float), "mel banks");
    /* each FFT bin lies in at most two filters, so 2 * num_fft_bins bounds the nonzeros */
    mb->w = ch_calloc(err, 2 * (size_t)num_fft_bins + 1, sizeof(float), "mel banks");
    if (!mb->first || !mb->len || !mb->off || !tmp || !mb->w) {
        free(tmp);
        mel_banks_free(mb);
        return CH_ERR_NOMEM;
    }
    int nnz = 0;
    for (int b = 0; b < num_bins; b++) {
        float left = mel_lo + (float)b * delta;
        float center = mel_lo + (float)(b + 1) * delta;
        float right = mel_lo + (float)(b + 2) * delta;
        int first = -1, last = -1;
        for (int i = 0; i < num_fft_bins; i++) {
            float mel = mel_scale(fft_bin_width * (float)i);
            float w = 0.0f;
            if (mel > left && mel < right) {
                w = mel <= center ? (mel - left) / (center - left)
                                  : (right - mel) / (right - center);
                if (first < 0)
                    first = i;
                last = i;
            }
            tmp[i] = w;
        }
        if (first < 0) {
            free(tmp);
            mel_banks_free(mb);
            return ch_fail(err, CH_ERR_USAGE,
                           "--num-mel-bins: mel bin %d is empty (%d bins is too many for a "
                           "%d-point FFT and this frequency range)",
                           b, num_bins, fft_size);
        }
        mb->first[b] = first;
        mb->len[b] = last - first + 1;
        mb->off[b] = nnz;
        for (int i = first; i <= last; i++)
            mb->w[nnz++] = tmp[i];
    }
    mb->nnz = nnz;
    free(tmp);
    return CH_OK;
}
