/* test_speaker_set.c — data/speaker_set and data/trial_gen: the three layouts built in a temp
 * folder with tiny WAVs (ids, names, order, skipped files, autodetection), error cases (missing
 * folder, nothing found, unreadable file, id clash, whitespace, every speaker dropped), the
 * speaker split (stable per speaker whatever the other speakers, disjoint, fractions on
 * average, seed), trial generation (counts, target flags, uniqueness, caps, determinism, error
 * cases) and the written formats (trial lists, the Kaldi dir read back by kd_load).
 */
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "data/kaldi_dir.h"
#include "data/speaker_set.h"
#include "data/trial_gen.h"
#include "frontend/audio.h"

static char g_root[4096];

/* A 0.1-s WAV at root/rel (parent folders created). */
static void wav(const char *rel)
{
    char path[8192], dir[8192];
    ch_error err;
    snprintf(path, sizeof path, "%s/%s", g_root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    assert_int_equal(dir_create(dir, &err), CH_OK);
    float x[1600];
    for (int i = 0; i < 1600; i++)
        x[i] = (float)(1000.0 * sin(0.05 * i));
    assert_int_equal(audio_write_wav(path, x, 1600, 16000, &err), CH_OK);
}

static void text(const char *rel, const char *content)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", g_root, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void set_root(const char *name)
{
    snprintf(g_root, sizeof g_root, "%s/speaker-set-%d/%s", test_env("CHORUS_TMP", "/tmp"),
             (int)getpid(), name);
    ch_error err;
    assert_int_equal(dir_create(g_root, &err), CH_OK);
}

static void test_voxceleb(void **state)
{
    (void)state;
    set_root("vox");
    wav("id002/sessB/00002.wav");
    wav("id002/sessA/00001.wav");
    wav("id002/00003.wav"); /* <speaker>/<utt> directly */
    wav("id001/x1/00001.wav");
    wav("id001/x1/00002.wav");
    text("id001/x1/notes.txt", "not audio\n");
    text("README.txt", "top-level files are ignored\n");
    speaker_set s;
    ch_error err;
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &s, &err), CH_OK);
    assert_int_equal(s.layout, SPK_LAYOUT_VOXCELEB);
    assert_int_equal(s.n_speakers, 2);
    assert_int_equal(s.n_utts, 5);
    assert_string_equal(s.speakers[0].name, "id001");
    assert_string_equal(s.speakers[1].name, "id002");
    assert_int_equal(s.speakers[0].first, 0);
    assert_int_equal(s.speakers[0].n, 2);
    assert_int_equal(s.speakers[1].first, 2);
    assert_int_equal(s.speakers[1].n, 3);
    /* sorted by id inside a speaker */
    assert_string_equal(s.utts[2].id, "id002-00003");
    assert_string_equal(s.utts[3].id, "id002-sessA-00001");
    assert_string_equal(s.utts[4].id, "id002-sessB-00002");
    assert_string_equal(s.utts[3].rel, "id002/sessA/00001.wav");
    assert_int_equal(s.utts[3].spk, 1);
    assert_true(s.utts[3].path[0] == '/'); /* absolute: the folder is made absolute */
    assert_true(path_exists(s.utts[3].path));
    speaker_set_free(&s);
    /* min_utts drops id001 (2) but keeps id002 (3) */
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_VOXCELEB, 3, &s, &err), CH_OK);
    assert_int_equal(s.n_speakers, 1);
    assert_int_equal(s.n_dropped, 1);
    assert_string_equal(s.speakers[0].name, "id002");
    assert_int_equal(s.utts[0].spk, 0);
    speaker_set_free(&s);
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 4, &s, &err), CH_ERR_FORMAT);
    printf("all dropped: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "no speaker has at least 4 utterances"));
    speaker_set_free(&s);
}

