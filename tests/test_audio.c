/* test_audio.c — frontend/audio: WAV/FLAC round trips at exact int16 values, mixdown and channel
 * selection, resampling (length, frequency, amplitude), raw PCM from a stream, and every bad
 * input of tests/bad_audio.h (right status, message naming the file, no crash; also under
 * make asan). */
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include "bad_audio.h"
#include "frontend/audio.h"

static char tmpdir[4096];

/* Frequency of a sine from its zero crossings (linear interpolation between samples), measured
 * on x[a..b). */
static double zero_cross_freq(const float *x, long a, long b, int rate)
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

/* Amplitude of the f Hz component of x[a..b) (projection on sin and cos). */
static double tone_amplitude(const float *x, long a, long b, int rate, double f)
{
    double re = 0, im = 0;
    for (long i = a; i < b; i++) {
        double w = 2 * M_PI * f * i / rate;
        re += x[i] * cos(w);
        im += x[i] * sin(w);
    }
    return 2 * sqrt(re * re + im * im) / (double)(b - a);
}

static void test_wav_round_trip(void **state)
{
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/rt.wav", tmpdir);
    float in[] = {0, 1, -1, 32767, -32768, 12345, -23456, 1.4f, 1.6f, -2.5f, 40000, -40000};
    float want[] = {0, 1, -1, 32767, -32768, 12345, -23456, 1, 2, -2, 32767, -32768};
    const long n = sizeof in / sizeof in[0];
    ch_error e;
    assert_int_equal(audio_write_wav(path, in, n, 16000, &e), CH_OK);
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_false(access(tmp, F_OK) == 0); /* the temp file was renamed away */
    audio_buf a;
    audio_options o = audio_options_default();
    assert_int_equal(audio_read(path, &o, &a, &e), CH_OK);
    assert_int_equal(a.n, n);
    assert_int_equal(a.rate_hz, 16000);
    assert_false(a.resampled);
    assert_false(a.mixed_down);
    /* exact: int16 values survive write + read bit for bit (rounding half to even, clipping) */
    test_assert_close("wav round trip", a.samples, want, (size_t)n, 0, 0);
    audio_free(&a);

    /* a 1-s file of every int16 value pattern we can think of: a ramp over the whole range */
    long m = 65536;
    float *ramp = malloc((size_t)m * sizeof(float));
    for (long i = 0; i < m; i++)
        ramp[i] = (float)(i - 32768);
    assert_int_equal(audio_write_wav(path, ramp, m, 16000, &e), CH_OK);
    assert_int_equal(audio_read(path, &o, &a, &e), CH_OK);
    assert_int_equal(a.n, m);
    test_assert_close("wav ramp of all int16 values", a.samples, ramp, (size_t)m, 0, 0);
    audio_free(&a);
    free(ramp);

    /* bad arguments and an unwritable directory */
    assert_int_equal(audio_write_wav(path, in, n, 0, &e), CH_ERR_USAGE);
    assert_int_equal(audio_write_wav("/nonexistent-dir/x.wav", in, n, 16000, &e), CH_ERR_IO);
    assert_non_null(strstr(e.msg, "/nonexistent-dir/x.wav"));
    printf("unwritable: %s\n", e.msg);
}

static void test_formats_exact(void **state)
{
    (void)state;
    bad_audio_case c[BAD_AUDIO_MAX];
    int n = bad_audio_make(tmpdir, c, BAD_AUDIO_NO_LONG);
    assert_true(n > 0);
    /* FLAC, 24-bit and float WAV written from the same int16 sine must read back exactly:
     * FLAC is lossless, 24-bit holds s*256, float holds s/32768 (all exact). */
    const char *names[] = {"flac", "pcm24", "float32"};
    for (int k = 0; k < 3; k++) {
        audio_buf a;
        ch_error e;
        audio_options o = audio_options_default();
        assert_int_equal(audio_read(bad_audio_path(c, n, names[k]), &o, &a, &e), CH_OK);
        assert_int_equal(a.n, 16000);
        float *want = malloc(16000 * sizeof(float));
        for (long i = 0; i < 16000; i++)
            want[i] = (float)lrint(bad_audio_sine(i, 16000));
        test_assert_close(names[k], a.samples, want, 16000, 0, 0);
        free(want);
        audio_free(&a);
    }
}

