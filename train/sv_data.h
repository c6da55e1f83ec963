/* sv_data.h — the speaker-verification dataset for sv-train: a speaker-labelled folder
 * (data/speaker_set.h: Kaldi dir, VoxCeleb-style or Speech Commands), split speaker-disjointly
 * into train / valid / test speakers, training utterances kept as waveforms and cut into
 * random fixed-length chunks afresh every epoch, valid / test utterances turned into features
 * once, with trials among them for the EER the trainer validates on.
 *
 * Training example i of epoch e is a pure function of (seed, e, i): a chunk of chunk_s seconds
 * at a uniform random start (an utterance shorter than the chunk is repeated end to end until
 * it fills it, as WeSpeaker does), the waveform chain of augment_wave (speed, gain, noise at an
 * SNR from --noise-dir with probability --noise-prob), centred back to the chunk length, fbank
 * (dither drawn from the example's rng), per-chunk mean normalisation (CMN, as sv-embed), and
 * SpecAugment masks. Label: the speaker's index among the training speakers (sorted by name).
 *
 * Evaluation utterances (valid, test): the centre eval_max_s seconds (all of a shorter one),
 * fbank without dither, CMN over its frames, padded with zeros to the longest, with its frame
 * count as the length. Trials of a split: every target pair (or max_targets_per_spk per
 * speaker) and nontarget_ratio times as many nontarget pairs (data/trial_gen.h, seed = the
 * split seed), scored by cosine similarity; the metric is their EER.
 */
#ifndef CHORUS_SV_DATA_H
#define CHORUS_SV_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "common/options.h"
#include "common/status.h"
#include "data/speaker_set.h"
#include "data/trial_gen.h"
#include "frontend/augment.h"
#include "frontend/features.h"
#include "frontend/vad_speech.h"
#include "infer/sv_embed_lib.h"
#include "train/batch_loader.h"

typedef struct {
    int layout;               /* spk_layout */
    int min_utts;             /* drop speakers with fewer utterances */
    char split_fractions[64]; /* "train,valid,test" shares of the speakers */
    int64_t split_seed;
    float eval_max_s;         /* longest evaluation utterance used (centre crop) */
    double nontarget_ratio;   /* validation trials: nontargets per target */
    int max_targets_per_spk;  /* 0 = every target pair */
    char noise_dir[4096];
    bool spec_augment;
    augment_options aug;
} sv_data_options;

sv_data_options sv_data_options_default(void);
extern const opt_desc sv_data_opts[];
extern const size_t sv_data_n_opts;
ch_status sv_data_options_check(const sv_data_options *o, ch_error *err);

enum { SV_TRAIN = 0, SV_VALID = 1, SV_TEST = 2 };

typedef struct {
    speaker_set set;          /* every speaker read */
    int *part;                /* (set.n_speakers) SPK_TRAIN / SPK_DEV / SPK_TEST */
    char **labels;            /* training speakers' names, n_labels, owned */
    int n_labels;
    int n[3];                 /* utterances per split */
    int *utt[3];              /* their indices into set.utts */
    int *label;               /* (n[TRAIN]) training labels */
    float **wave;             /* (n[TRAIN]) training waveforms, 16 kHz, int16 scale */
    long *wave_len;
    float *feats[3];          /* (n[s], T_eval[s], F) evaluation features ([0] NULL) */
    int *lengths[3];          /* (n[s]) their frame counts */
    int T_eval[3];
    sv_trial *trials[3];      /* indices into the split's utterance list */
    long n_trials[3], n_target[3];
    float **noise;
    long *noise_len;
    int n_noise;
    sv_frontend fe;
    feat_computer *fc;        /* training (the frontend's dither) */
    int T, F, chunk;          /* training chunk: frames, bins, samples */
    sv_data_options o;
    feat_computer *vad_fc;    /* VAD energy (NULL: no VAD) */
    vad_options vad_o;
    int n_vad_fallback;
    double audio_s, speech_s; /* seconds read, and kept (all of it without VAD) */
    uint64_t seed;
} sv_data;

/* Loads dir. fe: fbank options, CMN, chunk_s (the training chunk). vad (NULL = off): every
 * utterance, training and evaluation, is first cut to its voiced samples (frontend/vad_speech.h,
 * as sv-embed --vad) unless under 0.5 s of speech remains (then used whole, counted in
 * n_vad_fallback). Errors "<path>: <problem>" (unreadable audio names its file; too few
 * speakers for a split says which part is empty and how to fix it). */
ch_status sv_data_load(sv_data *d, const char *dir, const sv_data_options *o,
                       const sv_frontend *fe, const vad_options *vad, uint64_t seed,
                       int threads, int verbosity, ch_error *err);
void sv_data_free(sv_data *d);

/* The loader's source of training chunks (batch_loader.h); d must outlive the loader. */
batch_source sv_data_source(sv_data *d);

/* Cosine-scored EER (0..1) of split s's trials from the utterances' embeddings emb (n[s], D). */
ch_status sv_data_eer(const sv_data *d, int split, const float *emb, int D, double *eer,
                      ch_error *err);

#endif