static void test_speech_commands(void **state)
{
    (void)state;
    set_root("sc");
    wav("yes/0a7c2a8d_nohash_1.wav");
    wav("yes/0a7c2a8d_nohash_0.wav");
    wav("no/1b2c3d4e_nohash_0.wav");
    wav("_unknown_/bed_0a7c2a8d_nohash_0.wav");
    wav("_silence_/0001.wav");
    wav("_background_noise_/white_noise.wav");
    wav("yes/no_speaker_here.wav");
    text("testing_list.txt", "yes/0a7c2a8d_nohash_0.wav\n");
    speaker_set s;
    ch_error err;
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &s, &err), CH_OK);
    assert_int_equal(s.layout, SPK_LAYOUT_SPEECH_COMMANDS);
    assert_int_equal(s.n_speakers, 2);
    assert_int_equal(s.n_utts, 4);
    assert_int_equal(s.n_skipped, 1);
    assert_string_equal(s.speakers[0].name, "0a7c2a8d");
    assert_int_equal(s.speakers[0].n, 3);
    assert_string_equal(s.speakers[1].name, "1b2c3d4e");
    assert_string_equal(s.utts[0].id, "0a7c2a8d-_unknown_-bed_0a7c2a8d_nohash_0");
    assert_string_equal(s.utts[1].id, "0a7c2a8d-yes-0a7c2a8d_nohash_0");
    assert_string_equal(s.utts[1].rel, "yes/0a7c2a8d_nohash_0.wav");
    assert_string_equal(s.utts[3].id, "1b2c3d4e-no-1b2c3d4e_nohash_0");
    for (int i = 0; i < s.n_utts; i++)
        assert_null(strstr(s.utts[i].path, "_silence_"));
    speaker_set_free(&s);
    /* forcing the voxceleb reading of the same folder gives word "speakers" instead */
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_VOXCELEB, 1, &s, &err), CH_OK);
    assert_int_equal(s.layout, SPK_LAYOUT_VOXCELEB);
    assert_string_equal(s.speakers[0].name, "_background_noise_");
    speaker_set_free(&s);
}

static void test_kaldi(void **state)
{
    (void)state;
    set_root("kaldi");
    wav("audio/a1.wav");
    wav("audio/a2.wav");
    wav("audio/b1.wav");
    text("wav.scp", "spkA-1 audio/a1.wav\nspkA-2 audio/a2.wav\nspkB-1 audio/b1.wav\n");
    text("utt2spk", "spkA-1 spkA\nspkA-2 spkA\nspkB-1 spkB\n");
    speaker_set s;
    ch_error err;
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &s, &err), CH_OK);
    assert_int_equal(s.layout, SPK_LAYOUT_KALDI);
    assert_int_equal(s.n_speakers, 2);
    assert_string_equal(s.utts[1].id, "spkA-2");
    /* the wav.scp path, as kaldi_dir resolves it */
    assert_non_null(strstr(s.utts[1].rel, "audio/a2.wav"));
    assert_true(path_exists(s.utts[1].path));           /* resolved from the data dir */
    assert_int_equal(s.utts[2].spk, 1);
    speaker_set_free(&s);
    /* a Kaldi pipe entry ("cmd |", as feat-extract reads) is kept as written, not resolved or
     * stat'ed, and audio_read runs it to the same audio as the file */
    {
        char scp[16384], want[8300];
        snprintf(want, sizeof want, "cat %s/audio/a2.wav |", g_root);
        snprintf(scp, sizeof scp, "spkA-1 audio/a1.wav\nspkA-2 %s\nspkB-1 audio/b1.wav\n", want);
        text("wav.scp", scp);
        assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &s, &err), CH_OK);
        assert_int_equal(s.n_speakers, 2);
        assert_string_equal(s.utts[1].path, want);
        assert_string_equal(s.utts[1].rel, want);
        audio_buf piped, direct;
        assert_int_equal(audio_read(s.utts[1].path, NULL, &piped, &err), CH_OK);
        snprintf(want, sizeof want, "%s/audio/a2.wav", g_root);
        assert_int_equal(audio_read(want, NULL, &direct, &err), CH_OK);
        assert_int_equal(piped.n, 1600);
        assert_int_equal(piped.n, direct.n);
        assert_memory_equal(piped.samples, direct.samples, sizeof(float) * (size_t)direct.n);
        audio_free(&piped);
        audio_free(&direct);
        speaker_set_free(&s);
    }
    /* a missing audio file is kaldi_dir's error */
    text("wav.scp", "spkA-1 audio/a1.wav\nspkA-2 audio/missing.wav\nspkB-1 audio/b1.wav\n");
    assert_int_not_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &s, &err), CH_OK);
    printf("missing audio: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "missing.wav"));
    speaker_set_free(&s);
}

