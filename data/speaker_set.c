/* speaker_set.c — speaker-labelled utterance lists from Kaldi dirs, VoxCeleb-style and Speech
 * Commands folders, and hash-stable speaker-disjoint splits (contract in speaker_set.h). */
#include "data/speaker_set.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/sha1.h"
#include "data/kaldi_dir.h"
#include "data/speech_commands.h"
#include "frontend/audio.h"

/* ---- a growable list of found utterances, before grouping ---- */

typedef struct {
    char *id, *rel, *path, *spk;
} raw_utt;

typedef struct {
    raw_utt *v;
    int n, cap;
} raw_list;

static void raw_free(raw_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->v[i].id);
        free(l->v[i].rel);
        free(l->v[i].path);
        free(l->v[i].spk);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Takes ownership of the four strings (frees them on failure too). */
static ch_status raw_push(raw_list *l, char *id, char *rel, char *path, char *spk,
                          ch_error *err)
{
    if (!id || !rel || !path || !spk) {
        free(id);
        free(rel);
        free(path);
        free(spk);
        return ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
    }
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        raw_utt *v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v) {
            free(id);
            free(rel);
            free(path);
            free(spk);
            return ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (raw_utt){id, rel, path, spk};
    return CH_OK;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *d = malloc(n);
    if (d)
        snprintf(d, n, "%s%s%s", a, b, c);
    return d;
}

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (isspace((unsigned char)*s))
            return true;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of dir (no "." / ".." / hidden), *n of them; owner caller (free_names).
 * CH_ERR_IO when dir cannot be opened. */
