/* test_scoring.c — scoring/: metrics against independent references, fusion against a NumPy
 * Newton solution, probit, trial/score parsing and matching, the fusion model file, AS-norm.
 *
 * References: tests/ref/scoring_ref.py writes score sets (random and adversarial: ties,
 * all-equal, one target + one non-target, perfectly separated either way, heavily imbalanced,
 * extreme LLRs, a tie exactly at the Bayes threshold) with EER from sklearn's roc_curve and
 * minDCF/actDCF/Cllr/minCllr from NumPy (brute-force thresholds, its own PAV).
 * Tolerances: EER, minDCF, actDCF are ratios of exact counts and one interpolation, so both
 * sides agree to rounding: 1e-12 absolute. Cllr and minCllr are sums of logs over up to 5000
 * terms in a different order/formula: 1e-10 relative + 1e-12 absolute. Fusion: both solvers
 * stop at |grad| < 1e-12; the solutions then agree to ~1e-10: 1e-7 on weights/offset.
 */
#include "test_util.h"

#include <unistd.h>

#include "scoring/cosine.h"
#include "scoring/det.h"
#include "scoring/fusion.h"
#include "scoring/metrics.h"
#include "scoring/strmap.h"
#include "scoring/trials.h"

static char refdir[4096];
static char tmpdir[4096];

static int have_ref(void)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/expected.txt", refdir);
    return access(p, R_OK) == 0;
}

#define SKIP_NO_REF()                                                               \
    do {                                                                            \
        if (!have_ref()) {                                                          \
            printf("SKIP: %s/expected.txt missing (reference script not run)\n", refdir); \
            skip();                                                                 \
        }                                                                           \
    } while (0)

/* Reads "<label> <score>" lines into tar/non (malloc'ed). */
static void load_case(const char *name, double **tar, int *nt, double **non, int *nn)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s.txt", refdir, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int cap = 16;
    *tar = malloc(sizeof(double) * cap);
    *non = malloc(sizeof(double) * cap);
    int ct = cap, cn = cap, lab;
    double v;
    *nt = *nn = 0;
    while (fscanf(f, "%d %lf", &lab, &v) == 2) {
        if (lab) {
            if (*nt == ct)
                *tar = realloc(*tar, sizeof(double) * (ct *= 2));
            (*tar)[(*nt)++] = v;
        } else {
            if (*nn == cn)
                *non = realloc(*non, sizeof(double) * (cn *= 2));
            (*non)[(*nn)++] = v;
        }
    }
    fclose(f);
}

static void check_close(const char *what, const char *name, double got, double want,
                        double atol, double rtol, double *worst)
{
    double d = fabs(got - want);
    if (d > *worst)
        *worst = d;
    if (!(d <= atol + rtol * fabs(want)))
        fail_msg("%s %s: got %.17g want %.17g (|d| %.3g > %.3g)", name, what, got, want, d,
                 atol + rtol * fabs(want));
}

