/* kaldi_io.c — Kaldi script files, archives and specifiers (see kaldi_io.h).
 *
 * Byte formats, as Kaldi's own writers produce them (kaldi-matrix.cc, kaldi-vector.cc,
 * io-funcs.cc, kaldi-io.cc):
 *   binary entry: "<key> " "\0B" "FM " <4><int32 rows> <4><int32 cols> <rows*cols float32 LE>
 *                 "<key> " "\0B" "FV " <4><int32 dim> <dim float32>    (DM / DV: float64)
 *   text matrix:  "<key>  [\n  1 2 3 \n  4 5 6 ]\n"      (empty: "<key>  [ ]\n")
 *   text vector:  "<key>  [ 1 2 3 ]\n"
 * Text numbers are written with 7 significant digits, as Kaldi's text streams are (precision 7),
 * so text archives round to about 6e-8 relative; binary ones are exact.
 * An scp line "key path:offset" gives the byte offset of the object, just after "<key> ".
 * Reading detects binary vs text from the data, like Kaldi, whatever ",t"/",b" said.
 *
 * Every read is counted in bytes (stdin cannot ftell), so errors say "byte N".
 * "ark:cmd |" reads a command's output (as Kaldi does); its exit status is checked at the end.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "frontend/kaldi_io.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kaldi_io.c reads and writes little-endian data in place; add byte swapping"
#endif

/* Largest object we accept (elements): corrupt sizes must not turn into huge allocations. */
#define KALDI_MAX_ELEMS (1LL << 31)

/* ------------------------------------------------------------------------------------------
 * scp lists */

static int scp_key_cmp(const void *a, const void *b, void *ctx)
{
    const scp_entry *e = ctx;
    int ia = *(const int *)a, ib = *(const int *)b;
    int c = strcmp(e[ia].key, e[ib].key);
    return c ? c : (ia > ib) - (ia < ib);
}

ch_status scp_list_read(const char *path, scp_list *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    char *text;
    size_t n;
    CH_TRY(file_read_all(path, &text, &n, err));
    if (memchr(text, '\0', n)) {
        size_t at = (size_t)((char *)memchr(text, '\0', n) - text);
        int line = 1;
        for (size_t i = 0; i < at; i++)
            line += text[i] == '\n';
        free(text);
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s:%d: binary data (NUL byte) in a text list; is this an ark, not an scp?",
                       path, line);
    }
    int max_lines = 1;
    for (size_t i = 0; i < n; i++)
        max_lines += text[i] == '\n';
    scp_entry *e = ch_calloc(err, (size_t)max_lines, sizeof *e, path);
    int *line_of = ch_calloc(err, (size_t)max_lines, sizeof *line_of, path);
    if (!e || !line_of) {
        free(e);
        free(line_of);
        free(text);
        return CH_ERR_NOMEM;
    }
    int count = 0, line = 0;
    ch_status st = CH_OK;
    for (char *p = text; p && *p && st == CH_OK;) {
        line++;
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        char *next = nl ? nl + 1 : NULL;
        char *end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1]))
            *--end = '\0';
        while (isspace((unsigned char)*p))
            p++;
        if (*p) {
            char *k = p;
            while (*p && !isspace((unsigned char)*p))
                p++;
            if (!*p) {
                st = ch_fail(err, CH_ERR_FORMAT, "%s:%d: key '%s' has no value", path, line, k);
                break;
            }
            *p++ = '\0';
            while (isspace((unsigned char)*p))
                p++;
            e[count].key = k;
            e[count].value = p;
            line_of[count] = line;
            count++;
        }
        p = next;
    }
    if (st == CH_OK && count > 1) {
        int *idx = ch_malloc(err, (size_t)count * sizeof *idx, path);
        if (!idx) {
            st = CH_ERR_NOMEM;
        } else {
            for (int i = 0; i < count; i++)
                idx[i] = i;
            qsort_r(idx, (size_t)count, sizeof *idx, scp_key_cmp, e);
            for (int i = 1; i < count; i++) {
                if (strcmp(e[idx[i]].key, e[idx[i - 1]].key) == 0) {
                    st = ch_fail(err, CH_ERR_FORMAT, "%s:%d: duplicate key '%s' (first on line %d)",
                                 path, line_of[idx[i]], e[idx[i]].key, line_of[idx[i - 1]]);
                    break;
                }
            }
            free(idx);
        }
    }
    free(line_of);
    if (st != CH_OK) {
        free(e);
        free(text);
        return st;
    }
    out->entries = e;
    out->n = count;
    out->storage_ = text;
    return CH_OK;
}