static ch_status list_dir(const char *dir, char ***out, int *n, ch_error *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return ch_fail(err, CH_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    char **v = NULL;
    int cnt = 0, cap = 0;
    struct dirent *e;
    ch_status st = CH_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(v, sizeof *nv * (size_t)cap);
            if (!nv) {
                st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            v = nv;
        }
        if (!(v[cnt] = dupstr(e->d_name))) {
            st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        cnt++;
    }
    closedir(d);
    if (st != CH_OK) {
        for (int i = 0; i < cnt; i++)
            free(v[i]);
        free(v);
        return st;
    }
    if (cnt > 1)
        qsort(v, (size_t)cnt, sizeof *v, cmp_str);
    *out = v;
    *n = cnt;
    return CH_OK;
}

static void free_names(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static ch_status check_readable(const char *path, ch_error *err)
{
    if (access(path, R_OK) != 0)
        return ch_fail(err, CH_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    return CH_OK;
}

/* id from rel: extension dropped, '/' -> '-', optional "<prefix>-" in front. */
static char *id_from_rel(const char *rel, const char *prefix)
{
    size_t pl = prefix ? strlen(prefix) + 1 : 0;
    size_t n = strlen(rel);
    char *id = malloc(pl + n + 1);
    if (!id)
        return NULL;
    if (prefix)
        snprintf(id, pl + 1, "%s-", prefix);
    memcpy(id + pl, rel, n + 1);
    char *dot = strrchr(id + pl, '.');
    char *slash = strrchr(id + pl, '/');
    if (dot && (!slash || dot > slash + 1))
        *dot = 0;
    for (char *p = id + pl; *p; p++)
        if (*p == '/')
            *p = '-';
    return id;
}

/* Adds the audio file root/rel for speaker spk. */
static ch_status add_file(raw_list *l, const char *root, const char *rel, const char *spk,
                          bool sc, ch_error *err)
{
    char *path = join3(root, "/", rel);
    if (!path)
        return ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
    if (has_space(rel)) {
        ch_status st = ch_fail(err, CH_ERR_FORMAT,
                               "%s: a name with whitespace cannot be an utterance id (rename it)",
                               path);
        free(path);
        return st;
    }
    ch_status st = check_readable(path, err);
    if (st != CH_OK) {
        free(path);
        return st;
    }
    return raw_push(l, id_from_rel(rel, sc ? spk : NULL), dupstr(rel), path, dupstr(spk), err);
}

/* ---- layouts ---- */

static ch_status scan_speech_commands(const char *root, raw_list *l, int *skipped,
                                      ch_error *err)
{
    char **top = NULL;
    int n_top = 0;
    CH_TRY(list_dir(root, &top, &n_top, err));
    ch_status st = CH_OK;
    for (int i = 0; i < n_top && st == CH_OK; i++) {
        if (!strcmp(top[i], "_silence_") || !strcmp(top[i], "_background_noise_"))
            continue;
        char *sub = join3(root, "/", top[i]);
        if (!sub) {
            st = ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
            break;
        }
        if (!is_dir(sub)) {
            free(sub);
            continue;
        }
        char **files = NULL;
        int n_files = 0;
        st = list_dir(sub, &files, &n_files, err);
        for (int j = 0; j < n_files && st == CH_OK; j++) {
            if (!audio_name_is_audio(files[j]))
                continue;
            char spk[32], word[32];
            if (!sc_parse_name(files[j], spk, word) || !spk[0]) {
                (*skipped)++;
                continue;
            }
            char *rel = join3(top[i], "/", files[j]);
            if (!rel) {
                st = ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
                break;
            }
            st = add_file(l, root, rel, spk, true, err);
            free(rel);
        }
        free_names(files, n_files);
        free(sub);
    }
    free_names(top, n_top);
    return st;
}

static ch_status scan_voxceleb(const char *root, raw_list *l, ch_error *err)
{
    char **top = NULL;
    int n_top = 0;
    CH_TRY(list_dir(root, &top, &n_top, err));
    ch_status st = CH_OK;
    for (int i = 0; i < n_top && st == CH_OK; i++) {
        char *spk_dir = join3(root, "/", top[i]);
        if (!spk_dir) {
            st = ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
            break;
        }
        if (!is_dir(spk_dir)) { /* lists, README, trials at the top level */
            free(spk_dir);
            continue;
        }
        if (has_space(top[i])) {
            st = ch_fail(err, CH_ERR_FORMAT,
                         "%s: a speaker name with whitespace cannot be a Kaldi key (rename it)",
                         spk_dir);
            free(spk_dir);
            break;
        }
        char **ent = NULL;
        int n_ent = 0;
        st = list_dir(spk_dir, &ent, &n_ent, err);
        for (int j = 0; j < n_ent && st == CH_OK; j++) {
            char *rel = join3(top[i], "/", ent[j]);
            char *full = rel ? join3(root, "/", rel) : NULL;
            if (!rel || !full) {
                free(rel);
                free(full);
                st = ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
                break;
            }
            if (is_dir(full)) { /* a session folder */
                char **files = NULL;
                int n_files = 0;
                st = list_dir(full, &files, &n_files, err);
                for (int k = 0; k < n_files && st == CH_OK; k++) {
                    if (!audio_name_is_audio(files[k]))
                        continue;
                    char *rel2 = join3(rel, "/", files[k]);
                    if (!rel2) {
                        st = ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
                        break;
                    }
                    st = add_file(l, root, rel2, top[i], false, err);
                    free(rel2);
                }
                free_names(files, n_files);
            } else if (audio_name_is_audio(ent[j])) {
                st = add_file(l, root, rel, top[i], false, err);
            }
            free(rel);
            free(full);
        }
        free_names(ent, n_ent);
        free(spk_dir);
    }
    free_names(top, n_top);
    return st;
}

static ch_status scan_kaldi(const char *dir, raw_list *l, ch_error *err)
{
    kd_dir d;
    memset(&d, 0, sizeof d);
    ch_status st = kd_load(dir, true, &d, err);
    for (int i = 0; st == CH_OK && i < d.n_utts; i++) {
        const kd_utt *u = &d.utts[i];
        /* paths are tried as written, then relative to the data dir (as kd_load checks) */
        char *path = NULL;
        bool pipe = audio_is_command(u->path); /* audio_read runs it: kept as written */
        if (!pipe && u->path[0] != '/' && !is_file(u->path))
            path = join3(dir, "/", u->path);
        else
            path = dupstr(u->path);
        if (!path) {
            st = ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
            break;
        }
        st = pipe ? CH_OK : check_readable(path, err);
        if (st != CH_OK) {
            free(path);
            break;
        }
        /* absolute, so a data dir written from the set works from any folder */
        char *abs = pipe || path[0] == '/' ? NULL : realpath(path, NULL);
        if (abs) {
            free(path);
            path = abs;
        }
        st = raw_push(l, dupstr(u->utt), dupstr(u->path), path, dupstr(d.speakers[u->spk]),
                      err);
    }
    kd_free(&d);
    return st;
}

/* AUTO: kaldi when wav.scp exists, speech-commands when a sub-folder file has `_nohash_`,
 * else voxceleb. */
static ch_status detect_layout(const char *root, int *layout, ch_error *err)
{
    char *scp = join3(root, "/", "wav.scp");
    if (!scp)
        return ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
    bool kaldi = path_exists(scp);
    free(scp);
    if (kaldi) {
        *layout = SPK_LAYOUT_KALDI;
        return CH_OK;
    }
    char **top = NULL;
    int n_top = 0;
    CH_TRY(list_dir(root, &top, &n_top, err));
    bool sc = false;
    ch_status st = CH_OK;
    for (int i = 0; i < n_top && !sc && st == CH_OK; i++) {
        char *sub = join3(root, "/", top[i]);
        if (!sub) {
            st = ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
            break;
        }
        if (is_dir(sub)) {
            char **files = NULL;
            int n_files = 0;
            if (list_dir(sub, &files, &n_files, NULL) == CH_OK)
                for (int j = 0; j < n_files && !sc; j++)
                    sc = audio_name_is_audio(files[j]) && strstr(files[j], "_nohash_") != NULL;
            free_names(files, n_files);
        }
        free(sub);
    }
    free_names(top, n_top);
    *layout = sc ? SPK_LAYOUT_SPEECH_COMMANDS : SPK_LAYOUT_VOXCELEB;
    return st;
}

static int cmp_raw(const void *a, const void *b)
{
    const raw_utt *x = a, *y = b;
    int c = strcmp(x->spk, y->spk);
    return c ? c : strcmp(x->id, y->id);
}

/* Groups the sorted raw list into s (moving the strings out of l). */
static ch_status build_set(raw_list *l, int min_utts, speaker_set *s, ch_error *err)
{
    qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_raw);
    /* ids must be unique across the whole set */
    char **ids = malloc(sizeof *ids * (l->n > 0 ? (size_t)l->n : 1));
    if (!ids)
        return ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
    for (int i = 0; i < l->n; i++)
        ids[i] = l->v[i].id;
    qsort(ids, (size_t)l->n, sizeof *ids, cmp_str);
    for (int i = 1; i < l->n; i++)
        if (!strcmp(ids[i - 1], ids[i])) {
            const char *a = NULL, *b = NULL;
            for (int j = 0; j < l->n; j++)
                if (!strcmp(l->v[j].id, ids[i])) {
                    if (!a)
                        a = l->v[j].path;
                    else if (!b)
                        b = l->v[j].path;
                }
            ch_status st = ch_fail(err, CH_ERR_FORMAT,
                                   "%s: utterance id '%s' is also the id of %s (rename one)",
                                   b ? b : "?", ids[i], a ? a : "?");
            free(ids);
            return st;
        }
    free(ids);

    int n_spk = 0;
    for (int i = 0; i < l->n; i++)
        if (i == 0 || strcmp(l->v[i].spk, l->v[i - 1].spk))
            n_spk++;
    s->utts = calloc(l->n > 0 ? (size_t)l->n : 1, sizeof *s->utts);
    s->speakers = calloc(n_spk > 0 ? (size_t)n_spk : 1, sizeof *s->speakers);
    if (!s->utts || !s->speakers)
        return ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
    for (int i = 0; i < l->n;) {
        int j = i;
        while (j < l->n && !strcmp(l->v[j].spk, l->v[i].spk))
            j++;
        if (j - i < min_utts) {
            s->n_dropped++;
            i = j;
            continue;
        }
        spk_speaker *sp = &s->speakers[s->n_speakers];
        sp->name = l->v[i].spk;
        l->v[i].spk = NULL;
        sp->first = s->n_utts;
        sp->n = j - i;
        for (int k = i; k < j; k++) {
            spk_utt *u = &s->utts[s->n_utts++];
            u->id = l->v[k].id;
            u->rel = l->v[k].rel;
            u->path = l->v[k].path;
            u->spk = s->n_speakers;
            l->v[k].id = l->v[k].rel = l->v[k].path = NULL;
        }
        s->n_speakers++;
        i = j;
    }
    return CH_OK;
}

ch_status speaker_set_load(const char *dir, int layout, int min_utts, speaker_set *out,
                           ch_error *err)
{
    memset(out, 0, sizeof *out);
    if (!is_dir(dir)) {
        if (path_exists(dir))
            return ch_fail(err, CH_ERR_IO, "%s: not a folder", dir);
        return ch_fail(err, CH_ERR_IO, "%s: no such folder", dir);
    }
    char root[PATH_MAX];
    if (!realpath(dir, root))
        return ch_fail(err, CH_ERR_IO, "%s: %s", dir, strerror(errno));
    if (layout == SPK_LAYOUT_AUTO)
        CH_TRY(detect_layout(root, &layout, err));
    raw_list l = {0};
    ch_status st;
    if (layout == SPK_LAYOUT_KALDI)
        st = scan_kaldi(dir, &l, err);
    else if (layout == SPK_LAYOUT_SPEECH_COMMANDS)
        st = scan_speech_commands(root, &l, &out->n_skipped, err);
    else if (layout == SPK_LAYOUT_VOXCELEB)
        st = scan_voxceleb(root, &l, err);
    else
        st = ch_fail(err, CH_ERR_USAGE, "speaker set: unknown layout %d", layout);
    out->layout = layout;
    if (st == CH_OK && l.n == 0)
        st = ch_fail(err, CH_ERR_FORMAT,
                     "%s: no speakers found (read as %s: expected wav.scp + utt2spk, "
                     "<speaker>/<session>/<utt>.wav or <word>/<speaker>_nohash_<n>.wav)",
                     dir, speaker_layout_name(layout));
    if (st == CH_OK)
        st = build_set(&l, min_utts, out, err);
    if (st == CH_OK && out->n_speakers == 0)
        st = ch_fail(err, CH_ERR_FORMAT,
                     "%s: no speaker has at least %d utterances (%d speakers dropped)", dir,
                     min_utts, out->n_dropped);
    raw_free(&l);
    if (st != CH_OK) {
        int lay = out->layout;
        speaker_set_free(out);
        out->layout = lay;
    }
    return st;
}

void speaker_set_free(speaker_set *s)
{
    if (!s)
        return;
    for (int i = 0; s->utts && i < s->n_utts; i++) {
        free(s->utts[i].id);
        free(s->utts[i].rel);
        free(s->utts[i].path);
    }
    for (int i = 0; s->speakers && i < s->n_speakers; i++)
        free(s->speakers[i].name);
    free(s->utts);
    free(s->speakers);
    memset(s, 0, sizeof *s);
}

const char *speaker_layout_name(int layout)
{
    switch (layout) {
    case SPK_LAYOUT_KALDI: return "kaldi";
    case SPK_LAYOUT_SPEECH_COMMANDS: return "speech-commands";
    case SPK_LAYOUT_VOXCELEB: return "voxceleb";
    default: return "auto";
    }
}

const char *speaker_part_name(int part)
{
    static const char *const names[] = {"train", "dev", "test"};
    return part >= 0 && part < SPK_N_PARTS ? names[part] : "?";
}

/* ---- splits ---- */

double speaker_split_hash(const char *name, uint64_t split_seed)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%llu:%s", (unsigned long long)split_seed, name);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    uint8_t d[20];
    sha1_digest(buf, len, d);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = (h << 8) | d[i];
    return (double)(h >> 11) * 0x1.0p-53; /* 53 bits: exactly representable, < 1 */
}

ch_status speaker_parse_fractions(const char *text, double fr[SPK_N_PARTS], ch_error *err)
{
    const char *p = text;
    double sum = 0;
    for (int i = 0; i < SPK_N_PARTS; i++) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || v < 0)
            return ch_fail(err, CH_ERR_USAGE,
                           "split fractions '%s': expected three numbers >= 0 like 0.7,0.1,0.2",
                           text);
        fr[i] = v;
        sum += v;
        p = end;
        if (i < SPK_N_PARTS - 1) {
            if (*p != ',')
                return ch_fail(err, CH_ERR_USAGE,
                               "split fractions '%s': expected three comma-separated numbers "
                               "(train,dev,test)", text);
            p++;
        }
    }
    if (*p)
        return ch_fail(err, CH_ERR_USAGE, "split fractions '%s': trailing text '%s'", text, p);
    if (fabs(sum - 1.0) > 1e-6)
        return ch_fail(err, CH_ERR_USAGE, "split fractions '%s': they sum to %g, not 1", text,
                       sum);
    return CH_OK;
}

