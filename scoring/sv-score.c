/* sv-score.c — the speaker-verification scoring backend: cosine scoring with AS-norm, linear
 * logistic-regression fusion/calibration, and evaluation (EER, minDCF, actDCF, Cllr, DET).
 *
 *   sv-score score [options] <trials> <emb-rspecifier> <scores-out>   # --cohort for AS-norm
 *   sv-score fuse  [options] --key <dev-trials> <fusion-out> <dev-scores>...
 *   sv-score apply [options] <fusion> <scores-out> <eval-scores>...
 *   sv-score eval  [options] <trials> <scores> [--det det.svg]
 *
 * Trials: Kaldi "utt1 utt2 target|nontarget" or VoxCeleb "1 a.wav b.wav" (scoring also takes
 * unlabelled "enroll test" pairs). Scores: "enroll test score" lines, written in trial order.
 * The embedding of a trial name is the entry with that key (the path as written in the trial
 * list, which is what sv-embed writes for such a list); --strip-ext drops the extension first.
 * Errors: one line "sv-score <cmd>: <file>[:<line>]: <problem>", exit 1 for bad data, 2 for
 * bad usage (the checks are listed in the scoring headers).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "common/cli.h"
#include "common/fileio.h"
#include "common/log.h"
#include "scoring/cosine.h"
#include "scoring/det.h"
#include "scoring/fusion.h"
#include "scoring/metrics.h"
#include "scoring/trials.h"

#define PROG "sv-score"

static const char *usage_all =
    "  " PROG " score [options] <trials> <emb-rspecifier> <scores-out>   # cosine, --cohort for "
    "AS-norm\n"
    "  " PROG " fuse  [options] --key <dev-trials> <fusion-out> <dev-scores>...\n"
    "  " PROG " apply [options] <fusion> <scores-out> <eval-scores>...\n"
    "  " PROG " eval  [options] <trials> <scores> [--det det.svg]\n"
    "Run '" PROG " <command> --help' for the options of a command.\n";

/* Parses argv (argv[0] = the subcommand) for one subcommand; returns -1 to go on, else the
 * exit code (help shown: 0; error: the code of the status). */
static int parse(const char *prog, const char *usage, const char *summary, opt_group *groups,
                 size_t n_groups, int min_pos, int max_pos, int argc, char **argv, char ***pos,
                 int *n_pos, cli_common *com)
{
    opt_parser parser = {prog, usage, summary, groups, n_groups, min_pos, max_pos};
    ch_error err;
    bool help = false;
    *pos = calloc((size_t)argc + 1, sizeof **pos);
    if (!*pos) {
        ch_fail(&err, CH_ERR_NOMEM, "out of memory");
        return cli_report(prog, CH_ERR_NOMEM, &err);
    }
    ch_status st = opt_parse(&parser, argc, argv, *pos, n_pos, &help, &err);
    if (st == CH_OK && !help)
        st = cli_check_device(com, false, &err);
    if (st != CH_OK || help) {
        free(*pos);
        *pos = NULL;
        return st != CH_OK ? cli_report(prog, st, &err) : 0;
    }
    omp_set_num_threads(cli_threads(com));
    return -1;
}

static ch_status write_scores(const char *path, const trial_list *tl, const double *score,
                              const bool *keep, ch_error *err)
{
    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    for (int i = 0; i < tl->n; i++)
        if (!keep || keep[i])
            fprintf(a.f, "%s %s %.9g\n", tl->t[i].enroll, tl->t[i].test, score[i]);
    if (ferror(a.f)) {
        atomic_abort(&a);
        return ch_fail(err, CH_ERR_IO, "%s: write failed", path);
    }
    return atomic_commit(&a, err);
}

/* ---------------------------------------------------------------- score */

typedef struct {
    char cohort[4096];
    int top_n;
    bool strip_ext;
    bool ignore_missing;
} score_options;

