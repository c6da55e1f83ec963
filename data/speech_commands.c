/* speech_commands.c — scans a Speech Commands-layout folder into labelled train/valid/test
 * item lists (contract in speech_commands.h). Only names are read here, never audio. */
#include "speech_commands.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/sha1.h"
#include "frontend/audio.h"

#define SC_SILENCE "_silence_"
#define SC_UNKNOWN "_unknown_"
#define SC_NOISE "_background_noise_"

static const char *const sc_words10[10] = {"yes", "no",  "up",  "down", "left",
                                           "right", "on", "off", "stop", "go"};

sc_options sc_options_default(void)
{
    sc_options o;
    memset(&o, 0, sizeof o);
    o.task = SC_TASK_12;
    o.validation_percentage = o.testing_percentage = 10.0;
    o.silence_percentage = o.unknown_percentage = 10.0;
    o.split = SC_SPLIT_AUTO;
    return o;
}

const opt_desc sc_opts[] = {
    OPT_CHOICE(sc_options, task, "task", "12|all",
               "12: ten words + _unknown_ + _silence_; all: every word folder is a class"),
    OPT_DOUBLE(sc_options, validation_percentage, "validation-percentage", 0, 100,
               "Hash split: % of speakers in validation (no list files)"),
    OPT_DOUBLE(sc_options, testing_percentage, "testing-percentage", 0, 100,
               "Hash split: % of speakers in testing (no list files)"),
    OPT_DOUBLE(sc_options, silence_percentage, "silence-percentage", 0, 1000,
               "Task 12 without _silence_/: noise crops per split, % of its size"),
    OPT_DOUBLE(sc_options, unknown_percentage, "unknown-percentage", 0, 100000,
               "Task 12: unknown-word clips kept per split, % of its known-word clips"),
    OPT_CHOICE(sc_options, split, "split", "auto|standard|salted",
               "Split without lists: TF's hash (standard), speakers ranked by a salted hash "
               "(salted), or standard unless its training part is degenerate (auto)"),
    OPT_STRING(sc_options, split_salt, "split-salt",
               "Salt of the salted speaker split (implies --split salted; default chorus)"),
    OPT_STRING(sc_options, valid_list, "valid-list",
               "Validation list file (lines word/file.wav) instead of the folder's"),
    OPT_STRING(sc_options, test_list, "test-list",
               "Testing list file (lines word/file.wav) instead of the folder's"),
};
const size_t sc_n_opts = OPT_COUNT(sc_opts);

/* One clip found on disk, before labels are assigned. */
typedef struct {
    char *path;   /* root/folder/file.ext (owned) */
    char *key;    /* folder/file without extension (owned), the list-matching key */
    char speaker[32];
    char word[32];
    int kind;     /* 0 word folder, 1 _unknown_ folder, 2 _silence_ folder */
    int split;
} sc_clip;

typedef struct {
    sc_clip *v;
    int n, cap;
} sc_clips;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Sorted entry names of dir (no "." entries). want_dirs: 1 folders only, 0 audio files only. */
static ch_status list_dir(const char *dir, int want_dirs, char ***names, int *n, ch_error *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return ch_fail(err, CH_ERR_IO, "%s: cannot open folder", dir);
    int cap = 0;
    struct dirent *e;
    ch_status st = CH_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(full, &sb) != 0)
            continue;
        int is_dir = S_ISDIR(sb.st_mode);
        if (want_dirs ? !is_dir : (is_dir || !audio_name_is_audio(e->d_name)))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(*names, (size_t)cap * sizeof *nn);
            if (!nn) {
                st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory listing folder", dir);
                break;
            }
            *names = nn;
        }
        (*names)[*n] = strdup(e->d_name);
        if (!(*names)[*n]) {
            st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory listing folder", dir);
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (st != CH_OK) {
        free_names(*names, *n);
        *names = NULL;
        *n = 0;
        return st;
    }
    if (*n)
        qsort(*names, (size_t)*n, sizeof **names, cmp_str);
    return CH_OK;
}

