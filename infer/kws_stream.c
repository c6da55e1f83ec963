/* kws_stream.c — KWS frontend config, checkpoint loading, clip reading and the streaming
 * detector (see kws_stream.h). */
#include "infer/kws_stream.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/audio.h"
#include "models/checkpoint.h"
#include "models/kws_densenet.h"

typedef struct {
    bool cmn;
    int clip_samples;
} kws_fe_extra;

static const opt_desc kws_fe_opts[] = {
    OPT_BOOL(kws_fe_extra, cmn, "kws-cmn", "Per-window mean normalisation"),
    OPT_INT(kws_fe_extra, clip_samples, "kws-clip-samples", 1000, 16000 * 60,
            "Window length in samples"),
};

kws_frontend kws_frontend_default(void)
{
    kws_frontend f;
    f.feat = feat_options_default(FEAT_FBANK);
    f.feat.num_mel_bins = 40;
    f.cmn = true;
    f.clip_samples = KWS_RATE_HZ;
    return f;
}

char *kws_frontend_to_text(const kws_frontend *f)
{
    kws_frontend copy = *f;
    kws_fe_extra ex = {f->cmn, f->clip_samples};
    opt_group g[] = {{"fbank", feat_opts, feat_n_opts, &copy.feat},
                     {"kws", kws_fe_opts, OPT_COUNT(kws_fe_opts), &ex}};
    return opt_values_text(g, 2);
}

ch_status kws_frontend_from_text(kws_frontend *f, const char *text, const char *path,
                                 ch_error *err)
{
    kws_frontend r = kws_frontend_default();
    r.feat = feat_options_default(FEAT_FBANK);
    /* clip_samples 0 = not given (its option range starts at 1000): no kws frontend */
    kws_fe_extra ex = {false, 0};
    opt_group g[] = {{"fbank", feat_opts, feat_n_opts, &r.feat},
                     {"kws", kws_fe_opts, OPT_COUNT(kws_fe_opts), &ex}};
    char where[4200];
    snprintf(where, sizeof where, "%s: frontend", path);
    CH_TRY(opt_set_lines(g, 2, text, where, err));
    if (ex.clip_samples == 0)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: not a keyword-spotting checkpoint (no kws frontend options)", path);
    ch_error e2;
    if (feat_options_check(&r.feat, &e2) != CH_OK)
        return ch_fail(err, CH_ERR_FORMAT, "%s: frontend: %s", path, e2.msg);
    if (r.feat.feature_type == FEAT_SPECTROGRAM || (int)r.feat.samp_freq_hz != KWS_RATE_HZ)
        return ch_fail(err, CH_ERR_FORMAT, "%s: frontend: unsupported feature type or rate",
                       path);
    r.cmn = ex.cmn;
    r.clip_samples = ex.clip_samples;
    *f = r;
    return CH_OK;
}

void kws_fit_clip(float *out, int len, const float *x, long n)
{
    if (n >= len) {
        long off = (n - len) / 2;
        memcpy(out, x + off, sizeof(float) * (size_t)len);
    } else {
        long pad = (len - n) / 2;
        memset(out, 0, sizeof(float) * (size_t)len);
        memcpy(out + pad, x, sizeof(float) * (size_t)n);
    }
}

ch_status kws_read_clip(const sc_item *it, int clip_samples, float *out, ch_error *err)
{
    audio_options ao = audio_options_default();
    audio_buf a;
    CH_TRY(audio_read(it->path, &ao, &a, err));
    if (a.n <= 0) {
        audio_free(&a);
        return ch_fail(err, CH_ERR_FORMAT, "%s: empty audio", it->path);
    }
    if (it->noise_crop && a.n > clip_samples) {
        long start = (long)(it->crop_seed % (uint64_t)(a.n - clip_samples + 1));
        memcpy(out, a.samples + start, sizeof(float) * (size_t)clip_samples);
    } else {
        kws_fit_clip(out, clip_samples, a.samples, a.n);
    }
    audio_free(&a);
    return CH_OK;
}

