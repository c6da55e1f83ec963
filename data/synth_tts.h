/* synth_tts.h — text-to-speech for the corpus synthesiser through libespeak-ng, linked directly
 * (synchronous output, samples collected by a callback, resampled 22050 -> 16000 Hz).
 *
 * espeak-ng keeps process-wide state and is not thread-safe: open one synth_tts per process
 * and call it from one thread. A build without espeak-ng (CHORUS_HAVE_ESPEAK=0) compiles;
 * synth_tts_open then fails with CH_ERR_UNSUPPORTED.
 */
#ifndef CHORUS_SYNTH_TTS_H
#define CHORUS_SYNTH_TTS_H

#include <stddef.h>

#include "common/status.h"

/* One synthetic speaker's voice settings (espeak-ng parameters). */
typedef struct {
    char voice[32];   /* "en+m3", "en-us+f2", "en+klatt" ... */
    int pitch;        /* base pitch 0..100 (espeak default 50) */
    int range;        /* pitch range 0..100 */
    int rate;         /* words per minute 80..450 */
    int word_gap;     /* extra pause between words, units of 10 ms */
} synth_voice;

typedef struct synth_tts synth_tts;

/* Initialises espeak-ng. Errors: no espeak-ng in this build (UNSUPPORTED), data files missing
 * (INTERNAL). Close with synth_tts_close. */
ch_status synth_tts_open(synth_tts **out, ch_error *err);
void synth_tts_close(synth_tts *t);

/* Speaks text with voice v. *samples (malloc'ed, caller owns) receives *n samples at 16 kHz,
 * int16 scale. Errors: unknown voice (FORMAT), synthesis failure (INTERNAL). */
ch_status synth_tts_say(synth_tts *t, const synth_voice *v, const char *text, float **samples,
                        long *n, ch_error *err);

#endif
