/* backend_cuda.h — the CUDA layer functions (models/<layer>.cu) and the CUDA table. Built only
 * with CUDA.
 *
 * Each <name>_cuda has exactly the signature and the semantics (WRITTEN / ACCUMULATED outputs,
 * NULL options, strides) of the CPU function <name> in models/<layer>.h, with device pointers
 * for every tensor (see cuda_ctx.h "Pointers"). They run asynchronously on the stream of the
 * current context (cuda_ctx_bind); errors are recorded in that context. Differences from the
 * CPU, all deliberate:
 *   - dropout_forward_train_cuda draws one 64-bit seed from r per call and hashes (seed, index)
 *     on the device, so the mask is fixed by the seed but differs from the CPU's mask;
 *   - softmax_ce_forward_backward_cuda and aam_softmax_forward_backward_cuda wait for the
 *     stream to return the loss (so neither can be inside a captured CUDA graph);
 *   - reductions run in a different (fixed) order than the CPU's, so results agree to rounding,
 *     and are deterministic run to run; pooling, ReLU, concat, dropout backward, time_mask and
 *     add_relu_forward are exact.
 */
#ifndef CHORUS_BACKEND_CUDA_H
#define CHORUS_BACKEND_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "models/cuda_ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "common/rng.h"
#include "models/backend.h"
#include "models/optim.h"

/* The CUDA table (static, read-only). Entries without a CUDA version are NULL. */
const nn_backend *nn_backend_cuda(void);

/* conv2d.cu: cuDNN convolution; the plans (descriptors, algorithms, workspace sizes) are cached
 * per shape in the current context (created when first sized or run, freed with the context). */
size_t conv2d_workspace_floats_cuda(const conv2d_dims *d);
void conv2d_forward_cuda(float *out, const float *in, const float *w, const float *b,
                         const conv2d_dims *d, float *ws);
void conv2d_backward_cuda(float *din, float *dw, float *db, const float *dout, const float *in,
                          const float *w, const conv2d_dims *d, float *ws);
void conv2d_cuda_plans_free(cuda_ctx *c);

/* conv1d.cu: conv2d with F = 1, kF = 1. */
size_t conv1d_workspace_floats_cuda(const conv1d_dims *d);
void conv1d_forward_cuda(float *out, const float *in, const float *w, const float *b,
                         const conv1d_dims *d, float *ws);
void conv1d_backward_cuda(float *din, float *dw, float *db, const float *dout, const float *in,
                          const float *w, const conv1d_dims *d, float *ws);

/* batchnorm.cu */
void batchnorm_forward_train_cuda(float *out, float *save_mean, float *save_invstd,
                                  float *running_mean, float *running_var, const float *in,
                                  const float *gamma, const float *beta,
                                  const batchnorm_dims *d);
void batchnorm_forward_eval_cuda(float *out, const float *in, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, const batchnorm_dims *d);
void batchnorm_backward_cuda(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *save_mean, const float *save_invstd,
                             const float *gamma, const batchnorm_dims *d);

/* relu.cu */
void relu_forward_cuda(float *out, const float *in, size_t n);
void relu_backward_cuda(float *din, const float *dout, const float *out, size_t n);

/* pool2d.cu */
void avgpool2d_forward_cuda(float *out, const float *in, const pool2d_dims *d);
void avgpool2d_backward_cuda(float *din, const float *dout, const pool2d_dims *d);
void maxpool2d_forward_cuda(float *out, int32_t *argmax, const float *in, const pool2d_dims *d);
void maxpool2d_backward_cuda(float *din, const float *dout, const int32_t *argmax,
                             const pool2d_dims *d);

/* concat.cu (ins / dins / C: host arrays of device pointers / counts) */
void concat_forward_cuda(float *out, const float *const *ins, const int *C, int k, int N, int S);
void concat_backward_cuda(float *const *dins, const float *dout, const int *C, int k, int N,
                          int S);

