/* sv_data.c — speaker dataset, random training chunks and validation EER (sv_data.h). */
#include "train/sv_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "common/log.h"
#include "frontend/audio.h"
#include "infer/kws_stream.h"
#include "scoring/metrics.h"
#include "train/noise_files.h"

sv_data_options sv_data_options_default(void)
{
    sv_data_options o;
    memset(&o, 0, sizeof o);
    o.layout = SPK_LAYOUT_AUTO;
    o.min_utts = 2;
    snprintf(o.split_fractions, sizeof o.split_fractions, "0.9,0.1,0");
    o.eval_max_s = 6;
    o.nontarget_ratio = 10;
    o.spec_augment = true;
    o.aug = augment_options_default();
    /* a random chunk already moves the speech around; no extra shift */
    o.aug.shift_max_ms = 0;
    o.aug.speed_min = 1;
    o.aug.speed_max = 1;
    o.aug.freq_masks = 1;
    o.aug.freq_mask_max = 8;
    o.aug.time_masks = 1;
    o.aug.time_mask_max = 10;
    return o;
}

#define AUGF(f, name, lo, hi, help)                                                          \
    {name, OPT_T_FLOAT, offsetof(sv_data_options, aug) + offsetof(augment_options, f),       \
     sizeof(float), lo, hi, NULL, help}
#define AUGI(f, name, lo, hi, help)                                                          \
    {name, OPT_T_INT, offsetof(sv_data_options, aug) + offsetof(augment_options, f),         \
     sizeof(int), lo, hi, NULL, help}

const opt_desc sv_data_opts[] = {
    OPT_CHOICE(sv_data_options, layout, "layout", SPK_LAYOUT_CHOICES,
               "Layout of <data-dir> (auto: wav.scp -> kaldi, *_nohash_* -> speech-commands, "
               "else voxceleb)"),
    OPT_INT(sv_data_options, min_utts, "min-utts", 1, 1 << 30,
            "Drop speakers with fewer utterances"),
    OPT_STRING(sv_data_options, split_fractions, "split-fractions",
               "train,valid,test fractions of the speakers (speaker-disjoint, by a hash of the "
               "name; the same split as sv-trials --split)"),
    OPT_INT64(sv_data_options, split_seed, "split-seed", 0, 9e18,
              "Seed of the speaker split hash (and of the validation trials)"),
    OPT_FLOAT(sv_data_options, eval_max_s, "eval-max-s", 0.1, 3600,
              "Longest part of a validation/test utterance embedded (centre, seconds)"),
    OPT_DOUBLE(sv_data_options, nontarget_ratio, "valid-nontarget-ratio", 0.01, 1e6,
               "Validation trials: nontarget pairs per target pair"),
    OPT_INT(sv_data_options, max_targets_per_spk, "valid-max-targets-per-spk", 0, 1 << 30,
            "Validation trials: target pairs per speaker (0 = all)"),
    OPT_STRING(sv_data_options, noise_dir, "noise-dir",
               "Noise files for mixing into training chunks (\"\" = no noise)"),
    AUGF(noise_prob, "noise-prob", 0, 1, "Probability of mixing noise into a training chunk"),
    AUGF(snr_min_db, "snr-min", -30, 100, "Lowest mixing SNR (dB)"),
    AUGF(snr_max_db, "snr-max", -30, 100, "Highest mixing SNR (dB)"),
    AUGF(speed_min, "speed-min", 0.5, 2, "Lowest speed perturbation factor (1 = off)"),
    AUGF(speed_max, "speed-max", 0.5, 2, "Highest speed perturbation factor (1 = off)"),
    AUGF(gain_min_db, "gain-min", -60, 60, "Lowest volume change (dB)"),
    AUGF(gain_max_db, "gain-max", -60, 60, "Highest volume change (dB)"),
    OPT_BOOL(sv_data_options, spec_augment, "spec-augment", "Apply SpecAugment masks"),
    AUGI(freq_masks, "freq-masks", 0, 100, "SpecAugment frequency masks"),
    AUGI(freq_mask_max, "freq-mask-max", 0, 10000, "Widest frequency mask (bins)"),
    AUGI(time_masks, "time-masks", 0, 100, "SpecAugment time masks"),
    AUGI(time_mask_max, "time-mask-max", 0, 100000, "Widest time mask (frames)"),
};
const size_t sv_data_n_opts = OPT_COUNT(sv_data_opts);

