/* augment.h — training-time data augmentation on waveforms (int16 scale) and feature matrices.
 *
 * Everything random takes an explicit rng (common/rng.h), so a seed fixes every draw; nothing
 * keeps state between calls. Waveform functions work in place or into caller buffers; only
 * libsoxr allocates (internally, freed before return) inside augment_speed / augment_wave.
 *
 *   additive noise at an SNR   augment_add_noise   (noise looped/cropped at a random offset)
 *   time shift                 augment_shift       (zero fill), augment_draw_shift
 *   speed perturbation         augment_speed       (resampling like `sox speed`: tempo and pitch)
 *   volume                     augment_gain
 *   SpecAugment                augment_spec_mask   (time and frequency masks on (frames, bins))
 *   a whole random chain       augment_wave        (speed, gain, shift, noise from options)
 */
#ifndef CHORUS_AUGMENT_H
#define CHORUS_AUGMENT_H

#include <stdbool.h>

#include <stddef.h>

#include "common/options.h"
#include "common/rng.h"
#include "common/status.h"

typedef enum { AUGMENT_FILL_ZERO = 0, AUGMENT_FILL_MEAN = 1 } augment_fill;

typedef struct {
    float noise_prob;     /* probability of adding noise (when a noise source is given) */
    float snr_min_db;     /* SNR drawn uniformly in [snr_min_db, snr_max_db] */
    float snr_max_db;
    float shift_max_ms;   /* shift drawn uniformly in [-max, +max] ms (whole samples) */
    float speed_min;      /* speed factor drawn uniformly in [speed_min, speed_max]; 1,1: off */
    float speed_max;
    float gain_min_db;    /* gain drawn uniformly in [gain_min_db, gain_max_db] */
    float gain_max_db;
    int freq_masks;       /* SpecAugment: number of frequency masks */
    int freq_mask_max;    /* ... each of width uniform in [0, freq_mask_max] bins */
    int time_masks;       /* number of time masks */
    int time_mask_max;    /* ... each of width uniform in [0, time_mask_max] frames */
    int mask_fill;        /* augment_fill: masked cells become 0 or the matrix mean */
} augment_options;

/* The KWS recipe: noise with p 0.8 at 5-20 dB SNR, +-100 ms shift, speed 0.9-1.1, gain +-6 dB,
 * 2 frequency masks of up to 8 bins and 2 time masks of up to 10 frames, filled with the mean. */
augment_options augment_options_default(void);
extern const opt_desc augment_opts[];
extern const size_t augment_n_opts;

/* Checks ranges that the option table cannot (min <= max pairs). CH_ERR_USAGE with a message
 * naming the option. */
ch_status augment_options_check(const augment_options *o, ch_error *err);
/* The same for options named "--<prefix>snr-min" etc. (the trainers use prefix ""). */
ch_status augment_options_check_named(const augment_options *o, const char *prefix,
                                      ch_error *err);

/* Option-table entries for an augment_options member `m` of the options struct `st`, with the
 * names and ranges kws-train and sv-train share (--noise-prob --snr-min --snr-max; --speed-min
 * --speed-max --gain-min --gain-max; --freq-masks --freq-mask-max --time-masks
 * --time-mask-max). */
#define AUGMENT_OPT_(st, m, f, type, ctype, name, lo, hi, help)                                \
    {name, type, offsetof(st, m) + offsetof(augment_options, f), sizeof(ctype), lo, hi, NULL, help}
#define AUGMENT_NOISE_OPTS(st, m)                                                               \
    AUGMENT_OPT_(st, m, noise_prob, OPT_T_FLOAT, float, "noise-prob", 0, 1,                    \
                 "Probability of mixing noise into a training example"),                        \
    AUGMENT_OPT_(st, m, snr_min_db, OPT_T_FLOAT, float, "snr-min", -30, 100,                   \
                 "Lowest mixing SNR (dB)"),                                                     \
    AUGMENT_OPT_(st, m, snr_max_db, OPT_T_FLOAT, float, "snr-max", -30, 100,                   \
                 "Highest mixing SNR (dB)")
