/* kws-detect.c — run a trained keyword model on audio.
 *
 *   kws-detect [options] <model> <wav>...                  clips: "file label prob"; longer
 *                                                          audio or '-' (raw 16-bit LE mono
 *                                                          16 kHz PCM on stdin): streaming,
 *                                                          "file start_s end_s keyword score"
 *   kws-detect [options] --eval <data-dir> <model>         accuracy, per-class, confusion
 *   kws-detect [options] --eval-stream <labels-dir> <model> <wav>...
 *                                                          miss rate, false alarms per hour,
 *                                                          threshold sweep (--det-csv/--det-svg)
 *
 * Streaming: the fbank of the whole stream is computed once, incrementally, and 1-s windows of
 * frames slide by --hop; posteriors are smoothed over --smooth windows and a keyword fires when
 * its smoothed posterior reaches its threshold, outside the --refractory period of the previous
 * detection and only after it dropped below the threshold since its last detection
 * (infer/kws_stream.h). With a densenet-bilstm the CNN runs once over the whole stream (in
 * chunks, halo carried) and only the BiLSTM head runs per window, batched (kws_fast_*);
 * --exact-windows runs every window through the whole model instead, as clip mode does (the
 * two differ near window edges and, with CMN, by the CMN window: infer/kws_stream.h).
 * A model trained with per-clip CMN gets --exact-windows unless --fast-windows is given.
 * --posteriors writes every window's posteriors, to compare the two.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <omp.h>

#include "common/cli.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/timer.h"
#include "data/speech_commands.h"
#include "frontend/audio.h"
#include "infer/kws_stream.h"
#include "models/kws_densenet.h"

#define PROG "kws-detect"

typedef struct {
    int top_k;
    float hop_s;
    int smooth;
    float threshold;
    char thresholds[1024];
    float refractory_s;
    char eval[4096];
    int eval_split;       /* 0 all, 1 train, 2 valid, 3 test */
    sc_options sc;        /* --eval's split: the same options, names and defaults as kws-train's */
    char eval_stream[4096];
    char det_csv[4096];
    char det_svg[4096];
    float target_fa;
    int batch;
    bool exact_windows;
    bool fast_windows;
    char posteriors[4096];
    FILE *post_fp; /* posteriors opened (not an option) */
} detect_options;

static const opt_desc detect_opts[] = {
    OPT_INT(detect_options, top_k, "top-k", 1, 1000, "Clips: print the K best labels"),
    OPT_FLOAT(detect_options, hop_s, "hop", 0.01, 10, "Streaming: window hop (s)"),
    OPT_INT(detect_options, smooth, "smooth", 1, 1000,
            "Streaming: average posteriors over this many windows"),
    OPT_FLOAT(detect_options, threshold, "threshold", 0, 1,
              "Streaming: smoothed posterior a keyword must reach"),
    OPT_STRING(detect_options, thresholds, "thresholds",
               "Per-keyword thresholds \"word=x,...\" (others use --threshold)"),
    OPT_FLOAT(detect_options, refractory_s, "refractory", 0, 3600,
              "Streaming: no detection for this long after one (s)"),
    OPT_STRING(detect_options, eval, "eval", "Evaluate on this Speech Commands folder"),
    OPT_CHOICE(detect_options, eval_split, "eval-split", "all|train|valid|test",
               "--eval: which split of the folder"),
    /* the split options of kws-train (train/kws_data.c), stored straight into sc_options so
     * the folder splits exactly as it did for training */
    OPT_DOUBLE(detect_options, sc.validation_percentage, "valid-percent", 0, 100,
               "--eval: validation share of the speaker hash split (folders without lists)"),
    OPT_DOUBLE(detect_options, sc.testing_percentage, "test-percent", 0, 100,
               "--eval: test share of the speaker hash split (folders without lists)"),
    OPT_CHOICE(detect_options, sc.split, "split", "auto|standard|salted",
               "--eval: split without list files, as kws-train's --split"),
    OPT_STRING(detect_options, sc.split_salt, "split-salt",
               "--eval: salt of the salted speaker split, as kws-train's --split-salt"),
    OPT_STRING(detect_options, sc.valid_list, "valid-list",
               "--eval: validation list (lines word/clip.wav; FILE, else <eval-dir>/FILE), as "
               "kws-train's (e.g. from its --write-split)"),
    OPT_STRING(detect_options, sc.test_list, "test-list",
               "--eval: testing list (lines word/clip.wav; FILE, else <eval-dir>/FILE), as "
               "kws-train's"),
    OPT_STRING(detect_options, eval_stream, "eval-stream",
               "Evaluate streaming detection against <basename>.txt label files in this folder"),
    OPT_STRING(detect_options, det_csv, "det-csv", "--eval-stream: write the threshold sweep (CSV)"),
    OPT_STRING(detect_options, det_svg, "det-svg", "--eval-stream: write the DET plot (SVG)"),
    OPT_FLOAT(detect_options, target_fa, "target-fa-per-hour", 0, 1e6,
              "--eval-stream: report the lowest threshold with at most this many FA/hour"),
    OPT_INT(detect_options, batch, "batch", 1, 4096, "Windows per model call"),
    OPT_BOOL(detect_options, exact_windows, "exact-windows",
             "Streaming: run every window through the whole model (as clips), not the CNN "
             "once over the stream (slower; see infer/kws_stream.h for the difference)"),
    OPT_BOOL(detect_options, fast_windows, "fast-windows",
             "Streaming: take the fast path also for a model trained with per-clip CMN (by "
             "default such models get --exact-windows: the stream-level CMN window shifts "
             "their posteriors too much)"),
    OPT_STRING(detect_options, posteriors, "posteriors",
               "Streaming: write 'file start_s p_1 .. p_K' (label order) per window here"),
};