void scp_list_free(scp_list *l)
{
    if (!l)
        return;
    free(l->entries);
    free(l->storage_);
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------------------------------------
 * specifiers */

enum { SPEC_ARK = 1, SPEC_SCP = 2, SPEC_TEXT = 4 };

/* Splits "opts:path" into flags and path. Returns CH_ERR_USAGE on anything unknown. */
static ch_status spec_parse(const char *spec, int writing, int *flags, const char **path,
                            int *ark_before_scp, ch_error *err)
{
    const char *what = writing ? "wspecifier" : "rspecifier";
    const char *colon = strchr(spec, ':');
    if (!colon)
        return ch_fail(err, CH_ERR_USAGE, "%s: not a %s (expected ark:FILE or scp:FILE)", spec,
                       what);
    *flags = 0;
    *ark_before_scp = 1;
    char opts[64];
    size_t len = (size_t)(colon - spec);
    if (len >= sizeof opts)
        return ch_fail(err, CH_ERR_USAGE, "%s: %s options too long", spec, what);
    memcpy(opts, spec, len);
    opts[len] = '\0';
    char *save = NULL;
    for (char *t = strtok_r(opts, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "ark") == 0) {
            if (*flags & SPEC_ARK)
                return ch_fail(err, CH_ERR_USAGE, "%s: 'ark' given twice", spec);
            *flags |= SPEC_ARK;
        } else if (strcmp(t, "scp") == 0) {
            if (*flags & SPEC_SCP)
                return ch_fail(err, CH_ERR_USAGE, "%s: 'scp' given twice", spec);
            if (!(*flags & SPEC_ARK))
                *ark_before_scp = 0;
            *flags |= SPEC_SCP;
        } else if (strcmp(t, "t") == 0) {
            *flags |= SPEC_TEXT;
        } else if (strcmp(t, "b") == 0) {
            *flags &= ~SPEC_TEXT;
        } else if (writing ? (strcmp(t, "f") && strcmp(t, "nf") && strcmp(t, "p"))
                           : (strcmp(t, "o") && strcmp(t, "no") && strcmp(t, "s") &&
                              strcmp(t, "ns") && strcmp(t, "cs") && strcmp(t, "ncs") &&
                              strcmp(t, "p") && strcmp(t, "bg"))) {
            return ch_fail(err, CH_ERR_USAGE, "%s: unknown %s option '%s'", spec, what, t);
        }
    }
    *path = colon + 1;
    if (!**path)
        return ch_fail(err, CH_ERR_USAGE, "%s: no file name after ':'", spec);
    if (!(*flags & (SPEC_ARK | SPEC_SCP)))
        return ch_fail(err, CH_ERR_USAGE, "%s: %s needs 'ark' or 'scp'", spec, what);
    return CH_OK;
}

/* ------------------------------------------------------------------------------------------
 * reading */

struct kaldi_reader {
    int is_scp;
    /* the stream being read: the ark, or the ark an scp entry points into */
    FILE *f;
    int owns_f;             /* 0 for stdin */
    char fname[4096];       /* name of f for messages */
    long long pos;          /* bytes consumed from f */
    long long fsize;        /* size of f when a regular file, else -1 */
    scp_list scp;
    int scp_next;
    char scp_path[4096];
    /* current entry */
    char *key;
    size_t key_cap;
    float *data;
    size_t data_cap;        /* floats */
    double *dbuf;
    size_t dbuf_cap;        /* doubles */
};

static int r_getc(kaldi_reader *r)
{
    int c = getc(r->f);
    if (c != EOF)
        r->pos++;
    return c;
}

