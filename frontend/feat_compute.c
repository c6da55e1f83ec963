/* feat_compute.c — the feature computer: Kaldi's framing, dither, DC removal, raw energy,
 * pre-emphasis, window, FFT power spectrum, then fbank / MFCC / spectrogram
 * (KALDI-FEATURES.md §2-7), with everything that does not depend on the signal precomputed.
 *
 * Speed: the frame pipeline is three fused passes over the 400 samples (copy+dither,
 * DC+energy, pre-emphasis*window) that GCC vectorises, one FFTW r2c (plan made once with
 * FFTW_MEASURE, executed with the new-array API from any thread), a power pass, sparse mel dot
 * products and a branch-free vectorised log (feat_internal.h). Nothing is allocated per frame.
 * Long signals: the input is prefetched one block ahead into L1 and eight into L2, and outputs
 * of 4 MB or more leave through streaming stores (no write-allocate reads).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE__)
#include <immintrin.h>
#endif

#include <fftw3.h>

#include "feat_internal.h"

struct feat_computer {
    feat_options o;
    int L;           /* window length in samples (400) */
    int S;           /* shift in samples (160) */
    int N;           /* padded FFT size (512) */
    int nfreq;       /* N/2 + 1 */
    int dim;
    int nbins;       /* mel bins (0 for the spectrogram) */
    float *window;   /* (L) */
    mel_banks mb;
    float *dct;      /* (num_ceps, nbins) row-major: orthonormal DCT-II rows */
    float *lifter;   /* (num_ceps) */
    float log_energy_floor;
    bool need_raw_energy;
    bool own_fft;    /* N is a power of two: feat_fft over FEAT_LANES frames; else FFTW */
    feat_fft fft;
    fftwf_plan plan; /* FFTW fallback, per frame */
};

/* Scratch for one thread. "Vertical" buffers hold FEAT_LANES frames: element i of frame l at
 * [i * FEAT_LANES + l]. */
struct feat_workspace {
    int L, N, nbins, nceps;
    float *tmp;           /* (L) a frame built by edge reflection */
    float *fv;            /* (N, LANES) the block's frames: samples, then windowed + padding */
    float *frame;         /* (N) fftwf_malloc'ed: one lane's frame for the FFTW fallback */
    fftwf_complex *spec;  /* (N/2+1) fftwf_malloc'ed, FFTW fallback */
    float *zr, *zi;       /* (N/2, LANES) FFT input/scratch */
    float *power;         /* (N/2+1, LANES) */
    float *mel;           /* (nbins, LANES) */
    float *ceps;          /* (num_ceps, LANES) */
    float *rows;          /* (LANES, dim) a block's output rows, before a streaming copy out */
    float energy[FEAT_LANES];
};

void feat_computer_free(feat_computer *c)
{
    if (!c)
        return;
    if (c->plan)
        fftwf_destroy_plan(c->plan);
    feat_fft_free(&c->fft);
    free(c->window);
    mel_banks_free(&c->mb);
    free(c->dct);
    free(c->lifter);
    free(c);
}

