/* softmax_ce.c — softmax cross-entropy with label smoothing (see softmax_ce.h). */
#include "models/softmax_ce.h"

#include <math.h>
#include <stddef.h>

double softmax_ce_forward_backward(float *dlogits, const float *logits, const int *labels,
                                   const softmax_ce_dims *d)
{
    /* dlogits, logits: (N, K); labels: (N) */
    const int K = d->K;
    const double eps = d->smoothing;
    double total = 0.0;
    for (int n = 0; n < d->N; n++) {
        const float *z = logits + (size_t)n * K;
        double mx = z[0];
        for (int k = 1; k < K; k++)
            mx = z[k] > mx ? z[k] : mx;
        double se = 0.0, sz = 0.0;
        for (int k = 0; k < K; k++) {
            se += exp(z[k] - mx);
            sz += z[k] - mx;
        }
        double lse = log(se); /* log p_k = z_k - mx - lse */
        double nll = -(z[labels[n]] - mx - lse);
        double smooth = -(sz / K - lse);
        total += (1.0 - eps) * nll + eps * smooth;
        if (dlogits) {
            float *g = dlogits + (size_t)n * K;
            for (int k = 0; k < K; k++) {
                double p = exp(z[k] - mx - lse);
                double q = eps / K + (k == labels[n] ? 1.0 - eps : 0.0);
                g[k] = (float)((p - q) / d->N);
            }
        }
    }
    return total / d->N;
}