ch_status sv_data_options_check(const sv_data_options *o, ch_error *err)
{
    const augment_options *a = &o->aug;
    if (a->snr_min_db > a->snr_max_db)
        return ch_fail(err, CH_ERR_USAGE, "--snr-min (%g) is above --snr-max (%g)",
                       (double)a->snr_min_db, (double)a->snr_max_db);
    if (a->speed_min > a->speed_max)
        return ch_fail(err, CH_ERR_USAGE, "--speed-min (%g) is above --speed-max (%g)",
                       (double)a->speed_min, (double)a->speed_max);
    if (a->gain_min_db > a->gain_max_db)
        return ch_fail(err, CH_ERR_USAGE, "--gain-min (%g) is above --gain-max (%g)",
                       (double)a->gain_min_db, (double)a->gain_max_db);
    double fr[SPK_N_PARTS];
    CH_TRY(speaker_parse_fractions(o->split_fractions, fr, err));
    if (fr[SPK_TRAIN] <= 0 || fr[SPK_DEV] <= 0)
        return ch_fail(err, CH_ERR_USAGE,
                       "--split-fractions '%s': training and validation shares must be > 0",
                       o->split_fractions);
    return CH_OK;
}

/* ---- loading ---- */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Reads every utterance of the list (16 kHz mono) in parallel; the first failure (in list
 * order) is reported with its file. */
static ch_status read_all(const sv_data *d, const int *utt, int n, float **wave, long *len,
                          int threads, ch_error *err)
{
    ch_status *sts = calloc((size_t)n + 1, sizeof *sts);
    ch_error *errs = calloc((size_t)n + 1, sizeof *errs);
    if (!sts || !errs) {
        free(sts);
        free(errs);
        return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
    }
    audio_options ao = audio_options_default();
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (int i = 0; i < n; i++) {
        audio_buf a;
        const char *path = d->set.utts[utt[i]].path;
        sts[i] = audio_read(path, &ao, &a, &errs[i]);
        if (sts[i] == CH_OK && a.n < 400) {
            audio_free(&a);
            sts[i] = ch_fail(&errs[i], CH_ERR_FORMAT, "%s: too short (%ld samples)", path,
                             a.n);
        }
        if (sts[i] == CH_OK) {
            wave[i] = a.samples;
            len[i] = a.n;
        }
    }
    ch_status st = CH_OK;
    for (int i = 0; i < n && st == CH_OK; i++)
        if (sts[i] != CH_OK)
            st = ch_fail(err, sts[i], "%s", errs[i].msg);
    free(sts);
    free(errs);
    return st;
}

/* Evaluation features of split s: centre eval_max_s, no dither, CMN, zero-padded. */
static ch_status eval_features(sv_data *d, int s, const feat_computer *efc, int threads,
                               ch_error *err)
{
    int n = d->n[s];
    if (n == 0)
        return CH_OK;
    float **wave = calloc((size_t)n, sizeof *wave);
    long *len = calloc((size_t)n, sizeof *len);
    d->lengths[s] = calloc((size_t)n, sizeof(int));
    if (!wave || !len || !d->lengths[s]) {
        free(wave);
        free(len);
        return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
    }
    ch_status st = read_all(d, d->utt[s], n, wave, len, threads, err);
    const long cap = (long)lrint((double)d->o.eval_max_s * SV_RATE_HZ);
    int Tmax = 0;
    for (int i = 0; i < n && st == CH_OK; i++) {
        long use = len[i] < cap ? len[i] : cap;
        long T = feat_num_frames(efc, use);
        if (T < 2)
            st = ch_fail(err, CH_ERR_FORMAT, "%s: too short for a feature frame",
                         d->set.utts[d->utt[s][i]].path);
        d->lengths[s][i] = (int)T;
        if (T > Tmax)
            Tmax = (int)T;
    }
    size_t TF = (size_t)Tmax * d->F;
    if (st == CH_OK && !(d->feats[s] = calloc((size_t)n * TF, sizeof(float))))
        st = ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory for %d x %d features", n, Tmax);
    d->T_eval[s] = Tmax;
    if (st == CH_OK) {
        ch_status *sts = calloc((size_t)n, sizeof *sts);
        ch_error *errs = calloc((size_t)n, sizeof *errs);
        if (!sts || !errs)
            st = ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
        if (st == CH_OK)
#pragma omp parallel num_threads(threads)
        {
            feat_workspace *ws = NULL;
            ch_error e;
            ch_status wst = feat_workspace_create(efc, &ws, &e);
#pragma omp for schedule(dynamic, 4)
            for (int i = 0; i < n; i++) {
                if (wst != CH_OK) {
                    sts[i] = wst;
                    errs[i] = e;
                    continue;
                }
                long use = len[i] < cap ? len[i] : cap;
                const float *x = wave[i] + (len[i] - use) / 2;
                float *y = d->feats[s] + (size_t)i * TF;
                sts[i] = feat_compute(efc, ws, NULL, x, use, y, &errs[i]);
                if (sts[i] == CH_OK && d->fe.cmn)
                    kws_cmn(y, d->lengths[s][i], d->F);
            }
            feat_workspace_free(ws);
        }
        for (int i = 0; st == CH_OK && i < n; i++)
            if (sts && sts[i] != CH_OK)
                st = ch_fail(err, sts[i], "%s: %s", d->set.utts[d->utt[s][i]].path,
                             errs[i].msg);
        free(sts);
        free(errs);
    }
    for (int i = 0; i < n; i++)
        free(wave[i]);
    free(wave);
    free(len);
    return st;
}

