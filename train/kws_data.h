/* kws_data.h — the keyword-spotting dataset for kws-train: every clip loaded once, training
 * examples augmented afresh each epoch, validation/test features computed once, and a threaded
 * loader that prefetches batches while the model trains.
 *
 * Sources: a Speech Commands-layout folder (data/speech_commands.h: its 12-class task or every
 * word, list files or the speaker-disjoint hash split) or a Kaldi data dir with utt2label (or
 * text) labels (data/kaldi_dir.h; split by the same hash of the speaker id). Clips are read at
 * 16 kHz, centred/padded to the frontend's clip length and kept as int16 samples (half the
 * memory of float; the full Speech Commands train set is then ~2.7 GB). Background noise for mixing comes from
 * `_background_noise_` (or `--noise-dir`, every audio file in it).
 *
 * A training example of epoch e and index i is a pure function of (seed, e, i): its rng is
 * seeded from them, so which thread builds it and when never changes a bit. The chain: speed
 * perturbation (optional), gain, time shift (+-shift ms), noise at a random SNR with
 * probability p (augment_wave), centre fit to the clip length, fbank (dither drawn from the
 * example's rng), per-window CMN, SpecAugment masks (optional).
 */
#ifndef CHORUS_KWS_DATA_H
#define CHORUS_KWS_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "common/options.h"
#include "common/status.h"
#include "frontend/augment.h"
#include "infer/kws_stream.h"
#include "train/batch_loader.h"
#include "train/example_chain.h"

typedef struct {
    int classes;              /* SC_TASK_12 | SC_TASK_ALL ("12|all") */
    double valid_percent;     /* hash split when the folder has no list files */
    double test_percent;
    /* Speech Commands folders only (data/speech_commands.h): split mode, salt, explicit lists,
     * and where to write the lists of the split actually used ("" = nowhere) */
    int split;                /* sc_split_mode ("auto|standard|salted") */
    char split_salt[64];
    char valid_list[4096];
    char test_list[4096];
    char write_split[4096];
    char noise_dir[4096];     /* extra/alternative noise files ("" = _background_noise_) */
    bool spec_augment;        /* apply the SpecAugment masks below */
    augment_options aug;      /* waveform + mask parameters */
} kws_data_options;

kws_data_options kws_data_options_default(void);
/* --classes --valid-percent --test-percent --split --split-salt --valid-list --test-list
 * --write-split --noise-dir --noise-prob --snr-min --snr-max
 * --shift-ms --speed-min --speed-max --gain-min --gain-max --spec-augment --freq-masks ... */
extern const opt_desc kws_data_opts[];
extern const size_t kws_data_n_opts;
/* Range checks the table cannot do. CH_ERR_USAGE. */
ch_status kws_data_options_check(const kws_data_options *o, ch_error *err);

enum { KWS_TRAIN = 0, KWS_VALID = 1, KWS_TEST = 2 };

typedef struct {
    char **labels;            /* n_labels, owned */
    int n_labels;
    int n[3];                 /* examples per split */
    int *label[3];            /* per split */
    int16_t *wave;            /* (n[TRAIN], clip) training clips */
    float *feats[3];          /* (n[s], T, F) cached features of valid and test ([0] NULL) */
    float **noise;            /* noise signals */
    long *noise_len;
    int n_noise;
    kws_frontend fe;
    feat_computer *fc;
    int T, F, clip;
    kws_data_options o;
    uint64_t seed;
    bool from_lists;
    char split_name[32];      /* "list files", "standard hash split", "salted speaker split" */
} kws_data;

/* Loads dir (a Speech Commands folder, or a Kaldi dir when it holds wav.scp) with frontend fe,
 * using `threads` threads. verbosity as cli_verbosity. Errors "<path>: <problem>". */
ch_status kws_data_load(kws_data *d, const char *dir, const kws_data_options *o,
                        const kws_frontend *fe, uint64_t seed, int threads, int verbosity,
                        ch_error *err);
void kws_data_free(kws_data *d);

/* Per-thread scratch for kws_data_example (fbank workspace, waveform buffers). */
typedef example_worker kws_worker;
ch_status kws_worker_create(kws_worker **out, const kws_data *d, ch_error *err);
void kws_worker_free(kws_worker *w);

/* Builds training example i of epoch `epoch` into x (T, F), using w's scratch (one worker per
 * thread). The result depends only on (d->seed, epoch, i). */
ch_status kws_data_example(const kws_data *d, kws_worker *w, int64_t epoch, int i, float *x,
                           ch_error *err);

/* ---- threaded prefetching loader (train/batch_loader.h over kws_data_example) ---- */

typedef loader_batch kws_batch;
typedef batch_loader kws_loader;

/* A batch_loader whose examples are kws_data_example's training clips (label, length T). */
ch_status kws_loader_create(kws_loader **out, const kws_data *d, int n_workers, int max_batch,
                            int depth, ch_error *err);
static inline void kws_loader_free(kws_loader *l) { batch_loader_free(l); }
static inline ch_status kws_loader_start(kws_loader *l, int64_t epoch, const int *idx,
                                         const int *sizes, int n_batches, ch_error *err)
{
    return batch_loader_start(l, epoch, idx, sizes, n_batches, err);
}
static inline ch_status kws_loader_next(kws_loader *l, kws_batch *b, double *wait_s,
                                        ch_error *err)
{
    return batch_loader_next(l, b, wait_s, err);
}

#endif
