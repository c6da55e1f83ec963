/* test_features.c — frontend/features.h against torchaudio.compliance.kaldi and glibc:
 * parity of fbank (23/80 bins, snip-edges true/false, with energy), MFCC and spectrogram on
 * synthesised and real speech; digital silence; glibc rand()/rand_r and Kaldi's RandGauss bit
 * for bit; frame counts and edge reflection; dither determinism; thread safety; option errors;
 * long outputs (the streaming-store path) equal to the same frames computed in pieces.
 * Reference: $CHORUS_REF/kaldi_features.bin written by tests/ref/kaldi_features.py. */
#include "test_util.h"

#include <float.h>
#include <omp.h>

#include "frontend/audio.h"
#include "frontend/features.h"
#include "tensorfile.h"

static tf_file *g_ref;

static const char *CLIPS[] = {"synth", "short", "sc_yes", "sc_stop", "sc_unknown"};

static feat_computer *make_ex(int type, int bins, bool snip, bool energy, float dither,
                              bool raw_energy, float frame_length_ms)
{
    feat_options o = feat_options_default(type);
    o.num_mel_bins = bins;
    o.snip_edges = snip;
    o.use_energy = energy;
    o.dither = dither;
    o.raw_energy = raw_energy;
    o.frame_length_ms = frame_length_ms;
    feat_computer *c = NULL;
    ch_error e;
    ch_status st = feat_computer_create(&o, &c, &e);
    if (st != CH_OK)
        fail_msg("feat_computer_create: %s", e.msg);
    return c;
}

static feat_computer *make(int type, int bins, bool snip, bool energy, float dither)
{
    return make_ex(type, bins, snip, energy, dither, true, 25.0f);
}

/* Computes the features of x; returns a malloc'ed (T, dim) matrix. */
static float *compute(const feat_computer *c, feat_rand *r, const float *x, long n, long *T)
{
    feat_workspace *ws;
    ch_error e;
    assert_int_equal(feat_workspace_create(c, &ws, &e), CH_OK);
    *T = feat_num_frames(c, n);
    float *y = malloc(sizeof(float) * (size_t)(*T > 0 ? *T : 1) * (size_t)feat_dim(c));
    assert_int_equal(feat_compute(c, ws, r, x, n, y, &e), CH_OK);
    feat_workspace_free(ws);
    return y;
}

static void test_rand_glibc(void **state)
{
    (void)state;
    const float *hi = tf_get(g_ref, "rand/seq_hi", NULL, NULL);
    const float *lo = tf_get(g_ref, "rand/seq_lo", NULL, NULL);
    size_t n = tf_numel(g_ref, "rand/seq_hi");
    assert_non_null(hi);
    feat_rand r;
    feat_rand_init(&r, 1);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t want = (int32_t)hi[i] * 65536 + (int32_t)lo[i];
        int32_t got = feat_rand_next(&r);
        if (got != want && bad++ < 3)
            printf("rand() #%zu: got %d want %d\n", i, got, want);
    }
    printf("glibc rand(): %zu values, %zu mismatches\n", n, bad);
    assert_int_equal(bad, 0);

    /* Kaldi Dither: per frame seed = rand() + 27437, then RandGauss by rand_r; bit-exact */
    const float *g = tf_get(g_ref, "rand/gauss", NULL, NULL);
    const float *shi = tf_get(g_ref, "rand/frame_seed_hi", NULL, NULL);
    const float *slo = tf_get(g_ref, "rand/frame_seed_lo", NULL, NULL);
    size_t ng = tf_numel(g_ref, "rand/gauss");
    feat_rand_init(&r, 1);
    bad = 0;
    for (size_t f = 0; f < ng / 400; f++) {
        unsigned seed = (unsigned)feat_rand_next(&r) + 27437u;
        assert_int_equal(seed, (unsigned)shi[f] * 65536u + (unsigned)slo[f]);
        for (int i = 0; i < 400; i++) {
            float v = feat_rand_gauss(&seed);
            if (memcmp(&v, &g[f * 400 + i], sizeof v) != 0 && bad++ < 3)
                printf("RandGauss frame %zu #%d: got %.9g want %.9g\n", f, i, v, g[f * 400 + i]);
        }
    }
    printf("Kaldi RandGauss: %zu values, %zu not bit-identical\n", ng, bad);
    assert_int_equal(bad, 0);

    /* skip(n) == n calls */
    feat_rand a, b;
    feat_rand_init(&a, 1);
    feat_rand_init(&b, 1);
    feat_rand_skip(&a, 777);
    for (int i = 0; i < 777; i++)
        feat_rand_next(&b);
    assert_int_equal(feat_rand_next(&a), feat_rand_next(&b));
}