static void r_ungetc(kaldi_reader *r, int c)
{
    if (c != EOF && ungetc(c, r->f) != EOF)
        r->pos--;
}

static size_t r_read(kaldi_reader *r, void *buf, size_t n)
{
    size_t got = fread(buf, 1, n, r->f);
    r->pos += (long long)got;
    return got;
}

static void r_close_stream(kaldi_reader *r)
{
    if (r->f && r->owns_f == 2)
        pclose(r->f);
    else if (r->f && r->owns_f)
        fclose(r->f);
    r->f = NULL;
    r->owns_f = 0;
}

/* 1 if path is a command ("gunzip -c f.ark.gz |"): its last non-blank character is '|'. */
static int is_command(const char *path)
{
    size_t n = strlen(path);
    while (n && isspace((unsigned char)path[n - 1]))
        n--;
    return n > 1 && path[n - 1] == '|';
}

/* Opens path as the current data stream ("-" = stdin, "cmd |" = the command's stdout). */
static ch_status r_open_stream(kaldi_reader *r, const char *path, ch_error *err)
{
    r_close_stream(r);
    r->pos = 0;
    r->fsize = -1;
    snprintf(r->fname, sizeof r->fname, "%s", strcmp(path, "-") ? path : "stdin");
    if (strcmp(path, "-") == 0) {
        r->f = stdin;
        return CH_OK;
    }
    if (is_command(path)) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s", path);
        *strrchr(cmd, '|') = '\0';
        fflush(NULL); /* the child must not inherit unflushed stdio buffers */
        r->f = popen(cmd, "r");
        if (!r->f)
            return ch_fail(err, CH_ERR_IO, "%s: cannot run command: %s", path, strerror(errno));
        r->owns_f = 2;
        return CH_OK;
    }
    r->f = fopen(path, "rb");
    if (!r->f)
        return ch_fail(err, CH_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    r->owns_f = 1;
    struct stat st;
    if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode))
        r->fsize = (long long)st.st_size;
    return CH_OK;
}

static ch_status grow(void **buf, size_t *cap, size_t need, size_t elem, const char *fname,
                      ch_error *err)
{
    if (need <= *cap)
        return CH_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *p = realloc(*buf, c * elem);
    if (!p)
        return ch_fail(err, CH_ERR_NOMEM, "%s: cannot allocate %zu bytes", fname, c * elem);
    *buf = p;
    *cap = c;
    return CH_OK;
}

/* Reads Kaldi's binary int32: a size byte (4) then 4 little-endian bytes. */
static ch_status r_int32(kaldi_reader *r, const char *key, long long at, const char *what,
                         int32_t *v, ch_error *err)
{
    unsigned char b[5];
    size_t got = r_read(r, b, 5);
    if (got < 5)
        return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' at byte %lld: truncated (%s)", r->fname,
                       key, at, what);
    if (b[0] != 4)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: key '%s' at byte %lld: corrupt: %s has size byte %d, expected 4",
                       r->fname, key, at, what, b[0]);
    *v = (int32_t)((uint32_t)b[1] | (uint32_t)b[2] << 8 | (uint32_t)b[3] << 16 |
                   (uint32_t)b[4] << 24);
    if (*v < 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' at byte %lld: corrupt: negative %s %d",
                       r->fname, key, at, what, (int)*v);
    return CH_OK;
}

