/* cosine.h — embedding tables, cosine scoring and adaptive symmetric score normalisation.
 *
 * Embeddings are read from a Kaldi rspecifier (frontend/kaldi_io.h): float vectors, or 1-row
 * matrices, all of one dimension. They are L2-normalised once at load, so a cosine score is a
 * dot product (accumulated in double).
 *
 * AS-norm (adaptive symmetric normalisation, Matejka et al. 2017; as in WeSpeaker): each side
 * of a trial is scored against every cohort embedding, the top_n highest cohort scores give
 * mu and sd (population sd), and
 *     s' = 0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t).
 * The statistics are computed once per distinct embedding (a cohort sgemm in blocks).
 */
#ifndef CHORUS_COSINE_H
#define CHORUS_COSINE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "scoring/strmap.h"

typedef struct {
    int n, dim;
    float *v;    /* (n, dim), each row L2-normalised */
    char **keys; /* n owned strings */
    strmap index;
    char spec[4096];
} emb_table;

/* Reads every entry of rspec. Errors (naming rspec and the key): no entries, mixed dimensions,
 * a matrix with more than one row, non-finite values, a zero vector, duplicate keys.
 * Free with emb_table_free (also after a failure). */
ch_status emb_table_read(const char *rspec, emb_table *out, ch_error *err);
void emb_table_free(emb_table *t);

/* The embedding key of a trial-list name: the name itself, or with strip_ext the name without
 * its extension (the last '.' after the last '/': "id1/a/00001.wav" -> "id1/a/00001").
 * Returns buf (or name when unchanged). */
const char *emb_key(const char *name, bool strip_ext, char *buf, size_t n);

/* Row of a key, or -1. */
int emb_find(const emb_table *t, const char *key);

/* Cosine score of rows i of a and j of b (same dimension). */
double emb_cosine(const emb_table *a, int i, const emb_table *b, int j);

/* AS-norm statistics of rows idx[0..n) of emb against the cohort: mean[k], sd[k] of the top_n
 * highest cohort scores (top_n is clamped to the cohort size). Fails (CH_ERR_FORMAT) if the
 * dimensions differ or some sd is 0. Uses OpenMP threads. */
ch_status asnorm_stats(const emb_table *emb, const int *idx, int n, const emb_table *cohort,
                       int top_n, double *mean, double *sd, ch_error *err);

/* 0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t) */
static inline double asnorm_apply(double s, double mu_e, double sd_e, double mu_t, double sd_t)
{
    return 0.5 * ((s - mu_e) / sd_e + (s - mu_t) / sd_t);
}

#endif