static const opt_desc score_opts[] = {
    OPT_STRING(score_options, cohort, "cohort",
               "Cohort embeddings (rspecifier) for adaptive symmetric score normalisation "
               "(AS-norm); empty = plain cosine"),
    OPT_INT(score_options, top_n, "top-n", 2, 1 << 30,
            "AS-norm: the N highest cohort scores of each side give its mean and sd"),
    OPT_BOOL(score_options, strip_ext, "strip-ext",
             "Look embeddings up by the trial name without its extension (a/b/1.wav -> a/b/1)"),
    OPT_BOOL(score_options, ignore_missing, "ignore-missing",
             "Skip (with a warning) trials whose embedding is missing instead of failing"),
};

static int cmd_score(int argc, char **argv)
{
    const char *prog = PROG " score";
    score_options so = {"", 300, false, false};
    cli_common com = cli_common_default();
    opt_group groups[] = {{"Scoring", score_opts, OPT_COUNT(score_opts), &so},
                          CLI_COMMON_GROUP(&com)};
    char **pos;
    int n_pos;
    int rc = parse(prog, "[options] <trials> <emb-rspecifier> <scores-out>",
                   "Cosine scores of the trials (Kaldi, VoxCeleb or unlabelled 'enroll test' "
                   "lines) between L2-normalised embeddings from a Kaldi archive, optionally "
                   "AS-normalised against a cohort (--cohort, --top-n); writes 'enroll test "
                   "score' lines in trial order.",
                   groups, 2, 3, 3, argc, argv, &pos, &n_pos, &com);
    if (rc >= 0)
        return rc;
    int verb = cli_verbosity(&com);
    ch_error err;
    ch_status st;
    trial_list tl = {0};
    emb_table emb = {0}, coh = {0};
    int *ie = NULL, *it = NULL, *uniq = NULL, *slot = NULL;
    double *score = NULL, *mu = NULL, *sd = NULL;
    bool *keep = NULL;
    int n_skip = 0, n_uniq = 0;
    if ((st = trials_read(pos[0], false, &tl, &err)) != CH_OK)
        goto out;
    if ((st = emb_table_read(pos[1], &emb, &err)) != CH_OK)
        goto out;
    ie = calloc((size_t)tl.n, sizeof *ie);
    it = calloc((size_t)tl.n, sizeof *it);
    score = calloc((size_t)tl.n, sizeof *score);
    keep = calloc((size_t)tl.n, sizeof *keep);
    if (!ie || !it || !score || !keep) {
        st = ch_fail(&err, CH_ERR_NOMEM, "out of memory for %d trials", tl.n);
        goto out;
    }
    for (int i = 0; i < tl.n; i++) {
        char kb[4096];
        const char *names[2] = {tl.t[i].enroll, tl.t[i].test};
        int *dst[2] = {&ie[i], &it[i]};
        keep[i] = true;
        for (int s = 0; s < 2; s++) {
            const char *key = emb_key(names[s], so.strip_ext, kb, sizeof kb);
            *dst[s] = emb_find(&emb, key);
            if (*dst[s] < 0 && keep[i]) {
                if (!so.ignore_missing) {
                    st = ch_fail(&err, CH_ERR_FORMAT,
                                 "%s:%d: no embedding '%s' in %s%s", tl.path, tl.t[i].line, key,
                                 pos[1],
                                 so.strip_ext || !strchr(key, '.') ? "" : " (hint: --strip-ext)");
                    goto out;
                }
                keep[i] = false;
                if (n_skip++ < 5)
                    log_warn(verb, "%s:%d: no embedding '%s'; trial skipped", tl.path,
                             tl.t[i].line, key);
            }
        }
        if (keep[i])
            score[i] = emb_cosine(&emb, ie[i], &emb, it[i]);
    }
    if (n_skip == tl.n) {
        st = ch_fail(&err, CH_ERR_FORMAT, "%s: none of the %d trials has both embeddings in %s",
                     tl.path, tl.n, pos[1]);
        goto out;
    }
    if (so.cohort[0]) {
        if ((st = emb_table_read(so.cohort, &coh, &err)) != CH_OK)
            goto out;
        if (so.top_n > coh.n)
            log_warn(verb, "%s: --top-n %d is more than the %d cohort embeddings; using all",
                     so.cohort, so.top_n, coh.n);
        /* statistics once per distinct embedding used by a kept trial */
        slot = malloc(sizeof *slot * (size_t)emb.n);
        uniq = malloc(sizeof *uniq * (size_t)emb.n);
        mu = malloc(sizeof *mu * (size_t)emb.n);
        sd = malloc(sizeof *sd * (size_t)emb.n);
        if (!slot || !uniq || !mu || !sd) {
            st = ch_fail(&err, CH_ERR_NOMEM, "out of memory for AS-norm");
            goto out;
        }
        for (int j = 0; j < emb.n; j++)
            slot[j] = -1;
        for (int i = 0; i < tl.n; i++) {
            if (!keep[i])
                continue;
            if (slot[ie[i]] < 0) {
                slot[ie[i]] = n_uniq;
                uniq[n_uniq++] = ie[i];
            }
            if (slot[it[i]] < 0) {
                slot[it[i]] = n_uniq;
                uniq[n_uniq++] = it[i];
            }
        }
        if ((st = asnorm_stats(&emb, uniq, n_uniq, &coh, so.top_n, mu, sd, &err)) != CH_OK)
            goto out;
        for (int i = 0; i < tl.n; i++) {
            if (!keep[i])
                continue;
            int a = slot[ie[i]], b = slot[it[i]];
            score[i] = asnorm_apply(score[i], mu[a], sd[a], mu[b], sd[b]);
        }
    }
    if ((st = write_scores(pos[2], &tl, score, keep, &err)) != CH_OK)
        goto out;
    if (n_skip)
        log_warn(verb, "%d of %d trials skipped for missing embeddings", n_skip, tl.n);
    log_msg(verb, 1, "%s: %d trials scored (%s trials, %d embeddings of dim %d)%s", pos[2],
            tl.n - n_skip, trials_format_name(tl.format), emb.n, emb.dim,
            so.cohort[0] ? ", AS-norm" : "");
    if (com.json)
        printf("{\"trials\":%d,\"scored\":%d,\"skipped\":%d,\"dim\":%d,\"asnorm\":%s,"
               "\"cohort\":%d,\"top_n\":%d}\n",
               tl.n, tl.n - n_skip, n_skip, emb.dim, so.cohort[0] ? "true" : "false", coh.n,
               so.cohort[0] ? (so.top_n < coh.n ? so.top_n : coh.n) : 0);
out:
    free(ie);
    free(it);
    free(score);
    free(keep);
    free(slot);
    free(uniq);
    free(mu);
    free(sd);
    trials_free(&tl);
    emb_table_free(&emb);
    emb_table_free(&coh);
    free(pos);
    return st == CH_OK ? 0 : cli_report(prog, st, &err);
}

