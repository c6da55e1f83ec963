/* sv-train.c — train a speaker-embedding model.
 *
 *   sv-train [options] <data-dir> <model-out>
 *
 * data-dir: a speaker-labelled folder (data/speaker_set.h: Kaldi wav.scp + utt2spk,
 * VoxCeleb-style <speaker>/<session>/<utt>.wav, or Speech Commands with the speaker hash),
 * split speaker-disjointly into train / valid / test speakers (--split-fractions, the same
 * hash as sv-trials). Trains `tdnn` or `resnet` (--model, --model-opts) on random fixed-length
 * chunks with an AAM-softmax head over the training speakers (margin warm-up), using the
 * generic trainer (train/trainer.h: AdamW, warm-up + cosine, gradient accumulation, clipping,
 * checkpoints, --resume, --init / --freeze / --lr-scale, every --dist mode under mpirun). After
 * each epoch the EER of cosine-scored trials among the validation speakers decides the best
 * model, written to model-out (with the frontend sv-embed needs); the test speakers' EER of
 * that model is printed at the end (and with --json a summary as the last line).
 *
 * Transfer learning: --init CKPT starts from another speaker model (its architecture and
 * weights; the head is re-made for the new speakers), --freeze / --lr-scale act on the
 * parameter groups (tdnn: frame1..frame5, embedding; resnet: see --help of the model), and
 * --unfreeze-after N trains the frozen groups from epoch N + 1 on (a second trainer run that
 * resumes from the first one's state).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>

#include "common/cli.h"
#include "common/log.h"
#include "common/timer.h"
#include "infer/sv_embed_lib.h"
#include "models/aam_softmax.h"
#include "train/dist.h"
#include "train/sv_data.h"
#include "train/trainer.h"

#define PROG "sv-train"

typedef struct {
    int embedding_dim;
    float scale;          /* AAM s */
    float margin;         /* AAM m */
    double warmup_start;  /* margin warm-up, epochs (-1: 10 % of --epochs) */
    double warmup_end;    /* (-1: 30 % of --epochs) */
    int eval_batch;
} sv_head_options;

static const opt_desc head_opts[] = {
    OPT_INT(sv_head_options, embedding_dim, "embedding-dim", 8, 4096,
            "Embedding size of a new model (--init keeps the checkpoint's)"),
    OPT_FLOAT(sv_head_options, scale, "aam-scale", 1, 1000, "AAM-softmax scale s"),
    OPT_FLOAT(sv_head_options, margin, "aam-margin", 0, 1.5, "AAM-softmax margin m (radians)"),
    OPT_DOUBLE(sv_head_options, warmup_start, "margin-warmup-start", -1, 1e6,
               "Epoch the margin starts rising from 0 (-1 = 10 % of --epochs)"),
    OPT_DOUBLE(sv_head_options, warmup_end, "margin-warmup-end", -1, 1e6,
               "Epoch the margin reaches --aam-margin (-1 = 30 % of --epochs)"),
};

static const opt_desc frontend_opts[] = {
    OPT_INT(sv_frontend, feat.num_mel_bins, "num-mel-bins", 4, 256, "Log-mel bins"),
    OPT_FLOAT(sv_frontend, feat.dither, "dither", 0, 100, "Kaldi dither (training chunks)"),
    OPT_BOOL(sv_frontend, cmn, "cmn", "Per-chunk mean normalisation"),
    OPT_FLOAT(sv_frontend, chunk_s, "chunk-s", 0.1, 60, "Training chunk length (seconds)"),
};

typedef struct {
    bool on;
} vad_switch;

static const opt_desc vad_switch_opts[] = {
    OPT_BOOL(vad_switch, on, "vad",
             "Train and validate on the voiced samples only (Kaldi energy VAD, as sv-embed --vad)"),
};

/* ---- the trainer's data and task over sv_data ---- */

typedef struct {
    sv_data *d;
    batch_loader *l;
    sv_head_options h;
    long warm0, warm1;   /* margin warm-up, steps (set once steps per epoch are known) */
    int epochs;
    float *ws;           /* AAM workspace */
    size_t ws_n;
} adapter;

static void ad_eval(void *ctx, int split, int start, int n, trainer_batch *b)
{
    adapter *a = ctx;
    const sv_data *d = a->d;
    b->N = n;
    b->T = d->T_eval[split];
    b->F = d->F;
    b->x = d->feats[split] + (size_t)start * d->T_eval[split] * d->F;
    b->lengths = d->lengths[split] + start;
    b->labels = NULL;
}

/* AAM-softmax over the head inside the model's params (model.h's head-classes). The trainer
 * hands over a zeroed gradient, so the head's region holds only this micro-batch's share. */