/* ---- streaming over one recording ---- */

typedef struct {
    kws_model *km;
    const detect_options *o;
    feat_workspace *ws;
    feat_rand fr;
    int S, L;            /* frame shift, frame length (samples) */
    int hop_f;           /* hop in frames */
    float *samp;         /* samples not yet framed, from sample index samp_base */
    long samp_n, samp_cap, samp_base;
    float *frames;       /* frames from index fr_base */
    long fr_n, fr_cap, fr_base;
    long next_win;       /* next window index */
    float *xb;           /* (batch, T, F) */
    double *win_start;   /* (batch) */
    int nb;
    float *probs;        /* (batch, K) */
    kws_fast *fast;      /* fast path (CNN once over the stream); NULL: --exact-windows */
    /* output */
    kws_detector *det;
    const char *name;
    FILE *out;           /* events printed here (NULL: none) */
    float *trace;        /* raw posteriors of every window (for --eval-stream), grown */
    long trace_n, trace_cap;
    long n_samples;      /* total */
    long n_events;
} streamer;

static ch_status grow(void **p, long *cap, long need, size_t elem, ch_error *err)
{
    if (need <= *cap)
        return CH_OK;
    long nc = *cap ? *cap : 1024;
    while (nc < need)
        nc *= 2;
    void *n = realloc(*p, (size_t)nc * elem);
    if (!n)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    *p = n;
    *cap = nc;
    return CH_OK;
}

/* The posteriors p of the window starting at start_s (windows in order): trace, detector. */
static ch_status on_posteriors(streamer *s, const float *p, double start_s, ch_error *err)
{
    kws_model *km = s->km;
    int K = km->n_labels;
    if (s->o->post_fp) {
        fprintf(s->o->post_fp, "%s %.2f", s->name, start_s);
        for (int k = 0; k < K; k++)
            fprintf(s->o->post_fp, " %.6f", p[k]);
        fputc('\n', s->o->post_fp);
    }
    if (s->trace) {
        CH_TRY(grow((void **)&s->trace, &s->trace_cap, (s->trace_n + 1) * K, sizeof(float),
                    err));
        memcpy(s->trace + s->trace_n * K, p, sizeof(float) * (size_t)K);
        s->trace_n++;
    }
    kws_event ev;
    if (s->det && kws_detector_push(s->det, p, start_s, NULL, &ev)) {
        s->n_events++;
        if (s->out) {
            fprintf(s->out, "%s %.2f %.2f %s %.3f\n", s->name, ev.start_s, ev.end_s,
                    km->labels[ev.label], ev.score);
            fflush(s->out);
        }
    }
    return CH_OK;
}

/* kws_window_fn of the fast path: window w starts at frame w * hop_f. */
static ch_status on_window(void *arg, long w, const float *p, ch_error *err)
{
    streamer *s = arg;
    return on_posteriors(s, p, (double)w * s->hop_f * s->S / KWS_RATE_HZ, err);
}

static ch_status run_batch(streamer *s, ch_error *err)
{
    if (s->nb == 0)
        return CH_OK;
    kws_model *km = s->km;
    CH_TRY(kws_model_posteriors(km, s->xb, s->nb, s->probs, err));
    for (int i = 0; i < s->nb; i++)
        CH_TRY(on_posteriors(s, s->probs + (size_t)i * km->n_labels, s->win_start[i], err));
    s->nb = 0;
    return CH_OK;
}

/* End of the stream: the windows still pending. */
static ch_status stream_finish(streamer *s, ch_error *err)
{
    return s->fast ? kws_fast_finish(s->fast, on_window, s, err) : run_batch(s, err);
}

/* Feeds n samples; computes the new frames and runs every complete window. */
static ch_status stream_feed(streamer *s, const float *x, long n, ch_error *err)
{
    kws_model *km = s->km;
    int T = km->T, F = km->F;
    s->n_samples += n;
    CH_TRY(grow((void **)&s->samp, &s->samp_cap, s->samp_n + n, sizeof(float), err));
    memcpy(s->samp + s->samp_n, x, sizeof(float) * (size_t)n);
    s->samp_n += n;
    /* frames whose samples are all here */
    long nf = s->samp_n < s->L ? 0 : 1 + (s->samp_n - s->L) / s->S;
    if (nf > 0) {
        CH_TRY(grow((void **)&s->frames, &s->fr_cap, (s->fr_n + nf) * F, sizeof(float), err));
        long used = (nf - 1) * s->S + s->L;
        CH_TRY(feat_compute(km->fc, s->ws, &s->fr, s->samp, used, s->frames + s->fr_n * F,
                            err));
        s->fr_n += nf;
        long drop = nf * s->S;
        memmove(s->samp, s->samp + drop, sizeof(float) * (size_t)(s->samp_n - drop));
        s->samp_n -= drop;
        s->samp_base += drop;
        if (s->fast) {
            /* the fast path keeps what it needs itself */
            CH_TRY(kws_fast_push(s->fast, s->frames, s->fr_n, on_window, s, err));
            s->fr_base += s->fr_n;
            s->fr_n = 0;
        }
    }
    if (s->fast)
        return CH_OK;
    /* windows: window w covers frames [w * hop_f, w * hop_f + T) */
    for (;;) {
        long f0 = s->next_win * s->hop_f;
        if (f0 + T > s->fr_base + s->fr_n)
            break;
        memcpy(s->xb + (size_t)s->nb * T * F, s->frames + (f0 - s->fr_base) * F,
               sizeof(float) * (size_t)T * F);
        s->win_start[s->nb] = (double)f0 * s->S / KWS_RATE_HZ;
        s->nb++;
        s->next_win++;
        if (s->nb == s->o->batch)
            CH_TRY(run_batch(s, err));
    }
    /* frames before the next window are never needed again */
    long keep_from = s->next_win * s->hop_f;
    if (keep_from > s->fr_base + s->fr_n)
        keep_from = s->fr_base + s->fr_n;
    long dropf = keep_from - s->fr_base;
    if (dropf > 4096) {
        memmove(s->frames, s->frames + dropf * F, sizeof(float) * (size_t)(s->fr_n - dropf) * F);
        s->fr_n -= dropf;
        s->fr_base += dropf;
    }
    return CH_OK;
}

