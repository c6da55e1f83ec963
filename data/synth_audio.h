/* synth_audio.h — signal helpers of the corpus synthesiser: noise generators (white, pink,
 * brown, mains hum), RMS and a simple echo. WAV output and resampling are
 * frontend/audio.h's (audio_write_wav, audio_resample).
 *
 * All samples are float on the int16 scale (as frontend/audio.h). Everything random takes an
 * explicit rng, so a seed fixes the output bit for bit.
 */
#ifndef CHORUS_SYNTH_AUDIO_H
#define CHORUS_SYNTH_AUDIO_H

#include <stddef.h>

#include "common/rng.h"
#include "common/status.h"

typedef enum { SYNTH_WHITE = 0, SYNTH_PINK, SYNTH_BROWN, SYNTH_HUM } synth_noise_kind;

/* Fills out[0..n) with noise of the kind at 16 kHz, scaled to RMS `rms`. */
void synth_noise(rng *r, synth_noise_kind kind, float *out, long n, double rms);

/* Root mean square of x[0..n) (0 for n = 0). */
double synth_rms(const float *x, long n);

/* In place: x[i] += gain * x[i - delay] (a single reflection, the "reverb-ish" echo). */
void synth_echo(float *x, long n, long delay, double gain);

#endif
