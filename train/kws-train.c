/* kws-train.c — train a keyword-spotting model.
 *
 *   kws-train [options] <data-dir> <model-out>
 *
 * data-dir: a Speech Commands-layout folder (12-class task by default, --classes all for every
 * word; list files or the speaker hash split) or a Kaldi data dir with utt2label. Trains the
 * model (--model, --model-opts) with the generic trainer (train/trainer.h: AdamW, warm-up +
 * cosine, gradient accumulation, clipping, checkpoints, --resume, --init/--freeze/--lr-scale),
 * keeps the best model by validation accuracy in model-out, then reports test accuracy and the
 * confusion matrix on stdout (and with --json a summary as the last line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>

#include "common/cli.h"
#include "common/log.h"
#include "common/timer.h"
#include "infer/kws_stream.h"
#include "train/dist.h"
#include "train/kws_data.h"
#include "train/trainer.h"

#define PROG "kws-train"

static const opt_desc frontend_opts[] = {
    OPT_INT(kws_frontend, feat.num_mel_bins, "num-mel-bins", 4, 256, "Log-mel bins"),
    OPT_FLOAT(kws_frontend, feat.dither, "dither", 0, 100, "Kaldi dither"),
    OPT_BOOL(kws_frontend, cmn, "cmn", "Per-clip (per-window) mean normalisation"),
};

typedef struct {
    kws_data *d;
    kws_loader *l;
    int *lengths; /* (max eval batch) all T */
} adapter;

static void ad_eval(void *ctx, int split, int start, int n, trainer_batch *b)
{
    adapter *a = ctx;
    const kws_data *d = a->d;
    b->N = n;
    b->T = d->T;
    b->F = d->F;
    b->x = d->feats[split] + (size_t)start * d->T * d->F;
    b->lengths = a->lengths;
    b->labels = d->label[split] + start;
}

