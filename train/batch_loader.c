/* batch_loader.c — the threaded prefetching batch loader (batch_loader.h). */
#include "train/batch_loader.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/timer.h"

/* ---- loader ---- */

enum { SLOT_FREE = 0, SLOT_BUSY = 1, SLOT_READY = 2 };

typedef struct {
    float *x;
    int *lengths, *labels;
    int N;
    int batch;      /* batch number of the plan it holds */
    int state;
    ch_status st;
    ch_error err;
} slot;

struct batch_loader {
    batch_source src;
    int n_workers, max_batch, depth;
    pthread_t *th;
    int n_started;
    void **wk;
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    /* plan */
    int64_t epoch;
    int *idx;
    long *start;    /* (n_batches) first index of each batch */
    int *sizes;
    int n_batches;
    int next_fill;  /* next batch to hand to a worker */
    int next_take;  /* next batch the consumer takes */
    int released;   /* batches [0, released) are no longer used by the consumer */
    int n_busy;
    bool stop;
};

typedef struct {
    batch_loader *l;
    int id;
} worker_arg;

static void fill_slot(batch_loader *l, void *w, slot *s, int b)
{
    const batch_source *src = &l->src;
    size_t TF = (size_t)src->T * src->F;
    long st = l->start[b];
    s->N = l->sizes[b];
    s->st = CH_OK;
    for (int j = 0; j < s->N && s->st == CH_OK; j++)
        s->st = src->example(src->ctx, w, l->epoch, l->idx[st + j], s->x + (size_t)j * TF,
                             &s->labels[j], &s->lengths[j], &s->err);
}

static void *worker_main(void *arg)
{
    batch_loader *l = ((worker_arg *)arg)->l;
    int id = ((worker_arg *)arg)->id;
    free(arg);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop &&
               !(l->next_fill < l->n_batches && l->next_fill < l->released + l->depth))
            pthread_cond_wait(&l->cv_work, &l->mu);
        if (l->stop)
            break;
        int b = l->next_fill++;
        slot *s = &l->slots[b % l->depth];
        s->state = SLOT_BUSY;
        s->batch = b;
        l->n_busy++;
        pthread_mutex_unlock(&l->mu);
        fill_slot(l, l->wk[id], s, b);
        pthread_mutex_lock(&l->mu);
        s->state = SLOT_READY;
        l->n_busy--;
        pthread_cond_broadcast(&l->cv_done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

ch_status batch_loader_create(batch_loader **out, const batch_source *src, int n_workers,
                              int max_batch, int depth, ch_error *err)
{
    *out = NULL;
    if (n_workers < 1 || max_batch < 1 || depth < 1)
        return ch_fail(err, CH_ERR_USAGE, "batch loader: bad sizes");
    batch_loader *l = calloc(1, sizeof *l);
    if (!l)
        return ch_fail(err, CH_ERR_NOMEM, "batch loader: out of memory");
    l->src = *src;
    l->n_workers = n_workers;
    l->max_batch = max_batch;
    l->depth = depth;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_done, NULL);
    ch_status st = CH_OK;
    size_t TF = (size_t)src->T * src->F;
    l->slots = calloc((size_t)depth, sizeof *l->slots);
    l->wk = calloc((size_t)n_workers, sizeof *l->wk);
    l->th = calloc((size_t)n_workers, sizeof *l->th);
    if (!l->slots || !l->wk || !l->th)
        st = ch_fail(err, CH_ERR_NOMEM, "batch loader: out of memory");
    for (int i = 0; st == CH_OK && i < depth; i++) {
        slot *s = &l->slots[i];
        s->x = malloc(sizeof(float) * TF * (size_t)max_batch);
        s->lengths = malloc(sizeof(int) * (size_t)max_batch);
        s->labels = malloc(sizeof(int) * (size_t)max_batch);
        if (!s->x || !s->lengths || !s->labels)
            st = ch_fail(err, CH_ERR_NOMEM, "batch loader: out of memory for %d batches of %d",
                         depth, max_batch);
    }
    for (int i = 0; st == CH_OK && i < n_workers; i++)
        st = src->worker_create(src->ctx, &l->wk[i], err);
    for (int i = 0; st == CH_OK && i < n_workers; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) {
            st = ch_fail(err, CH_ERR_NOMEM, "batch loader: out of memory");
            break;
        }
        a->l = l;
        a->id = i;
        if (pthread_create(&l->th[i], NULL, worker_main, a) != 0) {
            free(a);
            st = ch_fail(err, CH_ERR_INTERNAL, "batch loader: cannot start a thread");
            break;
        }
        l->n_started++;
    }
    if (st != CH_OK) {
        batch_loader_free(l);
        return st;
    }
    *out = l;
    return CH_OK;
}