ch_status speaker_set_split(const speaker_set *s, const double fr[SPK_N_PARTS],
                            uint64_t split_seed, int *part, int counts[SPK_N_PARTS],
                            ch_error *err)
{
    double sum = 0;
    for (int i = 0; i < SPK_N_PARTS; i++) {
        if (!(fr[i] >= 0))
            return ch_fail(err, CH_ERR_USAGE, "split fractions: %g is negative", fr[i]);
        sum += fr[i];
    }
    if (fabs(sum - 1.0) > 1e-6)
        return ch_fail(err, CH_ERR_USAGE, "split fractions: they sum to %g, not 1", sum);
    if (counts)
        for (int i = 0; i < SPK_N_PARTS; i++)
            counts[i] = 0;
    for (int i = 0; i < s->n_speakers; i++) {
        double u = speaker_split_hash(s->speakers[i].name, split_seed);
        int p = u < fr[0] ? SPK_TRAIN : u < fr[0] + fr[1] ? SPK_DEV : SPK_TEST;
        /* a zero fraction never receives a speaker, even through rounding at the edges */
        if (fr[p] == 0)
            p = fr[SPK_TRAIN] > 0 ? SPK_TRAIN : fr[SPK_DEV] > 0 ? SPK_DEV : SPK_TEST;
        part[i] = p;
        if (counts)
            counts[p]++;
    }
    return CH_OK;
}

