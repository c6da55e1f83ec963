/* vad_speech.c — voiced samples of an utterance (vad_speech.h). */
#include "frontend/vad_speech.h"

#include <stdlib.h>
#include <string.h>

ch_status vad_energy_computer_create(const feat_options *frame_like, feat_computer **out,
                                     ch_error *err)
{
    feat_options eo = *frame_like;
    eo.feature_type = FEAT_FBANK;
    eo.num_mel_bins = 3;
    eo.use_energy = true;
    eo.htk_compat = false;
    eo.raw_energy = true;
    eo.low_freq_hz = 20.0f;
    eo.high_freq_hz = 0.0f;
    return feat_computer_create(&eo, out, err);
}

void vad_scratch_free(vad_scratch *s)
{
    if (!s)
        return;
    feat_workspace_free(s->ws);
    free(s->energy);
    free(s->voiced);
    free(s->speech);
    memset(s, 0, sizeof *s);
}

static ch_status grow(void **p, size_t *cap, size_t need, size_t elem, ch_error *err)
{
    if (need <= *cap)
        return CH_OK;
    void *q = realloc(*p, need * elem);
    if (!q)
        return ch_fail(err, CH_ERR_NOMEM, "out of memory (%zu bytes of VAD buffers)",
                       need * elem);
    *p = q;
    *cap = need;
    return CH_OK;
}

ch_status vad_speech_samples(vad_scratch *w, const feat_computer *efc, const vad_options *vo,
                             const float *x, long n, const float **speech, long *n_speech,
                             int *n_frames, int *n_voiced, ch_error *err)
{
    *speech = NULL;
    *n_speech = 0;
    long T = feat_num_frames(efc, n);
    if (T < 1)
        return ch_fail(err, CH_ERR_FORMAT, "too short: %ld samples give no feature frame", n);
    if (T > (1L << 30))
        return ch_fail(err, CH_ERR_FORMAT, "too long: %ld frames", T);
    const int E = feat_dim(efc);
    if (!w->ws)
        CH_TRY(feat_workspace_create(efc, &w->ws, err));
    CH_TRY(grow((void **)&w->energy, &w->energy_cap, (size_t)T * (size_t)E, sizeof(float),
                err));
    CH_TRY(grow((void **)&w->voiced, &w->voiced_cap, (size_t)T, sizeof(float), err));
    CH_TRY(grow((void **)&w->speech, &w->speech_cap, (size_t)n, sizeof(float), err));
    CH_TRY(feat_compute(efc, w->ws, NULL, x, n, w->energy, err));
    int nv = 0;
    CH_TRY(vad_compute(vo, w->energy, (int)T, E, w->voiced, &nv, err));
    /* frame t's span: a frame shift centred on the frame's centre (t * shift + window / 2
     * with snip-edges, t * shift + shift / 2 without, Kaldi's framing), stretched to 0 for
     * the first frame and to n for the last; runs of voiced frames are copied at once */
    const long S = feat_window_shift(efc), W = feat_window_size(efc);
    const long off = feat_computer_options(efc)->snip_edges ? W / 2 - S / 2 : 0;
    long m = 0;
    for (long t = 0; t < T;) {
        if (w->voiced[t] == 0.0f) {
            t++;
            continue;
        }
        long t1 = t;
        while (t1 < T && w->voiced[t1] != 0.0f)
            t1++;
        long a = t == 0 ? 0 : off + t * S, b = t1 == T ? n : off + t1 * S;
        if (a > n)
            a = n;
        if (b > n)
            b = n;
        if (b > a) {
            memcpy(w->speech + m, x + a, sizeof(float) * (size_t)(b - a));
            m += b - a;
        }
        t = t1;
    }
    *speech = w->speech;
    *n_speech = m;
    if (n_frames)
        *n_frames = (int)T;
    if (n_voiced)
        *n_voiced = nv;
    return CH_OK;
}
