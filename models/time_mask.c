/* time_mask.c — padded-frame masking (see time_mask.h). */
#include "models/time_mask.h"

#include <stddef.h>
#include <string.h>

void time_mask(float *x, const int *lengths, int N, int R, int T)
{
    /* x: (N, R, T) */
    if (!lengths)
        return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int L = lengths[n] < T ? lengths[n] : T;
        if (L >= T)
            continue;
        for (int r = 0; r < R; r++)
            memset(x + ((size_t)n * R + r) * T + L, 0, sizeof(float) * (size_t)(T - L));
    }
}

void time_lengths_conv(int *out, const int *in, int N, int k, int s, int p)
{
    for (int n = 0; n < N; n++) {
        int L = (in[n] + 2 * p - k) / s + 1;
        out[n] = L < 1 ? 1 : L;
    }
}
