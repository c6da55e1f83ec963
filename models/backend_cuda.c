/* backend_cuda.c — the CUDA backend table: the <layer>_cuda functions of models/<layer>.cu.
 * Built only with CUDA. Entries without a CUDA version yet (as they are appended to nn_backend)
 * stay NULL; nn_backend_missing names the first, so a model can refuse --device cuda up front
 * instead of crashing mid-step. The OPTIONAL conv2d_bnrelu_forward is NULL here: callers then
 * run batchnorm_forward_eval, relu_forward and conv2d_forward. */
#include "models/backend_cuda.h"

static const nn_backend cuda_backend = {
    .name = "cuda",
    .conv2d_workspace_floats = conv2d_workspace_floats_cuda,
    .conv2d_forward = conv2d_forward_cuda,
    .conv2d_backward = conv2d_backward_cuda,
    .conv1d_workspace_floats = conv1d_workspace_floats_cuda,
    .conv1d_forward = conv1d_forward_cuda,
    .conv1d_backward = conv1d_backward_cuda,
    .batchnorm_forward_train = batchnorm_forward_train_cuda,
    .batchnorm_forward_eval = batchnorm_forward_eval_cuda,
    .batchnorm_backward = batchnorm_backward_cuda,
    .relu_forward = relu_forward_cuda,
    .relu_backward = relu_backward_cuda,
    .avgpool2d_forward = avgpool2d_forward_cuda,
    .avgpool2d_backward = avgpool2d_backward_cuda,
    .maxpool2d_forward = maxpool2d_forward_cuda,
    .maxpool2d_backward = maxpool2d_backward_cuda,
    .concat_forward = concat_forward_cuda,
    .concat_backward = concat_backward_cuda,
    .linear_forward = linear_forward_cuda,
    .linear_backward = linear_backward_cuda,
    .dropout_forward_train = dropout_forward_train_cuda,
    .dropout_backward = dropout_backward_cuda,
    .mean_pool_forward = mean_pool_forward_cuda,
    .mean_pool_backward = mean_pool_backward_cuda,
    .stats_pool_forward = stats_pool_forward_cuda,
    .stats_pool_backward = stats_pool_backward_cuda,
    .softmax_ce_forward_backward = softmax_ce_forward_backward_cuda,
    .lstm_workspace_floats = lstm_workspace_floats_cuda,
    .lstm_forward = lstm_forward_cuda,
    .lstm_backward = lstm_backward_cuda,
    /* a host-side size computation: the CUDA kernels use the CPU's workspace layout */
    .attention_pool_workspace_floats = attention_pool_workspace_floats,
    .attention_pool_forward = attention_pool_forward_cuda,
    .attention_pool_backward = attention_pool_backward_cuda,
    .aam_softmax_workspace_floats = aam_softmax_workspace_floats_cuda,
    .aam_softmax_forward_backward = aam_softmax_forward_backward_cuda,
    .time_mask = time_mask_cuda,
    .add_relu_forward = add_relu_forward_cuda,
};

const nn_backend *nn_backend_cuda(void) { return &cuda_backend; }