static double task_loss(void *ctx, nn_model *m, const float *out, const int *labels, int N,
                        int64_t step, int steps_per_epoch, float scale, float *dout)
{
    adapter *a = ctx;
    double s0 = a->h.warmup_start >= 0 ? a->h.warmup_start : 0.1 * a->epochs;
    double s1 = a->h.warmup_end >= 0 ? a->h.warmup_end : 0.3 * a->epochs;
    float margin = aam_margin_warmup((long)step, (long)llround(s0 * steps_per_epoch),
                                     (long)llround(s1 * steps_per_epoch), a->h.margin);
    aam_dims ad = {N, m->out_dim, m->head_classes, a->h.scale, margin, 0};
    float *w = m->p->data + m->head_offset, *dw = m->p->grad + m->head_offset;
    size_t nh = (size_t)m->head_classes * m->out_dim;
    double loss = aam_softmax_forward_backward(NULL, dout, dw, out, w, labels, &ad, a->ws);
    for (size_t k = 0; k < (size_t)N * m->out_dim; k++)
        dout[k] *= scale;
    for (size_t k = 0; k < nh; k++)
        dw[k] *= scale;
    return loss;
}

static ch_status task_eval(void *ctx, int split, const float *out, int n, int dim,
                           double *value, ch_error *err)
{
    adapter *a = ctx;
    (void)n;
    return sv_data_eer(a->d, split, out, dim, value, err);
}

