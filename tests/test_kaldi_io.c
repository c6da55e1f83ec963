/* test_kaldi_io.c — frontend/kaldi_io: scp lists, specifiers, binary and text archives.
 *
 * Against an independent writer: tests/ref/kaldi_io_ref.py writes arks (binary FM/FV/DM/DV,
 * text) and an scp with NumPy following Kaldi's byte format; we read them and compare values,
 * and write the same data ourselves and compare bytes. Then round trips of our own writer,
 * every truncation point of an ark, corrupt headers, and bad lists/specifiers: always the right
 * status and a message naming the file, never a crash (also under make asan).
 */
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include "frontend/kaldi_io.h"
#include "tensorfile.h"

static char tmpdir[4096];
static char refdir[4096];

/* The entries of kaldi_ref_float.ark / kaldi_ref_text.ark, in order. */
static const char *ref_order[] = {"utt-a",   "utt_b", "special",    "one-row",
                                  "one-col", "vec1",  "feats.0001"};
#define N_REF 7

static tf_file *load_ref(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/kaldi_ref_values.bin", refdir);
    if (access(path, R_OK) != 0)
        return NULL;
    return tf_load(path);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    buf[*n] = 0;
    return buf;
}

/* Reads every entry of rspec and compares with the reference values named prefix+key, in the
 * given order. Tolerance: see callers. */
static void check_against_ref(const char *rspec, const tf_file *ref, const char *prefix,
                              const char **order, int n_order, double rtol)
{
    kaldi_reader *r;
    ch_error e;
    assert_int_equal(kaldi_reader_open(rspec, &r, &e), CH_OK);
    int count = 0;
    for (;;) {
        kaldi_entry ent;
        bool done;
        ch_status st = kaldi_reader_next(r, &ent, &done, &e);
        if (st != CH_OK)
            fail_msg("%s: %s", rspec, e.msg);
        if (done)
            break;
        assert_true(count < n_order);
        assert_string_equal(ent.key, order[count]);
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, ent.key);
        const int64_t *dims = NULL;
        const float *want = tf_get(ref, name, &dims, NULL);
        assert_non_null(want);
        int ndim = 0;
        for (int i = 0; i < ref->count; i++)
            if (strcmp(ref->t[i].name, name) == 0)
                ndim = ref->t[i].ndim;
        if (ndim == 1) {
            assert_true(ent.is_vector);
            assert_int_equal(ent.rows, 1);
            assert_int_equal(ent.cols, dims[0]);
        } else {
            assert_false(ent.is_vector);
            assert_int_equal(ent.rows, dims[0]);
            assert_int_equal(ent.cols, dims[1]);
        }
        char what[512];
        snprintf(what, sizeof what, "%s %s", rspec, ent.key);
        test_assert_close(what, ent.data, want, (size_t)ent.rows * (size_t)ent.cols, 0, rtol);
        count++;
    }
    assert_int_equal(count, n_order);
    kaldi_reader_close(r);
}

