/* test_sv_embed.c — infer/sv_embed_lib: the speaker frontend text (round trip, rejection of
 * keyword-spotting and foreign frontends), chunk arithmetic, the embedding of long audio
 * against the mean of its chunks embedded separately (normalised and raw averaging), batching
 * invariance, too-short audio, checkpoint validation (wrong kind, bins mismatch), and the
 * energy VAD (--vad): a voice padded with long low noise on both sides embeds (cosine) much
 * closer to the bare voice with VAD than without, the kept samples are the voice's own, the
 * frame spans cover the utterance exactly (with and without snip-edges), and noise alone
 * falls back to the whole utterance.
 *
 * Also the fixture writer of tests/test_sv_embed.sh: `test_sv_embed --write-fixture DIR` writes
 * a tiny random-initialised tdnn checkpoint (DIR/tdnn.ckpt), foreign and broken checkpoints,
 * a VoxCeleb-style folder of synthetic voices (DIR/vox), odd audio files and the VAD clips
 * (vad_clean.wav, vad_padded.wav, vad_noise.wav), then exits.
 */
#include "test_util.h"

#include <sndfile.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/rng.h"
#include "frontend/audio.h"
#include "infer/sv_embed_lib.h"
#include "models/checkpoint.h"
#include "models/model.h"

enum { BINS = 24, DIM = 8 };
#define TINY_HP "channels=16\nstats-channels=32\n"

/* Writes a random-initialised tiny tdnn with the sv frontend fe (NULL: default with BINS bins)
 * to path; kind / frontend text overridable for the bad-checkpoint fixtures. */
static int write_model(const char *path, const char *kind_override, const char *fe_text,
                       int in_bins, ch_error *err)
{
    rng r;
    rng_seed(&r, 42, 0);
    nn_model *m = NULL;
    if (nn_model_create(&m, "tdnn", TINY_HP, in_bins, DIM, &r, err) != CH_OK)
        return 1;
    /* non-trivial running stats, so a checkpoint that drops them would be caught */
    for (size_t i = 0; i < m->n_buffers; i++)
        m->buffers[i] = (i / 16) % 2 ? 1.0f + 0.01f * (float)(i % 7) : 0.01f * (float)(i % 5);
    sv_frontend fe = sv_frontend_default();
    fe.feat.num_mel_bins = BINS;
    char *text = sv_frontend_to_text(&fe);
    ckpt_model ck = {kind_override ? (char *)kind_override : m->kind, m->hparams,
                     fe_text ? (char *)fe_text : text, "", m->p->data, m->p->n, m->buffers,
                     m->n_buffers};
    ch_status st = ckpt_write(path, &ck, err);
    free(text);
    nn_model_free(m);
    return st != CH_OK;
}

/* A "voice": harmonics of f0 with a slow vibrato, plus noise; deterministic by seed. */
static void voice(float *x, long n, double f0, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 1);
    double ph = 0;
    for (long i = 0; i < n; i++) {
        double f = f0 * (1.0 + 0.03 * sin(2 * M_PI * 3.0 * (double)i / 16000.0));
        ph += 2 * M_PI * f / 16000.0;
        double v = 0;
        for (int h = 1; h <= 6; h++)
            v += sin(h * ph) / h;
        x[i] = (float)(3000.0 * v + 300.0 * rng_normal(&r));
    }
}

/* The VAD clips: a 1.5-s voice (rms ~2400), the same voice with 2 s of low noise (rms 3, ~58 dB
 * below, like a quiet room) on each side, and that noise alone. */
enum { VAD_VOICE = 24000, VAD_PAD = 32000 };

static void low_noise(float *x, long n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 2);
    for (long i = 0; i < n; i++)
        x[i] = (float)(3.0 * rng_normal(&r));
}

