/* feat_compute.c — the feature computer: Kaldi's framing, dither, DC removal, raw energy,
 * pre-emphasis, window, FFT power spectrum, then fbank / MFCC / spectrogram
 * (KALDI-FEATURES.md §2-7), with everything that does not depend on the signal precomputed.
 *
 * Speed: the frame pipeline is three fused passes over the 400 samples (copy+dither,
 * DC+energy, pre-emphasis*window) that GCC vectorises, one FFTW r2c (plan made once with
 * FFTW_MEASURE, executed with the new-array API from any thread), a power pass, sparse mel dot
 * products and a branch-free vectorised log (feat_internal.h). Nothing is allocated per frame.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    float *tmp;           /* (L) extracted frame, dithered, DC removed */
    float *frame;         /* (N) fftwf_malloc'ed: windowed frame + zero padding */
    fftwf_complex *spec;  /* (N/2+1) fftwf_malloc'ed, FFTW fallback */
    float *zr, *zi;       /* (N/2, LANES) FFT input/scratch */
    float *power;         /* (N/2+1, LANES) */
    float *mel;           /* (nbins, LANES) */
    float *ceps;          /* (num_ceps, LANES) */
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
    fftwf_free(w->frame);
    fftwf_free(w->spec);
    free(w->zr);
    free(w->zi);
    free(w->power);
    free(w->mel);
    free(w->ceps);
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
    w->zr = lanes_alloc(c->N / 2);
    w->zi = lanes_alloc(c->N / 2);
    w->power = lanes_alloc(c->nfreq);
    w->mel = lanes_alloc(c->nbins);
    w->ceps = lanes_alloc(w->nceps);
    if (!w->tmp || !w->frame || !w->spec || !w->zr || !w->zi || !w->power || !w->mel ||
        !w->ceps) {
        feat_workspace_free(w);
        return ch_fail(err, CH_ERR_NOMEM, "features: out of memory for a workspace");
    }
    memset(w->frame, 0, sizeof(float) * (size_t)c->N); /* the padding stays zero */
    *out = w;
    return CH_OK;
}

/* Frame f of x into t[0..L): snip-edges start = f*S; otherwise f*S + S/2 - L/2 with indices
 * outside [0, n) reflected, the edge sample repeated (-1 -> 0, n -> n-1). */
static void extract_frame(const feat_computer *c, const float *x, long n, long f, float *t)
{
    long start = c->o.snip_edges ? f * c->S : f * c->S + c->S / 2 - c->L / 2;
    if (start >= 0 && start + c->L <= n) {
        memcpy(t, x + start, sizeof(float) * (size_t)c->L);
        return;
    }
    for (int s = 0; s < c->L; s++) {
        long i = start + s;
        while (i < 0 || i >= n)
            i = i < 0 ? -i - 1 : 2 * n - 1 - i;
        t[s] = x[i];
    }
}

static float log_energy_of(const float *x, int n)
{
    float e = 0.0f;
#pragma omp simd reduction(+ : e)
    for (int i = 0; i < n; i++)
        e += x[i] * x[i];
    return logf(e > FLT_EPSILON ? e : FLT_EPSILON);
}

/* Time-domain steps of one frame (already in ws->tmp): dither, DC removal, raw energy,
 * pre-emphasis and window into ws->frame[0..L) (the zero padding is never written). Returns
 * the log-energy (raw or windowed, floored) when the output needs one. */
static float prepare_frame(const feat_computer *c, feat_workspace *ws, unsigned dither_seed)
{
    const feat_options *o = &c->o;
    const int L = c->L;
    float *restrict t = ws->tmp;
    float *restrict fr = ws->frame;
    const float *restrict win = c->window;

    if (o->dither != 0.0f) {
        unsigned seed = dither_seed;
        for (int i = 0; i < L; i++)
            t[i] += feat_rand_gauss(&seed) * o->dither;
    }
    if (o->remove_dc_offset) {
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < L; i++)
            s += t[i];
        float neg_mean = -(float)s / (float)L;
#pragma omp simd
        for (int i = 0; i < L; i++)
            t[i] += neg_mean;
    }
    float energy = 0.0f;
    if (c->need_raw_energy)
        energy = log_energy_of(t, L);
    /* pre-emphasis (Kaldi runs it backwards in place: x[i] -= p x[i-1], x[0] -= p x[0]), fused
     * with the window multiply */
    const float p = o->preemph_coeff;
    fr[0] = (t[0] - p * t[0]) * win[0];
#pragma omp simd
    for (int i = 1; i < L; i++)
        fr[i] = (t[i] - p * t[i - 1]) * win[i];
    if (!o->raw_energy && (o->use_energy || o->feature_type == FEAT_SPECTROGRAM))
        energy = log_energy_of(fr, L);
    if (energy < c->log_energy_floor)
        energy = c->log_energy_floor;
    return energy;
}

