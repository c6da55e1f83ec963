/* trial_gen.c — target / nontarget trial sampling and writing (contract in trial_gen.h). */
#include "data/trial_gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/rng.h"
#include "common/sha1.h"

#define NONTARGET_STREAM 0x6e6f6e74617267ull /* "nontarg": any constant apart from names */

trial_options trial_options_default(void)
{
    trial_options o = {0, 10.0, 0};
    return o;
}

/* ---- a set of unordered pairs (open addressing, keys a * U + b + 1, 0 = empty) ---- */

typedef struct {
    uint64_t *slot;
    size_t cap; /* power of two */
} pair_set;

static ch_status pair_set_init(pair_set *h, size_t expected, ch_error *err)
{
    size_t cap = 16;
    while (cap < expected * 2 + 16)
        cap *= 2;
    h->cap = cap;
    h->slot = calloc(cap, sizeof *h->slot);
    if (!h->slot)
        return ch_fail(err, CH_ERR_NOMEM, "trials: out of memory");
    return CH_OK;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* Inserts key; returns 1 if it was new, 0 if present. The table is sized for its use (at most
 * half full), so it never needs to grow. */
static int pair_set_add(pair_set *h, uint64_t key)
{
    size_t i = (size_t)mix64(key) & (h->cap - 1);
    while (h->slot[i]) {
        if (h->slot[i] == key)
            return 0;
        i = (i + 1) & (h->cap - 1);
    }
    h->slot[i] = key;
    return 1;
}

/* ---- a growable trial list ---- */

typedef struct {
    sv_trial *v;
    long n, cap;
} trial_list;

static ch_status tl_push(trial_list *l, int a, int b, int target, ch_error *err)
{
    if (l->n == l->cap) {
        long cap = l->cap ? 2 * l->cap : 1024;
        sv_trial *v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v)
            return ch_fail(err, CH_ERR_NOMEM, "trials: out of memory");
        l->v = v;
        l->cap = cap;
    }
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    l->v[l->n++] = (sv_trial){a, b, target};
    return CH_OK;
}

static uint64_t name_stream(const char *name)
{
    uint8_t d[20];
    sha1_digest(name, strlen(name), d);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++)
        h = (h << 8) | d[i];
    return h;
}

