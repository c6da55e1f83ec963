/* kws_densenet.h — the keyword-spotting model, kind "densenet-bilstm": a DenseNet CNN over the
 * (frequency, time) plane, a BiLSTM over time and attention (or mean) pooling, then a linear
 * classifier. Identical to the PyTorch reference bench/kws/ref_model.py (same parameter names,
 * order and layouts, so weights are exchanged without transposes):
 *
 *   x (N, T, F) -> (N, 1, F, T)
 *   stem      conv3x3 1 -> stem-channels, pad 1, no bias
 *   block b   `layers` dense layers: BN -> ReLU -> conv3x3 (c -> growth, pad 1, no bias),
 *             output appended to the block's channels (c += growth)
 *   transition after each block: BN -> ReLU -> conv1x1 (c -> transition-channels, no bias)
 *             -> avgpool (2, 1) on frequency (40 -> 20 -> 10 -> 5 with the defaults)
 *   sequence  (N, T, transition-channels * F_last), feature index c * F_last + f
 *   BiLSTM    lstm-hidden per direction, packed-sequence semantics over lengths
 *   pooling   attention: softmax over valid frames of v . tanh(W h_t + b) (attention-dim);
 *             mean: mean of h over valid frames
 *   dropout   (train only) then linear -> out-dim
 *
 * Padding semantics (those of the reference on the same padded input): the CNN runs over the
 * whole padded (F, T) plane, as PyTorch does, so train-mode batch-norm statistics include the
 * padded frames and a 3x3 receptive field near a sequence's end sees them (zeros in x, batch-norm
 * output after the stem); the BiLSTM never reads frames t >= lengths[n] (packed) and the pooling
 * ignores them. Hence in eval mode sample n's output depends on x[n, t] only for
 * t < lengths[n] + R (R = 1 + blocks * layers, the CNN's time receptive half-width) and never
 * on other samples.
 *
 * Implementation: memory-efficient DenseNet (Pleiss et al. 2017). Each block owns one
 * (N, Ctot, F, T) buffer; every conv writes its channels in place (conv2d out_sn), batch norm
 * reads a channel prefix (sn). The BN -> ReLU outputs are NOT kept: one scratch buffer serves all
 * layers, and backward recomputes them from the saved batch mean / variance. The transition pools
 * before its 1x1 conv (both linear, so they commute; half the FLOPs) and the conv writes straight
 * into the next block's buffer. Activations, saved values and the layer workspaces live in the
 * model's arena, sized by reserve (per N, T and OpenMP thread count), so a step allocates nothing.
 *
 * The model keeps its layer workspaces in its own arena too (ctx->ws is not used), sized at
 * reserve for the OpenMP thread count of that moment; forward / backward never run more threads
 * than that (they lower omp_set_num_threads if the caller raised it without a new reserve).
 * forward(train = 1) with r == NULL skips dropout (tests, benchmarks).
 *
 * Parameter groups, in buffer order: "stem", "block1" .. "blockB" (dense layers + transition),
 * "lstm", "attention" (attention pooling only), "classifier" (last, so fine-tuning can re-make it).
 * Buffers: running mean then running variance of every batch norm, in table order.
 */
#ifndef CHORUS_KWS_DENSENET_H
#define CHORUS_KWS_DENSENET_H

#include "models/model.h"

#define KWS_DENSENET_MAX_BLOCKS 6
#define KWS_DENSENET_MAX_LAYERS 16

typedef struct {
    int stem_channels;       /* 24 */
    int blocks;              /* 3 */
    int layers;              /* 4 per block */
    int growth;              /* 12 */
    int transition_channels; /* 48 */
    int lstm_hidden;         /* 64 per direction */
    int pooling;             /* 0 = attention, 1 = mean */
    int attention_dim;       /* 64 */
    float dropout;           /* 0 (before the linear layer) */
} kws_densenet_options;

kws_densenet_options kws_densenet_options_default(void);

/* The kind's create (called by nn_model_create with m->in_bins (0 = default 40) and m->out_dim
 * set, lines = "key=value\n" lines): fills m->ops, p, buffers, hparams, impl. */
ch_status kws_densenet_create(nn_model *m, const char *lines, rng *init, ch_error *err);

/* ---- streaming (eval mode only; infer/kws_stream.c) ----
 * The CNN is translation-equivariant along time, so a stream's CNN output can be computed once
 * and shared by every window that overlaps it; per window only the head (BiLSTM, pooling,
 * linear) runs. The CNN output at frame t depends on input frames t - R .. t + R (R =
 * kws_densenet_halo) and on zero padding beyond the input's ends. So a chunk computed over
 * frames [a - R, b + R) of a stream gives frames [a, b) exactly as a whole-stream pass would
 * (with a - R clamped to 0: the stream start is zero padding in both). */

/* Whether m is a densenet-bilstm (the other functions below need one). */
int kws_densenet_is(const nn_model *m);
/* R = 1 + blocks * layers: the CNN's time receptive half-width, in frames. */
int kws_densenet_halo(const nn_model *m);
/* Features per frame of the CNN output (transition-channels * bins after pooling). */
int kws_densenet_seq_dim(const nn_model *m);
/* Makes room for head batches of up to n_windows x T_window and CNN chunks of up to T_chunk
 * frames (after setting the thread count, like reserve). */
ch_status kws_densenet_stream_reserve(nn_model *m, nn_ctx *ctx, int n_windows, int T_window,
                                      int T_chunk, ch_error *err);
/* Eval-mode CNN of one sequence x (T, F), T <= T_chunk, zero padded at both ends:
 * seq (T, seq_dim), the sequence the BiLSTM would read. */
void kws_densenet_cnn_forward(nn_model *m, nn_ctx *ctx, const float *x, int T, float *seq);
/* Eval-mode head of N full-length windows: seq (N, T, seq_dim) -> logits out (N, out_dim).
 * N <= n_windows, T <= T_window of the last stream reserve. */
void kws_densenet_head_forward(nn_model *m, nn_ctx *ctx, const float *seq, int N, int T,
                               float *out);
/* Floats per frame of the BiLSTM's input gates: 2 directions x 4 * lstm-hidden. */
int kws_densenet_gates_dim(const nn_model *m);
/* The BiLSTM's input term of T frames of CNN output seq (T, seq_dim), shared by every window
 * that contains the frame: gx (T, 2, 4H) = seq W_ih^T + b_ih + b_hh per direction. */
void kws_densenet_input_gates(nn_model *m, const float *seq, int T, float *gx);
/* kws_densenet_head_forward from input gates: window n's T frames are gx rows n * hop ..
 * n * hop + T - 1 (gx: frames of (2, 4H)). Only the recurrence runs per window. */
void kws_densenet_head_gates_forward(nn_model *m, nn_ctx *ctx, const float *gx, int hop, int N,
                                     int T, float *out);

#endif