static void test_channels(void **state)
{
    (void)state;
    bad_audio_case c[BAD_AUDIO_MAX];
    int n = bad_audio_make(tmpdir, c, BAD_AUDIO_NO_LONG);
    assert_true(n > 0);
    const char *path = bad_audio_path(c, n, "stereo16k");
    float *ch0 = malloc(16000 * sizeof(float)), *ch1 = malloc(16000 * sizeof(float));
    float *mix = malloc(16000 * sizeof(float));
    for (long i = 0; i < 16000; i++) {
        double s = bad_audio_sine(i, 16000);
        ch0[i] = (float)lrint(s);
        ch1[i] = (float)lrint(-0.5 * s);
        mix[i] = 0.5f * (ch0[i] + ch1[i]); /* exact: a half-integer */
    }
    audio_options o = audio_options_default();
    audio_buf a;
    ch_error e;
    assert_int_equal(audio_read(path, &o, &a, &e), CH_OK);
    assert_true(a.mixed_down);
    assert_int_equal(a.file_channels, 2);
    test_assert_close("stereo mixdown", a.samples, mix, 16000, 0, 0);
    audio_free(&a);
    o.channel = 0;
    assert_int_equal(audio_read(path, &o, &a, &e), CH_OK);
    assert_false(a.mixed_down);
    test_assert_close("channel 0", a.samples, ch0, 16000, 0, 0);
    audio_free(&a);
    o.channel = 1;
    assert_int_equal(audio_read(path, &o, &a, &e), CH_OK);
    test_assert_close("channel 1", a.samples, ch1, 16000, 0, 0);
    audio_free(&a);
    o.channel = 2;
    assert_int_not_equal(audio_read(path, &o, &a, &e), CH_OK);
    printf("channel 2 of stereo: %s\n", e.msg);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "channel 2"));
    assert_null(a.samples);
    free(ch0);
    free(ch1);
    free(mix);
}

static void test_resample(void **state)
{
    (void)state;
    bad_audio_case c[BAD_AUDIO_MAX];
    int n = bad_audio_make(tmpdir, c, BAD_AUDIO_NO_LONG);
    assert_true(n > 0);
    const char *names[] = {"mono8k", "mono48k", "mono44k"};
    for (int k = 0; k < 3; k++) {
        audio_buf a;
        ch_error e;
        audio_options o = audio_options_default();
        assert_int_equal(audio_read(bad_audio_path(c, n, names[k]), &o, &a, &e), CH_OK);
        assert_true(a.resampled);
        assert_int_equal(a.rate_hz, 16000);
        /* 1 s of audio at any rate -> round(n * 16000 / r) = 16000 samples */
        assert_int_equal(a.n, 16000);
        /* skip 0.1 s at each end (the resampler's filter transients) */
        double f = zero_cross_freq(a.samples, 1600, 14400, 16000);
        double amp = tone_amplitude(a.samples, 1600, 14400, 16000, 440.0);
        printf("%s -> 16k: n=%ld freq=%.4f Hz (want 440) amp=%.2f (want 8000, %.4f%%)\n",
               names[k], a.n, f, amp, 100 * fabs(amp - 8000) / 8000);
        /* a resampler that changed the pitch by even 0.1% would move 440 Hz by 0.44 Hz */
        assert_true(fabs(f - 440.0) < 0.05);
        /* brief asks for amplitude within 1%; SoX HQ's passband ripple is far below that */
        assert_true(fabs(amp - 8000) < 80);
        audio_free(&a);
    }
    /* odd lengths: round(n * out / in) */
    int rates[][2] = {{8000, 16000}, {48000, 16000}, {44100, 16000}, {16000, 8000},
                      {22050, 16000}};
    long lens[] = {1, 7, 12345, 44099};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            long len = lens[l];
            float *x = calloc((size_t)len, sizeof(float)), *y;
            long ny;
            ch_error e;
            assert_int_equal(audio_resample(x, len, rates[r][0], rates[r][1], &y, &ny, &e),
                             CH_OK);
            long want = lround((double)len * rates[r][1] / rates[r][0]);
            if (ny != want)
                printf("resample %d->%d n=%ld: got %ld want %ld\n", rates[r][0], rates[r][1],
                       len, ny, want);
            assert_int_equal(ny, want);
            free(x);
            free(y);
        }
    }
    float one = 5, *y;
    long ny;
    ch_error e;
    assert_int_equal(audio_resample(&one, 1, 16000, 16000, &y, &ny, &e), CH_OK);
    assert_int_equal(ny, 1);
    assert_true(y[0] == 5);
    free(y);
    assert_int_equal(audio_resample(&one, 1, 0, 16000, &y, &ny, &e), CH_ERR_USAGE);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    bad_audio_case c[BAD_AUDIO_MAX];
    int n = bad_audio_make(tmpdir, c, 0);
    assert_true(n > 0);
    int failures = 0;
    for (int i = 0; i < n; i++) {
        audio_buf a;
        ch_error e;
        e.msg[0] = 0;
        audio_options o = audio_options_default();
        ch_status st = audio_read(c[i].path, &o, &a, &e);
        if (c[i].ok) {
            int good = st == CH_OK && a.n == c[i].n_16k && a.rate_hz == 16000 &&
                       a.file_rate_hz == c[i].file_rate_hz &&
                       a.file_channels == c[i].file_channels;
            printf("%-10s %s: n=%ld file %d Hz x %d ch%s\n", c[i].name, good ? "ok  " : "FAIL",
                   st == CH_OK ? a.n : -1L, a.file_rate_hz, a.file_channels,
                   st == CH_OK ? "" : e.msg);
            failures += !good;
            if (st == CH_OK)
                audio_free(&a);
        } else {
            int good = st == c[i].status && strstr(e.msg, c[i].path) &&
                       (!c[i].msg || strstr(e.msg, c[i].msg)) && a.samples == NULL;
            printf("%-10s %s: [%s] %s\n", c[i].name, good ? "ok  " : "FAIL", ch_status_name(st),
                   e.msg);
            failures += !good;
            if (st == CH_OK)
                audio_free(&a);
        }
    }
    assert_int_equal(failures, 0);
    /* a directory is not an audio file */
    audio_buf a;
    ch_error e;
    assert_int_equal(audio_read(tmpdir, NULL, &a, &e), CH_ERR_IO);
    assert_non_null(strstr(e.msg, tmpdir));
}

