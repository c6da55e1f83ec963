/* kws_stream.h — what keyword spotting shares between training and detection: the frontend a
 * KWS checkpoint carries, loading a KWS checkpoint into a runnable model, reading one clip, and
 * the streaming detector (posterior smoothing, per-keyword thresholds, refractory period).
 *
 * Frontend: Kaldi fbank (frontend/features.h, Kaldi's option names) of a clip of clip_samples
 * at 16 kHz, then optional per-window mean normalisation (CMN over the window's frames). The
 * checkpoint's frontend text is "key=value" lines of every fbank option plus "kws-cmn" and
 * "kws-clip-samples", so detection computes exactly the features training used.
 *
 * Streaming: a 1-s window (T frames) slides by hop frames over the fbank of the whole stream,
 * which is computed once, incrementally, as samples arrive (with snip-edges framing a frame
 * depends only on its own 400 samples, so frame i of the stream equals frame i - k of a window
 * starting k frames later). kws_detector turns the posteriors of successive windows into
 * events; it is pure logic with no audio, so tests can drive it with made-up posteriors.
 */
#ifndef CHORUS_KWS_STREAM_H
#define CHORUS_KWS_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "common/options.h"
#include "common/status.h"
#include "data/speech_commands.h"
#include "frontend/features.h"
#include "models/backend.h"
#include "models/model.h"

#define KWS_RATE_HZ 16000

typedef struct {
    feat_options feat; /* fbank options */
    bool cmn;          /* subtract each window's per-bin mean */
    int clip_samples;  /* window length in samples (16000 = 1 s) */
} kws_frontend;

/* Fbank with 40 mel bins, Kaldi's other defaults (dither 1), CMN on, 1-s clips. */
kws_frontend kws_frontend_default(void);
/* "key=value\n" lines of every option (malloc'ed, caller frees); NULL only when out of memory. */
char *kws_frontend_to_text(const kws_frontend *f);
/* Parses text written by kws_frontend_to_text; unknown keys or bad values: CH_ERR_FORMAT
 * "<path>: frontend: ...". */
ch_status kws_frontend_from_text(kws_frontend *f, const char *text, const char *path,
                                 ch_error *err);

/* Reads a clip into out[0..clip_samples): 16 kHz mono, zero-padded or centre-cropped. A
 * noise_crop item takes clip_samples from its noise file at the offset its crop_seed gives.
 * Errors from audio_read, "<path>: empty audio". */
ch_status kws_read_clip(const sc_item *it, int clip_samples, float *out, ch_error *err);
/* Fits n samples into out[0..len): centre crop when longer, zero pad (centred) when shorter. */
void kws_fit_clip(float *out, int len, const float *x, long n);

/* A KWS checkpoint, ready to run. */
typedef struct {
    nn_model *model;
    kws_frontend fe;
    feat_computer *fc;
    char **labels; /* n_labels, owned */
    int n_labels;
    int T, F;      /* frames per window, bins */
    nn_ctx ctx;    /* CPU context, threads as given */
    int *lengths;  /* (cap_n) all T: every window is full length */
    int cap_n;
} kws_model;

/* Loads path: must be a densenet-bilstm (or other classifier) checkpoint whose out_dim equals
 * its label count. Errors "<path>: ..." (missing, corrupt, wrong kind, bad frontend). */
ch_status kws_model_load(kws_model *km, const char *path, int threads, ch_error *err);
void kws_model_free(kws_model *km);
/* Softmax posteriors of N windows x: (N, T, F) in eval mode -> probs (N, n_labels).
 * CMN (if the frontend has it) is applied to x in place first. */
ch_status kws_model_posteriors(kws_model *km, float *x, int N, float *probs, ch_error *err);
/* Index of a label, -1 when absent. */
int kws_label_index(char *const *labels, int n, const char *name);
/* Whether class k is a keyword (not _silence_ / _unknown_). */
bool kws_is_keyword(const char *label);
/* Subtracts each column's mean over the T rows of x (T, F). */
void kws_cmn(float *x, int T, int F);