/* ---------------------------------------------------------------- shared by fuse/apply/eval */

/* Reads k score files and matches them to tl: x (tl->n, k) row-major; keep[i] false for a
 * trial some file lacks (only with allow_missing). */
static ch_status read_matrix(const trial_list *tl, char **files, int k, bool allow_missing,
                             int verb, double **x_out, bool **keep_out, int *n_keep,
                             ch_error *err)
{
    double *x = malloc(sizeof *x * (size_t)tl->n * (size_t)k);
    double *col = malloc(sizeof *col * (size_t)tl->n);
    bool *keep = malloc(sizeof *keep * (size_t)tl->n);
    bool *has = malloc(sizeof *has * (size_t)tl->n);
    ch_status st = CH_OK;
    if (!x || !col || !keep || !has) {
        st = ch_fail(err, CH_ERR_NOMEM, "out of memory for %d trials", tl->n);
        goto out;
    }
    for (int i = 0; i < tl->n; i++)
        keep[i] = true;
    for (int s = 0; s < k; s++) {
        score_list sl;
        int miss = 0, extra = 0;
        st = scores_read(files[s], &sl, err);
        if (st == CH_OK)
            st = scores_match(tl, &sl, allow_missing, col, has, &miss, &extra, err);
        scores_free(&sl);
        if (st != CH_OK)
            goto out;
        if (miss)
            log_warn(verb, "%s: %d of %d trials have no score; ignored", files[s], miss, tl->n);
        if (extra)
            log_warn(verb, "%s: %d scores have no trial in %s; ignored", files[s], extra,
                     tl->path);
        for (int i = 0; i < tl->n; i++) {
            x[(size_t)i * k + s] = col[i];
            keep[i] = keep[i] && has[i];
        }
    }
    *n_keep = 0;
    for (int i = 0; i < tl->n; i++)
        *n_keep += keep[i];
out:
    free(col);
    free(has);
    if (st != CH_OK) {
        free(x);
        free(keep);
        return st;
    }
    *x_out = x;
    *keep_out = keep;
    return CH_OK;
}

