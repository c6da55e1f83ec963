/* audio.h — audio input/output through libsndfile, at Kaldi's int16 sample scale.
 *
 * Every format libsndfile reads (WAV, FLAC, OGG, AIFF, ...). Samples are returned as float on
 * the int16 scale (-32768..32767), the scale Kaldi's features are defined on (KALDI-FEATURES.md
 * §1). A file at another rate is resampled to `target_rate_hz` with libsoxr (high quality); a
 * multi-channel file is mixed down to mono (channel = -1) or one channel is chosen
 * (channel >= 0). What was converted is recorded in audio_buf so the tools can say so.
 *
 * A path ending in '|' is a shell command whose stdout is the audio, as in Kaldi's wav.scp
 * ("flac -c -d -s a.flac |").
 *
 * Errors (CH_ERR_IO / CH_ERR_FORMAT, message "<path>: <problem>"): missing or unreadable file,
 * not audio, corrupt or truncated data, zero samples, channel out of range, failed command.
 */
#ifndef CHORUS_AUDIO_H
#define CHORUS_AUDIO_H

#include <stdbool.h>
#include <stdio.h>

#include "common/options.h"
#include "common/status.h"

typedef struct {
    int target_rate_hz; /* resample to this rate; 0 keeps the file's rate */
    int channel;        /* -1: mix all channels down to mono; N >= 0: take channel N */
} audio_options;

audio_options audio_options_default(void); /* 16000 Hz, channel -1 */
extern const opt_desc audio_opts[];        /* --sample-frequency, --channel */
extern const size_t audio_n_opts;

typedef struct {
    float *samples;     /* n samples, int16 scale, owned by the audio_buf (audio_free) */
    long n;
    int rate_hz;        /* rate of `samples` (target rate unless it was 0) */
    int file_rate_hz;   /* rate in the file */
    int file_channels;  /* channels in the file */
    bool resampled;     /* file_rate_hz != rate_hz */
    bool mixed_down;    /* file had > 1 channel and they were averaged */
} audio_buf;

/* Reads a whole file (o == NULL: audio_options_default()). On success the caller owns
 * out->samples (audio_free); on failure out->samples is NULL and nothing needs freeing.
 * Statuses: CH_ERR_IO missing/unreadable path or a directory; CH_ERR_FORMAT empty file, not
 * audio, corrupt, truncated ("truncated: header says N frames, got M"), no samples, or
 * channel >= the file's channel count; CH_ERR_USAGE a negative target rate. */
ch_status audio_read(const char *path, const audio_options *o, audio_buf *out, ch_error *err);

/* true if spec is a command audio_read runs ("sox a.flac -t wav - |": its last non-blank
 * character is '|'), so there is no file to stat or to resolve against a folder. */
bool audio_is_command(const char *spec);

/* Reads raw little-endian signed 16-bit mono PCM at rate_hz from an open stream (stdin for
 * "-"), up to max_samples (or to EOF when max_samples < 0). name is used in messages.
 * CH_ERR_FORMAT for an odd byte count (a torn sample) or no bytes at all. */
ch_status audio_read_pcm16(FILE *f, const char *name, int rate_hz, long max_samples,
                           audio_buf *out, ch_error *err);

void audio_free(audio_buf *a);

/* True when a file name has an extension libsndfile reads (wav, flac, ogg, ..., case-blind);
 * dot files are not audio. What the folder readers use to pick audio files. */
bool audio_name_is_audio(const char *name);

/* Writes mono 16-bit PCM WAV (samples on the int16 scale, rounded to nearest, clipped to
 * [-32768, 32767], NaN as 0). Atomic (temp + fsync + rename, common/fileio.h). */
ch_status audio_write_wav(const char *path, const float *samples, long n, int rate_hz,
                          ch_error *err);

/* Resamples x (n samples at in_rate) to out_rate with libsoxr (HQ, one thread). *y is
 * malloc'ed, owned by the caller; *ny its length, round(n * out_rate / in_rate). Equal rates
 * copy. */
ch_status audio_resample(const float *x, long n, int in_rate, int out_rate, float **y, long *ny,
                         ch_error *err);

#endif
