/* kws_data.c — KWS dataset, per-epoch augmentation and the prefetching loader (kws_data.h). */
#include "train/kws_data.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <omp.h>

#include "common/log.h"
#include "common/timer.h"
#include "data/kaldi_dir.h"
#include "data/speech_commands.h"
#include "frontend/audio.h"
#include "train/noise_files.h"

kws_data_options kws_data_options_default(void)
{
    kws_data_options o;
    memset(&o, 0, sizeof o);
    o.classes = SC_TASK_12;
    o.valid_percent = 10;
    o.test_percent = 10;
    o.spec_augment = true;
    o.aug = augment_options_default();
    /* speed perturbation costs a resampling per example and gains little over shift + noise
     * on 1-s clips; it stays available (--speed-min/--speed-max) */
    o.aug.speed_min = 1;
    o.aug.speed_max = 1;
    return o;
}

const opt_desc kws_data_opts[] = {
    OPT_CHOICE(kws_data_options, classes, "classes", "12|all",
               "Classes: the 12-class task (10 words, _unknown_, _silence_) or every word"),
    OPT_DOUBLE(kws_data_options, valid_percent, "valid-percent", 0, 100,
               "Validation share of the speaker hash split (folders without list files)"),
    OPT_DOUBLE(kws_data_options, test_percent, "test-percent", 0, 100,
               "Test share of the speaker hash split (folders without list files)"),
    OPT_CHOICE(kws_data_options, split, "split", "auto|standard|salted",
               "Split without list files: TF's which_set hash (standard), speakers ranked by a "
               "salted SHA-1 (salted), or standard unless its training part gets under half "
               "its share, then salted (auto)"),
    OPT_STRING(kws_data_options, split_salt, "split-salt",
               "Salt of the salted speaker split (given with --split auto: salted; default "
               "chorus)"),
    OPT_STRING(kws_data_options, valid_list, "valid-list",
               "Validation list (lines word/clip.wav; FILE, else <data-dir>/FILE) instead of the "
               "folder's split"),
    OPT_STRING(kws_data_options, test_list, "test-list",
               "Testing list (lines word/clip.wav; FILE, else <data-dir>/FILE) instead of the "
               "folder's split"),
    OPT_STRING(kws_data_options, write_split, "write-split",
               "Write training_list.txt / validation_list.txt / testing_list.txt of the split "
               "used into this folder"),
    OPT_STRING(kws_data_options, noise_dir, "noise-dir",
               "Noise files for mixing (\"\" = the folder's _background_noise_, else its _silence_ clips)"),
    AUGMENT_NOISE_OPTS(kws_data_options, aug),
    AUGMENT_OPT_(kws_data_options, aug, shift_max_ms, OPT_T_FLOAT, float, "shift-ms", 0, 1000,
                 "Random time shift of up to +-this (ms)"),
    AUGMENT_SPEED_GAIN_OPTS(kws_data_options, aug),
    OPT_BOOL(kws_data_options, spec_augment, "spec-augment", "Apply SpecAugment masks"),
    AUGMENT_SPEC_OPTS(kws_data_options, aug),
};
const size_t kws_data_n_opts = OPT_COUNT(kws_data_opts);

ch_status kws_data_options_check(const kws_data_options *o, ch_error *err)
{
    CH_TRY(augment_options_check_named(&o->aug, "", err));
    if (o->valid_percent <= 0 || o->valid_percent + o->test_percent >= 100)
        return ch_fail(err, CH_ERR_USAGE,
                       "--valid-percent must be > 0 and --valid-percent + --test-percent < 100");
    return CH_OK;
}

/* ---- loading ---- */

/* One clip to read: where it goes. */
typedef struct {
    sc_item item;  /* path (borrowed), noise_crop, crop_seed */
    int split, pos;
} clip_job;