#define AUGMENT_SPEED_GAIN_OPTS(st, m)                                                          \
    AUGMENT_OPT_(st, m, speed_min, OPT_T_FLOAT, float, "speed-min", 0.5, 2,                    \
                 "Lowest speed perturbation factor (1 = off)"),                                 \
    AUGMENT_OPT_(st, m, speed_max, OPT_T_FLOAT, float, "speed-max", 0.5, 2,                    \
                 "Highest speed perturbation factor (1 = off)"),                                \
    AUGMENT_OPT_(st, m, gain_min_db, OPT_T_FLOAT, float, "gain-min", -60, 60,                  \
                 "Lowest volume change (dB)"),                                                  \
    AUGMENT_OPT_(st, m, gain_max_db, OPT_T_FLOAT, float, "gain-max", -60, 60,                  \
                 "Highest volume change (dB)")
#define AUGMENT_SPEC_OPTS(st, m)                                                                \
    AUGMENT_OPT_(st, m, freq_masks, OPT_T_INT, int, "freq-masks", 0, 100,                      \
                 "SpecAugment frequency masks"),                                                \
    AUGMENT_OPT_(st, m, freq_mask_max, OPT_T_INT, int, "freq-mask-max", 0, 10000,              \
                 "Widest frequency mask (bins)"),                                               \
    AUGMENT_OPT_(st, m, time_masks, OPT_T_INT, int, "time-masks", 0, 100,                      \
                 "SpecAugment time masks"),                                                     \
    AUGMENT_OPT_(st, m, time_mask_max, OPT_T_INT, int, "time-mask-max", 0, 100000,             \
                 "Widest time mask (frames)")

/* Adds noise to x (n samples) in place so that 10*log10(P(x) / P(added)) = snr_db, where P is
 * the mean square. The noise is read from a random offset in noise[0..n_noise) (drawn with r),
 * wrapping around to its start when x is longer. If x is silent (P(x) = 0) nothing is added:
 * an SNR relative to silence is undefined. Errors (CH_ERR_USAGE): n_noise <= 0, a silent noise
 * segment, non-finite snr_db. *gain_out (may be NULL) receives the factor the noise was
 * scaled by (0 when nothing was added). */
ch_status augment_add_noise(float *x, long n, const float *noise, long n_noise, double snr_db,
                            rng *r, double *gain_out, ch_error *err);

/* Shifts x (n samples) in place by `shift` samples: x'[i] = x[i - shift], zero where i - shift
 * is outside [0, n). Positive shift delays (moves audio later). |shift| >= n gives all zeros. */
void augment_shift(float *x, long n, long shift);

/* A shift in whole samples, uniform in [-round(max_ms * rate / 1000), +...]. */
long augment_draw_shift(rng *r, double max_ms, int rate_hz);

/* Output length of augment_speed: round(n / factor). */
long augment_speed_length(long n, double factor);

/* Speed perturbation like `sox speed factor`: x is resampled as if it had been recorded at
 * rate*factor, so tempo and pitch both scale by factor and the length by 1/factor. y must have
 * room for cap >= augment_speed_length(n, factor) samples; *ny receives that length. factor in
 * (0.1, 10). factor == 1 copies. */
ch_status augment_speed(float *y, long cap, long *ny, const float *x, long n, double factor,
                        ch_error *err);

/* Multiplies x by 10^(gain_db / 20) in place. No clipping (features are float; a WAV writer
 * clips). */
void augment_gain(float *x, long n, double gain_db);

typedef struct {
    int start;  /* first masked frame or bin */
    int width;  /* number masked (may be 0) */
} augment_mask;

/* SpecAugment masks on feats: (frames, bins), row-major (Kaldi's layout). Draws o->freq_masks
 * frequency masks of width uniform in [0, min(freq_mask_max, bins)] at a uniform start, then
 * o->time_masks time masks likewise over frames, and sets the covered cells to 0 or to the
 * mean of the whole matrix (taken before masking). The drawn masks are stored in freq_out /
 * time_out (arrays of o->freq_masks / o->time_masks entries; either may be NULL). */
void augment_spec_mask(float *feats, int frames, int bins, const augment_options *o, rng *r,
                       augment_mask *freq_out, augment_mask *time_out);

/* Samples augment_wave may need for n input samples: the length after the slowest speed. */
long augment_wave_capacity(long n, const augment_options *o);

/* The waveform chain with draws from o: speed (if speed_min != speed_max or != 1), gain, shift,
 * then noise with probability noise_prob (when noise != NULL and n_noise > 0). y has room for
 * cap >= augment_wave_capacity(n, o); *ny receives the output length. y must not overlap x. */
ch_status augment_wave(float *y, long cap, long *ny, const float *x, long n, int rate_hz,
                       const float *noise, long n_noise, const augment_options *o, rng *r,
                       ch_error *err);

#endif