static void test_read_reference_arks(void **state)
{
    (void)state;
    tf_file *ref = load_ref();
    if (!ref) {
        printf("SKIP: no reference dump in %s (tests/ref/kaldi_io_ref.py did not run)\n", refdir);
        skip();
    }
    char spec[4300];
    /* binary float and double data are exact: floats are copied, doubles are rounded to float
     * once, as NumPy's astype(float32) does */
    snprintf(spec, sizeof spec, "ark:%s/kaldi_ref_float.ark", refdir);
    check_against_ref(spec, ref, "", ref_order, N_REF, 0);
    snprintf(spec, sizeof spec, "scp:%s/kaldi_ref_float.scp", refdir);
    check_against_ref(spec, ref, "", ref_order, N_REF, 0);
    const char *mixed[] = {"fm", "dm", "fv", "dv", "dm-special"};
    snprintf(spec, sizeof spec, "ark:%s/kaldi_ref_mixed.ark", refdir);
    check_against_ref(spec, ref, "mixed/", mixed, 5, 0);
    /* text: 7 significant digits (Kaldi's text precision) round by at most 5e-7 relative, plus
     * one float rounding (6e-8) */
    snprintf(spec, sizeof spec, "ark,t:%s/kaldi_ref_text.ark", refdir);
    check_against_ref(spec, ref, "", ref_order, N_REF, 6e-7);
    snprintf(spec, sizeof spec, "ark:%s/kaldi_ref_text.ark", refdir); /* format is detected */
    check_against_ref(spec, ref, "", ref_order, N_REF, 6e-7);

    /* the scp in reverse order: every read seeks backwards */
    char path[4300];
    snprintf(path, sizeof path, "%s/kaldi_ref_float.scp", refdir);
    size_t n;
    char *scp = read_file(path, &n);
    assert_non_null(scp);
    char *lines[16];
    int nl = 0;
    for (char *p = strtok(scp, "\n"); p && nl < 16; p = strtok(NULL, "\n"))
        lines[nl++] = p;
    assert_int_equal(nl, N_REF);
    snprintf(path, sizeof path, "%s/reversed.scp", tmpdir);
    FILE *f = fopen(path, "w");
    const char *rev[N_REF];
    for (int i = nl - 1; i >= 0; i--) {
        fprintf(f, "%s\n", lines[i]);
        rev[nl - 1 - i] = ref_order[i];
    }
    fclose(f);
    free(scp);
    snprintf(spec, sizeof spec, "scp:%s", path);
    check_against_ref(spec, ref, "", rev, N_REF, 0);
    tf_free(ref);
}

/* Writes the reference entries with our writer and compares with the Python bytes. */
static void test_write_matches_reference(void **state)
{
    (void)state;
    tf_file *ref = load_ref();
    if (!ref) {
        printf("SKIP: no reference dump in %s\n", refdir);
        skip();
    }
    for (int text = 0; text < 2; text++) {
        char ark[4300], scpf[4300], spec[9000];
        snprintf(ark, sizeof ark, "%s/ours_%s.ark", tmpdir, text ? "text" : "float");
        snprintf(scpf, sizeof scpf, "%s/ours_%s.scp", tmpdir, text ? "text" : "float");
        snprintf(spec, sizeof spec, "ark,%sscp:%s,%s", text ? "t," : "", ark, scpf);
        kaldi_writer *w;
        ch_error e;
        assert_int_equal(kaldi_writer_open(spec, &w, &e), CH_OK);
        for (int k = 0; k < N_REF; k++) {
            const int64_t *dims = NULL;
            const float *x = tf_get(ref, ref_order[k], &dims, NULL);
            int ndim = 0;
            for (int i = 0; i < ref->count; i++)
                if (strcmp(ref->t[i].name, ref_order[k]) == 0)
                    ndim = ref->t[i].ndim;
            if (ndim == 1)
                assert_int_equal(kaldi_write_vector(w, ref_order[k], x, (int)dims[0], &e), CH_OK);
            else
                assert_int_equal(kaldi_write_matrix(w, ref_order[k], x, (int)dims[0],
                                                    (int)dims[1], &e),
                                 CH_OK);
        }
        assert_int_equal(kaldi_writer_close(w, &e), CH_OK);
        char refark[4300];
        snprintf(refark, sizeof refark, "%s/kaldi_ref_%s.ark", refdir, text ? "text" : "float");
        size_t na, nb;
        char *a = read_file(ark, &na), *b = read_file(refark, &nb);
        assert_non_null(a);
        assert_non_null(b);
        size_t first = 0;
        while (first < na && first < nb && a[first] == b[first])
            first++;
        printf("%s: ours %zu bytes, reference %zu bytes, first difference at %zu%s\n",
               text ? "text ark" : "binary ark", na, nb, first,
               first == na && na == nb ? " (identical)" : "");
        assert_int_equal(na, nb);
        assert_int_equal(first, na);
        free(a);
        free(b);
        if (!text) {
            /* scp offsets equal the reference's (paths differ: each names its own ark) */
            char refscp[4300];
            snprintf(refscp, sizeof refscp, "%s/kaldi_ref_float.scp", refdir);
            scp_list ours, theirs;
            assert_int_equal(scp_list_read(scpf, &ours, &e), CH_OK);
            assert_int_equal(scp_list_read(refscp, &theirs, &e), CH_OK);
            assert_int_equal(ours.n, theirs.n);
            for (int i = 0; i < ours.n; i++) {
                assert_string_equal(ours.entries[i].key, theirs.entries[i].key);
                assert_string_equal(strrchr(ours.entries[i].value, ':'),
                                    strrchr(theirs.entries[i].value, ':'));
                assert_int_equal(strncmp(ours.entries[i].value, ark, strlen(ark)), 0);
            }
            scp_list_free(&ours);
            scp_list_free(&theirs);
        }
    }
    tf_free(ref);
}