static void streamer_free(streamer *s)
{
    feat_workspace_free(s->ws);
    free(s->samp);
    free(s->frames);
    free(s->xb);
    free(s->win_start);
    free(s->probs);
    free(s->trace);
    kws_fast_free(s->fast);
    kws_detector_free(s->det);
}

static ch_status parse_thresholds(const detect_options *o, const kws_model *km, float *thr,
                                  ch_error *err)
{
    for (int k = 0; k < km->n_labels; k++)
        thr[k] = kws_is_keyword(km->labels[k]) ? o->threshold : 2.0f;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", o->thresholds);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        char *end = NULL;
        double v = eq ? strtod(eq + 1, &end) : -1;
        if (!eq || end == eq + 1 || *end || !(v >= 0 && v <= 1))
            return ch_fail(err, CH_ERR_USAGE, "--thresholds: '%s' is not word=x with x in [0, 1]",
                           t);
        *eq = 0;
        int k = kws_label_index(km->labels, km->n_labels, t);
        if (k < 0 || !kws_is_keyword(t))
            return ch_fail(err, CH_ERR_USAGE, "--thresholds: '%s' is not a keyword of the model",
                           t);
        thr[k] = (float)v;
    }
    return CH_OK;
}

static ch_status streamer_init(streamer *s, kws_model *km, const detect_options *o,
                               const float *thr, const char *name, FILE *out, bool trace,
                               ch_error *err)
{
    memset(s, 0, sizeof *s);
    s->km = km;
    s->o = o;
    s->name = name;
    s->out = out;
    s->S = feat_window_shift(km->fc);
    s->L = feat_window_size(km->fc);
    s->hop_f = (int)lround(o->hop_s * KWS_RATE_HZ / s->S);
    if (s->hop_f < 1)
        s->hop_f = 1;
    feat_rand_init(&s->fr, 1);
    CH_TRY(feat_workspace_create(km->fc, &s->ws, err));
    s->xb = malloc(sizeof(float) * (size_t)o->batch * km->T * km->F);
    s->win_start = malloc(sizeof(double) * (size_t)o->batch);
    s->probs = malloc(sizeof(float) * (size_t)o->batch * km->n_labels);
    if (!s->xb || !s->win_start || !s->probs)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    if (trace)
        CH_TRY(grow((void **)&s->trace, &s->trace_cap, 1024, sizeof(float), err));
    /* The fast path is exact up to window edges, except for CMN: a per-window mean cannot be
     * shared across windows, and the stream-level mean it uses instead moved the top class of
     * ~20% of windows in measurements (infer/kws_stream.h), so CMN models default to exact. */
    bool fast = !o->exact_windows && kws_densenet_is(km->model) && (!km->fe.cmn || o->fast_windows);
    if (fast) {
        /* CNN calls of >= 400 frames (halo overhead 2R/400), or batch * hop on live input */
        int chunk = o->batch * s->hop_f < 400 ? o->batch * s->hop_f : 400;
        CH_TRY(kws_fast_create(&s->fast, km, s->hop_f, o->batch, chunk, err));
    }
    if (out) {
        kws_detector_options d = {km->n_labels, o->smooth, thr, o->refractory_s,
                                  (double)km->fe.clip_samples / KWS_RATE_HZ};
        CH_TRY(kws_detector_create(&s->det, &d, err));
    }
    return CH_OK;
}

/* Reads all of stdin as 16-bit LE PCM, streaming it through s as it arrives. */
static ch_status stream_stdin(streamer *s, ch_error *err)
{
    int16_t raw[4096];
    float x[4096];
    unsigned char carry = 0;
    int has_carry = 0;
    long total = 0;
    for (;;) {
        unsigned char *b = (unsigned char *)raw;
        size_t off = 0;
        if (has_carry) {
            b[0] = carry;
            off = 1;
            has_carry = 0;
        }
        size_t got = fread(b + off, 1, sizeof raw - off, stdin) + off;
        if (got == 0)
            break;
        if (got % 2) {
            carry = b[got - 1];
            has_carry = 1;
            got--;
        }
        long n = (long)got / 2;
        for (long i = 0; i < n; i++)
            x[i] = (float)(int16_t)(b[2 * i] | (b[2 * i + 1] << 8));
        total += n;
        if (n)
            CH_TRY(stream_feed(s, x, n, err));
        if (feof(stdin))
            break;
    }
    if (has_carry)
        return ch_fail(err, CH_ERR_FORMAT, "-: odd number of bytes on stdin (a torn 16-bit sample)");
    if (total == 0)
        return ch_fail(err, CH_ERR_FORMAT, "-: no audio on stdin");
    return stream_finish(s, err);
}

