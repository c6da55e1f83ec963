/* test_checkpoint.c — models/checkpoint: round trips of the model file and the per-rank state
 * file, rejection of every kind of bad file with the right status and a message naming the path
 * (missing, empty, foreign, truncated at many offsets, flipped bytes, newer version, wrong kind,
 * wrong parameter count, wrong rank), resume markers (DONE_<step>, newest complete checkpoint,
 * fallback past a damaged one) and kill-safety (SIGKILL during writes never leaves an unreadable
 * checkpoint).
 */
#include "test_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/crc32.h"
#include "common/fileio.h"
#include "models/checkpoint.h"

static void make_dir(const char *name, char *out, size_t size)
{
    ch_error err;
    snprintf(out, size, "%s/ckpt-test-%d/%s", test_env("CHORUS_TMP", "/tmp"), (int)getpid(), name);
    assert_int_equal(dir_create(out, &err), CH_OK);
}

enum { NP = 1001, NB = 33 };

static void fill_model(ckpt_model *m, float *p, float *b, float base)
{
    for (int i = 0; i < NP; i++)
        p[i] = base + 0.001f * (float)i;
    for (int i = 0; i < NB; i++)
        b[i] = -base - (float)i;
    m->kind = "densenet-bilstm";
    m->hparams = "growth=12\nblocks=3\nhidden=64\n";
    m->frontend = "feature-type=fbank\nnum-mel-bins=40\n";
    m->labels = "yes\nno\nup\ndown\n_unknown_\n_silence_\n";
    m->params = p;
    m->n_params = NP;
    m->buffers = b;
    m->n_buffers = NB;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_roundtrip(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    make_dir("rt", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/model.ckpt", dir);
    static float p[NP], b[NB];
    ckpt_model m = {0}, r;
    fill_model(&m, p, b, 0.5f);
    ch_error err;
    assert_int_equal(ckpt_write(path, &m, &err), CH_OK);
    assert_int_equal(ckpt_read(path, &r, "densenet-bilstm", NP, &err), CH_OK);
    assert_string_equal(r.kind, m.kind);
    assert_string_equal(r.hparams, m.hparams);
    assert_string_equal(r.frontend, m.frontend);
    assert_string_equal(r.labels, m.labels);
    assert_int_equal(r.n_params, NP);
    assert_int_equal(r.n_buffers, NB);
    assert_memory_equal(r.params, p, sizeof(p));
    assert_memory_equal(r.buffers, b, sizeof(b));
    ckpt_model_free(&r);
    ckpt_model_free(&r); /* safe twice */

    /* training state, rank 3, two moment arrays */
    ckpt_state s = {0}, t;
    s.rank = 3;
    s.step = 1234;
    s.epoch = 7;
    s.data_pos = 98765;
    s.opt_step = 1200;
    s.world_size = 4;
    s.plateau.lr = 0.025;
    s.plateau.best = 0.93;
    s.plateau.num_bad_epochs = 2;
    s.plateau.cooldown_counter = 1;
    rng_seed(&s.rng, 11, 3);
    (void)rng_normal(&s.rng); /* leaves a spare normal in the state */
    s.n_moments = 2;
    s.n = NP;
    s.moment[0] = p;
    static float m1[NP];
    for (int i = 0; i < NP; i++)
        m1[i] = 1e-3f * (float)(i % 17);
    s.moment[1] = m1;
    assert_int_equal(ckpt_state_write(path, &s, &err), CH_OK);
    assert_int_equal(ckpt_state_read(path, 3, &t, &err), CH_OK);
    assert_int_equal(t.step, 1234);
    assert_int_equal(t.epoch, 7);
    assert_int_equal(t.data_pos, 98765);
    assert_int_equal(t.opt_step, 1200);
    assert_int_equal(t.world_size, 4);
    assert_true(t.plateau.lr == 0.025 && t.plateau.best == 0.93);
    assert_int_equal(t.plateau.num_bad_epochs, 2);
    assert_int_equal(t.plateau.cooldown_counter, 1);
    assert_int_equal(t.n_moments, 2);
    assert_int_equal(t.n, NP);
    assert_memory_equal(t.moment[0], p, sizeof(p));
    assert_memory_equal(t.moment[1], m1, sizeof(m1));
    /* the restored RNG continues the same stream */
    for (int k = 0; k < 5; k++)
        assert_true(rng_normal(&t.rng) == rng_normal(&s.rng));
    ckpt_state_free(&t);
    /* wrong rank is refused */
    char spath[4300];
    ckpt_state_path(spath, sizeof(spath), path, 3);
    char other[4300];
    ckpt_state_path(other, sizeof(other), path, 4);
    assert_int_equal(rename(spath, other), 0);
    assert_int_equal(ckpt_state_read(path, 4, &t, &err), CH_ERR_FORMAT);
    printf("state of rank 3 read as rank 4: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "rank"));
}

/* Expects ckpt_read(path) to fail with status st and a message containing the path and want. */
static void expect_bad(const char *path, ch_status st, const char *want, const char *kind,
                       uint64_t nparams)
{
    ckpt_model r;
    ch_error err = {{0}};
    ch_status got = ckpt_read(path, &r, kind, nparams, &err);
    printf("  -> %s\n", err.msg);
    if (got != st)
        fail_msg("%s: status %d, want %d (%s)", path, got, st, err.msg);
    if (!strstr(err.msg, path))
        fail_msg("message does not name the file: %s", err.msg);
    if (!strstr(err.msg, want))
        fail_msg("message lacks \"%s\": %s", want, err.msg);
    assert_null(r.params);
}

static void test_bad_files(void **state)
{
    (void)state;
    char dir[4096], good[4200], bad[4200];
    make_dir("bad", dir, sizeof(dir));
    snprintf(good, sizeof(good), "%s/good.ckpt", dir);
    snprintf(bad, sizeof(bad), "%s/bad.ckpt", dir);
    static float p[NP], b[NB];
    ckpt_model m = {0};
    fill_model(&m, p, b, 1.0f);
    ch_error err;
    assert_int_equal(ckpt_write(good, &m, &err), CH_OK);
    char *data;
    size_t n;
    assert_int_equal(file_read_all(good, &data, &n, &err), CH_OK);
    printf("checkpoint of %d params + %d buffers: %zu bytes\n", NP, NB, n);

    printf("missing file\n");
    char missing[4300];
    snprintf(missing, sizeof(missing), "%s/nothing.ckpt", dir);
    expect_bad(missing, CH_ERR_IO, "", NULL, 0);
    printf("empty file\n");
    write_bytes(bad, data, 0);
    expect_bad(bad, CH_ERR_FORMAT, "empty", NULL, 0);
    printf("foreign file\n");
    write_bytes(bad, "RIFF\x24\0\0\0WAVEfmt ", 16);
    expect_bad(bad, CH_ERR_FORMAT, "not a chorus checkpoint", NULL, 0);

    /* truncated at several offsets: inside the magic, the header, the text, the parameters, the
     * buffers, and one byte short */
    const size_t cuts[] = {3, 8, 20, 39, 40, 60, 200, n - 4 * NB - 1, n - 1};
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        printf("truncated at %zu of %zu\n", cuts[k], n);
        write_bytes(bad, data, cuts[k]);
        expect_bad(bad, CH_ERR_FORMAT, "truncated", NULL, 0);
    }
    printf("trailing garbage\n");
    char *longer = malloc(n + 5);
    memcpy(longer, data, n);
    memcpy(longer + n, "xxxxx", 5);
    write_bytes(bad, longer, n + 5);
    expect_bad(bad, CH_ERR_FORMAT, "corrupt", NULL, 0);
    free(longer);

    /* one flipped bit anywhere after the magic: header fields, CRCs, text, params, buffers */
    const size_t flips[] = {9, 13, 17, 25, 33, 37, 45, 100, n / 2, n - 1};
    for (size_t k = 0; k < sizeof(flips) / sizeof(flips[0]); k++) {
        printf("bit flipped at %zu\n", flips[k]);
        data[flips[k]] ^= 0x10;
        write_bytes(bad, data, n);
        data[flips[k]] ^= 0x10;
        expect_bad(bad, CH_ERR_FORMAT, "corrupt", NULL, 0);
    }

    printf("newer format version (header CRC recomputed)\n");
    uint32_t v = CKPT_VERSION + 1, hc;
    memcpy(data + 8, &v, 4);
    hc = crc32_update(0, data, 36);
    memcpy(data + 36, &hc, 4);
    write_bytes(bad, data, n);
    expect_bad(bad, CH_ERR_FORMAT, "newer", NULL, 0);
    free(data);

    printf("wrong model kind\n");
    expect_bad(good, CH_ERR_FORMAT, "is a densenet-bilstm checkpoint, expected tdnn", "tdnn", 0);
    printf("wrong parameter count\n");
    expect_bad(good, CH_ERR_FORMAT, "has 1001 parameters, expected 1000", NULL, 1000);
    /* the good one still reads */
    ckpt_model r;
    assert_int_equal(ckpt_read(good, &r, "densenet-bilstm", NP, &err), CH_OK);
    ckpt_model_free(&r);

    /* state file damage */
    ckpt_state s = {0}, t;
    s.n_moments = 1;
    s.n = NP;
    s.moment[0] = p;
    assert_int_equal(ckpt_state_write(good, &s, &err), CH_OK);
    char spath[4300];
    ckpt_state_path(spath, sizeof(spath), good, 0);
    assert_int_equal(file_read_all(spath, &data, &n, &err), CH_OK);
    data[n / 2] ^= 1;
    write_bytes(spath, data, n);
    assert_int_equal(ckpt_state_read(good, 0, &t, &err), CH_ERR_FORMAT);
    printf("state with a flipped bit: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_non_null(strstr(err.msg, spath));
    write_bytes(spath, data, n - 10);
    assert_int_equal(ckpt_state_read(good, 0, &t, &err), CH_ERR_FORMAT);
    printf("truncated state: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "truncated"));
    write_bytes(spath, "CHORUSCK", 8);
    assert_int_equal(ckpt_state_read(good, 0, &t, &err), CH_ERR_FORMAT);
    printf("model file given as state: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "not a chorus training-state file"));
    free(data);
}

static void test_resume_markers(void **state)
{
    (void)state;
    char dir[4096], path[4300], found[4300];
    make_dir("resume", dir, sizeof(dir));
    ch_error err;
    int64_t step;
    assert_int_equal(ckpt_find_latest(dir, &step, found, sizeof(found), &err), CH_OK);
    assert_int_equal(step, -1);

    static float p[NP], b[NB];
    ckpt_model m = {0};
    const int64_t steps[3] = {10, 20, 30};
    for (int k = 0; k < 3; k++) {
        fill_model(&m, p, b, (float)steps[k]);
        ckpt_path_for_step(path, sizeof(path), dir, steps[k]);
        assert_int_equal(ckpt_write(path, &m, &err), CH_OK);
        if (steps[k] != 30) /* step 30 "crashed" before its marker */
            assert_int_equal(ckpt_mark_done(dir, steps[k], &err), CH_OK);
    }
    /* a leftover temp marker is not a marker */
    char stray[4300];
    snprintf(stray, sizeof(stray), "%s/DONE_40.tmp.999", dir);
    write_bytes(stray, "40\n", 3);
    assert_int_equal(ckpt_find_latest(dir, &step, found, sizeof(found), &err), CH_OK);
    printf("newest complete: step %lld at %s\n", (long long)step, found);
    assert_int_equal(step, 20);
    ckpt_path_for_step(path, sizeof(path), dir, 20);
    assert_string_equal(found, path);

    /* damage step 20: resume falls back to step 10 */
    write_bytes(path, "CHORUSCK", 8);
    assert_int_equal(ckpt_find_latest(dir, &step, found, sizeof(found), &err), CH_OK);
    printf("after damaging step 20: step %lld\n", (long long)step);
    assert_int_equal(step, 10);

    char nodir[4300];
    snprintf(nodir, sizeof(nodir), "%s/absent", dir);
    assert_int_equal(ckpt_find_latest(nodir, &step, found, sizeof(found), &err), CH_ERR_IO);
    assert_non_null(strstr(err.msg, nodir));
}

/* Kill-safety: a child rewrites the same checkpoint in a loop with a new value each time and is
 * SIGKILLed at an arbitrary moment; the file must then read back complete and self-consistent
 * (all parameters from one version). Also a write abandoned by hand after half the payload. */
static void test_kill_safety(void **state)
{
    (void)state;
    char dir[4096], path[4200];
    make_dir("kill", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/model.ckpt", dir);
    enum { BIG = 262144 };
    float *p = malloc(sizeof(float) * BIG);
    ch_error err;
    ckpt_model m = {0};
    m.kind = "tdnn";
    m.params = p;
    m.n_params = BIG;
    for (int i = 0; i < BIG; i++)
        p[i] = 0.0f;
    assert_int_equal(ckpt_write(path, &m, &err), CH_OK);

    const int delays_us[4] = {3000, 11000, 27000, 50000};
    for (int k = 0; k < 4; k++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (int version = 1;; version++) {
                for (int i = 0; i < BIG; i++)
                    p[i] = (float)version;
                ch_error e;
                if (ckpt_write(path, &m, &e) != CH_OK)
                    _exit(3);
            }
        }
        usleep((useconds_t)delays_us[k]);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status));
        ckpt_model r;
        assert_int_equal(ckpt_read(path, &r, "tdnn", BIG, &err), CH_OK);
        float v = r.params[0];
        for (int i = 1; i < BIG; i++)
            if (r.params[i] != v)
                fail_msg("mixed versions at %d: %g vs %g", i, r.params[i], v);
        printf("killed after %d us: checkpoint intact (version %g)\n", delays_us[k], v);
        ckpt_model_free(&r);
    }

    /* a write abandoned half-way (the process dies between atomic_open and atomic_commit) */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        atomic_file a;
        ch_error e;
        if (atomic_open(&a, path, &e) != CH_OK)
            _exit(3);
        (void)atomic_write(&a, "CHORUSCK", 8, &e);
        (void)atomic_write(&a, p, sizeof(float) * BIG / 2, &e);
        raise(SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    ckpt_model r;
    assert_int_equal(ckpt_read(path, &r, "tdnn", BIG, &err), CH_OK);
    ckpt_model_free(&r);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_resume_markers),
        cmocka_unit_test(test_kill_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