/* Trials among split s's utterances (indices into d->utt[s]). */
static ch_status eval_trials(sv_data *d, int s, int part, ch_error *err)
{
    if (d->n[s] == 0)
        return CH_OK;
    speaker_set sub;
    memset(&sub, 0, sizeof sub);
    CH_TRY(speaker_set_select(&d->set, d->part, part, &sub, err));
    trial_options to = trial_options_default();
    to.max_targets_per_spk = d->o.max_targets_per_spk;
    to.nontarget_ratio = d->o.nontarget_ratio;
    to.seed = (uint64_t)d->o.split_seed;
    /* the subset keeps the set's order (speakers by name, utterances by id), which is the
     * order of d->utt[s], so its utterance indices are the split's */
    ch_status st = trial_generate(&sub, &to, &d->trials[s], &d->n_trials[s], &d->n_target[s],
                                  err);
    speaker_set_free(&sub);
    return st;
}

ch_status sv_data_load(sv_data *d, const char *dir, const sv_data_options *o,
                       const sv_frontend *fe, uint64_t seed, int threads, int verbosity,
                       ch_error *err)
{
    memset(d, 0, sizeof *d);
    d->o = *o;
    d->fe = *fe;
    d->seed = seed;
    CH_TRY(sv_data_options_check(o, err));
    CH_TRY(speaker_set_load(dir, o->layout, o->min_utts, &d->set, err));
    double fr[SPK_N_PARTS];
    int counts[SPK_N_PARTS];
    CH_TRY(speaker_parse_fractions(o->split_fractions, fr, err));
    d->part = calloc((size_t)d->set.n_speakers, sizeof(int));
    if (!d->part)
        return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
    CH_TRY(speaker_set_split(&d->set, fr, (uint64_t)o->split_seed, d->part, counts, err));
    static const char *const part_names[3] = {"training", "validation", "test"};
    for (int p = 0; p < 2; p++)
        if (counts[p] < 2)
            return ch_fail(err, CH_ERR_FORMAT,
                           "%s: %d %s speaker(s) of %d with --split-fractions %s "
                           "(need 2; change the fractions or --split-seed)",
                           dir, counts[p], part_names[p], d->set.n_speakers,
                           o->split_fractions);
    /* parts: SPK_TRAIN -> SV_TRAIN, SPK_DEV -> SV_VALID, SPK_TEST -> SV_TEST */
    for (int s = 0; s < 3; s++) {
        d->utt[s] = calloc((size_t)d->set.n_utts + 1, sizeof(int));
        if (!d->utt[s])
            return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
    }
    d->label = calloc((size_t)d->set.n_utts + 1, sizeof(int));
    d->labels = calloc((size_t)counts[SPK_TRAIN] + 1, sizeof(char *));
    if (!d->label || !d->labels)
        return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
    for (int k = 0; k < d->set.n_speakers; k++) {
        const spk_speaker *sp = &d->set.speakers[k];
        int s = d->part[k];
        if (s == SPK_TRAIN && !(d->labels[d->n_labels] = strdup(sp->name)))
            return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
        for (int u = sp->first; u < sp->first + sp->n; u++) {
            if (s == SPK_TRAIN)
                d->label[d->n[s]] = d->n_labels;
            d->utt[s][d->n[s]++] = u;
        }
        if (s == SPK_TRAIN)
            d->n_labels++;
    }

    /* training waveforms */
    d->wave = calloc((size_t)d->n[SV_TRAIN] + 1, sizeof *d->wave);
    d->wave_len = calloc((size_t)d->n[SV_TRAIN] + 1, sizeof *d->wave_len);
    if (!d->wave || !d->wave_len)
        return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
    CH_TRY(read_all(d, d->utt[SV_TRAIN], d->n[SV_TRAIN], d->wave, d->wave_len, threads, err));
    if (o->noise_dir[0])
        CH_TRY(noise_load_dir(&d->noise, &d->noise_len, &d->n_noise, o->noise_dir, err));

    /* frontends: training (with the dither) and evaluation (without) */
    CH_TRY(feat_computer_create(&fe->feat, &d->fc, err));
    feat_options eo = fe->feat;
    eo.dither = 0;
    feat_computer *efc = NULL;
    CH_TRY(feat_computer_create(&eo, &efc, err));
    d->F = feat_dim(d->fc);
    d->chunk = (int)lrint((double)fe->chunk_s * SV_RATE_HZ);
    d->T = (int)feat_num_frames(d->fc, d->chunk);
    ch_status st = CH_OK;
    if (d->T < 2)
        st = ch_fail(err, CH_ERR_USAGE, "--chunk-s %.3f gives %d frame(s); need 2",
                     (double)fe->chunk_s, d->T);
    for (int s = 1; s < 3 && st == CH_OK; s++)
        st = eval_features(d, s, efc, threads, err);
    feat_computer_free(efc);
    if (st == CH_OK)
        st = eval_trials(d, SV_VALID, SPK_DEV, err);
    if (st == CH_OK && d->n[SV_TEST] > 0)
        st = eval_trials(d, SV_TEST, SPK_TEST, err);
    if (st == CH_OK)
        log_msg(verbosity, 1,
                "%s: %s layout, %d speakers: %d train (%d utts) / %d valid (%d utts, %ld "
                "trials) / %d test (%d utts)\n",
                dir, speaker_layout_name(d->set.layout), d->set.n_speakers, counts[SPK_TRAIN],
                d->n[SV_TRAIN], counts[SPK_DEV], d->n[SV_VALID], d->n_trials[SV_VALID],
                counts[SPK_TEST], d->n[SV_TEST]);
    return st;
}