ch_status feat_computer_create(const feat_options *o, feat_computer **out, ch_error *err)
{
    *out = NULL;
    CH_TRY(feat_options_check(o, err));
    feat_computer *c = ch_calloc(err, 1, sizeof *c, "feature computer");
    if (!c)
        return CH_ERR_NOMEM;
    c->o = *o;
    c->L = (int)((double)o->samp_freq_hz * 0.001 * (double)o->frame_length_ms);
    c->S = (int)((double)o->samp_freq_hz * 0.001 * (double)o->frame_shift_ms);
    c->N = c->L;
    if (o->round_to_power_of_two) {
        c->N = 1;
        while (c->N < c->L)
            c->N <<= 1;
    }
    c->nfreq = c->N / 2 + 1;
    c->window = ch_malloc(err, sizeof(float) * (size_t)c->L, "window");
    if (!c->window)
        goto nomem;
    feat_window_make(o->window_type, o->blackman_coeff, c->L, c->window);
    c->log_energy_floor = o->energy_floor > 0 ? logf(o->energy_floor) : -INFINITY;

    ch_status st;
    switch (o->feature_type) {
    case FEAT_SPECTROGRAM:
        c->dim = c->nfreq;
        c->need_raw_energy = o->raw_energy;
        break;
    case FEAT_FBANK:
    case FEAT_MFCC:
        c->nbins = o->num_mel_bins;
        st = mel_banks_make(&c->mb, c->nbins, o->samp_freq_hz, c->N, o->low_freq_hz,
                            o->high_freq_hz, err);
        if (st != CH_OK) {
            feat_computer_free(c);
            return st;
        }
        c->need_raw_energy = o->use_energy && o->raw_energy;
        if (o->feature_type == FEAT_FBANK) {
            c->dim = c->nbins + (o->use_energy ? 1 : 0);
            break;
        }
        c->dim = o->num_ceps;
        c->dct = ch_malloc(err, sizeof(float) * (size_t)o->num_ceps * (size_t)c->nbins, "DCT");
        c->lifter = ch_malloc(err, sizeof(float) * (size_t)o->num_ceps, "lifter");
        if (!c->dct || !c->lifter)
            goto nomem;
        for (int k = 0; k < o->num_ceps; k++) {
            double norm = k == 0 ? sqrt(1.0 / c->nbins) : sqrt(2.0 / c->nbins);
            for (int n = 0; n < c->nbins; n++)
                c->dct[k * c->nbins + n] = (float)(norm * cos(M_PI / c->nbins * (n + 0.5) * k));
            double q = o->cepstral_lifter;
            c->lifter[k] = q != 0.0 ? (float)(1.0 + 0.5 * q * sin(M_PI * k / q)) : 1.0f;
        }
        break;
    }

    c->own_fft = (c->N & (c->N - 1)) == 0 && c->N >= 4;
    if (c->own_fft) {
        st = feat_fft_make(&c->fft, c->N, err);
        if (st != CH_OK) {
            feat_computer_free(c);
            return st;
        }
    } else {
        /* Plan once (FFTW_ESTIMATE: the same plan, hence the same bits, in every run), on
         * scratch arrays with fftwf_malloc's alignment; the workspaces use the same
         * allocator, so the new-array execute functions are valid on them. */
        float *in = fftwf_malloc(sizeof(float) * (size_t)c->N);
        fftwf_complex *sp = fftwf_malloc(sizeof(fftwf_complex) * (size_t)c->nfreq);
        if (in && sp)
            c->plan = fftwf_plan_dft_r2c_1d(c->N, in, sp, FFTW_ESTIMATE | FFTW_PRESERVE_INPUT);
        fftwf_free(in);
        fftwf_free(sp);
        if (!c->plan) {
            feat_computer_free(c);
            return ch_fail(err, CH_ERR_INTERNAL, "features: FFTW could not plan a %d-point FFT",
                           c->N);
        }
    }
    *out = c;
    return CH_OK;
nomem:
    feat_computer_free(c);
    return CH_ERR_NOMEM;
}

const feat_options *feat_computer_options(const feat_computer *c) { return &c->o; }
int feat_dim(const feat_computer *c) { return c->dim; }
int feat_window_size(const feat_computer *c) { return c->L; }
int feat_window_shift(const feat_computer *c) { return c->S; }

long feat_num_frames(const feat_computer *c, long n)
{
    if (n <= 0)
        return 0;
    if (c->o.snip_edges)
        return n < c->L ? 0 : 1 + (n - c->L) / c->S;
    return (n + c->S / 2) / c->S;
}

void feat_workspace_free(feat_workspace *w)
{
    if (!w)
        return;
    free(w->tmp);
    free(w->fv);
    fftwf_free(w->frame);
    fftwf_free(w->spec);
    free(w->zr);
    free(w->zi);
    free(w->power);
    free(w->mel);
    free(w->ceps);
    free(w->rows);
    free(w);
}

