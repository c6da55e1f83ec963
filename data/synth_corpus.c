/* synth_corpus.c — generates the KWS and speaker corpora of data-synth (contract in
 * synth_corpus.h). Random streams: speaker i of the KWS corpus draws its voice from stream
 * 0x1000 + i, of the speaker corpus from 0x2000 + i; every clip/utterance from its own stream,
 * so the files do not depend on the order in which other files are made. */
#include "synth_corpus.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/progress.h"
#include "common/rng.h"
#include "common/sha1.h"
#include "data/synth_audio.h"
#include "data/synth_tts.h"
#include "frontend/audio.h"

#define SR 16000

static const char *const kws_words[] = {"yes",  "no",   "up",    "down",   "left",
                                        "right", "on",  "off",   "stop",   "go",
                                        "bed",  "bird", "cat",   "dog",    "happy",
                                        "house", "marvin", "sheila", "tree", "wow"};
#define N_KWS_WORDS ((int)(sizeof kws_words / sizeof kws_words[0]))

/* espeak-ng English voices (accents) and variants (voices/!v) the speakers are drawn from. */
static const char *const accents[] = {"en", "en-us", "en-gb-x-rp", "en-gb-scotland",
                                      "en-us-nyc", "en-029"};
static const char *const variants[] = {"m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1",
                                       "f2", "f3", "f4", "f5", "croak", "klatt", "klatt2",
                                       "klatt3", "adam", "david", "john", "linda", "max",
                                       "paul", "robert", "steph", "travis", "zac"};

/* Text of the speaker corpus and of babble noise: varied, plain English sentences. */
static const char *const sentences[] = {
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "She can scoop these things into three red bags, and we will go meet her on Wednesday.",
    "The rainbow is a division of white light into many beautiful colours.",
    "When the sunlight strikes raindrops in the air, they act as a prism.",
    "Wind and rain battered the coast for most of the night.",
    "My grandfather planted an apple tree behind the old barn.",
    "Could you turn the music down a little, please?",
    "The train to the city leaves at half past seven every morning.",
    "A cup of hot tea is the best cure for a cold afternoon.",
    "Nobody knew where the missing key had gone.",
    "The museum opens late on Thursdays during the summer.",
    "He fixed the bicycle with nothing but a spoon and some string.",
    "Bright stars filled the sky above the quiet valley.",
    "Our neighbours are painting their fence a cheerful yellow.",
    "Reading before bed helps me fall asleep quickly.",
    "The committee will announce its decision next week.",
    "Thick fog rolled in from the harbour just before dawn.",
    "I would like two tickets for the evening show, please.",
    "The children built a tall castle out of wet sand.",
    "Remember to water the plants while I am away.",
    "The recipe calls for butter, flour, sugar and three eggs.",
    "A flock of geese flew south over the frozen lake.",
    "Every Saturday we walk along the river to the market.",
    "The old clock in the hall stopped at midnight.",
    "Turn left at the bakery and the library is on your right.",
    "Heavy traffic delayed the delivery by almost an hour.",
    "She plays the violin in the city orchestra.",
    "The kitten chased a ball of wool across the kitchen floor.",
    "Scientists measured the temperature of the ocean at many depths.",
    "Please leave your muddy boots by the back door.",
    "The lighthouse keeper watched the ships pass in the storm.",
    "We watched the sunset from the top of the hill.",
    "Fresh bread smells wonderful early in the morning.",
    "The pilot announced that we would land in twenty minutes.",
    "He wrote a long letter to his cousin in Canada.",
    "Strong coffee keeps the night shift awake.",
    "The garden was full of roses, tulips and daisies.",
};
#define N_SENTENCES ((int)(sizeof sentences / sizeof sentences[0]))

synth_options synth_options_default(void)
{
    synth_options o;
    memset(&o, 0, sizeof o);
    o.kws_speakers = 20;
    o.clips_per_word = 2;
    o.sv_speakers = 16;
    o.utts_per_speaker = 6;
    o.trials = 400;
    o.noise_seconds = 30;
    o.snr_min_db = 10;
    o.snr_max_db = 30;
    o.echo_probability = 0.2;
    o.force = false;
    return o;
}

