/* rng.h — a small seedable random number generator (PCG32, O'Neill 2014) passed explicitly to
 * everything random (augmentation, shuffling, init, dropout), so a seed fixes a whole run.
 *
 * Independent streams: rng_seed(&r, seed, stream) with different `stream` values gives
 * statistically independent sequences for the same seed (one per thread, rank, utterance).
 */
#ifndef CHORUS_RNG_H
#define CHORUS_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
    uint64_t inc;
    int has_spare;      /* Box-Muller produces two normals; the second is kept here */
    double spare;
} rng;

void rng_seed(rng *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(rng *r);
uint64_t rng_u64(rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint32_t rng_below(rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
double rng_normal(rng *r);
/* Fisher-Yates shuffle of n ints. */
void rng_shuffle_int(rng *r, int *a, int n);

/* SplitMix64's finaliser: a bijective 64-bit hash, for deriving independent seeds from
 * (seed, epoch, ...) tuples (the loaders' per-example streams). */
uint64_t rng_mix64(uint64_t x);

#endif