/* A labelled trial list with k score files matched to it (fuse, eval), and room to split a
 * column of scores by label. */
typedef struct {
    trial_list tl;
    double *x;          /* (tl.n, k) row-major */
    bool *keep;         /* (tl.n) every file scores trial i */
    int n_keep;
    double *tar, *non;  /* (tl.n) each: split()'s output */
} scored_key;

/* Reads the labelled trials and the k score files (read_matrix). On error what was read stays
 * in *sk for scored_key_free. */
static ch_status scored_key_read(scored_key *sk, const char *trials, char **files, int k,
                                 bool allow_missing, int verb, ch_error *err)
{
    CH_TRY(trials_read(trials, true, &sk->tl, err));
    CH_TRY(read_matrix(&sk->tl, files, k, allow_missing, verb, &sk->x, &sk->keep, &sk->n_keep,
                       err));
    sk->tar = malloc(sizeof *sk->tar * (size_t)sk->tl.n);
    sk->non = malloc(sizeof *sk->non * (size_t)sk->tl.n);
    if (!sk->tar || !sk->non)
        return ch_fail(err, CH_ERR_NOMEM, "out of memory");
    return CH_OK;
}

static void scored_key_free(scored_key *sk)
{
    trials_free(&sk->tl);
    free(sk->x);
    free(sk->keep);
    free(sk->tar);
    free(sk->non);
}

/* Splits column s of the kept rows of x (tl.n, k) by label into sk->tar / sk->non. */
static void split(scored_key *sk, const double *x, int k, int s, int *nt, int *nn)
{
    *nt = *nn = 0;
    for (int i = 0; i < sk->tl.n; i++) {
        if (!sk->keep[i])
            continue;
        double v = x[(size_t)i * k + s];
        if (sk->tl.t[i].label == TRIAL_TARGET)
            sk->tar[(*nt)++] = v;
        else
            sk->non[(*nn)++] = v;
    }
}

static void json_num(const char *key, double v, int comma)
{
    if (isfinite(v))
        printf("\"%s\":%.9g%s", key, v, comma ? "," : "");
    else
        printf("\"%s\":null%s", key, comma ? "," : "");
}

/* ---------------------------------------------------------------- fuse */

typedef struct {
    char key[4096];
    double p_target;
    double l2;
    int score_norm; /* 0 znorm, 1 none */
    bool ignore_missing;
} fuse_options;

static const opt_desc fuse_opts[] = {
    OPT_STRING(fuse_options, key, "key", "Labelled dev trials (Kaldi or VoxCeleb format); required"),
    OPT_DOUBLE(fuse_options, p_target, "p-target", 1e-6, 1 - 1e-6,
               "Prior of the training objective (0.5: minimise Cllr, as FoCal/BOSARIS; 0.01: "
               "favour minDCF(0.01))"),
    OPT_DOUBLE(fuse_options, l2, "l2", 0, 1e6,
               "L2 regularisation of the weights (keeps perfectly separated dev data finite)"),
    OPT_CHOICE(fuse_options, score_norm, "score-norm", "znorm|none",
               "Standardise each system with its dev mean/sd before weighting"),
    OPT_BOOL(fuse_options, ignore_missing, "ignore-missing",
             "Drop (with a warning) trials that a score file lacks, and ignore extra scores"),
};