typedef struct {
    const char *suffix;
    int type, bins;
    bool snip, energy;
    double max_tol, mean_tol;
    bool nonraw;    /* raw-energy=false */
    float frame_ms; /* 0: 25 ms */
} parity_case;

/* Tolerances. log-mel and MFCC: the project bar (BENCH.md), max |d| <= 1e-2, mean <= 1e-4:
 * both sides are float32 with different FFTs and summation orders; the largest differences come
 * from the 1-2-bin-wide 80-bin filters on low-energy frames, where float rounding of a small
 * power is magnified by the log. Spectrogram: every one of the 257 log-power bins is a single
 * FFT bin. A float32 FFT leaves an amplitude error of order 1e-7 x the frame's norm in every
 * bin, so a bin whose power is below ~1e-9 of the frame's strongest bin (20 nats down) is
 * rounding noise on both sides: torchaudio's own float32 result differs from its float64 one
 * by 0.64 on such a bin of the synthesised clip (-11.4 where the frame peaks at 23.0). So the
 * spectrogram gets the 1e-2 max bound on the bins within 20 nats of their frame's peak (the
 * max over all bins is printed, bounded only loosely), and mean <= 1e-4 over all bins. */
#define SPEC_RANGE_NATS 20.0
static const parity_case CASES[] = {
    {"fbank23_snip", FEAT_FBANK, 23, true, false, 1e-2, 1e-4, false, 0},
    {"fbank23_nosnip", FEAT_FBANK, 23, false, false, 1e-2, 1e-4, false, 0},
    {"fbank80_snip", FEAT_FBANK, 80, true, false, 1e-2, 1e-4, false, 0},
    {"fbank80_nosnip", FEAT_FBANK, 80, false, false, 1e-2, 1e-4, false, 0},
    {"fbank23e_snip", FEAT_FBANK, 23, true, true, 1e-2, 1e-4, false, 0},
    {"mfcc13_snip", FEAT_MFCC, 23, true, true, 1e-2, 1e-4, false, 0},
    {"mfcc13_nosnip", FEAT_MFCC, 23, false, true, 1e-2, 1e-4, false, 0},
    {"spec_snip", FEAT_SPECTROGRAM, 23, true, true, 1e-2, 1e-4, false, 0},
    {"mfcc13_nonraw_snip", FEAT_MFCC, 23, true, true, 1e-2, 1e-4, true, 0},
    {"fbank23_L401_nosnip", FEAT_FBANK, 23, false, false, 1e-2, 1e-4, false, 25.0625f},
};