bool sc_parse_name(const char *base, char speaker[32], char word[32])
{
    speaker[0] = word[0] = '\0';
    const char *nh = strstr(base, "_nohash_");
    if (!nh)
        return false;
    const char *us = NULL;
    for (const char *p = base; p < nh; p++)
        if (*p == '_')
            us = p;
    const char *sp = us ? us + 1 : base;
    size_t sl = (size_t)(nh - sp);
    if (sl > 31)
        sl = 31;
    memcpy(speaker, sp, sl);
    speaker[sl] = '\0';
    if (us) {
        size_t wl = (size_t)(us - base);
        if (wl > 31)
            wl = 31;
        memcpy(word, base, wl);
        word[wl] = '\0';
    }
    return true;
}

double sc_hash_percentage(const char *stem)
{
    uint8_t d[20];
    sha1_digest(stem, strlen(stem), d);
    /* 2^27 divides 2^160, so (digest mod 2^27) is its low 27 bits. */
    uint32_t low = ((uint32_t)d[16] << 24 | (uint32_t)d[17] << 16 | (uint32_t)d[18] << 8 |
                    (uint32_t)d[19]) & ((1u << 27) - 1);
    return (double)low * (100.0 / (double)((1u << 27) - 1));
}

static void clips_free(sc_clips *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->v[i].path);
        free(c->v[i].key);
    }
    free(c->v);
    c->v = NULL;
    c->n = c->cap = 0;
}

static ch_status clips_add(sc_clips *c, const char *root, const char *folder, const char *file,
                           int kind, ch_error *err)
{
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 1024;
        sc_clip *nv = realloc(c->v, (size_t)cap * sizeof *nv);
        if (!nv)
            return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", root);
        c->v = nv;
        c->cap = cap;
    }
    sc_clip *k = &c->v[c->n];
    memset(k, 0, sizeof *k);
    size_t pl = strlen(root) + strlen(folder) + strlen(file) + 3;
    k->path = malloc(pl);
    k->key = malloc(pl);
    if (!k->path || !k->key) {
        free(k->path);
        free(k->key);
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", root);
    }
    snprintf(k->path, pl, "%s/%s/%s", root, folder, file);
    snprintf(k->key, pl, "%s/%s", folder, file);
    char *dot = strrchr(k->key, '.');
    if (dot && dot > strrchr(k->key, '/'))
        *dot = '\0';
    char w[32];
    sc_parse_name(file, k->speaker, w);
    k->kind = kind;
    if (kind == 1)
        snprintf(k->word, sizeof k->word, "%s", w[0] ? w : SC_UNKNOWN);
    else
        snprintf(k->word, sizeof k->word, "%s", folder);
    c->n++;
    return CH_OK;
}

static int cmp_clip_key(const void *a, const void *b)
{
    return strcmp(((const sc_clip *)a)->key, ((const sc_clip *)b)->key);
}

