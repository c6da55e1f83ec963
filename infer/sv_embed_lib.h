/* sv_embed_lib.h — what speaker-embedding training and extraction share: the frontend a speaker
 * checkpoint carries, loading such a checkpoint, and the embedding of one utterance (chunking,
 * features, CMN, forward, averaging). sv-embed is a thin loop over it; tests call it directly.
 *
 * Frontend text (the checkpoint's "frontend" field, "key=value" lines): every Kaldi fbank
 * option (frontend/features.h names) plus
 *   sv-cmn=true|false   subtract the per-bin mean over each chunk's frames (CMN)
 *   sv-chunk-s=S        the chunk length training used (informational for extraction)
 * "sv-cmn" marks a speaker checkpoint; a keyword-spotting checkpoint (kws-* keys) is rejected
 * by name. Extraction always runs with dither 0 (so an embedding is a function of the audio),
 * whatever the training dither was.
 *
 * Chunking (long audio): with L = chunk_s and H = hop_s in samples, an utterance of n <= L
 * samples (or chunk_s = 0) is one chunk, the whole utterance; otherwise chunks start at
 * 0, H, 2H, ... and the last one is moved back to end exactly at n, so every chunk is L
 * samples: count = 1 + ceil((n - L) / H). Each chunk is embedded on its own samples (features
 * computed from the chunk, CMN over its frames), so a chunk's embedding equals that of the
 * chunk cut out as a file. The utterance embedding is the mean of the chunk embeddings, each
 * first L2-normalised (SV_AVG_NORMALIZED, the default: every chunk votes with its direction,
 * loud or long-pooled chunks do not dominate; a one-chunk utterance gives its unit-length
 * embedding) or as they are (SV_AVG_RAW: a one-chunk utterance gives the model's raw output).
 * Chunks are batched through the model up to max_batch at a time (eval mode, padded frames are
 * masked by the models, so batching does not change a chunk's embedding beyond float rounding).
 *
 * Voice activity (o->vad, sv-embed --vad): before chunking, Kaldi's energy VAD
 * (frontend/vad.h, o->vad_o) marks the utterance's frames voiced or not. The frames are the
 * frontend's (its frame length, shift and snip-edges) and the energy is the raw log-energy
 * feat-extract --vad uses (column 0 of a 3-bin fbank with use-energy, raw-energy, dither 0),
 * whatever the model's features are, so both commands select the same frames. Each frame owns
 * the frame-shift-long span of samples centred on its centre (the first span starts at sample
 * 0, the last ends at n: the spans partition the utterance); the voiced frames' spans are
 * concatenated in order and that speech-only signal is what gets chunked and embedded
 * (features, CMN and chunks computed on it, so silence neither dilutes the statistics pooling
 * nor the CMN mean). If the speech is shorter than min_s or gives fewer than 2 frames (silence,
 * or noise below the threshold), the whole utterance is embedded instead and
 * sv_embed_info.vad_fallback says so: not an error (sv-embed counts these and says so once).
 * An utterance too short for 2 frames is an error with or without VAD.
 *
 * Threads: one sv_worker per thread (its own model copy, arena and feature workspace); an
 * utterance is computed by one worker alone, so its embedding does not depend on the thread
 * count.
 */
#ifndef CHORUS_SV_EMBED_LIB_H
#define CHORUS_SV_EMBED_LIB_H

#include <stdbool.h>

#include "common/options.h"
#include "common/status.h"
#include "frontend/features.h"
#include "frontend/vad_speech.h"
#include "frontend/vad.h"
#include "models/backend.h"
#include "models/checkpoint.h"
#include "models/model.h"

#define SV_RATE_HZ 16000

typedef struct {
    feat_options feat; /* fbank options */
    bool cmn;          /* per-chunk mean normalisation */
    float chunk_s;     /* training chunk length in seconds */
} sv_frontend;

/* Fbank with 80 mel bins, Kaldi's other defaults (dither 1 for training), CMN on, 2-s chunks. */
sv_frontend sv_frontend_default(void);
/* "key=value\n" lines of every option (malloc'ed, caller frees); NULL only when out of memory. */
char *sv_frontend_to_text(const sv_frontend *f);
/* Parses text written by sv_frontend_to_text. CH_ERR_FORMAT "<path>: frontend: ..." for
 * unknown keys or bad values, "<path>: not a speaker-embedding checkpoint ..." without sv-cmn. */
ch_status sv_frontend_from_text(sv_frontend *f, const char *text, const char *path,
                                ch_error *err);