static float *lanes_alloc(int rows)
{
    size_t bytes = sizeof(float) * (size_t)(rows > 0 ? rows : 1) * FEAT_LANES;
    float *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p)
        memset(p, 0, bytes);
    return p;
}

ch_status feat_workspace_create(const feat_computer *c, feat_workspace **out, ch_error *err)
{
    *out = NULL;
    feat_workspace *w = ch_calloc(err, 1, sizeof *w, "feature workspace");
    if (!w)
        return CH_ERR_NOMEM;
    w->L = c->L;
    w->N = c->N;
    w->nbins = c->nbins;
    w->nceps = c->o.feature_type == FEAT_MFCC ? c->o.num_ceps : 0;
    w->tmp = malloc(sizeof(float) * (size_t)c->L);
    w->frame = fftwf_malloc(sizeof(float) * (size_t)c->N);
    w->spec = fftwf_malloc(sizeof(fftwf_complex) * (size_t)c->nfreq);
    w->fv = lanes_alloc(c->N); /* zeroed: rows L..N-1 are the padding, never written */
    w->zr = lanes_alloc(c->N / 2);
    w->zi = lanes_alloc(c->N / 2);
    w->power = lanes_alloc(c->nfreq);
    w->mel = lanes_alloc(c->nbins);
    w->ceps = lanes_alloc(w->nceps);
    w->rows = lanes_alloc(c->dim);
    if (!w->tmp || !w->fv || !w->frame || !w->spec || !w->zr || !w->zi || !w->power || !w->mel ||
        !w->ceps || !w->rows) {
        feat_workspace_free(w);
        return ch_fail(err, CH_ERR_NOMEM, "features: out of memory for a workspace");
    }
    *out = w;
    return CH_OK;
}

typedef double feat_v8d __attribute__((vector_size(64)));
/* The same vector at float alignment: rows of `out` and frames of x are not 32-byte aligned. */
typedef float feat_v8f_u __attribute__((vector_size(32), aligned(4), __may_alias__));

/* In-register 8x8 transpose of the named vectors r0..r7 (r_k[l] -> r_l[k]): three rounds of
 * two-input shuffles that GCC turns into unpck/shufps/perm2f128. Named variables, not an array,
 * so that nothing is spilled (an array was kept in memory and stalled on store forwarding).
 * The lane <-> row moves of the vertical pipeline were scalar strided single-float stores, the
 * largest cost of a frame after the FFT. */
#define TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7)                                             \
    do {                                                                                     \
        const feat_v8i lo_ = {0, 8, 1, 9, 4, 12, 5, 13}, hi_ = {2, 10, 3, 11, 6, 14, 7, 15}; \
        const feat_v8i s0_ = {0, 1, 8, 9, 4, 5, 12, 13}, s1_ = {2, 3, 10, 11, 6, 7, 14, 15}; \
        const feat_v8i p0_ = {0, 1, 2, 3, 8, 9, 10, 11}, p1_ = {4, 5, 6, 7, 12, 13, 14, 15}; \
        feat_v8f t0_ = __builtin_shuffle(r0, r1, lo_), t1_ = __builtin_shuffle(r0, r1, hi_);   \
        feat_v8f t2_ = __builtin_shuffle(r2, r3, lo_), t3_ = __builtin_shuffle(r2, r3, hi_);   \
        feat_v8f t4_ = __builtin_shuffle(r4, r5, lo_), t5_ = __builtin_shuffle(r4, r5, hi_);   \
        feat_v8f t6_ = __builtin_shuffle(r6, r7, lo_), t7_ = __builtin_shuffle(r6, r7, hi_);   \
        feat_v8f u0_ = __builtin_shuffle(t0_, t2_, s0_), u1_ = __builtin_shuffle(t0_, t2_, s1_); \
        feat_v8f u2_ = __builtin_shuffle(t1_, t3_, s0_), u3_ = __builtin_shuffle(t1_, t3_, s1_); \
        feat_v8f u4_ = __builtin_shuffle(t4_, t6_, s0_), u5_ = __builtin_shuffle(t4_, t6_, s1_); \
        feat_v8f u6_ = __builtin_shuffle(t5_, t7_, s0_), u7_ = __builtin_shuffle(t5_, t7_, s1_); \
        r0 = __builtin_shuffle(u0_, u4_, p0_);                                               \
        r1 = __builtin_shuffle(u1_, u5_, p0_);                                               \
        r2 = __builtin_shuffle(u2_, u6_, p0_);                                               \
        r3 = __builtin_shuffle(u3_, u7_, p0_);                                               \
        r4 = __builtin_shuffle(u0_, u4_, p1_);                                               \
        r5 = __builtin_shuffle(u1_, u5_, p1_);                                               \
        r6 = __builtin_shuffle(u2_, u6_, p1_);                                               \
        r7 = __builtin_shuffle(u3_, u7_, p1_);                                               \
    } while (0)

