/* feat_window.c — Kaldi's frame window functions (FeatureWindowFunction, KALDI-FEATURES.md §2):
 * computed in double with a = 2 pi / (N - 1), stored as float. */
#include <math.h>

#include "feat_internal.h"

void feat_window_make(int type, float blackman_coeff, int n, float *w)
{
    double a = 2.0 * M_PI / (double)(n - 1);
    for (int i = 0; i < n; i++) {
        double x = (double)i, v;
        switch (type) {
        case FEAT_WIN_HANNING: v = 0.5 - 0.5 * cos(a * x); break;
        case FEAT_WIN_SINE: v = sin(0.5 * a * x); break;
        case FEAT_WIN_HAMMING: v = 0.54 - 0.46 * cos(a * x); break;
        case FEAT_WIN_RECTANGULAR: v = 1.0; break;
        case FEAT_WIN_BLACKMAN:
            v = (double)blackman_coeff - 0.5 * cos(a * x) +
                (0.5 - (double)blackman_coeff) * cos(2.0 * a * x);
            break;
        case FEAT_WIN_POVEY:
        default: v = pow(0.5 - 0.5 * cos(a * x), 0.85); break;
        }
        w[i] = (float)v;
    }
}
