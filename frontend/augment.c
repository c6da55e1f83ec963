/* augment.c — waveform and SpecAugment augmentation (see augment.h).
 *
 * Powers are accumulated in double. Random draws happen in a fixed order per call, so a given
 * rng state always produces the same output (tests check this).
 */
#include <math.h>
#include <soxr.h>
#include <string.h>

#include "frontend/augment.h"

augment_options augment_options_default(void)
{
    augment_options o = {
        .noise_prob = 0.8f,
        .snr_min_db = 5.0f,
        .snr_max_db = 20.0f,
        .shift_max_ms = 100.0f,
        .speed_min = 0.9f,
        .speed_max = 1.1f,
        .gain_min_db = -6.0f,
        .gain_max_db = 6.0f,
        .freq_masks = 2,
        .freq_mask_max = 8,
        .time_masks = 2,
        .time_mask_max = 10,
        .mask_fill = AUGMENT_FILL_MEAN,
    };
    return o;
}

const opt_desc augment_opts[] = {
    OPT_FLOAT(augment_options, noise_prob, "aug-noise-prob", 0, 1,
              "Probability of adding background noise to an utterance"),
    OPT_FLOAT(augment_options, snr_min_db, "aug-snr-min", -30, 100, "Lowest noise SNR (dB)"),
    OPT_FLOAT(augment_options, snr_max_db, "aug-snr-max", -30, 100, "Highest noise SNR (dB)"),
    OPT_FLOAT(augment_options, shift_max_ms, "aug-shift-max", 0, 10000,
              "Largest random time shift either way (ms; 0: off)"),
    OPT_FLOAT(augment_options, speed_min, "aug-speed-min", 0.5, 2,
              "Lowest speed perturbation factor (1 with --aug-speed-max=1: off)"),
    OPT_FLOAT(augment_options, speed_max, "aug-speed-max", 0.5, 2,
              "Highest speed perturbation factor"),
    OPT_FLOAT(augment_options, gain_min_db, "aug-gain-min", -60, 60, "Lowest volume change (dB)"),
    OPT_FLOAT(augment_options, gain_max_db, "aug-gain-max", -60, 60, "Highest volume change (dB)"),
    OPT_INT(augment_options, freq_masks, "spec-freq-masks", 0, 100,
            "SpecAugment: number of frequency masks"),
    OPT_INT(augment_options, freq_mask_max, "spec-freq-mask-max", 0, 10000,
            "SpecAugment: widest frequency mask (bins)"),
    OPT_INT(augment_options, time_masks, "spec-time-masks", 0, 100,
            "SpecAugment: number of time masks"),
    OPT_INT(augment_options, time_mask_max, "spec-time-mask-max", 0, 100000,
            "SpecAugment: widest time mask (frames)"),
    OPT_CHOICE(augment_options, mask_fill, "spec-mask-fill", "zero|mean",
               "SpecAugment: value of masked cells (0 or the utterance mean)"),
};
const size_t augment_n_opts = OPT_COUNT(augment_opts);

ch_status augment_options_check_named(const augment_options *o, const char *prefix,
                                      ch_error *err)
{
    if (o->snr_min_db > o->snr_max_db)
        return ch_fail(err, CH_ERR_USAGE, "--%ssnr-min (%g) is above --%ssnr-max (%g)", prefix,
                       (double)o->snr_min_db, prefix, (double)o->snr_max_db);
    if (o->speed_min > o->speed_max)
        return ch_fail(err, CH_ERR_USAGE, "--%sspeed-min (%g) is above --%sspeed-max (%g)",
                       prefix, (double)o->speed_min, prefix, (double)o->speed_max);
    if (o->gain_min_db > o->gain_max_db)
        return ch_fail(err, CH_ERR_USAGE, "--%sgain-min (%g) is above --%sgain-max (%g)",
                       prefix, (double)o->gain_min_db, prefix, (double)o->gain_max_db);
    return CH_OK;
}