/* dst[k][l] = p[l * stride + k], k, l < 8: 8 samples of 8 frames into 8 vertical rows. */
static inline void tile_in(const float *p, long stride, feat_v8f *dst)
{
    feat_v8f r0 = *(const feat_v8f_u *)p, r1 = *(const feat_v8f_u *)(p + stride);
    feat_v8f r2 = *(const feat_v8f_u *)(p + 2 * stride), r3 = *(const feat_v8f_u *)(p + 3 * stride);
    feat_v8f r4 = *(const feat_v8f_u *)(p + 4 * stride), r5 = *(const feat_v8f_u *)(p + 5 * stride);
    feat_v8f r6 = *(const feat_v8f_u *)(p + 6 * stride), r7 = *(const feat_v8f_u *)(p + 7 * stride);
    TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7);
    dst[0] = r0, dst[1] = r1, dst[2] = r2, dst[3] = r3;
    dst[4] = r4, dst[5] = r5, dst[6] = r6, dst[7] = r7;
}

/* out[l * stride + k] = v[k][l] for k < rows, l < nl: vertical rows back to frame rows. */
static void store_rows(const feat_v8f *v, int rows, float *out, int stride, int nl)
{
    int k0 = 0;
    for (; k0 + FEAT_LANES <= rows; k0 += FEAT_LANES) {
        feat_v8f r0 = v[k0], r1 = v[k0 + 1], r2 = v[k0 + 2], r3 = v[k0 + 3];
        feat_v8f r4 = v[k0 + 4], r5 = v[k0 + 5], r6 = v[k0 + 6], r7 = v[k0 + 7];
        TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7);
        float *o = out + k0;
        if (nl == FEAT_LANES) {
            *(feat_v8f_u *)o = r0, *(feat_v8f_u *)(o + stride) = r1;
            *(feat_v8f_u *)(o + 2 * (size_t)stride) = r2;
            *(feat_v8f_u *)(o + 3 * (size_t)stride) = r3;
            *(feat_v8f_u *)(o + 4 * (size_t)stride) = r4;
            *(feat_v8f_u *)(o + 5 * (size_t)stride) = r5;
            *(feat_v8f_u *)(o + 6 * (size_t)stride) = r6;
            *(feat_v8f_u *)(o + 7 * (size_t)stride) = r7;
        } else { /* the last, partial block */
            const feat_v8f r[8] = {r0, r1, r2, r3, r4, r5, r6, r7};
            for (int l = 0; l < nl; l++)
                *(feat_v8f_u *)(o + (size_t)l * stride) = r[l];
        }
    }
    for (int l = 0; l < nl; l++)
        for (int k = k0; k < rows; k++)
            out[(size_t)l * stride + k] = v[k][l];
}

