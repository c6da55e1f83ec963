/* fileio.h — whole-file reads and atomic writes.
 *
 * Every file chorus writes that a later run depends on (checkpoints, state, fusion models) is
 * written through atomic_file: data goes to "<path>.tmp.<pid>" in the same directory, is
 * fsync'ed, renamed over <path>, and the directory is fsync'ed, so a reader sees either the old
 * complete file or the new complete file, never a torn one, even if the process is killed.
 */
#ifndef CHORUS_FILEIO_H
#define CHORUS_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

typedef struct {
    FILE *f;
    char path[4096];
    char tmp[4096 + 32];
    uint32_t crc;      /* CRC-32 of everything written so far */
    uint64_t written;  /* bytes written so far */
} atomic_file;

ch_status atomic_open(atomic_file *a, const char *path, ch_error *err);
/* Appends n bytes and updates a->crc / a->written. */
ch_status atomic_write(atomic_file *a, const void *buf, size_t n, ch_error *err);
/* Overwrites bytes at offset (e.g. a header patched after the payload); does not update crc. */
ch_status atomic_pwrite(atomic_file *a, uint64_t offset, const void *buf, size_t n,
                        ch_error *err);
/* Flushes, fsyncs, renames into place and fsyncs the directory. Closes in every case. */
ch_status atomic_commit(atomic_file *a, ch_error *err);
/* Closes and removes the temp file (after an error). Safe to call twice. */
void atomic_abort(atomic_file *a);

/* Reads a whole file. *data is malloc'ed, owned by the caller, with one extra NUL byte after
 * the content (so text can be parsed in place). CH_ERR_IO if missing/unreadable. */
ch_status file_read_all(const char *path, char **data, size_t *n, ch_error *err);

/* Creates a directory and its parents (like mkdir -p). */
ch_status dir_create(const char *path, ch_error *err);

/* 1 if path exists (any type). */
int path_exists(const char *path);

#endif
