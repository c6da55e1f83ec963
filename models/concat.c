/* concat.c — channel concatenation and split (see concat.h). */
#include "models/concat.h"

#include <string.h>

void concat_forward(float *out, const float *const *ins, const int *C, int k, int N, int S)
{
    /* out: (N, Ctot, S); ins[i]: (N, C[i], S) */
    int Ct = 0;
    for (int i = 0; i < k; i++)
        Ct += C[i];
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * Ct * S;
        for (int i = 0; i < k; i++) {
            size_t m = (size_t)C[i] * S;
            memcpy(o, ins[i] + n * m, sizeof(float) * m);
            o += m;
        }
    }
}

void concat_backward(float *const *dins, const float *dout, const int *C, int k, int N, int S)
{
    /* dins[i]: (N, C[i], S); dout: (N, Ctot, S) */
    int Ct = 0;
    for (int i = 0; i < k; i++)
        Ct += C[i];
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * Ct * S;
        for (int i = 0; i < k; i++) {
            size_t m = (size_t)C[i] * S;
            if (dins[i])
                memcpy(dins[i] + n * m, g, sizeof(float) * m);
            g += m;
        }
    }
}

void concat_add_prefix(float *dst, int Cd, const float *src, int Cs, int N, int S)
{
    /* dst: (N, Cd, S); src: (N, Cs, S) */
    for (int n = 0; n < N; n++) {
        float *a = dst + (size_t)n * Cd * S;
        const float *b = src + (size_t)n * Cs * S;
        for (size_t i = 0; i < (size_t)Cd * S; i++)
            a[i] += b[i];
    }
}