/* Binary object after "\0B": token, sizes, data. */
static ch_status r_binary(kaldi_reader *r, const char *key, long long at, kaldi_entry *e,
                          ch_error *err)
{
    char tok[8];
    int n = 0, c;
    while ((c = r_getc(r)) != EOF && c != ' ' && n < 7)
        tok[n++] = (char)c;
    tok[n] = '\0';
    if (c == EOF)
        return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' at byte %lld: truncated (object type)",
                       r->fname, key, at);
    if (c != ' ')
        return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' at byte %lld: corrupt object type",
                       r->fname, key, at);
    int is_double, is_vector;
    if (strcmp(tok, "FM") == 0 || strcmp(tok, "FV") == 0 || strcmp(tok, "DM") == 0 ||
        strcmp(tok, "DV") == 0) {
        is_double = tok[0] == 'D';
        is_vector = tok[1] == 'V';
    } else if (strncmp(tok, "CM", 2) == 0) {
        return ch_fail(err, CH_ERR_UNSUPPORTED,
                       "%s: key '%s': compressed matrix (%s) is not supported\n"
                       "hint: write it uncompressed (copy-feats --compress=false)",
                       r->fname, key, tok);
    } else {
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: key '%s' at byte %lld: unknown object type '%s' (want FM, FV, DM, "
                       "DV)",
                       r->fname, key, at, tok);
    }
    int32_t rows = 1, cols;
    if (!is_vector)
        CH_TRY(r_int32(r, key, at, "row count", &rows, err));
    CH_TRY(r_int32(r, key, at, is_vector ? "dimension" : "column count", &cols, err));
    long long count = (long long)rows * cols;
    size_t esize = is_double ? 8 : 4;
    if (count > KALDI_MAX_ELEMS)
        return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' at byte %lld: corrupt: %d x %d is too big",
                       r->fname, key, at, (int)rows, (int)cols);
    if (r->fsize >= 0 && r->pos + count * (long long)esize > r->fsize)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: key '%s' at byte %lld: truncated: %d x %d %s needs %lld bytes, the "
                       "file has %lld left",
                       r->fname, key, at, (int)rows, (int)cols, is_double ? "doubles" : "floats",
                       count * (long long)esize, r->fsize - r->pos);
    /* Read in chunks, growing the buffer as data arrives, so a corrupt size on a stream whose
     * length we cannot know (stdin) fails at its end instead of allocating gigabytes first. */
    size_t got = 0;
    const size_t chunk = (size_t)1 << 20;
    while ((long long)got < count) {
        size_t want = (size_t)count - got < chunk ? (size_t)count - got : chunk;
        CH_TRY(grow((void **)&r->data, &r->data_cap, got + want, sizeof(float), r->fname, err));
        size_t m;
        if (is_double) {
            CH_TRY(grow((void **)&r->dbuf, &r->dbuf_cap, want, sizeof(double), r->fname, err));
            m = r_read(r, r->dbuf, want * 8) / 8;
            for (size_t i = 0; i < m; i++)
                r->data[got + i] = (float)r->dbuf[i];
        } else {
            m = r_read(r, r->data + got, want * 4) / 4;
        }
        got += m;
        if (m < want)
            break;
    }
    if ((long long)got < count)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: key '%s' at byte %lld: truncated: got %zu of %lld values", r->fname,
                       key, at, got, count);
    e->data = r->data;
    e->rows = rows;
    e->cols = cols;
    e->is_vector = is_vector;
    return CH_OK;
}

/* Reads one text number token into *v; returns 1, or 0 at ']' (consumed), or -1 on error.
 * *newline is set when a newline was skipped before the token. */