/* ---- clip mode ---- */

static ch_status classify_clip(kws_model *km, const float *x, long n, float *probs,
                               ch_error *err)
{
    int clip = km->fe.clip_samples;
    float *c = malloc(sizeof(float) * (size_t)clip);
    float *feats = malloc(sizeof(float) * (size_t)km->T * km->F);
    feat_workspace *ws = NULL;
    ch_status st = (!c || !feats) ? ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG)
                                  : feat_workspace_create(km->fc, &ws, err);
    if (st == CH_OK) {
        kws_fit_clip(c, clip, x, n);
        feat_rand r;
        feat_rand_init(&r, 1);
        st = feat_compute(km->fc, ws, &r, c, clip, feats, err);
    }
    if (st == CH_OK)
        st = kws_model_posteriors(km, feats, 1, probs, err);
    feat_workspace_free(ws);
    free(c);
    free(feats);
    return st;
}

/* What the files of one run added up to (for --json). */
typedef struct {
    long clips, streams, detections;
    double audio_s;
} detect_stats;

static ch_status detect_file(kws_model *km, const detect_options *o, const float *thr,
                             const char *path, int verbosity, detect_stats *ds, ch_error *err)
{
    int K = km->n_labels;
    if (!strcmp(path, "-")) {
        /* live input: at most 8 windows (0.8 s at the default hop) wait for a model call */
        detect_options lo = *o;
        lo.batch = o->batch < 8 ? o->batch : 8;
        streamer s;
        ch_status st = streamer_init(&s, km, &lo, thr, "-", stdout, false, err);
        if (st == CH_OK)
            st = stream_stdin(&s, err);
        ds->streams++;
        ds->detections += s.n_events;
        ds->audio_s += (double)s.n_samples / KWS_RATE_HZ;
        streamer_free(&s);
        return st;
    }
    audio_options ao = audio_options_default();
    audio_buf a;
    CH_TRY(audio_read(path, &ao, &a, err));
    if (a.resampled || a.mixed_down)
        log_msg(verbosity, 1, "%s: %s%s%s\n", path,
                a.resampled ? "resampled to 16000 Hz" : "",
                a.resampled && a.mixed_down ? ", " : "",
                a.mixed_down ? "channels mixed down to mono" : "");
    ch_status st = CH_OK;
    if (a.n <= km->fe.clip_samples) {
        float *p = malloc(sizeof(float) * (size_t)K);
        int *order = malloc(sizeof(int) * (size_t)K);
        if (!p || !order)
            st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
        if (st == CH_OK)
            st = classify_clip(km, a.samples, a.n, p, err);
        if (st == CH_OK) {
            for (int k = 0; k < K; k++)
                order[k] = k;
            for (int i = 0; i < K; i++) /* selection sort: K is small */
                for (int j = i + 1; j < K; j++)
                    if (p[order[j]] > p[order[i]]) {
                        int t = order[i];
                        order[i] = order[j];
                        order[j] = t;
                    }
            printf("%s", path);
            for (int i = 0; i < o->top_k && i < K; i++)
                printf(" %s %.4f", km->labels[order[i]], p[order[i]]);
            printf("\n");
            ds->clips++;
        }
        free(p);
        free(order);
    } else {
        streamer s;
        st = streamer_init(&s, km, o, thr, path, stdout, false, err);
        for (long i = 0; st == CH_OK && i < a.n; i += 16000)
            st = stream_feed(&s, a.samples + i, a.n - i < 16000 ? a.n - i : 16000, err);
        if (st == CH_OK)
            st = stream_finish(&s, err);
        ds->streams++;
        ds->detections += s.n_events;
        streamer_free(&s);
    }
    ds->audio_s += (double)a.n / KWS_RATE_HZ;
    audio_free(&a);
    return st;
}

/* ---- --eval: accuracy on a Speech Commands folder ---- */

