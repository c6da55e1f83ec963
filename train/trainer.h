/* trainer.h — the generic training loop behind kws-train and sv-train.
 *
 * One optimizer step takes a global batch of `batch` examples (the last step of an epoch may
 * take fewer), split into `grad_accum` micro-batches. Each micro-batch's mean loss is scaled by
 * its share of the global batch (n_micro / n_global), so the accumulated gradient is exactly
 * that of one big batch. Gradients are zeroed once per step, clipped by global L2 norm, and
 * AdamW applies them with a warm-up + cosine learning rate (per optimizer step). Validation
 * accuracy is measured after every epoch; the best model is written to model_out (atomically).
 *
 * Determinism: the epoch order is a shuffle seeded by (seed, epoch), example augmentation is a
 * function of (seed, epoch, index) (the data source's job), dropout draws from an rng seeded by
 * (seed, step). Nothing depends on thread timing, so the same seed and thread count give a
 * bit-identical model, and a run resumed from a periodic checkpoint ends bit-identical to an
 * unbroken one (the step's state is entirely: params, BN buffers, optimizer moments + step,
 * epoch + step within it, best accuracy so far).
 *
 * Periodic checkpoints: every checkpoint_every steps, "<dir>/ckpt-<step>.ckpt" (the model) +
 * ".state.<rank>" (optimizer moments, step, epoch, position) + ".trainer" (best accuracy so far,
 * train-loss sums) and then DONE_<step>; the two newest are kept. --resume continues from the
 * newest complete one.
 *
 * DISTRIBUTED: trainer_dist is where train/dist* plugs in (options: dist.h's DIST_GROUP; the
 * caller has run dist_init, the trainer calls dist_setup once the model's size is known).
 * Initial parameters and BN buffers (after --init / --resume) are broadcast from rank 0.
 * --dist sync: each rank takes its shard of every global batch (trainer_shard), runs
 * forward/backward on it with the loss scaled by n_shard / n_global (then split into the
 * --grad-accum micro-batches), then dist->sync_grads leaves the SUM over ranks in grad (an
 * all-reduce) before clipping and the optimizer step, which every rank then applies
 * identically; dist->average_buffers averages the batch-norm running statistics over ranks
 * before every evaluation and checkpoint. Evaluation is sharded the same way and the correct
 * counts (and the test confusion) are summed, so every rank knows the same accuracy; the epoch
 * loss is summed over ranks too. The loader of each rank only builds its own shard's examples.
 * --dist async / downpour: the server ranks only run dist_ps_serve. An "epoch" is one pass of
 * all workers together over the epoch's permutation: worker w of n takes the contiguous slice
 * [w*N/n, (w+1)*N/n) of it, in mini-batches of --batch (per worker), --grad-accum as usual;
 * the lr schedule counts the worker's own steps. Instead of the local AdamW step the gradient
 * (clipped, frozen groups zeroed, --lr-scale applied to it) goes to dist_worker_step with the
 * schedule's lr; the server applies --ps-optim (AdamW's --weight-decay is not used). BN running
 * stats stay local to each worker. Only rank 0 (worker 0) evaluates, with its current
 * parameters, after each epoch; the last epoch is evaluated after dist_ps_done with the final
 * parameters of the servers. The epoch loss printed is worker 0's.
 * Checkpoints: only rank 0 writes (model, its .state.0 and .trainer; DONE last). In sync every
 * rank's state is identical, so --resume makes every rank read that one. In async/downpour
 * rank 0 first takes a snapshot of the servers (dist_ps_snapshot): the checkpoint holds the
 * servers' parameters, and "<ckpt>.ps_state" their optimizer state (SGD momentum or Adagrad
 * accumulators) and update counts; --resume hands that state back to the servers before they
 * serve (dist_ps_restore), so a deterministic layout (1 server, 1 worker) resumes to the bytes
 * of an unbroken run. Without the file (an older checkpoint) the servers' state restarts.
 * With dist == NULL (one process) the shard is the whole batch and nothing is communicated.
 */
#ifndef CHORUS_TRAINER_H
#define CHORUS_TRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/options.h"
#include "common/status.h"
#include "models/model.h"
#include "train/batch_loader.h"
#include "train/dist.h"

typedef struct {
    char model[32];        /* kind */
    char model_opts[1024]; /* "key=value,..." hyper-parameters */
    int epochs;
    int batch;             /* global batch */
    int grad_accum;        /* micro-batches per step */
    double lr;
    double min_lr_ratio;   /* cosine floor = lr * this */
    double weight_decay;
    double warmup_epochs;
    double label_smoothing;
    double clip_norm;      /* 0 = no clipping */
    int64_t checkpoint_every; /* steps; 0 = off */
    char checkpoint_dir[4096]; /* "" = "<model-out>.ckpts" */
    bool resume;
    char init[4096];       /* checkpoint to start from */
    char freeze[1024];     /* comma-separated param groups */
    int unfreeze_after;    /* epochs after which the frozen groups train too (0 = never) */
    char lr_scale[1024];   /* "group=x,..." */
    int64_t max_steps;     /* stop after this many steps in total (0 = no limit): tests */
    int loader_threads;
} trainer_options;

