/* cmvn.c — per-utterance and sliding-window CMVN (KALDI-FEATURES.md §9), sums in double. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cmvn.h"

cmvn_options cmvn_options_default(void)
{
    cmvn_options o = {600, 100, false, false};
    return o;
}

const opt_desc cmvn_opts[] = {
    OPT_INT(cmvn_options, cmn_window, "cmn-window", 1, 1000000,
            "Sliding CMVN: window in frames"),
    OPT_INT(cmvn_options, min_cmn_window, "min-cmn-window", 1, 1000000,
            "Sliding CMVN: minimum window at the start (only without --center)"),
    OPT_BOOL(cmvn_options, norm_vars, "norm-vars", "CMVN: also normalise the variance"),
    OPT_BOOL(cmvn_options, center, "center",
             "Sliding CMVN: centre the window on the frame (false: frame and past frames)"),
};
const size_t cmvn_n_opts = OPT_COUNT(cmvn_opts);

ch_status cmvn_apply_utt(float *x, int T, int D, bool norm_vars, int *n_floored, ch_error *err)
{
    if (n_floored)
        *n_floored = 0;
    if (T <= 0 || D <= 0)
        return CH_OK;
    double *sum = ch_calloc(err, 2 * (size_t)D, sizeof(double), "CMVN statistics");
    if (!sum)
        return CH_ERR_NOMEM;
    double *sq = sum + D;
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++) {
            double v = x[(size_t)t * D + d];
            sum[d] += v;
            sq[d] += v * v;
        }
    for (int d = 0; d < D; d++) {
        double mean = sum[d] / T, scale = 1.0;
        if (norm_vars) {
            double var = sq[d] / T - mean * mean;
            if (var < 1e-10) {
                var = 1e-10;
                if (n_floored)
                    (*n_floored)++;
            }
            scale = 1.0 / sqrt(var);
        }
        sum[d] = mean;
        sq[d] = scale;
    }
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++) {
            float *v = &x[(size_t)t * D + d];
            *v = (float)(((double)*v - sum[d]) * sq[d]);
        }
    free(sum);
    return CH_OK;
}

ch_status cmvn_apply_sliding(const cmvn_options *o, const float *in, float *out, int T, int D,
                             int *n_floored, ch_error *err)
{
    if (n_floored)
        *n_floored = 0;
    if (o->cmn_window < 1 || o->min_cmn_window < 1)
        return ch_fail(err, CH_ERR_USAGE, "--cmn-window/--min-cmn-window: must be >= 1");
    if (T <= 0 || D <= 0)
        return CH_OK;
    double *sum = ch_calloc(err, 3 * (size_t)D, sizeof(double), "sliding CMVN");
    if (!sum)
        return CH_ERR_NOMEM;
    double *sq = sum + D, *var = sum + 2 * D;
    int last_start = -1, last_end = -1;
    for (int t = 0; t < T; t++) {
        int start, end;
        if (o->center) {
            start = t - o->cmn_window / 2;
            end = start + o->cmn_window;
        } else {
            start = t - o->cmn_window;
            end = t + 1;
        }
        if (start < 0) {
            end -= start;
            start = 0;
        }
        if (!o->center && end > t)
            end = t + 1 > o->min_cmn_window ? t + 1 : o->min_cmn_window;
        if (end > T) {
            start -= end - T;
            end = T;
            if (start < 0)
                start = 0;
        }
        if (last_start < 0) {
            for (int s = start; s < end; s++)
                for (int d = 0; d < D; d++) {
                    double v = in[(size_t)s * D + d];
                    sum[d] += v;
                    sq[d] += v * v;
                }
        } else {
            /* the window moves by at most one frame at each end per step */
            if (start > last_start)
                for (int d = 0; d < D; d++) {
                    double v = in[(size_t)last_start * D + d];
                    sum[d] -= v;
                    sq[d] -= v * v;
                }
            if (end > last_end)
                for (int d = 0; d < D; d++) {
                    double v = in[(size_t)last_end * D + d];
                    sum[d] += v;
                    sq[d] += v * v;
                }
        }
        last_start = start;
        last_end = end;
        int n = end - start;
        const float *x = in + (size_t)t * D;
        float *y = out + (size_t)t * D;
        if (!o->norm_vars) {
            for (int d = 0; d < D; d++)
                y[d] = (float)((double)x[d] - sum[d] / n);
            continue;
        }
        if (n == 1) {
            memset(y, 0, sizeof(float) * (size_t)D);
            continue;
        }
        int floored = 0;
        for (int d = 0; d < D; d++) {
            var[d] = sq[d] / n - sum[d] * sum[d] / ((double)n * n);
            if (var[d] < 1e-10) {
                var[d] = 1e-10;
                floored = 1;
            }
            y[d] = (float)(((double)x[d] - sum[d] / n) * pow(var[d], -0.5));
        }
        if (floored && n_floored)
            (*n_floored)++;
    }
    free(sum);
    return CH_OK;
}