static ch_status eval_folder(kws_model *km, const detect_options *o, int threads, bool json,
                             ch_error *err)
{
    int K = km->n_labels;
    static const char *const twelve[] = {"_silence_", "_unknown_", "yes", "no", "up", "down",
                                         "left", "right", "on", "off", "stop", "go"};
    bool is12 = K == 12;
    for (int k = 0; is12 && k < 12; k++)
        is12 = !strcmp(km->labels[k], twelve[k]);
    sc_options so = o->sc;
    so.task = is12 ? SC_TASK_12 : SC_TASK_ALL;
    sc_dataset ds;
    memset(&ds, 0, sizeof ds);
    CH_TRY(sc_load(o->eval, &so, &ds, err));
    ch_status st = CH_OK;
    int *map = malloc(sizeof(int) * (size_t)(ds.n_labels + 1));
    if (!map)
        st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    for (int l = 0; st == CH_OK && l < ds.n_labels; l++) {
        map[l] = kws_label_index(km->labels, K, ds.labels[l]);
        if (map[l] < 0)
            st = ch_fail(err, CH_ERR_FORMAT, "%s: label '%s' is not one the model knows",
                         o->eval, ds.labels[l]);
    }
    /* the items to score */
    int n = 0;
    for (int s = 0; s < SC_N_SPLITS; s++)
        if (o->eval_split == 0 || o->eval_split == s + 1)
            n += ds.n_items[s];
    const sc_item **items = calloc((size_t)n + 1, sizeof *items);
    int *conf = calloc((size_t)K * K, sizeof(int));
    if (st == CH_OK && (!items || !conf))
        st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    if (st == CH_OK) {
        int j = 0;
        for (int s = 0; s < SC_N_SPLITS; s++)
            if (o->eval_split == 0 || o->eval_split == s + 1)
                for (int i = 0; i < ds.n_items[s]; i++)
                    items[j++] = &ds.items[s][i];
        if (n == 0)
            st = ch_fail(err, CH_ERR_FORMAT, "%s: no clips in the chosen split", o->eval);
    }
    int T = km->T, F = km->F, B = o->batch, clip = km->fe.clip_samples;
    float *x = malloc(sizeof(float) * (size_t)B * T * F);
    float *probs = malloc(sizeof(float) * (size_t)B * K);
    float *wav = malloc(sizeof(float) * (size_t)threads * clip);
    feat_workspace **ws = calloc((size_t)threads, sizeof *ws);
    if (st == CH_OK && (!x || !probs || !wav || !ws))
        st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    for (int t = 0; st == CH_OK && t < threads; t++)
        st = feat_workspace_create(km->fc, &ws[t], err);
    int correct = 0;
    for (int s0 = 0; st == CH_OK && s0 < n; s0 += B) {
        int nb = n - s0 < B ? n - s0 : B;
        int failed = 0;
        ch_error e1;
        ch_status fst = CH_OK;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
        for (int i = 0; i < nb; i++) {
            int tid = omp_get_thread_num();
            ch_error e;
            float *w = wav + (size_t)tid * clip;
            ch_status s = kws_read_clip(items[s0 + i], clip, w, &e);
            if (s == CH_OK) {
                feat_rand r;
                feat_rand_init(&r, 1);
                s = feat_compute(km->fc, ws[tid], &r, w, clip, x + (size_t)i * T * F, &e);
            }
            if (s != CH_OK) {
#pragma omp critical(kws_eval_fail)
                if (!failed || i + 1 < failed) {
                    failed = i + 1;
                    e1 = e;
                    fst = s;
                }
            }
        }
        if (failed) {
            st = ch_fail(err, fst, "%s", e1.msg);
            break;
        }
        if ((st = kws_model_posteriors(km, x, nb, probs, err)) != CH_OK)
            break;
        for (int i = 0; i < nb; i++) {
            const float *p = probs + (size_t)i * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (p[k] > p[best])
                    best = k;
            int truth = map[items[s0 + i]->label];
            conf[truth * K + best]++;
            correct += best == truth;
        }
    }
    if (st == CH_OK) {
        double acc = (double)correct / n;
        printf("accuracy: %.2f %% (%d of %d clips)\nper class:\n", 100 * acc, correct, n);
        for (int k = 0; k < K; k++) {
            int tot = 0;
            for (int j = 0; j < K; j++)
                tot += conf[k * K + j];
            if (tot)
                printf("  %-12s %6.2f %% (%d clips)\n", km->labels[k],
                       100.0 * conf[k * K + k] / tot, tot);
        }
        printf("confusion matrix (rows: true, columns: predicted)\n%-12s", "");
        for (int k = 0; k < K; k++)
            printf(" %6.6s", km->labels[k]);
        printf("\n");
        for (int i = 0; i < K; i++) {
            printf("%-12.12s", km->labels[i]);
            for (int k = 0; k < K; k++)
                printf(" %6d", conf[i * K + k]);
            printf("\n");
        }
        if (json) {
            printf("{\"accuracy\":%.6f,\"n\":%d,\"per_class\":{", acc, n);
            int first = 1;
            for (int k = 0; k < K; k++) {
                int tot = 0;
                for (int j = 0; j < K; j++)
                    tot += conf[k * K + j];
                if (!tot)
                    continue;
                printf("%s\"%s\":%.6f", first ? "" : ",", km->labels[k],
                       (double)conf[k * K + k] / tot);
                first = 0;
            }
            printf("},\"labels\":[");
            for (int k = 0; k < K; k++)
                printf("%s\"%s\"", k ? "," : "", km->labels[k]);
            printf("],\"confusion\":[");
            for (int i = 0; i < K; i++) {
                printf("%s[", i ? "," : "");
                for (int k = 0; k < K; k++)
                    printf("%s%d", k ? "," : "", conf[i * K + k]);
                printf("]");
            }
            printf("]}\n");
        }
    }
    if (ws)
        for (int t = 0; t < threads; t++)
            feat_workspace_free(ws[t]);
    free(ws);
    free(x);
    free(probs);
    free(wav);
    free(items);
    free(conf);
    free(map);
    sc_free(&ds);
    return st;
}

/* ---- --eval-stream: miss rate and false alarms per hour ---- */

typedef struct {
    double start, end;
    int label;   /* model class, -1 when the word is not a keyword of the model */
    bool hit;
} ref_word;

typedef struct {
    float *trace; /* (n_win, K) */
    long n_win;
    double hop_s;
    double hours;
    ref_word *refs;
    int n_refs;
} recording;