/* Partial Fisher-Yates: the first k of v[0..n) become a uniform random k-subset. */
static void partial_shuffle(rng *r, uint64_t *v, uint64_t n, uint64_t k)
{
    for (uint64_t i = 0; i < k && i + 1 < n; i++) {
        uint64_t j = i + rng_u64(r) % (n - i); /* modulo bias < n / 2^64: irrelevant here */
        uint64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* K of the n(n-1)/2 pairs of utterances first .. first + n, or all of them. */
static ch_status speaker_targets(const spk_speaker *sp, int max_k, uint64_t seed,
                                 trial_list *l, ch_error *err)
{
    uint64_t n = (uint64_t)sp->n, total = n * (n - 1) / 2;
    uint64_t k = max_k > 0 && (uint64_t)max_k < total ? (uint64_t)max_k : total;
    if (k == total) {
        for (int i = 0; i < sp->n; i++)
            for (int j = i + 1; j < sp->n; j++)
                CH_TRY(tl_push(l, sp->first + i, sp->first + j, 1, err));
        return CH_OK;
    }
    rng r;
    rng_seed(&r, seed, name_stream(sp->name));
    if (k * 4 >= total) { /* dense: enumerate and shuffle */
        uint64_t *v = malloc(sizeof *v * (size_t)total);
        if (!v)
            return ch_fail(err, CH_ERR_NOMEM, "trials: out of memory");
        uint64_t c = 0;
        for (uint64_t i = 0; i < n; i++)
            for (uint64_t j = i + 1; j < n; j++)
                v[c++] = i * n + j;
        partial_shuffle(&r, v, total, k);
        ch_status st = CH_OK;
        for (uint64_t i = 0; i < k && st == CH_OK; i++)
            st = tl_push(l, sp->first + (int)(v[i] / n), sp->first + (int)(v[i] % n), 1, err);
        free(v);
        return st;
    }
    pair_set h;
    CH_TRY(pair_set_init(&h, (size_t)k, err));
    ch_status st = CH_OK;
    for (uint64_t got = 0; got < k && st == CH_OK;) {
        uint32_t i = rng_below(&r, (uint32_t)n), j = rng_below(&r, (uint32_t)n);
        if (i == j)
            continue;
        uint64_t lo = i < j ? i : j, hi = i < j ? j : i;
        if (!pair_set_add(&h, lo * n + hi + 1))
            continue;
        st = tl_push(l, sp->first + (int)lo, sp->first + (int)hi, 1, err);
        got++;
    }
    free(h.slot);
    return st;
}

static ch_status nontargets(const speaker_set *s, uint64_t want, uint64_t seed, trial_list *l,
                            ch_error *err)
{
    uint64_t U = (uint64_t)s->n_utts, same = 0;
    for (int i = 0; i < s->n_speakers; i++)
        same += (uint64_t)s->speakers[i].n * (uint64_t)s->speakers[i].n;
    uint64_t total = (U * U - same) / 2;
    uint64_t k = want < total ? want : total;
    if (k == 0)
        return CH_OK;
    rng r;
    rng_seed(&r, seed, NONTARGET_STREAM);
    if (k * 4 >= total) { /* dense: enumerate every cross-speaker pair */
        uint64_t *v = malloc(sizeof *v * (size_t)total);
        if (!v)
            return ch_fail(err, CH_ERR_NOMEM, "trials: out of memory");
        uint64_t c = 0;
        for (uint64_t a = 0; a < U; a++)
            for (uint64_t b = a + 1; b < U; b++)
                if (s->utts[a].spk != s->utts[b].spk)
                    v[c++] = a * U + b;
        partial_shuffle(&r, v, total, k);
        ch_status st = CH_OK;
        for (uint64_t i = 0; i < k && st == CH_OK; i++)
            st = tl_push(l, (int)(v[i] / U), (int)(v[i] % U), 0, err);
        free(v);
        return st;
    }
    pair_set h;
    CH_TRY(pair_set_init(&h, (size_t)k, err));
    ch_status st = CH_OK;
    for (uint64_t got = 0; got < k && st == CH_OK;) {
        uint32_t a = rng_below(&r, (uint32_t)U), b = rng_below(&r, (uint32_t)U);
        if (s->utts[a].spk == s->utts[b].spk)
            continue;
        uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
        if (!pair_set_add(&h, lo * U + hi + 1))
            continue;
        st = tl_push(l, (int)lo, (int)hi, 0, err);
        got++;
    }
    free(h.slot);
    return st;
}

static int cmp_trial(const void *x, const void *y)
{
    const sv_trial *a = x, *b = y;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

ch_status trial_generate(const speaker_set *s, const trial_options *o, sv_trial **out, long *n,
                         long *n_target, ch_error *err)
{
    *out = NULL;
    *n = 0;
    if (n_target)
        *n_target = 0;
    if (o->max_targets_per_spk < 0)
        return ch_fail(err, CH_ERR_USAGE, "trials: max targets per speaker %d is negative",
                       o->max_targets_per_spk);
    if (!(o->nontarget_ratio >= 0) || !isfinite(o->nontarget_ratio))
        return ch_fail(err, CH_ERR_USAGE, "trials: nontarget ratio %g is not >= 0",
                       o->nontarget_ratio);
    if (s->n_speakers == 0)
        return ch_fail(err, CH_ERR_FORMAT, "trials: the speaker set is empty");
    for (int i = 0; i < s->n_speakers; i++)
        if (s->speakers[i].n < 2)
            return ch_fail(err, CH_ERR_FORMAT,
                           "trials: speaker %s has %d utterance; target trials need 2 (drop "
                           "such speakers with --min-utts 2)",
                           s->speakers[i].name, s->speakers[i].n);
    if (o->nontarget_ratio > 0 && s->n_speakers < 2)
        return ch_fail(err, CH_ERR_FORMAT,
                       "trials: nontarget trials need at least 2 speakers, the set has %d",
                       s->n_speakers);
    trial_list l = {0};
    ch_status st = CH_OK;
    for (int i = 0; i < s->n_speakers && st == CH_OK; i++)
        st = speaker_targets(&s->speakers[i], o->max_targets_per_spk, o->seed, &l, err);
    long nt = l.n;
    if (st == CH_OK) {
        double want = floor(o->nontarget_ratio * (double)nt + 0.5);
        uint64_t w = want >= 9e18 ? (uint64_t)9e18 : (uint64_t)want;
        st = nontargets(s, w, o->seed, &l, err);
    }
    if (st != CH_OK) {
        free(l.v);
        return st;
    }
    if (l.n > 1)
        qsort(l.v, (size_t)l.n, sizeof *l.v, cmp_trial);
    *out = l.v;
    *n = l.n;
    if (n_target)
        *n_target = nt;
    return CH_OK;
}

ch_status trial_write(const char *path, const speaker_set *s, const sv_trial *t, long n,
                      int format, ch_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
    for (long i = 0; i < n; i++) {
        const spk_utt *a = &s->utts[t[i].a], *b = &s->utts[t[i].b];
        if (format == TRIAL_FMT_VOXCELEB)
            fprintf(m, "%d %s %s\n", t[i].target ? 1 : 0, a->rel, b->rel);
        else
            fprintf(m, "%s %s %s\n", a->id, b->id, t[i].target ? "target" : "nontarget");
    }
    if (fclose(m) != 0) {
        free(buf);
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
    }
    ch_status st = CH_OK;
    if (!strcmp(path, "-")) {
        if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
            st = ch_fail(err, CH_ERR_IO, "stdout: write failed");
    } else {
        atomic_file a;
        st = atomic_open(&a, path, err);
        if (st == CH_OK) {
            st = atomic_write(&a, buf, len, err);
            if (st == CH_OK)
                st = atomic_commit(&a, err);
            else
                atomic_abort(&a);
        }
    }
    free(buf);
    return st;
}
