/* test_augment.c — frontend/augment: SNR achieved, shifts exact, speed changes length by
 * 1/factor and pitch by factor, gain, SpecAugment mask counts/widths/fill, determinism by seed.
 */
#include "test_util.h"

#include "frontend/augment.h"

static float *sine(long n, double f, int rate, double amp)
{
    float *x = malloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++)
        x[i] = (float)(amp * sin(2 * M_PI * f * (double)i / rate));
    return x;
}

static float *white(long n, uint64_t seed, double sd)
{
    rng r;
    rng_seed(&r, seed, 7);
    float *x = malloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++)
        x[i] = (float)(sd * rng_normal(&r));
    return x;
}

static double power(const float *x, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s / (double)n;
}

static void test_noise_snr(void **state)
{
    (void)state;
    const long n = 16000;
    float *clean = sine(n, 300, 16000, 5000);
    long noise_lens[] = {3001, 16000, 50000}; /* looped, exact fit, cropped */
    double snrs[] = {-5, 0, 7.5, 20, 40};
    double worst = 0;
    for (size_t a = 0; a < 3; a++) {
        float *noise = white(noise_lens[a], 11 + a, 700);
        for (size_t b = 0; b < sizeof snrs / sizeof snrs[0]; b++) {
            float *x = malloc(n * sizeof(float)), *added = malloc(n * sizeof(float));
            memcpy(x, clean, n * sizeof(float));
            rng r;
            rng_seed(&r, 1234, b);
            double g;
            ch_error e;
            assert_int_equal(
                augment_add_noise(x, n, noise, noise_lens[a], snrs[b], &r, &g, &e), CH_OK);
            for (long i = 0; i < n; i++)
                added[i] = x[i] - clean[i];
            double snr = 10 * log10(power(clean, n) / power(added, n));
            worst = fmax(worst, fabs(snr - snrs[b]));
            printf("noise len %5ld, SNR want %5.1f dB got %10.6f dB (gain %.4f)\n",
                   noise_lens[a], snrs[b], snr, g);
            /* the brief's bound: 0.1 dB; what remains is float rounding of x + g*noise */
            assert_true(fabs(snr - snrs[b]) < 0.1);
            /* the added signal is g * the noise read from one offset, wrapping around */
            long off = -1;
            /* a long noise is cropped, so only offsets whose window fits are candidates (a
             * periodic noise would otherwise also match at a wrapped offset) */
            long last = noise_lens[a] >= n ? noise_lens[a] - n : noise_lens[a] - 1;
            for (long o = 0; o <= last && off < 0; o++) {
                int match = 1;
                for (long i = 0; i < 64 && match; i++)
                    match = fabs(added[i] - g * noise[(o + i) % noise_lens[a]]) < 0.05;
                if (match)
                    off = o;
            }
            assert_true(off >= 0);
            double maxd = 0;
            for (long i = 0; i < n; i++)
                maxd = fmax(maxd, fabs(added[i] - g * noise[(off + i) % noise_lens[a]]));
            if (noise_lens[a] >= n)
                assert_true(off + n <= noise_lens[a]); /* cropped, never wrapped */
            /* float rounding of x + g*noise on the int16 scale: a few ulps of 5000 */
            assert_true(maxd < 0.01);
            free(x);
            free(added);
        }
        free(noise);
    }
    printf("worst SNR error %.2e dB\n", worst);
    /* silent input: nothing added; silent noise and empty noise: errors */
    float zeros[100] = {0}, sig[100];
    for (int i = 0; i < 100; i++)
        sig[i] = (float)i;
    rng r;
    rng_seed(&r, 1, 1);
    ch_error e;
    float *noise = white(100, 3, 1);
    float z[100] = {0};
    assert_int_equal(augment_add_noise(z, 100, noise, 100, 10, &r, NULL, &e), CH_OK);
    assert_true(power(z, 100) == 0);
    assert_int_equal(augment_add_noise(sig, 100, zeros, 100, 10, &r, NULL, &e), CH_ERR_USAGE);
    assert_int_equal(augment_add_noise(sig, 100, noise, 0, 10, &r, NULL, &e), CH_ERR_USAGE);
    assert_int_equal(augment_add_noise(sig, 100, noise, 100, NAN, &r, NULL, &e), CH_ERR_USAGE);
    free(noise);
    free(clean);
}