static ch_status alloc_splits(kws_data *d, ch_error *err)
{
    size_t clip = (size_t)d->clip, TF = (size_t)d->T * (size_t)d->F;
    for (int s = 0; s < 3; s++) {
        d->label[s] = calloc((size_t)d->n[s] + 1, sizeof(int));
        if (!d->label[s])
            return ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
    }
    d->wave = malloc(sizeof(int16_t) * clip * ((size_t)d->n[KWS_TRAIN] + 1));
    for (int s = 1; s < 3; s++)
        d->feats[s] = malloc(sizeof(float) * TF * ((size_t)d->n[s] + 1));
    if (!d->wave || !d->feats[1] || !d->feats[2])
        return ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory for %d clips",
                       d->n[0] + d->n[1] + d->n[2]);
    return CH_OK;
}

/* Reads every clip (threads in parallel) into the training waves or the feature cache. */
static ch_status read_clips(kws_data *d, const clip_job *jobs, int n_jobs, int threads,
                            int verbosity, ch_error *err)
{
    int nt = threads > 0 ? threads : 1;
    feat_workspace **ws = calloc((size_t)nt, sizeof *ws);
    float **buf = calloc((size_t)nt, sizeof *buf);
    if (!ws || !buf) {
        free(ws);
        free(buf);
        return ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
    }
    ch_status st = CH_OK;
    for (int t = 0; t < nt && st == CH_OK; t++) {
        st = feat_workspace_create(d->fc, &ws[t], err);
        if (st == CH_OK && !(buf[t] = malloc(sizeof(float) * (size_t)d->clip)))
            st = ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
    }
    int failed = 0;
    ch_error first;
    first.msg[0] = 0;
    ch_status first_st = CH_OK;
    double t0 = timer_now();
    if (st == CH_OK) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
        for (int j = 0; j < n_jobs; j++) {
            int tid = omp_get_thread_num();
            ch_error e;
            ch_status s = kws_read_clip(&jobs[j].item, d->clip, buf[tid], &e);
            if (s == CH_OK) {
                const clip_job *jb = &jobs[j];
                if (jb->split == KWS_TRAIN) {
                    int16_t *w = d->wave + (size_t)jb->pos * d->clip;
                    for (int k = 0; k < d->clip; k++) {
                        float v = roundf(buf[tid][k]);
                        w[k] = (int16_t)(v > 32767.f ? 32767.f : v < -32768.f ? -32768.f : v);
                    }
                } else {
                    /* cached once: the dither of example pos is fixed by its index */
                    feat_rand r;
                    feat_rand_init(&r, (unsigned)(jb->pos + 1));
                    float *x = d->feats[jb->split] + (size_t)jb->pos * d->T * d->F;
                    s = feat_compute(d->fc, ws[tid], &r, buf[tid], d->clip, x, &e);
                    if (s == CH_OK && d->fe.cmn)
                        kws_cmn(x, d->T, d->F);
                }
            }
            if (s != CH_OK) {
#pragma omp critical(kws_read_fail)
                {
                    if (!failed || j < failed - 1) {
                        failed = j + 1;
                        first = e;
                        first_st = s;
                    }
                }
            }
        }
        if (failed)
            st = ch_fail(err, first_st, "%s", first.msg);
    }
    log_msg(verbosity, 2, "kws data: read %d clips in %.1f s\n", n_jobs, timer_now() - t0);
    for (int t = 0; t < nt; t++) {
        feat_workspace_free(ws[t]);
        free(buf[t]);
    }
    free(ws);
    free(buf);
    return st;
}

static ch_status copy_labels(kws_data *d, char *const *labels, int n, ch_error *err)
{
    d->labels = calloc((size_t)n, sizeof *d->labels);
    if (!d->labels)
        return ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
    d->n_labels = n;
    for (int i = 0; i < n; i++)
        if (!(d->labels[i] = strdup(labels[i])))
            return ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
    return CH_OK;
}

