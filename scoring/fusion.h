/* fusion.h — linear logistic-regression fusion and calibration (BOSARIS / FoCal style).
 *
 * K systems' scores x_k of a trial become one calibrated log-likelihood ratio
 *     llr = offset + sum_k w_k (x_k - mean_k) / sd_k
 * (mean_k, sd_k: the dev scores' mean and population sd with znorm, else 0 and 1: the weights
 * then apply to standardised scores, which keeps the Newton system well conditioned; the
 * fused LLRs are the same either way up to the tiny L2 term).
 * Training minimises the prior-weighted logistic loss (FoCal's objective) on a labelled dev set
 *     J = p/N_t sum_tar softplus(-(llr + logit p)) + (1-p)/N_n sum_non softplus(llr + logit p)
 *         + l2/2 |w|^2
 * by Newton's method in double with a backtracking line search (K+1 unknowns: a few
 * iterations). With p = 0.5 and l2 = 0, J / ln 2 is the dev Cllr of the fused scores, so the
 * fusion can only improve on each system's raw Cllr there. The default p_target is 0.5 (what
 * FoCal and BOSARIS use by default: calibration good across operating points); set 0.01 to
 * favour the low false-alarm region of minDCF(0.01). The l2 term (on w only, not the offset)
 * keeps the solution finite when the dev scores separate perfectly.
 *
 * The model file is text, written atomically, checked on load:
 *     chorus-fusion 1
 *     p-target 0.5
 *     l2 1e-06
 *     systems 2
 *     system 1 <mean> <sd> <weight>
 *     system 2 <mean> <sd> <weight>
 *     offset <b>
 *     end
 * ('#' lines are comments; numbers printed with 17 significant digits so a reload is exact.)
 */
#ifndef CHORUS_FUSION_H
#define CHORUS_FUSION_H

#include <stdbool.h>

#include "common/status.h"

#define FUSION_MAX_SYSTEMS 256

typedef struct {
    double p_target; /* prior of the objective, (0, 1) */
    double l2;       /* >= 0 */
    bool znorm;      /* standardise each system with the dev mean/sd */
    int max_iter;
} fusion_options;

fusion_options fusion_options_default(void);

typedef struct {
    int n_sys;
    double mean[FUSION_MAX_SYSTEMS], sd[FUSION_MAX_SYSTEMS], w[FUSION_MAX_SYSTEMS];
    double offset;
    double p_target, l2;
} fusion_model;

typedef struct {
    int iterations;
    double objective; /* J at the solution, in nats */
    double grad_norm; /* max |dJ| at the solution */
    bool converged;
} fusion_report;

/* Trains on x (n, K) row-major with labels (1 target, 0 non-target). Needs K in
 * [1, FUSION_MAX_SYSTEMS], at least one trial of each class; a system whose dev scores are all
 * equal is an error (CH_ERR_FORMAT, "system k: ..."; the caller prefixes its file). */
ch_status fusion_train(const double *x, const int *label, int n, int K, const fusion_options *o,
                       fusion_model *m, fusion_report *rep, ch_error *err);

/* out[i] = fused LLR of row i of x (n, m->n_sys). */
void fusion_apply(const fusion_model *m, const double *x, int n, double *out);

/* The training objective J of the model on (x, label): for tests and the fuse report. */
double fusion_objective(const fusion_model *m, const double *x, const int *label, int n);

ch_status fusion_save(const fusion_model *m, const char *path, ch_error *err);
/* Rejects (CH_ERR_FORMAT, "<path>:<line>: ...") a wrong magic or version, missing, repeated or
 * out-of-order fields, non-finite numbers, sd <= 0, truncation (no "end"), trailing data. */
ch_status fusion_load(const char *path, fusion_model *m, ch_error *err);

#endif