static void test_parity(void **state)
{
    (void)state;
    int n_checked = 0, n_fail = 0;
    printf("%-26s %6s %5s %10s %10s %s\n", "case", "frames", "dim", "max|d|", "mean|d|", "");
    for (size_t ci = 0; ci < sizeof CLIPS / sizeof *CLIPS; ci++) {
        char name[128];
        snprintf(name, sizeof name, "audio/%s", CLIPS[ci]);
        const float *x = tf_get(g_ref, name, NULL, NULL);
        if (!x) {
            printf("(clip %s not in the dump: CHORUS_SHARED unset when it was written)\n",
                   CLIPS[ci]);
            continue;
        }
        long n = (long)tf_numel(g_ref, name);
        for (size_t k = 0; k < sizeof CASES / sizeof *CASES; k++) {
            const parity_case *pc = &CASES[k];
            snprintf(name, sizeof name, "%s/%s", CLIPS[ci], pc->suffix);
            const int64_t *dims = NULL;
            int nd = 0;
            const float *want = tf_get(g_ref, name, &dims, &nd);
            assert_non_null(want);
            feat_computer *c = make_ex(pc->type, pc->bins, pc->snip, pc->energy, 0.0f,
                                       !pc->nonraw, pc->frame_ms > 0 ? pc->frame_ms : 25.0f);
            long T;
            float *got = compute(c, NULL, x, n, &T);
            assert_int_equal(T, dims[0]);
            assert_int_equal(feat_dim(c), dims[1]);
            double mx, mean;
            test_diff_stats(got, want, (size_t)T * (size_t)feat_dim(c), &mx, &mean);
            double mx_bound = mx; /* the max the tolerance applies to */
            if (pc->type == FEAT_SPECTROGRAM) {
                const int D = feat_dim(c);
                mx_bound = 0;
                for (long f = 0; f < T; f++) {
                    float peak = want[f * D + 1];
                    for (int k = 2; k < D; k++) /* bin 0 holds the log-energy */
                        peak = want[f * D + k] > peak ? want[f * D + k] : peak;
                    for (int k = 1; k < D; k++)
                        if (want[f * D + k] >= peak - SPEC_RANGE_NATS) {
                            double d = fabs((double)got[f * D + k] - want[f * D + k]);
                            mx_bound = d > mx_bound ? d : mx_bound;
                        }
                }
            }
            bool ok = mx_bound <= pc->max_tol && mean <= pc->mean_tol && mx <= 5.0;
            printf("%-26s %6ld %5d %10.3g %10.3g %s", name, T, feat_dim(c), mx_bound, mean,
                   ok ? "ok" : "FAIL");
            if (pc->type == FEAT_SPECTROGRAM)
                printf("  (bins within %.0f nats of the frame peak; all bins: max %.3g)",
                       SPEC_RANGE_NATS, mx);
            printf("\n");
            n_fail += !ok;
            n_checked++;
            free(got);
            feat_computer_free(c);
        }
    }
    printf("%d cases, %d over tolerance\n", n_checked, n_fail);
    assert_true(n_checked >= 20); /* synth and short always; real clips with ../shared */
    assert_int_equal(n_fail, 0);
}

/* All-zero frames: mel energies 0 -> floored at FLT_EPSILON -> ln(2^-23) = -15.942385. */
static void test_silence(void **state)
{
    (void)state;
    const float *x = tf_get(g_ref, "audio/synth", NULL, NULL);
    long n = (long)tf_numel(g_ref, "audio/synth");
    long best = 0, best_start = 0, run = 0;
    for (long i = 0; i < n; i++) {
        run = x[i] == 0.0f ? run + 1 : 0;
        if (run > best) {
            best = run;
            best_start = i - run + 1;
        }
    }
    assert_true(best >= 4800);
    feat_computer *c = make(FEAT_FBANK, 80, true, false, 0.0f);
    long T;
    float *y = compute(c, NULL, x, n, &T);
    int frames = 0;
    float want = logf(FLT_EPSILON);
    for (long f = 0; f < T; f++) {
        long s = f * 160;
        if (s < best_start || s + 400 > best_start + best)
            continue;
        for (int d = 0; d < 80; d++)
            assert_float_equal(y[f * 80 + d], want, 0.0f);
        frames++;
    }
    printf("%d all-zero frames give %.7f in every bin (ln FLT_EPSILON)\n", frames, (double)want);
    assert_true(frames >= 25);
    assert_float_equal(want, -15.942385f, 1e-6f);
    free(y);
    feat_computer_free(c);
}

