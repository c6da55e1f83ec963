/* params.c — the contiguous parameter buffer and its named views (see params.h). */
#include "models/params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void *alloc_aligned(size_t n_floats)
{
    size_t bytes = (n_floats * sizeof(float) + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p)
        memset(p, 0, bytes ? bytes : 64);
    return p;
}

void params_free(params *p)
{
    if (!p)
        return;
    free(p->data);
    free(p->grad);
    free(p->views);
    free(p->groups);
    free(p);
}

ch_status params_create(params **out, const param_spec *table, int count, ch_error *err)
{
    *out = NULL;
    if (count <= 0)
        return ch_fail(err, CH_ERR_USAGE, "params: empty parameter table");
    params *p = ch_calloc(err, 1, sizeof *p, "params");
    if (!p)
        return CH_ERR_NOMEM;
    p->views = ch_calloc(err, (size_t)count, sizeof *p->views, "params views");
    p->groups = ch_calloc(err, (size_t)count, sizeof *p->groups, "params groups");
    if (!p->views || !p->groups) {
        params_free(p);
        return CH_ERR_NOMEM;
    }
    size_t off = 0;
    for (int i = 0; i < count; i++) {
        const param_spec *s = &table[i];
        param_view *v = &p->views[i];
        const char *group = s->group ? s->group : "";
        if (!s->name || strlen(s->name) >= PARAM_NAME_MAX || strlen(group) >= PARAM_NAME_MAX ||
            s->ndim < 1 || s->ndim > PARAM_MAX_DIMS) {
            params_free(p);
            return ch_fail(err, CH_ERR_USAGE, "params: entry %d: bad name, group or ndim", i);
        }
        size_t c = 1;
        for (int k = 0; k < s->ndim; k++) {
            if (s->shape[k] <= 0) {
                params_free(p);
                return ch_fail(err, CH_ERR_USAGE, "params: %s: dimension %d is %d", s->name, k,
                               s->shape[k]);
            }
            c *= (size_t)s->shape[k];
        }
        for (int j = 0; j < i; j++)
            if (strcmp(p->views[j].name, s->name) == 0) {
                params_free(p);
                return ch_fail(err, CH_ERR_USAGE, "params: duplicate name %s", s->name);
            }
        strcpy(v->name, s->name);
        strcpy(v->group, group);
        v->ndim = s->ndim;
        memcpy(v->shape, s->shape, sizeof v->shape);
        v->offset = off;
        v->count = c;
        v->init = s->init;
        v->fan_in = s->fan_in;
        v->scale = s->scale;
        off += c;
        /* groups: extend the current run or start a new one (never reopen an old one) */
        param_group *last = p->ngroups ? &p->groups[p->ngroups - 1] : NULL;
        if (last && strcmp(last->name, group) == 0) {
            last->count += c;
        } else {
            for (int g = 0; g < p->ngroups; g++)
                if (strcmp(p->groups[g].name, group) == 0) {
                    params_free(p);
                    return ch_fail(err, CH_ERR_USAGE,
                                   "params: group %s is not contiguous (entry %s)", group,
                                   s->name);
                }
            param_group *g = &p->groups[p->ngroups++];
            strcpy(g->name, group);
            g->offset = v->offset;
            g->count = c;
        }
    }
    p->nviews = count;
    p->n = off;
    p->data = alloc_aligned(off);
    p->grad = alloc_aligned(off);
    if (!p->data || !p->grad) {
        params_free(p);
        return ch_fail(err, CH_ERR_NOMEM, "params: cannot allocate %zu floats", off);
    }
    *out = p;
    return CH_OK;
}

