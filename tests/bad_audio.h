/* bad_audio.h — audio fixtures for bad-input and conversion tests (header-only, test code only).
 *
 * bad_audio_make(dir, cases, flags) writes one file per case into dir (which must exist) and
 * fills cases[] with its path and what audio_read (default options: 16 kHz, channel -1) must do
 * with it: either succeed with the given file rate / channels / output length, or fail with the
 * given ch_status and a message that contains the path (and `msg` when not NULL). CLI tests
 * use the same table to run a command on every case and check its one-line error.
 *
 *   bad_audio_case c[BAD_AUDIO_MAX];
 *   int n = bad_audio_make(tmpdir, c, 0);          // -1 when a fixture could not be written
 *   const char *p = bad_audio_path(c, n, "stereo"); // path of one case by name
 *
 * Cases: missing, empty (0 bytes), nosamples (valid header, 0 frames), truncated (data chunk
 * claims 2x the bytes present), corrupt (RIFF/WAVE header + random bytes), notaudio (text named
 * .wav), stereo16k, mono8k, mono48k, mono44k, short100 (100 samples, less than one 25 ms
 * frame), long10min (skipped with BAD_AUDIO_NO_LONG), pcm24, float32, flac, flac_truncated
 * (the first half of the FLAC file).
 * Shell tests get the same files and table from `$CHORUS_BUILD/tests/test_audio
 * --make-fixtures DIR [--no-long]` (one "name<TAB>path<TAB>ok|status<TAB>message" line each).
 * Valid cases hold a 440 Hz sine of amplitude 8000 (int16 scale), 1 s long (except short/long);
 * the stereo case has the sine on channel 0 and its negative half on channel 1, so a mixdown
 * is 0.25 * sine and channel 1 is -0.5 * sine.
 */
#ifndef CHORUS_TESTS_BAD_AUDIO_H
#define CHORUS_TESTS_BAD_AUDIO_H

#include <math.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"

#define BAD_AUDIO_MAX 20
#define BAD_AUDIO_NO_LONG 1 /* flag: skip the 10-minute file (19 MB) */

typedef struct {
    const char *name;  /* case name, e.g. "truncated" */
    char path[4096];   /* file written (or, for "missing", a path that does not exist) */
    int ok;            /* 1: audio_read must succeed */
    ch_status status;  /* ok == 0: the status audio_read must return */
    const char *msg;   /* ok == 0: substring the message must contain besides the path (or NULL) */
    int file_rate_hz;  /* ok == 1: rate and channels in the file */
    int file_channels;
    long n_16k;        /* ok == 1: samples after reading at 16 kHz, channel -1 */
} bad_audio_case;

/* Sine sample i at rate r on the int16 scale (440 Hz, amplitude 8000). */
static inline double bad_audio_sine(long i, int rate_hz)
{
    return 8000.0 * sin(2.0 * M_PI * 440.0 * (double)i / rate_hz);
}

/* Writes n frames of the sine with libsndfile; format e.g. SF_FORMAT_WAV | SF_FORMAT_PCM_16.
 * Stereo: channel 0 = sine, channel 1 = -0.5 * sine. Returns 0 on success. */
