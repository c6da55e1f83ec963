/* arena.h — the activation arena: one allocation sized up front, carved per step, reset per
 * step; nothing is allocated while training.
 *
 * Two passes over the same carving code: a planning arena (arena_planner(): no memory) counts
 * the aligned sizes the model's step would take — arena_alloc returns NULL there — then
 * arena_create allocates that total, and each step does arena_reset + the same arena_alloc
 * sequence, getting the same offsets every step. Every block is 64-byte aligned (AVX-512 lines).
 * Exceeding the capacity returns NULL (a planning bug); arena_overflowed reports it.
 */
#ifndef CHORUS_ARENA_H
#define CHORUS_ARENA_H

#include <stddef.h>

#include "common/status.h"

typedef struct {
    char *base;       /* NULL while planning; owned otherwise */
    size_t cap;       /* bytes */
    size_t used;      /* bytes carved since the last reset */
    size_t peak;      /* largest `used` seen */
    int overflow;     /* set when an allocation did not fit */
} arena;

/* A planning arena: no memory, arena_alloc only counts. */
arena arena_planner(void);
/* Allocates an arena of `bytes` (e.g. a planner's peak). Owner: caller (arena_destroy). */
ch_status arena_create(arena *a, size_t bytes, ch_error *err);
void arena_destroy(arena *a);
/* Forget every block (start of a step). */
void arena_reset(arena *a);
/* n floats, 64-byte aligned, uninitialised; NULL while planning or on overflow. */
float *arena_alloc(arena *a, size_t n);
/* n floats, zeroed (NULL while planning or on overflow). */
float *arena_calloc(arena *a, size_t n);
/* 1 if any allocation since creation did not fit. */
int arena_overflowed(const arena *a);

#endif
