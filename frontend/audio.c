/* audio.c — audio in and out (see audio.h): libsndfile for decoding, libsoxr for resampling,
 * our own 44-byte WAV header for writing (so writes go through common/fileio.h's atomic_file).
 *
 * Sample scale: libsndfile's normalised float read returns s / 2^(bits-1) for integer PCM
 * (16-bit: s / 32768, a power-of-two division, so multiplying by 32768 gives back the exact
 * int16 value) and the stored value for float files; one multiply by 32768 therefore puts every
 * format on Kaldi's int16 scale: 16-bit exactly, 24-bit as s / 256 (exact in float), float
 * files as x * 32768.
 *
 * Truncation: libsndfile silently clamps a WAV "data" chunk that claims more bytes than the
 * file holds (it only notes "(should be N)" in its log), so for RIFF/WAVE files we walk the
 * chunks ourselves and compare the declared data size with what is present. Streaming writers
 * that could not seek back leave the size as 0 or 0xFFFFFFFF; those are not called truncated.
 * For every format, a read that returns fewer frames than the header announced is truncation.
 *
 * Commands: like Kaldi's wav.scp, a "path" whose last non-blank character is '|' is a shell
 * command whose stdout is the audio ("sox x.flac -t wav - |"); its output is read into memory
 * and decoded through libsndfile's virtual I/O. A command that exits non-zero is an error.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <soxr.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "frontend/audio.h"

audio_options audio_options_default(void)
{
    audio_options o = {16000, -1};
    return o;
}

const opt_desc audio_opts[] = {
    OPT_INT(audio_options, target_rate_hz, "sample-frequency", 0, 384000,
            "Sample rate (Hz) audio is resampled to; 0 keeps each file's rate"),
    OPT_INT(audio_options, channel, "channel", -1, 1023,
            "Channel to take from multi-channel audio (0-based); -1 averages all channels"),
};
const size_t audio_n_opts = OPT_COUNT(audio_opts);

void audio_free(audio_buf *a)
{
    if (!a)
        return;
    free(a->samples);
    a->samples = NULL;
    a->n = 0;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* For a RIFF/WAVE file: if the "data" chunk claims more bytes than the file holds, sets
 * *declared / *present (in frames, using the fmt chunk's block align) and returns 1; else 0.
 * Anything it does not understand returns 0 and is left to libsndfile. */
static int wav_truncated(const char *path, long long *declared, long long *present)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    struct stat st;
    unsigned char h[12];
    int result = 0;
    if (fstat(fileno(f), &st) != 0 || fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) != 0 ||
        memcmp(h + 8, "WAVE", 4) != 0)
        goto done;
    long long pos = 12, size = (long long)st.st_size;
    unsigned block_align = 0;
    for (int guard = 0; guard < 64 && pos + 8 <= size; guard++) {
        unsigned char c[8];
        if (fseek(f, (long)pos, SEEK_SET) != 0 || fread(c, 1, 8, f) != 8)
            break;
        uint32_t len = le32(c + 4);
        if (memcmp(c, "fmt ", 4) == 0 && len >= 16) {
            unsigned char fmt[16];
            if (fread(fmt, 1, 16, f) != 16)
                break;
            block_align = (unsigned)fmt[12] | (unsigned)fmt[13] << 8;
        } else if (memcmp(c, "data", 4) == 0) {
            long long avail = size - (pos + 8);
            if (len != 0 && len != 0xFFFFFFFFu && (long long)len > avail && block_align > 0) {
                *declared = (long long)len / block_align;
                *present = avail / block_align;
                result = 1;
            }
            break;
        }
        pos += 8 + (long long)len + (len & 1);
    }
done:
    fclose(f);
    return result;
}

/* Opens path for reading with a message that tells missing, empty, unreadable and foreign
 * files apart. */