void sv_data_free(sv_data *d)
{
    if (!d)
        return;
    for (int i = 0; d->wave && i < d->n[SV_TRAIN]; i++)
        free(d->wave[i]);
    free(d->wave);
    free(d->wave_len);
    for (int i = 0; i < d->n_labels; i++)
        free(d->labels[i]);
    free(d->labels);
    for (int s = 0; s < 3; s++) {
        free(d->utt[s]);
        free(d->feats[s]);
        free(d->lengths[s]);
        free(d->trials[s]);
    }
    free(d->label);
    free(d->part);
    for (int i = 0; i < d->n_noise; i++)
        free(d->noise[i]);
    free(d->noise);
    free(d->noise_len);
    feat_computer_free(d->fc);
    speaker_set_free(&d->set);
    memset(d, 0, sizeof *d);
}

/* ---- training chunks ---- */

typedef struct {
    feat_workspace *ws;
    float *in;   /* (chunk) */
    float *aug;  /* (cap) */
    long cap;
    float *fit;  /* (chunk) */
} sv_chunk_worker;

static void chunk_worker_free(void *p)
{
    sv_chunk_worker *w = p;
    if (!w)
        return;
    feat_workspace_free(w->ws);
    free(w->in);
    free(w->aug);
    free(w->fit);
    free(w);
}

