/* emu_table.cpp — the CUDA table of the emulated build: only the entries whose .cu files
 * scripts/cuda_emu_check.sh compiles (cuDNN-based layers cannot be emulated this way). */
#include <string.h>

#include "models/backend_cuda.h"

static nn_backend make_table(void)
{
    nn_backend b;
    memset(&b, 0, sizeof b);
    b.name = "cuda-emu";
    b.relu_forward = relu_forward_cuda;
    b.relu_backward = relu_backward_cuda;
    b.linear_forward = linear_forward_cuda;
    b.linear_backward = linear_backward_cuda;
    b.lstm_workspace_floats = lstm_workspace_floats_cuda;
    b.lstm_forward = lstm_forward_cuda;
    b.lstm_backward = lstm_backward_cuda;
    b.attention_pool_workspace_floats = attention_pool_workspace_floats;
    b.attention_pool_forward = attention_pool_forward_cuda;
    b.attention_pool_backward = attention_pool_backward_cuda;
    b.aam_softmax_workspace_floats = aam_softmax_workspace_floats_cuda;
    b.aam_softmax_forward_backward = aam_softmax_forward_backward_cuda;
    b.time_mask = time_mask_cuda;
    b.add_relu_forward = add_relu_forward_cuda;
    return b;
}

static const nn_backend table = make_table();

extern "C" const nn_backend *nn_backend_cuda(void) { return &table; }