static void test_metrics_vs_reference(void **state)
{
    (void)state;
    SKIP_NO_REF();
    char p[4200];
    snprintf(p, sizeof p, "%s/expected.txt", refdir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char name[256];
    int ent, enn, cases = 0;
    double e[6], worst[6] = {0};
    while (fscanf(f, "%255s %d %d %lf %lf %lf %lf %lf %lf", name, &ent, &enn, &e[0], &e[1], &e[2],
                  &e[3], &e[4], &e[5]) == 9) {
        double *tar, *non;
        int nt, nn;
        load_case(name, &tar, &nt, &non, &nn);
        assert_int_equal(nt, ent);
        assert_int_equal(nn, enn);
        sv_metrics m;
        ch_error err;
        assert_int_equal(sv_metrics_compute(tar, nt, non, nn, &m, NULL, &err), CH_OK);
        assert_int_equal(m.n_target, nt);
        assert_int_equal(m.n_nontarget, nn);
        check_close("eer", name, m.eer, e[0], 1e-12, 0, &worst[0]);
        check_close("min_dcf_p01", name, m.min_dcf_p01, e[1], 1e-12, 0, &worst[1]);
        check_close("min_dcf_p05", name, m.min_dcf_p05, e[2], 1e-12, 0, &worst[2]);
        check_close("act_dcf_p01", name, m.act_dcf_p01, e[3], 1e-12, 0, &worst[3]);
        check_close("cllr", name, m.cllr, e[4], 1e-12, 1e-10, &worst[4]);
        check_close("min_cllr", name, m.min_cllr, e[5], 1e-12, 1e-10, &worst[5]);
        free(tar);
        free(non);
        cases++;
    }
    fclose(f);
    printf("%d cases; max |d|: eer %.3g minDCF01 %.3g minDCF05 %.3g actDCF01 %.3g Cllr %.3g "
           "minCllr %.3g\n",
           cases, worst[0], worst[1], worst[2], worst[3], worst[4], worst[5]);
    assert_true(cases >= 15);
}

/* Order of the input does not matter; a strictly increasing transform leaves EER, minDCF and
 * minCllr unchanged (they depend on the ranking only) but changes Cllr. */
static void test_metrics_invariances(void **state)
{
    (void)state;
    SKIP_NO_REF();
    const char *cases[] = {"gauss", "ties_rounded", "ties_integers", "imbalanced_few_targets"};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double *tar, *non;
        int nt, nn;
        load_case(cases[c], &tar, &nt, &non, &nn);
        ch_error err;
        sv_metrics a, b, t;
        assert_int_equal(sv_metrics_compute(tar, nt, non, nn, &a, NULL, &err), CH_OK);
        for (int i = 0; i < nt / 2; i++) { /* reverse the target order, rotate non-targets */
            double x = tar[i];
            tar[i] = tar[nt - 1 - i];
            tar[nt - 1 - i] = x;
        }
        double first = non[0];
        memmove(non, non + 1, sizeof(double) * (size_t)(nn - 1));
        non[nn - 1] = first;
        assert_int_equal(sv_metrics_compute(tar, nt, non, nn, &b, NULL, &err), CH_OK);
        assert_true(a.eer == b.eer && a.min_dcf_p01 == b.min_dcf_p01 &&
                    a.act_dcf_p01 == b.act_dcf_p01 && a.min_cllr == b.min_cllr);
        assert_true(fabs(a.cllr - b.cllr) < 1e-12);
        for (int i = 0; i < nt; i++)
            tar[i] = 3 * tar[i] + 1;
        for (int i = 0; i < nn; i++)
            non[i] = 3 * non[i] + 1;
        assert_int_equal(sv_metrics_compute(tar, nt, non, nn, &t, NULL, &err), CH_OK);
        assert_true(fabs(t.eer - a.eer) < 1e-15);
        assert_true(fabs(t.min_dcf_p05 - a.min_dcf_p05) < 1e-15);
        assert_true(fabs(t.min_cllr - a.min_cllr) < 1e-12);
        assert_true(fabs(t.cllr - a.cllr) > 1e-3);
        assert_true(a.min_cllr <= a.cllr + 1e-12);
        assert_true(a.min_dcf_p01 <= 1 + 1e-12 && a.eer >= 0 && a.eer <= 1);
        free(tar);
        free(non);
    }
}

static void test_metrics_edges(void **state)
{
    (void)state;
    double one = 1.0;
    sv_metrics m;
    ch_error err;
    assert_int_equal(sv_metrics_compute(&one, 1, NULL, 0, &m, NULL, &err), CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "non-target"));
    assert_int_equal(sv_metrics_compute(NULL, 0, &one, 1, &m, NULL, &err), CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "target"));
    /* the ROC of 2 targets and 2 non-targets with one tie across classes */
    double tar[] = {2, 1}, non[] = {1, 0};
    roc_points r;
    assert_int_equal(roc_compute(tar, 2, non, 2, &r, &err), CH_OK);
    assert_int_equal(r.n, 4); /* +inf, 2, 1, 0 */
    assert_true(isinf(r.thr[0]) && r.p_miss[0] == 1 && r.p_fa[0] == 0);
    assert_true(r.thr[1] == 2 && r.p_miss[1] == 0.5 && r.p_fa[1] == 0);
    assert_true(r.thr[2] == 1 && r.p_miss[2] == 0 && r.p_fa[2] == 0.5);
    assert_true(r.p_miss[3] == 0 && r.p_fa[3] == 1);
    assert_true(fabs(roc_eer(&r) - 0.25) < 1e-15); /* segment (0,.5)-(.5,0) meets the diagonal */
    roc_free(&r);
}

