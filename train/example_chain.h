/* example_chain.h — the per-example augmentation and feature chain both trainers run on a
 * waveform (kws-train's clips, sv-train's chunks), with its per-thread scratch:
 *
 *   in (len samples) -> augment_wave (speed, gain, shift, noise at an SNR from a random noise
 *   signal) -> centred back to len samples -> fbank (Kaldi dither drawn from the example's
 *   rng) -> per-bin mean subtraction over the frames (optional) -> SpecAugment masks (optional)
 *
 * Every draw comes from the caller's rng, in that order, so an example is a pure function of
 * the rng's seed (the loaders seed it from (seed, epoch, index)).
 */
#ifndef CHORUS_EXAMPLE_CHAIN_H
#define CHORUS_EXAMPLE_CHAIN_H

#include <stdbool.h>

#include "common/rng.h"
#include "common/status.h"
#include "frontend/augment.h"
#include "frontend/features.h"

/* What the chain does (borrowed pointers; the dataset owns them). */
typedef struct {
    const feat_computer *fc;
    const augment_options *aug;
    float *const *noise;       /* n_noise signals (may be 0) */
    const long *noise_len;
    int n_noise;
    int len;                   /* samples in and out of the waveform part */
    int T, F;                  /* frames and bins of len samples */
    bool cmn;
    bool spec_augment;
} example_chain;

/* Per-thread scratch: `in` is where the caller puts the len input samples. */
typedef struct {
    float *in;
    float *aug;
    long cap;
    float *fit;
    feat_workspace *ws;
} example_worker;

ch_status example_worker_create(example_worker **out, const example_chain *c, ch_error *err);
void example_worker_free(example_worker *w);

/* Runs the chain on w->in into x (T, F), drawing from r. */
ch_status example_chain_run(const example_chain *c, example_worker *w, rng *r, float *x,
                            ch_error *err);

#endif