ch_status speaker_set_select(const speaker_set *s, const int *part, int which,
                             speaker_set *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    out->layout = s->layout;
    int ns = 0, nu = 0;
    for (int i = 0; i < s->n_speakers; i++)
        if (part[i] == which) {
            ns++;
            nu += s->speakers[i].n;
        }
    out->speakers = calloc((ns > 0 ? (size_t)ns : 1), sizeof *out->speakers);
    out->utts = calloc((nu > 0 ? (size_t)nu : 1), sizeof *out->utts);
    if (!out->speakers || !out->utts) {
        speaker_set_free(out);
        return ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
    }
    for (int i = 0; i < s->n_speakers; i++) {
        if (part[i] != which)
            continue;
        const spk_speaker *sp = &s->speakers[i];
        spk_speaker *d = &out->speakers[out->n_speakers];
        d->name = dupstr(sp->name);
        d->first = out->n_utts;
        d->n = sp->n;
        out->n_speakers++;
        if (!d->name)
            goto oom;
        for (int k = 0; k < sp->n; k++) {
            const spk_utt *u = &s->utts[sp->first + k];
            spk_utt *v = &out->utts[out->n_utts++];
            v->id = dupstr(u->id);
            v->rel = dupstr(u->rel);
            v->path = dupstr(u->path);
            v->spk = out->n_speakers - 1;
            if (!v->id || !v->rel || !v->path)
                goto oom;
        }
    }
    return CH_OK;
oom:
    speaker_set_free(out);
    return ch_fail(err, CH_ERR_NOMEM, "speaker set: out of memory");
}

