/* strmap.c — open-addressing string map (see strmap.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

static uint64_t hash_pair(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    if (b) {
        h = (h ^ 0x1f) * 1099511628211ULL; /* separator: ("ab","c") != ("a","bc") */
        for (const unsigned char *p = (const unsigned char *)b; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
    }
    /* murmur3 fmix64: FNV-1a's low bits alone cluster for keys that differ in their tails */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static int key_eq(const strmap_slot *s, const char *a, const char *b)
{
    if (strcmp(s->a, a) != 0)
        return 0;
    if (!s->b || !b)
        return s->b == b;
    return strcmp(s->b, b) == 0;
}

ch_status strmap_init(strmap *m, size_t expect, ch_error *err)
{
    size_t cap = 16;
    while (cap < 2 * expect + 2)
        cap *= 2;
    m->slots = ch_calloc(err, cap, sizeof *m->slots, "hash map");
    if (!m->slots)
        return CH_ERR_NOMEM;
    m->cap = cap;
    m->n = 0;
    return CH_OK;
}

void strmap_free(strmap *m)
{
    if (!m)
        return;
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static strmap_slot *find_slot(strmap_slot *slots, size_t cap, uint64_t h, const char *a,
                              const char *b)
{
    size_t i = (size_t)h & (cap - 1);
    while (slots[i].a && (slots[i].hash != h || !key_eq(&slots[i], a, b)))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static ch_status grow(strmap *m, ch_error *err)
{
    size_t cap = m->cap * 2;
    strmap_slot *s = ch_calloc(err, cap, sizeof *s, "hash map");
    if (!s)
        return CH_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].a)
            *find_slot(s, cap, m->slots[i].hash, m->slots[i].a, m->slots[i].b) = m->slots[i];
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return CH_OK;
}

ch_status strmap_put(strmap *m, const char *a, const char *b, int value, int *existing,
                     ch_error *err)
{
    if (existing)
        *existing = -1;
    if (2 * (m->n + 1) > m->cap)
        CH_TRY(grow(m, err));
    uint64_t h = hash_pair(a, b);
    strmap_slot *s = find_slot(m->slots, m->cap, h, a, b);
    if (s->a) {
        if (existing)
            *existing = s->value;
        return CH_OK;
    }
    s->a = a;
    s->b = b;
    s->hash = h;
    s->value = value;
    m->n++;
    return CH_OK;
}

int strmap_get(const strmap *m, const char *a, const char *b)
{
    if (!m->cap)
        return -1;
    const strmap_slot *s = find_slot(m->slots, m->cap, hash_pair(a, b), a, b);
    return s->a ? s->value : -1;
}