static void test_shift(void **state)
{
    (void)state;
    const long n = 50;
    float x[50], y[50];
    for (long i = 0; i < n; i++)
        x[i] = (float)(i + 1);
    long shifts[] = {0, 1, 7, -7, 49, -49, 50, -50, 1000};
    for (size_t k = 0; k < sizeof shifts / sizeof shifts[0]; k++) {
        memcpy(y, x, sizeof x);
        augment_shift(y, n, shifts[k]);
        int bad = 0;
        for (long i = 0; i < n; i++) {
            long src = i - shifts[k];
            float want = src >= 0 && src < n ? x[src] : 0;
            bad += y[i] != want;
        }
        if (bad)
            printf("shift %ld: %d samples wrong\n", shifts[k], bad);
        assert_int_equal(bad, 0);
    }
    /* random shifts: within +-max, both ends reached, roughly uniform */
    rng r;
    rng_seed(&r, 5, 0);
    long lo = 0, hi = 0;
    for (int i = 0; i < 20000; i++) {
        long s = augment_draw_shift(&r, 100, 16000); /* +-1600 samples */
        assert_true(s >= -1600 && s <= 1600);
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
    }
    printf("20000 draws of a +-100 ms shift at 16 kHz: min %ld max %ld (bounds +-1600)\n", lo,
           hi);
    assert_true(lo < -1500 && hi > 1500);
    assert_int_equal(augment_draw_shift(&r, 0, 16000), 0);
}

/* Frequency from zero crossings between samples a and b. */
static double zc_freq(const float *x, long a, long b, int rate)
{
    double first = -1, last = -1;
    long count = 0;
    for (long i = a; i + 1 < b; i++) {
        if ((x[i] < 0) != (x[i + 1] < 0)) {
            double t = i + x[i] / (double)(x[i] - x[i + 1]);
            if (first < 0)
                first = t;
            last = t;
            count++;
        }
    }
    return count > 1 ? (count - 1) / 2.0 / ((last - first) / rate) : 0;
}

static void test_speed(void **state)
{
    (void)state;
    const long n = 16000;
    float *x = sine(n, 440, 16000, 8000);
    double factors[] = {0.9, 0.95, 1.0, 1.1, 1.234};
    for (size_t k = 0; k < sizeof factors / sizeof factors[0]; k++) {
        double f = factors[k];
        long want = augment_speed_length(n, f);
        assert_int_equal(want, lround(n / f));
        float *y = malloc((size_t)want * sizeof(float));
        long ny;
        ch_error e;
        assert_int_equal(augment_speed(y, want, &ny, x, n, f, &e), CH_OK);
        assert_int_equal(ny, want);
        double fr = zc_freq(y, ny / 10, ny - ny / 10, 16000);
        double amp = sqrt(2 * power(y + ny / 10, ny - 2 * (ny / 10)));
        printf("speed %.3f: length %ld (n/f = %.1f), tone %.3f Hz (want %.3f), amplitude %.1f\n",
               f, ny, n / f, fr, 440 * f, amp);
        /* tempo and pitch scale together: 440 Hz becomes 440*f (0.05 Hz is 1e-4 relative) */
        assert_true(fabs(fr - 440 * f) < 0.05);
        /* HQ resampling keeps a tone far below Nyquist at its amplitude (within 1%) */
        assert_true(fabs(amp - 8000) < 80);
        free(y);
    }
    float y[10];
    long ny;
    ch_error e;
    assert_int_equal(augment_speed(y, 10, &ny, x, n, 1.1, &e), CH_ERR_USAGE); /* no room */
    assert_int_equal(augment_speed(y, 10, &ny, x, 10, 0.05, &e), CH_ERR_USAGE);
    free(x);
}

static void test_gain(void **state)
{
    (void)state;
    float x[4] = {1, -2, 100, 0};
    augment_gain(x, 4, 20 * log10(2.0));
    float want[4] = {2, -4, 200, 0};
    /* 10^(20 log10(2) / 20) rounds to 2 within a float ulp */
    test_assert_close("gain +6.02 dB", x, want, 4, 0, 1e-6);
    augment_gain(x, 4, -20);
    float want2[4] = {0.2f, -0.4f, 20, 0};
    test_assert_close("gain -20 dB", x, want2, 4, 0, 1e-6);
}

