/* attention_pool.h — additive (feed-forward) attention pooling over time, masked by lengths.
 *
 * The standard KWS/utterance pooling of Raffel & Ellis 2016 ("feed-forward attention") as used
 * after recurrent layers in keyword spotting:
 *   u_t   = tanh(W h_t + b)                  W: (A, Dm), b: (A)
 *   e_t   = v . u_t                          v: (A)
 *   alpha = softmax(e) over the valid frames t < lengths[n] (padded frames get weight 0)
 *   out   = sum_t alpha_t h_t
 * Flat parameter block (attention_pool_param_floats): W (A, Dm), b (A), v (A), in that order
 * (= torch Linear(Dm, A).weight, .bias, then Linear(A, 1, bias=False).weight).
 * A sequence with lengths[n] == 0 gives out = 0 and zero gradients.
 *
 * No allocation, no hidden state; BLAS for the projections, OpenMP over the batch.
 */
#ifndef CHORUS_ATTENTION_POOL_H
#define CHORUS_ATTENTION_POOL_H

#include <stddef.h>

typedef struct {
    int N;  /* batch */
    int T;  /* padded frames */
    int Dm; /* feature size of h */
    int A;  /* attention size */
} attention_pool_dims;

size_t attention_pool_param_floats(const attention_pool_dims *d);
/* Saved floats: u (N, T, A) then alpha (N, T). */
size_t attention_pool_saved_floats(const attention_pool_dims *d);
size_t attention_pool_workspace_floats(const attention_pool_dims *d);

/* out: (N, Dm) written; saved: u (N, T, A) and alpha (N, T) written; h: (N, T, Dm);
 * lengths: (N); w: flat parameters. */
void attention_pool_forward(float *out, float *saved, const float *h, const int *lengths,
                            const float *w, const attention_pool_dims *d, float *ws);

/* dh: (N, T, Dm) WRITTEN (=), zero at padded frames; may be NULL. dw: flat parameter gradient,
 * ACCUMULATED (+=). dout: (N, Dm). saved, h, lengths, w: as given to / written by forward. */
void attention_pool_backward(float *dh, float *dw, const float *dout, const float *saved,
                             const float *h, const int *lengths, const float *w,
                             const attention_pool_dims *d, float *ws);

#endif
