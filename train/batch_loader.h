/* batch_loader.h — a threaded prefetching loader of training batches, for any example source
 * (kws-train's clips, sv-train's speaker chunks).
 *
 * The trainer plans an epoch as a list of batches (sizes[b] example indices each, in order);
 * n_workers threads build them `depth` batches ahead into fixed slots while the model trains on
 * the current one. Each example is built by the source's `example` callback with the worker's
 * own scratch, and must depend only on (epoch, index) and the source's seed — never on which
 * thread builds it or when — so a run is bit-identical whatever the thread count and timing.
 * Nothing is allocated per batch: slots and workers are made once at create.
 */
#ifndef CHORUS_BATCH_LOADER_H
#define CHORUS_BATCH_LOADER_H

#include <stdint.h>

#include "common/status.h"

/* Where examples come from. Every example is (T, F) floats with a label and a valid length. */
typedef struct {
    void *ctx;
    int n;        /* examples: valid indices are [0, n) */
    int T, F;
    /* per-thread scratch (made once per worker thread; free takes what create made) */
    ch_status (*worker_create)(void *ctx, void **w, ch_error *err);
    void (*worker_free)(void *w);
    /* Example i of `epoch` into x (T * F floats), its label and valid frames (1..T). */
    ch_status (*example)(void *ctx, void *w, int64_t epoch, int i, float *x, int *label,
                         int *length, ch_error *err);
} batch_source;

typedef struct {
    int N, T, F;
    const float *x;       /* (N, T, F) */
    const int *lengths;   /* (N) */
    const int *labels;    /* (N) */
} loader_batch;

typedef struct batch_loader batch_loader;

/* n_workers threads (>= 1), batches up to max_batch examples, `depth` batches in flight. The
 * source is copied (its ctx must outlive the loader). */
ch_status batch_loader_create(batch_loader **out, const batch_source *src, int n_workers,
                              int max_batch, int depth, ch_error *err);
/* Stops the workers and frees everything (NULL ok). */
void batch_loader_free(batch_loader *l);
/* A new plan: n_batches batches of sizes[b] examples taken in order from idx (copied), all of
 * epoch `epoch`. Any batches of the previous plan not yet consumed are dropped. */
ch_status batch_loader_start(batch_loader *l, int64_t epoch, const int *idx, const int *sizes,
                             int n_batches, ch_error *err);
/* The next batch of the plan (blocks until built). Valid until the next call. *wait_s (may be
 * NULL) receives the seconds spent waiting. An example's error comes back here. */
ch_status batch_loader_next(batch_loader *l, loader_batch *b, double *wait_s, ch_error *err);

#endif
