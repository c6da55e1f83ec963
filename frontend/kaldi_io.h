/* kaldi_io.h — Kaldi tables: scp lists, ark archives (binary and text) of float matrices and
 * vectors, read and written so that Kaldi's copy-feats/copy-vector and kaldi_io (Python) read
 * ours and we read theirs.
 *
 * Specifiers follow Kaldi:
 *   rspecifier: "scp:feats.scp", "ark:feats.ark", "ark:-" (stdin), "ark,t:x.txt",
 *               "ark:gunzip -c f.ark.gz |" (a command's stdout; a non-zero exit is an error)
 *               (",t" is accepted but the format is detected from the data, like Kaldi;
 *               Kaldi's o, s, cs, p, bg options are accepted and ignored)
 *   wspecifier: "ark:f.ark", "ark,t:f.txt", "ark:-", "ark,t:-", "ark,scp:f.ark,f.scp",
 *               "scp,ark:..." is rejected (Kaldi's order is ark,scp)
 * Binary matrix: "key " "\0B" "FM " (int32 size prefix 4, rows) (4, cols) then rows*cols float32;
 * vector: "FV " (4, dim) floats. Double ("DM"/"DV") are read and converted to float.
 * scp lines point into arks as "key path:byte_offset" (offset of the "\0B").
 * Errors name the file, and the key or byte offset where reading stopped.
 */
#ifndef CHORUS_KALDI_IO_H
#define CHORUS_KALDI_IO_H

#include <stdbool.h>

#include "common/status.h"

/* One "key value" line of a script file (wav.scp, feats.scp, utt2spk, ...). */
typedef struct {
    char *key;
    char *value;  /* rest of the line after the first run of whitespace, trimmed */
} scp_entry;

typedef struct {
    scp_entry *entries;
    int n;
    char *storage_; /* owns all strings */
} scp_list;

/* Reads a script file. Rejects (CH_ERR_FORMAT, "<path>:<line>: <problem>") lines with no
 * value, duplicate keys, and binary content. Empty files give n = 0. Free with scp_list_free. */
ch_status scp_list_read(const char *path, scp_list *out, ch_error *err);
void scp_list_free(scp_list *l);

typedef struct {
    const char *key;   /* valid until the next kaldi_reader_next */
    const float *data; /* rows * cols floats, row-major; valid until the next call */
    int rows;
    int cols;
    bool is_vector;    /* a vector is returned as rows = 1 */
} kaldi_entry;

typedef struct kaldi_reader kaldi_reader;
/* Opens an rspecifier. CH_ERR_USAGE for a malformed specifier, CH_ERR_IO for a missing file,
 * CH_ERR_FORMAT for a malformed scp (see scp_list_read). Close with kaldi_reader_close. */
ch_status kaldi_reader_open(const char *rspecifier, kaldi_reader **out, ch_error *err);
/* Next entry; *done = true after the last one. Compressed matrices (CM*) give
 * CH_ERR_UNSUPPORTED, truncated or corrupt data CH_ERR_FORMAT naming the file, key and byte. */
ch_status kaldi_reader_next(kaldi_reader *r, kaldi_entry *e, bool *done, ch_error *err);
void kaldi_reader_close(kaldi_reader *r);

typedef struct kaldi_writer kaldi_writer;
/* Opens a wspecifier. The ark is written to a temp file renamed into place at close (stdout
 * for "-"); keys must be non-empty without whitespace (CH_ERR_USAGE). Text arks print numbers
 * with 7 significant digits, as Kaldi does. */
ch_status kaldi_writer_open(const char *wspecifier, kaldi_writer **out, ch_error *err);
ch_status kaldi_write_matrix(kaldi_writer *w, const char *key, const float *data, int rows,
                             int cols, ch_error *err);
ch_status kaldi_write_vector(kaldi_writer *w, const char *key, const float *data, int dim,
                             ch_error *err);
/* Flushes and closes (ark renamed into place, then the scp written atomically). After a failed
 * write nothing is renamed into place and the error is returned. Always frees w; NULL is ok. */
ch_status kaldi_writer_close(kaldi_writer *w, ch_error *err);

#endif