static void test_frame_counts(void **state)
{
    (void)state;
    feat_computer *snip = make(FEAT_FBANK, 23, true, false, 0), *nosnip = make(FEAT_FBANK, 23, false, false, 0);
    /* Kaldi NumFrames: snip n < 400 ? 0 : 1 + (n-400)/160; not snip (n + 80) / 160 */
    long ns[] = {0, 1, 79, 80, 239, 240, 300, 399, 400, 559, 560, 16000};
    long want_snip[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 98};
    long want_nosnip[] = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 100};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        assert_int_equal(feat_num_frames(snip, ns[i]), want_snip[i]);
        assert_int_equal(feat_num_frames(nosnip, ns[i]), want_nosnip[i]);
    }
    /* snip-edges=false on a 300-sample signal: each frame must equal the snip-edges features
     * of the frame built by hand with Kaldi's reflection (-1 -> 0, n -> n-1, repeated). */
    enum { N = 300 };
    float x[N], fr[400];
    for (int i = 0; i < N; i++)
        x[i] = (float)((i * 7919) % 2001 - 1000);
    long T;
    float *y = compute(nosnip, NULL, x, N, &T);
    assert_int_equal(T, 2);
    for (long f = 0; f < T; f++) {
        long start = f * 160 + 80 - 200;
        for (int s = 0; s < 400; s++) {
            long i = start + s;
            for (int it = 0; it < 10 && (i < 0 || i >= N); it++)
                i = i < 0 ? -i - 1 : 2 * N - 1 - i;
            fr[s] = x[i];
        }
        long T1;
        float *y1 = compute(snip, NULL, fr, 400, &T1);
        assert_int_equal(T1, 1);
        double mx, mean;
        test_diff_stats(y + f * 23, y1, 23, &mx, &mean);
        printf("short signal, reflected frame %ld: max|d| %.3g\n", f, mx);
        assert_true(mx == 0.0);
        free(y1);
    }
    free(y);
    /* n < frame length with snip-edges: zero frames, nothing written, not an error */
    float dummy = 0;
    ch_error e;
    feat_workspace *ws;
    assert_int_equal(feat_workspace_create(snip, &ws, &e), CH_OK);
    assert_int_equal(feat_compute(snip, ws, NULL, x, N, &dummy, &e), CH_OK);
    feat_workspace_free(ws);
    feat_computer_free(snip);
    feat_computer_free(nosnip);
}

/* Dither: deterministic, carried across utterances like one Kaldi process, and small. */
static void test_dither(void **state)
{
    (void)state;
    const float *x = tf_get(g_ref, "audio/synth", NULL, NULL);
    long n = (long)tf_numel(g_ref, "audio/synth");
    feat_computer *cd = make(FEAT_FBANK, 23, true, false, 1.0f);
    feat_computer *c0 = make(FEAT_FBANK, 23, true, false, 0.0f);
    feat_rand r1, r2;
    feat_rand_init(&r1, 1);
    feat_rand_init(&r2, 1);
    long T, T2, Tb;
    float *a = compute(cd, &r1, x, n, &T);  /* utterance 1 */
    float *b = compute(cd, &r1, x, n, &Tb); /* utterance 2, state carried */
    float *a2 = compute(cd, &r2, x, n, &T2);
    assert_memory_equal(a, a2, sizeof(float) * (size_t)T * 23);
    double mx, mean;
    test_diff_stats(a, b, (size_t)T * 23, &mx, &mean);
    printf("dither: utterance 1 vs 2 (state carried): max|d| %.3g mean|d| %.3g\n", mx, mean);
    assert_true(mean > 1e-3); /* different noise on the second utterance */
    feat_rand r3;
    feat_rand_init(&r3, 1);
    feat_rand_skip(&r3, T); /* one rand() per frame */
    float *b3 = compute(cd, &r3, x, n, &Tb);
    assert_memory_equal(b, b3, sizeof(float) * (size_t)T * 23);
    float *z = compute(c0, NULL, x, n, &T2);
    test_diff_stats(a, z, (size_t)T * 23, &mx, &mean);
    /* KALDI-FEATURES.md §3: dither vs none differs by up to ~7, mean 0.25-0.8, on real speech;
     * this clip has 0.3 s of digital silence (-15.9 undithered), so the mean is larger */
    printf("dither 1 vs 0: max|d| %.3g mean|d| %.3g\n", mx, mean);
    assert_true(mean > 0.01 && mean < 5.0);
    /* dither without a state is a usage error */
    ch_error e;
    feat_workspace *ws;
    assert_int_equal(feat_workspace_create(cd, &ws, &e), CH_OK);
    assert_int_equal(feat_compute(cd, ws, NULL, x, n, z, &e), CH_ERR_USAGE);
    feat_workspace_free(ws);
    free(a);
    free(b);
    free(a2);
    free(b3);
    free(z);
    feat_computer_free(cd);
    feat_computer_free(c0);
}

