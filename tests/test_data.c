/* test_data.c — data/: SHA-1, the Speech Commands reader (hash split against Python's hashlib,
 * list files, 12-class mapping, unknown-prefix names, noise crops, speaker grouping, bad
 * layouts), the real v2 test set in ../shared (skipped without it), the Kaldi data-dir reader
 * (good and malformed dirs) and a small data-synth corpus read back through both readers. */
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/sha1.h"
#include "data/kaldi_dir.h"
#include "data/speech_commands.h"
#include "frontend/audio.h"

static char tmpdir[4096];

static void mkdirs(const char *path)
{
    ch_error e;
    ch_status st = dir_create(path, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
}

/* Writes a tiny WAV (n samples of a ramp). */
static void write_clip(const char *path)
{
    float x[160];
    for (int i = 0; i < 160; i++)
        x[i] = (float)(i * 10);
    ch_error e;
    ch_status st = audio_write_wav(path, x, 160, 16000, &e);
    if (st != CH_OK)
        fail_msg("audio_write_wav: %s", e.msg);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_sha1(void **state)
{
    (void)state;
    /* FIPS 180-2 appendix vectors; the 56-byte one pads into a second block. */
    struct {
        const char *in, *hex;
    } v[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char hex[41];
        sha1_hex(v[i].in, strlen(v[i].in), hex);
        assert_string_equal(hex, v[i].hex);
    }
}

/* TF's which_set percentage computed by /usr/bin/python3 (hashlib), independent of our SHA-1. */
static void test_hash_percentage(void **state)
{
    (void)state;
    const char *ids[] = {"0a7c2a8d", "1024.flac", "3cfc6b3a", "f9f0e8b6", "ffffffff", "c50f55b8"};
    char cmd[2048] = "/usr/bin/python3 -c 'import hashlib,sys\n"
                     "for s in sys.argv[1:]: print(repr((int(hashlib.sha1(s.encode()).hexdigest(),"
                     "16) % (2**27)) * (100.0 / (2**27 - 1))))'";
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        strcat(cmd, " ");
        strcat(cmd, ids[i]);
    }
    FILE *p = popen(cmd, "r");
    if (!p)
        skip();
    double worst = 0;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        double want;
        if (fscanf(p, "%lf", &want) != 1) {
            pclose(p);
            printf("SKIP: /usr/bin/python3 did not answer\n");
            skip();
        }
        double got = sc_hash_percentage(ids[i]);
        printf("%-10s python %.12f ours %.12f\n", ids[i], want, got);
        worst = fmax(worst, fabs(got - want));
    }
    pclose(p);
    /* Both are the same double expression of the same 27-bit integer: exact up to rounding. */
    printf("hash percentage max |d| = %.3g (tol 1e-9)\n", worst);
    assert_true(worst < 1e-9);
}

static void test_parse_name(void **state)
{
    (void)state;
    char spk[32], word[32];
    assert_true(sc_parse_name("0a7c2a8d_nohash_1.wav", spk, word));
    assert_string_equal(spk, "0a7c2a8d");
    assert_string_equal(word, "");
    assert_true(sc_parse_name("backward_0c540988_nohash_0.flac", spk, word));
    assert_string_equal(spk, "0c540988");
    assert_string_equal(word, "backward");
    assert_false(sc_parse_name("1024.flac", spk, word));
    assert_string_equal(spk, "");
}

/* The toy corpus: 3 command words + 1 unknown word, 12 speakers, noise, an _unknown_ folder. */
static const char *toy_spk[] = {"0a7c2a8d", "1b2c3d4e", "22222222", "3cfc6b3a", "4f4f4f4f",
                                "55aa55aa", "6789abcd", "7a7a7a7a", "88888888", "99999999",
                                "c50f55b8", "f9f0e8b6"};
#define N_TOY 12

static void make_toy(const char *root)
{
    const char *words[] = {"yes", "no", "left", "bed"};
    char path[8192];
    for (int w = 0; w < 4; w++) {
        snprintf(path, sizeof path, "%s/%s", root, words[w]);
        mkdirs(path);
        for (int s = 0; s < N_TOY; s++)
            for (int k = 0; k < 2; k++) {
                snprintf(path, sizeof path, "%s/%s/%s_nohash_%d.wav", root, words[w], toy_spk[s],
                         k);
                write_clip(path);
            }
    }
    snprintf(path, sizeof path, "%s/_unknown_", root);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/_unknown_/wow_%s_nohash_0.flac", root, toy_spk[0]);
    write_clip(path);
    snprintf(path, sizeof path, "%s/_background_noise_", root);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/_background_noise_/white.wav", root);
    write_clip(path);
    snprintf(path, sizeof path, "%s/_background_noise_/README.md", root);
    write_text(path, "not audio\n");
    snprintf(path, sizeof path, "%s/LICENSE", root);
    write_text(path, "text\n");
}