typedef enum { SV_AVG_NORMALIZED = 0, SV_AVG_RAW = 1 } sv_average;
#define SV_AVERAGE_CHOICES "normalized|raw"

typedef struct {
    float chunk_s;  /* chunk length, seconds (0 = whole utterance as one chunk) */
    float hop_s;    /* chunk hop, seconds (> 0) */
    float min_s;    /* shorter utterances are errors ("too short") */
    int average;    /* sv_average */
    int max_batch;  /* chunks per forward call */
    bool vad;       /* embed the voiced samples only (rules above) */
    vad_options vad_o; /* its thresholds: a table of their own, vad_opts (--vad-*) */
} sv_embed_options;

/* 3 s chunks, 1.5 s hop, min 0.1 s, normalized, 16; no VAD, Kaldi's VAD defaults */
sv_embed_options sv_embed_options_default(void);
/* --chunk-s --chunk-hop-s --min-s --average --max-batch --vad; the thresholds are vad_opts
 * (frontend/vad.h) on the vad_o member: {"VAD", vad_opts, vad_n_opts, &o.vad_o} */
extern const opt_desc sv_embed_opts[];
extern const size_t sv_embed_n_opts;

/* A loaded speaker checkpoint, shared read-only by the workers. */
typedef struct {
    ckpt_model ck;       /* as read (params and buffers copied into each worker's model) */
    sv_frontend fe;      /* as stored, except feat.dither = 0 */
    feat_computer *fc;
    feat_computer *efc;  /* VAD log-energy in column 0, framed like fc (rules above) */
    int F;               /* feature bins = the model's in_bins */
    int dim;             /* embedding size = the model's out_dim */
} sv_model_file;

/* Reads and validates path: a chorus checkpoint of a speaker model with an sv frontend whose
 * fbank dimension matches the model's input. Errors "<path>: ..." (missing, corrupt, a
 * keyword-spotting checkpoint, bad frontend, parameter counts). Free with sv_model_file_free. */
ch_status sv_model_file_load(sv_model_file *mf, const char *path, ch_error *err);
void sv_model_file_free(sv_model_file *mf);

typedef struct {
    nn_model *model;
    nn_ctx ctx;
    feat_workspace *ws;
    float *x;        /* (max_batch, T, F) chunk features */
    size_t x_cap;
    float *emb;      /* (max_batch, dim) */
    size_t emb_cap;
    int *lengths;
    int len_cap;
    vad_scratch vad;     /* VAD: energy features, decisions and the voiced samples */
} sv_worker;

ch_status sv_worker_create(sv_worker *w, const sv_model_file *mf, ch_error *err);
void sv_worker_free(sv_worker *w);

/* Chunk count and chunk i's first sample for n samples (rules above); L, H in samples. */
int sv_chunk_count(long n, long L, long H);
long sv_chunk_start(long n, long L, long H, int i);

typedef struct {
    int chunks;        /* chunks embedded */
    long n_used;       /* samples embedded: the voiced ones, or n */
    int frames;        /* VAD frames of the utterance (0 without VAD) */
    int voiced;        /* of which voiced */
    bool vad_fallback; /* VAD on, too little speech: the whole utterance was embedded */
} sv_embed_info;

/* The voiced samples of x (n samples) under vo, by the rules above: *speech points into the
 * worker (valid until its next call), *n_speech samples; *n_frames and *n_voiced (either may be
 * NULL) the frame counts. Errors: CH_ERR_FORMAT "too short ..." when n gives no frame;
 * CH_ERR_NOMEM. */
ch_status sv_vad_speech(sv_worker *w, const sv_model_file *mf, const vad_options *vo,
                        const float *x, long n, const float **speech, long *n_speech,
                        int *n_frames, int *n_voiced, ch_error *err);

/* sv_embed_audio with the details in *info (may be NULL; filled even when it fails). */
ch_status sv_embed_utterance(sv_worker *w, const sv_model_file *mf, const sv_embed_options *o,
                             const float *x, long n, float *out, sv_embed_info *info,
                             ch_error *err);

/* The embedding of x (n samples at SV_RATE_HZ, int16 scale, after VAD when o->vad) into out
 * (mf->dim). *n_chunks (may be NULL) receives the chunk count. Errors: CH_ERR_FORMAT "too
 * short: ..." when n is below min_s or gives fewer than 2 frames, "non-finite embedding" (a
 * broken model or input); CH_ERR_NOMEM. The message does not name the utterance (the caller
 * does). */
ch_status sv_embed_audio(sv_worker *w, const sv_model_file *mf, const sv_embed_options *o,
                         const float *x, long n, float *out, int *n_chunks, ch_error *err);

#endif
