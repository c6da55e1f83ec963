/* feat_rand.c — glibc rand()/srand()/rand_r() re-implemented with explicit state, and Kaldi's
 * RandGauss on top, so Kaldi's default dither (KALDI-FEATURES.md §3) is reproduced bit for bit
 * without touching libc's global rand() state.
 *
 * rand(): glibc's TYPE_3 additive feedback generator (random_r.c): r[i] = r[i-3] + r[i-31]
 * (mod 2^32), output r >> 1; srand(s) fills 31 words with 16807 * x mod (2^31 - 1) (Schrage)
 * and discards 310 outputs. rand_r(): glibc's three-step LCG giving 31 bits.
 */
#include <math.h>

#include "features.h"

void feat_rand_init(feat_rand *s, unsigned seed)
{
    if (seed == 0)
        seed = 1;
    int32_t word = (int32_t)seed;
    s->tbl[0] = word;
    for (int i = 1; i < 31; i++) {
        /* 16807 * word % 2147483647 without overflow (Schrage), as glibc srandom_r */
        long hi = word / 127773, lo = word % 127773;
        long w = 16807 * lo - 2836 * hi;
        if (w < 0)
            w += 2147483647;
        word = (int32_t)w;
        s->tbl[i] = word;
    }
    s->f = 3;
    s->r = 0;
    for (int i = 0; i < 310; i++)
        (void)feat_rand_next(s);
}

int32_t feat_rand_next(feat_rand *s)
{
    uint32_t v = (uint32_t)s->tbl[s->f] + (uint32_t)s->tbl[s->r];
    s->tbl[s->f] = (int32_t)v;
    if (++s->f >= 31)
        s->f = 0;
    if (++s->r >= 31)
        s->r = 0;
    return (int32_t)(v >> 1);
}

void feat_rand_skip(feat_rand *s, long n)
{
    for (long i = 0; i < n; i++)
        (void)feat_rand_next(s);
}

int32_t feat_rand_r(unsigned *seed)
{
    unsigned next = *seed;
    int result;
    next *= 1103515245;
    next += 12345;
    result = (unsigned)(next / 65536) % 2048;
    next *= 1103515245;
    next += 12345;
    result <<= 10;
    result ^= (unsigned)(next / 65536) % 1024;
    next *= 1103515245;
    next += 12345;
    result <<= 10;
    result ^= (unsigned)(next / 65536) % 1024;
    *seed = next;
    return result;
}

/* Kaldi RandUniform: float((rand_r + 1.0) / (RAND_MAX + 2.0)), RAND_MAX = 2^31 - 1. */
static float rand_uniform(unsigned *seed)
{
    return (float)(((double)feat_rand_r(seed) + 1.0) / (2147483647.0 + 2.0));
}

float feat_rand_gauss(unsigned *seed)
{
    /* u1 before u2: the order GCC-built Kaldi evaluates them in (§3). */
    float u1 = rand_uniform(seed);
    float u2 = rand_uniform(seed);
    float a = sqrtf(-2.0f * logf(u1));
    float b = cosf((float)(2.0 * M_PI * (double)u2));
    return a * b;
}