static int r_text_token(kaldi_reader *r, float *v, int *newline)
{
    int c;
    *newline = 0;
    while ((c = r_getc(r)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        if (c == '\n')
            *newline = 1;
    if (c == ']')
        return 0;
    if (c == EOF)
        return -1;
    char tok[64];
    int n = 0;
    while (c != EOF && !isspace(c) && c != ']' && n < 63) {
        tok[n++] = (char)c;
        c = r_getc(r);
    }
    tok[n] = '\0';
    r_ungetc(r, c);
    char *end;
    errno = 0;
    *v = strtof(tok, &end);
    return (n == 0 || *end) ? -1 : 1;
}

/* Text object: "[ 1 2 3 ]" (vector) or "[\n 1 2 \n 3 4 ]" (matrix). */
static ch_status r_text(kaldi_reader *r, const char *key, long long at, kaldi_entry *e,
                        ch_error *err)
{
    int c;
    while ((c = r_getc(r)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        ;
    if (c != '[') {
        if (c == EOF)
            return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' at byte %lld: truncated (no data)",
                           r->fname, key, at);
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: key '%s' at byte %lld: corrupt: expected '[' or binary marker, got "
                       "byte 0x%02x",
                       r->fname, key, at, c);
    }
    size_t n = 0;
    int rows = 0, cols = -1, row_len = 0, saw_newline_first = -1;
    for (;;) {
        float v;
        int nl;
        int t = r_text_token(r, &v, &nl);
        if (t < 0)
            return ch_fail(err, CH_ERR_FORMAT,
                           "%s: key '%s' at byte %lld: %s text data near byte %lld", r->fname,
                           key, at, feof(r->f) ? "truncated" : "corrupt", r->pos);
        if (saw_newline_first < 0)
            saw_newline_first = nl;
        if ((nl || t == 0) && row_len > 0) { /* a row ended */
            if (cols >= 0 && row_len != cols)
                return ch_fail(err, CH_ERR_FORMAT,
                               "%s: key '%s' at byte %lld: row %d has %d values, row 0 has %d",
                               r->fname, key, at, rows, row_len, cols);
            cols = row_len;
            rows++;
            row_len = 0;
        }
        if (t == 0)
            break;
        CH_TRY(grow((void **)&r->data, &r->data_cap, n + 1, sizeof(float), r->fname, err));
        r->data[n++] = v;
        row_len++;
        if ((long long)n > KALDI_MAX_ELEMS)
            return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s': text object too big", r->fname,
                           key);
    }
    /* consume the rest of the line after ']' */
    while ((c = r_getc(r)) == ' ' || c == '\t' || c == '\r')
        ;
    if (c != '\n')
        r_ungetc(r, c);
    e->data = r->data;
    if (n == 0) {
        e->rows = 0;
        e->cols = 0;
        e->is_vector = false;
    } else if (saw_newline_first) {
        e->rows = rows;
        e->cols = cols;
        e->is_vector = false;
    } else {
        /* a vector: everything on the "[" line (Kaldi writes no newline inside vectors) */
        if (rows != 1)
            return ch_fail(err, CH_ERR_FORMAT,
                           "%s: key '%s' at byte %lld: corrupt: a matrix must start a new line "
                           "after '['",
                           r->fname, key, at);
        e->rows = 1;
        e->cols = (int)n;
        e->is_vector = true;
    }
    return CH_OK;
}

/* One object at the current position (after "<key> "). */
static ch_status r_object(kaldi_reader *r, const char *key, kaldi_entry *e, ch_error *err)
{
    long long at = r->pos;
    int c = r_getc(r);
    if (c == '\0') {
        int b = r_getc(r);
        if (b != 'B')
            return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' at byte %lld: %s", r->fname, key,
                           at, b == EOF ? "truncated" : "corrupt binary marker");
        return r_binary(r, key, at, e, err);
    }
    r_ungetc(r, c);
    return r_text(r, key, at, e, err);
}

ch_status kaldi_reader_open(const char *rspecifier, kaldi_reader **out, ch_error *err)
{
    *out = NULL;
    int flags, order;
    const char *path;
    CH_TRY(spec_parse(rspecifier, 0, &flags, &path, &order, err));
    if ((flags & SPEC_ARK) && (flags & SPEC_SCP))
        return ch_fail(err, CH_ERR_USAGE, "%s: an rspecifier is either ark: or scp:, not both",
                       rspecifier);
    kaldi_reader *r = ch_calloc(err, 1, sizeof *r, rspecifier);
    if (!r)
        return CH_ERR_NOMEM;
    ch_status st;
    if (flags & SPEC_SCP) {
        r->is_scp = 1;
        snprintf(r->scp_path, sizeof r->scp_path, "%s", strcmp(path, "-") ? path : "/dev/stdin");
        st = scp_list_read(r->scp_path, &r->scp, err);
    } else {
        st = r_open_stream(r, path, err);
    }
    if (st != CH_OK) {
        kaldi_reader_close(r);
        return st;
    }
    *out = r;
    return CH_OK;
}