const opt_desc synth_opts[] = {
    OPT_STRING(synth_options, kws_dir, "kws", "Write a Speech Commands-layout KWS corpus here"),
    OPT_STRING(synth_options, sv_dir, "speakers",
               "Write a multi-speaker Kaldi data dir with trials here"),
    OPT_INT(synth_options, kws_speakers, "kws-speakers", 3, 100000, "Speakers of the KWS corpus"),
    OPT_INT(synth_options, clips_per_word, "clips-per-word", 1, 1000,
            "Clips of each word per KWS speaker"),
    OPT_INT(synth_options, sv_speakers, "sv-speakers", 2, 100000,
            "Speakers of the speaker corpus"),
    OPT_INT(synth_options, utts_per_speaker, "utts-per-speaker", 2, 10000,
            "Utterances per speaker of the speaker corpus"),
    OPT_INT(synth_options, trials, "trials", 2, 10000000,
            "Verification trials (half target, half nontarget)"),
    OPT_DOUBLE(synth_options, noise_seconds, "noise-seconds", 1, 3600,
               "Length of each _background_noise_ file (s)"),
    OPT_DOUBLE(synth_options, snr_min_db, "snr-min", -20, 100, "Lowest additive-noise SNR (dB)"),
    OPT_DOUBLE(synth_options, snr_max_db, "snr-max", -20, 100, "Highest additive-noise SNR (dB)"),
    OPT_DOUBLE(synth_options, echo_probability, "echo-probability", 0, 1,
               "Probability that an utterance gets an echo"),
    OPT_BOOL(synth_options, force, "force", "Write into an existing non-empty folder"),
};
const size_t synth_n_opts = OPT_COUNT(synth_opts);

/* One synthetic speaker: its voice and 8-hex id. */
typedef struct {
    synth_voice v;
    char id[9];
} synth_speaker;

static uint64_t stream_of(const char *tag)
{
    uint8_t d[20];
    sha1_digest(tag, strlen(tag), d);
    uint64_t s = 0;
    for (int i = 0; i < 8; i++)
        s = s << 8 | d[i];
    return s;
}

/* Draws speaker params from stream `stream`; the id is SHA-1 of the params, seed and stream. */
static void speaker_draw(uint64_t seed, uint64_t stream, synth_speaker *s)
{
    rng r;
    rng_seed(&r, seed, stream);
    const char *acc = accents[rng_below(&r, (uint32_t)(sizeof accents / sizeof accents[0]))];
    const char *var = variants[rng_below(&r, (uint32_t)(sizeof variants / sizeof variants[0]))];
    snprintf(s->v.voice, sizeof s->v.voice, "%s+%s", acc, var);
    s->v.pitch = 25 + (int)rng_below(&r, 51);     /* 25..75 */
    s->v.range = 20 + (int)rng_below(&r, 71);     /* 20..90 */
    s->v.rate = 130 + (int)rng_below(&r, 71);     /* 130..200 wpm */
    s->v.word_gap = (int)rng_below(&r, 3);        /* 0..20 ms */
    char tag[160];
    snprintf(tag, sizeof tag, "%s/%d/%d/%d/%d/%llu/%llu", s->v.voice, s->v.pitch, s->v.range,
             s->v.rate, s->v.word_gap, (unsigned long long)seed, (unsigned long long)stream);
    char hex[41];
    sha1_hex(tag, strlen(tag), hex);
    memcpy(s->id, hex, 8);
    s->id[8] = '\0';
}

/* Draws n speakers with distinct ids from streams base, base+1, ... (a colliding id, about 1 in
 * 4e9 per pair, skips to the next stream). */
static ch_status speakers_draw(uint64_t seed, uint64_t base, int n, synth_speaker **out,
                               ch_error *err)
{
    synth_speaker *s = calloc((size_t)n, sizeof *s);
    if (!s)
        return ch_fail(err, CH_ERR_NOMEM, "data-synth: out of memory");
    uint64_t stream = base;
    for (int i = 0; i < n; i++) {
        int clash;
        do {
            speaker_draw(seed, stream++, &s[i]);
            clash = 0;
            for (int j = 0; j < i; j++)
                clash |= strcmp(s[j].id, s[i].id) == 0;
        } while (clash);
    }
    *out = s;
    return CH_OK;
}