static ch_status open_sndfile(const char *path, SNDFILE **out, SF_INFO *info, ch_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return ch_fail(err, CH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return ch_fail(err, CH_ERR_IO, "%s: is a directory, not an audio file", path);
    if (S_ISREG(st.st_mode) && st.st_size == 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: empty file (0 bytes), no audio samples", path);
    memset(info, 0, sizeof *info);
    *out = sf_open(path, SFM_READ, info);
    if (!*out) {
        int code = sf_error(NULL);
        if (code == SF_ERR_SYSTEM)
            return ch_fail(err, CH_ERR_IO, "%s: cannot read (%s)", path, sf_strerror(NULL));
        return ch_fail(err, CH_ERR_FORMAT, "%s: not a readable audio file (%s)", path,
                       sf_strerror(NULL));
    }
    if (info->channels < 1 || info->samplerate < 1) {
        sf_close(*out);
        return ch_fail(err, CH_ERR_FORMAT, "%s: invalid header (%d channels, %d Hz)", path,
                       info->channels, info->samplerate);
    }
    return CH_OK;
}

/* A command's whole output in memory, read by libsndfile through its virtual I/O. */
typedef struct {
    unsigned char *p;
    sf_count_t n, pos;
} mem_io;

static sf_count_t mem_len(void *u)
{
    return ((mem_io *)u)->n;
}

static sf_count_t mem_seek(sf_count_t off, int whence, void *u)
{
    mem_io *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->n;
    sf_count_t to = base + off;
    if (to < 0 || to > m->n)
        return -1;
    m->pos = to;
    return to;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *u)
{
    mem_io *m = u;
    sf_count_t k = m->n - m->pos < count ? m->n - m->pos : count;
    if (k > 0) {
        memcpy(ptr, m->p + m->pos, (size_t)k);
        m->pos += k;
    }
    return k > 0 ? k : 0;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *u)
{
    (void)ptr;
    (void)count;
    (void)u;
    return 0;
}

static sf_count_t mem_tell(void *u)
{
    return ((mem_io *)u)->pos;
}

/* 1 if spec is a Kaldi-style command ("sox a.flac -t wav - |"): its last non-blank is '|'. */
static int is_command(const char *spec)
{
    size_t n = strlen(spec);
    while (n && isspace((unsigned char)spec[n - 1]))
        n--;
    return n > 1 && spec[n - 1] == '|';
}

bool audio_is_command(const char *spec)
{
    return is_command(spec) != 0;
}

/* Runs the command part of spec (before the final '|') with the shell and keeps its stdout. */
static ch_status run_command(const char *spec, mem_io *m, ch_error *err)
{
    memset(m, 0, sizeof *m);
    char *cmd = strdup(spec);
    if (!cmd)
        return ch_fail(err, CH_ERR_NOMEM, "%s: cannot allocate", spec);
    *strrchr(cmd, '|') = '\0';
    fflush(NULL); /* the child must not inherit unflushed stdio buffers */
    FILE *f = popen(cmd, "r");
    if (!f) {
        int e = errno;
        free(cmd);
        return ch_fail(err, CH_ERR_IO, "%s: cannot run command: %s", spec, strerror(e));
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    ch_status st = buf ? CH_OK : ch_fail(err, CH_ERR_NOMEM, "%s: cannot allocate", spec);
    while (st == CH_OK) {
        if (n == cap) {
            unsigned char *q = realloc(buf, cap * 2);
            if (!q) {
                st = ch_fail(err, CH_ERR_NOMEM, "%s: output too large", spec);
                break;
            }
            buf = q;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int rc = pclose(f);
    free(cmd);
    if (st == CH_OK && rc != 0)
        st = ch_fail(err, CH_ERR_IO, "%s: command failed (%s %d)", spec,
                     WIFEXITED(rc) ? "exit status" : "signal",
                     WIFEXITED(rc) ? WEXITSTATUS(rc) : WIFSIGNALED(rc) ? WTERMSIG(rc) : rc);
    if (st == CH_OK && n == 0)
        st = ch_fail(err, CH_ERR_FORMAT, "%s: command wrote no data", spec);
    if (st != CH_OK) {
        free(buf);
        return st;
    }
    m->p = buf;
    m->n = (sf_count_t)n;
    return CH_OK;
}

static ch_status decode(SNDFILE *sf, SF_INFO info, const char *path, const audio_options *o,
                        audio_buf *out, ch_error *err);

ch_status audio_read(const char *path, const audio_options *o, audio_buf *out, ch_error *err)
{
    audio_options def = audio_options_default();
    if (!o)
        o = &def;
    memset(out, 0, sizeof *out);
    if (o->target_rate_hz < 0)
        return ch_fail(err, CH_ERR_USAGE, "%s: negative target sample rate %d", path,
                       o->target_rate_hz);
    SNDFILE *sf = NULL;
    SF_INFO info;
    if (!is_command(path)) {
        CH_TRY(open_sndfile(path, &sf, &info, err));
        long long declared, present;
        if (wav_truncated(path, &declared, &present)) {
            sf_close(sf);
            return ch_fail(err, CH_ERR_FORMAT,
                           "%s: truncated: header says %lld frames, got %lld", path, declared,
                           present);
        }
        return decode(sf, info, path, o, out, err);
    }
    /* a command's output: streamed WAV headers often carry placeholder sizes, so truncation
     * is left to libsndfile's frame count */
    mem_io m;
    CH_TRY(run_command(path, &m, err));
    SF_VIRTUAL_IO vio = {mem_len, mem_seek, mem_read, mem_write, mem_tell};
    memset(&info, 0, sizeof info);
    sf = sf_open_virtual(&vio, SFM_READ, &info, &m);
    ch_status st;
    if (!sf)
        st = ch_fail(err, CH_ERR_FORMAT, "%s: output is not readable audio (%s)", path,
                     sf_strerror(NULL));
    else if (info.channels < 1 || info.samplerate < 1) {
        sf_close(sf);
        st = ch_fail(err, CH_ERR_FORMAT, "%s: invalid header (%d channels, %d Hz)", path,
                     info.channels, info.samplerate);
    } else
        st = decode(sf, info, path, o, out, err);
    free(m.p);
    return st;
}

/* Decodes an open file into out (closes sf in every case). */
static ch_status decode(SNDFILE *sf, SF_INFO info, const char *path, const audio_options *o,
                        audio_buf *out, ch_error *err)
{
    const int nch = info.channels;
    if (o->channel >= nch) {
        sf_close(sf);
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: channel %d requested but the file has %d channel%s (0-based)", path,
                       o->channel, nch, nch == 1 ? "" : "s");
    }
    if (info.frames <= 0) {
        sf_close(sf);
        return ch_fail(err, CH_ERR_FORMAT, "%s: no audio samples", path);
    }
    if ((unsigned long long)info.frames > (1ull << 40) / (unsigned)nch) {
        sf_close(sf);
        return ch_fail(err, CH_ERR_FORMAT, "%s: implausible length (%lld frames)", path,
                       (long long)info.frames);
    }
    /* interleaved: (frames, channels) */
    float *buf = ch_malloc(err, (size_t)info.frames * (size_t)nch * sizeof(float), path);
    if (!buf) {
        sf_close(sf);
        return CH_ERR_NOMEM;
    }
    sf_count_t got = sf_readf_float(sf, buf, info.frames);
    int read_err = sf_error(sf);
    char read_msg[256];
    snprintf(read_msg, sizeof read_msg, "%s", sf_strerror(sf));
    sf_close(sf);
    if (got < info.frames) {
        free(buf);
        if (got <= 0 && read_err != SF_ERR_NO_ERROR)
            return ch_fail(err, CH_ERR_FORMAT, "%s: corrupt audio data (%s)", path, read_msg);
        return ch_fail(err, CH_ERR_FORMAT, "%s: truncated: header says %lld frames, got %lld",
                       path, (long long)info.frames, (long long)(got < 0 ? 0 : got));
    }
    const long n = (long)info.frames;
    /* mono: (frames,), in place over the start of buf */
    if (nch == 1) {
        for (long i = 0; i < n; i++)
            buf[i] *= 32768.0f;
    } else if (o->channel >= 0) {
        for (long i = 0; i < n; i++)
            buf[i] = buf[i * nch + o->channel] * 32768.0f;
    } else {
        for (long i = 0; i < n; i++) {
            double s = 0; /* summed in double so 2-channel averages of int16 values are exact */
            for (int c = 0; c < nch; c++)
                s += buf[i * nch + c];
            buf[i] = (float)(s * 32768.0 / nch);
        }
    }
    for (long i = 0; i < n; i++) {
        if (!isfinite(buf[i])) {
            free(buf);
            return ch_fail(err, CH_ERR_FORMAT, "%s: non-finite sample at frame %ld", path, i);
        }
    }
    out->file_rate_hz = info.samplerate;
    out->file_channels = nch;
    out->mixed_down = nch > 1 && o->channel < 0;
    if (o->target_rate_hz > 0 && o->target_rate_hz != info.samplerate) {
        float *y;
        long ny;
        ch_status st = audio_resample(buf, n, info.samplerate, o->target_rate_hz, &y, &ny, err);
        free(buf);
        if (st != CH_OK)
            return ch_wrap(err, st, "%s", path);
        out->samples = y;
        out->n = ny;
        out->rate_hz = o->target_rate_hz;
        out->resampled = true;
    } else {
        float *shrunk = nch > 1 ? realloc(buf, (size_t)n * sizeof(float)) : NULL;
        out->samples = shrunk ? shrunk : buf;
        out->n = n;
        out->rate_hz = info.samplerate;
    }
    if (out->n <= 0) {
        audio_free(out);
        return ch_fail(err, CH_ERR_FORMAT, "%s: no audio samples after resampling", path);
    }
    return CH_OK;
}

ch_status audio_read_pcm16(FILE *f, const char *name, int rate_hz, long max_samples,
                           audio_buf *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    if (rate_hz <= 0)
        return ch_fail(err, CH_ERR_USAGE, "%s: invalid sample rate %d", name, rate_hz);
    size_t cap = 1 << 16, nbytes = 0;
    size_t limit = max_samples < 0 ? SIZE_MAX : (size_t)max_samples * 2;
    unsigned char *bytes = ch_malloc(err, cap, name);
    if (!bytes)
        return CH_ERR_NOMEM;
    while (nbytes < limit) {
        if (nbytes == cap) {
            unsigned char *p = realloc(bytes, cap * 2);
            if (!p) {
                free(bytes);
                return ch_fail(err, CH_ERR_NOMEM, "%s: cannot allocate %zu bytes", name,
                               cap * 2);
            }
            bytes = p;
            cap *= 2;
        }
        size_t want = cap - nbytes < limit - nbytes ? cap - nbytes : limit - nbytes;
        size_t got = fread(bytes + nbytes, 1, want, f);
        nbytes += got;
        if (got < want) {
            if (ferror(f)) {
                int e = errno;
                free(bytes);
                return ch_fail(err, CH_ERR_IO, "%s: read failed: %s", name, strerror(e));
            }
            break; /* EOF */
        }
    }
    if (nbytes % 2) {
        free(bytes);
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: odd number of bytes (%zu) in 16-bit PCM: truncated or not PCM", name,
                       nbytes);
    }
    if (nbytes == 0) {
        free(bytes);
        return ch_fail(err, CH_ERR_FORMAT, "%s: no audio samples", name);
    }
    long n = (long)(nbytes / 2);
    float *x = ch_malloc(err, (size_t)n * sizeof(float), name);
    if (!x) {
        free(bytes);
        return CH_ERR_NOMEM;
    }
    for (long i = 0; i < n; i++)
        x[i] = (float)(int16_t)(uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8);
    free(bytes);
    out->samples = x;
    out->n = n;
    out->rate_hz = out->file_rate_hz = rate_hz;
    out->file_channels = 1;
    return CH_OK;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void put_le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

ch_status audio_write_wav(const char *path, const float *samples, long n, int rate_hz,
                          ch_error *err)
{
    if (n < 0 || rate_hz <= 0)
        return ch_fail(err, CH_ERR_USAGE, "%s: invalid WAV (%ld samples at %d Hz)", path, n,
                       rate_hz);
    if ((unsigned long long)n * 2 > 0xFFFFFFFFull - 36)
        return ch_fail(err, CH_ERR_USAGE, "%s: %ld samples do not fit in a WAV file", path, n);
    uint32_t data_bytes = (uint32_t)n * 2;
    unsigned char h[44];
    memcpy(h, "RIFF", 4);
    put_le32(h + 4, 36 + data_bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le32(h + 16, 16);
    put_le16(h + 20, 1);                    /* PCM */
    put_le16(h + 22, 1);                    /* mono */
    put_le32(h + 24, (uint32_t)rate_hz);
    put_le32(h + 28, (uint32_t)rate_hz * 2); /* bytes per second */
    put_le16(h + 32, 2);                    /* block align */
    put_le16(h + 34, 16);                   /* bits per sample */
    memcpy(h + 36, "data", 4);
    put_le32(h + 40, data_bytes);
    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    ch_status st = atomic_write(&a, h, sizeof h, err);
    unsigned char chunk[8192];
    for (long i = 0; st == CH_OK && i < n;) {
        long m = 0;
        for (; m < (long)(sizeof chunk / 2) && i < n; m++, i++) {
            float v = samples[i];
            /* round to nearest, clip to the int16 range; NaN becomes 0 */
            long s = v >= 32767.0f ? 32767 : v <= -32768.0f ? -32768 : isnan(v) ? 0 : lrintf(v);
            put_le16(chunk + 2 * m, (unsigned)(uint16_t)(int16_t)s);
        }
        st = atomic_write(&a, chunk, (size_t)m * 2, err);
    }
    if (st != CH_OK) {
        atomic_abort(&a);
        return st;
    }
    return atomic_commit(&a, err);
}

ch_status audio_resample(const float *x, long n, int in_rate, int out_rate, float **y, long *ny,
                         ch_error *err)
{
    *y = NULL;
    *ny = 0;
    if (in_rate <= 0 || out_rate <= 0 || n < 0)
        return ch_fail(err, CH_ERR_USAGE, "resample: invalid rates %d -> %d Hz or length %ld",
                       in_rate, out_rate, n);
    /* soxr's one-shot output length is round(n * out / in); one spare slot for safety */
    size_t cap = (size_t)llround((double)n * out_rate / in_rate) + 1;
    float *o = ch_malloc(err, cap * sizeof(float), "resample");
    if (!o)
        return CH_ERR_NOMEM;
    if (in_rate == out_rate) {
        if (n)
            memcpy(o, x, (size_t)n * sizeof(float));
        *y = o;
        *ny = n;
        return CH_OK;
    }
    size_t done = 0;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1); /* one thread: callers parallelise files */
    soxr_error_t e =
        soxr_oneshot(in_rate, out_rate, 1, x, (size_t)n, NULL, o, cap, &done, &io, &q, &rt);
    if (e) {
        free(o);
        return ch_fail(err, CH_ERR_INTERNAL, "resample %d -> %d Hz: soxr: %s", in_rate,
                       out_rate, e);
    }
    *y = o;
    *ny = (long)done;
    return CH_OK;
}

bool audio_name_is_audio(const char *name)
{
    static const char *const exts[] = {"wav",  "flac", "ogg",  "oga", "opus", "aiff", "aif",
                                       "aifc", "au",   "snd",  "caf", "w64",  "rf64", "mp3",
                                       "voc",  "sph",  "nist", "htk", "sf",   "ircam", "mat",
                                       "paf",  "pvf",  "xi",   "sd2", "wve",  "avr"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name || name[0] == '.')
        return false;
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0)
            return true;
    return false;
}
