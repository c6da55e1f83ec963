/* model.c — the model registry: kind name -> create function, the generic hparams keys
 * (in-bins, out-dim, head-classes), freeing, and recreating a model from a checkpoint. */
#include "models/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/kws_densenet.h"
#include "models/sv_resnet.h"
#include "models/sv_tdnn.h"

typedef ch_status (*kind_create_fn)(nn_model *m, const char *lines, rng *init, ch_error *err);

typedef struct {
    const char *name;
    kind_create_fn create;
} kind_entry;

static const kind_entry kinds[] = {
    {"densenet-bilstm", kws_densenet_create},
    {"tdnn", sv_tdnn_create},
    {"resnet", sv_resnet_create},
};

static const char *const kind_names[] = {"densenet-bilstm", "tdnn", "resnet", NULL};

const char *const *nn_model_kinds(void) { return kind_names; }

void nn_model_free(nn_model *m)
{
    if (!m)
        return;
    if (m->ops && m->ops->destroy)
        m->ops->destroy(m);
    params_free(m->p);
    free(m->buffers);
    free(m->hparams);
    free(m);
}

static ch_status append(char **buf, const char *s, ch_error *err)
{
    size_t a = *buf ? strlen(*buf) : 0, b = strlen(s);
    char *n = realloc(*buf, a + b + 1);
    if (!n)
        return ch_fail(err, CH_ERR_NOMEM, "model: out of memory for hparams");
    memcpy(n + a, s, b + 1);
    *buf = n;
    return CH_OK;
}

ch_status nn_hparams_append(char **buf, const opt_group *g, ch_error *err)
{
    for (size_t i = 0; i < g->n; i++) {
        char val[512], line[640];
        opt_format_value(&g->descs[i], g->target, val, sizeof val);
        snprintf(line, sizeof line, "%s=%s\n", g->descs[i].name, val);
        CH_TRY(append(buf, line, err));
    }
    return CH_OK;
}

ch_status nn_hparams_apply(const char *kind, const char *lines, const opt_group *g,
                           ch_error *err)
{
    const char *p = lines ? lines : "";
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[512];
        if (len >= sizeof line)
            return ch_fail(err, CH_ERR_USAGE, "%s: hyper-parameter line too long", kind);
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (e ? 1 : 0);
        char *eq = strchr(line, '=');
        if (!eq)
            return ch_fail(err, CH_ERR_USAGE, "%s: hyper-parameter '%s' is not key=value", kind,
                           line);
        *eq = 0;
        if (opt_set(g, 1, line, eq + 1, err) != CH_OK)
            return ch_wrap(err, CH_ERR_USAGE, "%s: hyper-parameter", kind);
    }
    return CH_OK;
}

/* Splits hparams on newlines and commas, trims blanks, drops empty lines and # comments;
 * pulls out in-bins, out-dim and head-classes. *lines: the rest, "key=value\n" each (owner caller). */
static ch_status normalise(const char *hp, char **lines, int *in_bins, int *out_dim,
                           int *head_classes, const char *kind, ch_error *err)
{
    *lines = NULL;
    CH_TRY(append(lines, "", err));
    const char *p = hp ? hp : "";
    while (*p) {
        size_t len = strcspn(p, "\n,");
        char item[512];
        if (len >= sizeof item) {
            free(*lines);
            *lines = NULL;
            return ch_fail(err, CH_ERR_USAGE, "%s: hyper-parameter too long", kind);
        }
        memcpy(item, p, len);
        item[len] = 0;
        p += len + (p[len] ? 1 : 0);
        char *s = item, *t = item + len;
        while (*s == ' ' || *s == '\t' || *s == '\r')
            s++;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r'))
            *--t = 0;
        if (!*s || *s == '#')
            continue;
        while (*s == '-')
            s++;
        /* "key = value" -> "key=value" */
        char *eq = strchr(s, '=');
        if (eq) {
            char *a = eq, *b = eq + 1;
            while (a > s && (a[-1] == ' ' || a[-1] == '\t'))
                a--;
            while (*b == ' ' || *b == '\t')
                b++;
            *a = '=';
            memmove(a + 1, b, strlen(b) + 1);
        }
        /* the generic keys: name length, destination, smallest value */
        static const struct {
            const char *key;
            size_t len;
            int min;
        } generic[] = {{"in-bins=", 8, 1}, {"out-dim=", 8, 1}, {"head-classes=", 13, 0}};
        int *const dsts[] = {in_bins, out_dim, head_classes};
        int gi = -1;
        for (int g = 0; g < 3; g++)
            if (strncmp(s, generic[g].key, generic[g].len) == 0)
                gi = g;
        if (gi >= 0) {
            int *dst = dsts[gi];
            const char *val = s + generic[gi].len;
            int klen = (int)generic[gi].len - 1;
            char *end;
            long v = strtol(val, &end, 10);
            if (end == val || *end || v < generic[gi].min || v > 1000000) {
                free(*lines);
                *lines = NULL;
                return ch_fail(err, CH_ERR_USAGE, "%s: hyper-parameter %.*s: '%s' is not a "
                               "%s integer", kind, klen, s, val,
                               generic[gi].min ? "positive" : "non-negative");
            }
            if (*dst > 0 && *dst != (int)v) {
                free(*lines);
                *lines = NULL;
                return ch_fail(err, CH_ERR_USAGE, "%s: hyper-parameters say %.*s %ld, the "
                               "caller %d", kind, klen, s, v, *dst);
            }
            *dst = (int)v;
            continue;
        }
        ch_status st = append(lines, s, err);
        if (st == CH_OK)
            st = append(lines, "\n", err);
        if (st != CH_OK) {
            free(*lines);
            *lines = NULL;
            return st;
        }
    }
    return CH_OK;
}