/* ws->frame of lane l into the power spectrum column l (FFTW, any size). */
static void power_fftw(const feat_computer *c, feat_workspace *ws, int l)
{
    fftwf_execute_dft_r2c(c->plan, ws->frame, ws->spec);
    const float *sp = (const float *)ws->spec;
    for (int k = 0; k < c->nfreq; k++)
        ws->power[(size_t)k * FEAT_LANES + l] = sp[2 * k] * sp[2 * k] + sp[2 * k + 1] * sp[2 * k + 1];
}

/* ws->frame of lane l into the vertical FFT input: z[j] = x[2j] + i x[2j+1]. */
static void scatter_frame(const feat_computer *c, feat_workspace *ws, int l)
{
    const float *fr = ws->frame;
    float *zr = ws->zr + l, *zi = ws->zi + l;
    const int m = c->N / 2;
    for (int j = 0; j < m; j++) {
        zr[(size_t)j * FEAT_LANES] = fr[2 * j];
        zi[(size_t)j * FEAT_LANES] = fr[2 * j + 1];
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
        for (int l = 0; l < nl; l++) {
            float *row = out + (size_t)l * dim;
            for (int k = 0; k < nf; k++)
                row[k] = pw[(size_t)k * V + l];
            row[0] = ws->energy[l]; /* Kaldi: bin 0 is always the signal log-energy */
        }
        return;
    }
    if (o->feature_type == FEAT_FBANK && !o->use_power) {
#pragma omp simd
        for (int k = 0; k < nf * V; k++)
            pw[k] = sqrtf(pw[k]);
    }
    const mel_banks *mb = &c->mb;
    float *restrict mel = ws->mel;
    for (int b = 0; b < nb; b++) {
        const float *w = mb->w + mb->off[b];
        const float *pp = pw + (size_t)mb->first[b] * V;
        const int len = mb->len[b];
        float acc[V] = {0};
        for (int j = 0; j < len; j++) {
            const float wj = w[j];
#pragma omp simd
            for (int l = 0; l < V; l++)
                acc[l] += wj * pp[(size_t)j * V + l];
        }
#pragma omp simd
        for (int l = 0; l < V; l++)
            mel[(size_t)b * V + l] = acc[l];
    }
    if (o->feature_type == FEAT_FBANK) {
        if (o->use_log_fbank)
            feat_log_floor(mel, mel, nb * V);
        const int off = o->use_energy && !o->htk_compat ? 1 : 0;
        for (int l = 0; l < nl; l++) {
            float *row = out + (size_t)l * dim;
            for (int b = 0; b < nb; b++)
                row[off + b] = mel[(size_t)b * V + l];
            if (o->use_energy)
                row[o->htk_compat ? nb : 0] = ws->energy[l];
        }
        return;
    }
    /* MFCC: log, DCT, lifter, energy */
    feat_log_floor(mel, mel, nb * V);
    const int nc = o->num_ceps;
    float *restrict cep = ws->ceps;
    for (int k = 0; k < nc; k++) {
        const float *d = c->dct + (size_t)k * (size_t)nb;
        float acc[V] = {0};
        for (int n = 0; n < nb; n++) {
            const float dn = d[n];
#pragma omp simd
            for (int l = 0; l < V; l++)
                acc[l] += dn * mel[(size_t)n * V + l];
        }
        const float lif = c->lifter[k];
#pragma omp simd
        for (int l = 0; l < V; l++)
            cep[(size_t)k * V + l] = acc[l] * lif;
    }
    for (int l = 0; l < nl; l++) {
        float *row = out + (size_t)l * dim;
        for (int k = 0; k < nc; k++)
            row[k] = cep[(size_t)k * V + l];
        if (o->use_energy)
            row[0] = ws->energy[l];
        if (o->htk_compat) {
            float c0 = row[0];
            memmove(row, row + 1, sizeof(float) * (size_t)(nc - 1));
            row[nc - 1] = o->use_energy ? c0 : c0 * (float)M_SQRT2;
        }
    }
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
    for (long f0 = 0; f0 < T; f0 += FEAT_LANES) {
        int nl = T - f0 < FEAT_LANES ? (int)(T - f0) : FEAT_LANES;
        for (int l = 0; l < nl; l++) {
            extract_frame(c, x, n, f0 + l, ws->tmp);
            /* Kaldi: a fresh RandomState per frame, seeded with rand() + 27437 */
            unsigned seed =
                c->o.dither != 0.0f ? (unsigned)feat_rand_next(rand) + 27437u : 0u;
            ws->energy[l] = prepare_frame(c, ws, seed);
            if (c->own_fft)
                scatter_frame(c, ws, l);
            else
                power_fftw(c, ws, l);
        }
        if (c->own_fft)
            feat_fft_power(&c->fft, ws->zr, ws->zi, ws->power);
        finish_block(c, ws, nl, out + (size_t)f0 * (size_t)c->dim);
    }
    return CH_OK;
}
