/* arena.c — bump allocator for activations (see arena.h). */
#include "models/arena.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64

arena arena_planner(void)
{
    arena a = {0};
    return a;
}

ch_status arena_create(arena *a, size_t bytes, ch_error *err)
{
    memset(a, 0, sizeof *a);
    size_t cap = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    a->base = aligned_alloc(ARENA_ALIGN, cap ? cap : ARENA_ALIGN);
    if (!a->base)
        return ch_fail(err, CH_ERR_NOMEM, "arena: cannot allocate %zu bytes", cap);
    a->cap = cap;
    return CH_OK;
}

void arena_destroy(arena *a)
{
    free(a->base);
    memset(a, 0, sizeof *a);
}

void arena_reset(arena *a) { a->used = 0; }

float *arena_alloc(arena *a, size_t n)
{
    size_t bytes = (n * sizeof(float) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    size_t at = a->used;
    a->used += bytes;
    if (a->used > a->peak)
        a->peak = a->used;
    if (!a->base)
        return NULL;
    if (a->used > a->cap) {
        a->overflow = 1;
        return NULL;
    }
    return (float *)(a->base + at);
}

float *arena_calloc(arena *a, size_t n)
{
    float *p = arena_alloc(a, n);
    if (p)
        memset(p, 0, n * sizeof(float));
    return p;
}

int arena_overflowed(const arena *a) { return a->overflow; }