static inline int bad_audio_write_sine(const char *path, int format, int rate_hz, int channels,
                                       long n)
{
    SF_INFO si;
    memset(&si, 0, sizeof si);
    si.samplerate = rate_hz;
    si.channels = channels;
    si.format = format;
    SNDFILE *f = sf_open(path, SFM_WRITE, &si);
    if (!f) {
        printf("bad_audio: cannot write %s: %s\n", path, sf_strerror(NULL));
        return -1;
    }
    /* 16-bit files get the int16 values as shorts (exact); other formats get them as
     * normalised floats v / 32768, which libsndfile stores exactly in 24-bit (v * 256) and
     * float files. */
    const int pcm16 = (format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_16;
    const long block = 4096;
    short *buf = malloc((size_t)block * (size_t)channels * sizeof(short));
    float *fbuf = malloc((size_t)block * (size_t)channels * sizeof(float));
    int rc = buf && fbuf ? 0 : -1;
    for (long i0 = 0; rc == 0 && i0 < n; i0 += block) {
        long m = n - i0 < block ? n - i0 : block;
        for (long i = 0; i < m; i++) {
            double s = bad_audio_sine(i0 + i, rate_hz);
            buf[i * channels] = (short)lrint(s);
            if (channels > 1)
                buf[i * channels + 1] = (short)lrint(-0.5 * s);
            for (int c = 2; c < channels; c++)
                buf[i * channels + c] = 0;
        }
        for (long i = 0; i < m * channels; i++)
            fbuf[i] = buf[i] / 32768.0f;
        if ((pcm16 ? sf_writef_short(f, buf, m) : sf_writef_float(f, fbuf, m)) != m)
            rc = -1;
    }
    free(buf);
    free(fbuf);
    if (sf_close(f) != 0)
        rc = -1;
    if (rc)
        printf("bad_audio: short write to %s\n", path);
    return rc;
}

static inline int bad_audio_write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        printf("bad_audio: cannot write %s\n", path);
        return -1;
    }
    int rc = (n && fwrite(data, 1, n, f) != n) ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* 44-byte mono 16-bit PCM WAV header declaring data_bytes of data at rate_hz. */
static inline void bad_audio_wav_header(unsigned char h[44], uint32_t data_bytes, int rate_hz)
{
    uint32_t v[] = {36 + data_bytes, 16, (uint32_t)rate_hz, (uint32_t)rate_hz * 2, data_bytes};
    memcpy(h, "RIFF....WAVEfmt ....\x01\x00\x01\x00........\x02\x00\x10\x00" "data....", 44);
    int at[] = {4, 16, 24, 28, 40};
    for (int k = 0; k < 5; k++)
        for (int b = 0; b < 4; b++)
            h[at[k] + b] = (unsigned char)(v[k] >> (8 * b));
}

static inline bad_audio_case *bad_audio_add(bad_audio_case *c, int *n, const char *dir,
                                            const char *name, const char *file)
{
    bad_audio_case *x = &c[(*n)++];
    memset(x, 0, sizeof *x);
    x->name = name;
    snprintf(x->path, sizeof x->path, "%s/%s", dir, file);
    return x;
}

static inline void bad_audio_expect_ok(bad_audio_case *x, int rate, int ch, long n16)
{
    x->ok = 1;
    x->file_rate_hz = rate;
    x->file_channels = ch;
    x->n_16k = n16;
}

static inline void bad_audio_expect_err(bad_audio_case *x, ch_status st, const char *msg)
{
    x->ok = 0;
    x->status = st;
    x->msg = msg;
}

/* Writes every fixture into dir; cases must hold BAD_AUDIO_MAX entries. Returns the number of
 * cases, or -1 (after printing why) when a file could not be written. */
