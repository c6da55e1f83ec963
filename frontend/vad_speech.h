/* vad_speech.h — the speech-only signal of an utterance under Kaldi's energy VAD: what
 * sv-embed --vad embeds and sv-train --vad trains on.
 *
 * The frames are those of a frontend (its frame length, shift and snip-edges) and the energy is
 * the raw log-energy feat-extract --vad uses (column 0 of a 3-bin fbank with use-energy,
 * raw-energy: Kaldi's compute-vad reads MFCC c0), whatever the model's features are,
 * so every command selects the same frames. Each frame owns the frame-shift-long span of samples
 * centred on its centre (the first span starts at sample 0, the last ends at n: the spans
 * partition the utterance); the voiced frames' spans are concatenated in order.
 */
#ifndef CHORUS_VAD_SPEECH_H
#define CHORUS_VAD_SPEECH_H

#include <stddef.h>

#include "common/status.h"
#include "frontend/features.h"
#include "frontend/vad.h"

/* The energy computer for frames like `frame_like`'s, with its dither (Kaldi's compute-vad
 * reads the c0 of features computed with theirs); owner: caller, feat_computer_free. */
ch_status vad_energy_computer_create(const feat_options *frame_like, feat_computer **out,
                                     ch_error *err);

/* Per-thread scratch (zero-initialise, then vad_scratch_free). */
typedef struct {
    feat_workspace *ws;
    float *energy, *voiced, *speech;
    size_t energy_cap, voiced_cap, speech_cap;
} vad_scratch;

void vad_scratch_free(vad_scratch *s);

/* The voiced samples of x (n samples) under vo: *speech points into s (valid until its next
 * call), *n_speech samples; *n_frames and *n_voiced (either may be NULL) the frame counts.
 * Errors: CH_ERR_FORMAT "too short ..." when n gives no frame; CH_ERR_NOMEM. */
ch_status vad_speech_samples(vad_scratch *s, const feat_computer *efc, const vad_options *vo,
                             const float *x, long n, const float **speech, long *n_speech,
                             int *n_frames, int *n_voiced, ch_error *err);

#endif
