/* trials.c — trial lists and score files (see trials.h). Files are read whole and tokenised in
 * place: the entries point into one buffer that the list owns. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "trials.h"

#define MAX_TOK 4

/* Splits the next line of buf at *pos into at most MAX_TOK whitespace-separated tokens,
 * NUL-terminating them in place. Returns the number of tokens (MAX_TOK means "too many"), or
 * -1 at the end of the buffer. */
static int next_line(char *buf, size_t n, size_t *pos, char **tok)
{
    if (*pos >= n)
        return -1;
    char *p = buf + *pos;
    char *end = memchr(p, '\n', n - *pos);
    if (!end)
        end = buf + n;
    *pos = (size_t)(end - buf) + 1;
    *end = '\0';
    int k = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\v' || *p == '\f')
            p++;
        if (!*p)
            break;
        if (k == MAX_TOK)
            return MAX_TOK;
        tok[k++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\v' && *p != '\f')
            p++;
        if (*p)
            *p++ = '\0';
    }
    return k;
}

/* Lines in the buffer, an upper bound for the number of entries. */
static int count_lines(const char *buf, size_t n)
{
    size_t c = 1;
    for (size_t i = 0; i < n; i++)
        c += buf[i] == '\n';
    return c > (size_t)1 << 30 ? -1 : (int)c;
}

static ch_status read_text(const char *path, char **buf, size_t *n, ch_error *err)
{
    CH_TRY(file_read_all(path, buf, n, err));
    if (memchr(*buf, '\0', *n)) {
        free(*buf);
        *buf = NULL;
        return ch_fail(err, CH_ERR_FORMAT, "%s: binary data in a text file", path);
    }
    return CH_OK;
}

const char *trials_format_name(trials_format f)
{
    switch (f) {
    case TRIALS_KALDI: return "Kaldi";
    case TRIALS_VOXCELEB: return "VoxCeleb";
    case TRIALS_PAIRS: return "pairs";
    }
    return "?";
}

void trials_free(trial_list *l)
{
    if (!l)
        return;
    free(l->t);
    free(l->storage_);
    strmap_free(&l->index);
    l->t = NULL;
    l->storage_ = NULL;
    l->n = 0;
}

static ch_status add_trial(trial_list *l, const char *e, const char *t, int label, int line,
                           const char *what, ch_error *err)
{
    int prev;
    CH_TRY(strmap_put(&l->index, e, t, l->n, &prev, err));
    if (prev >= 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s:%d: duplicate %s '%s %s' (first at line %d)",
                       l->path, line, what, e, t, l->t[prev].line);
    l->t[l->n++] = (trial){e, t, label, line};
    return CH_OK;
}

