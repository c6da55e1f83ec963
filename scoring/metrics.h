/* metrics.h — speaker-verification metrics from target and non-target scores.
 *
 * Definitions (the tests check them against scikit-learn / NumPy in tests/ref/scoring_ref.py):
 * - ROC/DET points: one per distinct score value t, accepting every score >= t (tied scores are
 *   decided together, as any real threshold must), plus the reject-all point (P_fa 0, P_miss 1)
 *   — exactly the points of sklearn.metrics.roc_curve(drop_intermediate=False).
 * - EER: where the ROC polyline (points joined by straight segments) crosses P_miss = P_fa;
 *   equal to the usual `brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)` on sklearn's
 *   roc_curve. All-equal scores give 0.5; perfectly separated scores 0.
 * - minDCF(p): min over the ROC points of (p P_miss + (1-p) P_fa) / min(p, 1-p), C_miss = C_fa
 *   = 1 (the NIST SRE normalised DCF); at most 1 (the reject-all or accept-all point).
 * - actDCF(p): the same cost at the Bayes threshold for scores read as natural-log likelihood
 *   ratios: accept iff score >= log((1-p)/p) (BOSARIS's convention for equality).
 * - Cllr: (mean_tar log2(1 + e^-s) + mean_non log2(1 + e^s)) / 2, scores as LLRs.
 * - minCllr: Cllr after the optimal monotonic calibration, i.e. PAV (pool adjacent violators)
 *   on the labels sorted by score, tied scores pooled, posteriors turned into LLRs by removing
 *   the empirical prior log-odds (BOSARIS opt_loglr). minCllr <= Cllr always.
 * All sums are in double. At least one target and one non-target score are required.
 */
#ifndef CHORUS_METRICS_H
#define CHORUS_METRICS_H

#include "common/status.h"

typedef struct {
    double *thr;    /* thr[i]: accept scores >= thr[i]; thr[0] = +INFINITY (reject all) */
    double *p_miss; /* n points, p_miss non-increasing from 1 to 0 */
    double *p_fa;   /* p_fa non-decreasing from 0 to 1 */
    int n;
} roc_points;

/* The ROC/DET points of the scores (see above). Free with roc_free. */
ch_status roc_compute(const double *tar, int n_tar, const double *non, int n_non,
                      roc_points *out, ch_error *err);
void roc_free(roc_points *r);

/* EER of the points (the crossing of the polyline with P_miss = P_fa). */
double roc_eer(const roc_points *r);
/* Normalised minDCF at p_target (0 < p < 1); *best (if not NULL) = the index of the point. */
double roc_min_dcf(const roc_points *r, double p_target, int *best);

double act_dcf(const double *tar, int n_tar, const double *non, int n_non, double p_target);
double cllr(const double *tar, int n_tar, const double *non, int n_non);
ch_status min_cllr(const double *tar, int n_tar, const double *non, int n_non, double *out,
                   ch_error *err);

typedef struct {
    int n_target, n_nontarget;
    double eer;
    double min_dcf_p01, min_dcf_p05;
    double act_dcf_p01;
    double cllr, min_cllr;
} sv_metrics;

/* Every metric above; roc (if not NULL) receives the points (owned by the caller). Fails with
 * CH_ERR_FORMAT "no target trials" / "no non-target trials" (the caller prefixes the file). */
ch_status sv_metrics_compute(const double *tar, int n_tar, const double *non, int n_non,
                             sv_metrics *m, roc_points *roc, ch_error *err);

#endif