static ch_status chunk_worker_create(void *ctx, void **out, ch_error *err)
{
    const sv_data *d = ctx;
    *out = NULL;
    sv_chunk_worker *w = calloc(1, sizeof *w);
    if (!w)
        return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
    w->cap = augment_wave_capacity(d->chunk, &d->o.aug) + 16;
    w->in = malloc(sizeof(float) * (size_t)d->chunk);
    w->fit = malloc(sizeof(float) * (size_t)d->chunk);
    w->aug = malloc(sizeof(float) * (size_t)w->cap);
    ch_status st = CH_OK;
    if (!w->in || !w->fit || !w->aug)
        st = ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
    if (st == CH_OK)
        st = feat_workspace_create(d->fc, &w->ws, err);
    if (st != CH_OK) {
        chunk_worker_free(w);
        return st;
    }
    *out = w;
    return CH_OK;
}

static ch_status chunk_example(void *ctx, void *wp, int64_t epoch, int i, float *x, int *label,
                               int *length, ch_error *err)
{
    const sv_data *d = ctx;
    sv_chunk_worker *w = wp;
    rng r;
    rng_seed(&r, mix64(d->seed ^ mix64((uint64_t)epoch + 0x737663ull)), (uint64_t)i);
    const float *src = d->wave[i];
    long n = d->wave_len[i], L = d->chunk;
    if (n >= L) {
        long start = (long)rng_below(&r, (uint32_t)(n - L + 1));
        memcpy(w->in, src + start, sizeof(float) * (size_t)L);
    } else {
        /* repeat the utterance until the chunk is full, from a random phase */
        long off = (long)rng_below(&r, (uint32_t)n);
        for (long k = 0; k < L; k++)
            w->in[k] = src[(off + k) % n];
    }
    const float *noise = NULL;
    long n_noise = 0;
    if (d->n_noise > 0) {
        int f = (int)rng_below(&r, (uint32_t)d->n_noise);
        noise = d->noise[f];
        n_noise = d->noise_len[f];
    }
    long ny = 0;
    CH_TRY(augment_wave(w->aug, w->cap, &ny, w->in, L, SV_RATE_HZ, noise, n_noise, &d->o.aug,
                        &r, err));
    kws_fit_clip(w->fit, (int)L, w->aug, ny);
    feat_rand fr;
    feat_rand_init(&fr, rng_u32(&r) | 1u);
    CH_TRY(feat_compute(d->fc, w->ws, &fr, w->fit, L, x, err));
    if (d->fe.cmn)
        kws_cmn(x, d->T, d->F);
    if (d->o.spec_augment)
        augment_spec_mask(x, d->T, d->F, &d->o.aug, &r, NULL, NULL);
    *label = d->label[i];
    *length = d->T;
    return CH_OK;
}

batch_source sv_data_source(sv_data *d)
{
    batch_source s = {d, d->n[SV_TRAIN], d->T, d->F, chunk_worker_create, chunk_worker_free,
                      chunk_example};
    return s;
}

/* ---- validation metric ---- */

ch_status sv_data_eer(const sv_data *d, int split, const float *emb, int D, double *eer,
                      ch_error *err)
{
    long nt = d->n_trials[split], ntar = d->n_target[split];
    double *tar = malloc(sizeof(double) * (size_t)(ntar + 1));
    double *non = malloc(sizeof(double) * (size_t)(nt - ntar + 1));
    double *norm = malloc(sizeof(double) * (size_t)(d->n[split] + 1));
    if (!tar || !non || !norm) {
        free(tar);
        free(non);
        free(norm);
        return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory for %ld trials", nt);
    }
    for (int i = 0; i < d->n[split]; i++) {
        double s = 0;
        for (int k = 0; k < D; k++)
            s += (double)emb[(size_t)i * D + k] * emb[(size_t)i * D + k];
        norm[i] = s > 0 ? 1.0 / sqrt(s) : 0;
    }
    long a = 0, b = 0;
    for (long t = 0; t < nt; t++) {
        const sv_trial *tr = &d->trials[split][t];
        const float *x = emb + (size_t)tr->a * D, *y = emb + (size_t)tr->b * D;
        double s = 0;
        for (int k = 0; k < D; k++)
            s += (double)x[k] * y[k];
        s *= norm[tr->a] * norm[tr->b];
        if (tr->target)
            tar[a++] = s;
        else
            non[b++] = s;
    }
    roc_points roc;
    ch_status st = roc_compute(tar, (int)a, non, (int)b, &roc, err);
    if (st == CH_OK) {
        *eer = roc_eer(&roc);
        roc_free(&roc);
    }
    free(tar);
    free(non);
    free(norm);
    return st;
}