static int cmp_speaker(const void *a, const void *b)
{
    return strcmp(((const synth_speaker *)a)->id, ((const synth_speaker *)b)->id);
}

/* Trims leading/trailing samples below 2 % of the peak (espeak pads with silence). */
static void trim(float *x, long *n)
{
    float peak = 0;
    for (long i = 0; i < *n; i++)
        peak = fmaxf(peak, fabsf(x[i]));
    float th = 0.02f * peak;
    long a = 0, b = *n;
    while (a < b && fabsf(x[a]) <= th)
        a++;
    while (b > a && fabsf(x[b - 1]) <= th)
        b--;
    memmove(x, x + a, (size_t)(b - a) * sizeof *x);
    *n = b - a;
}

/* Says text with a per-utterance jitter of the speaker's voice. *y owned by the caller. */
static ch_status say_jittered(synth_tts *t, const synth_speaker *s, rng *r, const char *text,
                              float **y, long *ny, ch_error *err)
{
    synth_voice v = s->v;
    v.pitch += (int)rng_below(r, 9) - 4;
    v.rate = (int)lrint(v.rate * (0.92 + 0.16 * rng_uniform(r)));
    if (v.pitch < 0)
        v.pitch = 0;
    if (v.pitch > 100)
        v.pitch = 100;
    CH_TRY(synth_tts_say(t, &v, text, y, ny, err));
    trim(*y, ny);
    return CH_OK;
}

/* Gain to a random level, echo (sometimes) and noise at a random SNR, in place.
 * x: (n); the speech occupies x[a..b). */
static ch_status perturb(const synth_options *o, rng *r, float *x, long n, long a, long b,
                         ch_error *err)
{
    double level = 300.0 * pow(10.0, rng_uniform(r)); /* speech RMS 300..3000 (int16 scale) */
    double cur = synth_rms(x + a, b - a);
    if (cur > 0)
        for (long i = 0; i < n; i++)
            x[i] = (float)(x[i] * level / cur);
    if (rng_uniform(r) < o->echo_probability) {
        long delay = 320 + (long)rng_below(r, 961); /* 20..80 ms */
        synth_echo(x, n, delay, 0.2 + 0.3 * rng_uniform(r));
    }
    double snr = o->snr_min_db + (o->snr_max_db - o->snr_min_db) * rng_uniform(r);
    float *noise = malloc((size_t)n * sizeof *noise);
    if (!noise)
        return ch_fail(err, CH_ERR_NOMEM, "data-synth: out of memory");
    synth_noise(r, (synth_noise_kind)rng_below(r, 4), noise, n, level / pow(10.0, snr / 20.0));
    for (long i = 0; i < n; i++)
        x[i] += noise[i];
    free(noise);
    return CH_OK;
}

/* Creates dir (and parents); refuses a non-empty existing folder unless force. */
static ch_status prepare_dir(const char *dir, bool force, ch_error *err)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        int nonempty = 0;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                nonempty = 1;
        closedir(d);
        if (nonempty && !force)
            return ch_fail(err, CH_ERR_IO, "%s: exists and is not empty (use --force)", dir);
    } else {
        /* its message names the path component that failed and why */
        CH_TRY(dir_create(dir, err));
    }
    if (access(dir, W_OK) != 0)
        return ch_fail(err, CH_ERR_IO, "%s: output folder is not writable", dir);
    return CH_OK;
}

static ch_status write_text(const char *path, const char *text, size_t n, ch_error *err)
{
    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    ch_status st = atomic_write(&a, text, n, err);
    if (st != CH_OK) {
        atomic_abort(&a);
        return st;
    }
    return atomic_commit(&a, err);
}

/* A growing text buffer. */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} text_buf;

static void tb_printf(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_printf(text_buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    char tmp[8192];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + (size_t)k + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, tmp, (size_t)k + 1);
    b->n += (size_t)k;
}

static ch_status tb_write(text_buf *b, const char *dir, const char *name, ch_error *err)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (b->oom)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
    return write_text(path, b->s ? b->s : "", b->n, err);
}

