/* backend.h — the backend interface: one table of function pointers per device (ggml-style),
 * chosen once per context, never by #ifdef in callers.
 *
 * Every entry has exactly the signature of the CPU layer function it points to (models/<layer>.h:
 * outputs, saved values, inputs, weights, dims, workspace), so model code is written once
 * against `ctx->be->conv2d_forward(...)`. nn_backend_cpu() returns the CPU table.
 *
 * Extending: add a member at the end (e.g. the LSTM and attention-pooling entries from
 * models/lstm.h, models/attention_pool.h), fill it in backend_cpu.c, and in the CUDA table.
 * CUDA: a later models/backend_cuda.c (built only with CUDA) will return a second table whose
 * entries launch the kernels of models/<layer>.cu on the stream/handles in nn_ctx.device; all
 * pointers passed to it are then device pointers. Members a backend lacks are NULL, and
 * nn_backend_missing names the first one, so a caller can refuse it with a message up front.
 */
#ifndef CHORUS_BACKEND_H
#define CHORUS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "models/batchnorm.h"
#include "models/conv1d.h"
#include "models/conv2d.h"
#include "models/linear.h"
#include "models/pool2d.h"
#include "models/softmax_ce.h"
#include "models/time_pool.h"
#include "models/lstm.h"
#include "models/attention_pool.h"
#include "models/aam_softmax.h"

typedef struct nn_backend {
    const char *name; /* "cpu", "cuda" */

    size_t (*conv2d_workspace_floats)(const conv2d_dims *d);
    void (*conv2d_forward)(float *out, const float *in, const float *w, const float *b,
                           const conv2d_dims *d, float *ws);
    void (*conv2d_backward)(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, const conv2d_dims *d, float *ws);

    size_t (*conv1d_workspace_floats)(const conv1d_dims *d);
    void (*conv1d_forward)(float *out, const float *in, const float *w, const float *b,
                           const conv1d_dims *d, float *ws);
    void (*conv1d_backward)(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, const conv1d_dims *d, float *ws);

    void (*batchnorm_forward_train)(float *out, float *save_mean, float *save_invstd,
                                    float *running_mean, float *running_var, const float *in,
                                    const float *gamma, const float *beta,
                                    const batchnorm_dims *d);
    void (*batchnorm_forward_eval)(float *out, const float *in, const float *gamma,
                                   const float *beta, const float *running_mean,
                                   const float *running_var, const batchnorm_dims *d);
    void (*batchnorm_backward)(float *din, float *dgamma, float *dbeta, const float *dout,
                               const float *in, const float *save_mean,
                               const float *save_invstd, const float *gamma,
                               const batchnorm_dims *d);

    void (*relu_forward)(float *out, const float *in, size_t n);
    void (*relu_backward)(float *din, const float *dout, const float *out, size_t n);

    void (*avgpool2d_forward)(float *out, const float *in, const pool2d_dims *d);
    void (*avgpool2d_backward)(float *din, const float *dout, const pool2d_dims *d);
    void (*maxpool2d_forward)(float *out, int32_t *argmax, const float *in,
                              const pool2d_dims *d);
    void (*maxpool2d_backward)(float *din, const float *dout, const int32_t *argmax,
                               const pool2d_dims *d);

    void (*concat_forward)(float *out, const float *const *ins, const int *C, int k, int N,
                           int S);
    void (*concat_backward)(float *const *dins, const float *dout, const int *C, int k, int N,
                            int S);

    void (*linear_forward)(float *out, const float *in, const float *w, const float *b,
                           const linear_dims *d);
    void (*linear_backward)(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, const linear_dims *d);

    void (*dropout_forward_train)(float *out, float *mask, const float *in, size_t n, float p,
                                  rng *r);
    void (*dropout_backward)(float *din, const float *dout, const float *mask, size_t n);

    void (*mean_pool_forward)(float *out, const float *in, const int *lengths,
                              const time_pool_dims *d);
    void (*mean_pool_backward)(float *din, const float *dout, const int *lengths,
                               const time_pool_dims *d);
    void (*stats_pool_forward)(float *out, const float *in, const int *lengths,
                               const time_pool_dims *d);
    void (*stats_pool_backward)(float *din, const float *dout, const float *out,
                                const float *in, const int *lengths, const time_pool_dims *d);

    double (*softmax_ce_forward_backward)(float *dlogits, const float *logits,
                                          const int *labels, const softmax_ce_dims *d);

    size_t (*lstm_workspace_floats)(const lstm_dims *d);
    void (*lstm_forward)(float *y, float *hn, float *cn, float *gates, float *cells,
                         const float *x, const int *lengths, const float *w, const lstm_dims *d,
                         float *ws);
    void (*lstm_backward)(float *dx, float *dw, float *dh0, float *dc0, const float *dy,
                          const float *dhn, const float *dcn, const float *y, const float *gates,
                          const float *cells, const float *x, const int *lengths,
                          const float *w, const lstm_dims *d, float *ws);

    size_t (*attention_pool_workspace_floats)(const attention_pool_dims *d);
    void (*attention_pool_forward)(float *out, float *saved, const float *h, const int *lengths,
                                   const float *w, const attention_pool_dims *d, float *ws);
    void (*attention_pool_backward)(float *dh, float *dw, const float *dout, const float *saved,
                                    const float *h, const int *lengths, const float *w,
                                    const attention_pool_dims *d, float *ws);

    /* speaker models (models/aam_softmax.h, time_mask.h, resblock.h) */
    size_t (*aam_softmax_workspace_floats)(const aam_dims *d);
    double (*aam_softmax_forward_backward)(float *logits, float *demb, float *dw,
                                           const float *emb, const float *w, const int *labels,
                                           const aam_dims *d, float *ws);
    void (*time_mask)(float *x, const int *lengths, int N, int R, int T);
    void (*add_relu_forward)(float *out, const float *a, const float *b, size_t n);

    /* OPTIONAL (may be NULL; not reported by nn_backend_missing): eval-mode BN -> ReLU -> 3x3
     * conv fused (models/conv3x3_direct.h), only for shapes with conv3x3_direct_ok(d). Without
     * it callers run batchnorm_forward_eval, relu_forward and conv2d_forward. */
    void (*conv2d_bnrelu_forward)(float *out, const float *in, const float *scale,
                                  const float *shift, const float *w, const float *b,
                                  const conv2d_dims *d, float *ws);
    /* new entries go here */
} nn_backend;

/* Per-run context passed explicitly to model code: the backend, the thread count (the caller
 * sets OpenMP's with omp_set_num_threads before sizing workspaces), and the device handles
 * (NULL on the CPU; CUDA stream, cuBLAS/cuDNN handles later). Owned by the caller. */
struct nn_grad_notify; /* models/model.h */
typedef struct {
    const nn_backend *be;
    int threads;
    float *ws;        /* workspace, ws_floats long (the max over layers of *_workspace_floats) */
    size_t ws_floats;
    void *device;
    /* NULL, or who wants to hear when backward has finished parts of the gradient (a sync
     * all-reduce that starts on them while backward goes on; models/model.h) */
    struct nn_grad_notify *grad_notify;
} nn_ctx;

/* The CPU table (static, read-only). */
const nn_backend *nn_backend_cpu(void);

/* Name of the first NULL entry of be, or NULL when the table is complete. */
const char *nn_backend_missing(const nn_backend *be);

#endif