ch_status params_extend(params **p, const param_spec *extra, int count, rng *r, ch_error *err)
{
    params *old = *p, *tail = NULL, *np = NULL;
    CH_TRY(params_create(&tail, extra, count, err));
    params_init(tail, r);
    int n = old->nviews + count;
    param_spec *spec = ch_calloc(err, (size_t)n, sizeof *spec, "params");
    if (!spec) {
        params_free(tail);
        return CH_ERR_NOMEM;
    }
    for (int i = 0; i < old->nviews; i++) {
        const param_view *v = &old->views[i];
        spec[i] = (param_spec){v->name, v->ndim, {0}, v->group, v->init, v->fan_in, v->scale};
        memcpy(spec[i].shape, v->shape, sizeof spec[i].shape);
    }
    memcpy(spec + old->nviews, extra, sizeof *spec * (size_t)count);
    ch_status st = params_create(&np, spec, n, err);
    free(spec);
    if (st == CH_OK) {
        memcpy(np->data, old->data, sizeof(float) * old->n);
        memcpy(np->grad, old->grad, sizeof(float) * old->n);
        memcpy(np->data + old->n, tail->data, sizeof(float) * tail->n);
        params_free(old);
        *p = np;
    }
    params_free(tail);
    return st;
}

/* fan_in / fan_out as torch's _calculate_fan_in_and_fan_out: dims 0 and 1 times the receptive
 * field (the product of the remaining dims); 1-d tensors use their length for both. */
static void fans(const param_view *v, double *fan_in, double *fan_out)
{
    if (v->ndim < 2) {
        *fan_in = *fan_out = v->shape[0];
        return;
    }
    double rf = 1;
    for (int k = 2; k < v->ndim; k++)
        rf *= v->shape[k];
    *fan_in = v->shape[1] * rf;
    *fan_out = v->shape[0] * rf;
}

static void fill_uniform(float *a, size_t n, double bound, rng *r)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
}

void params_init(params *p, rng *r)
{
    for (int i = 0; i < p->nviews; i++) {
        const param_view *v = &p->views[i];
        float *a = p->data + v->offset;
        double fi, fo;
        fans(v, &fi, &fo);
        switch (v->init) {
        case PARAM_INIT_ZEROS:
            memset(a, 0, sizeof(float) * v->count);
            break;
        case PARAM_INIT_ONES:
            for (size_t k = 0; k < v->count; k++)
                a[k] = 1.0f;
            break;
        case PARAM_INIT_TORCH_WEIGHT:
            fill_uniform(a, v->count, 1.0 / sqrt(fi), r);
            break;
        case PARAM_INIT_TORCH_BIAS:
            fill_uniform(a, v->count, v->fan_in > 0 ? 1.0 / sqrt((double)v->fan_in) : 0.0, r);
            break;
        case PARAM_INIT_XAVIER_UNIFORM:
            fill_uniform(a, v->count, sqrt(6.0 / (fi + fo)), r);
            break;
        case PARAM_INIT_KAIMING_NORMAL: {
            double sd = sqrt(2.0 / fi);
            for (size_t k = 0; k < v->count; k++)
                a[k] = (float)(sd * rng_normal(r));
            break;
        }
        case PARAM_INIT_UNIFORM:
            fill_uniform(a, v->count, v->scale, r);
            break;
        }
    }
}

void params_zero_grad(params *p) { memset(p->grad, 0, sizeof(float) * p->n); }

const param_view *params_find(const params *p, const char *name)
{
    for (int i = 0; i < p->nviews; i++)
        if (strcmp(p->views[i].name, name) == 0)
            return &p->views[i];
    return NULL;
}

float *params_data(const params *p, const char *name)
{
    const param_view *v = params_find(p, name);
    return v ? p->data + v->offset : NULL;
}

float *params_grad(const params *p, const char *name)
{
    const param_view *v = params_find(p, name);
    return v ? p->grad + v->offset : NULL;
}

const param_group *params_find_group(const params *p, const char *name)
{
    for (int g = 0; g < p->ngroups; g++)
        if (strcmp(p->groups[g].name, name) == 0)
            return &p->groups[g];
    return NULL;
}