/* One shared computer, a workspace per thread: identical to the serial result. */
static void test_threads(void **state)
{
    (void)state;
    const float *x = tf_get(g_ref, "audio/synth", NULL, NULL);
    long n = (long)tf_numel(g_ref, "audio/synth");
    feat_computer *c = make(FEAT_MFCC, 23, true, true, 0.0f);
    long T;
    float *ref = compute(c, NULL, x, n, &T);
    enum { K = 8 };
    float *outs[K];
    int bad = 0;
#pragma omp parallel for num_threads(2) schedule(static, 1) reduction(+ : bad)
    for (int k = 0; k < K; k++) {
        feat_workspace *ws = NULL;
        ch_error e;
        outs[k] = malloc(sizeof(float) * (size_t)T * 13);
        if (feat_workspace_create(c, &ws, &e) != CH_OK ||
            feat_compute(c, ws, NULL, x, n, outs[k], &e) != CH_OK)
            bad++;
        else
            bad += memcmp(outs[k], ref, sizeof(float) * (size_t)T * 13) != 0;
        feat_workspace_free(ws);
    }
    for (int k = 0; k < K; k++)
        free(outs[k]);
    assert_int_equal(bad, 0);
    free(ref);
    feat_computer_free(c);
}

/* Long outputs (>= 4 MB) are written with streaming stores from a per-block row buffer
 * (feat_compute.c): 150 s of fbank-80 (with energy, 81 columns, so rows straddle cache lines),
 * written to a 64-byte aligned buffer and to one 4 bytes past alignment, equal bit for bit the
 * same frames computed in short pieces (snip-edges: frames [a, b) are those of the samples
 * [a * 160, (b - 1) * 160 + 400)), which take the ordinary path. */
static void test_long_output(void **state)
{
    (void)state;
    const long n = 16000L * 150;
    float *x = malloc(sizeof(float) * (size_t)n);
    rng r;
    rng_seed(&r, 31, 0);
    for (long i = 0; i < n; i++)
        x[i] = (float)(rng_uniform(&r) * 2000.0 - 1000.0) * (i % 48000 < 32000 ? 1.0f : 0.01f);
    feat_computer *c = make(FEAT_FBANK, 80, true, true, 0.0f);
    const long T = feat_num_frames(c, n);
    const int dim = feat_dim(c);
    assert_true((size_t)T * dim * sizeof(float) >= ((size_t)4 << 20));
    float *big = aligned_alloc(64, (sizeof(float) * ((size_t)T * dim + 16) + 63) / 64 * 64);
    float *pieces = malloc(sizeof(float) * (size_t)T * dim);
    feat_workspace *ws;
    ch_error e;
    assert_int_equal(feat_workspace_create(c, &ws, &e), CH_OK);
    const long step = 997; /* frames per piece: not a multiple of the 8-frame blocks */
    for (long a = 0; a < T; a += step) {
        long b = a + step < T ? a + step : T;
        long lo = a * 160, len = (b - 1) * 160 + 400 - lo;
        assert_int_equal(feat_num_frames(c, len), b - a);
        assert_int_equal(feat_compute(c, ws, NULL, x + lo, len, pieces + (size_t)a * dim, &e),
                         CH_OK);
    }
    for (int shift = 0; shift <= 1; shift++) {
        float *out = big + shift;
        memset(out, 0xff, sizeof(float) * (size_t)T * dim); /* NaNs where nothing is written */
        assert_int_equal(feat_compute(c, ws, NULL, x, n, out, &e), CH_OK);
        assert_memory_equal(out, pieces, sizeof(float) * (size_t)T * dim);
    }
    feat_workspace_free(ws);
    free(big);
    free(pieces);
    free(x);
    feat_computer_free(c);
}

