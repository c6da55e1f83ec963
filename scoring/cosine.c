/* cosine.c — embedding tables, cosine scores, AS-norm statistics (see cosine.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cosine.h"
#include "frontend/kaldi_io.h"

void emb_table_free(emb_table *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n; i++)
        free(t->keys[i]);
    free(t->keys);
    free(t->v);
    strmap_free(&t->index);
    t->keys = NULL;
    t->v = NULL;
    t->n = 0;
}

static ch_status grow_table(emb_table *t, int *cap, ch_error *err)
{
    int nc = *cap ? 2 * *cap : 1024;
    float *v = realloc(t->v, sizeof(float) * (size_t)nc * (size_t)t->dim);
    if (!v)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory for embeddings", t->spec);
    t->v = v;
    char **k = realloc(t->keys, sizeof(char *) * (size_t)nc);
    if (!k)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory for embeddings", t->spec);
    t->keys = k;
    *cap = nc;
    return CH_OK;
}

static ch_status read_entries(kaldi_reader *r, emb_table *t, ch_error *err)
{
    int cap = 0;
    for (;;) {
        kaldi_entry e;
        bool done;
        CH_TRY(kaldi_reader_next(r, &e, &done, err));
        if (done)
            break;
        if (e.rows != 1)
            return ch_fail(err, CH_ERR_FORMAT, "%s: '%s' is a %dx%d matrix, not an embedding",
                           t->spec, e.key, e.rows, e.cols);
        if (t->n == 0) {
            if (e.cols <= 0)
                return ch_fail(err, CH_ERR_FORMAT, "%s: '%s' is empty", t->spec, e.key);
            t->dim = e.cols;
        } else if (e.cols != t->dim) {
            return ch_fail(err, CH_ERR_FORMAT, "%s: '%s' has dimension %d, expected %d",
                           t->spec, e.key, e.cols, t->dim);
        }
        if (t->n == cap)
            CH_TRY(grow_table(t, &cap, err));
        double ss = 0;
        for (int j = 0; j < t->dim; j++) {
            if (!isfinite(e.data[j]))
                return ch_fail(err, CH_ERR_FORMAT, "%s: '%s' has a non-finite value", t->spec,
                               e.key);
            ss += (double)e.data[j] * e.data[j];
        }
        if (ss == 0)
            return ch_fail(err, CH_ERR_FORMAT, "%s: '%s' is a zero vector (no direction)",
                           t->spec, e.key);
        double inv = 1.0 / sqrt(ss);
        float *row = t->v + (size_t)t->n * (size_t)t->dim;
        for (int j = 0; j < t->dim; j++)
            row[j] = (float)(e.data[j] * inv);
        t->keys[t->n] = strdup(e.key);
        if (!t->keys[t->n])
            return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", t->spec);
        t->n++;
    }
    return CH_OK;
}

ch_status emb_table_read(const char *rspec, emb_table *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->spec, sizeof out->spec, "%s", rspec);
    kaldi_reader *r;
    CH_TRY(kaldi_reader_open(rspec, &r, err));
    ch_status st = read_entries(r, out, err);
    kaldi_reader_close(r);
    if (st != CH_OK)
        return st;
    if (out->n == 0)
        return ch_fail(err, CH_ERR_FORMAT, "%s: no embeddings", rspec);
    CH_TRY(strmap_init(&out->index, (size_t)out->n, err));
    for (int i = 0; i < out->n; i++) {
        int prev;
        CH_TRY(strmap_put(&out->index, out->keys[i], NULL, i, &prev, err));
        if (prev >= 0)
            return ch_fail(err, CH_ERR_FORMAT, "%s: duplicate key '%s'", rspec, out->keys[i]);
    }
    return CH_OK;
}

const char *emb_key(const char *name, bool strip_ext, char *buf, size_t n)
{
    if (!strip_ext)
        return name;
    const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
    if (!dot || (slash && dot < slash) || dot == name || (slash && dot == slash + 1))
        return name;
    size_t len = (size_t)(dot - name);
    if (len + 1 > n)
        return name;
    memcpy(buf, name, len);
    buf[len] = '\0';
    return buf;
}

int emb_find(const emb_table *t, const char *key)
{
    return strmap_get(&t->index, key, NULL);
}

double emb_cosine(const emb_table *a, int i, const emb_table *b, int j)
{
    const float *x = a->v + (size_t)i * (size_t)a->dim, *y = b->v + (size_t)j * (size_t)b->dim;
    double s = 0;
    for (int k = 0; k < a->dim; k++)
        s += (double)x[k] * y[k];
    return s;
}

/* Rearranges v[0..n) so that v[0..k) are the k largest values (in no order). */
static void select_top(float *v, int n, int k)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        /* median of three as pivot: sorted inputs stay O(n) */
        float a = v[lo], b = v[mid], c = v[hi];
        float piv = (a > b) == (a < c) ? a : (b > a) == (b < c) ? b : c;
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] > piv)
                i++;
            while (v[j] < piv)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            return;
    }
}

#define BLOCK 128

ch_status asnorm_stats(const emb_table *emb, const int *idx, int n, const emb_table *cohort,
                       int top_n, double *mean, double *sd, ch_error *err)
{
    if (emb->dim != cohort->dim)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: cohort dimension %d differs from the embeddings' %d", cohort->spec,
                       cohort->dim, emb->dim);
    int C = cohort->n, D = emb->dim;
    int k = top_n < C ? top_n : C;
    float *q = ch_malloc(err, sizeof(float) * BLOCK * (size_t)D, "AS-norm block");
    float *s = ch_malloc(err, sizeof(float) * BLOCK * (size_t)C, "AS-norm scores");
    if (!q || !s) {
        free(q);
        free(s);
        return CH_ERR_NOMEM;
    }
    int bad = -1;
    for (int b0 = 0; b0 < n; b0 += BLOCK) {
        int nb = n - b0 < BLOCK ? n - b0 : BLOCK;
        for (int r = 0; r < nb; r++)
            memcpy(q + (size_t)r * D, emb->v + (size_t)idx[b0 + r] * D, sizeof(float) * D);
        /* s (nb, C) = q (nb, D) . cohort^T (D, C) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, C, D, 1.0f, q, D, cohort->v, D,
                    0.0f, s, C);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < nb; r++) {
            float *row = s + (size_t)r * C;
            select_top(row, C, k);
            double m = 0, v = 0;
            for (int i = 0; i < k; i++)
                m += row[i];
            m /= k;
            for (int i = 0; i < k; i++)
                v += ((double)row[i] - m) * ((double)row[i] - m);
            mean[b0 + r] = m;
            sd[b0 + r] = sqrt(v / k);
        }
        for (int r = 0; r < nb && bad < 0; r++)
            if (!(sd[b0 + r] > 1e-12))
                bad = b0 + r;
        if (bad >= 0)
            break;
    }
    free(q);
    free(s);
    if (bad >= 0)
        return ch_fail(err, CH_ERR_FORMAT,
                       "%s: the top %d cohort scores of '%s' have no spread (sd 0); use a larger "
                       "--top-n or another cohort",
                       cohort->spec, k, emb->keys[idx[bad]]);
    return CH_OK;
}
