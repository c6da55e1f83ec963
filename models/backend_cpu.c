/* backend_cpu.c — the CPU backend table: the layer functions of models/<layer>.c. */
#include "models/backend.h"

#include "models/concat.h"
#include "models/conv3x3_direct.h"
#include "models/dropout.h"
#include "models/relu.h"
#include "models/resblock.h"
#include "models/time_mask.h"

static const nn_backend cpu_backend = {
    .name = "cpu",
    .conv2d_workspace_floats = conv2d_workspace_floats,
    .conv2d_forward = conv2d_forward,
    .conv2d_backward = conv2d_backward,
    .conv1d_workspace_floats = conv1d_workspace_floats,
    .conv1d_forward = conv1d_forward,
    .conv1d_backward = conv1d_backward,
    .batchnorm_forward_train = batchnorm_forward_train,
    .batchnorm_forward_eval = batchnorm_forward_eval,
    .batchnorm_backward = batchnorm_backward,
    .relu_forward = relu_forward,
    .relu_backward = relu_backward,
    .avgpool2d_forward = avgpool2d_forward,
    .avgpool2d_backward = avgpool2d_backward,
    .maxpool2d_forward = maxpool2d_forward,
    .maxpool2d_backward = maxpool2d_backward,
    .concat_forward = concat_forward,
    .concat_backward = concat_backward,
    .linear_forward = linear_forward,
    .linear_backward = linear_backward,
    .dropout_forward_train = dropout_forward_train,
    .dropout_backward = dropout_backward,
    .mean_pool_forward = mean_pool_forward,
    .mean_pool_backward = mean_pool_backward,
    .stats_pool_forward = stats_pool_forward,
    .stats_pool_backward = stats_pool_backward,
    .softmax_ce_forward_backward = softmax_ce_forward_backward,
    .lstm_workspace_floats = lstm_workspace_floats,
    .lstm_forward = lstm_forward,
    .lstm_backward = lstm_backward,
    .attention_pool_workspace_floats = attention_pool_workspace_floats,
    .attention_pool_forward = attention_pool_forward,
    .attention_pool_backward = attention_pool_backward,
    .aam_softmax_workspace_floats = aam_softmax_workspace_floats,
    .aam_softmax_forward_backward = aam_softmax_forward_backward,
    .time_mask = time_mask,
    .add_relu_forward = add_relu_forward,
    .conv2d_bnrelu_forward = conv2d_bnrelu_forward,
};

const nn_backend *nn_backend_cpu(void) { return &cpu_backend; }

const char *nn_backend_missing(const nn_backend *be)
{
    /* every member after `name` is a function pointer of the same size */
    static const char *const names[] = {
        "conv2d_workspace_floats", "conv2d_forward", "conv2d_backward",
        "conv1d_workspace_floats", "conv1d_forward", "conv1d_backward",
        "batchnorm_forward_train", "batchnorm_forward_eval", "batchnorm_backward",
        "relu_forward", "relu_backward", "avgpool2d_forward", "avgpool2d_backward",
        "maxpool2d_forward", "maxpool2d_backward", "concat_forward", "concat_backward",
        "linear_forward", "linear_backward", "dropout_forward_train", "dropout_backward",
        "mean_pool_forward", "mean_pool_backward", "stats_pool_forward", "stats_pool_backward",
        "softmax_ce_forward_backward", "lstm_workspace_floats", "lstm_forward", "lstm_backward",
        "attention_pool_workspace_floats", "attention_pool_forward", "attention_pool_backward",
        "aam_softmax_workspace_floats", "aam_softmax_forward_backward", "time_mask",
        "add_relu_forward"};
    const void *fns[] = {
        (const void *)be->conv2d_workspace_floats, (const void *)be->conv2d_forward,
        (const void *)be->conv2d_backward, (const void *)be->conv1d_workspace_floats,
        (const void *)be->conv1d_forward, (const void *)be->conv1d_backward,
        (const void *)be->batchnorm_forward_train, (const void *)be->batchnorm_forward_eval,
        (const void *)be->batchnorm_backward, (const void *)be->relu_forward,
        (const void *)be->relu_backward, (const void *)be->avgpool2d_forward,
        (const void *)be->avgpool2d_backward, (const void *)be->maxpool2d_forward,
        (const void *)be->maxpool2d_backward, (const void *)be->concat_forward,
        (const void *)be->concat_backward, (const void *)be->linear_forward,
        (const void *)be->linear_backward, (const void *)be->dropout_forward_train,
        (const void *)be->dropout_backward, (const void *)be->mean_pool_forward,
        (const void *)be->mean_pool_backward, (const void *)be->stats_pool_forward,
        (const void *)be->stats_pool_backward, (const void *)be->softmax_ce_forward_backward,
        (const void *)be->lstm_workspace_floats, (const void *)be->lstm_forward,
        (const void *)be->lstm_backward, (const void *)be->attention_pool_workspace_floats,
        (const void *)be->attention_pool_forward, (const void *)be->attention_pool_backward,
        (const void *)be->aam_softmax_workspace_floats,
        (const void *)be->aam_softmax_forward_backward, (const void *)be->time_mask,
        (const void *)be->add_relu_forward};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (!fns[i])
            return names[i];
    return NULL;
}
