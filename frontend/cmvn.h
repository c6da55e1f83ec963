/* cmvn.h — cepstral mean (and variance) normalisation: per utterance, and Kaldi's sliding
 * window (apply-cmvn-sliding / SlidingWindowCmn, KALDI-FEATURES.md §9), both in double.
 * Features are (frames, dim) row-major float. */
#ifndef CHORUS_CMVN_H
#define CHORUS_CMVN_H

#include <stdbool.h>

#include "common/options.h"
#include "common/status.h"

typedef enum { CMVN_NONE = 0, CMVN_UTT = 1, CMVN_SLIDING = 2 } cmvn_mode;

typedef struct {
    int cmn_window;     /* frames in the window (600) */
    int min_cmn_window; /* minimum frames at the start when !center (100) */
    bool norm_vars;     /* also normalise variance (false) */
    bool center;        /* window centred on the frame (false: the frame and the past) */
} cmvn_options;

cmvn_options cmvn_options_default(void);
/* --cmn-window, --min-cmn-window, --norm-vars, --center (Kaldi's names). */
extern const opt_desc cmvn_opts[];
extern const size_t cmvn_n_opts;

/* Per-utterance CMVN in place. x: (T, D). With norm_vars each column is divided by its
 * standard deviation (variance floored at 1e-10; *n_floored, when not NULL, counts the floored
 * columns). T = 0 is a no-op. CH_ERR_NOMEM only. */
ch_status cmvn_apply_utt(float *x, int T, int D, bool norm_vars, int *n_floored, ch_error *err);

/* Kaldi's sliding-window CMN: in (T, D) -> out (T, D); out must not alias in. Running sums in
 * double exactly as SlidingWindowCmnInternal (window placement rules of §9). *n_floored (when
 * not NULL) counts frames whose variance hit the 1e-10 floor (Kaldi warns about these).
 * CH_ERR_USAGE for a window < 1, CH_ERR_NOMEM. */
ch_status cmvn_apply_sliding(const cmvn_options *o, const float *in, float *out, int T, int D,
                             int *n_floored, ch_error *err);

#endif