/* Samples of frame f: a pointer into x when the frame lies inside the signal, otherwise the
 * frame built in t[0..L) with Kaldi's reflection (-1 -> 0, n -> n-1, repeated). snip-edges:
 * start = f*S; otherwise f*S + S/2 - L/2. */
static const float *frame_source(const feat_computer *c, const float *x, long n, long f,
                                 float *t)
{
    long start = c->o.snip_edges ? f * c->S : f * c->S + c->S / 2 - c->L / 2;
    if (start >= 0 && start + c->L <= n)
        return x + start;
    for (int s = 0; s < c->L; s++) {
        long i = start + s;
        while (i < 0 || i >= n)
            i = i < 0 ? -i - 1 : 2 * n - 1 - i;
        t[s] = x[i];
    }
    return t;
}

/* Frames f0 .. f0+nl-1 into the vertical buffer ws->fv rows 0..L-1 (lane l = frame f0+l),
 * with Kaldi's dither: a fresh RandomState per frame seeded with rand() + 27437. Lanes >= nl
 * are zero. This transposition is the only per-sample scalar loop. */
static void load_block(const feat_computer *c, feat_workspace *ws, feat_rand *rand,
                       const float *x, long n, long f0, int nl)
{
    enum { V = FEAT_LANES };
    const int L = c->L;
    const float dither = c->o.dither;
    float *fv = ws->fv;
    const long first = c->o.snip_edges ? f0 * c->S : f0 * c->S + c->S / 2 - c->L / 2;
    if (dither == 0.0f && nl == V && first >= 0 && first + (V - 1) * (long)c->S + L <= n) {
        /* a whole block inside the signal (nearly all of them): 8x8 tiles, 8 vector loads
         * from the 8 frames, transposed into 8 rows */
        feat_v8f *rows = (feat_v8f *)fv;
        /* the samples the next block adds (after this block's last frame) are fetched while
         * this one is transposed: 8 interleaved strided streams defeat the hardware prefetcher
         * on long signals that are not in cache */
        const long ahead = first + (V - 1) * (long)c->S + L, ahead_n = (long)V * c->S;
        const long pf_end = ahead + ahead_n < n ? ahead + ahead_n : n;
        int i = 0;
        for (int t = 0; i + V <= L; i += V, t++) {
            const long at = ahead + (long)t * 32; /* two 64-byte lines per tile */
            if (at < pf_end)
                __builtin_prefetch(x + at), __builtin_prefetch(x + at + 16);
            /* and into L2 eight blocks ahead: one block of lead time does not cover a DRAM
             * miss when memory is busy (measured on 600 s: 13 % faster with both) */
            const long l2_at = at + 8 * ahead_n;
            if (l2_at < n)
                __builtin_prefetch(x + l2_at, 0, 1), __builtin_prefetch(x + l2_at + 16, 0, 1);
            tile_in(x + first + i, c->S, rows + i);
        }
        for (; i < L; i++)
            for (int l = 0; l < V; l++)
                fv[(size_t)i * V + l] = x[first + (long)l * c->S + i];
        return;
    }
    for (int l = 0; l < V; l++) {
        if (l >= nl) {
            for (int i = 0; i < L; i++)
                fv[(size_t)i * V + l] = 0.0f;
            continue;
        }
        const float *src = frame_source(c, x, n, f0 + l, ws->tmp);
        if (dither != 0.0f) {
            unsigned seed = (unsigned)feat_rand_next(rand) + 27437u;
            for (int i = 0; i < L; i++)
                fv[(size_t)i * V + l] = src[i] + feat_rand_gauss(&seed) * dither;
        } else {
            for (int i = 0; i < L; i++)
                fv[(size_t)i * V + l] = src[i];
        }
    }
}

/* log(max(sum_i v_i^2, FLT_EPSILON)) per lane, summed in order i = 0..n-1, where v_i is
 * rows[i] + add (the DC offset not yet subtracted in place) or, with rows == NULL, the i-th
 * row of the FFT input split into zr (even rows) and zi (odd rows). */
