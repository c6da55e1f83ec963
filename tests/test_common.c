/* test_common.c — common/: options parsing and config files, CRC-32, RNG, atomic files. */
#include "test_util.h"

#include <unistd.h>

#include "common/cli.h"
#include "common/crc32.h"
#include "common/fileio.h"
#include "common/options.h"
#include "common/rng.h"

typedef struct {
    float frame_shift_ms;
    int bins;
    bool snip;
    char name[16];
    int kind;
    double lr;
} demo_opts;

static const opt_desc demo_table[] = {
    OPT_FLOAT(demo_opts, frame_shift_ms, "frame-shift", 0.1, 1000, "Frame shift (ms)"),
    OPT_INT(demo_opts, bins, "num-mel-bins", 1, 512, "Mel bins"),
    OPT_BOOL(demo_opts, snip, "snip-edges", "Snip edges"),
    OPT_STRING(demo_opts, name, "name", "A name"),
    OPT_CHOICE(demo_opts, kind, "feature-type", "fbank|mfcc|spectrogram", "Feature type"),
    OPT_DOUBLE(demo_opts, lr, "lr", 0, 10, "Learning rate"),
};

static demo_opts demo_default(void)
{
    demo_opts o = {10.0f, 23, true, "x", 0, 0.1};
    return o;
}

static ch_status parse(demo_opts *o, int argc, char **argv, char **pos, int *npos, ch_error *e)
{
    opt_group g[] = {{"Demo", demo_table, OPT_COUNT(demo_table), o}};
    opt_parser p = {"prog", "[options] <a> <b>", "summary", g, 1, 0, 2};
    bool help;
    return opt_parse(&p, argc, argv, pos, npos, &help, e);
}

static void test_options_cli(void **state)
{
    (void)state;
    demo_opts o = demo_default();
    char *argv[] = {"prog", "--frame-shift=12.5", "--num-mel-bins", "80", "a.scp",
                    "--snip-edges=false", "--feature-type=mfcc", "--name", "hello", "-", NULL};
    char *pos[16];
    int npos;
    ch_error e;
    assert_int_equal(parse(&o, 10, argv, pos, &npos, &e), CH_OK);
    assert_float_equal(o.frame_shift_ms, 12.5f, 0);
    assert_int_equal(o.bins, 80);
    assert_false(o.snip);
    assert_int_equal(o.kind, 1);
    assert_string_equal(o.name, "hello");
    assert_int_equal(npos, 2);
    assert_string_equal(pos[0], "a.scp");
    assert_string_equal(pos[1], "-");
}

static void test_options_errors(void **state)
{
    (void)state;
    char *pos[16];
    int npos;
    ch_error e;
    struct {
        char *arg;
        const char *expect;
    } cases[] = {
        {"--num-mel-bins=abc", "not an integer"}, {"--num-mel-bins=0", "out of range"},
        {"--frame-shift=1e9", "out of range"},    {"--feature-type=plp", "not one of"},
        {"--snip-edges=maybe", "not a boolean"},  {"--bogus=1", "unknown option '--bogus'"},
        {"--lr=nan", "not a finite number"},      {"--name=waytoolongforthisbuffer", "longer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        demo_opts o = demo_default();
        char *argv[] = {"prog", cases[i].arg, NULL};
        assert_int_equal(parse(&o, 2, argv, pos, &npos, &e), CH_ERR_USAGE);
        printf("%s -> %s\n", cases[i].arg, e.msg);
        assert_non_null(strstr(e.msg, cases[i].expect));
    }
    demo_opts o = demo_default();
    char *argv[] = {"prog", "a", "b", "c", NULL};
    assert_int_equal(parse(&o, 4, argv, pos, &npos, &e), CH_ERR_USAGE);
    char *argv2[] = {"prog", "--num-mel-bins", NULL};
    assert_int_equal(parse(&o, 2, argv2, pos, &npos, &e), CH_ERR_USAGE);
    assert_non_null(strstr(e.msg, "missing value"));
}

static void test_options_config(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/test_common.conf", test_env("CHORUS_TMP", "/tmp"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# a comment\n--num-mel-bins=40\nframe-shift=5  \n\nsnip-edges=false # trailing\n");
    fclose(f);
    demo_opts o = demo_default();
    char cfg[600];
    snprintf(cfg, sizeof cfg, "--config=%s", path);
    char *argv[] = {"prog", "--num-mel-bins=64", cfg, NULL};
    char *pos[8];
    int npos;
    ch_error e;
    assert_int_equal(parse(&o, 3, argv, pos, &npos, &e), CH_OK);
    assert_int_equal(o.bins, 64); /* the command line wins over the file */
    assert_float_equal(o.frame_shift_ms, 5.0f, 0);
    assert_false(o.snip);

    f = fopen(path, "w");
    fprintf(f, "num-mel-bins=40\nunknown-thing=3\n");
    fclose(f);
    o = demo_default();
    assert_int_equal(parse(&o, 3, argv, pos, &npos, &e), CH_ERR_USAGE);
    assert_non_null(strstr(e.msg, ":2: unknown option"));
    unlink(path);
    char *argv3[] = {"prog", "--config=/nonexistent/x.conf", NULL};
    assert_int_equal(parse(&o, 2, argv3, pos, &npos, &e), CH_ERR_USAGE);
    assert_non_null(strstr(e.msg, "/nonexistent/x.conf"));
}

