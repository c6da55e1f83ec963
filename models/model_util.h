/* model_util.h — bookkeeping the model kinds (models/sv_tdnn.c, sv_resnet.c, kws_densenet.c)
 * share, so each keeps only what is its own: the step memory (activation arena + per-sample
 * lengths arrays, grown on demand, never per step) and the two allocations every create ends
 * with (running-statistics buffers, the resolved hparams text).
 *
 * Step memory: ops->reserve(N, T) plans the kind's carving for the union of what it held and
 * what is asked (each of N, T and the OpenMP thread count only grows, so a smaller batch after a
 * bigger one never reallocates), then replaces the arena and the lengths arrays in one go. Each
 * forward starts with nn_step_mem_begin: the thread count is clamped to the one the workspaces
 * were sized for, and the arena is reset so the same carving yields the same blocks.
 */
#ifndef CHORUS_MODEL_UTIL_H
#define CHORUS_MODEL_UTIL_H

#include <stddef.h>

#include "common/options.h"
#include "common/status.h"
#include "models/arena.h"
#include "models/backend.h"
#include "models/model.h"

#define NN_STEP_MAX_LENS 5

/* What the step memory was sized for (0 everywhere while empty). */
typedef struct {
    int N, T;       /* batch and frames the arena holds a full step of */
    int threads;    /* OpenMP threads its workspaces were sized for */
    int lens;       /* ints in each lengths array (>= N) */
} nn_step_cap;

/* Zero-initialised (calloc'ed with the kind's impl) is the valid empty state. */
typedef struct {
    arena ar;
    nn_step_cap cap;
    int *lens[NN_STEP_MAX_LENS];  /* the kind's n_lens arrays of cap.lens ints; the rest NULL */
    unsigned generation;          /* bumped whenever the memory is replaced: whatever a forward
                                   * saved in it (for backward) is gone */
} nn_step_mem;

/* Carves one step of (N, T) from a (the kind's own carve function, impl = its state). */
typedef void (*nn_carve_fn)(void *impl, const nn_backend *be, arena *a, int N, int T);

/* A kind's fixed step-memory layout. */
typedef struct {
    const char *kind;   /* names the kind in error messages */
    nn_carve_fn carve;
    int n_lens;         /* lengths arrays it keeps (1..NN_STEP_MAX_LENS) */
    int zero;           /* 1: zero the arena when allocated (every float then initialised, pages
                         * touched at reserve rather than in the first step) */
} nn_step_layout;

/* ops->reserve for a kind whose step is one carving: CH_OK at once when (N, T) and the current
 * thread count fit; otherwise carves a planning arena for the grown capacity and replaces the
 * memory (nn_step_mem_grow). The arena never shrinks. Errors: N or T < 1 (CH_ERR_USAGE,
 * "<kind>: reserve for N=.. T=.."), out of memory (s is then left empty). */
ch_status nn_step_mem_reserve(nn_step_mem *s, const nn_step_layout *l, void *impl,
                              const nn_backend *be, int N, int T, ch_error *err);

/* Frees s's memory and allocates an arena of `bytes` (zeroed when l->zero) and l->n_lens
 * lengths arrays of cap.lens ints, recording cap. On error s is left empty (every capacity 0,
 * so the next reserve retries) and the message is arena_create's or "<kind>: out of memory for
 * lengths". */
ch_status nn_step_mem_grow(nn_step_mem *s, const nn_step_layout *l, size_t bytes, nn_step_cap cap,
                           ch_error *err);

/* Caps the OpenMP thread count at the one the workspaces were sized for (more would overrun
 * them). Every entry point that runs layers calls it (nn_step_mem_begin does). */
void nn_step_mem_clamp_threads(const nn_step_mem *s);

/* Start of a forward: nn_step_mem_clamp_threads, then the arena reset for the step's carving. */
void nn_step_mem_begin(nn_step_mem *s);

/* Frees the arena and the lengths arrays; s is left empty. */
void nn_step_mem_free(nn_step_mem *s);

/* ops->destroy for a kind whose impl is one malloc'ed struct with its nn_step_mem as the FIRST
 * member (so m->impl points at it): frees the step memory and the impl; m->impl = NULL. */
void nn_step_impl_destroy(nn_model *m);

/* m->buffers = n zeroed floats (the kind's running statistics), m->n_buffers = n. Error:
 * "<kind>: out of memory for buffers". */
ch_status nn_model_alloc_buffers(nn_model *m, size_t n, const char *kind, ch_error *err);

/* m->hparams = "in-bins=<m->in_bins>\nout-dim=<m->out_dim>\n" followed by every key of grp
 * (nn_hparams_append): the text that recreates the model. Error: "<kind>: out of memory". */
ch_status nn_model_write_hparams(nn_model *m, const opt_group *grp, const char *kind,
                                 ch_error *err);

#endif