trainer_options trainer_options_default(void);
extern const opt_desc trainer_opts[];
extern const size_t trainer_n_opts;
/* Checks values the table cannot (grad-accum <= batch, ...). CH_ERR_USAGE. */
ch_status trainer_options_check(const trainer_options *o, ch_error *err);

/* A batch handed to the trainer (the loader's; memory owned by its source, valid until the
 * next call). */
typedef loader_batch trainer_batch;

/* Where examples come from (kws-train: kws_data; sv-train: sv_data). */
typedef struct {
    void *ctx;             /* for eval_batch */
    batch_loader *loader;  /* the training batches: the trainer plans each epoch on it */
    int n_train;           /* training examples */
    int n_eval[3];         /* examples of split 1 (valid) and 2 (test) */
    int T, F;              /* max frames, bins */
    /* Evaluation examples [start, start + n) of split s (features fixed, cached). */
    void (*eval_batch)(void *ctx, int split, int start, int n, trainer_batch *b);
} trainer_data;

/* What is trained when it is not plain classification. NULL task (kws-train): the model
 * outputs n_labels logits, the loss is label-smoothed softmax cross-entropy, validation is
 * accuracy (higher is better) and the test split also gets a confusion matrix. With a task
 * (sv-train): the model outputs out_dim values (the embedding) and carries a head of n_labels
 * classes in its params (models/model.h's head-classes, group "head"), the task's loss runs
 * the head, and validation is the task's metric over every example of the split (lower is
 * better, e.g. the EER of trials among them); the best model is the one with the lowest. */
typedef struct {
    void *ctx;
    const char *metric;  /* its name in the log, e.g. "EER" */
    int out_dim;         /* the model's output size (a new model; --init keeps the checkpoint's) */
    /* Mean loss of a micro-batch: out (N, out_dim) -> dout (N, out_dim) WRITTEN, the gradient
     * of scale x the mean loss (scale = the micro-batch's share of the global batch); the
     * head's gradient of the same ACCUMULATED into m->p->grad. step and steps_per_epoch drive
     * schedules (e.g. the AAM margin warm-up). */
    double (*loss)(void *ctx, nn_model *m, const float *out, const int *labels, int N,
                   int64_t step, int steps_per_epoch, float scale, float *dout);
    /* The metric of split s (1 valid, 2 test) from out (n, dim): the output of every example
     * of the split, in eval_batch order (dim = the model's out_dim). */
    ch_status (*evaluate)(void *ctx, int split, const float *out, int n, int dim,
                          double *value, ch_error *err);
} trainer_task;

/* What a checkpoint stores beside the params (borrowed strings). */
typedef struct {
    const char *frontend;   /* "key=value" lines */
    char *const *labels;    /* n_labels */
    int n_labels;
    const char *model_out;  /* best model path */
} trainer_io;

/* The distributed hook (see the top of this file); NULL = one process. */
typedef struct {
    int rank, world;
    void *ctx;
    /* Replaces grad[0..n) by its sum over ranks. */
    ch_status (*sync_grads)(void *ctx, float *grad, size_t n, double *comm_s, ch_error *err);
    /* Replaces the BN running statistics by their mean over ranks (before every evaluation
     * and checkpoint); NULL = nothing to do. */
    ch_status (*average_buffers)(void *ctx, float *buffers, size_t n, ch_error *err);
    /* The dist layer (train/dist.h) after dist_init, and its options: the trainer calls
     * dist_setup with the model's size, broadcasts the initial state, shards evaluation and
     * runs the async/downpour roles. NULL: only the two hooks above are used (sync). */
    dist_ctx *d;
    const dist_options *opt;
} trainer_dist;

/* This rank's examples [*lo, *hi) = [rank*n/world, (rank+1)*n/world) of a global batch of n
 * (contiguous, sizes differ by <= 1; dist_shard's split). Also splits a shard into the
 * --grad-accum micro-batches. */
void trainer_shard(int n, int rank, int world, int *lo, int *hi);

typedef struct {
    int epochs;             /* epochs run (in total, including a resumed part) */
    int64_t steps;
    double best_valid_accuracy;
    int best_epoch;
    double test_accuracy;   /* of the best model; -1 without test examples */
    double best_valid_metric; /* with a task: its metric of the best model (lower is better) */
    double test_metric;     /* with a task: the test split's metric of the best model; -1 none */
    int *confusion;         /* (K, K) test confusion, [true * K + predicted], owned (free) */
    int n_test;
    double final_train_loss; /* mean loss of the last epoch */
    double samples_per_s;   /* training examples / training wall time */
    double compute_s, comm_s, wait_s;
    size_t params;
    double flops_per_sample;
    bool stopped_early;     /* --max-steps reached */
    bool server;            /* this rank was a parameter server (no training, no result) */
    bool all_ranks_error;   /* the error (if any) happened the same way on every rank, before
                             * any communication: report it once (dist_finish(.., true)) */
} trainer_result;

/* Runs training. threads: OpenMP threads for the model (the caller has set them). verbosity as
 * cli_verbosity (progress bar and per-epoch lines on stderr at >= 1). */
ch_status trainer_run(const trainer_options *o, const trainer_data *data, const trainer_io *io,
                      const trainer_task *task, const trainer_dist *dist, uint64_t seed,
                      int threads, int verbosity, trainer_result *res, ch_error *err);
void trainer_result_free(trainer_result *r);

#endif
