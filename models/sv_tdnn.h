/* sv_tdnn.h — the x-vector-style speaker-embedding model, kind "tdnn" (Snyder et al. 2018;
 * WeSpeaker's XVEC), identical to the PyTorch reference bench/sv/ref_models.py (TDNN: same
 * parameter names, order and layouts):
 *
 *   x (N, T, F) -> (N, F, T)
 *   frame1..frame5  conv1d (bias) -> ReLU -> batch norm; kernel 5/3/3/1/1, dilation 1/2/3/1/1,
 *                   zero "same" padding (dil * (k - 1) / 2), widths channels x 4 then
 *                   stats-channels
 *   pooling         statistics over valid frames: [mean, sqrt(unbiased var + 1e-7)] (N, 2S)
 *   embedding       linear 2S -> out-dim (the embedding; the AAM head is separate)
 *
 * Padding semantics: input frames past a length are zeroed on entry (whatever they held);
 * then the outputs of frame1 and frame2 (which feed the dilated kernels) have their
 * padded frames zeroed (models/time_mask.h), so in eval mode an utterance's embedding equals
 * that of the utterance alone, unpadded. Train-mode batch statistics run over the whole padded
 * (N, T) plane (the reference does the same); the trainer feeds equal-length chunks anyway.
 * "same" padding (not the x-vector's valid convolutions) keeps every length >= 1 valid.
 *
 * Defaults (channels 384, stats-channels 768, out-dim 256, F = 80): 1.88 M parameters and
 * 0.59 GFLOP forward per 2-s sample, beside resnet's 1.99 M and 2.27 GFLOP.
 * Parameter groups, in buffer order: "frame1" .. "frame5", "embedding". Buffers: running mean
 * then running variance of frame1.bn .. frame5.bn (pairs, in order).
 * Activations, saved values and conv workspaces live in the model's arena sized by reserve;
 * the nn_ctx workspace is not used.
 */
#ifndef CHORUS_SV_TDNN_H
#define CHORUS_SV_TDNN_H

#include "models/model.h"

typedef struct {
    int channels;       /* frame1..frame4 width (x-vector: 512) */
    int stats_channels; /* frame5 width (x-vector: 1500) */
} sv_tdnn_options;

sv_tdnn_options sv_tdnn_options_default(void);

/* The kind's create (called by nn_model_create with m->in_bins (0 = default 80) and m->out_dim
 * set, lines = "key=value\n" lines): fills m->ops, p, buffers, hparams, impl. */
ch_status sv_tdnn_create(nn_model *m, const char *lines, rng *init, ch_error *err);

#endif