static ch_status read_refs(const char *dir, const char *wav, const kws_model *km,
                           recording *r, ch_error *err)
{
    const char *base = strrchr(wav, '/');
    base = base ? base + 1 : wav;
    char stem[1024];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem)
        *dot = 0;
    char path[4096 + 1100];
    snprintf(path, sizeof path, "%s/%s.txt", dir, stem);
    char *text;
    size_t n;
    CH_TRY(file_read_all(path, &text, &n, err));
    ch_status st = CH_OK;
    int cap = 0, lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char word[256], extra[8];
        double a, b;
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#' || *s == '\r')
            continue;
        if (sscanf(s, "%lf %lf %255s %7s", &a, &b, word, extra) != 3 || !(a >= 0) || !(b > a)) {
            st = ch_fail(err, CH_ERR_FORMAT,
                         "%s:%d: expected 'start_s end_s word' with 0 <= start < end", path,
                         lineno);
            break;
        }
        if (r->n_refs == cap) {
            cap = cap ? cap * 2 : 32;
            ref_word *nr = realloc(r->refs, sizeof *nr * (size_t)cap);
            if (!nr) {
                st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
                break;
            }
            r->refs = nr;
        }
        int k = kws_label_index(km->labels, km->n_labels, word);
        r->refs[r->n_refs++] = (ref_word){a, b, (k >= 0 && kws_is_keyword(word)) ? k : -1, false};
    }
    free(text);
    return st;
}