/* Babble: several TTS voices reading sentences, summed. out: (n). */
static ch_status make_babble(synth_tts *t, uint64_t seed, float *out, long n, ch_error *err)
{
    memset(out, 0, (size_t)n * sizeof *out);
    for (int talker = 0; talker < 5; talker++) {
        synth_speaker s;
        speaker_draw(seed, 0x3000 + (uint64_t)talker, &s);
        rng r;
        rng_seed(&r, seed, 0x3100 + (uint64_t)talker);
        long pos = (long)rng_below(&r, SR);
        while (pos < n) {
            float *y;
            long ny;
            CH_TRY(say_jittered(t, &s, &r, sentences[rng_below(&r, N_SENTENCES)], &y, &ny, err));
            double g = 1000.0 / fmax(synth_rms(y, ny), 1.0);
            for (long i = 0; i < ny && pos + i < n; i++)
                out[pos + i] += (float)(g * y[i]);
            pos += ny + (long)rng_below(&r, SR / 4);
            free(y);
        }
    }
    return CH_OK;
}

static ch_status make_noise_files(const synth_options *o, synth_tts *t, uint64_t seed,
                                  const char *dir, int *n_files, ch_error *err)
{
    static const char *const names[] = {"white_noise", "pink_noise", "brown_noise", "hum_noise",
                                        "babble_noise"};
    char sub[8192], path[8300];
    snprintf(sub, sizeof sub, "%s/_background_noise_", dir);
    CH_TRY(dir_create(sub, err));
    long n = (long)(o->noise_seconds * SR);
    float *x = malloc((size_t)n * sizeof *x);
    if (!x)
        return ch_fail(err, CH_ERR_NOMEM, "data-synth: out of memory");
    ch_status st = CH_OK;
    for (int k = 0; k < 5 && st == CH_OK; k++) {
        rng r;
        rng_seed(&r, seed, 0x4000 + (uint64_t)k);
        if (k < 4)
            synth_noise(&r, (synth_noise_kind)k, x, n, 1500.0);
        else
            st = make_babble(t, seed, x, n, err);
        snprintf(path, sizeof path, "%s/%s.wav", sub, names[k]);
        if (st == CH_OK)
            st = audio_write_wav(path, x, n, SR, err);
        if (st == CH_OK)
            (*n_files)++;
    }
    free(x);
    return st;
}

static ch_status make_kws(const synth_options *o, synth_tts *t, uint64_t seed, int verbosity,
                          synth_summary *sum, ch_error *err)
{
    const char *dir = o->kws_dir;
    CH_TRY(prepare_dir(dir, o->force, err));
    synth_speaker *spk;
    CH_TRY(speakers_draw(seed, 0x1000, o->kws_speakers, &spk, err));
    /* Speakers 0..n_val-1 validation, the next n_test testing (ids are random hex anyway). */
    int n_val = (int)lround(0.1 * o->kws_speakers), n_test = n_val;
    if (n_val < 1)
        n_val = n_test = 1;
    text_buf vlist = {0}, tlist = {0};
    progress p;
    long total = (long)N_KWS_WORDS * o->kws_speakers * o->clips_per_word;
    progress_init(&p, "kws clips", "clips", total, verbosity >= 1);
    ch_status st = CH_OK;
    float clip[SR];
    for (int w = 0; w < N_KWS_WORDS && st == CH_OK; w++) {
        char sub[8192];
        snprintf(sub, sizeof sub, "%s/%s", dir, kws_words[w]);
        st = dir_create(sub, err);
        for (int i = 0; i < o->kws_speakers && st == CH_OK; i++) {
            for (int k = 0; k < o->clips_per_word && st == CH_OK; k++) {
                char tag[128];
                snprintf(tag, sizeof tag, "kws/%s/%d/%d", kws_words[w], i, k);
                rng r;
                rng_seed(&r, seed, stream_of(tag));
                float *y;
                long ny;
                st = say_jittered(t, &spk[i], &r, kws_words[w], &y, &ny, err);
                if (st != CH_OK)
                    break;
                long max_len = SR - SR / 20; /* leave >= 50 ms of the clip around the word */
                if (ny > max_len) {
                    for (long j = 0; j < 160; j++) /* 10-ms fade where it is cut */
                        y[max_len - 160 + j] *= (float)(160 - j) / 160.0f;
                    ny = max_len;
                }
                long off = (long)rng_below(&r, (uint32_t)(SR - ny + 1));
                memset(clip, 0, sizeof clip);
                memcpy(clip + off, y, (size_t)ny * sizeof *y);
                free(y);
                st = perturb(o, &r, clip, SR, off, off + ny, err);
                char path[8300];
                snprintf(path, sizeof path, "%s/%s_nohash_%d.wav", sub, spk[i].id, k);
                if (st == CH_OK)
                    st = audio_write_wav(path, clip, SR, SR, err);
                if (i < n_val + n_test)
                    tb_printf(i < n_val ? &vlist : &tlist, "%s/%s_nohash_%d.wav\n",
                              kws_words[w], spk[i].id, k);
                sum->kws_clips++;
                progress_update(&p, sum->kws_clips);
            }
        }
    }
    progress_finish(&p);
    if (st == CH_OK)
        st = make_noise_files(o, t, seed, dir, &sum->noise_files, err);
    if (st == CH_OK)
        st = tb_write(&vlist, dir, "validation_list.txt", err);
    if (st == CH_OK)
        st = tb_write(&tlist, dir, "testing_list.txt", err);
    sum->kws_words = N_KWS_WORDS;
    sum->kws_speakers = o->kws_speakers;
    free(vlist.s);
    free(tlist.s);
    free(spk);
    return st;
}

