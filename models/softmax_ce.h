/* softmax_ce.h — softmax cross-entropy with label smoothing, mean over the batch, exactly
 * torch.nn.functional.cross_entropy(logits, labels, label_smoothing=eps):
 *   loss_n = (1 - eps) * (-log p[n, y_n]) + eps * mean_k (-log p[n, k]),  loss = mean_n loss_n
 * and its gradient dlogits = (softmax - q) / N with q = (1 - eps) onehot(y) + eps / K.
 * Log-softmax via max subtraction; sums in double.
 */
#ifndef CHORUS_SOFTMAX_CE_H
#define CHORUS_SOFTMAX_CE_H

typedef struct {
    int N, K;        /* batch, classes */
    float smoothing; /* eps in [0, 1) */
} softmax_ce_dims;

/* Returns the mean loss; dlogits: (N, K) WRITTEN (gradient of the mean loss) or NULL;
 * logits: (N, K); labels: (N) in [0, K). */
double softmax_ce_forward_backward(float *dlogits, const float *logits, const int *labels,
                                   const softmax_ce_dims *d);

#endif