static feat_v8f log_energy_v8(const feat_v8f *rows, feat_v8f add, const feat_v8f *zr,
                              const feat_v8f *zi, int n)
{
    feat_v8f e = add * 0.0f; /* set at i = 0 */
    for (int i = 0; i < n; i++) {
        feat_v8f v;
        if (rows)
            v = rows[i] + add;
        else if (i & 1)
            v = zi[i >> 1];
        else
            v = zr[i >> 1];
        e = i ? e + v * v : v * v;
    }
    const feat_v8f eps = e * 0.0f + FLT_EPSILON;
    feat_v8i keep = e > eps;
    e = (feat_v8f)((keep & (feat_v8i)e) | (~keep & (feat_v8i)eps));
    return feat_logf_v8(e);
}

/* Time-domain steps on the 8 frames of ws->fv, all lanes at once: DC removal (sum in double,
 * as Kaldi), raw log-energy, pre-emphasis (Kaldi runs it backwards in place: x[i] -= p x[i-1],
 * then x[0] -= p x[0]) and the window, energy floor. One pass after the sum: the mean is added
 * on the fly (the same float operations as subtracting it first), and with the own FFT the
 * result goes straight into its input zr/zi (row i to zr[i/2] or zi[i/2]) with rows L..N-1
 * zeroed as padding; with FFTW it stays in fv, whose rows L..N-1 are always zero. */
static void prepare_block(const feat_computer *c, feat_workspace *ws)
{
    const feat_options *o = &c->o;
    const int L = c->L, N = c->N;
    feat_v8f *fv = (feat_v8f *)ws->fv;
    feat_v8f *zr = (feat_v8f *)ws->zr, *zi = (feat_v8f *)ws->zi;
    const float *win = c->window;
    const feat_v8f zero = fv[0] * 0.0f;
    feat_v8f neg_mean = zero;
    if (o->remove_dc_offset) {
        /* float partial sums of 8 rows (a tree, exact for int16-valued samples since they
         * stay below 2^24), accumulated in double like Kaldi's VectorBase::Sum */
        feat_v8d s = __builtin_convertvector(zero, feat_v8d);
        int i = 0;
        for (; i + 8 <= L; i += 8) {
            feat_v8f a = (fv[i] + fv[i + 1]) + (fv[i + 2] + fv[i + 3]);
            feat_v8f b = (fv[i + 4] + fv[i + 5]) + (fv[i + 6] + fv[i + 7]);
            s += __builtin_convertvector(a + b, feat_v8d);
        }
        for (; i < L; i++)
            s += __builtin_convertvector(fv[i], feat_v8d);
        neg_mean = -__builtin_convertvector(s, feat_v8f) / (float)L;
    }
    feat_v8f energy = zero;
    if (c->need_raw_energy)
        energy = log_energy_v8(fv, neg_mean, NULL, NULL, L);
    const float p = o->preemph_coeff;
    feat_v8f cur = fv[L - 1] + neg_mean;
    if (c->own_fft) {
        /* odd rows to zi, even rows to zr, two rows per step (no branch on the parity) */
        int i = L - 1;
        if (!(i & 1)) {
            const feat_v8f prev = fv[i - 1] + neg_mean;
            zr[i >> 1] = (cur - p * prev) * win[i];
            cur = prev;
            i--;
        }
        for (; i > 1; i -= 2) { /* i odd */
            const feat_v8f p1 = fv[i - 1] + neg_mean, p2 = fv[i - 2] + neg_mean;
            zi[i >> 1] = (cur - p * p1) * win[i];
            zr[(i - 1) >> 1] = (p1 - p * p2) * win[i - 1];
            cur = p2;
        }
        if (i == 1) {
            const feat_v8f prev = fv[0] + neg_mean;
            zi[0] = (cur - p * prev) * win[1];
            cur = prev;
        }
        zr[0] = (cur - p * cur) * win[0];
        for (int i = L; i < N; i++) {
            if (i & 1)
                zi[i >> 1] = zero;
            else
                zr[i >> 1] = zero;
        }
    } else {
        for (int i = L - 1; i > 0; i--) {
            const feat_v8f prev = fv[i - 1] + neg_mean;
            fv[i] = (cur - p * prev) * win[i];
            cur = prev;
        }
        fv[0] = (cur - p * cur) * win[0];
    }
    if (!o->raw_energy && (o->use_energy || o->feature_type == FEAT_SPECTROGRAM))
        energy = c->own_fft ? log_energy_v8(NULL, zero, zr, zi, L)
                            : log_energy_v8(fv, zero, NULL, NULL, L);
    if (o->energy_floor > 0.0f) {
        const feat_v8f fl = energy * 0.0f + c->log_energy_floor;
        feat_v8i low = energy < fl;
        energy = (feat_v8f)((low & (feat_v8i)fl) | (~low & (feat_v8i)energy));
    }
    memcpy(ws->energy, &energy, sizeof ws->energy);
}