/* Next entry of an scp: open (or reuse) the ark it points into and seek to the offset. */
static ch_status r_next_scp(kaldi_reader *r, kaldi_entry *e, bool *done, ch_error *err)
{
    if (r->scp_next >= r->scp.n) {
        *done = true;
        return CH_OK;
    }
    const scp_entry *s = &r->scp.entries[r->scp_next++];
    const char *v = s->value;
    char path[4096];
    long long offset = 0;
    const char *colon = strrchr(v, ':');
    size_t plen = strlen(v);
    if (strchr(v, '[') || (plen && v[plen - 1] == '|'))
        return ch_fail(err, CH_ERR_UNSUPPORTED,
                       "%s: key '%s': '%s': ranges and pipes in scp entries are not supported",
                       r->scp_path, s->key, v);
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
        plen = (size_t)(colon - v);
        errno = 0;
        offset = strtoll(colon + 1, NULL, 10);
        if (errno)
            return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s': bad offset in '%s'", r->scp_path,
                           s->key, v);
    }
    if (plen >= sizeof path)
        return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s': path too long", r->scp_path, s->key);
    memcpy(path, v, plen);
    path[plen] = '\0';
    if (!r->f || strcmp(path, r->fname) != 0) {
        ch_status st = r_open_stream(r, path, err);
        if (st != CH_OK)
            return ch_wrap(err, st, "%s: key '%s'", r->scp_path, s->key);
    }
    if (r->fsize >= 0 && offset >= r->fsize)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: key '%s': offset %lld is past the end of %s (%lld bytes)",
                       r->scp_path, s->key, offset, path, r->fsize);
    if (fseeko(r->f, (off_t)offset, SEEK_SET) != 0)
        return ch_fail(err, CH_ERR_IO, "%s: key '%s': cannot seek to byte %lld: %s", path,
                       s->key, offset, strerror(errno));
    r->pos = offset;
    e->key = s->key;
    *done = false;
    return r_object(r, s->key, e, err);
}

ch_status kaldi_reader_next(kaldi_reader *r, kaldi_entry *e, bool *done, ch_error *err)
{
    memset(e, 0, sizeof *e);
    *done = false;
    if (r->is_scp)
        return r_next_scp(r, e, done, err);
    if (!r->f) { /* a command that already ended */
        *done = true;
        return CH_OK;
    }
    int c;
    while ((c = r_getc(r)) != EOF && isspace(c))
        ;
    if (c == EOF) {
        if (ferror(r->f))
            return ch_fail(err, CH_ERR_IO, "%s: read error at byte %lld", r->fname, r->pos);
        if (r->owns_f == 2) { /* a command: its exit status decides whether the data is whole */
            int rc = pclose(r->f);
            r->f = NULL;
            r->owns_f = 0;
            if (rc != 0)
                return ch_fail(err, CH_ERR_IO, "%s: command failed (status %d) after %lld bytes",
                               r->fname, WIFEXITED(rc) ? WEXITSTATUS(rc) : rc, r->pos);
        }
        *done = true;
        return CH_OK;
    }
    long long at = r->pos - 1;
    size_t n = 0;
    while (c != EOF && !isspace(c)) {
        if (c == '\0')
            return ch_fail(err, CH_ERR_FORMAT,
                           "%s: byte %lld: corrupt: binary data where a key was expected",
                           r->fname, r->pos - 1);
        CH_TRY(grow((void **)&r->key, &r->key_cap, n + 2, 1, r->fname, err));
        r->key[n++] = (char)c;
        if (n > 65536)
            return ch_fail(err, CH_ERR_FORMAT, "%s: byte %lld: corrupt: key longer than 64 KiB",
                           r->fname, at);
        c = r_getc(r);
    }
    r->key[n] = '\0';
    if (c == EOF)
        return ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' at byte %lld: truncated (no data)",
                       r->fname, r->key, at);
    if (c == '\n')
        r_ungetc(r, c); /* Kaldi: a text object may start on the next line */
    e->key = r->key;
    return r_object(r, r->key, e, err);
}

void kaldi_reader_close(kaldi_reader *r)
{
    if (!r)
        return;
    r_close_stream(r);
    scp_list_free(&r->scp);
    free(r->key);
    free(r->data);
    free(r->dbuf);
    free(r);
}

/* ------------------------------------------------------------------------------------------
 * writing */