static ch_status load_sc(kws_data *d, const char *dir, int threads, int verbosity,
                         ch_error *err)
{
    sc_options so = sc_options_default();
    so.task = d->o.classes;
    so.validation_percentage = d->o.valid_percent;
    so.testing_percentage = d->o.test_percent;
    so.split = d->o.split;
    memcpy(so.split_salt, d->o.split_salt, sizeof so.split_salt);
    memcpy(so.valid_list, d->o.valid_list, sizeof so.valid_list);
    memcpy(so.test_list, d->o.test_list, sizeof so.test_list);
    sc_dataset ds;
    memset(&ds, 0, sizeof ds);
    CH_TRY(sc_load(dir, &so, &ds, err));
    if (ds.split_note[0])
        log_msg(verbosity, 1, "%s\n", ds.split_note);
    ch_status st = copy_labels(d, ds.labels, ds.n_labels, err);
    d->from_lists = ds.from_lists;
    snprintf(d->split_name, sizeof d->split_name, "%s",
             ds.from_lists                           ? "list files"
             : ds.split_used == SC_SPLIT_SALTED ? "salted speaker split"
                                                     : "standard hash split");
    if (st == CH_OK && d->o.write_split[0]) {
        st = sc_write_split(&ds, d->o.write_split, err);
        if (st == CH_OK)
            log_msg(verbosity, 1, "%s: wrote the split's lists\n", d->o.write_split);
    }
    for (int s = 0; s < 3; s++)
        d->n[s] = ds.n_items[s];
    if (st == CH_OK && d->n[KWS_TRAIN] == 0)
        st = ch_fail(err, CH_ERR_FORMAT, "%s: no training clips", dir);
    if (st == CH_OK && d->n[KWS_VALID] == 0)
        st = ch_fail(err, CH_ERR_FORMAT,
                     "%s: no validation clips (hint: raise --valid-percent or fix "
                     "validation_list.txt)", dir);
    if (st == CH_OK)
        st = alloc_splits(d, err);
    clip_job *jobs = NULL;
    int n_jobs = d->n[0] + d->n[1] + d->n[2];
    if (st == CH_OK && !(jobs = calloc((size_t)n_jobs, sizeof *jobs)))
        st = ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
    if (st == CH_OK) {
        int j = 0;
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < d->n[s]; i++, j++) {
                jobs[j].item = ds.items[s][i];
                jobs[j].split = s;
                jobs[j].pos = i;
                d->label[s][i] = ds.items[s][i].label;
            }
        st = read_clips(d, jobs, n_jobs, threads, verbosity, err);
    }
    free(jobs);
    if (st == CH_OK && !d->o.noise_dir[0])
        for (int i = 0; i < ds.n_noise && st == CH_OK; i++)
            st = noise_add_file(&d->noise, &d->noise_len, &d->n_noise, ds.noise_files[i], err);
    sc_free(&ds);
    return st;
}

