/* test_kws_stream.c — the KWS pieces that need no trained model: the streaming detector
 * (smoothing, thresholds, refractory period, re-arming, non-keywords never fire), clip fitting,
 * per-window CMN, the frontend text a checkpoint carries (round trip, rejection), the shard
 * split of the distributed hook, and the threaded loader: batches are bit-identical whatever
 * the number of worker threads and equal to building each example directly, and differ by
 * epoch.
 */
#include "test_util.h"

#include "infer/kws_stream.h"
#include "train/kws_data.h"
#include "train/trainer.h"

enum { K = 4 }; /* _silence_, _unknown_, yes, no */

static void probs_of(float *p, int hot, float v)
{
    for (int k = 0; k < K; k++)
        p[k] = (1 - v) / (K - 1);
    p[hot] = v;
}

static kws_detector *make_det(int smooth, double refractory)
{
    static const float thr[K] = {2.0f, 2.0f, 0.7f, 0.7f};
    kws_detector_options o = {K, smooth, thr, refractory, 1.0};
    kws_detector *d = NULL;
    ch_error err;
    assert_int_equal(kws_detector_create(&d, &o, &err), CH_OK);
    return d;
}

static void test_detector_basic(void **state)
{
    (void)state;
    kws_detector *d = make_det(1, 1.0);
    float p[K];
    kws_event ev;
    int n = 0;
    double first = -1;
    /* silence (non-keyword, even at 0.99) never fires */
    for (int w = 0; w < 10; w++) {
        probs_of(p, 0, 0.99f);
        n += kws_detector_push(d, p, w * 0.1, NULL, &ev);
    }
    assert_int_equal(n, 0);
    /* "yes" above threshold for 5 windows: one event, at the first of them */
    for (int w = 10; w < 15; w++) {
        probs_of(p, 2, 0.9f);
        if (kws_detector_push(d, p, w * 0.1, NULL, &ev)) {
            n++;
            if (first < 0)
                first = ev.start_s;
            assert_int_equal(ev.label, 2);
            assert_float_equal(ev.score, 0.9f, 1e-6);
            assert_float_equal(ev.end_s, ev.start_s + 1.0, 1e-9);
        }
    }
    assert_int_equal(n, 1);
    assert_float_equal(first, 1.0, 1e-9);
    /* drops below, rises again inside the refractory period (t = 1.6 < 1.0 + 1.0): nothing */
    probs_of(p, 2, 0.1f);
    assert_int_equal(kws_detector_push(d, p, 1.5, NULL, &ev), 0);
    probs_of(p, 3, 0.9f);
    assert_int_equal(kws_detector_push(d, p, 1.6, NULL, &ev), 0);
    /* still above at 2.1 (out of refractory) but it never dropped: no second event */
    assert_int_equal(kws_detector_push(d, p, 2.1, NULL, &ev), 0);
    probs_of(p, 3, 0.2f);
    assert_int_equal(kws_detector_push(d, p, 2.2, NULL, &ev), 0);
    probs_of(p, 3, 0.8f);
    assert_int_equal(kws_detector_push(d, p, 2.3, NULL, &ev), 1);
    assert_int_equal(ev.label, 3);
    kws_detector_free(d);
}

static void test_detector_smoothing(void **state)
{
    (void)state;
    kws_detector *d = make_det(3, 0.0);
    float p[K], sm[K];
    kws_event ev;
    /* one-window spike of 0.95 between 0.25s: mean over 3 is < 0.7, no event */
    probs_of(p, 2, 0.25f);
    assert_int_equal(kws_detector_push(d, p, 0.0, sm, &ev), 0);
    assert_int_equal(kws_detector_push(d, p, 0.1, sm, &ev), 0);
    probs_of(p, 2, 0.95f);
    assert_int_equal(kws_detector_push(d, p, 0.2, sm, &ev), 0);
    assert_float_equal(sm[2], (0.25f + 0.25f + 0.95f) / 3, 1e-6);
    /* a sustained rise: fires when the 3-window mean reaches 0.7 (0.25, 0.95, 0.95 = 0.717) */
    assert_int_equal(kws_detector_push(d, p, 0.3, sm, &ev), 1);
    assert_float_equal(ev.score, (0.25f + 0.95f + 0.95f) / 3, 1e-6);
    kws_detector_reset(d);
    probs_of(p, 2, 0.95f);
    assert_int_equal(kws_detector_push(d, p, 5.0, sm, &ev), 1); /* reset: history gone */
    kws_detector_free(d);
}

