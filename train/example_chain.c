/* example_chain.c — augmentation + features of one training example (example_chain.h). */
#include "train/example_chain.h"

#include <stdlib.h>

#include "infer/kws_stream.h"

#define RATE_HZ 16000

void example_worker_free(example_worker *w)
{
    if (!w)
        return;
    feat_workspace_free(w->ws);
    free(w->in);
    free(w->aug);
    free(w->fit);
    free(w);
}

ch_status example_worker_create(example_worker **out, const example_chain *c, ch_error *err)
{
    *out = NULL;
    example_worker *w = calloc(1, sizeof *w);
    if (!w)
        return ch_fail(err, CH_ERR_NOMEM, "training examples: out of memory");
    w->cap = augment_wave_capacity(c->len, c->aug) + 16;
    w->in = malloc(sizeof(float) * (size_t)c->len);
    w->fit = malloc(sizeof(float) * (size_t)c->len);
    w->aug = malloc(sizeof(float) * (size_t)w->cap);
    ch_status st = CH_OK;
    if (!w->in || !w->fit || !w->aug)
        st = ch_fail(err, CH_ERR_NOMEM, "training examples: out of memory");
    if (st == CH_OK)
        st = feat_workspace_create(c->fc, &w->ws, err);
    if (st != CH_OK) {
        example_worker_free(w);
        return st;
    }
    *out = w;
    return CH_OK;
}

ch_status example_chain_run(const example_chain *c, example_worker *w, rng *r, float *x,
                            ch_error *err)
{
    const float *noise = NULL;
    long n_noise = 0;
    if (c->n_noise > 0) {
        int f = (int)rng_below(r, (uint32_t)c->n_noise);
        noise = c->noise[f];
        n_noise = c->noise_len[f];
    }
    long ny = 0;
    CH_TRY(augment_wave(w->aug, w->cap, &ny, w->in, c->len, RATE_HZ, noise, n_noise, c->aug, r,
                        err));
    kws_fit_clip(w->fit, c->len, w->aug, ny);
    feat_rand fr;
    feat_rand_init(&fr, rng_u32(r) | 1u);
    CH_TRY(feat_compute(c->fc, w->ws, &fr, w->fit, c->len, x, err));
    if (c->cmn)
        kws_cmn(x, c->T, c->F);
    if (c->spec_augment)
        augment_spec_mask(x, c->T, c->F, c->aug, r, NULL, NULL);
    return CH_OK;
}