static ch_status load_kaldi(kws_data *d, const char *dir, int threads, int verbosity,
                            ch_error *err)
{
    kd_dir kd;
    memset(&kd, 0, sizeof kd);
    ch_status st = kd_load(dir, true, &kd, err);
    if (st == CH_OK && !kd.labels)
        st = ch_fail(err, CH_ERR_FORMAT, "%s: no utt2label (or text) file with the labels", dir);
    if (st == CH_OK && kd.n_labels < 2)
        st = ch_fail(err, CH_ERR_FORMAT, "%s: needs at least 2 labels, has %d", dir,
                     kd.n_labels);
    if (st == CH_OK)
        st = copy_labels(d, kd.labels, kd.n_labels, err);
    int *split = NULL;
    if (st == CH_OK && !(split = malloc(sizeof(int) * (size_t)(kd.n_utts + 1))))
        st = ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
    for (int u = 0; st == CH_OK && u < kd.n_utts; u++) {
        /* the Speech Commands hash of the speaker: speaker-disjoint splits */
        double p = sc_hash_percentage(kd.speakers[kd.utts[u].spk]);
        split[u] = p < d->o.valid_percent                        ? KWS_VALID
                   : p < d->o.valid_percent + d->o.test_percent ? KWS_TEST
                                                                 : KWS_TRAIN;
        d->n[split[u]]++;
    }
    if (st == CH_OK && (d->n[KWS_TRAIN] == 0 || d->n[KWS_VALID] == 0))
        st = ch_fail(err, CH_ERR_FORMAT,
                     "%s: the speaker split left %d training and %d validation utterances "
                     "(hint: more speakers, or change --valid-percent)",
                     dir, d->n[KWS_TRAIN], d->n[KWS_VALID]);
    if (st == CH_OK)
        st = alloc_splits(d, err);
    clip_job *jobs = NULL;
    char **paths = NULL;
    if (st == CH_OK && !(jobs = calloc((size_t)kd.n_utts + 1, sizeof *jobs)))
        st = ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
    if (st == CH_OK) {
        int pos[3] = {0, 0, 0};
        paths = calloc((size_t)kd.n_utts + 1, sizeof *paths);
        if (!paths)
            st = ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
        for (int u = 0; st == CH_OK && u < kd.n_utts; u++) {
            const char *p = kd.utts[u].path;
            /* kd_load accepted it as written or relative to the folder */
            if (!audio_is_command(p) && p[0] != '/' && access(p, F_OK) != 0) {
                size_t len = strlen(dir) + strlen(p) + 2;
                if (!(paths[u] = malloc(len))) {
                    st = ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
                    break;
                }
                snprintf(paths[u], len, "%s/%s", dir, p);
                p = paths[u];
            }
            jobs[u].item.path = (char *)p;
            jobs[u].split = split[u];
            jobs[u].pos = pos[split[u]]++;
            d->label[split[u]][jobs[u].pos] = kd.utts[u].label;
        }
        if (st == CH_OK)
            st = read_clips(d, jobs, kd.n_utts, threads, verbosity, err);
    }
    if (paths)
        for (int u = 0; u < kd.n_utts; u++)
            free(paths[u]);
    free(paths);
    free(jobs);
    free(split);
    kd_free(&kd);
    return st;
}

ch_status kws_data_load(kws_data *d, const char *dir, const kws_data_options *o,
                        const kws_frontend *fe, uint64_t seed, int threads, int verbosity,
                        ch_error *err)
{
    memset(d, 0, sizeof *d);
    d->o = *o;
    d->fe = *fe;
    d->seed = seed;
    d->clip = fe->clip_samples;
    CH_TRY(kws_data_options_check(o, err));
    CH_TRY(feat_computer_create(&fe->feat, &d->fc, err));
    d->T = (int)feat_num_frames(d->fc, d->clip);
    d->F = feat_dim(d->fc);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return ch_fail(err, CH_ERR_IO, "%s: no such folder", dir);
    if (!S_ISDIR(sb.st_mode))
        return ch_fail(err, CH_ERR_IO, "%s: not a folder", dir);
    char scp[4096 + 16];
    snprintf(scp, sizeof scp, "%s/wav.scp", dir);
    ch_status st = access(scp, F_OK) == 0 ? load_kaldi(d, dir, threads, verbosity, err)
                                          : load_sc(d, dir, threads, verbosity, err);
    if (!d->split_name[0])
        snprintf(d->split_name, sizeof d->split_name, "speaker hash split");
    if (st == CH_OK && o->noise_dir[0])
        st = noise_load_dir(&d->noise, &d->noise_len, &d->n_noise, o->noise_dir, err);
    /* no _background_noise_ folder: the training _silence_ clips are background noise too */
    int sil = kws_label_index(d->labels, d->n_labels, "_silence_");
    bool use_silence = d->n_noise == 0;
    for (int i = 0; st == CH_OK && use_silence && sil >= 0 && i < d->n[KWS_TRAIN]; i++) {
        if (d->label[KWS_TRAIN][i] != sil)
            continue;
        float *x = malloc(sizeof(float) * (size_t)d->clip);
        if (!x) {
            st = ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
            break;
        }
        double e = 0;
        for (int k = 0; k < d->clip; k++) {
            x[k] = d->wave[(size_t)i * d->clip + k];
            e += (double)x[k] * x[k];
        }
        float **nn = realloc(d->noise, sizeof *nn * (size_t)(d->n_noise + 1));
        long *nl = nn ? realloc(d->noise_len, sizeof *nl * (size_t)(d->n_noise + 1)) : NULL;
        if (nn)
            d->noise = nn;
        if (!nn || !nl) {
            free(x);
            st = ch_fail(err, CH_ERR_NOMEM, "kws data: out of memory");
            break;
        }
        d->noise_len = nl;
        if (e <= 0) { /* digital silence cannot be mixed at an SNR */
            free(x);
            continue;
        }
        d->noise[d->n_noise] = x;
        d->noise_len[d->n_noise++] = d->clip;
    }
    if (st == CH_OK && d->n_noise == 0 && o->aug.noise_prob > 0)
        log_warn(verbosity, "%s: no background noise files: training without noise mixing\n",
                 dir);
    return st;
}