/* ---- streaming detector ---- */

typedef struct {
    int n_classes;
    int smooth;          /* posteriors averaged over the last `smooth` windows (>= 1) */
    const float *thresholds; /* (n_classes): fire when the smoothed posterior >= this;
                                > 1 disables a class (non-keywords) */
    double refractory_s; /* after a detection nothing fires for this long */
    double window_s;     /* window length (reported end = start + window_s) */
} kws_detector_options;

typedef struct {
    double start_s, end_s;
    int label;
    float score;         /* smoothed posterior */
} kws_event;

typedef struct kws_detector kws_detector;

/* o->thresholds is copied. Owner: caller (kws_detector_free, NULL ok). */
ch_status kws_detector_create(kws_detector **out, const kws_detector_options *o, ch_error *err);
void kws_detector_free(kws_detector *d);
void kws_detector_reset(kws_detector *d);
/* Feeds the posteriors (n_classes) of the window starting at start_s (windows in time order).
 * The smoothed posterior of every class is written to smoothed (may be NULL). Returns 1 and
 * fills *ev when a keyword fires: the best class whose smoothed posterior reaches its
 * threshold, outside the refractory period of the previous event. */
int kws_detector_push(kws_detector *d, const float *probs, double start_s, float *smoothed,
                      kws_event *ev);

/* ---- fast streaming: the CNN once over the stream, the head per window ----
 *
 * Windows of T frames start every hop frames (window w covers stream frames [w * hop, w * hop
 * + T); it exists when the stream has that many frames). Exact mode runs each window through
 * the whole model (what clip mode computes). Fast mode (densenet-bilstm only) computes the CNN
 * ONCE over the stream, in chunks whose receptive-field halo (kws_densenet_halo) is carried so
 * that the result equals one whole-stream pass bit for bit whatever the chunking, then the
 * BiLSTM's input term (W_ih x_t + b, per frame, 80% of the LSTM's FLOPs) once per frame too; per
 * window only the recurrence, pooling and linear run, batched over windows. Posteriors do not
 * depend on the chunking beyond float rounding (1e-6). It differs from exact mode in two ways,
 * both measured in tests/test_kws_detect.sh:
 *  - within R frames of a window's edges the CNN sees the neighbouring audio instead of the
 *    zero padding a lone window has;
 *  - CMN (when the frontend has it): frame t is normalised by the mean of the T frames centred
 *    on it ([t - T/2, t - T/2 + T), shifted to stay inside the stream) instead of by its
 *    window's mean: exact at a window's centre, off by at most half a window at its edges.
 *    This costs T/2 frames (0.5 s) of extra latency on live input; the halo costs R frames.
 * Frames are pushed as they are computed; posteriors of each window come out through the
 * callback in window order, as soon as the frames they need (and a full batch, or finish) are
 * there. */

typedef ch_status (*kws_window_fn)(void *arg, long w, const float *probs, ch_error *err);

typedef struct kws_fast kws_fast;

/* km must hold a densenet-bilstm (CH_ERR_USAGE otherwise). batch: windows per head call;
 * chunk (at most 4096 is used): the CNN runs once at least this many new frames can be
 * computed (or at finish), at most max(chunk, batch * hop) frames per call. Owner: caller
 * (kws_fast_free, NULL ok). */
ch_status kws_fast_create(kws_fast **out, kws_model *km, int hop, int batch, int chunk,
                          ch_error *err);
void kws_fast_free(kws_fast *f);
/* n frames (n, F) that follow the previous ones; runs the CNN and the windows now possible. */
ch_status kws_fast_push(kws_fast *f, const float *frames, long n, kws_window_fn fn, void *arg,
                        ch_error *err);
/* End of stream: the rest of the CNN (zero padding past the last frame), every remaining
 * window, the last partial batch. */
ch_status kws_fast_finish(kws_fast *f, kws_window_fn fn, void *arg, ch_error *err);

#endif
