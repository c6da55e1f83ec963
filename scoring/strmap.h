/* strmap.h — a string -> int hash map for scoring (embedding keys, trial pairs).
 *
 * Open addressing with linear probing, FNV-1a hashing with a 64-bit finaliser (murmur3's
 * fmix64, so the low bits used as the index are well mixed), doubling at 50% load. The map stores
 * the key pointers it is given, not copies: the caller keeps every key alive (and unchanged)
 * for as long as the map is used. Pair keys (enroll, test) are hashed as one key without
 * building a joined string, so a scores file of millions of lines needs no extra allocation.
 */
#ifndef CHORUS_STRMAP_H
#define CHORUS_STRMAP_H

#include <stddef.h>

#include "common/status.h"

typedef struct {
    const char *a, *b; /* key; b is NULL for single-string keys */
    unsigned long long hash; /* of the key: compared before the strings */
    int value;
} strmap_slot;

typedef struct {
    strmap_slot *slots; /* cap entries, a == NULL for empty */
    size_t cap, n;
} strmap;

/* Creates an empty map sized for about expect entries. */
ch_status strmap_init(strmap *m, size_t expect, ch_error *err);
void strmap_free(strmap *m);

/* Inserts (a, b) -> value. b may be NULL (single key). If the key is already present, nothing
 * is inserted and *existing (if not NULL) receives the stored value; otherwise *existing = -1.
 * CH_ERR_NOMEM if growing fails. */
ch_status strmap_put(strmap *m, const char *a, const char *b, int value, int *existing,
                     ch_error *err);

/* The value of (a, b), or -1 if absent. */
int strmap_get(const strmap *m, const char *a, const char *b);

#endif