/* Our writer -> our reader, binary exact and text to 7 digits, odd shapes, ark and scp. */
static void test_round_trip(void **state)
{
    (void)state;
    int shapes[][3] = {{3, 5, 0}, {1, 1, 0}, {17, 1, 0}, {0, 0, 0}, {1, 23, 1}, {1, 0, 1},
                       {101, 40, 0}, {1, 1, 1}};
    const int ns = (int)(sizeof shapes / sizeof shapes[0]);
    float *data[8];
    unsigned s = 1;
    for (int k = 0; k < ns; k++) {
        size_t n = (size_t)shapes[k][0] * (size_t)shapes[k][1];
        data[k] = malloc((n ? n : 1) * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            data[k][i] = ((float)(s >> 8) / (1 << 24) - 0.5f) * powf(10.0f, (float)(k % 5) - 2);
        }
    }
    for (int text = 0; text < 2; text++) {
        char ark[4300], scpf[4300], spec[9000];
        snprintf(ark, sizeof ark, "%s/rt.ark", tmpdir);
        snprintf(scpf, sizeof scpf, "%s/rt.scp", tmpdir);
        snprintf(spec, sizeof spec, "ark,%sscp:%s,%s", text ? "t," : "", ark, scpf);
        kaldi_writer *w;
        ch_error e;
        assert_int_equal(kaldi_writer_open(spec, &w, &e), CH_OK);
        for (int k = 0; k < ns; k++) {
            char key[32];
            snprintf(key, sizeof key, "key%d", k);
            if (shapes[k][2])
                assert_int_equal(kaldi_write_vector(w, key, data[k], shapes[k][1], &e), CH_OK);
            else
                assert_int_equal(
                    kaldi_write_matrix(w, key, data[k], shapes[k][0], shapes[k][1], &e), CH_OK);
        }
        assert_int_equal(kaldi_writer_close(w, &e), CH_OK);
        for (int via_scp = 0; via_scp < 2; via_scp++) {
            snprintf(spec, sizeof spec, "%s:%s", via_scp ? "scp" : "ark", via_scp ? scpf : ark);
            kaldi_reader *r;
            assert_int_equal(kaldi_reader_open(spec, &r, &e), CH_OK);
            for (int k = 0; k < ns; k++) {
                kaldi_entry ent;
                bool done;
                if (kaldi_reader_next(r, &ent, &done, &e) != CH_OK)
                    fail_msg("%s", e.msg);
                assert_false(done);
                char key[32];
                snprintf(key, sizeof key, "key%d", k);
                assert_string_equal(ent.key, key);
                size_t n = (size_t)shapes[k][0] * (size_t)shapes[k][1];
                if (n == 0) {
                    /* Kaldi writes any matrix without columns as "[ ]" in text */
                    assert_int_equal((size_t)ent.rows * (size_t)ent.cols, 0);
                    continue;
                }
                assert_int_equal(ent.is_vector, shapes[k][2]);
                assert_int_equal(ent.rows, shapes[k][2] ? 1 : shapes[k][0]);
                assert_int_equal(ent.cols, shapes[k][1]);
                char what[64];
                snprintf(what, sizeof what, "%s %s %s", text ? "text" : "binary",
                         via_scp ? "scp" : "ark", key);
                /* binary exact; text: 7 significant digits (5e-7 relative) + float rounding */
                test_assert_close(what, ent.data, data[k], n, 0, text ? 6e-7 : 0);
            }
            kaldi_entry ent;
            bool done;
            assert_int_equal(kaldi_reader_next(r, &ent, &done, &e), CH_OK);
            assert_true(done);
            kaldi_reader_close(r);
        }
    }
    for (int k = 0; k < ns; k++)
        free(data[k]);

    /* "ark:-" reads stdin (here a file put on stdin); a 3 MB matrix crosses the 1 M-element
     * read chunks */
    char ark[4300];
    snprintf(ark, sizeof ark, "%s/stdin.ark", tmpdir);
    char spec[4400];
    snprintf(spec, sizeof spec, "ark:%s", ark);
    const int rows = 3000, cols = 257;
    float *big = malloc((size_t)rows * cols * sizeof(float));
    for (int i = 0; i < rows * cols; i++)
        big[i] = (float)i * 0.25f;
    kaldi_writer *w;
    ch_error e;
    assert_int_equal(kaldi_writer_open(spec, &w, &e), CH_OK);
    assert_int_equal(kaldi_write_matrix(w, "big", big, rows, cols, &e), CH_OK);
    assert_int_equal(kaldi_write_vector(w, "small", big, 3, &e), CH_OK);
    assert_int_equal(kaldi_writer_close(w, &e), CH_OK);
    assert_non_null(freopen(ark, "rb", stdin));
    kaldi_reader *r;
    assert_int_equal(kaldi_reader_open("ark:-", &r, &e), CH_OK);
    kaldi_entry ent;
    bool done;
    assert_int_equal(kaldi_reader_next(r, &ent, &done, &e), CH_OK);
    assert_int_equal(ent.rows, rows);
    assert_int_equal(ent.cols, cols);
    test_assert_close("ark:- big", ent.data, big, (size_t)rows * cols, 0, 0);
    assert_int_equal(kaldi_reader_next(r, &ent, &done, &e), CH_OK);
    assert_string_equal(ent.key, "small");
    assert_int_equal(kaldi_reader_next(r, &ent, &done, &e), CH_OK);
    assert_true(done);
    kaldi_reader_close(r);

    /* "ark:cmd |" reads a command's output; a failing command is an error at the end */
    char cmdspec[4400];
    snprintf(cmdspec, sizeof cmdspec, "ark:cat '%s' |", ark);
    assert_int_equal(kaldi_reader_open(cmdspec, &r, &e), CH_OK);
    int count = 0;
    for (;;) {
        ch_status st = kaldi_reader_next(r, &ent, &done, &e);
        if (st != CH_OK)
            fail_msg("%s", e.msg);
        if (done)
            break;
        if (count == 0)
            test_assert_close("ark:cat |", ent.data, big, (size_t)rows * cols, 0, 0);
        count++;
    }
    assert_int_equal(count, 2);
    assert_int_equal(kaldi_reader_next(r, &ent, &done, &e), CH_OK); /* stays done */
    assert_true(done);
    kaldi_reader_close(r);
    assert_int_equal(kaldi_reader_open("ark:exit 3 |", &r, &e), CH_OK);
    assert_int_equal(kaldi_reader_next(r, &ent, &done, &e), CH_ERR_IO);
    printf("failing command: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "exit 3 |: command failed (status 3)"));
    kaldi_reader_close(r);
    free(big);
}

/* Cuts a binary and a text ark at every byte: each cut either ends exactly at an entry
 * boundary (and reads cleanly) or fails with CH_ERR_FORMAT naming the file. */
static void test_truncation_everywhere(void **state)
{
    (void)state;
    float m[6] = {1, 2, 3, 4, 5, 6}, v[3] = {-1.5f, 0, 2.25f};
    for (int text = 0; text < 2; text++) {
        char ark[4300], spec[4400];
        snprintf(ark, sizeof ark, "%s/full.ark", tmpdir);
        snprintf(spec, sizeof spec, "ark%s:%s", text ? ",t" : "", ark);
        kaldi_writer *w;
        ch_error e;
        assert_int_equal(kaldi_writer_open(spec, &w, &e), CH_OK);
        assert_int_equal(kaldi_write_matrix(w, "mat", m, 2, 3, &e), CH_OK);
        assert_int_equal(kaldi_write_vector(w, "vec", v, 3, &e), CH_OK);
        assert_int_equal(kaldi_write_matrix(w, "mat2", m, 3, 2, &e), CH_OK);
        assert_int_equal(kaldi_writer_close(w, &e), CH_OK);
        size_t n;
        char *full = read_file(ark, &n);
        /* clean ends: after each entry (and, for text, just before each entry's final '\n') */
        size_t ends[8];
        int nends = 0;
        for (size_t i = 0; i < n; i++) {
            if (text && full[i] == ']')
                ends[nends++] = i + 1;
        }
        char cut[4300];
        snprintf(cut, sizeof cut, "%s/cut.ark", tmpdir);
        int clean = 0, errors = 0, bad = 0;
        for (size_t len = 1; len < n; len++) {
            write_file(cut, full, len);
            snprintf(spec, sizeof spec, "ark:%s", cut);
            kaldi_reader *r;
            assert_int_equal(kaldi_reader_open(spec, &r, &e), CH_OK);
            ch_status st;
            int entries = 0;
            for (;;) {
                kaldi_entry ent;
                bool done;
                st = kaldi_reader_next(r, &ent, &done, &e);
                if (st != CH_OK || done)
                    break;
                entries++;
            }
            kaldi_reader_close(r);
            int boundary = 0;
            if (!text) {
                /* binary entry sizes: "mat " + 5 + 10 + 24 = 43; "vec " + 5 + 5 + 12 = 26 */
                boundary = len == 43 || len == 69;
            } else {
                for (int k = 0; k < nends; k++)
                    boundary |= len == ends[k] || len == ends[k] + 1;
            }
            if (st == CH_OK) {
                clean++;
                if (!boundary) {
                    printf("cut at %zu of %zu (%s): read %d entries without error\n", len, n,
                           text ? "text" : "binary", entries);
                    bad++;
                }
            } else {
                errors++;
                if (st != CH_ERR_FORMAT || !strstr(e.msg, cut)) {
                    printf("cut at %zu: [%s] %s\n", len, ch_status_name(st), e.msg);
                    bad++;
                }
                if (len == n / 2)
                    printf("%s cut at %zu of %zu: %s\n", text ? "text" : "binary", len, n, e.msg);
            }
        }
        printf("%s ark of %zu bytes cut at every byte: %d clean (at entry ends), %d errors, %d "
               "wrong\n",
               text ? "text" : "binary", n, clean, errors, bad);
        assert_int_equal(bad, 0);
        free(full);
    }
}

/* Hand-made corrupt binary entries. */
static void test_corrupt(void **state)
{
    (void)state;
    struct {
        const char *bytes;
        size_t n;
        ch_status st;
        const char *msg;
    } cases[] = {
        {"k \0BFM \4\2\0\0\0\4\2\0\0\0\0\0\200?", 21, CH_ERR_FORMAT, "truncated: 2 x 2 floats"},
        {"k \0BFM \10\2\0\0\0\4\2\0\0\0", 15, CH_ERR_FORMAT, "size byte 8, expected 4"},
        {"k \0BXM \4\2\0\0\0\4\2\0\0\0", 15, CH_ERR_FORMAT, "unknown object type 'XM'"},
        {"k \0BCM2 \4\2\0\0\0", 11, CH_ERR_UNSUPPORTED, "compressed matrix (CM2)"},
        {"k \0BFM \4\377\377\377\377\4\2\0\0\0", 15, CH_ERR_FORMAT, "negative row count -1"},
        {"k \0BFM \4\377\377\377\177\4\377\377\377\177", 17, CH_ERR_FORMAT, "too big"},
        {"k \0BFV \4\0\0\0\1", 10, CH_ERR_FORMAT, "truncated"},
        {"k \0X", 4, CH_ERR_FORMAT, "corrupt binary marker"},
        {"k \0", 3, CH_ERR_FORMAT, "truncated"},
        {"\0\0\0\0", 4, CH_ERR_FORMAT, "binary data where a key was expected"},
        {"k [ 1 2 x ]\n", 12, CH_ERR_FORMAT, "corrupt text data"},
        {"k [\n 1 2\n 3 ]\n", 14, CH_ERR_FORMAT, "row 1 has 1 values, row 0 has 2"},
        {"k { 1 }\n", 8, CH_ERR_FORMAT, "expected '['"},
        {"k [ 1 2", 7, CH_ERR_FORMAT, "truncated text data"},
    };
    char path[4300], spec[4400];
    snprintf(path, sizeof path, "%s/corrupt.ark", tmpdir);
    snprintf(spec, sizeof spec, "ark:%s", path);
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(path, cases[i].bytes, cases[i].n);
        kaldi_reader *r;
        ch_error e;
        assert_int_equal(kaldi_reader_open(spec, &r, &e), CH_OK);
        kaldi_entry ent;
        bool done;
        ch_status st = kaldi_reader_next(r, &ent, &done, &e);
        kaldi_reader_close(r);
        int good = st == cases[i].st && strstr(e.msg, path) && strstr(e.msg, cases[i].msg);
        printf("case %zu %s: [%s] %s\n", i, good ? "ok" : "WRONG", ch_status_name(st),
               st ? e.msg : "");
        bad += !good;
    }
    assert_int_equal(bad, 0);
}