int kws_label_index(char *const *labels, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(labels[i], name))
            return i;
    return -1;
}

bool kws_is_keyword(const char *label)
{
    return strcmp(label, "_silence_") != 0 && strcmp(label, "_unknown_") != 0;
}

void kws_cmn(float *x, int T, int F)
{
    if (T <= 0)
        return;
    for (int f = 0; f < F; f++) {
        double s = 0;
        for (int t = 0; t < T; t++)
            s += x[(size_t)t * F + f];
        float mean = (float)(s / T);
        for (int t = 0; t < T; t++)
            x[(size_t)t * F + f] -= mean;
    }
}

static void free_labels(char **l, int n)
{
    if (!l)
        return;
    for (int i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

/* Splits "a\nb\n" into an array of strings. */
static ch_status split_labels(const char *text, const char *path, char ***out, int *n,
                              ch_error *err)
{
    *out = NULL;
    *n = 0;
    int cap = 0;
    const char *p = text ? text : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                char **nn = realloc(*out, sizeof *nn * (size_t)cap);
                if (!nn) {
                    free_labels(*out, *n);
                    return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
                }
                *out = nn;
            }
            (*out)[*n] = strndup(p, len);
            if (!(*out)[*n]) {
                free_labels(*out, *n);
                return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
            }
            (*n)++;
        }
        p += len + (nl ? 1 : 0);
    }
    return CH_OK;
}

void kws_model_free(kws_model *km)
{
    if (!km)
        return;
    nn_model_free(km->model);
    feat_computer_free(km->fc);
    free_labels(km->labels, km->n_labels);
    free(km->ctx.ws);
    free(km->lengths);
    memset(km, 0, sizeof *km);
}

ch_status kws_model_load(kws_model *km, const char *path, int threads, ch_error *err)
{
    memset(km, 0, sizeof *km);
    ckpt_model ck;
    memset(&ck, 0, sizeof ck);
    CH_TRY(ckpt_read(path, &ck, "densenet-bilstm", 0, err));
    ch_status st = kws_frontend_from_text(&km->fe, ck.frontend, path, err);
    if (st == CH_OK)
        st = split_labels(ck.labels, path, &km->labels, &km->n_labels, err);
    if (st == CH_OK && km->n_labels < 2)
        st = ch_fail(err, CH_ERR_FORMAT, "%s: a KWS checkpoint needs at least 2 labels", path);
    if (st == CH_OK) {
        ch_error e2;
        if (feat_computer_create(&km->fe.feat, &km->fc, &e2) != CH_OK)
            st = ch_fail(err, CH_ERR_FORMAT, "%s: frontend: %s", path, e2.msg);
    }
    if (st == CH_OK) {
        km->F = feat_dim(km->fc);
        km->T = (int)feat_num_frames(km->fc, km->fe.clip_samples);
        rng r;
        rng_seed(&r, 0, 0);
        ch_error e2;
        if (nn_model_create(&km->model, ck.kind, ck.hparams, km->F, km->n_labels, &r, &e2) !=
            CH_OK)
            st = ch_fail(err, CH_ERR_FORMAT, "%s: %s", path, e2.msg);
    }
    if (st == CH_OK && (km->model->p->n != ck.n_params || km->model->n_buffers != ck.n_buffers))
        st = ch_fail(err, CH_ERR_FORMAT,
                     "%s: has %llu parameters and %llu buffers, its model needs %zu and %zu",
                     path, (unsigned long long)ck.n_params, (unsigned long long)ck.n_buffers,
                     km->model->p->n, km->model->n_buffers);
    if (st == CH_OK) {
        memcpy(km->model->p->data, ck.params, sizeof(float) * km->model->p->n);
        if (ck.n_buffers)
            memcpy(km->model->buffers, ck.buffers, sizeof(float) * ck.n_buffers);
        km->ctx.be = nn_backend_cpu();
        km->ctx.threads = threads > 0 ? threads : 1;
    }
    ckpt_model_free(&ck);
    if (st != CH_OK)
        kws_model_free(km);
    return st;
}