/* Power spectra of the block into ws->power (N/2+1 rows of 8 lanes). */
static void power_block(const feat_computer *c, feat_workspace *ws, int nl)
{
    enum { V = FEAT_LANES };
    if (c->own_fft) { /* prepare_block wrote the FFT input */
        feat_fft_power(&c->fft, ws->zr, ws->zi, ws->power);
        return;
    }
    for (int l = 0; l < nl; l++) {
        for (int i = 0; i < c->N; i++)
            ws->frame[i] = ws->fv[(size_t)i * V + l];
        fftwf_execute_dft_r2c(c->plan, ws->frame, ws->spec);
        const float *sp = (const float *)ws->spec;
        for (int k = 0; k < c->nfreq; k++)
            ws->power[(size_t)k * V + l] =
                sp[2 * k] * sp[2 * k] + sp[2 * k + 1] * sp[2 * k + 1];
    }
}

/* Frequency-domain steps for the nl frames of a block (power spectra in ws->power) into rows
 * out[0..nl). */
static void finish_block(const feat_computer *c, feat_workspace *ws, int nl, float *out)
{
    enum { V = FEAT_LANES };
    const feat_options *o = &c->o;
    const int dim = c->dim, nf = c->nfreq, nb = c->nbins;
    float *restrict pw = ws->power;

    if (o->feature_type == FEAT_SPECTROGRAM) {
        feat_log_floor(pw, pw, nf * V);
        store_rows((const feat_v8f *)pw, nf, out, dim, nl);
        for (int l = 0; l < nl; l++)
            out[(size_t)l * dim] = ws->energy[l]; /* Kaldi: bin 0 is the signal log-energy */
        return;
    }
    if (o->feature_type == FEAT_FBANK && !o->use_power) {
#pragma omp simd
        for (int k = 0; k < nf * V; k++)
            pw[k] = sqrtf(pw[k]);
    }
    const mel_banks *mb = &c->mb;
    float *restrict mel = ws->mel;
    const feat_v8f *pv = (const feat_v8f *)pw;
    feat_v8f *melv = (feat_v8f *)mel;
    for (int b = 0; b < nb; b++) {
        const float *w = mb->w + mb->off[b];
        const feat_v8f *pp = pv + mb->first[b];
        const int len = mb->len[b];
        feat_v8f acc = pp[0] * w[0];
        for (int j = 1; j < len; j++)
            acc += pp[j] * w[j];
        melv[b] = acc;
    }
    if (o->feature_type == FEAT_FBANK) {
        if (o->use_log_fbank)
            feat_log_floor(mel, mel, nb * V);
        const int off = o->use_energy && !o->htk_compat ? 1 : 0;
        store_rows(melv, nb, out + off, dim, nl);
        if (o->use_energy)
            for (int l = 0; l < nl; l++)
                out[(size_t)l * dim + (o->htk_compat ? nb : 0)] = ws->energy[l];
        return;
    }
    /* MFCC: log, DCT, lifter, energy */
    feat_log_floor(mel, mel, nb * V);
    const int nc = o->num_ceps;
    feat_v8f *cep = (feat_v8f *)ws->ceps;
    for (int k = 0; k < nc; k++) {
        const float *d = c->dct + (size_t)k * (size_t)nb;
        feat_v8f acc = melv[0] * d[0];
        for (int n = 1; n < nb; n++)
            acc += melv[n] * d[n];
        cep[k] = acc * c->lifter[k];
    }
    store_rows(cep, nc, out, dim, nl);
    for (int l = 0; l < nl; l++) {
        float *row = out + (size_t)l * dim;
        if (o->use_energy)
            row[0] = ws->energy[l];
        if (o->htk_compat) {
            float c0 = row[0];
            memmove(row, row + 1, sizeof(float) * (size_t)(nc - 1));
            row[nc - 1] = o->use_energy ? c0 : c0 * (float)M_SQRT2;
        }
    }
}

