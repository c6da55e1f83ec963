/* kaldi_dir.c — reads and cross-checks wav.scp / utt2spk / spk2utt / utt2label of a Kaldi data
 * directory (contract in kaldi_dir.h). The files are parsed here, not with scp_list_read,
 * because every cross-file error must name the line it comes from. */
#include "kaldi_dir.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "frontend/audio.h"

/* One parsed "key rest" line of a text table. */
typedef struct {
    char *key;
    char *rest; /* trimmed remainder ("" when absent) */
    int line;
} kd_line;

typedef struct {
    char path[4096];
    char *text; /* owns the strings of lines */
    kd_line *lines;
    int n;
} kd_table;

static void table_free(kd_table *t)
{
    free(t->text);
    free(t->lines);
    t->text = NULL;
    t->lines = NULL;
    t->n = 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Reads dir/name into lines; blank lines are skipped. need_rest: a line without a value is an
 * error. *present = 0 (and CH_OK) when the file does not exist and optional is set. */
static ch_status table_read(const char *dir, const char *name, int optional, int need_rest,
                            kd_table *t, int *present, ch_error *err)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s/%s", dir, name);
    *present = path_exists(t->path);
    if (!*present) {
        if (optional)
            return CH_OK;
        return ch_fail(err, CH_ERR_IO, "%s: missing (a Kaldi data dir needs wav.scp and utt2spk)",
                       t->path);
    }
    size_t n;
    CH_TRY(file_read_all(t->path, &t->text, &n, err));
    if (memchr(t->text, '\0', n))
        return ch_fail(err, CH_ERR_FORMAT, "%s: binary content in a text table", t->path);
    int cap = 0, line = 0;
    char *next = NULL;
    for (char *l = t->text; l && *l; l = next) {
        char *nl = strchr(l, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        line++;
        while (is_space(*l))
            l++;
        size_t len = strlen(l);
        while (len && is_space(l[len - 1]))
            l[--len] = '\0';
        if (!len)
            continue;
        char *sp = l;
        while (*sp && !is_space(*sp))
            sp++;
        char *rest = sp;
        if (*sp) {
            *sp = '\0';
            rest = sp + 1;
            while (is_space(*rest))
                rest++;
        }
        if (need_rest && !*rest)
            return ch_fail(err, CH_ERR_FORMAT, "%s:%d: '%s' has no value", t->path, line, l);
        if (t->n == cap) {
            cap = cap ? 2 * cap : 256;
            kd_line *nv = realloc(t->lines, (size_t)cap * sizeof *nv);
            if (!nv)
                return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", t->path);
            t->lines = nv;
        }
        t->lines[t->n].key = l;
        t->lines[t->n].rest = rest;
        t->lines[t->n].line = line;
        t->n++;
    }
    return CH_OK;
}

static int cmp_line(const void *a, const void *b)
{
    const kd_line *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->line - y->line;
}

/* Sorts t by key and fails on the first duplicate. */
static ch_status table_sort_unique(kd_table *t, const char *what, ch_error *err)
{
    qsort(t->lines, (size_t)t->n, sizeof *t->lines, cmp_line);
    for (int i = 1; i < t->n; i++)
        if (strcmp(t->lines[i - 1].key, t->lines[i].key) == 0)
            return ch_fail(err, CH_ERR_FORMAT, "%s:%d: duplicate %s '%s' (first on line %d)",
                           t->path, t->lines[i].line, what, t->lines[i].key,
                           t->lines[i - 1].line);
    return CH_OK;
}

static kd_line *table_find(const kd_table *t, const char *key)
{
    kd_line probe = {.key = (char *)key, .line = -1};
    int lo = 0, hi = t->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(t->lines[mid].key, probe.key);
        if (c == 0)
            return &t->lines[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int find_name(char **names, int n, const char *s)
{
    char **hit = bsearch(&s, names, (size_t)n, sizeof *names, cmp_cstr);
    return hit ? (int)(hit - names) : -1;
}

/* Sorted distinct copies of strs[0..n) into *names. */
static ch_status distinct(const char **strs, int n, char ***names, int *n_names, ch_error *err)
{
    const char **tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
    *names = calloc((size_t)(n ? n : 1), sizeof **names);
    *n_names = 0;
    if (!tmp || !*names) {
        free(tmp);
        return ch_fail(err, CH_ERR_NOMEM, "kaldi_dir: out of memory");
    }
    memcpy(tmp, strs, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_cstr);
    ch_status st = CH_OK;
    for (int i = 0; i < n; i++) {
        if (i && strcmp(tmp[i - 1], tmp[i]) == 0)
            continue;
        (*names)[*n_names] = strdup(tmp[i]);
        if (!(*names)[*n_names]) {
            st = ch_fail(err, CH_ERR_NOMEM, "kaldi_dir: out of memory");
            break;
        }
        (*n_names)++;
    }
    free(tmp);
    return st;
}

int kd_find_utt(const kd_dir *d, const char *utt)
{
    int lo = 0, hi = d->n_utts;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(d->utts[mid].utt, utt);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void kd_free(kd_dir *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n_utts; i++) {
        free(d->utts[i].utt);
        free(d->utts[i].path);
    }
    free(d->utts);
    for (int i = 0; i < d->n_speakers; i++)
        free(d->speakers[i]);
    free(d->speakers);
    for (int i = 0; i < d->n_labels; i++)
        free(d->labels[i]);
    free(d->labels);
    free(d->spk_start);
    free(d->spk_utts);
    memset(d, 0, sizeof *d);
}

/* Checks a present spk2utt against the speakers derived from utt2spk. */
static ch_status check_spk2utt(kd_table *s2u, const kd_dir *d, ch_error *err)
{
    CH_TRY(table_sort_unique(s2u, "speaker", err));
    int *seen = calloc((size_t)(d->n_utts ? d->n_utts : 1), sizeof *seen);
    int *counts = calloc((size_t)(s2u->n ? s2u->n : 1), sizeof *counts);
    if (!seen || !counts) {
        free(seen);
        free(counts);
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", s2u->path);
    }
    ch_status st = CH_OK;
    for (int i = 0; i < s2u->n && st == CH_OK; i++) {
        kd_line *l = &s2u->lines[i];
        int s = find_name(d->speakers, d->n_speakers, l->key);
        if (s < 0) {
            st = ch_fail(err, CH_ERR_FORMAT, "%s:%d: speaker '%s' is not in utt2spk", s2u->path,
                         l->line, l->key);
            break;
        }
        int count = 0;
        char *p = l->rest;
        while (*p && st == CH_OK) {
            char *q = p;
            while (*q && !is_space(*q))
                q++;
            char save = *q;
            *q = '\0';
            int u = kd_find_utt(d, p);
            if (u < 0)
                st = ch_fail(err, CH_ERR_FORMAT, "%s:%d: utterance '%s' is not in utt2spk",
                             s2u->path, l->line, p);
            else if (d->utts[u].spk != s)
                st = ch_fail(err, CH_ERR_FORMAT,
                             "%s:%d: utterance '%s' belongs to speaker '%s' in utt2spk, not '%s'",
                             s2u->path, l->line, p, d->speakers[d->utts[u].spk], l->key);
            else if (seen[u]++)
                st = ch_fail(err, CH_ERR_FORMAT, "%s:%d: utterance '%s' listed twice", s2u->path,
                             l->line, p);
            count++;
            *q = save;
            p = q;
            while (is_space(*p))
                p++;
        }
        counts[i] = count;
    }
    /* Counts only after every line's utterances were checked, so the message names the
     * misplaced utterance rather than the speaker it is missing from. */
    for (int i = 0; i < s2u->n && st == CH_OK; i++) {
        kd_line *l = &s2u->lines[i];
        int s = find_name(d->speakers, d->n_speakers, l->key);
        if (counts[i] != d->spk_start[s + 1] - d->spk_start[s])
            st = ch_fail(err, CH_ERR_FORMAT,
                         "%s:%d: speaker '%s' has %d utterances here but %d in utt2spk",
                         s2u->path, l->line, l->key, counts[i],
                         d->spk_start[s + 1] - d->spk_start[s]);
    }
    if (st == CH_OK && s2u->n != d->n_speakers) {
        for (int s = 0; s < d->n_speakers; s++)
            if (!table_find(s2u, d->speakers[s])) {
                st = ch_fail(err, CH_ERR_FORMAT, "%s: speaker '%s' of utt2spk is missing",
                             s2u->path, d->speakers[s]);
                break;
            }
    }
    free(seen);
    free(counts);
    return st;
}

/* Reads the labels from utt2label (or text). */
static ch_status load_labels(kd_table *lab, kd_dir *d, ch_error *err)
{
    CH_TRY(table_sort_unique(lab, "utterance", err));
    const char **strs = malloc((size_t)(lab->n ? lab->n : 1) * sizeof *strs);
    if (!strs)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", lab->path);
    for (int i = 0; i < lab->n; i++)
        strs[i] = lab->lines[i].rest;
    ch_status st = distinct(strs, lab->n, &d->labels, &d->n_labels, err);
    free(strs);
    CH_TRY(st);
    for (int i = 0; i < lab->n; i++)
        if (kd_find_utt(d, lab->lines[i].key) < 0)
            return ch_fail(err, CH_ERR_FORMAT, "%s:%d: utterance '%s' is not in wav.scp",
                           lab->path, lab->lines[i].line, lab->lines[i].key);
    for (int u = 0; u < d->n_utts; u++) {
        kd_line *l = table_find(lab, d->utts[u].utt);
        if (!l)
            return ch_fail(err, CH_ERR_FORMAT, "%s: utterance '%s' has no label", lab->path,
                           d->utts[u].utt);
        d->utts[u].label = find_name(d->labels, d->n_labels, l->rest);
    }
    return CH_OK;
}

static ch_status kd_load_(const char *dir, bool check_files, kd_dir *d, kd_table *t,
                          ch_error *err)
{
    kd_table *wav = &t[0], *u2s = &t[1], *s2u = &t[2], *lab = &t[3];
    int present;
    char seg[4096];
    snprintf(seg, sizeof seg, "%s/segments", dir);
    if (path_exists(seg))
        return ch_fail(err, CH_ERR_UNSUPPORTED,
                       "%s: segments are not supported; cut them into files first (Kaldi's "
                       "extract-segments)",
                       seg);
    CH_TRY(table_read(dir, "wav.scp", 0, 1, wav, &present, err));
    CH_TRY(table_read(dir, "utt2spk", 0, 1, u2s, &present, err));
    if (wav->n == 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: no utterances", wav->path);
    CH_TRY(table_sort_unique(wav, "utterance", err));
    CH_TRY(table_sort_unique(u2s, "utterance", err));
    for (int i = 0; i < u2s->n; i++) {
        kd_line *l = &u2s->lines[i];
        for (char *p = l->rest; *p; p++)
            if (is_space(*p))
                return ch_fail(err, CH_ERR_FORMAT, "%s:%d: speaker id '%s' contains a space",
                               u2s->path, l->line, l->rest);
        if (!table_find(wav, l->key))
            return ch_fail(err, CH_ERR_FORMAT, "%s:%d: utterance '%s' has no audio in wav.scp",
                           u2s->path, l->line, l->key);
    }
    d->utts = calloc((size_t)wav->n, sizeof *d->utts);
    if (!d->utts)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", wav->path);
    for (int i = 0; i < wav->n; i++) {
        kd_line *l = &wav->lines[i];
        if (!table_find(u2s, l->key))
            return ch_fail(err, CH_ERR_FORMAT, "%s:%d: utterance '%s' has no speaker in utt2spk",
                           wav->path, l->line, l->key);
        kd_utt *u = &d->utts[d->n_utts++];
        u->label = -1;
        u->utt = strdup(l->key);
        u->path = strdup(l->rest);
        if (!u->utt || !u->path)
            return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", wav->path);
        /* a pipe is read by audio_read (as feat-extract does): nothing to stat */
        if (check_files && !audio_is_command(u->path) && !path_exists(u->path)) {
            char alt[8192];
            snprintf(alt, sizeof alt, "%s/%s", dir, u->path);
            if (u->path[0] == '/' || !path_exists(alt))
                return ch_fail(err, CH_ERR_FORMAT, "%s:%d: audio file '%s' does not exist",
                               wav->path, l->line, u->path);
            char *np = strdup(alt);
            if (!np)
                return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", wav->path);
            free(u->path);
            u->path = np;
        }
    }
    /* Speakers: distinct utt2spk values; CSR lists of their utterances (in utt order). */
    const char **strs = malloc((size_t)u2s->n * sizeof *strs);
    if (!strs)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", u2s->path);
    for (int i = 0; i < u2s->n; i++)
        strs[i] = u2s->lines[i].rest;
    ch_status st = distinct(strs, u2s->n, &d->speakers, &d->n_speakers, err);
    free(strs);
    CH_TRY(st);
    d->spk_start = calloc((size_t)d->n_speakers + 1, sizeof *d->spk_start);
    d->spk_utts = malloc((size_t)d->n_utts * sizeof *d->spk_utts);
    int *fill = calloc((size_t)d->n_speakers + 1, sizeof *fill);
    if (!d->spk_start || !d->spk_utts || !fill) {
        free(fill);
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", u2s->path);
    }
    for (int u = 0; u < d->n_utts; u++) {
        d->utts[u].spk = find_name(d->speakers, d->n_speakers, table_find(u2s, d->utts[u].utt)->rest);
        d->spk_start[d->utts[u].spk + 1]++;
    }
    for (int s = 0; s < d->n_speakers; s++)
        d->spk_start[s + 1] += d->spk_start[s];
    for (int u = 0; u < d->n_utts; u++) {
        int s = d->utts[u].spk;
        d->spk_utts[d->spk_start[s] + fill[s]++] = u;
    }
    free(fill);
    CH_TRY(table_read(dir, "spk2utt", 1, 1, s2u, &present, err));
    d->spk2utt_derived = !present;
    if (present)
        CH_TRY(check_spk2utt(s2u, d, err));
    CH_TRY(table_read(dir, "utt2label", 1, 1, lab, &present, err));
    if (!present)
        CH_TRY(table_read(dir, "text", 1, 1, lab, &present, err));
    if (present)
        CH_TRY(load_labels(lab, d, err));
    return CH_OK;
}

ch_status kd_load(const char *dir, bool check_files, kd_dir *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    kd_table t[4];
    memset(t, 0, sizeof t);
    ch_status st = kd_load_(dir, check_files, out, t, err);
    for (int i = 0; i < 4; i++)
        table_free(&t[i]);
    if (st != CH_OK)
        kd_free(out);
    return st;
}