static void test_fit_and_cmn(void **state)
{
    (void)state;
    float x[10], out[6];
    for (int i = 0; i < 10; i++)
        x[i] = (float)i;
    kws_fit_clip(out, 6, x, 10); /* centre crop: 2..7 */
    for (int i = 0; i < 6; i++)
        assert_float_equal(out[i], (float)(i + 2), 0);
    kws_fit_clip(out, 6, x, 3); /* centre pad: 0 [0 1 2] 0 0 (pad (6-3)/2 = 1) */
    float want[6] = {0, 0, 1, 2, 0, 0};
    for (int i = 0; i < 6; i++)
        assert_float_equal(out[i], want[i], 0);
    float m[3 * 2] = {1, 10, 2, 20, 6, 30};
    kws_cmn(m, 3, 2);
    assert_float_equal(m[0] + m[2] + m[4], 0, 1e-5);
    assert_float_equal(m[1] + m[3] + m[5], 0, 1e-5);
    assert_float_equal(m[1], -10, 1e-5);
}

static void test_frontend_text(void **state)
{
    (void)state;
    kws_frontend f = kws_frontend_default();
    f.feat.num_mel_bins = 23;
    f.feat.dither = 0;
    f.cmn = false;
    f.clip_samples = 12000;
    char *t = kws_frontend_to_text(&f);
    assert_non_null(t);
    kws_frontend g;
    ch_error err;
    assert_int_equal(kws_frontend_from_text(&g, t, "x.ckpt", &err), CH_OK);
    assert_int_equal(g.feat.num_mel_bins, 23);
    assert_float_equal(g.feat.dither, 0, 0);
    assert_false(g.cmn);
    assert_int_equal(g.clip_samples, 12000);
    free(t);
    /* another model's frontend (no kws keys), a bad value, garbage */
    assert_int_equal(kws_frontend_from_text(&g, "num-mel-bins=40\n", "x.ckpt", &err),
                     CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "x.ckpt: not a keyword-spotting checkpoint"));
    assert_int_equal(kws_frontend_from_text(&g, "num-mel-bins=abc\nkws-clip-samples=16000\n",
                                            "x.ckpt", &err),
                     CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "x.ckpt: frontend"));
    assert_int_equal(kws_frontend_from_text(&g, "junk\n", "x.ckpt", &err), CH_ERR_FORMAT);
    assert_true(kws_is_keyword("yes"));
    assert_false(kws_is_keyword("_silence_"));
    assert_false(kws_is_keyword("_unknown_"));
}

static void test_shard(void **state)
{
    (void)state;
    for (int n = 0; n < 40; n++)
        for (int world = 1; world <= 5; world++) {
            int prev = 0;
            for (int r = 0; r < world; r++) {
                int lo, hi;
                trainer_shard(n, r, world, &lo, &hi);
                assert_int_equal(lo, prev); /* contiguous, in rank order */
                assert_true(hi - lo == n / world || hi - lo == n / world + 1);
                prev = hi;
            }
            assert_int_equal(prev, n);
        }
}

/* A dataset in memory: random "speech" clips and one noise signal, no files. */
static void fake_data(kws_data *d)
{
    memset(d, 0, sizeof *d);
    d->o = kws_data_options_default();
    d->fe = kws_frontend_default();
    d->clip = 4000; /* 0.25 s keeps the test fast */
    d->fe.clip_samples = d->clip;
    d->seed = 77;
    ch_error err;
    assert_int_equal(feat_computer_create(&d->fe.feat, &d->fc, &err), CH_OK);
    d->T = (int)feat_num_frames(d->fc, d->clip);
    d->F = feat_dim(d->fc);
    d->n[KWS_TRAIN] = 21;
    d->label[KWS_TRAIN] = malloc(sizeof(int) * 21);
    d->wave = malloc(sizeof(int16_t) * 21 * (size_t)d->clip);
    rng r;
    rng_seed(&r, 1, 2);
    for (int i = 0; i < 21; i++) {
        d->label[KWS_TRAIN][i] = i % 3;
        for (int k = 0; k < d->clip; k++)
            d->wave[(size_t)i * d->clip + k] = (int16_t)(3000 * rng_normal(&r));
    }
    d->n_noise = 1;
    d->noise = malloc(sizeof(float *));
    d->noise_len = malloc(sizeof(long));
    d->noise_len[0] = 8000;
    d->noise[0] = malloc(sizeof(float) * 8000);
    for (int k = 0; k < 8000; k++)
        d->noise[0][k] = (float)(1000 * rng_normal(&r));
}

