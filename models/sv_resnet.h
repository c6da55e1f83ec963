/* sv_resnet.h — the thin ResNet speaker-embedding model, kind "resnet" (WeSpeaker's ResNet34
 * with a quarter of its width), identical to the PyTorch reference bench/sv/ref_models.py
 * (ResNet: same parameter names, order and layouts):
 *
 *   x (N, T, F) -> (N, 1, F, T)
 *   stem     conv3x3 1 -> channels, pad 1, no bias -> BN -> ReLU
 *   layer s  s = 1..4: blocks<s> basic blocks (models/resblock.h) of channels * 2^(s-1);
 *            the first block of layers 2..4 has stride 2 on both axes (80 bins -> 40 -> 20
 *            -> 10, T -> ceil(T/2) each time) and a 1x1 projection shortcut
 *   pooling  statistics over valid frames of the (N, C4 * F4, T4) map: [mean, sqrt(unbiased
 *            var + 1e-7)], feature index c * F4 + f
 *   embedding linear 2 * C4 * F4 -> out-dim
 *
 * Padding semantics: input frames past a length are zeroed on entry (whatever they held);
 * then every activation that feeds a 3x3 conv (stem output, each block's inner
 * and outer ReLU outputs) has its frames t >= the layer's length zeroed (models/time_mask.h);
 * lengths follow the convolutions (ceil(L / 2) per stride-2 layer). So in eval mode an
 * utterance's embedding equals that of the utterance alone, unpadded. Train-mode batch
 * statistics include the (zeroed) padded positions, as in the reference.
 *
 * Defaults (channels 16, blocks 3/4/6/3, out-dim 256, F = 80): 1.99 M parameters and 2.27 GFLOP
 * forward per 2-s sample (3.8x tdnn's for 6% more parameters: the convolutions reuse each
 * weight at every (F', T') position, tdnn's only at every frame).
 * Parameter groups, in buffer order: "stem", "layer1" .. "layer4", "embedding". Buffers:
 * running mean then running variance of every batch norm (pairs, in parameter-table order).
 * Activations, saved values and conv workspaces live in the model's arena sized by reserve;
 * the nn_ctx workspace is not used.
 */
#ifndef CHORUS_SV_RESNET_H
#define CHORUS_SV_RESNET_H

#include "models/model.h"

#define SV_RESNET_MAX_BLOCKS 16 /* per layer */

typedef struct {
    int channels;  /* stem and layer1 width; layer s has channels * 2^(s-1) */
    int blocks[4]; /* basic blocks per layer (ResNet34: 3, 4, 6, 3) */
} sv_resnet_options;

sv_resnet_options sv_resnet_options_default(void);

/* The kind's create (called by nn_model_create with m->in_bins (0 = default 80) and m->out_dim
 * set, lines = "key=value\n" lines): fills m->ops, p, buffers, hparams, impl. */
ch_status sv_resnet_create(nn_model *m, const char *lines, rng *init, ch_error *err);

#endif
