/* kws_stream.c — KWS frontend config, checkpoint loading, clip reading and the streaming
 * detector (see kws_stream.h). */
#include "infer/kws_stream.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/audio.h"
#include "models/checkpoint.h"

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
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    kws_frontend copy = *f;
    kws_fe_extra ex = {f->cmn, f->clip_samples};
    opt_group g[] = {{"fbank", feat_opts, feat_n_opts, &copy.feat},
                     {"kws", kws_fe_opts, OPT_COUNT(kws_fe_opts), &ex}};
    opt_write_values(g, 2, m);
    if (fclose(m) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

ch_status kws_frontend_from_text(kws_frontend *f, const char *text, const char *path,
                                 ch_error *err)
{
    kws_frontend r = kws_frontend_default();
    r.feat = feat_options_default(FEAT_FBANK);
    kws_fe_extra ex = {false, KWS_RATE_HZ};
    opt_group g[] = {{"fbank", feat_opts, feat_n_opts, &r.feat},
                     {"kws", kws_fe_opts, OPT_COUNT(kws_fe_opts), &ex}};
    bool seen_clip = false;
    const char *p = text ? text : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        if (n >= sizeof line)
            return ch_fail(err, CH_ERR_FORMAT, "%s: frontend: line too long", path);
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (nl ? 1 : 0);
        if (!line[0])
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            return ch_fail(err, CH_ERR_FORMAT, "%s: frontend: malformed line '%s'", path, line);
        *eq = 0;
        ch_error e2;
        if (opt_set(g, 2, line, eq + 1, &e2) != CH_OK)
            return ch_fail(err, CH_ERR_FORMAT, "%s: frontend: %s", path, e2.msg);
        if (!strcmp(line, "kws-clip-samples"))
            seen_clip = true;
    }
    if (!seen_clip)
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
    return CH_OK;
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