/* Every batch of one epoch's plan, concatenated. */
static float *run_loader(const kws_data *d, int workers, int64_t epoch, const int *idx,
                         const int *sizes, int nb, int *labels_out)
{
    size_t TF = (size_t)d->T * d->F;
    int total = 0;
    for (int b = 0; b < nb; b++)
        total += sizes[b];
    float *all = malloc(sizeof(float) * TF * (size_t)total);
    kws_loader *l = NULL;
    ch_error err;
    assert_int_equal(kws_loader_create(&l, d, workers, 8, 3, &err), CH_OK);
    assert_int_equal(kws_loader_start(l, epoch, idx, sizes, nb, &err), CH_OK);
    int at = 0;
    for (int b = 0; b < nb; b++) {
        kws_batch kb;
        double w;
        assert_int_equal(kws_loader_next(l, &kb, &w, &err), CH_OK);
        assert_int_equal(kb.N, sizes[b]);
        assert_int_equal(kb.T, d->T);
        memcpy(all + (size_t)at * TF, kb.x, sizeof(float) * TF * (size_t)kb.N);
        for (int j = 0; j < kb.N; j++) {
            assert_int_equal(kb.lengths[j], d->T);
            labels_out[at + j] = kb.labels[j];
        }
        at += kb.N;
    }
    /* asking past the plan is an error, not a hang */
    kws_batch kb;
    assert_int_not_equal(kws_loader_next(l, &kb, NULL, &err), CH_OK);
    /* a new plan replaces the old one even with batches still in flight */
    assert_int_equal(kws_loader_start(l, epoch, idx, sizes, nb, &err), CH_OK);
    assert_int_equal(kws_loader_next(l, &kb, NULL, &err), CH_OK);
    assert_memory_equal(kb.x, all, sizeof(float) * TF * (size_t)sizes[0]);
    kws_loader_free(l);
    return all;
}

static void test_loader_deterministic(void **state)
{
    (void)state;
    kws_data d;
    fake_data(&d);
    int idx[21], sizes[] = {8, 8, 5};
    for (int i = 0; i < 21; i++)
        idx[i] = (i * 5) % 21; /* a permutation */
    int lab1[21], lab3[21], lab_e[21];
    float *a = run_loader(&d, 1, 3, idx, sizes, 3, lab1);
    float *b = run_loader(&d, 3, 3, idx, sizes, 3, lab3);
    float *c = run_loader(&d, 2, 4, idx, sizes, 3, lab_e);
    size_t TF = (size_t)d.T * d.F;
    assert_memory_equal(a, b, sizeof(float) * TF * 21);
    assert_memory_equal(lab1, lab3, sizeof lab1);
    for (int i = 0; i < 21; i++)
        assert_int_equal(lab1[i], d.label[KWS_TRAIN][idx[i]]);
    /* epoch 4 draws other augmentations */
    assert_true(memcmp(a, c, sizeof(float) * TF * 21) != 0);
    /* each example equals a direct build, and is finite */
    kws_worker *w = NULL;
    ch_error err;
    assert_int_equal(kws_worker_create(&w, &d, &err), CH_OK);
    float *x = malloc(sizeof(float) * TF);
    for (int i = 0; i < 21; i++) {
        assert_int_equal(kws_data_example(&d, w, 3, idx[i], x, &err), CH_OK);
        assert_memory_equal(x, a + (size_t)i * TF, sizeof(float) * TF);
        for (size_t k = 0; k < TF; k++)
            assert_true(isfinite(x[k]));
    }
    kws_worker_free(w);
    free(x);
    free(a);
    free(b);
    free(c);
    kws_data_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detector_basic),  cmocka_unit_test(test_detector_smoothing),
        cmocka_unit_test(test_fit_and_cmn),     cmocka_unit_test(test_frontend_text),
        cmocka_unit_test(test_shard),           cmocka_unit_test(test_loader_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
