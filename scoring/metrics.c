/* metrics.c — EER, minDCF, actDCF, Cllr, minCllr (definitions in metrics.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

typedef struct {
    double s;
    int is_tar;
} lab_score;

static int by_score_desc(const void *pa, const void *pb)
{
    double a = ((const lab_score *)pa)->s, b = ((const lab_score *)pb)->s;
    return (a < b) - (a > b);
}

static int by_score_asc(const void *pa, const void *pb)
{
    return -by_score_desc(pa, pb);
}

static lab_score *pool(const double *tar, int n_tar, const double *non, int n_non,
                       int (*cmp)(const void *, const void *), ch_error *err)
{
    size_t n = (size_t)n_tar + (size_t)n_non;
    lab_score *v = ch_malloc(err, sizeof *v * (n ? n : 1), "scores");
    if (!v)
        return NULL;
    for (int i = 0; i < n_tar; i++)
        v[i] = (lab_score){tar[i], 1};
    for (int i = 0; i < n_non; i++)
        v[(size_t)n_tar + (size_t)i] = (lab_score){non[i], 0};
    qsort(v, n, sizeof *v, cmp);
    return v;
}

void roc_free(roc_points *r)
{
    if (!r)
        return;
    free(r->thr);
    free(r->p_miss);
    free(r->p_fa);
    memset(r, 0, sizeof *r);
}

ch_status roc_compute(const double *tar, int n_tar, const double *non, int n_non,
                      roc_points *out, ch_error *err)
{
    memset(out, 0, sizeof *out);
    if (n_tar <= 0)
        return ch_fail(err, CH_ERR_FORMAT, "no target trials");
    if (n_non <= 0)
        return ch_fail(err, CH_ERR_FORMAT, "no non-target trials");
    lab_score *v = pool(tar, n_tar, non, n_non, by_score_desc, err);
    if (!v)
        return CH_ERR_NOMEM;
    size_t n = (size_t)n_tar + (size_t)n_non;
    out->thr = ch_malloc(err, sizeof(double) * (n + 1), "ROC");
    out->p_miss = ch_malloc(err, sizeof(double) * (n + 1), "ROC");
    out->p_fa = ch_malloc(err, sizeof(double) * (n + 1), "ROC");
    if (!out->thr || !out->p_miss || !out->p_fa) {
        free(v);
        roc_free(out);
        return CH_ERR_NOMEM;
    }
    /* Walk the thresholds from high to low; counts are exact integers, divided once. */
    long acc_t = 0, acc_n = 0;
    int k = 0;
    out->thr[k] = INFINITY;
    out->p_miss[k] = 1.0;
    out->p_fa[k] = 0.0;
    k++;
    for (size_t i = 0; i < n;) {
        double t = v[i].s;
        while (i < n && v[i].s == t) {
            acc_t += v[i].is_tar;
            acc_n += !v[i].is_tar;
            i++;
        }
        out->thr[k] = t;
        out->p_miss[k] = (double)(n_tar - acc_t) / n_tar;
        out->p_fa[k] = (double)acc_n / n_non;
        k++;
    }
    out->n = k;
    free(v);
    return CH_OK;
}

double roc_eer(const roc_points *r)
{
    for (int i = 1; i < r->n; i++) {
        double d1 = r->p_miss[i] - r->p_fa[i];
        if (d1 > 0)
            continue;
        if (d1 == 0)
            return r->p_fa[i];
        double d0 = r->p_miss[i - 1] - r->p_fa[i - 1]; /* > 0 */
        double t = d0 / (d0 - d1);
        return r->p_fa[i - 1] + t * (r->p_fa[i] - r->p_fa[i - 1]);
    }
    return 0.5; /* unreachable: the last point has p_miss 0, p_fa 1 */
}

double roc_min_dcf(const roc_points *r, double p, int *best)
{
    double norm = p < 1 - p ? p : 1 - p, min = INFINITY;
    int bi = 0;
    for (int i = 0; i < r->n; i++) {
        double c = (p * r->p_miss[i] + (1 - p) * r->p_fa[i]) / norm;
        if (c < min) {
            min = c;
            bi = i;
        }
    }
    if (best)
        *best = bi;
    return min;
}