static void test_probit(void **state)
{
    (void)state;
    assert_true(probit(0.5) == 0);
    assert_true(isinf(probit(0)) && probit(0) < 0 && isinf(probit(1)) && probit(1) > 0);
    assert_true(isnan(probit(-0.1)) && isnan(probit(1.5)));
    double worst = 0;
    /* x <= 3 only: above, Phi(x) rounds to a double near 1 that no longer pins x down */
    for (double x = -8; x <= 3; x += 0.37) {
        double p = 0.5 * erfc(-x / sqrt(2.0));
        double d = fabs(probit(p) - x);
        worst = d > worst ? d : worst;
    }
    printf("probit(Phi(x)) - x: max |d| %.3g over [-8, 3]\n", worst);
    assert_true(worst < 1e-9);
    assert_true(fabs(probit(0.01) + 2.3263478740408408) < 1e-12);
    assert_true(fabs(probit(0.2) + probit(0.8)) < 1e-14);
}

/* ---- fusion */

typedef struct {
    int n, *lab;
    double *x; /* (n, 2) */
} fdata;

static void load_fusion(const char *file, fdata *d)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", refdir, file);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    int cap = 4096;
    d->lab = malloc(sizeof(int) * cap);
    d->x = malloc(sizeof(double) * 2 * cap);
    d->n = 0;
    while (d->n < cap && fscanf(f, "%d %lf %lf", &d->lab[d->n], &d->x[2 * d->n],
                                &d->x[2 * d->n + 1]) == 3)
        d->n++;
    fclose(f);
    assert_true(d->n > 100);
}

static void cllr_of(const fdata *d, const double *s, int stride, double *cl, double *mcl)
{
    double *tar = malloc(sizeof(double) * d->n), *non = malloc(sizeof(double) * d->n);
    int nt = 0, nn = 0;
    for (int i = 0; i < d->n; i++) {
        if (d->lab[i])
            tar[nt++] = s[(size_t)i * stride];
        else
            non[nn++] = s[(size_t)i * stride];
    }
    ch_error err;
    *cl = cllr(tar, nt, non, nn);
    assert_int_equal(min_cllr(tar, nt, non, nn, mcl, &err), CH_OK);
    free(tar);
    free(non);
}