static void test_scp_lists(void **state)
{
    (void)state;
    char path[4300];
    snprintf(path, sizeof path, "%s/list.scp", tmpdir);
    const char *good = "utt1 /a/b.wav\n\n  utt2\tsox x.wav -t wav - |  \r\nutt3 c:12\n";
    write_file(path, good, strlen(good));
    scp_list l;
    ch_error e;
    assert_int_equal(scp_list_read(path, &l, &e), CH_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.entries[0].key, "utt1");
    assert_string_equal(l.entries[0].value, "/a/b.wav");
    assert_string_equal(l.entries[1].key, "utt2");
    assert_string_equal(l.entries[1].value, "sox x.wav -t wav - |");
    assert_string_equal(l.entries[2].value, "c:12");
    scp_list_free(&l);
    write_file(path, "", 0);
    assert_int_equal(scp_list_read(path, &l, &e), CH_OK);
    assert_int_equal(l.n, 0);
    scp_list_free(&l);
    struct {
        const char *text;
        size_t n;
        const char *msg;
    } bad[] = {
        {"a x\nb\n", 6, ":2: key 'b' has no value"},
        {"a x\nb y\nc z\nb w\n", 16, ":4: duplicate key 'b' (first on line 2)"},
        {"a x\nb \0y\n", 9, ":2: binary data"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text, bad[i].n);
        assert_int_equal(scp_list_read(path, &l, &e), CH_ERR_FORMAT);
        printf("bad list %zu: %s\n", i, e.msg);
        assert_non_null(strstr(e.msg, path));
        assert_non_null(strstr(e.msg, bad[i].msg));
        assert_null(l.entries);
    }
    snprintf(path, sizeof path, "%s/missing.scp", tmpdir);
    assert_int_equal(scp_list_read(path, &l, &e), CH_ERR_IO);
    assert_non_null(strstr(e.msg, path));

    /* scp entries pointing nowhere */
    char ark[4300], spec[4400];
    snprintf(ark, sizeof ark, "%s/small.ark", tmpdir);
    snprintf(spec, sizeof spec, "ark:%s", ark);
    kaldi_writer *w;
    float v[2] = {1, 2};
    assert_int_equal(kaldi_writer_open(spec, &w, &e), CH_OK);
    assert_int_equal(kaldi_write_vector(w, "a", v, 2, &e), CH_OK);
    assert_int_equal(kaldi_writer_close(w, &e), CH_OK);
    struct {
        const char *fmt;
        ch_status st;
        const char *msg;
    } ptrs[] = {
        {"a %s:9999\n", CH_ERR_FORMAT, "offset 9999 is past the end"},
        {"a %s:5\n", CH_ERR_FORMAT, "key 'a' at byte 5"},
        {"a %s.missing:2\n", CH_ERR_IO, "cannot open"},
        {"a %s:2[0:1]\n", CH_ERR_UNSUPPORTED, "ranges"},
        {"a %s:2\n", CH_OK, ""},
        {"a %s\n", CH_ERR_FORMAT, "expected '['"}, /* no offset: reads from 0, finds the key */
    };
    snprintf(path, sizeof path, "%s/ptr.scp", tmpdir);
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
        FILE *f = fopen(path, "w");
        fprintf(f, ptrs[i].fmt, ark);
        fclose(f);
        snprintf(spec, sizeof spec, "scp:%s", path);
        kaldi_reader *r;
        assert_int_equal(kaldi_reader_open(spec, &r, &e), CH_OK);
        kaldi_entry ent;
        bool done;
        ch_status st = kaldi_reader_next(r, &ent, &done, &e);
        printf("scp pointer %zu: [%s] %s\n", i, ch_status_name(st), st ? e.msg : "ok");
        assert_int_equal(st, ptrs[i].st);
        if (st == CH_OK) {
            assert_int_equal(ent.cols, 2);
            assert_true(ent.data[1] == 2);
        } else {
            assert_non_null(strstr(e.msg, ptrs[i].msg));
            assert_non_null(strstr(e.msg, "key 'a'"));
        }
        kaldi_reader_close(r);
    }
}