ch_status augment_options_check(const augment_options *o, ch_error *err)
{
    return augment_options_check_named(o, "aug-", err);
}

ch_status augment_add_noise(float *x, long n, const float *noise, long n_noise, double snr_db,
                            rng *r, double *gain_out, ch_error *err)
{
    if (gain_out)
        *gain_out = 0;
    if (!noise || n_noise <= 0)
        return ch_fail(err, CH_ERR_USAGE, "augment: empty noise source");
    if (!isfinite(snr_db))
        return ch_fail(err, CH_ERR_USAGE, "augment: SNR %g dB is not finite", snr_db);
    if (n <= 0)
        return CH_OK;
    /* crop a random window when the noise is long enough, else loop from a random offset */
    long off = n_noise >= n ? (long)rng_below(r, (uint32_t)(n_noise - n + 1))
                           : (long)rng_below(r, (uint32_t)n_noise);
    double ps = 0, pn = 0;
    for (long i = 0, j = off; i < n; i++) {
        ps += (double)x[i] * x[i];
        pn += (double)noise[j] * noise[j];
        if (++j == n_noise)
            j = 0;
    }
    if (ps == 0)
        return CH_OK;
    if (pn == 0)
        return ch_fail(err, CH_ERR_USAGE, "augment: the noise segment is silent");
    /* ps / (g^2 pn) = 10^(snr/10)  =>  g = sqrt(ps / (pn * 10^(snr/10))) */
    double g = sqrt(ps / (pn * pow(10.0, snr_db / 10.0)));
    for (long i = 0, j = off; i < n; i++) {
        x[i] = (float)(x[i] + g * noise[j]);
        if (++j == n_noise)
            j = 0;
    }
    if (gain_out)
        *gain_out = g;
    return CH_OK;
}

void augment_shift(float *x, long n, long shift)
{
    if (n <= 0 || shift == 0)
        return;
    if (shift >= n || shift <= -n) {
        memset(x, 0, (size_t)n * sizeof(float));
    } else if (shift > 0) {
        memmove(x + shift, x, (size_t)(n - shift) * sizeof(float));
        memset(x, 0, (size_t)shift * sizeof(float));
    } else {
        long s = -shift;
        memmove(x, x + s, (size_t)(n - s) * sizeof(float));
        memset(x + n - s, 0, (size_t)s * sizeof(float));
    }
}

long augment_draw_shift(rng *r, double max_ms, int rate_hz)
{
    long m = lround(max_ms * rate_hz / 1000.0);
    if (m <= 0)
        return 0;
    return (long)rng_below(r, (uint32_t)(2 * m + 1)) - m;
}

long augment_speed_length(long n, double factor)
{
    return lround((double)n / factor);
}

ch_status augment_speed(float *y, long cap, long *ny, const float *x, long n, double factor,
                        ch_error *err)
{
    *ny = 0;
    if (!(factor > 0.1 && factor < 10))
        return ch_fail(err, CH_ERR_USAGE, "augment: speed factor %g outside (0.1, 10)", factor);
    long want = augment_speed_length(n, factor);
    if (cap < want)
        return ch_fail(err, CH_ERR_USAGE, "augment: speed %g needs %ld output samples, room for %ld",
                       factor, want, cap);
    if (factor == 1.0) {
        memcpy(y, x, (size_t)n * sizeof(float));
        *ny = n;
        return CH_OK;
    }
    size_t done = 0;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    /* input "recorded" at factor, played at 1: as sox speed, which resamples by 1/factor */
    soxr_error_t e =
        soxr_oneshot(factor, 1.0, 1, x, (size_t)n, NULL, y, (size_t)want, &done, &io, &q, &rt);
    if (e)
        return ch_fail(err, CH_ERR_INTERNAL, "augment: speed %g: soxr: %s", factor, e);
    /* soxr may stop a sample short of round(n / factor) at fractional ratios: pad with 0 */
    for (long i = (long)done; i < want; i++)
        y[i] = 0;
    *ny = want;
    return CH_OK;
}

