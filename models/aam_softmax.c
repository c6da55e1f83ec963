/* aam_softmax.c — additive angular margin softmax (see aam_softmax.h). */
#include "models/aam_softmax.h"

#include <math.h>
#include <stdlib.h>

#include <cblas.h>

#define AAM_NORM_EPS 1e-12 /* F.normalize's eps */

/* Workspace layout: en (N, D), wn (K, D), dwn (K, D), cos (N, K), g (N, K), inv norms (N + K). */
size_t aam_softmax_workspace_floats(const aam_dims *d)
{
    size_t N = (size_t)d->N, K = (size_t)d->K, D = (size_t)d->D;
    return N * D + 2 * K * D + 2 * N * K + N + K;
}

/* out[r] = x[r] / max(|x[r]|, eps) for rows r of (R, D); inv[r] = 1 / max(|x[r]|, eps). */
static void normalise_rows(float *out, float *inv, const float *x, int R, int D)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * D;
        double ss = 0.0;
        for (int j = 0; j < D; j++)
            ss += (double)xr[j] * xr[j];
        double iv = 1.0 / fmax(sqrt(ss), AAM_NORM_EPS);
        inv[r] = (float)iv;
        for (int j = 0; j < D; j++)
            out[(size_t)r * D + j] = (float)(xr[j] * iv);
    }
}

/* Backward of normalise_rows: dx[r] (=, or += when acc) = (dy - y <y, dy>) * inv, and when the
 * norm was clamped at eps (x ~ 0) simply dy * inv, as torch's x / clamp_min(|x|, eps) gives. */
static void normalise_rows_backward(float *dx, const float *dy, const float *y, const float *inv,
                                    const float *x, int R, int D, int acc)
{
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const float *yr = y + (size_t)r * D, *gr = dy + (size_t)r * D, *xr = x + (size_t)r * D;
        double dot = 0.0, ss = 0.0;
        for (int j = 0; j < D; j++) {
            dot += (double)yr[j] * gr[j];
            ss += (double)xr[j] * xr[j];
        }
        if (sqrt(ss) < AAM_NORM_EPS)
            dot = 0.0;
        float *o = dx + (size_t)r * D;
        for (int j = 0; j < D; j++) {
            float v = (float)((gr[j] - yr[j] * dot) * inv[r]);
            o[j] = acc ? o[j] + v : v;
        }
    }
}

double aam_softmax_forward_backward(float *logits, float *demb, float *dw, const float *emb,
                                    const float *w, const int *labels, const aam_dims *d,
                                    float *ws)
{
    const int N = d->N, K = d->K, D = d->D;
    float *en = ws, *wn = en + (size_t)N * D, *dwn = wn + (size_t)K * D;
    float *cosv = dwn + (size_t)K * D, *g = cosv + (size_t)N * K;
    float *inv_e = g + (size_t)N * K, *inv_w = inv_e + N;
    const double s = d->scale, m = d->margin;
    const double cos_m = cos(m), sin_m = sin(m), th = cos(M_PI - m), mmm = 1.0 + cos(M_PI - m);

    normalise_rows(en, inv_e, emb, N, D);
    normalise_rows(wn, inv_w, w, K, D);
    /* cos: (N, K) = en (N, D) x wn^T (D, K) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, K, D, 1.0f, en, D, wn, D, 0.0f, cosv,
                K);

    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (int n = 0; n < N; n++) {
        const float *c = cosv + (size_t)n * K;
        float *z = g + (size_t)n * K; /* logits first, then overwritten by d loss / d cos */
        const int y = labels[n];
        const double cy = c[y];
        const double sine = sqrt(fmin(fmax(1.0 - cy * cy, 0.0), 1.0));
        double phi, dphi; /* target's modified cosine and d phi / d cos */
        int use_phi = d->easy_margin ? cy > 0.0 : cy > th;
        if (use_phi) {
            phi = cy * cos_m - sine * sin_m;
            dphi = cos_m + (sine > 0.0 ? sin_m * cy / sine : 0.0);
        } else {
            phi = d->easy_margin ? cy : cy - mmm;
            dphi = 1.0;
        }
        double mx = -INFINITY;
        for (int k = 0; k < K; k++) {
            z[k] = (float)(s * (k == y ? phi : (double)c[k]));
            if (z[k] > mx)
                mx = z[k];
        }
        if (logits)
            for (int k = 0; k < K; k++)
                logits[(size_t)n * K + k] = z[k];
        double se = 0.0;
        for (int k = 0; k < K; k++)
            se += exp((double)z[k] - mx);
        double lse = mx + log(se);
        total += lse - z[y];
        /* d loss / d logit = (softmax - onehot) / N; d logit / d cos = s (target: s dphi) */
        for (int k = 0; k < K; k++) {
            double p = exp((double)z[k] - lse);
            double dz = (p - (k == y ? 1.0 : 0.0)) / N;
            z[k] = (float)(s * dz * (k == y ? dphi : 1.0));
        }
    }

    if (demb) {
        float *den = demb; /* d loss / d en: (N, D) = g (N, K) x wn (K, D), then projected */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, K, 1.0f, g, K, wn, D, 0.0f,
                    den, D);
        normalise_rows_backward(demb, den, en, inv_e, emb, N, D, 0);
    }
    if (dw) {
        /* d loss / d wn: (K, D) = g^T (K, N) x en (N, D) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, D, N, 1.0f, g, K, en, D, 0.0f,
                    dwn, D);
        normalise_rows_backward(dw, dwn, wn, inv_w, w, K, D, 1);
    }
    return total / N;
}

float aam_margin_warmup(long step, long start, long end, float margin)
{
    if (end <= start || step >= end)
        return margin;
    if (step <= start)
        return 0.0f;
    return (float)((double)margin * (double)(step - start) / (double)(end - start));
}

ch_status aam_head_create(aam_head **out, int n_classes, int emb_dim, rng *r, ch_error *err)
{
    *out = NULL;
    if (n_classes < 1 || emb_dim < 1)
        return ch_fail(err, CH_ERR_USAGE, "aam_softmax: bad head size %d x %d", n_classes,
                       emb_dim);
    param_spec spec = {.name = "head.weight", .ndim = 2, .shape = {n_classes, emb_dim},
                       .group = "head", .init = PARAM_INIT_XAVIER_UNIFORM};
    aam_head *h = calloc(1, sizeof *h);
    if (!h)
        return ch_fail(err, CH_ERR_NOMEM, "aam_softmax: out of memory");
    ch_status st = params_create(&h->p, &spec, 1, err);
    if (st != CH_OK) {
        free(h);
        return st;
    }
    params_init(h->p, r);
    h->w = h->p->data;
    h->dw = h->p->grad;
    h->K = n_classes;
    h->D = emb_dim;
    *out = h;
    return CH_OK;
}

void aam_head_free(aam_head *h)
{
    if (!h)
        return;
    params_free(h->p);
    free(h);
}
