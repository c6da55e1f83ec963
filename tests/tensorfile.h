/* tensorfile.h — reader of the reference dumps written by tests/ref/_tensorfile.py (header-only,
 * for the C tests).
 *
 * Format, little-endian: 8-byte magic "CHTENSOR", uint32 count, then `count` records of
 * uint32 name_len, name bytes (no NUL), uint32 ndim, ndim x int64 dims, float32 data in C order.
 * The whole file is read into memory by tf_load; tf_get returns pointers into it, valid until
 * tf_free. Malformed or truncated files are rejected with a message on stderr.
 */
#ifndef CHORUS_TENSORFILE_H
#define CHORUS_TENSORFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;          /* NUL-terminated copy */
    int ndim;
    int64_t dims[8];
    size_t numel;
    float *data;
} tf_tensor;

typedef struct {
    int count;
    tf_tensor *t;
    unsigned char *buf;  /* the file's bytes; data pointers point into it (realigned copies) */
} tf_file;

/* Frees everything tf_load returned; NULL is fine. */
static inline void tf_free(tf_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->count; i++) {
        free(f->t[i].name);
        free(f->t[i].data);
    }
    free(f->t);
    free(f->buf);
    free(f);
}

/* Loads a dump; returns NULL and prints "<path>: <problem>" to stderr on error. Owner: caller
 * (tf_free). */
static inline tf_file *tf_load(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "%s: cannot open\n", path);
        return NULL;
    }
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    tf_file *f = calloc(1, sizeof *f);
    f->buf = malloc(len > 0 ? (size_t)len : 1);
    if (len < 12 || fread(f->buf, 1, (size_t)len, fp) != (size_t)len) {
        fclose(fp);
        fprintf(stderr, "%s: too short or unreadable\n", path);
        tf_free(f);
        return NULL;
    }
    fclose(fp);
    const unsigned char *p = f->buf, *end = f->buf + len;
    if (memcmp(p, "CHTENSOR", 8) != 0) {
        fprintf(stderr, "%s: bad magic (not a CHTENSOR file)\n", path);
        tf_free(f);
        return NULL;
    }
    p += 8;
    uint32_t count;
    memcpy(&count, p, 4);
    p += 4;
    if (count > 100000) {
        fprintf(stderr, "%s: implausible tensor count %u\n", path, count);
        tf_free(f);
        return NULL;
    }
    f->t = calloc(count ? count : 1, sizeof(tf_tensor));
    for (uint32_t i = 0; i < count; i++) {
        tf_tensor *t = &f->t[i];
        uint32_t nl, nd;
        if (end - p < 4)
            goto truncated;
        memcpy(&nl, p, 4);
        p += 4;
        if ((size_t)(end - p) < (size_t)nl + 4)
            goto truncated;
        t->name = malloc(nl + 1);
        memcpy(t->name, p, nl);
        t->name[nl] = 0;
        p += nl;
        f->count = (int)i + 1;
        memcpy(&nd, p, 4);
        p += 4;
        if (nd > 8 || (size_t)(end - p) < 8 * (size_t)nd)
            goto truncated;
        t->ndim = (int)nd;
        t->numel = 1;
        for (uint32_t k = 0; k < nd; k++) {
            memcpy(&t->dims[k], p, 8);
            p += 8;
            if (t->dims[k] < 0)
                goto truncated;
            t->numel *= (size_t)t->dims[k];
        }
        if ((size_t)(end - p) < 4 * t->numel)
            goto truncated;
        t->data = malloc(4 * (t->numel ? t->numel : 1));
        memcpy(t->data, p, 4 * t->numel);
        p += 4 * t->numel;
    }
    f->count = (int)count;
    return f;
truncated:
    fprintf(stderr, "%s: truncated or malformed record\n", path);
    tf_free(f);
    return NULL;
}

/* Data of tensor `name` (NULL if absent); *dims / *ndim set when those pointers are not NULL. */
static inline const float *tf_get(const tf_file *f, const char *name, const int64_t **dims,
                                  int *ndim)
{
    for (int i = 0; i < f->count; i++) {
        if (strcmp(f->t[i].name, name) == 0) {
            if (dims)
                *dims = f->t[i].dims;
            if (ndim)
                *ndim = f->t[i].ndim;
            return f->t[i].data;
        }
    }
    return NULL;
}

/* Number of elements of tensor `name` (0 if absent). */
static inline size_t tf_numel(const tf_file *f, const char *name)
{
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return f->t[i].numel;
    return 0;
}

#endif