static void test_errors(void **state)
{
    (void)state;
    speaker_set s;
    ch_error err;
    set_root("errors");
    char missing[8200];
    snprintf(missing, sizeof missing, "%s/nope", g_root);
    assert_int_equal(speaker_set_load(missing, SPK_LAYOUT_AUTO, 1, &s, &err), CH_ERR_IO);
    printf("missing: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "no such folder"));
    assert_true(strncmp(err.msg, missing, strlen(missing)) == 0);

    set_root("empty");
    text("README", "nothing here\n");
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &s, &err), CH_ERR_FORMAT);
    printf("empty: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "no speakers found"));
    char file[8200];
    snprintf(file, sizeof file, "%s/README", g_root);
    assert_int_equal(speaker_set_load(file, SPK_LAYOUT_AUTO, 1, &s, &err), CH_ERR_IO);
    assert_non_null(strstr(err.msg, "not a folder"));

    set_root("clash"); /* "a-b/c.wav" and "a/b-c.wav" both give id a-b-c */
    wav("a-b/c.wav");
    wav("a/b-c.wav");
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &s, &err), CH_ERR_FORMAT);
    printf("clash: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "'a-b-c'"));

    set_root("space");
    wav("spk1/has space.wav");
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &s, &err), CH_ERR_FORMAT);
    printf("space: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "whitespace"));

    if (geteuid() != 0) { /* root reads everything */
        set_root("unreadable");
        wav("spk1/u1.wav");
        wav("spk1/u2.wav");
        char p[8200];
        snprintf(p, sizeof p, "%s/spk1/u2.wav", g_root);
        assert_int_equal(chmod(p, 0), 0);
        assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &s, &err), CH_ERR_IO);
        printf("unreadable: %s\n", err.msg);
        assert_non_null(strstr(err.msg, "u2.wav: cannot read"));
        chmod(p, 0644);
    } else {
        printf("unreadable-file case skipped: running as root\n");
    }
    speaker_set_free(&s);
}

/* An in-memory set: speaker i has counts[i] utterances "spkIII-uJJ". */
static void make_set(speaker_set *s, int n_spk, const int *counts, const char *prefix)
{
    memset(s, 0, sizeof *s);
    int total = 0;
    for (int i = 0; i < n_spk; i++)
        total += counts[i];
    s->layout = SPK_LAYOUT_VOXCELEB;
    assert_true(n_spk > 0 && total >= 0);
    s->speakers = calloc(n_spk > 0 ? (size_t)n_spk : 1, sizeof *s->speakers);
    s->utts = calloc(total > 0 ? (size_t)total : 1, sizeof *s->utts);
    assert_non_null(s->speakers);
    assert_non_null(s->utts);
    for (int i = 0; i < n_spk; i++) {
        char b[64];
        snprintf(b, sizeof b, "%s%04d", prefix, i);
        s->speakers[i].name = strdup(b);
        s->speakers[i].first = s->n_utts;
        s->speakers[i].n = counts[i];
        for (int j = 0; j < counts[i]; j++) {
            spk_utt *u = &s->utts[s->n_utts++];
            snprintf(b, sizeof b, "%s%04d-u%02d", prefix, i, j);
            u->id = strdup(b);
            snprintf(b, sizeof b, "%s%04d/u%02d.wav", prefix, i, j);
            u->rel = strdup(b);
            u->path = strdup(b);
            u->spk = i;
        }
        s->n_speakers++;
    }
}