/* Outputs at least this large are written with non-temporal (streaming) stores: they cannot
 * stay in cache anyway, and ordinary stores would first read every destination line from
 * memory (write-allocate), a third more memory traffic on long recordings. */
#define FEAT_STREAM_BYTES ((size_t)4 << 20)

/* dst[0..n) = src[0..n): ordinary stores up to a 64-byte boundary, then whole cache lines with
 * non-temporal stores (the caller fences once at the end), then the tail. */
static void stream_copy(float *dst, const float *src, size_t n)
{
#if defined(__SSE__)
    size_t i = 0;
    for (; i < n && ((uintptr_t)(dst + i) & 63) != 0; i++)
        dst[i] = src[i];
    for (; i + 16 <= n; i += 16) {
#if defined(__AVX512F__)
        _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
#elif defined(__AVX__)
        _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
        _mm256_stream_ps(dst + i + 8, _mm256_loadu_ps(src + i + 8));
#else
        for (int k = 0; k < 16; k += 4)
            _mm_stream_ps(dst + i + k, _mm_loadu_ps(src + i + k));
#endif
    }
    for (; i < n; i++)
        dst[i] = src[i];
#else
    memcpy(dst, src, sizeof(float) * n);
#endif
}

ch_status feat_compute(const feat_computer *c, feat_workspace *ws, feat_rand *rand,
                       const float *x, long n, float *out, ch_error *err)
{
    if (ws->L != c->L || ws->N != c->N || ws->nbins != c->nbins ||
        ws->nceps != (c->o.feature_type == FEAT_MFCC ? c->o.num_ceps : 0))
        return ch_fail(err, CH_ERR_USAGE, "features: workspace made for another configuration");
    if (c->o.dither != 0.0f && !rand)
        return ch_fail(err, CH_ERR_USAGE, "features: dither %g needs a random state",
                       (double)c->o.dither);
    long T = feat_num_frames(c, n);
    const size_t dim = (size_t)c->dim;
    const bool stream = (size_t)T * dim * sizeof(float) >= FEAT_STREAM_BYTES;
    for (long f0 = 0; f0 < T; f0 += FEAT_LANES) {
        int nl = T - f0 < FEAT_LANES ? (int)(T - f0) : FEAT_LANES;
        float *dst = out + (size_t)f0 * dim;
        load_block(c, ws, rand, x, n, f0, nl);
        prepare_block(c, ws);
        power_block(c, ws, nl);
        finish_block(c, ws, nl, stream ? ws->rows : dst);
        if (stream)
            stream_copy(dst, ws->rows, (size_t)nl * dim);
    }
#if defined(__SSE__)
    if (stream)
        _mm_sfence(); /* the streaming stores are visible before the caller reads out */
#endif
    return CH_OK;
}