/* The training head (head-classes > 0): "head.weight" (classes, out_dim), group "head",
 * Xavier-uniform (WeSpeaker's init), after every parameter of the kind, so the kind's own
 * offsets are untouched and its forward/backward never see it. */
static ch_status add_head(nn_model *m, int classes, rng *init, ch_error *err)
{
    param_spec head = {"head.weight", 2, {classes, m->out_dim, 0, 0}, "head",
                       PARAM_INIT_XAVIER_UNIFORM, 0, 0};
    size_t off = m->p->n;
    CH_TRY(params_extend(&m->p, &head, 1, init, err));
    m->head_classes = classes;
    m->head_offset = off;
    char line[64];
    snprintf(line, sizeof line, "head-classes=%d\n", classes);
    return append(&m->hparams, line, err);
}

ch_status nn_model_create(nn_model **out, const char *kind, const char *hparams, int in_bins,
                          int out_dim, rng *init, ch_error *err)
{
    *out = NULL;
    const kind_entry *k = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kind && strcmp(kinds[i].name, kind) == 0)
            k = &kinds[i];
    if (!k)
        return ch_fail(err, CH_ERR_USAGE,
                       "model: unknown kind '%s' (known: densenet-bilstm, tdnn, resnet)",
                       kind ? kind : "(null)");
    char *lines;
    int ib = in_bins > 0 ? in_bins : 0, od = out_dim > 0 ? out_dim : 0, hc = 0;
    CH_TRY(normalise(hparams, &lines, &ib, &od, &hc, k->name, err));
    if (od == 0) {
        free(lines);
        return ch_fail(err, CH_ERR_USAGE, "%s: out-dim not given (caller or hparams)", k->name);
    }
    nn_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(lines);
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", k->name);
    }
    snprintf(m->kind, sizeof m->kind, "%s", k->name);
    m->in_bins = ib; /* 0: the kind's default */
    m->out_dim = od;
    ch_status st = k->create(m, lines, init, err);
    free(lines);
    if (st == CH_OK && hc > 0)
        st = add_head(m, hc, init, err);
    if (st != CH_OK) {
        nn_model_free(m);
        return st;
    }
    *out = m;
    return CH_OK;
}

ch_status nn_model_from_checkpoint(nn_model **out, const ckpt_model *ck, ch_error *err)
{
    *out = NULL;
    rng r;
    rng_seed(&r, 0, 0); /* the init is overwritten by the checkpoint's params */
    nn_model *m;
    ch_status st = nn_model_create(&m, ck->kind, ck->hparams, 0, 0, &r, err);
    if (st != CH_OK)
        return ch_wrap(err, CH_ERR_FORMAT, "checkpoint");
    if ((uint64_t)m->p->n != ck->n_params || (uint64_t)m->n_buffers != ck->n_buffers) {
        ch_fail(err, CH_ERR_FORMAT, "checkpoint: %s model has %zu parameters and %zu buffers, "
                "the checkpoint %llu and %llu", m->kind, m->p->n, m->n_buffers,
                (unsigned long long)ck->n_params, (unsigned long long)ck->n_buffers);
        nn_model_free(m);
        return CH_ERR_FORMAT;
    }
    memcpy(m->p->data, ck->params, sizeof(float) * m->p->n);
    if (m->n_buffers)
        memcpy(m->buffers, ck->buffers, sizeof(float) * m->n_buffers);
    *out = m;
    return CH_OK;
}