static inline int bad_audio_make(const char *dir, bad_audio_case *cases, int flags)
{
    int n = 0, rc = 0;
    const int wav16 = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    bad_audio_case *x;

    x = bad_audio_add(cases, &n, dir, "missing", "no_such_file.wav");
    remove(x->path);
    bad_audio_expect_err(x, CH_ERR_IO, "cannot open");

    x = bad_audio_add(cases, &n, dir, "empty", "empty.wav");
    rc |= bad_audio_write_bytes(x->path, "", 0);
    bad_audio_expect_err(x, CH_ERR_FORMAT, "empty");

    unsigned char h[44 + 2000];
    x = bad_audio_add(cases, &n, dir, "nosamples", "nosamples.wav");
    bad_audio_wav_header(h, 0, 16000);
    rc |= bad_audio_write_bytes(x->path, h, 44);
    bad_audio_expect_err(x, CH_ERR_FORMAT, "no audio samples");

    x = bad_audio_add(cases, &n, dir, "truncated", "truncated.wav");
    bad_audio_wav_header(h, 4000, 16000); /* claims 2000 frames, holds 1000 */
    for (int i = 0; i < 1000; i++) {
        short s = (short)lrint(bad_audio_sine(i, 16000));
        h[44 + 2 * i] = (unsigned char)(s & 0xff);
        h[45 + 2 * i] = (unsigned char)((unsigned short)s >> 8);
    }
    rc |= bad_audio_write_bytes(x->path, h, sizeof h);
    bad_audio_expect_err(x, CH_ERR_FORMAT, "truncated: header says 2000 frames, got 1000");

    x = bad_audio_add(cases, &n, dir, "corrupt", "corrupt.wav");
    memcpy(h, "RIFF\xf8\x07\x00\x00WAVE", 12);
    uint32_t s = 12345u;
    for (size_t i = 12; i < sizeof h; i++) { /* xorshift32: fixed "random" bytes */
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        h[i] = (unsigned char)s;
    }
    rc |= bad_audio_write_bytes(x->path, h, sizeof h);
    bad_audio_expect_err(x, CH_ERR_FORMAT, NULL);

    x = bad_audio_add(cases, &n, dir, "notaudio", "notaudio.wav");
    const char *text = "this is a text file, not audio\nsecond line\n";
    rc |= bad_audio_write_bytes(x->path, text, strlen(text));
    bad_audio_expect_err(x, CH_ERR_FORMAT, "not a readable audio file");

    x = bad_audio_add(cases, &n, dir, "stereo16k", "stereo16k.wav");
    rc |= bad_audio_write_sine(x->path, wav16, 16000, 2, 16000);
    bad_audio_expect_ok(x, 16000, 2, 16000);

    x = bad_audio_add(cases, &n, dir, "mono8k", "mono8k.wav");
    rc |= bad_audio_write_sine(x->path, wav16, 8000, 1, 8000);
    bad_audio_expect_ok(x, 8000, 1, 16000);

    x = bad_audio_add(cases, &n, dir, "mono48k", "mono48k.wav");
    rc |= bad_audio_write_sine(x->path, wav16, 48000, 1, 48000);
    bad_audio_expect_ok(x, 48000, 1, 16000);

    x = bad_audio_add(cases, &n, dir, "mono44k", "mono44k.wav");
    rc |= bad_audio_write_sine(x->path, wav16, 44100, 1, 44100);
    bad_audio_expect_ok(x, 44100, 1, 16000);

    x = bad_audio_add(cases, &n, dir, "short100", "short100.wav");
    rc |= bad_audio_write_sine(x->path, wav16, 16000, 1, 100);
    bad_audio_expect_ok(x, 16000, 1, 100);

    if (!(flags & BAD_AUDIO_NO_LONG)) {
        x = bad_audio_add(cases, &n, dir, "long10min", "long10min.wav");
        rc |= bad_audio_write_sine(x->path, wav16, 16000, 1, 16000L * 600);
        bad_audio_expect_ok(x, 16000, 1, 16000L * 600);
    }

    x = bad_audio_add(cases, &n, dir, "pcm24", "pcm24.wav");
    rc |= bad_audio_write_sine(x->path, SF_FORMAT_WAV | SF_FORMAT_PCM_24, 16000, 1, 16000);
    bad_audio_expect_ok(x, 16000, 1, 16000);

    x = bad_audio_add(cases, &n, dir, "float32", "float32.wav");
    rc |= bad_audio_write_sine(x->path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 16000, 1, 16000);
    bad_audio_expect_ok(x, 16000, 1, 16000);

    x = bad_audio_add(cases, &n, dir, "flac", "sine.flac");
    rc |= bad_audio_write_sine(x->path, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, 1, 16000);
    bad_audio_expect_ok(x, 16000, 1, 16000);

    /* the first half of that FLAC: STREAMINFO says 16000 frames, the decoder runs dry */
    const char *flac_path = x->path;
    x = bad_audio_add(cases, &n, dir, "flac_truncated", "truncated.flac");
    bad_audio_expect_err(x, CH_ERR_FORMAT, "truncated");
    FILE *ff = fopen(flac_path, "rb");
    unsigned char fbuf[1 << 16];
    size_t fn = ff ? fread(fbuf, 1, sizeof fbuf, ff) : 0;
    if (ff)
        fclose(ff);
    rc |= fn > 1000 ? bad_audio_write_bytes(x->path, fbuf, fn / 2) : -1;

    return rc ? -1 : n;
}

/* Path of the case called name, or NULL. */
static inline const char *bad_audio_path(const bad_audio_case *cases, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(cases[i].name, name) == 0)
            return cases[i].path;
    return NULL;
}

#endif