static void softmax_rows(float *probs, int N, int K);

ch_status kws_model_posteriors(kws_model *km, float *x, int N, float *probs, ch_error *err)
{
    int T = km->T, F = km->F, K = km->n_labels;
    if (km->fe.cmn)
        for (int n = 0; n < N; n++)
            kws_cmn(x + (size_t)n * T * F, T, F);
    CH_TRY(km->model->ops->reserve(km->model, &km->ctx, N, T, err));
    if (N > km->cap_n) {
        int *l = realloc(km->lengths, sizeof(int) * (size_t)N);
        if (!l)
            return ch_fail(err, CH_ERR_NOMEM, "kws: out of memory");
        km->lengths = l;
        for (int n = km->cap_n; n < N; n++)
            l[n] = T;
        km->cap_n = N;
    }
    nn_input in = {N, T, F, x, km->lengths};
    km->model->ops->forward(km->model, &km->ctx, &in, 0, NULL, probs);
    softmax_rows(probs, N, K);
    return CH_OK;
}

/* Logits -> posteriors, row by row. */
static void softmax_rows(float *probs, int N, int K)
{
    for (int n = 0; n < N; n++) {
        float *p = probs + (size_t)n * K;
        float mx = p[0];
        for (int k = 1; k < K; k++)
            mx = p[k] > mx ? p[k] : mx;
        double s = 0;
        for (int k = 0; k < K; k++) {
            p[k] = expf(p[k] - mx);
            s += p[k];
        }
        for (int k = 0; k < K; k++)
            p[k] = (float)(p[k] / s);
    }
}

/* ---- detector ---- */

struct kws_detector {
    kws_detector_options o;
    float *thr;      /* (K) */
    float *hist;     /* (smooth, K) ring of posteriors */
    int n_hist, pos;
    bool *armed;     /* (K): a class fires again only after dropping below its threshold */
    float *sm;       /* (K) smoothed posteriors of the last push */
    double last_event_s;
    bool any_event;
};

ch_status kws_detector_create(kws_detector **out, const kws_detector_options *o, ch_error *err)
{
    *out = NULL;
    if (o->n_classes < 1 || o->smooth < 1 || o->refractory_s < 0)
        return ch_fail(err, CH_ERR_USAGE, "kws_detector: bad options");
    kws_detector *d = calloc(1, sizeof *d);
    if (!d)
        return ch_fail(err, CH_ERR_NOMEM, "kws_detector: out of memory");
    d->o = *o;
    int K = o->n_classes;
    d->thr = malloc(sizeof(float) * (size_t)K);
    d->hist = calloc((size_t)K * (size_t)o->smooth, sizeof(float));
    d->armed = calloc((size_t)K, sizeof(bool));
    d->sm = calloc((size_t)K, sizeof(float));
    if (!d->thr || !d->hist || !d->armed || !d->sm) {
        kws_detector_free(d);
        return ch_fail(err, CH_ERR_NOMEM, "kws_detector: out of memory");
    }
    memcpy(d->thr, o->thresholds, sizeof(float) * (size_t)K);
    d->o.thresholds = d->thr;
    kws_detector_reset(d);
    *out = d;
    return CH_OK;
}

void kws_detector_free(kws_detector *d)
{
    if (!d)
        return;
    free(d->thr);
    free(d->hist);
    free(d->armed);
    free(d->sm);
    free(d);
}

void kws_detector_reset(kws_detector *d)
{
    d->n_hist = 0;
    d->pos = 0;
    d->any_event = false;
    d->last_event_s = 0;
    for (int k = 0; k < d->o.n_classes; k++)
        d->armed[k] = true;
}