/* linear.cu: cuBLAS sgemm */
void linear_forward_cuda(float *out, const float *in, const float *w, const float *b,
                         const linear_dims *d);
void linear_backward_cuda(float *din, float *dw, float *db, const float *dout, const float *in,
                          const float *w, const linear_dims *d);

/* dropout.cu */
void dropout_forward_train_cuda(float *out, float *mask, const float *in, size_t n, float p,
                                rng *r);
void dropout_backward_cuda(float *din, const float *dout, const float *mask, size_t n);

/* time_pool.cu (lengths: device ints or NULL) */
void mean_pool_forward_cuda(float *out, const float *in, const int *lengths,
                            const time_pool_dims *d);
void mean_pool_backward_cuda(float *din, const float *dout, const int *lengths,
                             const time_pool_dims *d);
void stats_pool_forward_cuda(float *out, const float *in, const int *lengths,
                             const time_pool_dims *d);
void stats_pool_backward_cuda(float *din, const float *dout, const float *out, const float *in,
                              const int *lengths, const time_pool_dims *d);

/* softmax_ce.cu (labels: device ints) */
double softmax_ce_forward_backward_cuda(float *dlogits, const float *logits, const int *labels,
                                        const softmax_ce_dims *d);

/* lstm.cu: own kernels + cuBLAS (lengths: device ints; workspace: the CPU's layout and size) */
size_t lstm_workspace_floats_cuda(const lstm_dims *d);
void lstm_forward_cuda(float *y, float *hn, float *cn, float *gates, float *cells, const float *x,
                       const int *lengths, const float *w, const lstm_dims *d, float *ws);
void lstm_backward_cuda(float *dx, float *dw, float *dh0, float *dc0, const float *dy,
                        const float *dhn, const float *dcn, const float *y, const float *gates,
                        const float *cells, const float *x, const int *lengths, const float *w,
                        const lstm_dims *d, float *ws);

/* attention_pool.cu (lengths: device ints; the workspace entry is the CPU's size function) */
void attention_pool_forward_cuda(float *out, float *saved, const float *h, const int *lengths,
                                 const float *w, const attention_pool_dims *d, float *ws);
void attention_pool_backward_cuda(float *dh, float *dw, const float *dout, const float *saved,
                                  const float *h, const int *lengths, const float *w,
                                  const attention_pool_dims *d, float *ws);

/* aam_softmax.cu (labels: device ints; waits for the stream to return the loss, like
 * softmax_ce_forward_backward_cuda; workspace: the CPU's layout and size) */
size_t aam_softmax_workspace_floats_cuda(const aam_dims *d);
double aam_softmax_forward_backward_cuda(float *logits, float *demb, float *dw, const float *emb,
                                         const float *w, const int *labels, const aam_dims *d,
                                         float *ws);

/* time_mask.cu (lengths: device ints or NULL) and resblock.cu (the residual add + ReLU) */
void time_mask_cuda(float *x, const int *lengths, int N, int R, int T);
void add_relu_forward_cuda(float *out, const float *a, const float *b, size_t n);

/* optim.cu: optim.h's semantics on device arrays. The state's moment buffers are device memory:
 * create them with optim_state_init_cuda and release with optim_state_free_cuda (never with
 * optim_state_free). optim_step_cuda is asynchronous; optim_clip_grad_norm_cuda waits (it
 * returns the norm). */
ch_status optim_state_init_cuda(optim_state *st, const optim_options *o, size_t n,
                                ch_error *err);
void optim_state_free_cuda(optim_state *st);
void optim_step_cuda(float *param, optim_state *st, const float *grad, const optim_range *ranges,
                     int n_ranges, const optim_options *o, double lr);
double optim_clip_grad_norm_cuda(float *grad, const optim_range *ranges, int n_ranges,
                                 double max_norm);

#ifdef __cplusplus
}
#endif

#endif