static int cmd_fuse(int argc, char **argv)
{
    const char *prog = PROG " fuse";
    fuse_options fo = {"", 0.5, 1e-6, 0, false};
    cli_common com = cli_common_default();
    opt_group groups[] = {{"Fusion", fuse_opts, OPT_COUNT(fuse_opts), &fo},
                          CLI_COMMON_GROUP(&com)};
    char **pos;
    int n_pos;
    int rc = parse(prog, "[options] --key <dev-trials> <fusion-out> <dev-scores>...",
                   "Trains a linear logistic-regression fusion (and calibration) of one or more "
                   "systems' dev scores on a labelled key, minimising the prior-weighted "
                   "logistic loss by Newton's method; writes the model (a small text file) for "
                   "'sv-score apply'. One score file = calibration only.",
                   groups, 2, 2, 1 + FUSION_MAX_SYSTEMS, argc, argv, &pos, &n_pos, &com);
    if (rc >= 0)
        return rc;
    int verb = cli_verbosity(&com);
    ch_error err;
    ch_status st = CH_OK;
    scored_key sk = {0};
    double *xk = NULL, *fused = NULL;
    int *lab = NULL;
    int K = n_pos - 1;
    if (!fo.key[0]) {
        st = ch_fail(&err, CH_ERR_USAGE, "--key <dev-trials> is required (usage: %s --key "
                                         "<dev-trials> <fusion-out> <dev-scores>...)",
                     prog);
        goto out;
    }
    if ((st = scored_key_read(&sk, fo.key, pos + 1, K, fo.ignore_missing, verb, &err)) != CH_OK)
        goto out;
    const int n_keep = sk.n_keep;
    xk = malloc(sizeof *xk * (size_t)(n_keep ? n_keep : 1) * (size_t)K);
    lab = malloc(sizeof *lab * (size_t)(n_keep ? n_keep : 1));
    fused = malloc(sizeof *fused * (size_t)sk.tl.n);
    if (!xk || !lab || !fused) {
        st = ch_fail(&err, CH_ERR_NOMEM, "out of memory");
        goto out;
    }
    int j = 0;
    for (int i = 0; i < sk.tl.n; i++) {
        if (!sk.keep[i])
            continue;
        memcpy(xk + (size_t)j * K, sk.x + (size_t)i * K, sizeof *xk * (size_t)K);
        lab[j++] = sk.tl.t[i].label == TRIAL_TARGET;
    }
    fusion_options opt = fusion_options_default();
    opt.p_target = fo.p_target;
    opt.l2 = fo.l2;
    opt.znorm = fo.score_norm == 0;
    fusion_model m;
    fusion_report rep;
    if ((st = fusion_train(xk, lab, n_keep, K, &opt, &m, &rep, &err)) != CH_OK) {
        if (strncmp(err.msg, "system ", 7) == 0) {
            int s = atoi(err.msg + 7);
            ch_wrap(&err, st, "%s", s >= 1 && s <= K ? pos[1 + s - 1] : fo.key);
        } else {
            ch_wrap(&err, st, "%s", fo.key);
        }
        goto out;
    }
    if (!rep.converged)
        log_warn(verb, "fusion did not fully converge in %d Newton iterations (max |grad| %.3g)",
                 rep.iterations, rep.grad_norm);
    if ((st = fusion_save(&m, pos[0], &err)) != CH_OK)
        goto out;
    /* dev report: each system's raw Cllr/minCllr/EER and the fused ones */
    int nt, nn;
    double *cl = calloc((size_t)K + 1, sizeof *cl);
    if (!cl) {
        st = ch_fail(&err, CH_ERR_NOMEM, "out of memory");
        goto out;
    }
    printf("fusion of %d system%s on %d dev trials (p-target %g, %d Newton iterations)\n", K,
           K == 1 ? "" : "s", n_keep, fo.p_target, rep.iterations);
    for (int s = 0; s <= K; s++) {
        if (s < K) {
            split(&sk, sk.x, K, s, &nt, &nn);
        } else {
            fusion_apply(&m, sk.x, sk.tl.n, fused);
            split(&sk, fused, 1, 0, &nt, &nn);
        }
        sv_metrics mt;
        if ((st = sv_metrics_compute(sk.tar, nt, sk.non, nn, &mt, NULL, &err)) != CH_OK) {
            ch_wrap(&err, st, "%s", fo.key);
            free(cl);
            goto out;
        }
        cl[s] = mt.cllr;
        if (s < K)
            printf("  system %d (w %+.4f): dev EER %6.2f %%  Cllr %.4f  minCllr %.4f  %s\n",
                   s + 1, m.w[s], 100 * mt.eer, mt.cllr, mt.min_cllr, pos[1 + s]);
        else
            printf("  fused  (offset %+.4f): dev EER %6.2f %%  Cllr %.4f  minCllr %.4f\n",
                   m.offset, 100 * mt.eer, mt.cllr, mt.min_cllr);
    }
    if (com.json) {
        printf("{\"systems\":%d,\"trials\":%d,\"iterations\":%d,\"converged\":%s,\"weights\":[",
               K, n_keep, rep.iterations, rep.converged ? "true" : "false");
        for (int s = 0; s < K; s++)
            printf("%.9g%s", m.w[s], s + 1 < K ? "," : "");
        printf("],\"offset\":%.9g,\"dev_cllr\":[", m.offset);
        for (int s = 0; s < K; s++)
            printf("%.6g%s", cl[s], s + 1 < K ? "," : "");
        printf("],\"fused_dev_cllr\":%.6g}\n", cl[K]);
    }
    free(cl);
out:
    free(xk);
    free(lab);
    free(fused);
    scored_key_free(&sk);
    free(pos);
    return st == CH_OK ? 0 : cli_report(prog, st, &err);
}