double act_dcf(const double *tar, int n_tar, const double *non, int n_non, double p)
{
    double thr = log((1 - p) / p);
    long miss = 0, fa = 0;
    for (int i = 0; i < n_tar; i++)
        miss += tar[i] < thr;
    for (int i = 0; i < n_non; i++)
        fa += non[i] >= thr;
    double norm = p < 1 - p ? p : 1 - p;
    return (p * (double)miss / n_tar + (1 - p) * (double)fa / n_non) / norm;
}

/* log(1 + e^x) without overflow or loss of precision for large |x|. */
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

double cllr(const double *tar, int n_tar, const double *non, int n_non)
{
    double st = 0, sn = 0;
    for (int i = 0; i < n_tar; i++)
        st += softplus(-tar[i]);
    for (int i = 0; i < n_non; i++)
        sn += softplus(non[i]);
    return (st / n_tar + sn / n_non) / (2 * log(2.0));
}

ch_status min_cllr(const double *tar, int n_tar, const double *non, int n_non, double *out,
                   ch_error *err)
{
    if (n_tar <= 0 || n_non <= 0)
        return ch_fail(err, CH_ERR_FORMAT, "no %s trials", n_tar <= 0 ? "target" : "non-target");
    lab_score *v = pool(tar, n_tar, non, n_non, by_score_asc, err);
    size_t n = (size_t)n_tar + (size_t)n_non;
    /* PAV blocks (a stack): targets, count; a tie group enters as one weighted point, so tied
     * scores always share one calibrated value. */
    double *bt = ch_malloc(err, sizeof(double) * n, "PAV");
    double *bw = ch_malloc(err, sizeof(double) * n, "PAV");
    if (!v || !bt || !bw) {
        free(v);
        free(bt);
        free(bw);
        return CH_ERR_NOMEM;
    }
    size_t nb = 0;
    for (size_t i = 0; i < n;) {
        double s = v[i].s, t = 0, w = 0;
        while (i < n && v[i].s == s) {
            t += v[i].is_tar;
            w += 1;
            i++;
        }
        bt[nb] = t;
        bw[nb] = w;
        nb++;
        /* merge while the previous block's target rate exceeds this one's (cross-multiplied,
         * exact in double for counts below 2^26) */
        while (nb > 1 && bt[nb - 2] * bw[nb - 1] > bt[nb - 1] * bw[nb - 2]) {
            bt[nb - 2] += bt[nb - 1];
            bw[nb - 2] += bw[nb - 1];
            nb--;
        }
    }
    /* cost of a target with posterior q: ln(1 + e^-llr), e^-llr = (1-q)/q * pi/(1-pi), where
     * pi = n_tar/n is the prior the PAV posteriors carry; non-targets symmetric. */
    double prior_odds = (double)n_tar / n_non;
    double ct = 0, cn = 0;
    for (size_t b = 0; b < nb; b++) {
        double t = bt[b], nn = bw[b] - bt[b];
        if (t > 0)
            ct += t * log1p((nn / t) * prior_odds);
        if (nn > 0)
            cn += nn * log1p((t / nn) / prior_odds);
    }
    *out = (ct / n_tar + cn / n_non) / (2 * log(2.0));
    free(v);
    free(bt);
    free(bw);
    return CH_OK;
}

ch_status sv_metrics_compute(const double *tar, int n_tar, const double *non, int n_non,
                             sv_metrics *m, roc_points *roc, ch_error *err)
{
    roc_points r;
    CH_TRY(roc_compute(tar, n_tar, non, n_non, &r, err));
    m->n_target = n_tar;
    m->n_nontarget = n_non;
    m->eer = roc_eer(&r);
    m->min_dcf_p01 = roc_min_dcf(&r, 0.01, NULL);
    m->min_dcf_p05 = roc_min_dcf(&r, 0.05, NULL);
    m->act_dcf_p01 = act_dcf(tar, n_tar, non, n_non, 0.01);
    m->cllr = cllr(tar, n_tar, non, n_non);
    ch_status st = min_cllr(tar, n_tar, non, n_non, &m->min_cllr, err);
    if (st != CH_OK || !roc)
        roc_free(&r);
    else
        *roc = r;
    return st;
}
