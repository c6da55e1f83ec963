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
#include "train/example_chain.h"
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
    AUGMENT_NOISE_OPTS(sv_data_options, aug),
    AUGMENT_SPEED_GAIN_OPTS(sv_data_options, aug),
    OPT_BOOL(sv_data_options, spec_augment, "spec-augment", "Apply SpecAugment masks"),
    AUGMENT_SPEC_OPTS(sv_data_options, aug),
};
const size_t sv_data_n_opts = OPT_COUNT(sv_data_opts);

ch_status sv_data_options_check(const sv_data_options *o, ch_error *err)
{
    CH_TRY(augment_options_check_named(&o->aug, "", err));
    double fr[SPK_N_PARTS];
    CH_TRY(speaker_parse_fractions(o->split_fractions, fr, err));
    if (fr[SPK_TRAIN] <= 0 || fr[SPK_DEV] <= 0)
        return ch_fail(err, CH_ERR_USAGE,
                       "--split-fractions '%s': training and validation shares must be > 0",
                       o->split_fractions);
    return CH_OK;
}

/* ---- loading ---- */

/* Replaces wave[i] by its voiced samples (frontend/vad_speech.h) when they last at least
 * SV_VAD_MIN_S and give 2 frames; otherwise keeps it whole and counts a fallback. */
#define SV_VAD_MIN_S 0.5
static ch_status vad_trim(vad_scratch *vs, const feat_computer *efc, const feat_computer *fc,
                          const vad_options *vo, float **wave, long *len, int *fallback,
                          ch_error *err)
{
    const float *sp;
    long ns;
    CH_TRY(vad_speech_samples(vs, efc, vo, *wave, *len, &sp, &ns, NULL, NULL, err));
    if (ns < (long)(SV_VAD_MIN_S * SV_RATE_HZ) || feat_num_frames(fc, ns) < 2) {
        *fallback = 1;
        return CH_OK;
    }
    memcpy(*wave, sp, sizeof(float) * (size_t)ns); /* ns <= len: in place */
    *len = ns;
    return CH_OK;
}

/* Reads every utterance of the list (16 kHz mono) in parallel, trimmed to speech when d->vad;
 * the first failure (in list order) is reported with its file. */
static ch_status read_all(sv_data *d, const int *utt, int n, float **wave, long *len,
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
    int fallbacks = 0;
    double in_s = 0, kept_s = 0;
#pragma omp parallel num_threads(threads) reduction(+ : fallbacks, in_s, kept_s)
    {
        vad_scratch vs;
        memset(&vs, 0, sizeof vs);
#pragma omp for schedule(dynamic, 4)
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
            int fb = 0;
            if (sts[i] == CH_OK)
                in_s += (double)len[i] / SV_RATE_HZ;
            if (sts[i] == CH_OK && d->vad_fc &&
                (sts[i] = vad_trim(&vs, d->vad_fc, d->fc, &d->vad_o, &wave[i], &len[i], &fb,
                                   &errs[i])) != CH_OK)
                ch_wrap(&errs[i], sts[i], "%s", path);
            fallbacks += fb;
            if (sts[i] == CH_OK)
                kept_s += (double)len[i] / SV_RATE_HZ;
        }
        vad_scratch_free(&vs);
    }
    d->n_vad_fallback += fallbacks;
    d->audio_s += in_s;
    d->speech_s += kept_s;
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
                       const sv_frontend *fe, const vad_options *vad, uint64_t seed,
                       int threads, int verbosity, ch_error *err)
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

    /* frontends: training (with the dither), VAD energy (when asked) */
    CH_TRY(feat_computer_create(&fe->feat, &d->fc, err));
    if (vad) {
        d->vad_o = *vad;
        feat_options vf = fe->feat;
        vf.dither = 0; /* the speech kept must not depend on the dither draw */
        CH_TRY(vad_energy_computer_create(&vf, &d->vad_fc, err));
    }
    /* training waveforms */
    d->wave = calloc((size_t)d->n[SV_TRAIN] + 1, sizeof *d->wave);
    d->wave_len = calloc((size_t)d->n[SV_TRAIN] + 1, sizeof *d->wave_len);
    if (!d->wave || !d->wave_len)
        return ch_fail(err, CH_ERR_NOMEM, "sv data: out of memory");
    CH_TRY(read_all(d, d->utt[SV_TRAIN], d->n[SV_TRAIN], d->wave, d->wave_len, threads, err));
    if (o->noise_dir[0])
        CH_TRY(noise_load_dir(&d->noise, &d->noise_len, &d->n_noise, o->noise_dir, err));

    /* evaluation frontend: without dither */
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
    if (st == CH_OK && vad)
        log_msg(verbosity, 1, "VAD kept %.1f s of %.1f s; %d utterance(s) had under %.1f s of "
                "speech and were used whole\n", d->speech_s, d->audio_s, d->n_vad_fallback,
                SV_VAD_MIN_S);
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
    feat_computer_free(d->vad_fc);
    speaker_set_free(&d->set);
    memset(d, 0, sizeof *d);
}

/* ---- training chunks ---- */

/* The chain of train/example_chain.h for d's training chunks. */
static example_chain sv_chain(const sv_data *d)
{
    example_chain c = {d->fc, &d->o.aug, d->noise, d->noise_len, d->n_noise, d->chunk,
                       d->T, d->F, d->fe.cmn, d->o.spec_augment};
    return c;
}

static void chunk_worker_free(void *w) { example_worker_free(w); }

static ch_status chunk_worker_create(void *ctx, void **out, ch_error *err)
{
    example_chain c = sv_chain(ctx);
    example_worker *w = NULL;
    CH_TRY(example_worker_create(&w, &c, err));
    *out = w;
    return CH_OK;
}

static ch_status chunk_example(void *ctx, void *wp, int64_t epoch, int i, float *x, int *label,
                               int *length, ch_error *err)
{
    const sv_data *d = ctx;
    example_worker *w = wp;
    rng r;
    rng_seed(&r, rng_mix64(d->seed ^ rng_mix64((uint64_t)epoch + 0x737663ull)), (uint64_t)i);
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
    example_chain c = sv_chain(d);
    *label = d->label[i];
    *length = d->T;
    return example_chain_run(&c, w, &r, x, err);
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