static void test_options(void **state)
{
    (void)state;
    feat_options f = feat_options_default(FEAT_FBANK), m = feat_options_default(FEAT_MFCC);
    assert_int_equal(f.num_mel_bins, 23);
    assert_false(f.use_energy);
    assert_true(m.use_energy);
    assert_float_equal(f.dither, 1.0f, 0);
    assert_float_equal(f.energy_floor, 0.0f, 0);
    assert_true(f.snip_edges);
    feat_computer *c;
    ch_error e;
    assert_int_equal(feat_computer_create(&m, &c, &e), CH_OK);
    assert_int_equal(feat_dim(c), 13);
    assert_int_equal(feat_window_size(c), 400);
    assert_int_equal(feat_window_shift(c), 160);
    feat_computer_free(c);
    feat_options s = feat_options_default(FEAT_SPECTROGRAM);
    assert_int_equal(feat_computer_create(&s, &c, &e), CH_OK);
    assert_int_equal(feat_dim(c), 257);
    feat_computer_free(c);
    struct {
        feat_options o;
        const char *expect;
    } bad[4];
    bad[0].o = m;
    bad[0].o.num_ceps = 30;
    bad[0].expect = "--num-ceps";
    bad[1].o = f;
    bad[1].o.num_mel_bins = 200; /* 512-point FFT: the lowest filters are empty */
    bad[1].expect = "is empty";
    bad[2].o = f;
    bad[2].o.frame_length_ms = 0.05f;
    bad[2].expect = "--frame-length";
    bad[3].o = f;
    bad[3].o.high_freq_hz = 9000;
    bad[3].expect = "--high-freq";
    for (int i = 0; i < 4; i++) {
        c = (feat_computer *)1;
        assert_int_equal(feat_computer_create(&bad[i].o, &c, &e), CH_ERR_USAGE);
        assert_null(c);
        printf("rejected: %s\n", e.msg);
        assert_non_null(strstr(e.msg, bad[i].expect));
    }
}

/* The WAV the ref script wrote, read through audio_read, gives the same int16-scale samples. */
static void test_audio_path(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/feat_audio/synth.wav", test_env("CHORUS_REF", "build/ref"));
    audio_options ao = audio_options_default();
    audio_buf a;
    ch_error e;
    ch_status st = audio_read(path, &ao, &a, &e);
    if (st != CH_OK)
        fail_msg("audio_read: %s", e.msg);
    const float *x = tf_get(g_ref, "audio/synth", NULL, NULL);
    assert_int_equal(a.n, (long)tf_numel(g_ref, "audio/synth"));
    assert_memory_equal(a.samples, x, sizeof(float) * (size_t)a.n);
    audio_free(&a);
}

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/kaldi_features.bin", test_env("CHORUS_REF", "build/ref"));
    FILE *f = fopen(path, "rb");
    if (!f)
        TEST_SKIP_ALL("%s missing (reference script tests/ref/kaldi_features.py not run: "
                      "needs /usr/bin/python3 with torchaudio)", path);
    fclose(f);
    g_ref = tf_load(path);
    if (!g_ref)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rand_glibc), cmocka_unit_test(test_parity),
        cmocka_unit_test(test_silence),    cmocka_unit_test(test_frame_counts),
        cmocka_unit_test(test_dither),     cmocka_unit_test(test_threads),
        cmocka_unit_test(test_options),    cmocka_unit_test(test_audio_path),
        cmocka_unit_test(test_long_output),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tf_free(g_ref);
    return rc;
}