int kws_detector_push(kws_detector *d, const float *probs, double start_s, float *smoothed,
                      kws_event *ev)
{
    int K = d->o.n_classes;
    memcpy(d->hist + (size_t)d->pos * K, probs, sizeof(float) * (size_t)K);
    d->pos = (d->pos + 1) % d->o.smooth;
    if (d->n_hist < d->o.smooth)
        d->n_hist++;
    int best = -1;
    float best_s = 0;
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (int i = 0; i < d->n_hist; i++)
            s += d->hist[(size_t)i * K + k];
        float sm = (float)(s / d->n_hist);
        d->sm[k] = sm;
        if (smoothed)
            smoothed[k] = sm;
        if (sm < d->thr[k]) {
            d->armed[k] = true;
            continue;
        }
        if (d->armed[k] && (best < 0 || sm > best_s)) {
            best = k;
            best_s = sm;
        }
    }
    if (best < 0)
        return 0;
    if (d->any_event && start_s - d->last_event_s < d->o.refractory_s) {
        /* inside the refractory period: what is above threshold now is the same word still
         * sliding through the window, so it must drop below its threshold before firing */
        for (int k = 0; k < K; k++)
            if (d->sm[k] >= d->thr[k])
                d->armed[k] = false;
        return 0;
    }
    d->armed[best] = false;
    d->any_event = true;
    d->last_event_s = start_s;
    ev->start_s = start_s;
    ev->end_s = start_s + d->o.window_s;
    ev->label = best;
    ev->score = best_s;
    return 1;
}

/* ---- fast streaming (kws_stream.h) ---- */

struct kws_fast {
    kws_model *km;
    int T, F, D, G, K, R, hop, batch, chunk, maxc;
    int half;       /* T / 2: the centred CMN window starts half frames before its frame */
    bool cmn;
    /* raw frames from x_base: X (x_n, F); Pc (x_n + 1, F): Pc[i] = sum of the frames before
     * x_base + i (since some earlier frame: only differences are used) */
    float *X;
    double *Pc;
    long x_base, x_n, x_cap;
    long total;     /* frames pushed */
    long cnn_done;  /* CNN output of frames [0, cnn_done) computed */
    float *S;       /* BiLSTM input gates (s_n, G) of the CNN output of frames from s_base */
    long s_base, s_n, s_cap;
    float *in, *out;     /* (maxc + 2R, F), (maxc + 2R, D) one CNN call */
    float *probs;        /* (batch, K) */
    int nb;
    long next_win, hb_first;
};

static ch_status fast_grow(void **p, long *cap, long need, size_t elem, ch_error *err)
{
    if (need <= *cap)
        return CH_OK;
    long nc = *cap ? *cap : 1024;
    while (nc < need)
        nc *= 2;
    void *n = realloc(*p, (size_t)nc * elem);
    if (!n)
        return ch_fail(err, CH_ERR_NOMEM, "kws stream: out of memory");
    *p = n;
    *cap = nc;
    return CH_OK;
}

void kws_fast_free(kws_fast *f)
{
    if (!f)
        return;
    free(f->X);
    free(f->Pc);
    free(f->S);
    free(f->in);
    free(f->out);
    free(f->probs);
    free(f);
}

