/* model_util.c — step memory and create helpers shared by the model kinds (see model_util.h). */
#include "models/model_util.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int max_int(int a, int b) { return a > b ? a : b; }

ch_status nn_step_mem_reserve(nn_step_mem *s, const nn_step_layout *l, void *impl,
                              const nn_backend *be, int N, int T, ch_error *err)
{
    int th = omp_get_max_threads();
    if (N < 1 || T < 1)
        return ch_fail(err, CH_ERR_USAGE, "%s: reserve for N=%d T=%d", l->kind, N, T);
    if (s->ar.base && N <= s->cap.N && T <= s->cap.T && th <= s->cap.threads)
        return CH_OK;
    nn_step_cap cap = {max_int(N, s->cap.N), max_int(T, s->cap.T), max_int(th, s->cap.threads),
                       0};
    cap.lens = max_int(cap.N, s->cap.lens);
    arena plan = arena_planner();
    l->carve(impl, be, &plan, cap.N, cap.T);
    /* never shrinks: room another entry point reserved (a stream carving) stays */
    size_t bytes = plan.peak > s->ar.cap ? plan.peak : s->ar.cap;
    return nn_step_mem_grow(s, l, bytes, cap, err);
}

ch_status nn_step_mem_grow(nn_step_mem *s, const nn_step_layout *l, size_t bytes, nn_step_cap cap,
                           ch_error *err)
{
    nn_step_mem_free(s);
    s->generation++;
    CH_TRY(arena_create(&s->ar, bytes, err));
    if (l->zero)
        memset(s->ar.base, 0, s->ar.cap);
    for (int i = 0; i < l->n_lens; i++) {
        s->lens[i] = malloc(sizeof(int) * (size_t)cap.lens);
        if (!s->lens[i])
            return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory for lengths", l->kind);
    }
    s->cap = cap;
    return CH_OK;
}

void nn_step_mem_clamp_threads(const nn_step_mem *s)
{
    if (omp_get_max_threads() > s->cap.threads)
        omp_set_num_threads(s->cap.threads);
}

void nn_step_mem_begin(nn_step_mem *s)
{
    nn_step_mem_clamp_threads(s);
    arena_reset(&s->ar);
}

void nn_step_mem_free(nn_step_mem *s)
{
    arena_destroy(&s->ar);
    for (int i = 0; i < NN_STEP_MAX_LENS; i++) {
        free(s->lens[i]);
        s->lens[i] = NULL;
    }
    memset(&s->cap, 0, sizeof s->cap);
}

void nn_step_impl_destroy(nn_model *m)
{
    nn_step_mem *s = m->impl; /* the impl's first member */
    if (!s)
        return;
    nn_step_mem_free(s);
    free(m->impl);
    m->impl = NULL;
}

ch_status nn_model_alloc_buffers(nn_model *m, size_t n, const char *kind, ch_error *err)
{
    m->buffers = calloc(n, sizeof(float));
    if (!m->buffers)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory for buffers", kind);
    m->n_buffers = n;
    return CH_OK;
}

ch_status nn_model_write_hparams(nn_model *m, const opt_group *grp, const char *kind,
                                 ch_error *err)
{
    char head[96];
    snprintf(head, sizeof head, "in-bins=%d\nout-dim=%d\n", m->in_bins, m->out_dim);
    m->hparams = malloc(strlen(head) + 1);
    if (!m->hparams)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", kind);
    memcpy(m->hparams, head, strlen(head) + 1);
    return nn_hparams_append(&m->hparams, grp, err);
}