int main(int argc, char **argv)
{
    ch_error err;
    cli_common com = cli_common_default();
    trainer_options to = trainer_options_default();
    snprintf(to.model, sizeof to.model, "tdnn");
    to.epochs = 30;
    to.batch = 64;
    to.lr = 2e-3;
    to.label_smoothing = 0;
    to.weight_decay = 1e-4;
    sv_data_options dopt = sv_data_options_default();
    sv_frontend fe = sv_frontend_default();
    sv_head_options ho = {256, 32, 0.2f, -1, -1, 0};
    dist_options dop = dist_options_default();
    vad_options vo = vad_options_default();
    vad_switch use_vad = {false};
    opt_group groups[] = {
        {"Training", trainer_opts, trainer_n_opts, &to},
        {"Speaker head", head_opts, OPT_COUNT(head_opts), &ho},
        {"Data and augmentation", sv_data_opts, sv_data_n_opts, &dopt},
        {"Features", frontend_opts, OPT_COUNT(frontend_opts), &fe},
        {"VAD", vad_switch_opts, OPT_COUNT(vad_switch_opts), &use_vad},
        {"VAD thresholds (with --vad)", vad_opts, vad_n_opts, &vo},
        DIST_GROUP(&dop),
        CLI_COMMON_GROUP(&com),
    };
    opt_parser parser = {
        PROG, "[options] <data-dir> <model-out>",
        "Trains a speaker-embedding model (tdnn or resnet) with an AAM-softmax head on a "
        "speaker-labelled folder (Kaldi wav.scp + utt2spk, VoxCeleb-style or Speech Commands), "
        "keeps the best model by the validation speakers' EER in <model-out> and reports the "
        "test speakers' EER. Runs alone or under mpirun/srun.",
        groups, sizeof groups / sizeof *groups, 2, 2};
    /* --help and usage errors once under mpirun/srun (launcher rank 0) */
    const char *pos[2] = {NULL, NULL};
    int code = dist_parse_args(&parser, argc, argv, pos, &err);
    if (code >= 0)
        return code;
    const char *data_dir = pos[0], *model_out = pos[1];
    ch_status st;
    int verbosity = cli_verbosity(&com);
    if ((st = cli_check_device(&com, false, &err)) != CH_OK ||
        (st = trainer_options_check(&to, &err)) != CH_OK ||
        (st = sv_data_options_check(&dopt, &err)) != CH_OK ||
        (st = feat_options_check(&fe.feat, &err)) != CH_OK)
        return dist_report_early(PROG, st, &err);
    if (strcmp(to.model, "tdnn") != 0 && strcmp(to.model, "resnet") != 0)
        return dist_report_early(PROG, ch_fail(&err, CH_ERR_USAGE,
                               "--model '%s': sv-train trains tdnn or resnet", to.model),
                       &err);
    if (ho.warmup_start >= 0 && ho.warmup_end >= 0 && ho.warmup_end < ho.warmup_start)
        return dist_report_early(PROG, ch_fail(&err, CH_ERR_USAGE,
                               "--margin-warmup-end (%g) is before --margin-warmup-start (%g)",
                               ho.warmup_end, ho.warmup_start),
                       &err);
    if ((st = cli_check_writable(model_out, &err)) != CH_OK)
        return dist_report_early(PROG, st, &err);
    dist_ctx *dd = NULL;
    int threads;
    if ((st = dist_start(&dd, &argc, &argv, com.threads, &threads, &verbosity, &err)) != CH_OK)
        return dist_finish(NULL, PROG, st, &err, true);

    double t0 = timer_now();
    sv_data d;
    st = sv_data_load(&d, data_dir, &dopt, &fe, use_vad.on ? &vo : NULL, (uint64_t)com.seed,
                      threads, verbosity, &err);
    if (st != CH_OK) {
        sv_data_free(&d);
        return dist_finish(dd, PROG, st, &err, true);
    }
    log_msg(verbosity, 1, "%d x %d training chunks, loaded in %.1f s\n", d.T, d.F,
            timer_now() - t0);

    adapter ad = {&d, NULL, ho, 0, 0, to.epochs, NULL, 0};
    int micro = (to.batch + to.grad_accum - 1) / to.grad_accum;
    char *fe_text = sv_frontend_to_text(&fe);
    if (!fe_text)
        st = ch_fail(&err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    if (st == CH_OK) {
        /* the AAM workspace for the largest micro-batch (the head size is the label count;
         * the embedding size the model's, bounded by 4096) */
        aam_dims big = {micro + 1, 4096, d.n_labels, 1, 0, 0};
        ad.ws_n = aam_softmax_workspace_floats(&big);
        if (!(ad.ws = malloc(sizeof(float) * ad.ws_n)))
            st = ch_fail(&err, CH_ERR_NOMEM, "%s: out of memory", PROG);
    }
    batch_source src = sv_data_source(&d);
    if (st == CH_OK)
        st = batch_loader_create(&ad.l, &src, to.loader_threads, micro + 1, 4, &err);
    trainer_result res;
    memset(&res, 0, sizeof res);
    dist_summary sum;
    memset(&sum, 0, sizeof sum);
    if (st == CH_OK) {
        trainer_data td = {&ad, ad.l, d.n[SV_TRAIN], {0, d.n[SV_VALID], d.n[SV_TEST]}, d.T,
                           d.F, ad_eval};
        trainer_io io = {fe_text, d.labels, d.n_labels, model_out};
        trainer_task task = {&ad, "EER", ho.embedding_dim, task_loss, task_eval};
        trainer_dist hook = {dist_rank(dd), dist_world(dd), dd, dist_hook_sync_grads,
                             dist_hook_average_buffers, dd, &dop};
        st = trainer_run(&to, &td, &io, &task, &hook, (uint64_t)com.seed, threads, verbosity,
                         &res, &err);
    }
    batch_loader_free(ad.l);
    if (st == CH_OK)
        st = dist_stats_gather(dd, &sum, &err);
    if (st == CH_OK && dist_world(dd) > 1) {
        res.samples_per_s = sum.samples_per_s;
        res.compute_s = sum.compute_s;
        res.comm_s = sum.comm_s;
        res.wait_s = sum.wait_s;
    }
    if (st == CH_OK && dist_is_root(dd)) {
        if (res.stopped_early)
            log_msg(verbosity, 1, "stopped after step %lld (--max-steps)\n",
                    (long long)res.steps);
        else if (res.test_metric >= 0)
            printf("test EER: %.2f %% (%d utterances, %ld trials)\n", 100 * res.test_metric,
                   d.n[SV_TEST], d.n_trials[SV_TEST]);
        if (res.best_epoch >= 0)
            log_msg(verbosity, 1, "best valid EER %.2f %% (epoch %d)\n",
                    100 * res.best_valid_metric, res.best_epoch + 1);
        log_msg(verbosity, 1, "%lld steps, %.0f ex/s, compute %.1f s, waiting for data %.1f s\n",
                (long long)res.steps, res.samples_per_s, res.compute_s, res.wait_s);
        if (dist_world(dd) > 1 && verbosity >= 1)
            dist_summary_print(&sum, stderr, false);
        if (com.json) {
            printf("{\"samples_per_s\":%.2f,\"epochs\":%d,\"steps\":%lld,"
                   "\"best_valid_eer\":%.6f,\"best_epoch\":%d,\"test_eer\":%.6f,"
                   "\"speakers\":%d,\"params\":%zu,\"flops_per_sample\":%.0f,"
                   "\"final_train_loss\":%.6f,\"compute_s\":%.3f,\"comm_s\":%.3f,"
                   "\"wait_s\":%.3f,\"world\":%d,\"stopped_early\":%s,",
                   res.samples_per_s, res.epochs, (long long)res.steps, res.best_valid_metric,
                   res.best_epoch + 1, res.test_metric, d.n_labels, res.params,
                   res.flops_per_sample, res.final_train_loss, res.compute_s, res.comm_s,
                   res.wait_s, dist_world(dd), res.stopped_early ? "true" : "false");
            dist_summary_print(&sum, stdout, true);
            printf("}\n");
        }
    }
    trainer_result_free(&res);
    free(ad.ws);
    free(fe_text);
    sv_data_free(&d);
    return dist_finish(dd, PROG, st, &err, res.all_ranks_error);
}