ch_status kws_fast_create(kws_fast **out, kws_model *km, int hop, int batch, int chunk,
                          ch_error *err)
{
    *out = NULL;
    if (!kws_densenet_is(km->model))
        return ch_fail(err, CH_ERR_USAGE, "kws stream: the fast path needs a densenet-bilstm "
                       "model, this one is '%s' (use --exact-windows)", km->model->kind);
    if (hop < 1 || batch < 1 || chunk < 1)
        return ch_fail(err, CH_ERR_USAGE, "kws stream: bad hop %d / batch %d / chunk %d", hop,
                       batch, chunk);
    kws_fast *f = calloc(1, sizeof *f);
    if (!f)
        return ch_fail(err, CH_ERR_NOMEM, "kws stream: out of memory");
    f->km = km;
    f->T = km->T;
    f->F = km->F;
    f->D = kws_densenet_seq_dim(km->model);
    f->G = kws_densenet_gates_dim(km->model);
    f->K = km->n_labels;
    f->R = kws_densenet_halo(km->model);
    f->hop = hop;
    f->batch = batch;
    f->chunk = chunk;
    /* bounded: the CNN's activations for maxc frames live in the model's arena */
    if (chunk > 4096)
        chunk = 4096;
    f->chunk = chunk;
    f->maxc = chunk > batch * hop ? chunk : batch * hop;
    f->half = f->T / 2;
    f->cmn = km->fe.cmn;
    size_t tc = (size_t)f->maxc + 2 * (size_t)f->R;
    f->in = malloc(sizeof(float) * tc * f->F);
    f->out = malloc(sizeof(float) * tc * f->D);
    f->probs = malloc(sizeof(float) * (size_t)batch * f->K);
    ch_status st = CH_OK;
    if (!f->in || !f->out || !f->probs)
        st = ch_fail(err, CH_ERR_NOMEM, "kws stream: out of memory");
    f->x_cap = 1024;
    f->X = malloc(sizeof(float) * (size_t)f->x_cap * f->F);
    f->Pc = calloc((size_t)(f->x_cap + 1) * f->F, sizeof(double));
    if (st == CH_OK && (!f->X || !f->Pc))
        st = ch_fail(err, CH_ERR_NOMEM, "kws stream: out of memory");
    if (st == CH_OK) {
        st = kws_densenet_stream_reserve(km->model, &km->ctx, batch, f->T, (int)tc, err);
    }
    if (st != CH_OK) {
        kws_fast_free(f);
        return st;
    }
    *out = f;
    return CH_OK;
}

/* Normalised frame t into dst: minus the mean of the T frames from t - half, shifted to
 * start >= 0 and, at the end of the stream (final), to end <= total. */
static void fast_frame(const kws_fast *f, long t, bool final, float *dst)
{
    const float *x = f->X + (t - f->x_base) * f->F;
    if (!f->cmn) {
        memcpy(dst, x, sizeof(float) * (size_t)f->F);
        return;
    }
    long c = t - f->half;
    if (final && c > f->total - f->T)
        c = f->total - f->T;
    if (c < 0)
        c = 0;
    const double *p0 = f->Pc + (c - f->x_base) * f->F, *p1 = p0 + (size_t)f->T * f->F;
    for (int i = 0; i < f->F; i++)
        dst[i] = (float)(x[i] - (p1[i] - p0[i]) / f->T);
}

/* CNN output of frames [a, b) appended to S: input frames [a - R, b + R) clipped to the
 * stream (zero padding beyond, as in a whole-stream pass). */
static ch_status fast_cnn(kws_fast *f, long a, long b, bool final, ch_error *err)
{
    long lo = a - f->R < 0 ? 0 : a - f->R, hi = b + f->R;
    if (final && hi > f->total)
        hi = f->total;
    int Tc = (int)(hi - lo);
    for (long t = lo; t < hi; t++)
        fast_frame(f, t, final, f->in + (t - lo) * f->F);
    kws_densenet_cnn_forward(f->km->model, &f->km->ctx, f->in, Tc, f->out);
    CH_TRY(fast_grow((void **)&f->S, &f->s_cap, (f->s_n + (b - a)) * f->G, sizeof(float), err));
    /* the BiLSTM's input term is per frame: computed once here, not once per window */
    kws_densenet_input_gates(f->km->model, f->out + (a - lo) * f->D, (int)(b - a),
                             f->S + f->s_n * f->G);
    f->s_n += b - a;
    return CH_OK;
}

static ch_status fast_head(kws_fast *f, kws_window_fn fn, void *arg, ch_error *err)
{
    if (f->nb == 0)
        return CH_OK;
    kws_densenet_head_gates_forward(f->km->model, &f->km->ctx,
                                    f->S + (f->hb_first * f->hop - f->s_base) * f->G, f->hop,
                                    f->nb, f->T, f->probs);
    softmax_rows(f->probs, f->nb, f->K);
    int nb = f->nb;
    f->nb = 0;
    for (int i = 0; i < nb; i++)
        CH_TRY(fn(arg, f->hb_first + i, f->probs + (size_t)i * f->K, err));
    return CH_OK;
}