void batch_loader_free(batch_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->n_started; i++)
        pthread_join(l->th[i], NULL);
    if (l->slots)
        for (int i = 0; i < l->depth; i++) {
            free(l->slots[i].x);
            free(l->slots[i].lengths);
            free(l->slots[i].labels);
        }
    if (l->wk)
        for (int i = 0; i < l->n_workers; i++)
            if (l->wk[i])
                l->src.worker_free(l->wk[i]);
    free(l->wk);
    free(l->slots);
    free(l->th);
    free(l->idx);
    free(l->start);
    free(l->sizes);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_done);
    free(l);
}

ch_status batch_loader_start(batch_loader *l, int64_t epoch, const int *idx, const int *sizes,
                             int n_batches, ch_error *err)
{
    long total = 0;
    for (int b = 0; b < n_batches; b++) {
        if (sizes[b] < 1 || sizes[b] > l->max_batch)
            return ch_fail(err, CH_ERR_USAGE, "batch loader: batch of %d (max %d)", sizes[b],
                           l->max_batch);
        total += sizes[b];
    }
    int *ni = malloc(sizeof(int) * (size_t)(total + 1));
    int *ns = malloc(sizeof(int) * (size_t)(n_batches + 1));
    long *nst = malloc(sizeof(long) * (size_t)(n_batches + 1));
    if (!ni || !ns || !nst) {
        free(ni);
        free(ns);
        free(nst);
        return ch_fail(err, CH_ERR_NOMEM, "batch loader: out of memory");
    }
    for (long k = 0; k < total; k++) {
        if (idx[k] < 0 || idx[k] >= l->src.n) {
            free(ni);
            free(ns);
            free(nst);
            return ch_fail(err, CH_ERR_USAGE, "batch loader: example %d out of range", idx[k]);
        }
        ni[k] = idx[k];
    }
    long acc = 0;
    for (int b = 0; b < n_batches; b++) {
        ns[b] = sizes[b];
        nst[b] = acc;
        acc += sizes[b];
    }
    pthread_mutex_lock(&l->mu);
    /* stop handing out batches of the old plan and wait for those being built */
    l->n_batches = 0;
    while (l->n_busy > 0)
        pthread_cond_wait(&l->cv_done, &l->mu);
    free(l->idx);
    free(l->sizes);
    free(l->start);
    l->idx = ni;
    l->sizes = ns;
    l->start = nst;
    l->epoch = epoch;
    l->n_batches = n_batches;
    l->next_fill = l->next_take = l->released = 0;
    for (int i = 0; i < l->depth; i++)
        l->slots[i].state = SLOT_FREE;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    return CH_OK;
}

ch_status batch_loader_next(batch_loader *l, loader_batch *b, double *wait_s, ch_error *err)
{
    double t0 = timer_now();
    pthread_mutex_lock(&l->mu);
    if (l->next_take >= l->n_batches) {
        pthread_mutex_unlock(&l->mu);
        return ch_fail(err, CH_ERR_INTERNAL, "batch loader: no batch left in the plan");
    }
    /* the batch handed out last time is done with */
    l->released = l->next_take;
    pthread_cond_broadcast(&l->cv_work);
    int want = l->next_take;
    slot *s = &l->slots[want % l->depth];
    while (!(s->state == SLOT_READY && s->batch == want))
        pthread_cond_wait(&l->cv_done, &l->mu);
    l->next_take++;
    pthread_mutex_unlock(&l->mu);
    if (wait_s)
        *wait_s = timer_now() - t0;
    if (s->st != CH_OK)
        return ch_fail(err, s->st, "%s", s->err.msg);
    b->N = s->N;
    b->T = l->src.T;
    b->F = l->src.F;
    b->x = s->x;
    b->lengths = s->lengths;
    b->labels = s->labels;
    return CH_OK;
}