static void test_split(void **state)
{
    (void)state;
    enum { NS = 1000 };
    int counts[NS];
    for (int i = 0; i < NS; i++)
        counts[i] = 1 + i % 3;
    speaker_set s, half, sub;
    make_set(&s, NS, counts, "spk");
    double fr[3];
    ch_error err;
    assert_int_equal(speaker_parse_fractions("0.7,0.1,0.2", fr, &err), CH_OK);
    assert_true(fabs(fr[0] - 0.7) < 1e-12 && fabs(fr[2] - 0.2) < 1e-12);
    static int part[NS], part2[NS], part3[NS];
    int c[3];
    assert_int_equal(speaker_set_split(&s, fr, 0, part, c, &err), CH_OK);
    printf("split counts %d %d %d\n", c[0], c[1], c[2]);
    assert_int_equal(c[0] + c[1] + c[2], NS);
    assert_true(abs(c[0] - 700) < 60 && abs(c[1] - 100) < 40 && abs(c[2] - 200) < 50);
    /* each speaker keeps its part in a set holding only every other speaker */
    int keep[NS];
    for (int i = 0; i < NS; i++)
        keep[i] = i % 2;
    assert_int_equal(speaker_set_select(&s, keep, 1, &half, &err), CH_OK);
    assert_int_equal(half.n_speakers, NS / 2);
    assert_int_equal(speaker_set_split(&half, fr, 0, part2, NULL, &err), CH_OK);
    for (int i = 0; i < half.n_speakers; i++)
        assert_int_equal(part2[i], part[2 * i + 1]);
    /* the selected test part is disjoint from train, and has exactly its speakers */
    assert_int_equal(speaker_set_select(&s, part, SPK_TEST, &sub, &err), CH_OK);
    assert_int_equal(sub.n_speakers, c[2]);
    for (int i = 0, k = 0; i < NS; i++)
        if (part[i] == SPK_TEST) {
            assert_string_equal(sub.speakers[k].name, s.speakers[i].name);
            assert_int_equal(sub.speakers[k].n, s.speakers[i].n);
            assert_string_equal(sub.utts[sub.speakers[k].first].id,
                                s.utts[s.speakers[i].first].id);
            k++;
        }
    /* another split seed moves speakers; a zero fraction gets none */
    assert_int_equal(speaker_set_split(&s, fr, 7, part3, NULL, &err), CH_OK);
    int moved = 0;
    for (int i = 0; i < NS; i++)
        moved += part3[i] != part[i];
    printf("moved by split seed 7: %d\n", moved);
    assert_true(moved > 100);
    double fz[3] = {0.5, 0.0, 0.5};
    assert_int_equal(speaker_set_split(&s, fz, 0, part3, c, &err), CH_OK);
    assert_int_equal(c[1], 0);
    double fb[3] = {0.5, 0.4, 0.4};
    assert_int_equal(speaker_set_split(&s, fb, 0, part3, c, &err), CH_ERR_USAGE);
    /* the hash is the documented one: in [0, 1) and name-only */
    double h = speaker_split_hash("spk0001", 0);
    assert_true(h >= 0 && h < 1);
    assert_true(h == speaker_split_hash("spk0001", 0));
    assert_true(h != speaker_split_hash("spk0001", 1));
    const char *bad[] = {"0.7,0.1", "0.7,0.1,0.3", "a,b,c", "0.7,0.1,0.2,0", "-0.1,0.9,0.2", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(speaker_parse_fractions(bad[i], fr, &err), CH_ERR_USAGE);
        printf("fractions '%s': %s\n", bad[i], err.msg);
    }
    speaker_set_free(&sub);
    speaker_set_free(&half);
    speaker_set_free(&s);
}