static void test_specifiers(void **state)
{
    (void)state;
    struct {
        const char *spec;
        int write;
        const char *msg;
    } bad[] = {
        {"scp,ark:a.scp,b.ark", 1, "Kaldi's order is ark,scp"},
        {"ark,scp:onlyone.ark", 1, "needs two files"},
        {"scp:x.scp", 1, "scp: alone is not supported"},
        {"ark,scp:-,x.scp", 1, "cannot point into stdout"},
        {"foo:x", 1, "unknown wspecifier option 'foo'"},
        {"ark:", 1, "no file name"},
        {"x.ark", 1, "not a wspecifier"},
        {"ark,scp:x", 0, "either ark: or scp:"},
        {"ark,q:x", 0, "unknown rspecifier option 'q'"},
        {"t:x", 0, "needs 'ark' or 'scp'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ch_error e;
        ch_status st;
        if (bad[i].write) {
            kaldi_writer *w = NULL;
            st = kaldi_writer_open(bad[i].spec, &w, &e);
            assert_null(w);
        } else {
            kaldi_reader *r = NULL;
            st = kaldi_reader_open(bad[i].spec, &r, &e);
            assert_null(r);
        }
        printf("%s: %s\n", bad[i].spec, e.msg);
        assert_int_equal(st, CH_ERR_USAGE);
        assert_non_null(strstr(e.msg, bad[i].msg));
    }
    /* accepted option sets */
    char spec[4400];
    snprintf(spec, sizeof spec, "ark,s,cs,p:%s/nothing.ark", tmpdir);
    kaldi_reader *r;
    ch_error e;
    assert_int_equal(kaldi_reader_open(spec, &r, &e), CH_ERR_IO);
    assert_non_null(strstr(e.msg, "nothing.ark: cannot open"));
    /* keys with whitespace are refused; the writer stays usable */
    snprintf(spec, sizeof spec, "ark,t,f:%s/keys.ark", tmpdir);
    kaldi_writer *w;
    float x = 1;
    assert_int_equal(kaldi_writer_open(spec, &w, &e), CH_OK);
    assert_int_equal(kaldi_write_vector(w, "bad key", &x, 1, &e), CH_ERR_USAGE);
    assert_int_equal(kaldi_write_vector(w, "", &x, 1, &e), CH_ERR_USAGE);
    assert_int_equal(kaldi_write_vector(w, "good", &x, 1, &e), CH_OK);
    assert_int_equal(kaldi_writer_close(w, &e), CH_OK);
    char path[4300];
    snprintf(path, sizeof path, "%s/keys.ark", tmpdir);
    size_t n;
    char *txt = read_file(path, &n);
    assert_string_equal(txt, "good  [ 1 ]\n");
    free(txt);
}

int main(void)
{
    const char *base = test_env("CHORUS_TMP", "/tmp");
    snprintf(tmpdir, sizeof tmpdir, "%s/kaldi_io", base);
    mkdir(tmpdir, 0777);
    snprintf(refdir, sizeof refdir, "%s", test_env("CHORUS_REF", "build/ref"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_reference_arks), cmocka_unit_test(test_write_matches_reference),
        cmocka_unit_test(test_round_trip),          cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_corrupt),             cmocka_unit_test(test_scp_lists),
        cmocka_unit_test(test_specifiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