static void test_fusion_vs_reference(void **state)
{
    (void)state;
    SKIP_NO_REF();
    fdata dev, ev;
    load_fusion("fusion_dev.txt", &dev);
    load_fusion("fusion_eval.txt", &ev);
    char p[4200];
    snprintf(p, sizeof p, "%s/fusion_expected.txt", refdir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    double pt, l2, v[8];
    int zn, K, settings = 0;
    while (fscanf(f, "%lf %lf %d %d %lf %lf %lf %lf %lf %lf %lf %lf", &pt, &l2, &zn, &K, &v[0],
                  &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 12) {
        assert_int_equal(K, 2);
        fusion_options o = fusion_options_default();
        o.p_target = pt;
        o.l2 = l2;
        o.znorm = zn;
        fusion_model m;
        fusion_report rep;
        ch_error err;
        assert_int_equal(fusion_train(dev.x, dev.lab, dev.n, 2, &o, &m, &rep, &err), CH_OK);
        printf("p=%g l2=%g znorm=%d: %d iterations, |grad| %.3g; w %.9f %.9f (ref %.9f %.9f) "
               "b %.9f (ref %.9f) J %.12f (ref %.12f)\n",
               pt, l2, zn, rep.iterations, rep.grad_norm, m.w[0], m.w[1], v[4], v[5], m.offset,
               v[6], rep.objective, v[7]);
        assert_true(rep.converged);
        for (int k = 0; k < 2; k++) {
            assert_true(fabs(m.mean[k] - v[k]) <= 1e-9 * (1 + fabs(v[k])));
            assert_true(fabs(m.sd[k] - v[2 + k]) <= 1e-9 * (1 + fabs(v[2 + k])));
            assert_true(fabs(m.w[k] - v[4 + k]) <= 1e-7 * (1 + fabs(v[4 + k])));
        }
        assert_true(fabs(m.offset - v[6]) <= 1e-7 * (1 + fabs(v[6])));
        assert_true(fabs(rep.objective - v[7]) <= 1e-10);
        assert_true(fabs(fusion_objective(&m, dev.x, dev.lab, dev.n) - rep.objective) < 1e-12);
        if (pt == 0.5 && l2 < 1e-3) {
            /* dev and eval: the fused Cllr beats each system's, and the fused scores are
             * close to calibrated (Cllr near minCllr); discrimination improves too */
            const fdata *sets[2] = {&dev, &ev};
            for (int s = 0; s < 2; s++) {
                const fdata *d = sets[s];
                double *fused = malloc(sizeof(double) * d->n), c[3], mc[3];
                fusion_apply(&m, d->x, d->n, fused);
                cllr_of(d, d->x, 2, &c[0], &mc[0]);
                cllr_of(d, d->x + 1, 2, &c[1], &mc[1]);
                cllr_of(d, fused, 1, &c[2], &mc[2]);
                printf("  %s: Cllr sys1 %.4f sys2 %.4f fused %.4f; minCllr %.4f %.4f %.4f\n",
                       s ? "eval" : "dev", c[0], c[1], c[2], mc[0], mc[1], mc[2]);
                assert_true(c[2] < c[0] && c[2] < c[1]);
                assert_true(mc[2] < mc[0] && mc[2] < mc[1]);
                assert_true(c[2] - mc[2] < 0.05);
                free(fused);
            }
        }
        settings++;
    }
    fclose(f);
    assert_int_equal(settings, 4);
    free(dev.lab);
    free(dev.x);
    free(ev.lab);
    free(ev.x);
}

static void test_fusion_separable_and_errors(void **state)
{
    (void)state;
    /* perfectly separated: the l2 term keeps the weights finite */
    double x[] = {-2, -1, -0.5, 0.5, 1, 2};
    int lab[] = {0, 0, 0, 1, 1, 1};
    fusion_options o = fusion_options_default();
    fusion_model m;
    fusion_report rep;
    ch_error err;
    assert_int_equal(fusion_train(x, lab, 6, 1, &o, &m, &rep, &err), CH_OK);
    assert_true(isfinite(m.w[0]) && m.w[0] > 1 && isfinite(m.offset));
    double y[6];
    fusion_apply(&m, x, 6, y);
    for (int i = 0; i < 5; i++)
        assert_true(y[i] < y[i + 1]);
    /* constant system, one class only */
    double c[] = {1, 1, 1, 1};
    int l2[] = {0, 1, 0, 1}, l0[] = {0, 0, 0, 0};
    assert_int_equal(fusion_train(c, l2, 4, 1, &o, &m, &rep, &err), CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "system 1"));
    assert_int_equal(fusion_train(x, l0, 4, 1, &o, &m, &rep, &err), CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no target"));
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_fusion_file(void **state)
{
    (void)state;
    fusion_model m = {0}, r;
    m.n_sys = 3;
    m.p_target = 0.01;
    m.l2 = 1e-6;
    for (int k = 0; k < 3; k++) {
        m.mean[k] = 0.1 * k - 1.0 / 3;
        m.sd[k] = 1.0 + k / 7.0;
        m.w[k] = -2.0 / (k + 3);
    }
    m.offset = -1e-3 / 3;
    char path[4200];
    snprintf(path, sizeof path, "%s/fusion_rt.txt", tmpdir);
    ch_error err;
    assert_int_equal(fusion_save(&m, path, &err), CH_OK);
    assert_int_equal(fusion_load(path, &r, &err), CH_OK);
    assert_int_equal(r.n_sys, 3);
    assert_true(r.p_target == m.p_target && r.l2 == m.l2 && r.offset == m.offset);
    for (int k = 0; k < 3; k++)
        assert_true(r.mean[k] == m.mean[k] && r.sd[k] == m.sd[k] && r.w[k] == m.w[k]);

    /* every truncation of the file is rejected (no 'end' line) */
    FILE *f = fopen(path, "r");
    char full[4096];
    size_t n = fread(full, 1, sizeof full - 1, f);
    fclose(f);
    full[n] = 0;
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/fusion_bad.txt", tmpdir);
    for (size_t cut = 0; cut + 4 < n; cut += 7) {
        char tmp[4096];
        memcpy(tmp, full, cut);
        tmp[cut] = 0;
        write_text(bad, tmp);
        if (fusion_load(bad, &r, &err) != CH_ERR_FORMAT)
            fail_msg("truncation at %zu accepted", cut);
        assert_non_null(strstr(err.msg, bad));
    }
    const char *cases[][2] = {
        {"hello\n", "not a chorus fusion model"},
        {"chorus-fusion 2\n", "unsupported"},
        {"chorus-fusion 1\np-target 1.5\n", "p-target"},
        {"chorus-fusion 1\np-target 0.5\nl2 0\nsystems 1\nsystem 1 0 0 1\noffset 0\nend\n",
         "sd must be positive"},
        {"chorus-fusion 1\np-target 0.5\nl2 0\nsystems 1\nsystem 1 0 nan 1\noffset 0\nend\n",
         "system 1"},
        {"chorus-fusion 1\np-target 0.5\nl2 0\nsystems 2\nsystem 2 0 1 1\n", "system 1"},
        {"chorus-fusion 1\np-target 0.5\nl2 0\nsystems 1\nsystem 1 0 1 1 7\noffset 0\nend\n",
         "system 1"},
        {"chorus-fusion 1\np-target 0.5\nl2 0\nsystems 1\nsystem 1 0 1 1\noffset 0\nend\nx\n",
         "after 'end'"},
        {"chorus-fusion 1\np-target 0.5\nl2 0\nsystems 0\n", "systems N"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_text(bad, cases[i][0]);
        assert_int_equal(fusion_load(bad, &r, &err), CH_ERR_FORMAT);
        if (!strstr(err.msg, cases[i][1]))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i][1]);
    }
    assert_int_equal(fusion_load("/nonexistent/f.txt", &r, &err), CH_ERR_IO);
}

/* ---- trials and scores */

static ch_status read_trials_text(const char *text, bool need, trial_list *tl, ch_error *err)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/trials.txt", tmpdir);
    write_text(p, text);
    return trials_read(p, need, tl, err);
}

static void test_trials(void **state)
{
    (void)state;
    trial_list tl;
    ch_error err;
    assert_int_equal(read_trials_text("a b target\r\n\nc d nontarget\n", true, &tl, &err), CH_OK);
    assert_int_equal(tl.n, 2);
    assert_int_equal(tl.format, TRIALS_KALDI);
    assert_string_equal(tl.t[1].enroll, "c");
    assert_int_equal(tl.t[1].label, TRIAL_NONTARGET);
    assert_int_equal(tl.t[1].line, 3);
    trials_free(&tl);
    assert_int_equal(read_trials_text("1 x/a.wav y/b.wav\n0 x/a.wav z/c.wav", true, &tl, &err),
                     CH_OK);
    assert_int_equal(tl.format, TRIALS_VOXCELEB);
    assert_int_equal(tl.t[0].label, TRIAL_TARGET);
    assert_string_equal(tl.t[1].test, "z/c.wav");
    assert_int_equal(strmap_get(&tl.index, "x/a.wav", "z/c.wav"), 1);
    assert_int_equal(strmap_get(&tl.index, "z/c.wav", "x/a.wav"), -1);
    trials_free(&tl);
    assert_int_equal(read_trials_text("a b\n", false, &tl, &err), CH_OK);
    assert_int_equal(tl.t[0].label, TRIAL_UNLABELLED);
    trials_free(&tl);
    const char *bad[][2] = {
        {"a b\n", ":1: no label"},
        {"a b target\na b maybe\n", ":2: unknown label 'maybe'"},
        {"1 a b\n2 a c\n", ":2: unknown label '2'"},
        {"a b target\n1 a c\n", ":2: VoxCeleb trial line in a Kaldi"},
        {"a b c d\n", ":1: expected 3 fields"},
        {"a\n", ":1: expected 3 fields"},
        {"a b target\nc d nontarget\na b nontarget\n", ":3: duplicate trial 'a b' (first at line 1)"},
        {"\n\n", "no trials"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ch_status st = read_trials_text(bad[i][0], true, &tl, &err);
        trials_free(&tl);
        assert_int_equal(st, CH_ERR_FORMAT);
        if (!strstr(err.msg, bad[i][1]) || !strstr(err.msg, "trials.txt"))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i][1]);
    }
    assert_int_equal(trials_read("/nonexistent/trials", true, &tl, &err), CH_ERR_IO);
    trials_free(&tl);
}

