/* vad.c — Kaldi's energy VAD (ComputeVadEnergy, KALDI-FEATURES.md §8), in Kaldi's float
 * arithmetic (the mean is summed in double, as VectorBase::Sum does). */
#include <stddef.h>

#include "vad.h"

vad_options vad_options_default(void)
{
    vad_options o = {5.0f, 0.5f, 0, 0.6f};
    return o;
}

const opt_desc vad_opts[] = {
    OPT_FLOAT(vad_options, energy_threshold, "vad-energy-threshold", -1e6, 1e6,
              "VAD: constant part of the log-energy threshold"),
    OPT_FLOAT(vad_options, energy_mean_scale, "vad-energy-mean-scale", 0, 1e6,
              "VAD: add this times the mean log-energy to the threshold (0 = no mean term)"),
    OPT_INT(vad_options, frames_context, "vad-frames-context", 0, 100000,
            "VAD: frames of context on each side"),
    OPT_FLOAT(vad_options, proportion_threshold, "vad-proportion-threshold", 0, 1,
              "VAD: proportion of context frames that must be above the threshold"),
};
const size_t vad_n_opts = OPT_COUNT(vad_opts);

ch_status vad_compute(const vad_options *o, const float *feats, int T, int D, float *voiced,
                      int *n_voiced, ch_error *err)
{
    if (n_voiced)
        *n_voiced = 0;
    if (T <= 0 || D <= 0)
        return ch_fail(err, CH_ERR_FORMAT, "vad: empty features");
    if (o->energy_mean_scale < 0 || o->frames_context < 0)
        return ch_fail(err, CH_ERR_USAGE, "vad: negative --vad-energy-mean-scale or context");
    float thr = o->energy_threshold;
    if (o->energy_mean_scale != 0.0f) {
        double s = 0.0;
        for (int t = 0; t < T; t++)
            s += feats[(size_t)t * D];
        thr += o->energy_mean_scale * (float)s / (float)T;
    }
    int count = 0;
    for (int t = 0; t < T; t++) {
        int lo = t - o->frames_context, hi = t + o->frames_context;
        if (lo < 0)
            lo = 0;
        if (hi > T - 1)
            hi = T - 1;
        int num = 0, den = hi - lo + 1;
        for (int s = lo; s <= hi; s++)
            num += feats[(size_t)s * D] > thr;
        int v = (float)num >= (float)den * o->proportion_threshold;
        voiced[t] = v ? 1.0f : 0.0f;
        count += v;
    }
    if (n_voiced)
        *n_voiced = count;
    return CH_OK;
}