struct kaldi_writer {
    int text;
    int to_stdout;
    int failed;            /* a write failed: close discards instead of committing */
    atomic_file ark;
    char ark_name[4096];   /* as given in the wspecifier (what scp lines say) */
    long long pos;         /* bytes written to the ark */
    int with_scp;
    char scp_path[4096];
    char *scp_buf;         /* scp lines, written at close */
    size_t scp_len, scp_cap;
};

static ch_status w_put(kaldi_writer *w, const void *buf, size_t n, ch_error *err)
{
    ch_status st = CH_OK;
    if (w->to_stdout) {
        if (n && fwrite(buf, 1, n, stdout) != n)
            st = ch_fail(err, CH_ERR_IO, "stdout: write failed: %s", strerror(errno));
    } else {
        st = atomic_write(&w->ark, buf, n, err);
    }
    if (st == CH_OK)
        w->pos += (long long)n;
    else
        w->failed = 1;
    return st;
}

ch_status kaldi_writer_open(const char *wspecifier, kaldi_writer **out, ch_error *err)
{
    *out = NULL;
    int flags, ark_first;
    const char *path;
    CH_TRY(spec_parse(wspecifier, 1, &flags, &path, &ark_first, err));
    if (!(flags & SPEC_ARK))
        return ch_fail(err, CH_ERR_USAGE,
                       "%s: writing to scp: alone is not supported; use ark:F or ark,scp:F.ark,F.scp",
                       wspecifier);
    if ((flags & SPEC_SCP) && !ark_first)
        return ch_fail(err, CH_ERR_USAGE, "%s: Kaldi's order is ark,scp:ARK,SCP (not scp,ark)",
                       wspecifier);
    kaldi_writer *w = ch_calloc(err, 1, sizeof *w, wspecifier);
    if (!w)
        return CH_ERR_NOMEM;
    w->text = !!(flags & SPEC_TEXT);
    const char *ark = path;
    size_t ark_len = strlen(path);
    if (flags & SPEC_SCP) {
        const char *comma = strchr(path, ',');
        if (!comma || comma == path || !comma[1]) {
            free(w);
            return ch_fail(err, CH_ERR_USAGE, "%s: ark,scp needs two files: ark,scp:F.ark,F.scp",
                           wspecifier);
        }
        ark_len = (size_t)(comma - path);
        w->with_scp = 1;
        snprintf(w->scp_path, sizeof w->scp_path, "%s", comma + 1);
    }
    if (ark_len >= sizeof w->ark_name) {
        free(w);
        return ch_fail(err, CH_ERR_USAGE, "%s: path too long", wspecifier);
    }
    memcpy(w->ark_name, ark, ark_len);
    w->ark_name[ark_len] = '\0';
    if (strcmp(w->ark_name, "-") == 0) {
        if (w->with_scp) {
            free(w);
            return ch_fail(err, CH_ERR_USAGE,
                           "%s: an scp cannot point into stdout; give the ark a file name",
                           wspecifier);
        }
        w->to_stdout = 1;
    } else {
        ch_status st = atomic_open(&w->ark, w->ark_name, err);
        if (st != CH_OK) {
            free(w);
            return st;
        }
    }
    *out = w;
    return CH_OK;
}

static ch_status w_check_key(kaldi_writer *w, const char *key, ch_error *err)
{
    if (w->failed)
        return ch_fail(err, CH_ERR_IO, "%s: an earlier write failed", w->ark_name);
    if (!key || !*key)
        return ch_fail(err, CH_ERR_USAGE, "%s: empty key", w->ark_name);
    for (const char *p = key; *p; p++)
        if (isspace((unsigned char)*p))
            return ch_fail(err, CH_ERR_USAGE, "%s: key '%s' contains whitespace", w->ark_name,
                           key);
    return CH_OK;
}

