/* vad.h — Kaldi's energy voice activity detection (compute-vad / ComputeVadEnergy,
 * KALDI-FEATURES.md §8), from column 0 of a feature matrix (MFCC with use-energy, or fbank
 * with use-energy and !htk-compat). */
#ifndef CHORUS_VAD_H
#define CHORUS_VAD_H

#include "common/options.h"
#include "common/status.h"

typedef struct {
    float energy_threshold;     /* 5.0 */
    float energy_mean_scale;    /* 0.5: threshold += scale * mean log-energy */
    int frames_context;         /* 0 */
    float proportion_threshold; /* 0.6 */
} vad_options;

vad_options vad_options_default(void);
/* --vad-energy-threshold, --vad-energy-mean-scale, --vad-frames-context,
 * --vad-proportion-threshold (Kaldi's names). */
extern const opt_desc vad_opts[];
extern const size_t vad_n_opts;

/* feats: (T, D) row-major, column 0 is log-energy. voiced: (T) floats, 1.0 voiced / 0.0 not:
 * frame t is voiced when, of the frames in [t-ctx, t+ctx] inside the utterance, at least
 * proportion_threshold of them have energy > threshold (strict). Returns the number of voiced
 * frames in *n_voiced (may be NULL). T = 0: CH_ERR_FORMAT "vad: empty features". */
ch_status vad_compute(const vad_options *o, const float *feats, int T, int D, float *voiced,
                      int *n_voiced, ch_error *err);

#endif