/* Applies one list file: every line names a clip that moves to `split`. */
static ch_status apply_list(const char *list, sc_clips *c, int split, ch_error *err)
{
    char *text;
    size_t n;
    CH_TRY(file_read_all(list, &text, &n, err));
    int line = 0;
    ch_status st = CH_OK;
    char *save = NULL;
    for (char *l = text; l && st == CH_OK; l = save) {
        char *nl = strchr(l, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        line++;
        while (*l == ' ' || *l == '\t')
            l++;
        size_t len = strlen(l);
        while (len && (l[len - 1] == '\r' || l[len - 1] == ' ' || l[len - 1] == '\t'))
            l[--len] = '\0';
        if (!len)
            continue;
        char *dot = strrchr(l, '.');
        if (dot && dot > strrchr(l, '/') && audio_name_is_audio(l))
            *dot = '\0';
        sc_clip probe = {.key = l};
        sc_clip *hit = bsearch(&probe, c->v, (size_t)c->n, sizeof *c->v, cmp_clip_key);
        if (!hit)
            st = ch_fail(err, CH_ERR_FORMAT, "%s:%d: no such clip '%s' under the root", list,
                         line, l);
        else
            hit->split = split;
    }
    free(text);
    return st;
}

/* Cheap deterministic 64-bit hash (FNV-1a + a final mix) to order unknown candidates. */
static uint64_t mix_hash(const char *s, uint64_t salt)
{
    uint64_t h = 1469598103934665603ull ^ salt;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static int find_label(char **labels, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(labels[i], name) == 0)
            return i;
    return -1;
}

void sc_free(sc_dataset *d)
{
    if (!d)
        return;
    if (d->labels)
        free_names(d->labels, d->n_labels);
    for (int s = 0; s < SC_N_SPLITS; s++) {
        for (int i = 0; i < d->n_items[s]; i++)
            free(d->items[s][i].path);
        free(d->items[s]);
    }
    if (d->noise_files)
        free_names(d->noise_files, d->n_noise);
    if (d->clip_rel)
        free_names(d->clip_rel, d->n_clips);
    free(d->clip_split);
    memset(d, 0, sizeof *d);
}

static ch_status push_item(sc_dataset *d, int split, int *cap, const char *path, int label,
                           const char *speaker, const char *word, ch_error *err)
{
    if (d->n_items[split] == cap[split]) {
        int nc = cap[split] ? 2 * cap[split] : 256;
        sc_item *nv = realloc(d->items[split], (size_t)nc * sizeof *nv);
        if (!nv)
            return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
        d->items[split] = nv;
        cap[split] = nc;
    }
    sc_item *it = &d->items[split][d->n_items[split]];
    memset(it, 0, sizeof *it);
    it->path = strdup(path);
    if (!it->path)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
    it->label = label;
    snprintf(it->speaker, sizeof it->speaker, "%s", speaker);
    snprintf(it->word, sizeof it->word, "%s", word);
    d->n_items[split]++;
    return CH_OK;
}

static ch_status set_labels(sc_dataset *d, const char *const *names, int n, ch_error *err)
{
    d->labels = calloc((size_t)(n ? n : 1), sizeof *d->labels);
    if (!d->labels)
        return ch_fail(err, CH_ERR_NOMEM, "speech_commands: out of memory");
    for (int i = 0; i < n; i++) {
        d->labels[i] = strdup(names[i]);
        if (!d->labels[i])
            return ch_fail(err, CH_ERR_NOMEM, "speech_commands: out of memory");
        d->n_labels++;
    }
    return CH_OK;
}

typedef struct {
    int idx;
    uint64_t key;
} sc_rank;

static int cmp_rank(const void *a, const void *b)
{
    const sc_rank *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->idx - y->idx;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Task 12: fills d->items from the clips. */
static ch_status build_task12(const sc_options *o, sc_clips *c, int has_silence_dir,
                              sc_dataset *d, ch_error *err)
{
    const char *names[12] = {SC_SILENCE, SC_UNKNOWN};
    for (int i = 0; i < 10; i++)
        names[2 + i] = sc_words10[i];
    CH_TRY(set_labels(d, names, 12, err));
    int cap[SC_N_SPLITS] = {0};
    int n_known = 0;
    for (int i = 0; i < c->n; i++)
        if (c->v[i].kind == 0 && find_label(d->labels, 12, c->v[i].word) >= 2)
            n_known++;
    if (n_known == 0)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: none of the ten command words (yes no up down left right on off "
                       "stop go) has a folder; use --task all",
                       c->n ? c->v[0].path : "speech_commands");
    int *cand = malloc((size_t)c->n * sizeof *cand);
    sc_rank *rank = malloc((size_t)c->n * sizeof *rank);
    if (!cand || !rank) {
        free(cand);
        free(rank);
        return ch_fail(err, CH_ERR_NOMEM, "speech_commands: out of memory");
    }
    ch_status st = CH_OK;
    for (int s = 0; s < SC_N_SPLITS && st == CH_OK; s++) {
        int known = 0, nc = 0;
        for (int i = 0; i < c->n && st == CH_OK; i++) {
            sc_clip *k = &c->v[i];
            if (k->split != s)
                continue;
            int lab = k->kind == 2 ? 0 : k->kind == 1 ? 1 : find_label(d->labels, 12, k->word);
            if (lab >= 2)
                known++;
            if (k->kind == 0 && lab < 0) {
                cand[nc++] = i; /* unknown word from its own folder: subsampled below */
                continue;
            }
            st = push_item(d, s, cap, k->path, lab, k->speaker, k->word, err);
        }
        /* Unknown words: keep ceil(known * pct / 100), chosen by a fixed hash of the path. */
        long keep = (long)ceil((double)known * o->unknown_percentage / 100.0);
        if (keep > nc)
            keep = nc;
        for (int j = 0; j < nc; j++) {
            rank[j].idx = cand[j];
            rank[j].key = mix_hash(c->v[cand[j]].key, 0x5c);
        }
        qsort(rank, (size_t)nc, sizeof *rank, cmp_rank);
        for (long j = 0; j < keep; j++)
            cand[j] = rank[j].idx;
        qsort(cand, (size_t)keep, sizeof *cand, cmp_int);
        for (long j = 0; j < keep && st == CH_OK; j++) {
            sc_clip *k = &c->v[cand[j]];
            st = push_item(d, s, cap, k->path, 1, k->speaker, k->word, err);
        }
        if (st != CH_OK)
            break;
        /* Clips were pushed in path order with the kept unknowns after them: merge the two
         * runs back into path order (silence crops are appended after). */
        {
            int n = d->n_items[s];
            sc_item *v = d->items[s];
            for (int a = 1; a < n; a++) { /* insertion sort on nearly sorted data */
                sc_item t = v[a];
                int b = a - 1;
                while (b >= 0 && strcmp(v[b].path, t.path) > 0) {
                    v[b + 1] = v[b];
                    b--;
                }
                v[b + 1] = t;
            }
        }
        if (!has_silence_dir && d->n_noise > 0 && o->silence_percentage > 0) {
            long n_sil = (long)ceil((double)d->n_items[s] * o->silence_percentage / 100.0);
            for (long j = 0; j < n_sil && st == CH_OK; j++) {
                st = push_item(d, s, cap, d->noise_files[j % d->n_noise], 0, "", SC_SILENCE,
                               err);
                if (st == CH_OK) {
                    sc_item *it = &d->items[s][d->n_items[s] - 1];
                    char tag[64];
                    snprintf(tag, sizeof tag, "silence/%d/%ld", s, j);
                    it->noise_crop = true;
                    it->crop_seed = mix_hash(tag, 0x51);
                }
            }
        }
    }
    free(cand);
    free(rank);
    return st;
}

/* Task all: every word (folder name, or the prefix inside _unknown_/) is a class. */
static ch_status build_task_all(sc_clips *c, sc_dataset *d, ch_error *err)
{
    const char **names = malloc((size_t)(c->n + 1) * sizeof *names);
    if (!names)
        return ch_fail(err, CH_ERR_NOMEM, "speech_commands: out of memory");
    int nn = 0;
    for (int i = 0; i < c->n; i++)
        names[nn++] = c->v[i].kind == 2 ? SC_SILENCE : c->v[i].word;
    qsort(names, (size_t)nn, sizeof *names, cmp_str);
    int u = 0;
    for (int i = 0; i < nn; i++)
        if (u == 0 || strcmp(names[u - 1], names[i]) != 0)
            names[u++] = names[i];
    ch_status st = set_labels(d, names, u, err);
    free(names);
    CH_TRY(st);
    int cap[SC_N_SPLITS] = {0};
    for (int i = 0; i < c->n; i++) {
        sc_clip *k = &c->v[i];
        const char *w = k->kind == 2 ? SC_SILENCE : k->word;
        CH_TRY(push_item(d, k->split, cap, k->path, find_label(d->labels, d->n_labels, w),
                         k->speaker, w, err));
    }
    return CH_OK;
}

static void split_standard(const sc_options *o, sc_clips *c)
{
    for (int i = 0; i < c->n; i++) {
        sc_clip *k = &c->v[i];
        const char *stem = k->speaker[0] ? k->speaker : strrchr(k->path, '/') + 1;
        double p = sc_hash_percentage(stem);
        k->split = p < o->validation_percentage                         ? SC_VALID
                   : p < o->validation_percentage + o->testing_percentage ? SC_TEST
                                                                           : SC_TRAIN;
    }
}

typedef struct {
    const char *speaker; /* borrowed from a clip */
    uint64_t key;        /* salted SHA-1, first 8 bytes */
    int split;
} sc_spk;

static int cmp_spk_key(const void *a, const void *b)
{
    const sc_spk *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return strcmp(x->speaker, y->speaker);
}

static int cmp_spk_name(const void *a, const void *b)
{
    return strcmp(((const sc_spk *)a)->speaker, ((const sc_spk *)b)->speaker);
}

/* Speakers ranked by SHA-1(salt + speaker): exact shares over speakers (see the header). */
static ch_status split_salted(const sc_options *o, sc_clips *c, ch_error *err)
{
    const char *salt = o->split_salt[0] ? o->split_salt : SC_DEFAULT_SALT;
    sc_spk *spk = malloc((size_t)(c->n ? c->n : 1) * sizeof *spk);
    if (!spk)
        return ch_fail(err, CH_ERR_NOMEM, "speech_commands: out of memory");
    int n = 0;
    for (int i = 0; i < c->n; i++)
        if (c->v[i].speaker[0])
            spk[n++].speaker = c->v[i].speaker;
    qsort(spk, (size_t)n, sizeof *spk, cmp_spk_name);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (u == 0 || strcmp(spk[u - 1].speaker, spk[i].speaker) != 0)
            spk[u++] = spk[i];
    char buf[64 + 256];
    for (int i = 0; i < u; i++) {
        snprintf(buf, sizeof buf, "%s%s", salt, spk[i].speaker);
        uint8_t h[20];
        sha1_digest(buf, strlen(buf), h);
        uint64_t k = 0;
        for (int b = 0; b < 8; b++)
            k = k << 8 | h[b];
        spk[i].key = k;
    }
    qsort(spk, (size_t)u, sizeof *spk, cmp_spk_key);
    long nv = lround(u * o->validation_percentage / 100.0);
    long nt = lround(u * o->testing_percentage / 100.0);
    /* a requested share never rounds to nothing while a speaker can be spared for training */
    if (nv == 0 && o->validation_percentage > 0 && u >= 2)
        nv = 1;
    if (nt == 0 && o->testing_percentage > 0 && u - nv >= 2)
        nt = 1;
    for (int i = 0; i < u; i++)
        spk[i].split = i < nv ? SC_VALID : i < nv + nt ? SC_TEST : SC_TRAIN;
    qsort(spk, (size_t)u, sizeof *spk, cmp_spk_name);
    for (int i = 0; i < c->n; i++) {
        sc_clip *k = &c->v[i];
        if (k->speaker[0]) {
            sc_spk probe = {.speaker = k->speaker};
            const sc_spk *hit = bsearch(&probe, spk, (size_t)u, sizeof *spk, cmp_spk_name);
            k->split = hit->split; /* every speaker was collected above */
        } else {
            snprintf(buf, sizeof buf, "%s%s", salt, strrchr(k->path, '/') + 1);
            double p = sc_hash_percentage(buf);
            k->split = p < o->validation_percentage                         ? SC_VALID
                       : p < o->validation_percentage + o->testing_percentage ? SC_TEST
                                                                               : SC_TRAIN;
        }
    }
    free(spk);
    return CH_OK;
}

/* A list option's file: as given, else (relative and missing) under root. */
static void resolve_list(const char *root, const char *given, char *out, size_t n)
{
    if (given[0] != '/' && !path_exists(given))
        snprintf(out, n, "%s/%s", root, given);
    else
        snprintf(out, n, "%s", given);
}

static ch_status assign_splits(const char *root, const sc_options *o, sc_dataset *out,
                               sc_clips *c, ch_error *err)
{
    char vlist[8192], tlist[8192];
    int has_v, has_t;
    if (o->valid_list[0] || o->test_list[0]) {
        has_v = o->valid_list[0] != 0;
        has_t = o->test_list[0] != 0;
        if (has_v)
            resolve_list(root, o->valid_list, vlist, sizeof vlist);
        if (has_t)
            resolve_list(root, o->test_list, tlist, sizeof tlist);
    } else {
        snprintf(vlist, sizeof vlist, "%s/validation_list.txt", root);
        snprintf(tlist, sizeof tlist, "%s/testing_list.txt", root);
        int salted = o->split == SC_SPLIT_SALTED ||
                     (o->split == SC_SPLIT_AUTO && o->split_salt[0]);
        has_v = !salted && path_exists(vlist);
        has_t = !salted && path_exists(tlist);
    }
    out->from_lists = has_v || has_t;
    if (out->from_lists) {
        for (int i = 0; i < c->n; i++)
            c->v[i].split = SC_TRAIN;
        if (has_v)
            CH_TRY(apply_list(vlist, c, SC_VALID, err));
        if (has_t)
            CH_TRY(apply_list(tlist, c, SC_TEST, err));
        return CH_OK;
    }
    if (o->split == SC_SPLIT_SALTED || (o->split == SC_SPLIT_AUTO && o->split_salt[0])) {
        out->split_used = SC_SPLIT_SALTED;
        return split_salted(o, c, err);
    }
    split_standard(o, c);
    out->split_used = SC_SPLIT_STANDARD;
    if (o->split == SC_SPLIT_AUTO) {
        int n_train = 0;
        for (int i = 0; i < c->n; i++)
            n_train += c->v[i].split == SC_TRAIN;
        double expect =
            c->n * (100.0 - o->validation_percentage - o->testing_percentage) / 100.0;
        if (n_train < 0.5 * expect) {
            int n_old[SC_N_SPLITS] = {0}, n_new[SC_N_SPLITS] = {0};
            for (int i = 0; i < c->n; i++)
                n_old[c->v[i].split]++;
            CH_TRY(split_salted(o, c, err));
            for (int i = 0; i < c->n; i++)
                n_new[c->v[i].split]++;
            out->split_used = SC_SPLIT_SALTED;
            snprintf(out->split_note, sizeof out->split_note,
                     "%s: the standard hash split is degenerate (%d train / %d valid / %d test "
                     "clips); using the salted speaker split instead (%d / %d / %d)",
                     root, n_old[SC_TRAIN], n_old[SC_VALID], n_old[SC_TEST], n_new[SC_TRAIN],
                     n_new[SC_VALID], n_new[SC_TEST]);
        }
    }
    return CH_OK;
}

/* Keeps every clip's relative path and split in the dataset (for sc_write_split). */
static ch_status keep_clip_split(const char *root, sc_dataset *out, const sc_clips *c,
                                 ch_error *err)
{
    out->clip_rel = calloc((size_t)(c->n ? c->n : 1), sizeof *out->clip_rel);
    out->clip_split = calloc((size_t)(c->n ? c->n : 1), sizeof *out->clip_split);
    if (!out->clip_rel || !out->clip_split)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", root);
    size_t rl = strlen(root) + 1;
    for (int i = 0; i < c->n; i++) {
        if (!(out->clip_rel[i] = strdup(c->v[i].path + rl)))
            return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", root);
        out->clip_split[i] = c->v[i].split;
        out->n_clips++;
    }
    return CH_OK;
}

ch_status sc_write_split(const sc_dataset *d, const char *dir, ch_error *err)
{
    static const char *const names[SC_N_SPLITS] = {"training_list.txt", "validation_list.txt",
                                                   "testing_list.txt"};
    CH_TRY(dir_create(dir, err));
    for (int s = 0; s < SC_N_SPLITS; s++) {
        char path[4096 + 32];
        snprintf(path, sizeof path, "%s/%s", dir, names[s]);
        atomic_file a;
        CH_TRY(atomic_open(&a, path, err));
        ch_status st = CH_OK;
        for (int i = 0; i < d->n_clips && st == CH_OK; i++) {
            if (d->clip_split[i] != s)
                continue;
            st = atomic_write(&a, d->clip_rel[i], strlen(d->clip_rel[i]), err);
            if (st == CH_OK)
                st = atomic_write(&a, "\n", 1, err);
        }
        if (st != CH_OK) {
            atomic_abort(&a);
            return st;
        }
        CH_TRY(atomic_commit(&a, err));
    }
    return CH_OK;
}

static ch_status sc_load_(const char *root, const sc_options *o, sc_dataset *out, sc_clips *c,
                          ch_error *err)
{
    struct stat sb;
    if (stat(root, &sb) != 0)
        return ch_fail(err, CH_ERR_IO, "%s: no such folder", root);
    if (!S_ISDIR(sb.st_mode))
        return ch_fail(err, CH_ERR_IO, "%s: not a folder", root);
    char **dirs;
    int n_dirs;
    CH_TRY(list_dir(root, 1, &dirs, &n_dirs, err));
    ch_status st = CH_OK;
    int n_word_dirs = 0, has_silence_dir = 0;
    for (int i = 0; i < n_dirs && st == CH_OK; i++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", root, dirs[i]);
        char **files;
        int nf;
        st = list_dir(sub, 0, &files, &nf, err);
        if (st != CH_OK)
            break;
        if (strcmp(dirs[i], SC_NOISE) == 0) {
            out->noise_files = calloc((size_t)(nf ? nf : 1), sizeof *out->noise_files);
            if (!out->noise_files)
                st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", sub);
            for (int j = 0; j < nf && st == CH_OK; j++) {
                size_t l = strlen(sub) + strlen(files[j]) + 2;
                out->noise_files[j] = malloc(l);
                if (!out->noise_files[j]) {
                    st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", sub);
                    break;
                }
                snprintf(out->noise_files[j], l, "%s/%s", sub, files[j]);
                out->n_noise++;
            }
        } else if (nf == 0) {
            st = ch_fail(err, CH_ERR_FORMAT, "%s: word folder has no audio files", sub);
        } else {
            int kind = strcmp(dirs[i], SC_UNKNOWN) == 0   ? 1
                       : strcmp(dirs[i], SC_SILENCE) == 0 ? 2
                                                          : 0;
            has_silence_dir |= kind == 2;
            n_word_dirs++;
            for (int j = 0; j < nf && st == CH_OK; j++)
                st = clips_add(c, root, dirs[i], files[j], kind, err);
        }
        free_names(files, nf);
    }
    free_names(dirs, n_dirs);
    CH_TRY(st);
    if (n_word_dirs == 0)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: no word folders with audio (expected <root>/<word>/<clip>.wav)", root);
    qsort(c->v, (size_t)c->n, sizeof *c->v, cmp_clip_key);
    for (int i = 1; i < c->n; i++)
        if (strcmp(c->v[i - 1].key, c->v[i].key) == 0)
            return ch_fail(err, CH_ERR_FORMAT, "%s: two files with the same name stem",
                           c->v[i].path);
    CH_TRY(assign_splits(root, o, out, c, err));
    /* Items in path order (the clip array is in key order, which can differ by extension). */
    for (int a = 1; a < c->n; a++) {
        sc_clip t = c->v[a];
        int b = a - 1;
        while (b >= 0 && strcmp(c->v[b].path, t.path) > 0) {
            c->v[b + 1] = c->v[b];
            b--;
        }
        c->v[b + 1] = t;
    }
    CH_TRY(keep_clip_split(root, out, c, err));
    if (o->task == SC_TASK_ALL)
        return build_task_all(c, out, err);
    return build_task12(o, c, has_silence_dir, out, err);
}

ch_status sc_load(const char *root, const sc_options *o, sc_dataset *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    sc_clips c = {0};
    ch_status st = sc_load_(root, o, out, &c, err);
    clips_free(&c);
    if (st != CH_OK)
        sc_free(out);
    return st;
}

static int cmp_item_ptr(const void *a, const void *b)
{
    const sc_item *x = *(const sc_item *const *)a, *y = *(const sc_item *const *)b;
    int c = strcmp(x->speaker, y->speaker);
    return c ? c : strcmp(x->path, y->path);
}

void sc_groups_free(sc_speaker_group *groups, int n_groups)
{
    if (!groups)
        return;
    if (n_groups > 0)
        free((void *)groups[0].items); /* one block shared by every group */
    free(groups);
}

ch_status sc_group_by_speaker(const sc_dataset *d, sc_speaker_group **groups, int *n_groups,
                              ch_error *err)
{
    *groups = NULL;
    *n_groups = 0;
    int n = 0;
    for (int s = 0; s < SC_N_SPLITS; s++)
        for (int i = 0; i < d->n_items[s]; i++)
            n += d->items[s][i].speaker[0] != '\0';
    if (n == 0)
        return CH_OK;
    const sc_item **all = malloc((size_t)n * sizeof *all);
    if (!all)
        return ch_fail(err, CH_ERR_NOMEM, "speech_commands: out of memory");
    int k = 0;
    for (int s = 0; s < SC_N_SPLITS; s++)
        for (int i = 0; i < d->n_items[s]; i++)
            if (d->items[s][i].speaker[0])
                all[k++] = &d->items[s][i];
    qsort(all, (size_t)n, sizeof *all, cmp_item_ptr);
    int ng = 0;
    for (int i = 0; i < n; i++)
        ng += i == 0 || strcmp(all[i - 1]->speaker, all[i]->speaker) != 0;
    sc_speaker_group *g = calloc((size_t)ng, sizeof *g);
    if (!g) {
        free(all);
        return ch_fail(err, CH_ERR_NOMEM, "speech_commands: out of memory");
    }
    int gi = -1;
    for (int i = 0; i < n; i++) {
        if (i == 0 || strcmp(all[i - 1]->speaker, all[i]->speaker) != 0) {
            gi++;
            snprintf(g[gi].speaker, sizeof g[gi].speaker, "%s", all[i]->speaker);
            g[gi].items = all + i;
        }
        g[gi].n++;
    }
    *groups = g;
    *n_groups = ng;
    return CH_OK;
}