/* "<key> " and, with an scp, the line "key ark:offset". */
static ch_status w_key(kaldi_writer *w, const char *key, ch_error *err)
{
    CH_TRY(w_check_key(w, key, err));
    CH_TRY(w_put(w, key, strlen(key), err));
    CH_TRY(w_put(w, " ", 1, err));
    if (w->with_scp) {
        char line[256];
        int n = snprintf(line, sizeof line, ":%lld\n", w->pos);
        size_t need = w->scp_len + strlen(key) + 1 + strlen(w->ark_name) + (size_t)n + 1;
        if (grow((void **)&w->scp_buf, &w->scp_cap, need, 1, w->scp_path, err) != CH_OK) {
            w->failed = 1;
            return CH_ERR_NOMEM;
        }
        w->scp_len += (size_t)sprintf(w->scp_buf + w->scp_len, "%s %s%s", key, w->ark_name, line);
    }
    return CH_OK;
}

static ch_status w_int32(kaldi_writer *w, int32_t v, ch_error *err)
{
    unsigned char b[5] = {4, (unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)((uint32_t)v >> 24)};
    return w_put(w, b, 5, err);
}

/* Text numbers: %.7g, as a C++ stream with precision 7 prints them. */
static ch_status w_text_values(kaldi_writer *w, const float *x, int n, ch_error *err)
{
    char buf[4096];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%.7g ", (double)x[i]);
        if (len > sizeof buf - 64 || i == n - 1) {
            CH_TRY(w_put(w, buf, len, err));
            len = 0;
        }
    }
    return CH_OK;
}

ch_status kaldi_write_matrix(kaldi_writer *w, const char *key, const float *data, int rows,
                             int cols, ch_error *err)
{
    if (rows < 0 || cols < 0)
        return ch_fail(err, CH_ERR_USAGE, "%s: key '%s': negative size %d x %d", w->ark_name,
                       key, rows, cols);
    CH_TRY(w_key(w, key, err));
    if (!w->text) {
        CH_TRY(w_put(w, "\0BFM ", 5, err));
        CH_TRY(w_int32(w, rows, err));
        CH_TRY(w_int32(w, cols, err));
        return w_put(w, data, (size_t)rows * (size_t)cols * sizeof(float), err);
    }
    if (cols == 0)
        return w_put(w, " [ ]\n", 5, err);
    CH_TRY(w_put(w, " [", 2, err));
    for (int i = 0; i < rows; i++) {
        CH_TRY(w_put(w, "\n  ", 3, err));
        CH_TRY(w_text_values(w, data + (size_t)i * (size_t)cols, cols, err));
    }
    return w_put(w, "]\n", 2, err);
}

ch_status kaldi_write_vector(kaldi_writer *w, const char *key, const float *data, int dim,
                             ch_error *err)
{
    if (dim < 0)
        return ch_fail(err, CH_ERR_USAGE, "%s: key '%s': negative dimension %d", w->ark_name,
                       key, dim);
    CH_TRY(w_key(w, key, err));
    if (!w->text) {
        CH_TRY(w_put(w, "\0BFV ", 5, err));
        CH_TRY(w_int32(w, dim, err));
        return w_put(w, data, (size_t)dim * sizeof(float), err);
    }
    CH_TRY(w_put(w, " [ ", 3, err));
    CH_TRY(w_text_values(w, data, dim, err));
    return w_put(w, "]\n", 2, err);
}

ch_status kaldi_writer_close(kaldi_writer *w, ch_error *err)
{
    if (!w)
        return CH_OK;
    ch_status st = CH_OK;
    if (w->to_stdout) {
        if (fflush(stdout) != 0)
            st = ch_fail(err, CH_ERR_IO, "stdout: write failed: %s", strerror(errno));
        else if (w->failed)
            st = ch_fail(err, CH_ERR_IO, "stdout: an earlier write failed");
    } else if (w->failed) {
        atomic_abort(&w->ark);
        st = ch_fail(err, CH_ERR_IO, "%s: not written: an earlier write failed", w->ark_name);
    } else {
        st = atomic_commit(&w->ark, err);
    }
    if (st == CH_OK && w->with_scp) {
        atomic_file a;
        st = atomic_open(&a, w->scp_path, err);
        if (st == CH_OK) {
            st = atomic_write(&a, w->scp_buf ? w->scp_buf : "", w->scp_len, err);
            if (st == CH_OK)
                st = atomic_commit(&a, err);
            else
                atomic_abort(&a);
        }
    }
    free(w->scp_buf);
    free(w);
    return st;
}