static void test_scores_match(void **state)
{
    (void)state;
    trial_list tl;
    score_list sl;
    ch_error err;
    char sp[4200];
    snprintf(sp, sizeof sp, "%s/scores.txt", tmpdir);
    assert_int_equal(read_trials_text("a b target\nc d nontarget\ne f nontarget\n", true, &tl,
                                      &err),
                     CH_OK);
    double s[3];
    bool has[3];
    int miss, extra;
    write_text(sp, "e f -1.5\na b 2e-1\nc d 3\n");
    assert_int_equal(scores_read(sp, &sl, &err), CH_OK);
    assert_int_equal(scores_match(&tl, &sl, false, s, has, &miss, &extra, &err), CH_OK);
    assert_true(s[0] == 0.2 && s[1] == 3 && s[2] == -1.5 && miss == 0 && extra == 0);
    scores_free(&sl);
    /* a missing score: an error naming both files and the trial line; counted when allowed */
    write_text(sp, "a b 1\ne f 2\nx y 3\n");
    assert_int_equal(scores_read(sp, &sl, &err), CH_OK);
    assert_int_equal(scores_match(&tl, &sl, false, s, has, &miss, &extra, &err), CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "scores.txt:3: score for 'x y' has no trial"));
    assert_int_equal(scores_match(&tl, &sl, true, s, has, &miss, &extra, &err), CH_OK);
    assert_true(miss == 1 && extra == 1 && has[0] && !has[1] && has[2]);
    scores_free(&sl);
    write_text(sp, "a b 1\ne f 2\n");
    assert_int_equal(scores_read(sp, &sl, &err), CH_OK);
    assert_int_equal(scores_match(&tl, &sl, false, s, has, &miss, &extra, &err), CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no score for trial 'c d' ("));
    assert_non_null(strstr(err.msg, "trials.txt:2)"));
    scores_free(&sl);
    write_text(sp, "a b 1\nc d 2\ne f 3\na b 4\n");
    assert_int_equal(scores_read(sp, &sl, &err), CH_OK);
    assert_int_equal(scores_match(&tl, &sl, true, s, has, &miss, &extra, &err), CH_ERR_FORMAT);
    assert_non_null(strstr(err.msg, ":4: duplicate score for 'a b' (first at line 1)"));
    trial_list dup;
    assert_int_equal(trials_from_scores(&sl, &dup, &err), CH_ERR_FORMAT);
    trials_free(&dup);
    scores_free(&sl);
    const char *bad[][2] = {{"a b\n", ":1: expected 'enroll test score'"},
                            {"a b 1 2\n", ":1: expected"},
                            {"a b 1x\n", ":1: score '1x' is not a finite number"},
                            {"a b nan\n", "not a finite number"},
                            {"a b inf\n", "not a finite number"},
                            {"", "no scores"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_text(sp, bad[i][0]);
        ch_status st = scores_read(sp, &sl, &err);
        scores_free(&sl);
        assert_int_equal(st, CH_ERR_FORMAT);
        if (!strstr(err.msg, bad[i][1]))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i][1]);
    }
    trials_free(&tl);
}