static int label_of(const sc_dataset *d, const char *name)
{
    for (int i = 0; i < d->n_labels; i++)
        if (strcmp(d->labels[i], name) == 0)
            return i;
    return -1;
}

static void test_sc_hash_split(void **state)
{
    (void)state;
    char root[4200];
    snprintf(root, sizeof root, "%s/toy", tmpdir);
    make_toy(root);
    sc_options o = sc_options_default();
    o.split = SC_SPLIT_STANDARD; /* the which_set assertions below (auto may switch) */
    o.unknown_percentage = 1000; /* keep every unknown clip here */
    sc_dataset d;
    ch_error e;
    ch_status st = sc_load(root, &o, &d, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    assert_false(d.from_lists);
    assert_int_equal(d.n_labels, 12);
    assert_string_equal(d.labels[0], "_silence_");
    assert_string_equal(d.labels[1], "_unknown_");
    assert_string_equal(d.labels[2], "yes");
    assert_string_equal(d.labels[11], "go");
    assert_int_equal(d.n_noise, 1);
    int total = 0, n_unknown = 0, n_sil = 0, n_wow = 0;
    for (int s = 0; s < SC_N_SPLITS; s++) {
        int clips = 0, sil = 0;
        for (int i = 0; i < d.n_items[s]; i++) {
            const sc_item *it = &d.items[s][i];
            if (it->label == 0) {
                sil++;
                assert_true(it->noise_crop);
                assert_non_null(strstr(it->path, "_background_noise_/white.wav"));
                continue;
            }
            clips++;
            assert_false(it->noise_crop);
            /* Split = TF's which_set on the speaker id: speaker-disjoint by construction. */
            double p = sc_hash_percentage(it->speaker);
            int want = p < 10 ? SC_VALID : p < 20 ? SC_TEST : SC_TRAIN;
            assert_int_equal(s, want);
            if (strcmp(it->word, "bed") == 0 || strcmp(it->word, "wow") == 0)
                assert_int_equal(it->label, 1);
            else
                assert_string_equal(d.labels[it->label], it->word);
            n_unknown += it->label == 1;
            n_wow += strcmp(it->word, "wow") == 0;
        }
        /* silence = ceil(10 % of the split's clips), as TF's prepare_data_index */
        assert_int_equal(sil, (int)ceil(clips * 0.1));
        total += clips;
        n_sil += sil;
        printf("split %d: %d clips + %d silence crops\n", s, clips, sil);
    }
    assert_int_equal(total, 4 * N_TOY * 2 + 1);
    assert_int_equal(n_unknown, N_TOY * 2 + 1);
    assert_int_equal(n_wow, 1);
    /* grouping by speaker: 12 speakers, 8 clips each (+1 for the _unknown_/wow clip) */
    sc_speaker_group *g;
    int ng;
    assert_int_equal(sc_group_by_speaker(&d, &g, &ng, &e), CH_OK);
    assert_int_equal(ng, N_TOY);
    for (int i = 0; i < ng; i++) {
        assert_string_equal(g[i].speaker, toy_spk[i]);
        assert_int_equal(g[i].n, i == 0 ? 9 : 8);
        for (int j = 0; j < g[i].n; j++)
            assert_string_equal(g[i].items[j]->speaker, toy_spk[i]);
    }
    sc_groups_free(g, ng);
    sc_free(&d);

    /* Unknown subsampling (TF default 10 %): ceil(10 % of known clips) per split, all of
     * _unknown_/ kept. Task all: every word is a class. */
    o = sc_options_default();
    assert_int_equal(sc_load(root, &o, &d, &e), CH_OK);
    for (int s = 0; s < SC_N_SPLITS; s++) {
        int known = 0, unk_folder = 0, unk = 0;
        for (int i = 0; i < d.n_items[s]; i++) {
            known += d.items[s][i].label >= 2;
            unk += d.items[s][i].label == 1;
            unk_folder += strcmp(d.items[s][i].word, "wow") == 0;
        }
        int from_words = unk - unk_folder;
        assert_true(from_words <= (int)ceil(known * 0.1));
        assert_true(from_words >= ((int)ceil(known * 0.1) < 2 * N_TOY ? 0 : 1));
    }
    sc_free(&d);
    o.task = SC_TASK_ALL;
    assert_int_equal(sc_load(root, &o, &d, &e), CH_OK);
    assert_int_equal(d.n_labels, 5);
    const char *want[] = {"bed", "left", "no", "wow", "yes"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(d.labels[i], want[i]);
    assert_int_equal(d.n_items[0] + d.n_items[1] + d.n_items[2], 4 * N_TOY * 2 + 1);
    assert_int_equal(label_of(&d, "_silence_"), -1);
    sc_free(&d);
}

static void test_sc_lists(void **state)
{
    (void)state;
    char root[4200], path[8192];
    snprintf(root, sizeof root, "%s/toy", tmpdir);
    make_toy(root);
    /* List names ".wav", the validation entry of the _unknown_ folder is a .flac on disk. */
    snprintf(path, sizeof path, "%s/validation_list.txt", root);
    write_text(path, "yes/0a7c2a8d_nohash_0.wav\n_unknown_/wow_0a7c2a8d_nohash_0.wav\n\n");
    snprintf(path, sizeof path, "%s/testing_list.txt", root);
    write_text(path, "no/22222222_nohash_1.wav\r\nbed/22222222_nohash_1.wav\n");
    sc_options o = sc_options_default();
    o.unknown_percentage = 1000;
    o.silence_percentage = 0;
    sc_dataset d;
    ch_error e;
    ch_status st = sc_load(root, &o, &d, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    assert_true(d.from_lists);
    assert_int_equal(d.n_items[SC_VALID], 2);
    assert_int_equal(d.n_items[SC_TEST], 2);
    assert_int_equal(d.n_items[SC_TRAIN], 4 * N_TOY * 2 + 1 - 4);
    assert_string_equal(d.items[SC_VALID][0].word, "wow");
    assert_int_equal(d.items[SC_VALID][0].label, 1);
    assert_string_equal(d.items[SC_VALID][1].word, "yes");
    sc_free(&d);
    /* a list naming a missing clip */
    snprintf(path, sizeof path, "%s/testing_list.txt", root);
    write_text(path, "no/22222222_nohash_1.wav\nno/deadbeef_nohash_0.wav\n");
    assert_int_equal(sc_load(root, &o, &d, &e), CH_ERR_FORMAT);
    printf("missing clip: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "testing_list.txt:2: no such clip 'no/deadbeef_nohash_0'"));
    unlink(path);
    snprintf(path, sizeof path, "%s/validation_list.txt", root);
    unlink(path);
}

static void test_sc_bad_layouts(void **state)
{
    (void)state;
    char root[4200], path[8192];
    sc_dataset d;
    ch_error e;
    sc_options o = sc_options_default();
    snprintf(root, sizeof root, "%s/nope", tmpdir);
    assert_int_equal(sc_load(root, &o, &d, &e), CH_ERR_IO);
    printf("missing: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "no such folder"));
    snprintf(root, sizeof root, "%s/empty", tmpdir);
    mkdirs(root);
    assert_int_equal(sc_load(root, &o, &d, &e), CH_ERR_FORMAT);
    printf("empty: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "no word folders"));
    snprintf(path, sizeof path, "%s/yes", root);
    mkdirs(path);
    assert_int_equal(sc_load(root, &o, &d, &e), CH_ERR_FORMAT);
    printf("empty word: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "yes: word folder has no audio files"));
    /* only unknown words with task 12 */
    snprintf(root, sizeof root, "%s/nowords", tmpdir);
    snprintf(path, sizeof path, "%s/cat", root);
    mkdirs(path);
    snprintf(path, sizeof path, "%s/cat/12345678_nohash_0.wav", root);
    write_clip(path);
    assert_int_equal(sc_load(root, &o, &d, &e), CH_ERR_FORMAT);
    printf("no command words: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "--task all"));
    o.task = SC_TASK_ALL;
    assert_int_equal(sc_load(root, &o, &d, &e), CH_OK);
    assert_int_equal(d.n_labels, 1);
    sc_free(&d);
}

/* The real v2 test set (our FLAC copy): folder counts, 143 speakers, and — since the official
 * test list is exactly the speakers whose which_set hash falls in [10, 20) — every speech clip
 * lands in SC_TEST under the hash split. */
static void test_sc_real(void **state)
{
    (void)state;
    const char *shared = getenv("CHORUS_SHARED");
    if (!shared || !*shared) {
        printf("SKIP: CHORUS_SHARED is empty (no ../shared/data)\n");
        skip();
    }
    char root[4200];
    snprintf(root, sizeof root, "%s/data/speech-commands-v2-test-A", shared);
    if (access(root, F_OK) != 0) {
        printf("SKIP: %s missing\n", root);
        skip();
    }
    sc_options o = sc_options_default();
    o.split = SC_SPLIT_STANDARD;
    sc_dataset d;
    ch_error e;
    ch_status st = sc_load(root, &o, &d, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    /* Per-label counts of the folders (the test set's 12 classes, 2,935 clips). */
    const char *names[] = {"_silence_", "_unknown_", "yes", "no",  "up",   "down",
                           "left",      "right",     "on",  "off", "stop", "go"};
    const int want[] = {238, 247, 253, 240, 257, 250, 251, 230, 237, 239, 252, 241};
    int got[12] = {0}, total = 0, not_test = 0;
    for (int s = 0; s < SC_N_SPLITS; s++)
        for (int i = 0; i < d.n_items[s]; i++) {
            const sc_item *it = &d.items[s][i];
            got[it->label]++;
            total++;
            assert_false(it->noise_crop);
            if (it->label != 0 && s != SC_TEST)
                not_test++;
        }
    assert_int_equal(d.n_labels, 12);
    for (int l = 0; l < 12; l++) {
        assert_string_equal(d.labels[l], names[l]);
        printf("%-10s %d (want %d)\n", names[l], got[l], want[l]);
        assert_int_equal(got[l], want[l]);
    }
    printf("total %d, speech clips outside the test split: %d\n", total, not_test);
    assert_int_equal(total, 2935);
    assert_int_equal(not_test, 0);
    sc_speaker_group *g;
    int ng;
    assert_int_equal(sc_group_by_speaker(&d, &g, &ng, &e), CH_OK);
    printf("speakers %d\n", ng);
    assert_int_equal(ng, 143);
    sc_groups_free(g, ng);
    sc_free(&d);

    /* auto: the standard split is degenerate here, so the salted speaker split is used:
     * round(10 %) of the 143 speakers in validation and in test, the rest train */
    o = sc_options_default();
    st = sc_load(root, &o, &d, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    printf("auto: %s\n", d.split_note);
    assert_false(d.from_lists);
    assert_int_equal(d.split_used, SC_SPLIT_SALTED);
    assert_non_null(strstr(d.split_note, "degenerate"));
    assert_int_equal(d.n_items[0] + d.n_items[1] + d.n_items[2], 2935);
    assert_int_equal(sc_group_by_speaker(&d, &g, &ng, &e), CH_OK);
    int spk_in[SC_N_SPLITS] = {0};
    for (int i = 0; i < ng; i++) {
        int s0 = -1;
        for (int s = 0; s < SC_N_SPLITS && s0 < 0; s++)
            if (g[i].items[0] >= d.items[s] && g[i].items[0] < d.items[s] + d.n_items[s])
                s0 = s;
        for (int j = 1; j < g[i].n; j++) /* speaker-disjoint */
            assert_true(g[i].items[j] >= d.items[s0] &&
                        g[i].items[j] < d.items[s0] + d.n_items[s0]);
        spk_in[s0]++;
    }
    printf("auto: %d / %d / %d clips, %d / %d / %d speakers\n", d.n_items[0], d.n_items[1],
           d.n_items[2], spk_in[0], spk_in[1], spk_in[2]);
    assert_int_equal(spk_in[SC_VALID], 14);
    assert_int_equal(spk_in[SC_TEST], 14);
    assert_int_equal(spk_in[SC_TRAIN], 143 - 28);
    assert_true(d.n_items[SC_TRAIN] > 2935 * 6 / 10);
    sc_groups_free(g, ng);
    sc_free(&d);
}

/* Which split holds item `path` (-1: none). */
static int split_of(const sc_dataset *d, const char *path)
{
    for (int s = 0; s < SC_N_SPLITS; s++)
        for (int i = 0; i < d->n_items[s]; i++)
            if (strcmp(d->items[s][i].path, path) == 0)
                return s;
    return -1;
}

static uint64_t salted_key(const char *salt, const char *speaker)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", salt, speaker);
    uint8_t h[20];
    sha1_digest(buf, strlen(buf), h);
    uint64_t k = 0;
    for (int b = 0; b < 8; b++)
        k = k << 8 | h[b];
    return k;
}

/* A folder that is itself a hash-selected test set (every speaker's which_set percentage in
 * [10, 20), like the real v2 test set): auto switches to the salted split, which is speaker-
 * disjoint with exact shares over speakers; silence clips follow the salted hash of their
 * name; --write-split lists round-trip through --valid-list/--test-list; folder lists win in
 * auto and lose to an explicit --split salted. */
static void test_sc_salted_split(void **state)
{
    (void)state;
    char root[4200], path[8192];
    snprintf(root, sizeof root, "%s/degenerate", tmpdir);
    enum { NS = 20 };
    char spk[NS][16];
    int ns = 0;
    for (uint32_t i = 1; ns < NS; i++) {
        char id[16];
        snprintf(id, sizeof id, "%08x", (unsigned)(i * 2654435761u));
        double p = sc_hash_percentage(id);
        if (p >= 10 && p < 20)
            snprintf(spk[ns++], sizeof spk[0], "%s", id);
    }
    const char *words[] = {"yes", "no"};
    for (int w = 0; w < 2; w++) {
        snprintf(path, sizeof path, "%s/%s", root, words[w]);
        mkdirs(path);
        for (int s = 0; s < NS; s++) {
            snprintf(path, sizeof path, "%s/%s/%s_nohash_0.wav", root, words[w], spk[s]);
            write_clip(path);
        }
    }
    snprintf(path, sizeof path, "%s/_silence_", root);
    mkdirs(path);
    for (int k = 0; k < 30; k++) {
        snprintf(path, sizeof path, "%s/_silence_/%d.wav", root, k);
        write_clip(path);
    }
    sc_options o = sc_options_default();
    o.split = SC_SPLIT_STANDARD;
    sc_dataset d, d2;
    ch_error e;
    assert_int_equal(sc_load(root, &o, &d, &e), CH_OK);
    printf("standard: %d / %d / %d\n", d.n_items[0], d.n_items[1], d.n_items[2]);
    assert_int_equal(d.split_used, SC_SPLIT_STANDARD);
    assert_string_equal(d.split_note, "");
    assert_true(d.n_items[SC_TEST] >= 2 * NS); /* every speech clip */
    sc_free(&d);

    o = sc_options_default(); /* auto */
    ch_status st = sc_load(root, &o, &d, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    printf("auto: %s\n", d.split_note);
    assert_int_equal(d.split_used, SC_SPLIT_SALTED);
    assert_non_null(strstr(d.split_note, "degenerate"));
    /* speakers: the 2 smallest salted keys (round(10 % of 20) = 2) in valid, next 2 test */
    uint64_t keys[NS];
    for (int s = 0; s < NS; s++)
        keys[s] = salted_key(SC_DEFAULT_SALT, spk[s]);
    for (int s = 0; s < NS; s++) {
        int rank = 0;
        for (int t = 0; t < NS; t++)
            rank += keys[t] < keys[s];
        int want = rank < 2 ? SC_VALID : rank < 4 ? SC_TEST : SC_TRAIN;
        for (int w = 0; w < 2; w++) {
            snprintf(path, sizeof path, "%s/%s/%s_nohash_0.wav", root, words[w], spk[s]);
            assert_int_equal(split_of(&d, path), want); /* both words: speaker-disjoint */
        }
    }
    int sil_in[SC_N_SPLITS] = {0};
    for (int k = 0; k < 30; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s%d.wav", SC_DEFAULT_SALT, k);
        double p = sc_hash_percentage(name);
        int want = p < 10 ? SC_VALID : p < 20 ? SC_TEST : SC_TRAIN;
        snprintf(path, sizeof path, "%s/_silence_/%d.wav", root, k);
        assert_int_equal(split_of(&d, path), want);
        sil_in[want]++;
    }
    printf("silence: %d / %d / %d\n", sil_in[0], sil_in[1], sil_in[2]);

    /* lists of the split used round-trip */
    char lists[4300];
    snprintf(lists, sizeof lists, "%s/lists", tmpdir);
    st = sc_write_split(&d, lists, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    o = sc_options_default();
    snprintf(o.valid_list, sizeof o.valid_list, "%s/validation_list.txt", lists);
    snprintf(o.test_list, sizeof o.test_list, "%s/testing_list.txt", lists);
    st = sc_load(root, &o, &d2, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    assert_true(d2.from_lists);
    for (int s = 0; s < SC_N_SPLITS; s++) {
        assert_int_equal(d2.n_items[s], d.n_items[s]);
        for (int i = 0; i < d.n_items[s]; i++)
            assert_string_equal(d2.items[s][i].path, d.items[s][i].path);
    }
    sc_free(&d2);
    snprintf(path, sizeof path, "%s/training_list.txt", lists);
    char *text;
    size_t n;
    assert_int_equal(file_read_all(path, &text, &n, &e), CH_OK);
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, d.n_items[SC_TRAIN]);
    assert_non_null(strstr(text, "_silence_/"));
    assert_null(strstr(text, root)); /* relative paths */
    free(text);

    /* another salt: a different speaker ranking (the splits differ for these 20 speakers) */
    o = sc_options_default();
    snprintf(o.split_salt, sizeof o.split_salt, "other");
    assert_int_equal(sc_load(root, &o, &d2, &e), CH_OK);
    assert_int_equal(d2.split_used, SC_SPLIT_SALTED);
    assert_string_equal(d2.split_note, ""); /* asked for, not switched to */
    int differ = 0;
    for (int s = 0; s < SC_N_SPLITS; s++)
        for (int i = 0; i < d.n_items[s]; i++)
            differ += split_of(&d2, d.items[s][i].path) != s;
    assert_true(differ > 0);
    sc_free(&d2);

    /* folder lists: used by auto, ignored by an explicit --split salted */
    snprintf(path, sizeof path, "%s/validation_list.txt", root);
    write_text(path, "yes/" "00000000_nohash_0.wav\n");
    snprintf(path, sizeof path, "%s/yes/00000000_nohash_0.wav", root);
    write_clip(path);
    o = sc_options_default();
    assert_int_equal(sc_load(root, &o, &d2, &e), CH_OK);
    assert_true(d2.from_lists);
    assert_int_equal(d2.n_items[SC_VALID], 1);
    sc_free(&d2);
    o.split = SC_SPLIT_SALTED;
    assert_int_equal(sc_load(root, &o, &d2, &e), CH_OK);
    assert_false(d2.from_lists);
    assert_true(d2.n_items[SC_VALID] > 1);
    sc_free(&d2);
    /* a list option naming a missing file */
    snprintf(o.valid_list, sizeof o.valid_list, "no_such_list.txt");
    assert_int_equal(sc_load(root, &o, &d2, &e), CH_ERR_IO);
    printf("missing list: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "no_such_list.txt"));
    sc_free(&d);
}

/* Writes a Kaldi dir with the given file contents (NULL = absent). */
static void make_kd(const char *dir, const char *wav, const char *u2s, const char *s2u,
                    const char *lab)
{
    char path[8192];
    mkdirs(dir);
    const char *names[] = {"wav.scp", "utt2spk", "spk2utt", "utt2label", "segments", "text"};
    const char *texts[] = {wav, u2s, s2u, lab};
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
        if (i < 4 && texts[i])
            write_text(path, texts[i]);
    }
}

static void test_kaldi_dir(void **state)
{
    (void)state;
    char dir[4200], wav[8192], path[8192];
    snprintf(dir, sizeof dir, "%s/kd", tmpdir);
    mkdirs(dir);
    const char *utts[] = {"a-1", "a-2", "b-1", "c-1"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s.wav", dir, utts[i]);
        write_clip(path);
    }
    /* wav.scp: absolute, relative-to-dir; out of order on purpose */
    snprintf(wav, sizeof wav, "b-1 %s/b-1.wav\na-2 a-2.wav\na-1 %s/a-1.wav\nc-1 c-1.wav\n", dir,
             dir);
    const char *u2s = "a-1 spkA\na-2 spkA\nb-1 spkB\nc-1 spkC\n";
    kd_dir d;
    ch_error e;
    make_kd(dir, wav, u2s, NULL, "a-1 yes\na-2 no\nb-1 yes\nc-1 _silence_\n");
    ch_status st = kd_load(dir, true, &d, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(d.n_utts, 4);
    assert_true(d.spk2utt_derived);
    assert_int_equal(d.n_speakers, 3);
    assert_string_equal(d.speakers[0], "spkA");
    assert_int_equal(d.spk_start[1] - d.spk_start[0], 2);
    assert_string_equal(d.utts[d.spk_utts[1]].utt, "a-2");
    assert_string_equal(d.utts[0].utt, "a-1");
    assert_true(strstr(d.utts[1].path, "/kd/a-2.wav") != NULL); /* resolved against dir */
    assert_int_equal(d.n_labels, 3);
    assert_string_equal(d.labels[d.utts[3].label], "_silence_");
    assert_int_equal(kd_find_utt(&d, "b-1"), 2);
    assert_int_equal(kd_find_utt(&d, "zz"), -1);
    kd_free(&d);
    /* with a consistent spk2utt */
    make_kd(dir, wav, u2s, "spkB b-1\nspkA a-2 a-1\nspkC c-1\n", NULL);
    st = kd_load(dir, true, &d, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    assert_false(d.spk2utt_derived);
    assert_null(d.labels);
    assert_int_equal(d.utts[0].label, -1);
    kd_free(&d);
    /* a Kaldi command pipe ("cmd |", as feat-extract reads): accepted with check_files, kept
     * as written (not resolved against dir), and audio_read runs it to the file's samples;
     * a pipe naming no file is still accepted (the command fails only when it is read) */
    {
        char pwav[16384];
        snprintf(pwav, sizeof pwav,
                 "a-1 %s/a-1.wav\na-2 cat %s/a-2.wav |\nb-1 cat %s/nothere.wav |\n"
                 "c-1 c-1.wav\n", dir, dir, dir);
        make_kd(dir, pwav, u2s, NULL, NULL);
        st = kd_load(dir, true, &d, &e);
        if (st != CH_OK)
            fail_msg("%s", e.msg);
        assert_int_equal(d.n_utts, 4);
        char want[4200];
        snprintf(want, sizeof want, "cat %s/a-2.wav |", dir);
        assert_string_equal(d.utts[1].path, want);
        assert_true(audio_is_command(d.utts[1].path));
        assert_false(audio_is_command(d.utts[0].path));
        audio_buf piped, direct;
        snprintf(path, sizeof path, "%s/a-2.wav", dir);
        if (audio_read(d.utts[1].path, NULL, &piped, &e) != CH_OK)
            fail_msg("%s", e.msg);
        if (audio_read(path, NULL, &direct, &e) != CH_OK)
            fail_msg("%s", e.msg);
        assert_true(piped.n > 0);
        assert_int_equal(piped.n, direct.n);
        assert_memory_equal(piped.samples, direct.samples, sizeof(float) * (size_t)direct.n);
        audio_free(&piped);
        audio_free(&direct);
        assert_int_not_equal(audio_read(d.utts[2].path, NULL, &piped, &e), CH_OK);
        kd_free(&d);
    }

    struct {
        const char *wav, *u2s, *s2u, *lab, *segments;
        ch_status st;
        const char *msg;
    } bad[] = {
        {NULL, u2s, NULL, NULL, NULL, CH_ERR_IO, "wav.scp: missing"},
        {wav, "a-1 spkA\na-2 spkA\nb-1 spkB\nc-1 spkC\nd-1 spkD\n", NULL, NULL, NULL,
         CH_ERR_FORMAT, "utt2spk:5: utterance 'd-1' has no audio in wav.scp"},
        {wav, "a-1 spkA\na-2 spkA\nb-1 spkB\n", NULL, NULL, NULL, CH_ERR_FORMAT,
         "has no speaker in utt2spk"},
        {"a-1 x.wav\nb-1 y.wav\na-1 z.wav\n", "a-1 s\nb-1 s\n", NULL, NULL, NULL, CH_ERR_FORMAT,
         "wav.scp:3: duplicate utterance 'a-1' (first on line 1)"},
        {"a-1 nothere.wav\n", "a-1 s\n", NULL, NULL, NULL, CH_ERR_FORMAT,
         "wav.scp:1: audio file 'nothere.wav' does not exist"},
        {"a-1\n", "a-1 s\n", NULL, NULL, NULL, CH_ERR_FORMAT, "wav.scp:1: 'a-1' has no value"},
        {wav, u2s, "spkA a-1\nspkB b-1 a-2\nspkC c-1\n", NULL, NULL, CH_ERR_FORMAT,
         "spk2utt:2: utterance 'a-2' belongs to speaker 'spkA' in utt2spk, not 'spkB'"},
        {wav, u2s, "spkA a-1\nspkB b-1\nspkC c-1\n", NULL, NULL, CH_ERR_FORMAT,
         "speaker 'spkA' has 1 utterances here but 2 in utt2spk"},
        {wav, u2s, "spkA a-1 a-2\nspkB b-1\n", NULL, NULL, CH_ERR_FORMAT,
         "spk2utt: speaker 'spkC' of utt2spk is missing"},
        {wav, u2s, NULL, "a-1 yes\na-2 no\nb-1 yes\n", NULL, CH_ERR_FORMAT,
         "utt2label: utterance 'c-1' has no label"},
        {wav, u2s, NULL, NULL, "a-1 rec1 0.0 1.0\n", CH_ERR_UNSUPPORTED,
         "segments: segments are not supported"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        make_kd(dir, bad[i].wav, bad[i].u2s, bad[i].s2u, bad[i].lab);
        if (bad[i].segments) {
            snprintf(path, sizeof path, "%s/segments", dir);
            write_text(path, bad[i].segments);
        }
        st = kd_load(dir, true, &d, &e);
        printf("bad %zu: %s\n", i, st == CH_OK ? "(accepted)" : e.msg);
        assert_int_equal(st, bad[i].st);
        assert_non_null(strstr(e.msg, bad[i].msg));
        assert_non_null(strstr(e.msg, dir)); /* the message names the file */
    }
    snprintf(path, sizeof path, "%s/segments", dir);
    unlink(path);
}

/* A small data-synth corpus read back through both readers; every file decodes. */
static void test_synth_corpus(void **state)
{
    (void)state;
    const char *bin = getenv("CHORUS_BIN");
    char exe[4200];
    snprintf(exe, sizeof exe, "%s/data-synth", bin ? bin : "build/bin");
    if (access(exe, X_OK) != 0) {
        printf("SKIP: %s not built\n", exe);
        skip();
    }
    char cmd[16384], kws[4200], sv[4200];
    snprintf(kws, sizeof kws, "%s/synth-kws", tmpdir);
    snprintf(sv, sizeof sv, "%s/synth-sv", tmpdir);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' '%s' && '%s' --quiet --seed 7 --kws '%s' --speakers '%s' "
             "--kws-speakers 10 --clips-per-word 1 --noise-seconds 2 --sv-speakers 4 "
             "--utts-per-speaker 3 --trials 20",
             kws, sv, exe, kws, sv);
    if (system(cmd) != 0)
        fail_msg("failed: %s", cmd);
    sc_options o = sc_options_default();
    o.unknown_percentage = 1000;
    sc_dataset d;
    ch_error e;
    ch_status st = sc_load(kws, &o, &d, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    assert_true(d.from_lists);
    assert_int_equal(d.n_noise, 5);
    /* 20 words x 10 speakers x 1 clip; 1 validation and 1 test speaker (10 % each) */
    int clips[SC_N_SPLITS] = {0};
    audio_options ao = audio_options_default();
    double worst_len = 0;
    for (int s = 0; s < SC_N_SPLITS; s++)
        for (int i = 0; i < d.n_items[s]; i++) {
            const sc_item *it = &d.items[s][i];
            if (it->noise_crop)
                continue;
            clips[s]++;
            audio_buf a;
            st = audio_read(it->path, &ao, &a, &e);
            if (st != CH_OK)
                fail_msg("%s", e.msg);
            assert_int_equal(a.n, 16000);
            assert_int_equal(a.file_rate_hz, 16000);
            double peak = 0;
            for (long k = 0; k < a.n; k++)
                peak = fmax(peak, fabs(a.samples[k]));
            assert_true(peak > 100); /* not silent */
            worst_len = fmax(worst_len, (double)a.n);
            audio_free(&a);
            assert_int_equal(strlen(it->speaker), 8);
        }
    printf("synth clips per split: %d %d %d\n", clips[0], clips[1], clips[2]);
    assert_int_equal(clips[SC_TRAIN], 20 * 8);
    assert_int_equal(clips[SC_VALID], 20);
    assert_int_equal(clips[SC_TEST], 20);
    sc_speaker_group *g;
    int ng;
    assert_int_equal(sc_group_by_speaker(&d, &g, &ng, &e), CH_OK);
    assert_int_equal(ng, 10);
    sc_groups_free(g, ng);
    sc_free(&d);

    kd_dir k;
    st = kd_load(sv, true, &k, &e);
    if (st != CH_OK)
        fail_msg("%s", e.msg);
    assert_int_equal(k.n_utts, 12);
    assert_int_equal(k.n_speakers, 4);
    assert_false(k.spk2utt_derived);
    for (int u = 0; u < k.n_utts; u++) {
        audio_buf a;
        st = audio_read(k.utts[u].path, &ao, &a, &e);
        if (st != CH_OK)
            fail_msg("%s", e.msg);
        assert_true(a.n > 16000); /* two sentences: a few seconds */
        audio_free(&a);
    }
    /* trials: 20 lines, 10 target; both sides known utterances, different, target iff same
     * speaker */
    char path[8192];
    snprintf(path, sizeof path, "%s/trials", sv);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char u1[128], u2[128], lab[32];
    int n = 0, nt = 0;
    while (fscanf(f, "%127s %127s %31s", u1, u2, lab) == 3) {
        int a = kd_find_utt(&k, u1), b = kd_find_utt(&k, u2);
        assert_true(a >= 0 && b >= 0 && a != b);
        int target = strcmp(lab, "target") == 0;
        assert_true(target || strcmp(lab, "nontarget") == 0);
        assert_int_equal(target, k.utts[a].spk == k.utts[b].spk);
        n++;
        nt += target;
    }
    fclose(f);
    assert_int_equal(n, 20);
    assert_int_equal(nt, 10);
    kd_free(&k);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/test_data.%ld", test_env("CHORUS_TMP", "/tmp"),
             (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1),           cmocka_unit_test(test_hash_percentage),
        cmocka_unit_test(test_parse_name),     cmocka_unit_test(test_sc_hash_split),
        cmocka_unit_test(test_sc_lists),       cmocka_unit_test(test_sc_bad_layouts),
        cmocka_unit_test(test_sc_real),        cmocka_unit_test(test_sc_salted_split),
        cmocka_unit_test(test_kaldi_dir),
        cmocka_unit_test(test_synth_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
