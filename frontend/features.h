/* features.h — Kaldi-exact fbank, MFCC and spectrogram (KALDI-FEATURES.md §1-7).
 *
 * Usage (one computer shared by all threads, one workspace per thread):
 *   feat_options o = feat_options_default(FEAT_FBANK);  o.num_mel_bins = 80;
 *   feat_computer *fc;  feat_computer_create(&o, &fc, &err);
 *   feat_workspace *ws; feat_workspace_create(fc, &ws, &err);
 *   feat_rand r; feat_rand_init(&r, 1);          // Kaldi's un-seeded glibc rand() state
 *   long T = feat_num_frames(fc, n);  float *y = malloc(T * feat_dim(fc) * sizeof *y);
 *   feat_compute(fc, ws, &r, x, n, y, &err);     // x: n samples on the int16 scale
 *
 * Input samples are on Kaldi's int16 scale (-32768..32767), not [-1, 1] (§1). The computer is
 * immutable after creation (FFTW plan, window, sparse mel banks, DCT and lifter precomputed) and
 * may be used from many threads at once; a workspace holds all per-call scratch memory, so
 * feat_compute allocates nothing. Dither (§3) reproduces Kaldi's sequence exactly: the caller
 * owns the emulated glibc rand() state and carries it across utterances, as one Kaldi process
 * does; every frame consumes exactly one rand() value, so feat_rand_skip() can hand each of many
 * threads the state a sequential run would have had.
 */
#ifndef CHORUS_FEATURES_H
#define CHORUS_FEATURES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/options.h"
#include "common/status.h"

typedef enum { FEAT_FBANK = 0, FEAT_MFCC = 1, FEAT_SPECTROGRAM = 2 } feat_type;

/* Order matches the --window-type choice list. */
typedef enum {
    FEAT_WIN_POVEY = 0,
    FEAT_WIN_HAMMING,
    FEAT_WIN_HANNING,
    FEAT_WIN_SINE,
    FEAT_WIN_RECTANGULAR,
    FEAT_WIN_BLACKMAN
} feat_window_type;

typedef struct {
    int feature_type;           /* feat_type */
    /* framing (FrameExtractionOptions) */
    float samp_freq_hz;         /* 16000 */
    float frame_length_ms;      /* 25 */
    float frame_shift_ms;       /* 10 */
    float dither;               /* 1.0 (Kaldi's default); 0 disables */
    float preemph_coeff;        /* 0.97 */
    bool remove_dc_offset;      /* true */
    int window_type;            /* feat_window_type, povey */
    float blackman_coeff;       /* 0.42 */
    bool round_to_power_of_two; /* true: 400 -> 512-point FFT */
    bool snip_edges;            /* true */
    /* mel banks (fbank, MFCC) */
    int num_mel_bins;           /* 23 */
    float low_freq_hz;          /* 20 */
    float high_freq_hz;         /* 0; <= 0 is an offset from Nyquist */
    /* energy and output */
    bool use_energy;            /* fbank false, MFCC true */
    bool raw_energy;            /* true: energy before preemphasis and window */
    float energy_floor;         /* 0 (no floor) */
    bool htk_compat;            /* energy/C0 last instead of first */
    bool use_log_fbank;         /* fbank: log of mel energies (true) */
    bool use_power;             /* fbank: power (true) or magnitude spectrum */
    int num_ceps;               /* MFCC: 13 */
    float cepstral_lifter;      /* MFCC: 22 */
} feat_options;

/* Kaldi's defaults for compute-{fbank,mfcc,spectrogram}-feats (type is a feat_type). */
feat_options feat_options_default(int type);

/* Option table with Kaldi's names (--sample-frequency, --frame-length, ..., --feature-type). */
extern const opt_desc feat_opts[];
extern const size_t feat_n_opts;

/* Checks ranges and combinations (num-ceps <= num-mel-bins, high > low freq, window at least
 * 2 samples, no empty mel filter). CH_ERR_USAGE with a "--option: problem" message. */
ch_status feat_options_check(const feat_options *o, ch_error *err);

/* Short name of a feature type: "fbank", "mfcc", "spectrogram". */
const char *feat_type_name(int type);

/* ---- glibc rand() / rand_r() emulation for Kaldi's dither (§3) ---- */

/* The TYPE_3 additive-feedback state of glibc random_r (degree 31, separation 3). */
typedef struct {
    int32_t tbl[31];
    int f, r; /* front and rear indices into tbl */
} feat_rand;

/* As glibc srand(seed) (seed 0 behaves as 1). Kaldi never seeds: use seed 1. */
void feat_rand_init(feat_rand *s, unsigned seed);
/* As glibc rand(): the next value in [0, 2^31). */
int32_t feat_rand_next(feat_rand *s);
/* Advances by n values (what n frames of dithered features consume). */
void feat_rand_skip(feat_rand *s, long n);
/* As glibc rand_r(seed). */
int32_t feat_rand_r(unsigned *seed);
/* Kaldi's RandGauss(RandomState*): sqrtf(-2 logf(u1)) * cosf(2 pi u2), u drawn by rand_r. */
float feat_rand_gauss(unsigned *seed);

/* ---- the computer ---- */

typedef struct feat_computer feat_computer;
typedef struct feat_workspace feat_workspace;

/* Validates o (feat_options_check) and precomputes everything. The FFTW plan is made here;
 * call this from one thread at a time (FFTW's planner is not thread-safe). Owner: caller,
 * feat_computer_free (NULL is fine). */
ch_status feat_computer_create(const feat_options *o, feat_computer **out, ch_error *err);
void feat_computer_free(feat_computer *c);

/* The options the computer was made from. */
const feat_options *feat_computer_options(const feat_computer *c);

/* Columns per frame: fbank num_mel_bins + use_energy, MFCC num_ceps, spectrogram fft/2 + 1. */
int feat_dim(const feat_computer *c);
/* Frames for n samples: snip-edges n < L ? 0 : 1 + (n - L) / S; otherwise (n + S/2) / S. */
long feat_num_frames(const feat_computer *c, long n_samples);
/* Window length and shift in samples. */
int feat_window_size(const feat_computer *c);
int feat_window_shift(const feat_computer *c);

/* Per-thread scratch for feat_compute. Owner: caller, feat_workspace_free (NULL is fine). */
ch_status feat_workspace_create(const feat_computer *c, feat_workspace **out, ch_error *err);
void feat_workspace_free(feat_workspace *w);

/* Computes the features of one utterance.
 * x: (n) samples, int16 scale.  out: (feat_num_frames(n), feat_dim) row-major, caller-owned.
 * rand: the dither state, advanced by one value per frame; may be NULL only when dither == 0
 * (CH_ERR_USAGE otherwise). Zero frames (n too short) is not an error: nothing is written.
 * Thread-safe for distinct workspaces (and distinct rand states) on a shared computer. */
ch_status feat_compute(const feat_computer *c, feat_workspace *ws, feat_rand *rand,
                       const float *x, long n, float *out, ch_error *err);

#endif