static void test_pcm16_stream(void **state)
{
    (void)state;
    unsigned char bytes[] = {0x00, 0x00, 0xff, 0x7f, 0x00, 0x80, 0xff, 0xff, 0x39, 0x30, 0x01};
    float want[] = {0, 32767, -32768, -1, 12345};
    audio_buf a;
    ch_error e;
    FILE *f = fmemopen(bytes, 10, "rb");
    assert_int_equal(audio_read_pcm16(f, "-", 16000, -1, &a, &e), CH_OK);
    fclose(f);
    assert_int_equal(a.n, 5);
    assert_int_equal(a.rate_hz, 16000);
    test_assert_close("pcm16", a.samples, want, 5, 0, 0);
    audio_free(&a);
    f = fmemopen(bytes, 10, "rb"); /* max_samples stops early and leaves the rest */
    assert_int_equal(audio_read_pcm16(f, "-", 16000, 2, &a, &e), CH_OK);
    assert_int_equal(a.n, 2);
    assert_int_equal(fgetc(f), 0x00);
    fclose(f);
    audio_free(&a);
    f = fmemopen(bytes, 11, "rb");
    assert_int_equal(audio_read_pcm16(f, "stdin", 16000, -1, &a, &e), CH_ERR_FORMAT);
    printf("odd bytes: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "stdin: odd number of bytes (11)"));
    fclose(f);
    f = fopen("/dev/null", "rb");
    assert_int_equal(audio_read_pcm16(f, "stdin", 16000, -1, &a, &e), CH_ERR_FORMAT);
    assert_non_null(strstr(e.msg, "stdin: no audio samples"));
    fclose(f);
    /* a stream longer than the first buffer (64 KiB) */
    long m = 100000;
    unsigned char *big = malloc((size_t)m * 2);
    for (long i = 0; i < m; i++) {
        int16_t s = (int16_t)(i * 7 - 30000);
        big[2 * i] = (unsigned char)((uint16_t)s & 0xff);
        big[2 * i + 1] = (unsigned char)((uint16_t)s >> 8);
    }
    f = fmemopen(big, (size_t)m * 2, "rb");
    assert_int_equal(audio_read_pcm16(f, "-", 8000, -1, &a, &e), CH_OK);
    fclose(f);
    assert_int_equal(a.n, m);
    int bad = 0;
    for (long i = 0; i < m; i++)
        bad += a.samples[i] != (float)(int16_t)(i * 7 - 30000);
    assert_int_equal(bad, 0);
    audio_free(&a);
    free(big);
}

/* Kaldi-style commands: "cmd |" reads the command's stdout. */
static void test_commands(void **state)
{
    (void)state;
    bad_audio_case c[BAD_AUDIO_MAX];
    int n = bad_audio_make(tmpdir, c, BAD_AUDIO_NO_LONG);
    assert_true(n > 0);
    char cmd[8400];
    audio_options o = audio_options_default();
    audio_buf direct, piped;
    ch_error e;
    /* the same file read directly and through cat: identical samples */
    assert_int_equal(audio_read(bad_audio_path(c, n, "flac"), &o, &direct, &e), CH_OK);
    snprintf(cmd, sizeof cmd, "cat '%s' |", bad_audio_path(c, n, "flac"));
    if (audio_read(cmd, &o, &piped, &e) != CH_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(piped.n, direct.n);
    test_assert_close("cat flac |", piped.samples, direct.samples, (size_t)direct.n, 0, 0);
    audio_free(&piped);
    audio_free(&direct);
    /* sox writing a WAV to a pipe (no seek back to fix the header), then resampled 8k->16k */
    if (system("command -v sox >/dev/null 2>&1") == 0) {
        assert_int_equal(audio_read(bad_audio_path(c, n, "mono8k"), &o, &direct, &e), CH_OK);
        snprintf(cmd, sizeof cmd, "sox '%s' -t wav - |", bad_audio_path(c, n, "mono8k"));
        if (audio_read(cmd, &o, &piped, &e) != CH_OK)
            fail_msg("%s", e.msg);
        assert_true(piped.resampled);
        assert_int_equal(piped.n, direct.n);
        test_assert_close("sox -t wav - |", piped.samples, direct.samples, (size_t)direct.n, 0,
                          0);
        audio_free(&piped);
        audio_free(&direct);
    } else {
        printf("sox not installed: pipe-from-sox case not run\n");
    }
    struct {
        const char *cmd;
        ch_status st;
        const char *msg;
    } bad[] = {
        {"false |", CH_ERR_IO, "false |: command failed (exit status 1)"},
        {"echo not audio |", CH_ERR_FORMAT, "echo not audio |: output is not readable audio"},
        {"true |", CH_ERR_FORMAT, "true |: command wrote no data"},
        {"cat /nonexistent-chorus-file 2>/dev/null |", CH_ERR_IO, "command failed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ch_status st = audio_read(bad[i].cmd, &o, &piped, &e);
        printf("%s -> [%s] %s\n", bad[i].cmd, ch_status_name(st), e.msg);
        assert_int_equal(st, bad[i].st);
        assert_non_null(strstr(e.msg, bad[i].msg));
        assert_null(piped.samples);
    }
}

static void test_options_table(void **state)
{
    (void)state;
    audio_options o = audio_options_default();
    assert_int_equal(o.target_rate_hz, 16000);
    assert_int_equal(o.channel, -1);
    opt_group g[] = {{"Audio", audio_opts, audio_n_opts, &o}};
    ch_error e;
    assert_int_equal(opt_set(g, 1, "channel", "1", &e), CH_OK);
    assert_int_equal(opt_set(g, 1, "sample-frequency", "8000", &e), CH_OK);
    assert_int_equal(o.channel, 1);
    assert_int_equal(o.target_rate_hz, 8000);
    assert_int_equal(opt_set(g, 1, "channel", "-2", &e), CH_ERR_USAGE);
}

/* `test_audio --make-fixtures DIR [--no-long]`: writes the bad_audio.h fixtures into DIR
 * (created if missing) for shell tests, and prints one tab-separated line per case:
 * name, path, "ok" or the status name ("format error", ...), expected message part ("-"). */
static int make_fixtures(const char *dir, int flags)
{
    mkdir(dir, 0777);
    bad_audio_case c[BAD_AUDIO_MAX];
    int n = bad_audio_make(dir, c, flags);
    if (n < 0)
        return 1;
    for (int i = 0; i < n; i++)
        printf("%s\t%s\t%s\t%s\n", c[i].name, c[i].path,
               c[i].ok ? "ok" : ch_status_name(c[i].status), c[i].msg ? c[i].msg : "-");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--make-fixtures") == 0)
        return make_fixtures(argv[2], argc > 3 && strcmp(argv[3], "--no-long") == 0
                                          ? BAD_AUDIO_NO_LONG
                                          : 0);
    snprintf(tmpdir, sizeof tmpdir, "%s/audio", test_env("CHORUS_TMP", "/tmp"));
    mkdir(tmpdir, 0777);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wav_round_trip), cmocka_unit_test(test_formats_exact),
        cmocka_unit_test(test_channels),       cmocka_unit_test(test_resample),
        cmocka_unit_test(test_bad_inputs),     cmocka_unit_test(test_pcm16_stream),
        cmocka_unit_test(test_commands),       cmocka_unit_test(test_options_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