/* ---------------------------------------------------------------- apply */

static int cmd_apply(int argc, char **argv)
{
    const char *prog = PROG " apply";
    cli_common com = cli_common_default();
    opt_group groups[] = {CLI_COMMON_GROUP(&com)};
    char **pos;
    int n_pos;
    int rc = parse(prog, "[options] <fusion> <scores-out> <eval-scores>...",
                   "Applies a fusion model from 'sv-score fuse' to eval score files (in the "
                   "order they were given to fuse; all must cover the same trials) and writes "
                   "the fused, calibrated log-likelihood ratios in the first file's order.",
                   groups, 1, 3, 2 + FUSION_MAX_SYSTEMS, argc, argv, &pos, &n_pos, &com);
    if (rc >= 0)
        return rc;
    int verb = cli_verbosity(&com);
    ch_error err;
    ch_status st;
    fusion_model m;
    score_list first = {0};
    trial_list tl = {0};
    double *x = NULL, *out = NULL;
    bool *keep = NULL;
    int K = n_pos - 2, n_keep;
    if ((st = fusion_load(pos[0], &m, &err)) != CH_OK)
        goto out;
    if (K != m.n_sys) {
        st = ch_fail(&err, CH_ERR_USAGE, "%s fuses %d system%s but %d score file%s given",
                     pos[0], m.n_sys, m.n_sys == 1 ? "" : "s", K, K == 1 ? " was" : "s were");
        goto out;
    }
    if ((st = scores_read(pos[2], &first, &err)) != CH_OK)
        goto out;
    if ((st = trials_from_scores(&first, &tl, &err)) != CH_OK)
        goto out;
    if ((st = read_matrix(&tl, pos + 2, K, false, verb, &x, &keep, &n_keep, &err)) != CH_OK)
        goto out;
    out = malloc(sizeof *out * (size_t)tl.n);
    if (!out) {
        st = ch_fail(&err, CH_ERR_NOMEM, "out of memory");
        goto out;
    }
    fusion_apply(&m, x, tl.n, out);
    if ((st = write_scores(pos[1], &tl, out, NULL, &err)) != CH_OK)
        goto out;
    log_msg(verb, 1, "%s: %d trials fused from %d system%s", pos[1], tl.n, K, K == 1 ? "" : "s");
    if (com.json)
        printf("{\"systems\":%d,\"trials\":%d}\n", K, tl.n);
out:
    free(x);
    free(out);
    free(keep);
    trials_free(&tl);
    scores_free(&first);
    free(pos);
    return st == CH_OK ? 0 : cli_report(prog, st, &err);
}

/* ---------------------------------------------------------------- eval */

typedef struct {
    char det[4096];
    char det_csv[4096];
    bool ignore_missing;
} eval_options;