static void test_spec_mask(void **state)
{
    (void)state;
    const int T = 98, F = 40;
    float *orig = malloc((size_t)T * F * sizeof(float)), *m = malloc((size_t)T * F * sizeof(float));
    double mean = 0;
    for (int i = 0; i < T * F; i++) {
        orig[i] = (float)(10 + 3 * sin(i * 0.37) + (i % F) * 0.1);
        mean += orig[i];
    }
    mean /= T * F;
    augment_options o = augment_options_default();
    o.freq_masks = 3;
    o.freq_mask_max = 7;
    o.time_masks = 2;
    o.time_mask_max = 12;
    int saw_max_f = 0, saw_max_t = 0, saw_zero = 0;
    for (int seed = 0; seed < 400; seed++) {
        for (int fill = 0; fill < 2; fill++) {
            o.mask_fill = fill;
            memcpy(m, orig, (size_t)T * F * sizeof(float));
            rng r;
            rng_seed(&r, (uint64_t)seed, 0);
            augment_mask fm[3], tm[2];
            augment_spec_mask(m, T, F, &o, &r, fm, tm);
            char *covered = calloc((size_t)T * F, 1);
            for (int k = 0; k < 3; k++) {
                assert_true(fm[k].width >= 0 && fm[k].width <= 7);
                assert_true(fm[k].start >= 0 && fm[k].start + fm[k].width <= F);
                saw_max_f |= fm[k].width == 7;
                saw_zero |= fm[k].width == 0;
                for (int t = 0; t < T; t++)
                    for (int b = fm[k].start; b < fm[k].start + fm[k].width; b++)
                        covered[t * F + b] = 1;
            }
            for (int k = 0; k < 2; k++) {
                assert_true(tm[k].width >= 0 && tm[k].width <= 12);
                assert_true(tm[k].start >= 0 && tm[k].start + tm[k].width <= T);
                saw_max_t |= tm[k].width == 12;
                for (int t = tm[k].start; t < tm[k].start + tm[k].width; t++)
                    for (int b = 0; b < F; b++)
                        covered[t * F + b] = 1;
            }
            /* exactly the cells of the reported masks changed, to the fill value */
            float fv = fill ? (float)mean : 0.0f;
            int wrong = 0;
            for (int i = 0; i < T * F; i++)
                wrong += covered[i] ? fabsf(m[i] - fv) > 1e-4f : m[i] != orig[i];
            if (wrong)
                printf("seed %d fill %d: %d cells wrong\n", seed, fill, wrong);
            assert_int_equal(wrong, 0);
            free(covered);
            /* deterministic: the same seed gives the same masks */
            float *again = malloc((size_t)T * F * sizeof(float));
            memcpy(again, orig, (size_t)T * F * sizeof(float));
            rng_seed(&r, (uint64_t)seed, 0);
            augment_spec_mask(again, T, F, &o, &r, NULL, NULL);
            assert_memory_equal(again, m, (size_t)T * F * sizeof(float));
            free(again);
        }
    }
    printf("400 seeds: widest frequency mask 7 seen: %d, widest time mask 12 seen: %d, "
           "empty mask seen: %d\n",
           saw_max_f, saw_max_t, saw_zero);
    assert_true(saw_max_f && saw_max_t && saw_zero);
    /* masks wider than the matrix are clipped to it */
    o.freq_masks = 1;
    o.freq_mask_max = 1000;
    o.time_masks = 0;
    rng r;
    rng_seed(&r, 9, 0);
    augment_mask fm;
    memcpy(m, orig, (size_t)T * F * sizeof(float));
    augment_spec_mask(m, T, F, &o, &r, &fm, NULL);
    assert_true(fm.width <= F && fm.start + fm.width <= F);
    free(orig);
    free(m);
}

static void test_chain_deterministic(void **state)
{
    (void)state;
    const long n = 16000;
    float *x = sine(n, 500, 16000, 3000), *noise = white(7000, 99, 300);
    augment_options o = augment_options_default();
    o.noise_prob = 1;
    long cap = augment_wave_capacity(n, &o);
    assert_true(cap >= lround(n / 0.9));
    float *y1 = malloc((size_t)cap * sizeof(float)), *y2 = malloc((size_t)cap * sizeof(float));
    long n1, n2;
    rng r;
    ch_error e;
    rng_seed(&r, 42, 3);
    assert_int_equal(augment_wave(y1, cap, &n1, x, n, 16000, noise, 7000, &o, &r, &e), CH_OK);
    rng_seed(&r, 42, 3);
    assert_int_equal(augment_wave(y2, cap, &n2, x, n, 16000, noise, 7000, &o, &r, &e), CH_OK);
    assert_int_equal(n1, n2);
    assert_memory_equal(y1, y2, (size_t)n1 * sizeof(float));
    rng_seed(&r, 43, 3);
    assert_int_equal(augment_wave(y2, cap, &n2, x, n, 16000, noise, 7000, &o, &r, &e), CH_OK);
    assert_true(n1 != n2 || memcmp(y1, y2, (size_t)n1 * sizeof(float)) != 0);
    printf("chain: seed 42 -> %ld samples, seed 43 -> %ld samples (from %ld)\n", n1, n2, n);
    assert_true(n1 >= lround(n / 1.1) && n1 <= lround(n / 0.9));
    /* all off: output equals input */
    augment_options off = o;
    off.noise_prob = 0;
    off.speed_min = off.speed_max = 1;
    off.gain_min_db = off.gain_max_db = 0;
    off.shift_max_ms = 0;
    assert_int_equal(augment_wave(y1, cap, &n1, x, n, 16000, noise, 7000, &off, &r, &e), CH_OK);
    assert_int_equal(n1, n);
    assert_memory_equal(y1, x, (size_t)n * sizeof(float));
    off.snr_min_db = 30;
    off.snr_max_db = 10;
    assert_int_equal(augment_wave(y1, cap, &n1, x, n, 16000, noise, 7000, &off, &r, &e),
                     CH_ERR_USAGE);
    printf("bad options: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "--aug-snr-min"));
    free(x);
    free(noise);
    free(y1);
    free(y2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_snr),  cmocka_unit_test(test_shift),
        cmocka_unit_test(test_speed),      cmocka_unit_test(test_gain),
        cmocka_unit_test(test_spec_mask),  cmocka_unit_test(test_chain_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
