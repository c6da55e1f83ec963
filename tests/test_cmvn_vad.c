/* test_cmvn_vad.c — frontend/cmvn.h and frontend/vad.h against the independent NumPy versions
 * of KALDI-FEATURES.md §8-9 in tests/ref/kaldi_features.py (direct window sums there, running
 * sums here), on the MFCC of synthesised speech with 0.3 s of digital silence. */
#include "test_util.h"

#include "frontend/cmvn.h"
#include "frontend/vad.h"
#include "tensorfile.h"

static tf_file *g_ref;

/* Tolerance: both sides sum in double; chorus rounds the result to float (relative 6e-8 of
 * values up to ~|100| for MFCC C0/log-energy, i.e. ~6e-6) and the running sums differ from
 * direct sums by ~1e-12 relative; var^-0.5 scaling multiplies by at most ~10 here. So an
 * absolute 1e-4 plus relative 1e-5 bound is ten times the expected worst case. */
#define ATOL 1e-4
#define RTOL 1e-5

static void test_cmvn_utt(void **state)
{
    (void)state;
    const int64_t *dims = NULL;
    const float *x = tf_get(g_ref, "cmvn/x", &dims, NULL);
    assert_non_null(x);
    int T = (int)dims[0], D = (int)dims[1];
    float *y = malloc(sizeof(float) * (size_t)T * D);
    ch_error e;
    int nf;
    memcpy(y, x, sizeof(float) * (size_t)T * D);
    assert_int_equal(cmvn_apply_utt(y, T, D, false, &nf, &e), CH_OK);
    test_assert_close("utt mean", y, tf_get(g_ref, "cmvn/utt_mean", NULL, NULL), (size_t)T * D,
                      ATOL, RTOL);
    memcpy(y, x, sizeof(float) * (size_t)T * D);
    assert_int_equal(cmvn_apply_utt(y, T, D, true, &nf, &e), CH_OK);
    test_assert_close("utt mean+var", y, tf_get(g_ref, "cmvn/utt_meanvar", NULL, NULL),
                      (size_t)T * D, ATOL, RTOL);
    assert_int_equal(nf, 0);
    /* constant columns hit the variance floor and are counted */
    float c[6] = {1, 2, 1, 3, 1, 4};
    assert_int_equal(cmvn_apply_utt(c, 3, 2, true, &nf, &e), CH_OK);
    assert_int_equal(nf, 1);
    assert_float_equal(c[0], 0.0f, 0.0f);
    free(y);
}

static void test_cmvn_sliding(void **state)
{
    (void)state;
    const int64_t *dims = NULL;
    const float *x = tf_get(g_ref, "cmvn/x", &dims, NULL);
    assert_non_null(x);
    int T = (int)dims[0], D = (int)dims[1];
    printf("input: %d frames x %d\n", T, D);
    struct {
        const char *name;
        int window, min_window;
        bool norm_vars, center;
    } cases[] = {
        {"cmvn/slide_600_100", 600, 100, false, false},   /* Kaldi default: window > T */
        {"cmvn/slide_50_10", 50, 10, false, false},
        {"cmvn/slide_50_10_var", 50, 10, true, false},
        {"cmvn/slide_300_center", 300, 100, false, true}, /* the sid/voxceleb recipe */
        {"cmvn/slide_51_center_var", 51, 100, true, true},
    };
    float *y = malloc(sizeof(float) * (size_t)T * D);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cmvn_options o = cmvn_options_default();
        o.cmn_window = cases[i].window;
        o.min_cmn_window = cases[i].min_window;
        o.norm_vars = cases[i].norm_vars;
        o.center = cases[i].center;
        ch_error e;
        int nf;
        assert_int_equal(cmvn_apply_sliding(&o, x, y, T, D, &nf, &e), CH_OK);
        const float *want = tf_get(g_ref, cases[i].name, NULL, NULL);
        assert_non_null(want);
        test_assert_close(cases[i].name, y, want, (size_t)T * D, ATOL, RTOL);
    }
    /* defaults are Kaldi's */
    cmvn_options d = cmvn_options_default();
    assert_int_equal(d.cmn_window, 600);
    assert_int_equal(d.min_cmn_window, 100);
    assert_false(d.norm_vars);
    assert_false(d.center);
    free(y);
}

static void test_vad(void **state)
{
    (void)state;
    const int64_t *dims = NULL;
    const float *x = tf_get(g_ref, "cmvn/x", &dims, NULL);
    assert_non_null(x);
    int T = (int)dims[0], D = (int)dims[1];
    float *v = malloc(sizeof(float) * (size_t)(T > 200 ? T : 200));
    ch_error e;
    int nv;
    vad_options o = vad_options_default();
    assert_int_equal(vad_compute(&o, x, T, D, v, &nv, &e), CH_OK);
    const float *want = tf_get(g_ref, "vad/default", NULL, NULL);
    test_assert_close("vad default", v, want, (size_t)T, 0, 0);
    printf("default VAD: %d of %d frames voiced\n", nv, T);
    assert_true(nv > T / 4 && nv < T); /* speech with a silent gap */
    o.energy_threshold = 5.5f;
    o.energy_mean_scale = 0.5f;
    o.proportion_threshold = 0.12f;
    o.frames_context = 2;
    assert_int_equal(vad_compute(&o, x, T, D, v, &nv, &e), CH_OK);
    test_assert_close("vad voxceleb", v, tf_get(g_ref, "vad/voxceleb", NULL, NULL), (size_t)T, 0,
                      0);
    const float *er = tf_get(g_ref, "vad/e_rand", NULL, NULL);
    o.energy_threshold = 4.0f;
    o.energy_mean_scale = 0.3f;
    o.frames_context = 3;
    o.proportion_threshold = 0.5f;
    assert_int_equal(vad_compute(&o, er, 200, 1, v, &nv, &e), CH_OK);
    test_assert_close("vad random ctx3", v, tf_get(g_ref, "vad/rand_ctx3", NULL, NULL), 200, 0, 0);
    assert_int_equal(vad_compute(&o, x, 0, D, v, &nv, &e), CH_ERR_FORMAT);
    free(v);
}

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/kaldi_features.bin", test_env("CHORUS_REF", "build/ref"));
    FILE *f = fopen(path, "rb");
    if (!f)
        TEST_SKIP_ALL("%s missing (tests/ref/kaldi_features.py not run: needs /usr/bin/python3 "
                      "with torchaudio)", path);
    fclose(f);
    g_ref = tf_load(path);
    if (!g_ref)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmvn_utt),
        cmocka_unit_test(test_cmvn_sliding),
        cmocka_unit_test(test_vad),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tf_free(g_ref);
    return rc;
}