void augment_gain(float *x, long n, double gain_db)
{
    const float g = (float)pow(10.0, gain_db / 20.0);
    for (long i = 0; i < n; i++)
        x[i] *= g;
}

/* One mask over a dimension of size dim: width uniform in [0, min(max_w, dim)], start uniform
 * among the positions where it fits. */
static augment_mask draw_mask(rng *r, int dim, int max_w)
{
    augment_mask m = {0, 0};
    if (dim <= 0 || max_w <= 0)
        return m;
    int w_max = max_w < dim ? max_w : dim;
    m.width = (int)rng_below(r, (uint32_t)w_max + 1u);
    m.start = (int)rng_below(r, (uint32_t)(dim - m.width) + 1u);
    return m;
}

void augment_spec_mask(float *feats, int frames, int bins, const augment_options *o, rng *r,
                       augment_mask *freq_out, augment_mask *time_out)
{
    float fill = 0;
    if (o->mask_fill == AUGMENT_FILL_MEAN && frames > 0 && bins > 0) {
        double s = 0;
        for (long i = 0; i < (long)frames * bins; i++)
            s += feats[i];
        fill = (float)(s / ((double)frames * bins));
    }
    for (int k = 0; k < o->freq_masks; k++) {
        augment_mask m = draw_mask(r, bins, o->freq_mask_max);
        if (freq_out)
            freq_out[k] = m;
        for (int t = 0; t < frames; t++)
            for (int b = m.start; b < m.start + m.width; b++)
                feats[(long)t * bins + b] = fill;
    }
    for (int k = 0; k < o->time_masks; k++) {
        augment_mask m = draw_mask(r, frames, o->time_mask_max);
        if (time_out)
            time_out[k] = m;
        for (int t = m.start; t < m.start + m.width; t++)
            for (int b = 0; b < bins; b++)
                feats[(long)t * bins + b] = fill;
    }
}

long augment_wave_capacity(long n, const augment_options *o)
{
    double lo = o->speed_min < o->speed_max ? o->speed_min : o->speed_max;
    if (!(lo > 0.1) || lo > 1)
        lo = 1;
    return augment_speed_length(n, lo) + 1;
}

static double draw_range(rng *r, double lo, double hi)
{
    return lo == hi ? lo : lo + (hi - lo) * rng_uniform(r);
}

ch_status augment_wave(float *y, long cap, long *ny, const float *x, long n, int rate_hz,
                       const float *noise, long n_noise, const augment_options *o, rng *r,
                       ch_error *err)
{
    *ny = 0;
    CH_TRY(augment_options_check(o, err));
    /* every draw is made, used or not, so the rng advances the same way for any input */
    double speed = draw_range(r, o->speed_min, o->speed_max);
    double gain = draw_range(r, o->gain_min_db, o->gain_max_db);
    long shift = augment_draw_shift(r, o->shift_max_ms, rate_hz);
    int add_noise = rng_uniform(r) < o->noise_prob && noise && n_noise > 0;
    double snr = draw_range(r, o->snr_min_db, o->snr_max_db);
    long m;
    if (speed != 1.0) {
        CH_TRY(augment_speed(y, cap, &m, x, n, speed, err));
    } else {
        if (cap < n)
            return ch_fail(err, CH_ERR_USAGE, "augment: output has room for %ld of %ld samples",
                           cap, n);
        memcpy(y, x, (size_t)n * sizeof(float));
        m = n;
    }
    if (gain != 0)
        augment_gain(y, m, gain);
    augment_shift(y, m, shift);
    if (add_noise)
        CH_TRY(augment_add_noise(y, m, noise, n_noise, snr, r, NULL, err));
    *ny = m;
    return CH_OK;
}