/* Every window whose CNN frames are all computed goes into the head batch. */
static ch_status fast_windows(kws_fast *f, kws_window_fn fn, void *arg, ch_error *err)
{
    for (;;) {
        long f0 = f->next_win * f->hop;
        if (f0 + f->T > f->cnn_done)
            break;
        if (f->nb == 0)
            f->hb_first = f->next_win;
        f->nb++;
        f->next_win++;
        if (f->nb == f->batch)
            CH_TRY(fast_head(f, fn, arg, err));
    }
    /* frames before the first window not yet run are never read again */
    long drop = (f->nb ? f->hb_first : f->next_win) * f->hop - f->s_base;
    if (drop > f->s_n)
        drop = f->s_n;
    if (drop > 4096) {
        memmove(f->S, f->S + drop * f->G, sizeof(float) * (size_t)(f->s_n - drop) * f->G);
        f->s_n -= drop;
        f->s_base += drop;
    }
    return CH_OK;
}

ch_status kws_fast_push(kws_fast *f, const float *frames, long n, kws_window_fn fn, void *arg,
                        ch_error *err)
{
    const int F = f->F;
    if (f->x_n + n > f->x_cap) {
        long nc = f->x_cap;
        while (nc < f->x_n + n)
            nc *= 2;
        float *X = realloc(f->X, sizeof(float) * (size_t)nc * F);
        if (!X)
            return ch_fail(err, CH_ERR_NOMEM, "kws stream: out of memory");
        f->X = X;
        double *P = realloc(f->Pc, sizeof(double) * (size_t)(nc + 1) * F);
        if (!P)
            return ch_fail(err, CH_ERR_NOMEM, "kws stream: out of memory");
        f->Pc = P;
        f->x_cap = nc;
    }
    for (long i = 0; i < n; i++) {
        float *dst = f->X + (f->x_n + i) * F;
        const double *p = f->Pc + (f->x_n + i) * F;
        double *q = f->Pc + (f->x_n + i + 1) * F;
        for (int j = 0; j < F; j++) {
            dst[j] = frames[i * F + j];
            q[j] = p[j] + dst[j];
        }
    }
    f->x_n += n;
    f->total += n;
    /* frames t < lim have every input frame (and its CMN window) they need */
    long lim = f->total - f->R - (f->cmn ? f->T - f->half : 1) + 1;
    if (f->total < f->T)
        lim = 0;
    while (lim - f->cnn_done >= f->chunk) {
        long b = lim - f->cnn_done > f->maxc ? f->cnn_done + f->maxc : lim;
        CH_TRY(fast_cnn(f, f->cnn_done, b, false, err));
        f->cnn_done = b;
        CH_TRY(fast_windows(f, fn, arg, err));
    }
    /* raw frames the next CNN call (and its CMN windows) cannot need */
    long keep = f->cnn_done - f->R - f->half;
    if (keep > f->total - f->T)
        keep = f->total - f->T;
    long drop = keep - 1 - f->x_base;
    if (drop > 4096) {
        memmove(f->X, f->X + drop * F, sizeof(float) * (size_t)(f->x_n - drop) * F);
        memmove(f->Pc, f->Pc + drop * F, sizeof(double) * (size_t)(f->x_n - drop + 1) * F);
        f->x_n -= drop;
        f->x_base += drop;
    }
    return CH_OK;
}

ch_status kws_fast_finish(kws_fast *f, kws_window_fn fn, void *arg, ch_error *err)
{
    if (f->total >= f->T) {
        while (f->cnn_done < f->total) {
            long b = f->total - f->cnn_done > f->maxc ? f->cnn_done + f->maxc : f->total;
            CH_TRY(fast_cnn(f, f->cnn_done, b, true, err));
            f->cnn_done = b;
            CH_TRY(fast_windows(f, fn, arg, err));
        }
    }
    return fast_head(f, fn, arg, err);
}