/* Runs the detector over every recording at one global threshold (or per-class thr). */
static void score_at(const recording *recs, int n_rec, const kws_model *km,
                     const detect_options *o, const float *thr, long *misses, long *n_ref,
                     long *fas, double *hours)
{
    int K = km->n_labels;
    *misses = *n_ref = *fas = 0;
    *hours = 0;
    kws_detector_options d = {K, o->smooth, thr, o->refractory_s,
                              (double)km->fe.clip_samples / KWS_RATE_HZ};
    kws_detector *det = NULL;
    ch_error e;
    if (kws_detector_create(&det, &d, &e) != CH_OK)
        return;
    for (int r = 0; r < n_rec; r++) {
        const recording *rc = &recs[r];
        ref_word *refs = rc->refs;
        for (int i = 0; i < rc->n_refs; i++)
            refs[i].hit = false;
        kws_detector_reset(det);
        for (long w = 0; w < rc->n_win; w++) {
            kws_event ev;
            if (!kws_detector_push(det, rc->trace + w * K, w * rc->hop_s, NULL, &ev))
                continue;
            int matched = 0;
            for (int i = 0; i < rc->n_refs && !matched; i++)
                if (!refs[i].hit && refs[i].label == ev.label && refs[i].start < ev.end_s &&
                    refs[i].end > ev.start_s) {
                    refs[i].hit = true;
                    matched = 1;
                }
            if (!matched)
                (*fas)++;
        }
        for (int i = 0; i < rc->n_refs; i++)
            if (refs[i].label >= 0) {
                (*n_ref)++;
                *misses += !refs[i].hit;
            }
        *hours += rc->hours;
    }
    kws_detector_free(det);
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

#define N_SWEEP 99

static ch_status write_svg(const char *path, const double *thr, const double *miss,
                           const double *fa, int n, ch_error *err)
{
    double fmax = 1;
    for (int i = 0; i < n; i++)
        fmax = fa[i] > fmax ? fa[i] : fmax;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
    const double W = 480, H = 360, X0 = 60, Y0 = 20, PW = 400, PH = 300;
    fprintf(m, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
               "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
               "stroke=\"black\"/>\n",
            W, H, X0, Y0, PW, PH);
    for (int g = 0; g <= 4; g++) {
        double y = Y0 + PH - PH * g / 4.0, x = X0 + PW * g / 4.0;
        fprintf(m, "<text x=\"%g\" y=\"%g\" font-size=\"10\" text-anchor=\"end\">%d%%</text>\n",
                X0 - 4, y + 3, 25 * g);
        fprintf(m, "<text x=\"%g\" y=\"%g\" font-size=\"10\" text-anchor=\"middle\">%.3g</text>\n",
                x, Y0 + PH + 14, fmax * g / 4.0);
    }
    fprintf(m, "<text x=\"%g\" y=\"%g\" font-size=\"12\" text-anchor=\"middle\">false alarms "
               "per hour</text>\n<text x=\"14\" y=\"%g\" font-size=\"12\" "
               "transform=\"rotate(-90 14 %g)\" text-anchor=\"middle\">miss rate</text>\n",
            X0 + PW / 2, H - 6, Y0 + PH / 2, Y0 + PH / 2);
    fprintf(m, "<polyline fill=\"none\" stroke=\"blue\" stroke-width=\"1.5\" points=\"");
    for (int i = 0; i < n; i++)
        fprintf(m, "%.1f,%.1f ", X0 + PW * fa[i] / fmax, Y0 + PH - PH * miss[i]);
    fprintf(m, "\"/>\n<!-- thresholds %g..%g -->\n</svg>\n", thr[0], thr[n - 1]);
    if (fclose(m) != 0) {
        free(buf);
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
    }
    ch_status st = write_text(path, buf, len, err);
    free(buf);
    return st;
}

static ch_status eval_stream(kws_model *km, const detect_options *o, const float *thr,
                             char **wavs, int n_wav, bool json, ch_error *err)
{
    int K = km->n_labels;
    recording *recs = calloc((size_t)n_wav, sizeof *recs);
    if (!recs)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    ch_status st = CH_OK;
    for (int w = 0; st == CH_OK && w < n_wav; w++) {
        if (!strcmp(wavs[w], "-")) {
            st = ch_fail(err, CH_ERR_USAGE, "--eval-stream needs files, not '-'");
            break;
        }
        st = read_refs(o->eval_stream, wavs[w], km, &recs[w], err);
        audio_options ao = audio_options_default();
        audio_buf a;
        if (st == CH_OK)
            st = audio_read(wavs[w], &ao, &a, err);
        if (st != CH_OK)
            break;
        streamer s;
        st = streamer_init(&s, km, o, thr, wavs[w], NULL, true, err);
        for (long i = 0; st == CH_OK && i < a.n; i += 16000)
            st = stream_feed(&s, a.samples + i, a.n - i < 16000 ? a.n - i : 16000, err);
        if (st == CH_OK)
            st = stream_finish(&s, err);
        recs[w].trace = s.trace;
        recs[w].n_win = s.trace_n;
        recs[w].hop_s = (double)s.hop_f * s.S / KWS_RATE_HZ;
        recs[w].hours = a.n / (double)KWS_RATE_HZ / 3600.0;
        s.trace = NULL;
        streamer_free(&s);
        audio_free(&a);
    }
    if (st == CH_OK) {
        long mi, nr, fa;
        double hours;
        score_at(recs, n_wav, km, o, thr, &mi, &nr, &fa, &hours);
        double miss_rate = nr ? (double)mi / nr : 0, fa_h = hours > 0 ? fa / hours : 0;
        double sw_thr[N_SWEEP], sw_miss[N_SWEEP], sw_fa[N_SWEEP];
        float *t = malloc(sizeof(float) * (size_t)K);
        if (!t)
            st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
        int chosen = -1;
        for (int i = 0; st == CH_OK && i < N_SWEEP; i++) {
            sw_thr[i] = (i + 1) / 100.0;
            for (int k = 0; k < K; k++)
                t[k] = kws_is_keyword(km->labels[k]) ? (float)sw_thr[i] : 2.0f;
            long m2, n2, f2;
            double h2;
            score_at(recs, n_wav, km, o, t, &m2, &n2, &f2, &h2);
            sw_miss[i] = n2 ? (double)m2 / n2 : 0;
            sw_fa[i] = h2 > 0 ? f2 / h2 : 0;
            if (chosen < 0 && sw_fa[i] <= o->target_fa)
                chosen = i;
        }
        free(t);
        if (st == CH_OK && o->det_csv[0]) {
            char *buf = NULL;
            size_t len = 0;
            FILE *m = open_memstream(&buf, &len);
            if (!m) {
                st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", PROG);
            } else {
                fprintf(m, "threshold,miss_rate,fa_per_hour\n");
                for (int i = 0; i < N_SWEEP; i++)
                    fprintf(m, "%.2f,%.6f,%.6f\n", sw_thr[i], sw_miss[i], sw_fa[i]);
                fclose(m);
                st = write_text(o->det_csv, buf, len, err);
                free(buf);
            }
        }
        if (st == CH_OK && o->det_svg[0])
            st = write_svg(o->det_svg, sw_thr, sw_miss, sw_fa, N_SWEEP, err);
        if (st == CH_OK) {
            printf("keywords: %ld, missed %ld (miss rate %.2f %%), false alarms %ld in %.3f h "
                   "(%.2f per hour)\n",
                   nr, mi, 100 * miss_rate, fa, hours, fa_h);
            if (chosen >= 0)
                printf("threshold for <= %g false alarms per hour: %.2f (miss rate %.2f %%)\n",
                       (double)o->target_fa, sw_thr[chosen], 100 * sw_miss[chosen]);
            else
                printf("no threshold up to 0.99 gives <= %g false alarms per hour\n",
                       (double)o->target_fa);
            if (json) {
                printf("{\"miss_rate\":%.6f,\"fa_per_hour\":%.6f,\"n_keywords\":%ld,"
                       "\"hours\":%.6f,\"threshold\":",
                       miss_rate, fa_h, nr, hours);
                if (chosen >= 0)
                    printf("%.2f", sw_thr[chosen]);
                else
                    printf("null");
                printf(",\"det\":[");
                for (int i = 0; i < N_SWEEP; i++)
                    printf("%s[%.2f,%.6f,%.6f]", i ? "," : "", sw_thr[i], sw_miss[i], sw_fa[i]);
                printf("]}\n");
            }
        }
    }
    for (int w = 0; w < n_wav; w++) {
        free(recs[w].trace);
        free(recs[w].refs);
    }
    free(recs);
    return st;
}

/* Process CPU time (s), all threads: the fair measure on a loaded machine. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv)
{
    ch_error err;
    cli_common com = cli_common_default();
    detect_options o = {1, 0.1f, 3, 0.8f, "", 1.0f, "", 0, {0}, "", "", "", 1.0f, 64, false, false, "", NULL};
    o.sc = sc_options_default(); /* kws-train's defaults: 10 / 10, split auto */
    opt_group groups[] = {
        {"Detection", detect_opts, OPT_COUNT(detect_opts), &o},
        CLI_COMMON_GROUP(&com),
    };
    opt_parser parser = {
        PROG,
        "[options] <model> <wav>...            ('-' = raw 16-bit LE mono 16 kHz PCM on stdin)\n"
        "       " PROG " [options] --eval <data-dir> <model>\n"
        "       " PROG " [options] --eval-stream <labels-dir> <model> <wav>...",
        "Runs a trained keyword model: 1-s clips get 'file label prob'; longer audio is "
        "scanned with a sliding window and prints 'file start_s end_s keyword score' per "
        "detection. --eval gives accuracy and the confusion matrix on a Speech Commands "
        "folder; --eval-stream gives miss rate and false alarms per hour against "
        "'start_s end_s word' label files (<labels-dir>/<basename>.txt).",
        groups, sizeof groups / sizeof *groups, 1, -1};
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos)
        return 1;
    int n_pos = 0;
    bool help = false;
    ch_status st = opt_parse(&parser, argc, argv, pos, &n_pos, &help, &err);
    if (st != CH_OK || help) {
        free(pos);
        return st != CH_OK ? cli_report(PROG, st, &err) : 0;
    }
    if (st == CH_OK && o.eval[0] && o.eval_stream[0])
        st = ch_fail(&err, CH_ERR_USAGE, "--eval and --eval-stream exclude each other");
    if (st == CH_OK && o.eval[0] && n_pos != 1)
        st = ch_fail(&err, CH_ERR_USAGE, "--eval takes exactly one <model> argument, got %d",
                     n_pos);
    if (st == CH_OK && !o.eval[0] && n_pos < 2)
        st = ch_fail(&err, CH_ERR_USAGE, "give a <model> and at least one <wav> (or '-')");
    if (st == CH_OK && (o.det_csv[0] || o.det_svg[0]) && !o.eval_stream[0])
        st = ch_fail(&err, CH_ERR_USAGE, "--det-csv/--det-svg need --eval-stream");
    int stdin_uses = 0;
    for (int i = 1; i < n_pos; i++)
        stdin_uses += !strcmp(pos[i], "-");
    if (st == CH_OK && stdin_uses > 1)
        st = ch_fail(&err, CH_ERR_USAGE, "'-' (stdin) can be given only once");
    if (st == CH_OK)
        st = cli_check_device(&com, false, &err);
    if (st != CH_OK) {
        free(pos);
        return cli_report(PROG, st, &err);
    }
    int threads = cli_threads(&com);
    omp_set_num_threads(threads);
    kws_model km;
    st = kws_model_load(&km, pos[0], threads, &err);
    float *thr = NULL;
    if (st == CH_OK && !(thr = malloc(sizeof(float) * (size_t)km.n_labels)))
        st = ch_fail(&err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    if (st == CH_OK)
        st = parse_thresholds(&o, &km, thr, &err);
    if (st == CH_OK && o.posteriors[0] && !(o.post_fp = fopen(o.posteriors, "w")))
        st = ch_fail(&err, CH_ERR_IO, "%s: cannot write: %s", o.posteriors, strerror(errno));
    int failed = 0;
    if (st == CH_OK) {
        double t0 = timer_now(), c0 = cpu_now();
        if (o.eval[0]) {
            st = eval_folder(&km, &o, threads, com.json, &err);
        } else if (o.eval_stream[0]) {
            st = eval_stream(&km, &o, thr, pos + 1, n_pos - 1, com.json, &err);
        } else {
            /* batch tool: a bad file is reported and skipped, exit 1 at the end */
            detect_stats ds = {0, 0, 0, 0};
            for (int i = 1; i < n_pos; i++) {
                ch_error e;
                ch_status s = detect_file(&km, &o, thr, pos[i], cli_verbosity(&com), &ds, &e);
                if (s != CH_OK) {
                    if (s == CH_ERR_NOMEM || s == CH_ERR_INTERNAL) {
                        st = s;
                        err = e;
                        break;
                    }
                    fprintf(stderr, "%s: %s\n", PROG, e.msg);
                    failed++;
                    err = e;
                }
            }
            double wall = timer_now() - t0, cpu = cpu_now() - c0;
            if (com.json && st == CH_OK)
                printf("{\"files\":%d,\"failed\":%d,\"clips\":%ld,\"streams\":%ld,"
                       "\"detections\":%ld,\"audio_s\":%.3f,\"wall_s\":%.3f,"
                       "\"realtime_factor\":%.2f,\"cpu_s\":%.3f,\"realtime_factor_cpu\":%.2f}\n",
                       n_pos - 1, failed, ds.clips, ds.streams, ds.detections, ds.audio_s, wall,
                       wall > 0 ? ds.audio_s / wall : 0, cpu, cpu > 0 ? ds.audio_s / cpu : 0);
            if (st == CH_OK && failed) {
                if (n_pos > 2) /* with one file its error line says it all */
                    log_msg(cli_verbosity(&com), 1, "done %d of %d files\n",
                            n_pos - 1 - failed, n_pos - 1);
                st = CH_ERR_FORMAT;
            }
        }
        log_msg(cli_verbosity(&com), 2, "%.2f s\n", timer_now() - t0);
    }
    if (o.post_fp && fclose(o.post_fp) != 0 && st == CH_OK)
        st = ch_fail(&err, CH_ERR_IO, "%s: write failed", o.posteriors);
    free(thr);
    kws_model_free(&km);
    free(pos);
    if (st != CH_OK && failed)
        return 1; /* each failure was already reported */
    return st == CH_OK ? 0 : cli_report(PROG, st, &err);
}