static void print_confusion(FILE *f, const trainer_result *r, char *const *labels, int K)
{
    fprintf(f, "confusion matrix (rows: true, columns: predicted)\n%-12s", "");
    for (int k = 0; k < K; k++)
        fprintf(f, " %6.6s", labels[k]);
    fprintf(f, "\n");
    for (int i = 0; i < K; i++) {
        fprintf(f, "%-12.12s", labels[i]);
        for (int k = 0; k < K; k++)
            fprintf(f, " %6d", r->confusion[i * K + k]);
        fprintf(f, "\n");
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

int main(int argc, char **argv)
{
    ch_error err;
    cli_common com = cli_common_default();
    trainer_options to = trainer_options_default();
    kws_data_options dopt = kws_data_options_default();
    kws_frontend fe = kws_frontend_default();
    dist_options dop = dist_options_default();
    opt_group groups[] = {
        {"Training", trainer_opts, trainer_n_opts, &to},
        {"Data and augmentation", kws_data_opts, kws_data_n_opts, &dopt},
        {"Features", frontend_opts, OPT_COUNT(frontend_opts), &fe},
        DIST_GROUP(&dop),
        CLI_COMMON_GROUP(&com),
    };
    opt_parser parser = {
        PROG, "[options] <data-dir> <model-out>",
        "Trains a keyword-spotting model on a Speech Commands-layout folder (or a Kaldi data "
        "dir with utt2label), keeps the best model by validation accuracy in <model-out>, and "
        "reports test accuracy and the confusion matrix. Runs alone or under mpirun/srun.",
        groups, sizeof groups / sizeof *groups, 2, 2};
    /* --help and usage errors once under mpirun/srun (launcher rank 0: dist_env_rank reads
     * OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK or SLURM_PROCID before MPI is up) */
    const char *pos[2] = {NULL, NULL};
    int code = dist_parse_args(&parser, argc, argv, pos, &err);
    if (code >= 0)
        return code;
    const char *data_dir = pos[0], *model_out = pos[1];
    ch_status st;
    int verbosity = cli_verbosity(&com);
    if ((st = cli_check_device(&com, false, &err)) != CH_OK ||
        (st = trainer_options_check(&to, &err)) != CH_OK ||
        (st = kws_data_options_check(&dopt, &err)) != CH_OK)
        return dist_report_early(PROG, st, &err);
    if ((st = feat_options_check(&fe.feat, &err)) != CH_OK)
        return dist_report_early(PROG, st, &err);
    /* fail before hours of training if the model cannot be written */
    if ((st = cli_check_writable(model_out, &err)) != CH_OK)
        return dist_report_early(PROG, st, &err);
    dist_ctx *dd = NULL;
    int threads;
    if ((st = dist_start(&dd, &argc, &argv, com.threads, &threads, &verbosity, &err)) != CH_OK)
        return dist_finish(NULL, PROG, st, &err, true);

    double t0 = timer_now();
    kws_data d;
    st = kws_data_load(&d, data_dir, &dopt, &fe, (uint64_t)com.seed, threads, verbosity, &err);
    if (st != CH_OK) {
        kws_data_free(&d);
        return dist_finish(dd, PROG, st, &err, true); /* the same files fail on every rank */
    }
    log_msg(verbosity, 1,
            "%s: %d labels, %d train / %d valid / %d test clips (%s), %d noise signals, "
            "%d x %d features, loaded in %.1f s\n",
            data_dir, d.n_labels, d.n[0], d.n[1], d.n[2],
            d.split_name, d.n_noise, d.T, d.F,
            timer_now() - t0);

    adapter ad = {&d, NULL, NULL};
    int micro = (to.batch + to.grad_accum - 1) / to.grad_accum;
    int eval_bs = to.batch > micro ? to.batch : micro;
    ad.lengths = malloc(sizeof(int) * (size_t)(eval_bs + 1));
    char *fe_text = kws_frontend_to_text(&fe);
    if (!ad.lengths || !fe_text)
        st = ch_fail(&err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    for (int i = 0; st == CH_OK && i <= eval_bs; i++)
        ad.lengths[i] = d.T;
    if (st == CH_OK)
        st = kws_loader_create(&ad.l, &d, to.loader_threads, micro, 4, &err);
    trainer_result res;
    memset(&res, 0, sizeof res);
    dist_summary sum;
    memset(&sum, 0, sizeof sum);
    if (st == CH_OK) {
        trainer_data td = {&ad, ad.l, d.n[0], {0, d.n[1], d.n[2]}, d.T, d.F, ad_eval};
        trainer_io io = {fe_text, d.labels, d.n_labels, model_out};
        trainer_dist hook = {dist_rank(dd), dist_world(dd), dd, dist_hook_sync_grads,
                             dist_hook_average_buffers, dd, &dop};
        st = trainer_run(&to, &td, &io, NULL, &hook, (uint64_t)com.seed, threads, verbosity, &res,
                         &err);
    }
    kws_loader_free(ad.l);
    /* collective over every rank, servers included */
    if (st == CH_OK)
        st = dist_stats_gather(dd, &sum, &err);
    if (st == CH_OK && dist_world(dd) > 1) {
        /* the job's numbers: global samples/s over the slowest rank, means over workers */
        res.samples_per_s = sum.samples_per_s;
        res.compute_s = sum.compute_s;
        res.comm_s = sum.comm_s;
        res.wait_s = sum.wait_s;
    }
    if (st == CH_OK && dist_is_root(dd)) {
        if (res.stopped_early) {
            log_msg(verbosity, 1, "stopped after step %lld (--max-steps)\n",
                    (long long)res.steps);
        } else if (res.test_accuracy >= 0) {
            printf("test accuracy: %.2f %% (%d clips)\n", 100 * res.test_accuracy, res.n_test);
            print_confusion(stdout, &res, d.labels, d.n_labels);
        }
        if (res.best_epoch >= 0)
            log_msg(verbosity, 1, "best valid accuracy %.2f %% (epoch %d)\n",
                    100 * res.best_valid_accuracy, res.best_epoch + 1);
        log_msg(verbosity, 1,
                "%lld steps, %.0f ex/s, compute %.1f s, "
                "waiting for data %.1f s\n",
                (long long)res.steps,
                res.samples_per_s, res.compute_s, res.wait_s);
        if (dist_world(dd) > 1 && verbosity >= 1)
            dist_summary_print(&sum, stderr, false);
        if (com.json) {
            printf("{\"samples_per_s\":%.2f,\"epochs\":%d,\"steps\":%lld,"
                   "\"best_valid_accuracy\":%.6f,\"best_epoch\":%d,\"test_accuracy\":%.6f,"
                   "\"params\":%zu,\"flops_per_sample\":%.0f,\"final_train_loss\":%.6f,"
                   "\"compute_s\":%.3f,\"comm_s\":%.3f,\"wait_s\":%.3f,\"staleness_mean\":%.4f,"
                   "\"staleness_max\":%lld,\"bytes_per_step\":%.0f,\"world\":%d,"
                   "\"stopped_early\":%s,",
                   res.samples_per_s, res.epochs, (long long)res.steps, res.best_valid_accuracy,
                   res.best_epoch + 1, res.test_accuracy, res.params, res.flops_per_sample,
                   res.final_train_loss, res.compute_s, res.comm_s, res.wait_s,
                   sum.staleness_mean, (long long)sum.staleness_max, sum.bytes_per_step,
                   dist_world(dd), res.stopped_early ? "true" : "false");
            dist_summary_print(&sum, stdout, true);
            printf(",\"labels\":[");
            for (int k = 0; k < d.n_labels; k++) {
                if (k)
                    putchar(',');
                json_str(stdout, d.labels[k]);
            }
            printf("],\"confusion\":[");
            for (int i = 0; i < d.n_labels; i++) {
                printf("%s[", i ? "," : "");
                for (int k = 0; k < d.n_labels; k++)
                    printf("%s%d", k ? "," : "", res.confusion ? res.confusion[i * d.n_labels + k] : 0);
                printf("]");
            }
            printf("]}\n");
        }
    }
    trainer_result_free(&res);
    free(ad.lengths);
    free(fe_text);
    kws_data_free(&d);
    /* errors before dist_setup are every rank's (printed once), later ones this rank's (printed
     * with its rank, the job aborted) */
    return dist_finish(dd, PROG, st, &err, res.all_ranks_error);
}