static ch_status make_sv(const synth_options *o, synth_tts *t, uint64_t seed, int verbosity,
                         synth_summary *sum, ch_error *err)
{
    CH_TRY(prepare_dir(o->sv_dir, o->force, err));
    char dir[PATH_MAX];
    if (!realpath(o->sv_dir, dir))
        return ch_fail(err, CH_ERR_IO, "%s: cannot resolve the output folder", o->sv_dir);
    synth_speaker *spk;
    CH_TRY(speakers_draw(seed, 0x2000, o->sv_speakers, &spk, err));
    /* Kaldi tables must be sorted by key: utterance ids start with the speaker id. */
    qsort(spk, (size_t)o->sv_speakers, sizeof *spk, cmp_speaker);
    int ns = o->sv_speakers, nu = o->utts_per_speaker;
    text_buf scp = {0}, u2s = {0}, s2u = {0}, trials = {0}, vox = {0};
    progress p;
    progress_init(&p, "speaker utts", "utts", (long)ns * nu, verbosity >= 1);
    ch_status st = CH_OK;
    for (int i = 0; i < ns && st == CH_OK; i++) {
        char sub[PATH_MAX + 64];
        snprintf(sub, sizeof sub, "%s/wav/%s", dir, spk[i].id);
        st = dir_create(sub, err);
        tb_printf(&s2u, "%s", spk[i].id);
        for (int k = 0; k < nu && st == CH_OK; k++) {
            char tag[128];
            snprintf(tag, sizeof tag, "sv/%d/%d", i, k);
            rng r;
            rng_seed(&r, seed, stream_of(tag));
            /* Two sentences with a short pause: a few seconds of speech. */
            float *a, *b;
            long na, nb;
            st = say_jittered(t, &spk[i], &r, sentences[rng_below(&r, N_SENTENCES)], &a, &na,
                              err);
            if (st != CH_OK)
                break;
            st = say_jittered(t, &spk[i], &r, sentences[rng_below(&r, N_SENTENCES)], &b, &nb,
                              err);
            if (st != CH_OK) {
                free(a);
                break;
            }
            long lead = SR / 10 + (long)rng_below(&r, SR / 5), gap = SR / 4;
            long n = lead + na + gap + nb + SR / 10;
            float *x = calloc((size_t)n, sizeof *x);
            if (!x)
                st = ch_fail(err, CH_ERR_NOMEM, "data-synth: out of memory");
            else {
                memcpy(x + lead, a, (size_t)na * sizeof *a);
                memcpy(x + lead + na + gap, b, (size_t)nb * sizeof *b);
                st = perturb(o, &r, x, n, lead, lead + na + gap + nb, err);
            }
            free(a);
            free(b);
            char utt[64], path[PATH_MAX + 160];
            snprintf(utt, sizeof utt, "%s-%03d", spk[i].id, k);
            snprintf(path, sizeof path, "%s/%s.wav", sub, utt);
            if (st == CH_OK)
                st = audio_write_wav(path, x, n, SR, err);
            free(x);
            tb_printf(&scp, "%s %s\n", utt, path);
            tb_printf(&u2s, "%s %s\n", utt, spk[i].id);
            tb_printf(&s2u, " %s", utt);
            sum->sv_utts++;
            progress_update(&p, sum->sv_utts);
        }
        tb_printf(&s2u, "\n");
    }
    progress_finish(&p);
    /* Trials: alternately target (two different utts of one speaker) and nontarget (two
     * speakers); a pair already drawn is redrawn (up to 50 times, then kept). */
    rng r;
    rng_seed(&r, seed, 0x5000);
    size_t n_all = (size_t)ns * (size_t)nu;
    unsigned char *seen = n_all <= 20000 ? calloc(n_all * n_all / 8 + 1, 1) : NULL;
    if (!seen && n_all <= 20000 && st == CH_OK)
        st = ch_fail(err, CH_ERR_NOMEM, "data-synth: out of memory");
    for (long k = 0; k < o->trials && st == CH_OK; k++) {
        int target = (k % 2) == 0;
        int s1, s2, u1, u2;
        size_t key;
        int tries = 0;
        do {
            s1 = (int)rng_below(&r, (uint32_t)ns);
            s2 = target ? s1 : (s1 + 1 + (int)rng_below(&r, (uint32_t)(ns - 1))) % ns;
            u1 = (int)rng_below(&r, (uint32_t)nu);
            u2 = target ? (u1 + 1 + (int)rng_below(&r, (uint32_t)(nu - 1))) % nu
                        : (int)rng_below(&r, (uint32_t)nu);
            key = ((size_t)s1 * nu + u1) * ((size_t)ns * nu) + (size_t)s2 * nu + u2;
        } while (seen && (seen[key / 8] >> (key % 8) & 1) && ++tries < 50);
        if (seen) /* (large corpora: repeats are rare enough to keep) */
            seen[key / 8] |= (unsigned char)(1u << (key % 8));
        tb_printf(&trials, "%s-%03d %s-%03d %s\n", spk[s1].id, u1, spk[s2].id, u2,
                  target ? "target" : "nontarget");
        tb_printf(&vox, "%d %s/%s-%03d.wav %s/%s-%03d.wav\n", target, spk[s1].id, spk[s1].id,
                  u1, spk[s2].id, spk[s2].id, u2);
        sum->trials++;
        sum->trials_target += target;
    }
    free(seen);
    if (st == CH_OK)
        st = tb_write(&scp, dir, "wav.scp", err);
    if (st == CH_OK)
        st = tb_write(&u2s, dir, "utt2spk", err);
    if (st == CH_OK)
        st = tb_write(&s2u, dir, "spk2utt", err);
    if (st == CH_OK)
        st = tb_write(&trials, dir, "trials", err);
    if (st == CH_OK)
        st = tb_write(&vox, dir, "trials_voxceleb.txt", err);
    sum->sv_speakers = ns;
    free(scp.s);
    free(u2s.s);
    free(s2u.s);
    free(trials.s);
    free(vox.s);
    free(spk);
    return st;
}

ch_status synth_run(const synth_options *o, uint64_t seed, int verbosity, synth_summary *sum,
                    ch_error *err)
{
    memset(sum, 0, sizeof *sum);
    if (!o->kws_dir[0] && !o->sv_dir[0])
        return ch_fail(err, CH_ERR_USAGE,
                       "no output folder: give --kws <out-dir> and/or --speakers <out-dir>");
    if (o->kws_dir[0] && strcmp(o->kws_dir, o->sv_dir) == 0) /* the second would find it full */
        return ch_fail(err, CH_ERR_USAGE, "--kws and --speakers: give two different folders (%s)",
                       o->kws_dir);
    if (o->snr_min_db > o->snr_max_db)
        return ch_fail(err, CH_ERR_USAGE, "--snr-min: %g is above --snr-max %g", o->snr_min_db,
                       o->snr_max_db);
    synth_tts *t;
    CH_TRY(synth_tts_open(&t, err));
    ch_status st = CH_OK;
    if (o->kws_dir[0])
        st = make_kws(o, t, seed, verbosity, sum, err);
    if (st == CH_OK && o->sv_dir[0])
        st = make_sv(o, t, seed, verbosity, sum, err);
    synth_tts_close(t);
    return st;
}