static void test_crc32(void **state)
{
    (void)state;
    /* The standard check value of CRC-32/ISO-HDLC. */
    assert_int_equal(crc32_update(0, "123456789", 9), 0xCBF43926u);
    uint32_t c = crc32_update(0, "1234", 4);
    assert_int_equal(crc32_update(c, "56789", 5), 0xCBF43926u);
    assert_int_equal(crc32_update(0, "", 0), 0u);
}

static void test_rng(void **state)
{
    (void)state;
    rng a, b, c;
    rng_seed(&a, 42, 0);
    rng_seed(&b, 42, 0);
    rng_seed(&c, 42, 1);
    int same_stream = 1, diff_stream = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = rng_u32(&a), y = rng_u32(&b), z = rng_u32(&c);
        same_stream &= x == y;
        diff_stream += x != z;
    }
    assert_true(same_stream);
    assert_true(diff_stream > 95);
    double sum = 0, sq = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double g = rng_normal(&a);
        sum += g;
        sq += g * g;
    }
    assert_true(fabs(sum / n) < 0.01);
    assert_true(fabs(sq / n - 1.0) < 0.02);
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++)
        counts[rng_below(&a, 7)]++;
    for (int k = 0; k < 7; k++)
        assert_true(abs(counts[k] - 10000) < 500);
}

static void test_atomic_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/atomic.bin", test_env("CHORUS_TMP", "/tmp"));
    ch_error e;
    atomic_file a;
    assert_int_equal(atomic_open(&a, path, &e), CH_OK);
    assert_int_equal(atomic_write(&a, "hello ", 6, &e), CH_OK);
    assert_int_equal(atomic_write(&a, "world", 5, &e), CH_OK);
    assert_false(path_exists(path)); /* nothing visible before commit */
    assert_int_equal(atomic_commit(&a, &e), CH_OK);
    char *data;
    size_t n;
    assert_int_equal(file_read_all(path, &data, &n, &e), CH_OK);
    assert_int_equal(n, 11);
    assert_string_equal(data, "hello world");
    free(data);
    /* An aborted rewrite leaves the old file intact. */
    assert_int_equal(atomic_open(&a, path, &e), CH_OK);
    assert_int_equal(atomic_write(&a, "XX", 2, &e), CH_OK);
    atomic_abort(&a);
    assert_int_equal(file_read_all(path, &data, &n, &e), CH_OK);
    assert_string_equal(data, "hello world");
    free(data);
    unlink(path);
    assert_int_equal(file_read_all("/nonexistent/file", &data, &n, &e), CH_ERR_IO);
    assert_non_null(strstr(e.msg, "/nonexistent/file: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_cli),  cmocka_unit_test(test_options_errors),
        cmocka_unit_test(test_options_config), cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_rng),          cmocka_unit_test(test_atomic_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