static void check_trials(const speaker_set *s, const sv_trial *t, long n)
{
    for (long i = 0; i < n; i++) {
        assert_true(t[i].a < t[i].b);
        assert_true(t[i].a >= 0 && t[i].b < s->n_utts);
        assert_int_equal(t[i].target, s->utts[t[i].a].spk == s->utts[t[i].b].spk);
        if (i)
            assert_true(t[i - 1].a < t[i].a || (t[i - 1].a == t[i].a && t[i - 1].b < t[i].b));
    }
}

static void test_trials(void **state)
{
    (void)state;
    int counts[4] = {3, 4, 5, 6};
    speaker_set s;
    make_set(&s, 4, counts, "s");
    trial_options o = trial_options_default();
    o.nontarget_ratio = 2;
    o.seed = 5;
    sv_trial *t = NULL, *t2 = NULL;
    long n, nt, n2, nt2;
    ch_error err;
    assert_int_equal(trial_generate(&s, &o, &t, &n, &nt, &err), CH_OK);
    assert_int_equal(nt, 3 + 6 + 10 + 15);
    assert_int_equal(n, 3 * nt);
    check_trials(&s, t, n);
    /* deterministic; another seed gives other nontargets but the same (all) targets */
    assert_int_equal(trial_generate(&s, &o, &t2, &n2, &nt2, &err), CH_OK);
    assert_int_equal(n2, n);
    assert_memory_equal(t, t2, sizeof *t * (size_t)n);
    free(t2);
    o.seed = 6;
    assert_int_equal(trial_generate(&s, &o, &t2, &n2, &nt2, &err), CH_OK);
    assert_int_equal(n2, n);
    assert_true(memcmp(t, t2, sizeof *t * (size_t)n) != 0);
    free(t2);
    free(t);
    /* every nontarget pair when more are asked for than exist: (18^2 - 86) / 2 = 119 */
    o.nontarget_ratio = 1000;
    assert_int_equal(trial_generate(&s, &o, &t, &n, &nt, &err), CH_OK);
    assert_int_equal(n - nt, 119);
    check_trials(&s, t, n);
    free(t);
    /* at most K targets per speaker, uniformly chosen, and only the targets of that speaker;
     * a speaker's draw does not depend on the others */
    o.nontarget_ratio = 0;
    o.max_targets_per_spk = 4;
    assert_int_equal(trial_generate(&s, &o, &t, &n, &nt, &err), CH_OK);
    assert_int_equal(nt, 3 + 4 + 4 + 4);
    assert_int_equal(n, nt);
    check_trials(&s, t, n);
    speaker_set last;
    int keep[4] = {0, 0, 0, 1};
    assert_int_equal(speaker_set_select(&s, keep, 1, &last, &err), CH_OK);
    assert_int_equal(trial_generate(&last, &o, &t2, &n2, &nt2, &err), CH_OK);
    assert_int_equal(n2, 4);
    for (long i = 0; i < 4; i++) {
        assert_int_equal(t2[i].a + s.speakers[3].first, t[n - 4 + i].a);
        assert_int_equal(t2[i].b + s.speakers[3].first, t[n - 4 + i].b);
    }
    free(t2);
    speaker_set_free(&last);
    free(t);
    /* sparse sampling (K much smaller than the pairs) also stays within a speaker, distinct */
    int big[3] = {60, 50, 40};
    speaker_set b;
    make_set(&b, 3, big, "b");
    o.max_targets_per_spk = 20;
    o.nontarget_ratio = 3;
    assert_int_equal(trial_generate(&b, &o, &t, &n, &nt, &err), CH_OK);
    assert_int_equal(nt, 60);
    assert_int_equal(n, 240);
    check_trials(&b, t, n);
    free(t);
    speaker_set_free(&b);

    /* errors */
    int one[2] = {3, 1};
    speaker_set e1;
    make_set(&e1, 2, one, "e");
    o = trial_options_default();
    assert_int_equal(trial_generate(&e1, &o, &t, &n, &nt, &err), CH_ERR_FORMAT);
    printf("one utterance: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "e0001 has 1 utterance"));
    speaker_set_free(&e1);
    int single[1] = {4};
    make_set(&e1, 1, single, "e");
    assert_int_equal(trial_generate(&e1, &o, &t, &n, &nt, &err), CH_ERR_FORMAT);
    printf("one speaker: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "at least 2 speakers"));
    o.nontarget_ratio = 0; /* targets alone are fine with one speaker */
    assert_int_equal(trial_generate(&e1, &o, &t, &n, &nt, &err), CH_OK);
    assert_int_equal(n, 6);
    free(t);
    o.nontarget_ratio = -1;
    assert_int_equal(trial_generate(&e1, &o, &t, &n, &nt, &err), CH_ERR_USAGE);
    speaker_set_free(&e1);
    speaker_set_free(&s);
}

static char *slurp(const char *path)
{
    char *d;
    size_t n;
    ch_error err;
    assert_int_equal(file_read_all(path, &d, &n, &err), CH_OK);
    return d;
}

static void test_write(void **state)
{
    (void)state;
    set_root("write");
    int counts[2] = {2, 3};
    speaker_set s;
    make_set(&s, 2, counts, "w");
    trial_options o = trial_options_default();
    o.nontarget_ratio = 1;
    sv_trial *t;
    long n, nt;
    ch_error err;
    assert_int_equal(trial_generate(&s, &o, &t, &n, &nt, &err), CH_OK);
    assert_int_equal(nt, 4);
    char path[8300];
    snprintf(path, sizeof path, "%s/trials", g_root);
    assert_int_equal(trial_write(path, &s, t, n, TRIAL_FMT_KALDI, &err), CH_OK);
    char *k = slurp(path);
    assert_non_null(strstr(k, "w0000-u00 w0000-u01 target\n"));
    int lines = 0, targets = 0;
    for (char *p = k; *p; p++)
        lines += *p == '\n';
    for (char *p = k; (p = strstr(p, " target\n")); p++)
        targets++;
    assert_int_equal(lines, n);
    assert_int_equal(targets, nt);
    free(k);
    assert_int_equal(trial_write(path, &s, t, n, TRIAL_FMT_VOXCELEB, &err), CH_OK);
    k = slurp(path);
    assert_true(strncmp(k, "1 w0000/u00.wav w0000/u01.wav\n", 30) == 0);
    assert_non_null(strstr(k, "\n0 w0000/"));
    free(k);
    free(t);

    /* the data dir reads back with kaldi_dir: same utterances and speakers */
    set_root("write/real");
    wav("spkB/s/1.wav");
    wav("spkB/s/2.wav");
    wav("spkA/1.wav");
    speaker_set r;
    assert_int_equal(speaker_set_load(g_root, SPK_LAYOUT_AUTO, 1, &r, &err), CH_OK);
    char dir[8300];
    for (int use_rel = 0; use_rel < 2; use_rel++) {
        snprintf(dir, sizeof dir, "%s/../dir%d", g_root, use_rel);
        assert_int_equal(speaker_set_write_dir(&r, dir, use_rel, &err), CH_OK);
        kd_dir d;
        assert_int_equal(kd_load(dir, true, &d, &err), CH_OK);
        assert_int_equal(d.n_utts, 3);
        assert_int_equal(d.n_speakers, 2);
        assert_false(d.spk2utt_derived);
        assert_true(kd_find_utt(&d, use_rel ? "spkB/s/2.wav" : "spkB-s-2") >= 0);
        kd_free(&d);
    }
    speaker_set_free(&r);
    speaker_set_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_voxceleb),  cmocka_unit_test(test_speech_commands),
        cmocka_unit_test(test_kaldi),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_split),     cmocka_unit_test(test_trials),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