ch_status trials_read(const char *path, bool need_labels, trial_list *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    size_t n;
    CH_TRY(read_text(path, &out->storage_, &n, err));
    int cap = count_lines(out->storage_, n);
    if (cap < 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: too many lines", path);
    out->t = ch_malloc(err, sizeof *out->t * (size_t)cap, "trials");
    if (!out->t)
        return CH_ERR_NOMEM;
    CH_TRY(strmap_init(&out->index, (size_t)cap, err));
    size_t pos = 0;
    int line = 0, k;
    bool have_format = false;
    char *tok[MAX_TOK];
    while ((k = next_line(out->storage_, n, &pos, tok)) >= 0) {
        line++;
        if (k == 0)
            continue;
        trials_format f;
        int label;
        const char *e, *t;
        if (k == 2) {
            if (need_labels)
                return ch_fail(err, CH_ERR_FORMAT,
                               "%s:%d: no label (expected 'enroll test target|nontarget' or "
                               "'1|0 enroll test')",
                               path, line);
            f = TRIALS_PAIRS;
            label = TRIAL_UNLABELLED;
            e = tok[0];
            t = tok[1];
        } else if (k == 3) {
            if (!strcmp(tok[2], "target") || !strcmp(tok[2], "nontarget")) {
                f = TRIALS_KALDI;
                label = tok[2][0] == 't' ? TRIAL_TARGET : TRIAL_NONTARGET;
                e = tok[0];
                t = tok[1];
            } else if (!strcmp(tok[0], "1") || !strcmp(tok[0], "0")) {
                f = TRIALS_VOXCELEB;
                label = tok[0][0] == '1' ? TRIAL_TARGET : TRIAL_NONTARGET;
                e = tok[1];
                t = tok[2];
            } else if (have_format && out->format == TRIALS_VOXCELEB) {
                return ch_fail(err, CH_ERR_FORMAT,
                               "%s:%d: unknown label '%s' (VoxCeleb trials: 1 or 0 first)",
                               path, line, tok[0]);
            } else {
                return ch_fail(err, CH_ERR_FORMAT,
                               "%s:%d: unknown label '%s' (expected target or nontarget, or a "
                               "VoxCeleb line '1|0 a.wav b.wav')",
                               path, line, tok[2]);
            }
        } else {
            return ch_fail(err, CH_ERR_FORMAT,
                           "%s:%d: expected 3 fields ('utt1 utt2 target|nontarget' or "
                           "'1|0 a.wav b.wav'), got %s",
                           path, line, k > 3 ? "more" : "1");
        }
        if (!have_format) {
            out->format = f;
            have_format = true;
        } else if (f != out->format) {
            return ch_fail(err, CH_ERR_FORMAT, "%s:%d: %s trial line in a %s trial list", path,
                           line, trials_format_name(f), trials_format_name(out->format));
        }
        CH_TRY(add_trial(out, e, t, label, line, "trial", err));
    }
    if (out->n == 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: no trials", path);
    return CH_OK;
}

void scores_free(score_list *l)
{
    if (!l)
        return;
    free(l->s);
    free(l->storage_);
    l->s = NULL;
    l->storage_ = NULL;
    l->n = 0;
}

ch_status scores_read(const char *path, score_list *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", path);
    size_t n;
    CH_TRY(read_text(path, &out->storage_, &n, err));
    int cap = count_lines(out->storage_, n);
    if (cap < 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: too many lines", path);
    out->s = ch_malloc(err, sizeof *out->s * (size_t)cap, "scores");
    if (!out->s)
        return CH_ERR_NOMEM;
    size_t pos = 0;
    int line = 0, k;
    char *tok[MAX_TOK];
    while ((k = next_line(out->storage_, n, &pos, tok)) >= 0) {
        line++;
        if (k == 0)
            continue;
        if (k != 3)
            return ch_fail(err, CH_ERR_FORMAT,
                           "%s:%d: expected 'enroll test score', got %s field%s", path, line,
                           k > 3 ? "more than 3" : k == 1 ? "1" : "2", k == 1 ? "" : "s");
        char *end;
        errno = 0;
        double v = strtod(tok[2], &end);
        if (*end || end == tok[2] || !isfinite(v))
            return ch_fail(err, CH_ERR_FORMAT, "%s:%d: score '%s' is not a finite number", path,
                           line, tok[2]);
        out->s[out->n++] = (score_entry){tok[0], tok[1], v, line};
    }
    if (out->n == 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: no scores", path);
    return CH_OK;
}

ch_status trials_from_scores(const score_list *sl, trial_list *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->path, sizeof out->path, "%s", sl->path);
    out->format = TRIALS_PAIRS;
    out->from_scores = true;
    out->t = ch_malloc(err, sizeof *out->t * (size_t)(sl->n ? sl->n : 1), "trials");
    if (!out->t)
        return CH_ERR_NOMEM;
    CH_TRY(strmap_init(&out->index, (size_t)sl->n, err));
    for (int i = 0; i < sl->n; i++)
        CH_TRY(add_trial(out, sl->s[i].enroll, sl->s[i].test, TRIAL_UNLABELLED, sl->s[i].line,
                         "score for", err));
    return CH_OK;
}

ch_status scores_match(const trial_list *tl, const score_list *sl, bool allow_missing,
                       double *score, bool *has, int *n_missing, int *n_extra, ch_error *err)
{
    int *src = ch_malloc(err, sizeof *src * (size_t)(tl->n ? tl->n : 1), "score index");
    if (!src)
        return CH_ERR_NOMEM;
    for (int i = 0; i < tl->n; i++)
        src[i] = -1;
    int extra = 0, missing = 0;
    ch_status st = CH_OK;
    for (int j = 0; j < sl->n && st == CH_OK; j++) {
        const score_entry *s = &sl->s[j];
        int i = strmap_get(&tl->index, s->enroll, s->test);
        if (i < 0) {
            if (!allow_missing && tl->from_scores)
                st = ch_fail(err, CH_ERR_FORMAT,
                             "%s:%d: trial '%s %s' is not in %s (all score files must cover the "
                             "same trials)",
                             sl->path, s->line, s->enroll, s->test, tl->path);
            else if (!allow_missing)
                st = ch_fail(err, CH_ERR_FORMAT, "%s:%d: score for '%s %s' has no trial in %s",
                             sl->path, s->line, s->enroll, s->test, tl->path);
            extra++;
        } else if (src[i] >= 0) {
            st = ch_fail(err, CH_ERR_FORMAT, "%s:%d: duplicate score for '%s %s' (first at line %d)",
                         sl->path, s->line, s->enroll, s->test, sl->s[src[i]].line);
        } else {
            src[i] = j;
        }
    }
    for (int i = 0; i < tl->n && st == CH_OK; i++) {
        has[i] = src[i] >= 0;
        score[i] = has[i] ? sl->s[src[i]].score : 0.0;
        if (!has[i]) {
            if (!allow_missing)
                st = ch_fail(err, CH_ERR_FORMAT, "%s: no score for trial '%s %s' (%s:%d)%s",
                             sl->path, tl->t[i].enroll, tl->t[i].test, tl->path, tl->t[i].line,
                             tl->from_scores ? "; all score files must cover the same trials"
                                             : "");
            missing++;
        }
    }
    free(src);
    if (n_missing)
        *n_missing = missing;
    if (n_extra)
        *n_extra = extra;
    return st;
}