static void test_strmap(void **state)
{
    (void)state;
    strmap m;
    ch_error err;
    assert_int_equal(strmap_init(&m, 1, &err), CH_OK);
    enum { N = 5000 };
    static char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i * 7919 % 100003);
        int prev;
        assert_int_equal(strmap_put(&m, keys[i], i % 2 ? keys[i] : NULL, i, &prev, &err), CH_OK);
        assert_int_equal(prev, -1);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(strmap_get(&m, keys[i], i % 2 ? keys[i] : NULL), i);
        assert_int_equal(strmap_get(&m, keys[i], i % 2 ? NULL : keys[i]), -1);
    }
    int prev;
    assert_int_equal(strmap_put(&m, keys[3], keys[3], 99, &prev, &err), CH_OK);
    assert_int_equal(prev, 3);
    assert_int_equal(strmap_put(&m, "ab", "c", 1, &prev, &err), CH_OK);
    assert_int_equal(strmap_get(&m, "a", "bc"), -1);
    assert_int_equal(strmap_get(&m, "ab", "c"), 1);
    strmap_free(&m);
}

/* ---- embeddings, cosine, AS-norm (statistics checked by brute force here; the command
 * against NumPy in test_sv_score.sh) */

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

#include "frontend/kaldi_io.h"

static void test_cosine_asnorm(void **state)
{
    (void)state;
    enum { D = 7, NE = 5, NC = 41, TOP = 9 };
    char spec[4300], cspec[4300];
    snprintf(spec, sizeof spec, "ark:%s/emb.ark", tmpdir);
    snprintf(cspec, sizeof cspec, "ark,t:%s/cohort.txt", tmpdir);
    float e[NE][D], c[NC][D];
    unsigned s = 12345;
    ch_error err;
    kaldi_writer *w;
    assert_int_equal(kaldi_writer_open(spec, &w, &err), CH_OK);
    for (int i = 0; i < NE; i++) {
        for (int j = 0; j < D; j++) {
            s = s * 1103515245u + 12345u;
            e[i][j] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
        }
        char key[32];
        snprintf(key, sizeof key, "u%d.wav", i);
        assert_int_equal(kaldi_write_vector(w, key, e[i], D, &err), CH_OK);
    }
    assert_int_equal(kaldi_writer_close(w, &err), CH_OK);
    assert_int_equal(kaldi_writer_open(cspec, &w, &err), CH_OK);
    for (int i = 0; i < NC; i++) {
        for (int j = 0; j < D; j++) {
            s = s * 1103515245u + 12345u;
            c[i][j] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
        }
        char key[32];
        snprintf(key, sizeof key, "c%d", i);
        assert_int_equal(kaldi_write_vector(w, key, c[i], D, &err), CH_OK);
    }
    assert_int_equal(kaldi_writer_close(w, &err), CH_OK);
    emb_table et, ct;
    assert_int_equal(emb_table_read(spec, &et, &err), CH_OK);
    assert_int_equal(emb_table_read(cspec, &ct, &err), CH_OK);
    assert_int_equal(et.n, NE);
    assert_int_equal(ct.n, NC);
    char kb[64];
    assert_string_equal(emb_key("a/b.c/u1.wav", true, kb, sizeof kb), "a/b.c/u1");
    assert_string_equal(emb_key("a/b.c/u1", true, kb, sizeof kb), "a/b.c/u1");
    assert_string_equal(emb_key("u1.wav", false, kb, sizeof kb), "u1.wav");
    int i1 = emb_find(&et, "u1.wav"), i3 = emb_find(&et, "u3.wav");
    assert_true(i1 >= 0 && i3 >= 0 && emb_find(&et, "u1") < 0);
    /* cosine in double from the raw vectors */
    double dot = 0, n1 = 0, n3 = 0;
    for (int j = 0; j < D; j++) {
        dot += (double)e[1][j] * e[3][j];
        n1 += (double)e[1][j] * e[1][j];
        n3 += (double)e[3][j] * e[3][j];
    }
    double want = dot / sqrt(n1 * n3), got = emb_cosine(&et, i1, &et, i3);
    printf("cosine %.9f want %.9f\n", got, want);
    assert_true(fabs(got - want) < 1e-6);
    /* AS-norm statistics vs sort-everything */
    int idx[NE];
    double mu[NE], sd[NE];
    for (int i = 0; i < NE; i++)
        idx[i] = i;
    assert_int_equal(asnorm_stats(&et, idx, NE, &ct, TOP, mu, sd, &err), CH_OK);
    for (int i = 0; i < NE; i++) {
        double sc[NC], m = 0, v = 0;
        for (int k = 0; k < NC; k++)
            sc[k] = emb_cosine(&et, i, &ct, k);
        qsort(sc, NC, sizeof *sc, cmp_desc);
        for (int k = 0; k < TOP; k++)
            m += sc[k] / TOP;
        for (int k = 0; k < TOP; k++)
            v += (sc[k] - m) * (sc[k] - m) / TOP;
        assert_true(fabs(mu[i] - m) < 1e-5 && fabs(sd[i] - sqrt(v)) < 1e-5);
    }
    /* top-n above the cohort size uses the whole cohort */
    double mu2[NE], sd2[NE];
    assert_int_equal(asnorm_stats(&et, idx, NE, &ct, 100000, mu2, sd2, &err), CH_OK);
    assert_true(fabs(mu2[0] - mu[0]) > 1e-6);
    emb_table_free(&et);
    emb_table_free(&ct);
    /* bad tables: mixed dimensions, zero vector, duplicate key, empty */
    float z[D] = {0};
    const char *what[] = {"dimension", "zero vector", "duplicate key", "no embeddings"};
    for (int t = 0; t < 4; t++) {
        assert_int_equal(kaldi_writer_open(spec, &w, &err), CH_OK);
        if (t == 0) {
            assert_int_equal(kaldi_write_vector(w, "a", e[0], D, &err), CH_OK);
            assert_int_equal(kaldi_write_vector(w, "b", e[1], D - 1, &err), CH_OK);
        } else if (t == 1) {
            assert_int_equal(kaldi_write_vector(w, "a", z, D, &err), CH_OK);
        } else if (t == 2) {
            assert_int_equal(kaldi_write_vector(w, "a", e[0], D, &err), CH_OK);
            assert_int_equal(kaldi_write_vector(w, "a", e[1], D, &err), CH_OK);
        }
        assert_int_equal(kaldi_writer_close(w, &err), CH_OK);
        ch_status st = emb_table_read(spec, &et, &err);
        emb_table_free(&et);
        assert_int_equal(st, CH_ERR_FORMAT);
        if (!strstr(err.msg, what[t]))
            fail_msg("case %d: '%s' lacks '%s'", t, err.msg, what[t]);
    }
}

int main(void)
{
    snprintf(refdir, sizeof refdir, "%s/scoring_ref", test_env("CHORUS_REF", "build/ref"));
    snprintf(tmpdir, sizeof tmpdir, "%s/test_scoring", test_env("CHORUS_TMP", "/tmp"));
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmpdir);
    if (system(cmd) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_vs_reference),
        cmocka_unit_test(test_metrics_invariances),
        cmocka_unit_test(test_metrics_edges),
        cmocka_unit_test(test_probit),
        cmocka_unit_test(test_fusion_vs_reference),
        cmocka_unit_test(test_fusion_separable_and_errors),
        cmocka_unit_test(test_fusion_file),
        cmocka_unit_test(test_trials),
        cmocka_unit_test(test_scores_match),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_cosine_asnorm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