static const opt_desc eval_opts[] = {
    OPT_STRING(eval_options, det, "det", "Write the DET curve as an SVG plot to this file"),
    OPT_STRING(eval_options, det_csv, "det-csv",
               "Write the DET points (threshold,p_fa,p_miss) as CSV to this file"),
    OPT_BOOL(eval_options, ignore_missing, "ignore-missing",
             "Evaluate only the trials that have a score (with a warning) and ignore scores "
             "without a trial, instead of failing"),
};

static int cmd_eval(int argc, char **argv)
{
    const char *prog = PROG " eval";
    eval_options eo = {"", "", false};
    cli_common com = cli_common_default();
    opt_group groups[] = {{"Evaluation", eval_opts, OPT_COUNT(eval_opts), &eo},
                          CLI_COMMON_GROUP(&com)};
    char **pos;
    int n_pos;
    int rc = parse(prog, "[options] <trials> <scores> [--det det.svg]",
                   "Evaluates scores against a labelled trial list: EER (where the ROC polyline "
                   "crosses P_miss = P_fa), minDCF at p-target 0.01 and 0.05 "
                   "(C_miss = C_fa = 1, normalised), actDCF at 0.01 and Cllr reading the scores "
                   "as natural-log LLRs, and minCllr (after PAV calibration). Text on stdout; "
                   "--json adds one JSON line (eer as a fraction).",
                   groups, 2, 2, 2, argc, argv, &pos, &n_pos, &com);
    if (rc >= 0)
        return rc;
    int verb = cli_verbosity(&com);
    ch_error err;
    ch_status st;
    scored_key sk = {0};
    int nt, nn;
    roc_points roc = {0};
    sv_metrics m;
    if ((st = scored_key_read(&sk, pos[0], pos + 1, 1, eo.ignore_missing, verb, &err)) != CH_OK)
        goto out;
    split(&sk, sk.x, 1, 0, &nt, &nn);
    if ((st = sv_metrics_compute(sk.tar, nt, sk.non, nn, &m, &roc, &err)) != CH_OK) {
        ch_wrap(&err, st, "%s", sk.n_keep < sk.tl.n ? pos[1] : pos[0]);
        goto out;
    }
    if (eo.det[0] && (st = det_write_svg(eo.det, &roc, &m, pos[1], &err)) != CH_OK)
        goto out;
    if (eo.det_csv[0] && (st = det_write_csv(eo.det_csv, &roc, &err)) != CH_OK)
        goto out;
    printf("%s: %d target, %d non-target trials\n", pos[1], m.n_target, m.n_nontarget);
    printf("EER           %.4f %%\n", 100 * m.eer);
    printf("minDCF(0.01)  %.4f\n", m.min_dcf_p01);
    printf("minDCF(0.05)  %.4f\n", m.min_dcf_p05);
    printf("actDCF(0.01)  %.4f\n", m.act_dcf_p01);
    printf("Cllr          %.4f\n", m.cllr);
    printf("minCllr       %.4f\n", m.min_cllr);
    if (com.json) {
        printf("{");
        json_num("eer", m.eer, 1);
        json_num("min_dcf_p01", m.min_dcf_p01, 1);
        json_num("min_dcf_p05", m.min_dcf_p05, 1);
        json_num("act_dcf_p01", m.act_dcf_p01, 1);
        json_num("cllr", m.cllr, 1);
        json_num("min_cllr", m.min_cllr, 1);
        printf("\"n_target\":%d,\"n_nontarget\":%d}\n", m.n_target, m.n_nontarget);
    }
out:
    roc_free(&roc);
    scored_key_free(&sk);
    free(pos);
    return st == CH_OK ? 0 : cli_report(prog, st, &err);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "%s: missing command: score, fuse, apply or eval (see %s --help)\n", PROG,
                PROG);
        return 2;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        printf("usage:\n%s", usage_all);
        return 0;
    }
    if (!strcmp(c, "score"))
        return cmd_score(argc - 1, argv + 1);
    if (!strcmp(c, "fuse"))
        return cmd_fuse(argc - 1, argv + 1);
    if (!strcmp(c, "apply"))
        return cmd_apply(argc - 1, argv + 1);
    if (!strcmp(c, "eval"))
        return cmd_eval(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s' (expected score, fuse, apply or eval)\n", PROG, c);
    return 2;
}