void kws_data_free(kws_data *d)
{
    if (!d)
        return;
    if (d->labels)
        for (int i = 0; i < d->n_labels; i++)
            free(d->labels[i]);
    free(d->labels);
    for (int s = 0; s < 3; s++) {
        free(d->label[s]);
        free(d->feats[s]);
    }
    free(d->wave);
    for (int i = 0; i < d->n_noise; i++)
        free(d->noise[i]);
    free(d->noise);
    free(d->noise_len);
    feat_computer_free(d->fc);
    memset(d, 0, sizeof *d);
}

/* ---- examples ---- */

/* The chain of train/example_chain.h for d's training clips. */
static example_chain kws_chain(const kws_data *d)
{
    example_chain c = {d->fc, &d->o.aug, d->noise, d->noise_len, d->n_noise, d->clip,
                       d->T, d->F, d->fe.cmn, d->o.spec_augment};
    return c;
}

ch_status kws_worker_create(kws_worker **out, const kws_data *d, ch_error *err)
{
    example_chain c = kws_chain(d);
    return example_worker_create(out, &c, err);
}

void kws_worker_free(kws_worker *w) { example_worker_free(w); }

ch_status kws_data_example(const kws_data *d, kws_worker *w, int64_t epoch, int i, float *x,
                           ch_error *err)
{
    rng r;
    rng_seed(&r, rng_mix64(d->seed ^ rng_mix64((uint64_t)epoch + 0x6b7773ull)), (uint64_t)i);
    const int16_t *src = d->wave + (size_t)i * d->clip;
    for (int k = 0; k < d->clip; k++)
        w->in[k] = (float)src[k];
    example_chain c = kws_chain(d);
    return example_chain_run(&c, w, &r, x, err);
}

/* ---- the loader's example source ---- */

static ch_status kws_src_worker_create(void *ctx, void **w, ch_error *err)
{
    kws_worker *k = NULL;
    CH_TRY(kws_worker_create(&k, ctx, err));
    *w = k;
    return CH_OK;
}

static void kws_src_worker_free(void *w) { kws_worker_free(w); }

static ch_status kws_src_example(void *ctx, void *w, int64_t epoch, int i, float *x, int *label,
                                 int *length, ch_error *err)
{
    const kws_data *d = ctx;
    *label = d->label[KWS_TRAIN][i];
    *length = d->T;
    return kws_data_example(d, w, epoch, i, x, err);
}

ch_status kws_loader_create(kws_loader **out, const kws_data *d, int n_workers, int max_batch,
                            int depth, ch_error *err)
{
    batch_source src = {(void *)d, d->n[KWS_TRAIN], d->T, d->F, kws_src_worker_create,
                        kws_src_worker_free, kws_src_example};
    return batch_loader_create(out, &src, n_workers, max_batch, depth, err);
}