/* ---- writing a Kaldi data dir ---- */

typedef struct {
    const char *key;
    int utt;
} key_ref;

static int cmp_key_ref(const void *a, const void *b)
{
    return strcmp(((const key_ref *)a)->key, ((const key_ref *)b)->key);
}

static ch_status write_text(const char *path, const char *buf, size_t n, ch_error *err)
{
    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    ch_status st = atomic_write(&a, buf, n, err);
    if (st != CH_OK) {
        atomic_abort(&a);
        return st;
    }
    return atomic_commit(&a, err);
}

ch_status speaker_set_write_dir(const speaker_set *s, const char *dir, bool use_rel,
                                ch_error *err)
{
    CH_TRY(dir_create(dir, err));
    key_ref *k = malloc(sizeof *k * (s->n_utts > 0 ? (size_t)s->n_utts : 1));
    if (!k)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
    for (int i = 0; i < s->n_utts; i++)
        k[i] = (key_ref){use_rel ? s->utts[i].rel : s->utts[i].id, i};
    qsort(k, (size_t)s->n_utts, sizeof *k, cmp_key_ref);
    ch_status st = CH_OK;
    for (int i = 0; i < s->n_utts; i++)
        if (has_space(k[i].key)) {
            st = ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' has whitespace", dir, k[i].key);
            break;
        }
    for (int i = 1; st == CH_OK && i < s->n_utts; i++)
        if (!strcmp(k[i - 1].key, k[i].key))
            st = ch_fail(err, CH_ERR_FORMAT, "%s: key '%s' names two utterances", dir,
                         k[i].key);
    const char *names[3] = {"wav.scp", "utt2spk", "spk2utt"};
    for (int f = 0; f < 3 && st == CH_OK; f++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m) {
            st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        if (f < 2) {
            for (int i = 0; i < s->n_utts; i++) {
                const spk_utt *u = &s->utts[k[i].utt];
                fprintf(m, "%s %s\n", k[i].key, f == 0 ? u->path : s->speakers[u->spk].name);
            }
        } else {
            /* speakers in name order, their utterances in key order: a stable bucket pass
             * over the key-sorted list (speaker sp owns slots first .. first + n) */
            key_ref *k2 = malloc(sizeof *k2 * (s->n_utts > 0 ? (size_t)s->n_utts : 1));
            int *pos = malloc(sizeof *pos * (s->n_speakers > 0 ? (size_t)s->n_speakers : 1));
            if (k2 && pos) {
                for (int sp = 0; sp < s->n_speakers; sp++)
                    pos[sp] = s->speakers[sp].first;
                for (int i = 0; i < s->n_utts; i++)
                    k2[pos[s->utts[k[i].utt].spk]++] = k[i];
                for (int sp = 0; sp < s->n_speakers; sp++) {
                    fputs(s->speakers[sp].name, m);
                    for (int i = 0; i < s->speakers[sp].n; i++)
                        fprintf(m, " %s", k2[s->speakers[sp].first + i].key);
                    fputc('\n', m);
                }
            } else {
                st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
            }
            free(k2);
            free(pos);
        }
        if (fclose(m) != 0 || st != CH_OK) {
            free(buf);
            if (st == CH_OK)
                st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        char *path = join3(dir, "/", names[f]);
        if (!path)
            st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", dir);
        else
            st = write_text(path, buf, len, err);
        free(path);
        free(buf);
    }
    free(k);
    return st;
}