/* x: (VAD_PAD + VAD_VOICE + VAD_PAD) */
static void vad_padded(float *x)
{
    low_noise(x, VAD_PAD, 5);
    voice(x + VAD_PAD, VAD_VOICE, 120.0, 77);
    low_noise(x + VAD_PAD + VAD_VOICE, VAD_PAD, 6);
}

static int write_samples(const char *path, const float *x, long n)
{
    ch_error err;
    ch_status st = audio_write_wav(path, x, n, 16000, &err);
    if (st != CH_OK)
        fprintf(stderr, "%s\n", err.msg);
    return st != CH_OK;
}

static int write_voice(const char *path, long n, double f0, uint64_t seed, int rate)
{
    ch_error err;
    float *x = malloc(sizeof *x * (size_t)n);
    if (!x)
        return 1;
    voice(x, n, f0, seed);
    ch_status st = audio_write_wav(path, x, n, rate, &err);
    free(x);
    if (st != CH_OK)
        fprintf(stderr, "%s\n", err.msg);
    return st != CH_OK;
}

static int write_fixture(const char *dir)
{
    ch_error err;
    char p[4200];
    if (dir_create(dir, &err) != CH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int bad = 0;
    snprintf(p, sizeof p, "%s/tdnn.ckpt", dir);
    bad |= write_model(p, NULL, NULL, BINS, &err);
    snprintf(p, sizeof p, "%s/kws.ckpt", dir); /* a KWS checkpoint: wrong kind */
    bad |= write_model(p, "densenet-bilstm", "num-mel-bins=40\nkws-cmn=true\n"
                       "kws-clip-samples=16000\n", BINS, &err);
    snprintf(p, sizeof p, "%s/nofe.ckpt", dir); /* a tdnn without sv frontend options */
    bad |= write_model(p, NULL, "num-mel-bins=24\n", BINS, &err);
    snprintf(p, sizeof p, "%s/bins.ckpt", dir); /* model takes 40 bins, frontend gives 24 */
    bad |= write_model(p, NULL, NULL, 40, &err);
    if (bad) {
        fprintf(stderr, "fixture checkpoints: %s\n", err.msg);
        return 1;
    }
    /* 4 speakers x 3 utterances, 1 to 2.5 s */
    for (int s = 0; s < 4; s++)
        for (int u = 0; u < 3; u++) {
            snprintf(p, sizeof p, "%s/vox/spk%d/sess%d", dir, s, u % 2);
            if (dir_create(p, &err) != CH_OK)
                return 1;
            snprintf(p, sizeof p, "%s/vox/spk%d/sess%d/%05d.wav", dir, s, u % 2, u);
            bad |= write_voice(p, 16000 + 8000 * u, 90.0 + 45.0 * s, (uint64_t)(s * 10 + u),
                               16000);
        }
    snprintf(p, sizeof p, "%s/long.wav", dir);
    bad |= write_voice(p, 117000, 140.0, 99, 16000); /* 7.3 s: 4 chunks of 3 s, hop 1.5 */
    snprintf(p, sizeof p, "%s/rate8k.wav", dir);
    bad |= write_voice(p, 12000, 140.0, 98, 8000);
    static float pad[VAD_PAD * 2 + VAD_VOICE];
    vad_padded(pad);
    snprintf(p, sizeof p, "%s/vad_padded.wav", dir);
    bad |= write_samples(p, pad, VAD_PAD * 2 + VAD_VOICE);
    snprintf(p, sizeof p, "%s/vad_clean.wav", dir);
    bad |= write_samples(p, pad + VAD_PAD, VAD_VOICE);
    snprintf(p, sizeof p, "%s/vad_noise.wav", dir);
    bad |= write_samples(p, pad, VAD_PAD);
    snprintf(p, sizeof p, "%s/short.wav", dir);
    bad |= write_voice(p, 200, 140.0, 97, 16000);
    /* stereo, through libsndfile directly */
    snprintf(p, sizeof p, "%s/stereo.wav", dir);
    SF_INFO info = {0};
    info.samplerate = 16000;
    info.channels = 2;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE *sf = sf_open(p, SFM_WRITE, &info);
    if (!sf)
        return 1;
    static short st[2 * 16000];
    float mono[16000];
    voice(mono, 16000, 200.0, 96);
    for (int i = 0; i < 16000; i++)
        st[2 * i] = st[2 * i + 1] = (short)mono[i];
    sf_writef_short(sf, st, 16000);
    sf_close(sf);
    return bad;
}

/* ---- unit tests ---- */

static char g_dir[4096];

static void fixture_dir(void)
{
    if (g_dir[0])
        return;
    snprintf(g_dir, sizeof g_dir, "%s/sv-embed-unit-%d", test_env("CHORUS_TMP", "/tmp"),
             (int)getpid());
    assert_int_equal(write_fixture(g_dir), 0);
}

static void test_frontend_text(void **state)
{
    (void)state;
    sv_frontend f = sv_frontend_default(), g;
    f.feat.num_mel_bins = 64;
    f.cmn = false;
    f.chunk_s = 1.25f;
    char *t = sv_frontend_to_text(&f);
    assert_non_null(t);
    assert_non_null(strstr(t, "sv-cmn=false"));
    ch_error err;
    assert_int_equal(sv_frontend_from_text(&g, t, "m.ckpt", &err), CH_OK);
    assert_int_equal(g.feat.num_mel_bins, 64);
    assert_false(g.cmn);
    assert_true(g.chunk_s == 1.25f);
    free(t);
    assert_int_equal(sv_frontend_from_text(&g, "kws-cmn=true\nkws-clip-samples=16000\n",
                                           "k.ckpt", &err), CH_ERR_FORMAT);
    printf("kws: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "keyword-spotting"));
    assert_int_equal(sv_frontend_from_text(&g, "num-mel-bins=40\n", "x.ckpt", &err),
                     CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a speaker-embedding checkpoint"));
    assert_int_equal(sv_frontend_from_text(&g, "sv-cmn=true\nbogus=1\n", "x.ckpt", &err),
                     CH_ERR_FORMAT);
    printf("unknown key: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "bogus"));
    assert_int_equal(sv_frontend_from_text(&g, "sv-cmn=true\nfeature-type=spectrogram\n",
                                           "x.ckpt", &err), CH_ERR_FORMAT);
    assert_int_equal(sv_frontend_from_text(&g, "sv-cmn=true\nnoequals\n", "x.ckpt", &err),
                     CH_ERR_FORMAT);
}

static void test_chunks(void **state)
{
    (void)state;
    /* L = 3, H = 1.5 (in units): n = 7.3 -> starts 0, 1.5, 3, 4.3 (last moved to the end) */
    assert_int_equal(sv_chunk_count(73, 30, 15), 4);
    assert_int_equal(sv_chunk_start(73, 30, 15, 0), 0);
    assert_int_equal(sv_chunk_start(73, 30, 15, 2), 30);
    assert_int_equal(sv_chunk_start(73, 30, 15, 3), 43);
    assert_int_equal(sv_chunk_count(30, 30, 15), 1);
    assert_int_equal(sv_chunk_count(31, 30, 15), 2);
    assert_int_equal(sv_chunk_start(31, 30, 15, 1), 1);
    assert_int_equal(sv_chunk_count(75, 30, 15), 4); /* 0 15 30 45: exact fit */
    assert_int_equal(sv_chunk_start(75, 30, 15, 3), 45);
    assert_int_equal(sv_chunk_count(1000, 0, 15), 1); /* chunk 0: whole utterance */
    /* every sample is covered */
    for (long n = 31; n < 200; n += 7) {
        int c = sv_chunk_count(n, 30, 20);
        assert_int_equal(sv_chunk_start(n, 30, 20, c - 1) + 30, n);
        for (int i = 1; i < c; i++)
            assert_true(sv_chunk_start(n, 30, 20, i) <= sv_chunk_start(n, 30, 20, i - 1) + 30);
    }
}

static void test_long_is_mean_of_chunks(void **state)
{
    (void)state;
    fixture_dir();
    char p[4200];
    snprintf(p, sizeof p, "%s/tdnn.ckpt", g_dir);
    sv_model_file mf;
    ch_error err;
    assert_int_equal(sv_model_file_load(&mf, p, &err), CH_OK);
    assert_int_equal(mf.F, BINS);
    assert_int_equal(mf.dim, DIM);
    assert_true(mf.fe.feat.dither == 0.0f);
    sv_worker w;
    assert_int_equal(sv_worker_create(&w, &mf, &err), CH_OK);
    const long n = 117000;
    float *x = malloc(sizeof *x * n);
    voice(x, n, 140.0, 99);
    for (int avg = 0; avg < 2; avg++) {
        sv_embed_options o = sv_embed_options_default();
        o.average = avg;
        float e[DIM], c[DIM], mean[DIM] = {0};
        int nc = 0;
        assert_int_equal(sv_embed_audio(&w, &mf, &o, x, n, e, &nc, &err), CH_OK);
        assert_int_equal(nc, 4); /* starts 0, 1.5, 3 s and the last at n - 3 s = 4.3125 s */
        const long L = 48000, H = 24000;
        for (int i = 0; i < nc; i++) {
            int one = 0;
            long s0 = sv_chunk_start(n, L, H, i);
            /* the chunk cut out alone is a one-chunk utterance */
            assert_int_equal(sv_embed_audio(&w, &mf, &o, x + s0, L, c, &one, &err), CH_OK);
            assert_int_equal(one, 1);
            for (int d = 0; d < DIM; d++)
                mean[d] += c[d] / (float)nc;
        }
        test_assert_close(avg ? "raw mean of chunks" : "normalised mean of chunks", e, mean,
                          DIM, 1e-5, 1e-4);
        /* the chunks are not all alike, or the check would be vacuous */
        float c0[DIM], c4[DIM];
        assert_int_equal(sv_embed_audio(&w, &mf, &o, x, L, c0, NULL, &err), CH_OK);
        assert_int_equal(sv_embed_audio(&w, &mf, &o, x + n - L, L, c4, NULL, &err), CH_OK);
        double dd = 0;
        for (int d = 0; d < DIM; d++)
            dd += fabs((double)c0[d] - c4[d]);
        assert_true(dd > 1e-3);
        if (avg == SV_AVG_NORMALIZED) {
            double norm = 0;
            for (int d = 0; d < DIM; d++)
                norm += (double)c0[d] * c0[d];
            assert_true(fabs(sqrt(norm) - 1.0) < 1e-5);
        }
        /* batching 1 chunk at a time gives the same embedding */
        o.max_batch = 1;
        float e1[DIM];
        assert_int_equal(sv_embed_audio(&w, &mf, &o, x, n, e1, NULL, &err), CH_OK);
        test_assert_close("max-batch 1 vs 16", e1, e, DIM, 1e-5, 1e-4);
    }
    /* chunk 0: the whole utterance is one chunk */
    sv_embed_options o = sv_embed_options_default();
    o.chunk_s = 0;
    float whole[DIM];
    int nc;
    assert_int_equal(sv_embed_audio(&w, &mf, &o, x, n, whole, &nc, &err), CH_OK);
    assert_int_equal(nc, 1);
    /* too short */
    o = sv_embed_options_default();
    assert_int_equal(sv_embed_audio(&w, &mf, &o, x, 800, whole, &nc, &err), CH_ERR_FORMAT);
    printf("short: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "too short"));
    o.min_s = 0;
    assert_int_equal(sv_embed_audio(&w, &mf, &o, x, 500, whole, &nc, &err), CH_ERR_FORMAT);
    printf("one frame: %s\n", err.msg);
    free(x);
    sv_worker_free(&w);
    sv_model_file_free(&mf);
}

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb + 1e-30);
}

static void test_vad(void **state)
{
    (void)state;
    fixture_dir();
    char p[4200];
    snprintf(p, sizeof p, "%s/tdnn.ckpt", g_dir);
    sv_model_file mf;
    ch_error err;
    assert_int_equal(sv_model_file_load(&mf, p, &err), CH_OK);
    sv_worker w;
    assert_int_equal(sv_worker_create(&w, &mf, &err), CH_OK);
    const long n = 2 * VAD_PAD + VAD_VOICE;
    float *x = malloc(sizeof *x * (size_t)n);
    assert_non_null(x);
    vad_padded(x);
    const float *clean = x + VAD_PAD;

    /* the kept samples: one run, the voice's own, give or take a frame at each end */
    vad_options vo = vad_options_default();
    const float *sp;
    long ns;
    int T, nv;
    assert_int_equal(sv_vad_speech(&w, &mf, &vo, x, n, &sp, &ns, &T, &nv, &err), CH_OK);
    assert_int_equal(T, feat_num_frames(mf.fc, n));
    printf("padded: %d of %d frames voiced, %ld of %ld samples kept (voice %d)\n", nv, T, ns,
           n, VAD_VOICE);
    assert_true(labs(ns - VAD_VOICE) <= 2 * 160);
    assert_int_equal(ns, (long)nv * 160);
    long at = -1;
    for (long a = VAD_PAD - 400; a <= VAD_PAD + 400 && at < 0; a++)
        if (!memcmp(sp, x + a, sizeof(float) * (size_t)ns))
            at = a;
    printf("kept run starts at sample %ld (voice at %d)\n", at, VAD_PAD);
    assert_true(at >= 0);

    /* the spans partition the utterance: all voiced keeps x exactly, none keeps nothing */
    vo.energy_mean_scale = 0;
    vo.energy_threshold = -1e6f;
    assert_int_equal(sv_vad_speech(&w, &mf, &vo, x, n - 77, &sp, &ns, &T, &nv, &err), CH_OK);
    assert_int_equal(nv, T);
    assert_int_equal(ns, n - 77);
    assert_memory_equal(sp, x, sizeof(float) * (size_t)ns);
    vo.energy_threshold = 1e6f;
    assert_int_equal(sv_vad_speech(&w, &mf, &vo, x, n, &sp, &ns, &T, &nv, &err), CH_OK);
    assert_int_equal(nv, 0);
    assert_int_equal(ns, 0);
    assert_int_equal(sv_vad_speech(&w, &mf, &vo, x, 300, &sp, &ns, &T, &nv, &err),
                     CH_ERR_FORMAT);

    /* the embeddings: padded with VAD ~ the bare voice; without, the noise pulls it away */
    float e_clean[DIM], e_pad[DIM], e_vad[DIM];
    sv_embed_options o = sv_embed_options_default();
    sv_embed_info info;
    assert_int_equal(sv_embed_utterance(&w, &mf, &o, clean, VAD_VOICE, e_clean, &info, &err),
                     CH_OK);
    assert_false(info.vad_fallback);
    assert_int_equal(info.frames, 0);
    assert_int_equal(sv_embed_utterance(&w, &mf, &o, x, n, e_pad, &info, &err), CH_OK);
    assert_int_equal(info.n_used, n);
    o.vad = true;
    assert_int_equal(sv_embed_utterance(&w, &mf, &o, x, n, e_vad, &info, &err), CH_OK);
    assert_false(info.vad_fallback);
    assert_true(labs(info.n_used - VAD_VOICE) <= 2 * 160);
    assert_int_equal(info.chunks, 1);
    double c_vad = cosine(e_vad, e_clean, DIM), c_pad = cosine(e_pad, e_clean, DIM);
    printf("cosine to the bare voice: with VAD %.5f, without %.5f\n", c_vad, c_pad);
    assert_true(c_vad > 0.99);
    assert_true(1.0 - c_pad > 10.0 * (1.0 - c_vad));
    /* VAD on the bare voice keeps (nearly) all of it */
    float e_cv[DIM];
    assert_int_equal(sv_embed_utterance(&w, &mf, &o, clean, VAD_VOICE, e_cv, &info, &err),
                     CH_OK);
    assert_true(info.n_used > VAD_VOICE - 2 * 160);

    /* noise alone: nothing voiced, the whole utterance is embedded (same as without VAD) */
    float e_n[DIM], e_n0[DIM];
    assert_int_equal(sv_embed_utterance(&w, &mf, &o, x, VAD_PAD, e_n, &info, &err), CH_OK);
    assert_true(info.vad_fallback);
    assert_int_equal(info.voiced, 0);
    assert_int_equal(info.n_used, VAD_PAD);
    o.vad = false;
    assert_int_equal(sv_embed_utterance(&w, &mf, &o, x, VAD_PAD, e_n0, &info, &err), CH_OK);
    assert_memory_equal(e_n, e_n0, sizeof e_n);
    /* speech shorter than --min-s also falls back */
    o.vad = true;
    o.min_s = 2.0f;
    assert_int_equal(sv_embed_utterance(&w, &mf, &o, x, n, e_n, &info, &err), CH_OK);
    assert_true(info.vad_fallback);
    assert_int_equal(info.n_used, n);
    /* too short stays an error with VAD */
    o.min_s = 0;
    assert_int_equal(sv_embed_utterance(&w, &mf, &o, x, 500, e_n, &info, &err), CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "too short"));
    sv_worker_free(&w);
    sv_model_file_free(&mf);

    /* without snip-edges the spans still partition the utterance */
    sv_frontend fe = sv_frontend_default();
    fe.feat.num_mel_bins = BINS;
    fe.feat.snip_edges = false;
    char *text = sv_frontend_to_text(&fe);
    assert_non_null(text);
    snprintf(p, sizeof p, "%s/nosnip.ckpt", g_dir);
    assert_int_equal(write_model(p, NULL, text, BINS, &err), 0);
    free(text);
    assert_int_equal(sv_model_file_load(&mf, p, &err), CH_OK);
    assert_int_equal(sv_worker_create(&w, &mf, &err), CH_OK);
    vo = vad_options_default();
    assert_int_equal(sv_vad_speech(&w, &mf, &vo, x, n, &sp, &ns, &T, &nv, &err), CH_OK);
    assert_int_equal(T, (n + 80) / 160);
    assert_true(labs(ns - VAD_VOICE) <= 2 * 160);
    vo.energy_mean_scale = 0;
    vo.energy_threshold = -1e6f;
    for (long m = n - 200; m < n; m += 37) {
        assert_int_equal(sv_vad_speech(&w, &mf, &vo, x, m, &sp, &ns, &T, &nv, &err), CH_OK);
        assert_int_equal(ns, m);
    }
    sv_worker_free(&w);
    sv_model_file_free(&mf);
    free(x);
}

static void test_bad_checkpoints(void **state)
{
    (void)state;
    fixture_dir();
    const char *names[] = {"kws.ckpt", "nofe.ckpt", "bins.ckpt", "missing.ckpt", "vox"};
    const char *want[] = {"keyword-spotting", "not a speaker-embedding checkpoint",
                          "24", "missing.ckpt", "vox"};
    for (int i = 0; i < 5; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        sv_model_file mf;
        ch_error err;
        assert_int_not_equal(sv_model_file_load(&mf, p, &err), CH_OK);
        printf("%s: %s\n", names[i], err.msg);
        assert_non_null(strstr(err.msg, want[i]));
        assert_true(strncmp(err.msg, p, strlen(p)) == 0);
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-fixture"))
        return write_fixture(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frontend_text),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_long_is_mean_of_chunks),
        cmocka_unit_test(test_vad),
        cmocka_unit_test(test_bad_checkpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
