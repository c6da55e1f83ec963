/* trainer.c — the generic training loop (see trainer.h). */
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/timer.h"
#include "models/checkpoint.h"
#include "models/lr_schedule.h"
#include "models/optim.h"
#include "models/softmax_ce.h"

trainer_options trainer_options_default(void)
{
    trainer_options o;
    memset(&o, 0, sizeof o);
    snprintf(o.model, sizeof o.model, "densenet-bilstm");
    o.epochs = 40;
    o.batch = 64;
    o.grad_accum = 1;
    o.lr = 3e-3;
    o.min_lr_ratio = 0.01;
    o.weight_decay = 1e-2;
    o.warmup_epochs = 1;
    o.label_smoothing = 0.1;
    o.clip_norm = 5;
    o.loader_threads = 1;
    return o;
}

const opt_desc trainer_opts[] = {
    OPT_STRING(trainer_options, model, "model", "Model kind (densenet-bilstm)"),
    OPT_STRING(trainer_options, model_opts, "model-opts",
               "Model hyper-parameters, \"key=value,...\" (e.g. growth=8,lstm-hidden=32)"),
    OPT_INT(trainer_options, epochs, "epochs", 1, 100000, "Training epochs"),
    OPT_INT(trainer_options, batch, "batch", 1, 65536, "Global batch size (examples per step)"),
    OPT_INT(trainer_options, grad_accum, "grad-accum", 1, 65536,
            "Micro-batches per step (gradient accumulation; same result as one big batch)"),
    OPT_DOUBLE(trainer_options, lr, "lr", 1e-9, 10, "Peak learning rate (AdamW)"),
    OPT_DOUBLE(trainer_options, min_lr_ratio, "min-lr-ratio", 0, 1,
               "Cosine schedule floor as a fraction of --lr"),
    OPT_DOUBLE(trainer_options, weight_decay, "weight-decay", 0, 10, "AdamW decoupled weight decay"),
    OPT_DOUBLE(trainer_options, warmup_epochs, "warmup-epochs", 0, 1000,
               "Linear learning-rate warm-up (epochs, may be fractional)"),
    OPT_DOUBLE(trainer_options, label_smoothing, "label-smoothing", 0, 0.99,
               "Label smoothing of the cross-entropy"),
    OPT_DOUBLE(trainer_options, clip_norm, "clip-norm", 0, 1e9,
               "Clip the gradient's global L2 norm to this (0 = off)"),
    OPT_INT64(trainer_options, checkpoint_every, "checkpoint-every", 0, 9e18,
              "Write a resumable checkpoint every N steps (0 = off)"),
    OPT_STRING(trainer_options, checkpoint_dir, "checkpoint-dir",
               "Folder of the periodic checkpoints (\"\" = <model-out>.ckpts)"),
    OPT_BOOL(trainer_options, resume, "resume",
             "Continue from the newest complete checkpoint in --checkpoint-dir"),
    OPT_STRING(trainer_options, init, "init",
               "Start from this checkpoint's weights (classifier re-initialised if the labels "
               "differ)"),
    OPT_STRING(trainer_options, freeze, "freeze", "Parameter groups not to train, comma-separated"),
    OPT_INT(trainer_options, unfreeze_after, "unfreeze-after", 0, 1000000,
            "Train the --freeze groups too from this many epochs on (0 = keep them frozen)"),
    OPT_STRING(trainer_options, lr_scale, "lr-scale",
               "Per-group learning-rate factors, \"group=x,...\""),
    OPT_INT64(trainer_options, max_steps, "max-steps", 0, 9e18,
              "Stop after this many steps in total, as if killed (0 = no limit)"),
    OPT_INT(trainer_options, loader_threads, "loader-threads", 1, 256,
            "Threads preparing batches in the background"),
};
const size_t trainer_n_opts = OPT_COUNT(trainer_opts);

ch_status trainer_options_check(const trainer_options *o, ch_error *err)
{
    if (o->grad_accum > o->batch)
        return ch_fail(err, CH_ERR_USAGE, "--grad-accum (%d) is larger than --batch (%d)",
                       o->grad_accum, o->batch);
    if (!o->model[0])
        return ch_fail(err, CH_ERR_USAGE, "--model: empty");
    if (o->resume && o->checkpoint_every == 0 && !o->checkpoint_dir[0])
        return ch_fail(err, CH_ERR_USAGE,
                       "--resume needs --checkpoint-every (or --checkpoint-dir)");
    if (o->unfreeze_after > 0 && !o->freeze[0])
        return ch_fail(err, CH_ERR_USAGE, "--unfreeze-after needs --freeze");
    if (o->resume && o->init[0])
        return ch_fail(err, CH_ERR_USAGE, "--resume and --init exclude each other");
    return CH_OK;
}

void trainer_shard(int n, int rank, int world, int *lo, int *hi)
{
    if (world < 1)
        world = 1;
    /* the same split as train/dist.h's dist_shard: [r*n/w, (r+1)*n/w) */
    *lo = (int)((long long)rank * n / world);
    *hi = (int)((long long)(rank + 1) * n / world);
}

void trainer_result_free(trainer_result *r)
{
    if (r) {
        free(r->confusion);
        r->confusion = NULL;
    }
}

/* ---- helpers ---- */

static char *join_labels(char *const *labels, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(labels[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s\n", labels[i]);
    *p = 0;
    return s;
}

static ch_status write_model(const char *path, const nn_model *m, const float *params,
                             const float *buffers, const trainer_io *io, ch_error *err)
{
    char *labels = join_labels(io->labels, io->n_labels);
    if (!labels)
        return ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
    ckpt_model ck = {(char *)m->kind, m->hparams, (char *)io->frontend, labels,
                     (float *)params, m->p->n, (float *)buffers, m->n_buffers};
    ch_status st = ckpt_write(path, &ck, err);
    free(labels);
    return st;
}

/* Hyper-parameter lines without the `key=` line (the data decides its value). */
static char *strip_key(const char *hp, const char *key)
{
    size_t kl = strlen(key);
    size_t n = strlen(hp ? hp : "");
    char *s = malloc(n + 1), *q = s;
    if (!s)
        return NULL;
    const char *p = hp ? hp : "";
    while (*p) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, key, kl) != 0) {
            memcpy(q, p, len);
            q += len;
            *q++ = '\n';
        }
        p += len + (p[len] ? 1 : 0);
    }
    *q = 0;
    return s;
}

/* --init: the architecture of the checkpoint, its weights; the classifier (or head) group
 * re-made when the label set differs. Classification: out-dim = the label count. A task: the
 * checkpoint's out-dim (embedding size) and a head of the label count. */
static ch_status init_from(nn_model **out, const trainer_options *o, const trainer_io *io,
                           const trainer_task *task, int F, rng *init, int verbosity,
                           ch_error *err)
{
    *out = NULL;
    ckpt_model ck;
    memset(&ck, 0, sizeof ck);
    CH_TRY(ckpt_read(o->init, &ck, o->model, 0, err));
    ch_status st = CH_OK;
    nn_model *src = NULL, *m = NULL;
    char *labels = join_labels(io->labels, io->n_labels);
    char *hp = strip_key(ck.hparams, task ? "head-classes=" : "out-dim=");
    if (hp && task) {
        char line[64];
        snprintf(line, sizeof line, "head-classes=%d\n", io->n_labels);
        char *h2 = realloc(hp, strlen(hp) + strlen(line) + 1);
        if (h2)
            strcat(h2, line);
        else
            free(hp);
        hp = h2;
    }
    if (!labels || !hp)
        st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", o->init);
    if (st == CH_OK && nn_model_from_checkpoint(&src, &ck, err) != CH_OK)
        st = ch_wrap(err, CH_ERR_FORMAT, "%s", o->init);
    if (st == CH_OK && src->in_bins != F)
        st = ch_fail(err, CH_ERR_FORMAT,
                     "%s: model takes %d feature bins, the data has %d (--num-mel-bins)",
                     o->init, src->in_bins, F);
    if (st == CH_OK &&
        nn_model_create(&m, ck.kind, hp, F, task ? 0 : io->n_labels, init, err) != CH_OK)
        st = ch_wrap(err, CH_ERR_FORMAT, "%s", o->init);
    if (st == CH_OK) {
        bool same = ck.labels && strcmp(ck.labels, labels) == 0;
        for (int v = 0; v < m->p->nviews && st == CH_OK; v++) {
            const param_view *dv = &m->p->views[v];
            const param_view *sv = params_find(src->p, dv->name);
            bool head = strcmp(dv->group, "classifier") == 0 || strcmp(dv->group, "head") == 0;
            if (head && (!same || !sv))
                continue;
            if (!sv || sv->count != dv->count) {
                st = ch_fail(err, CH_ERR_FORMAT, "%s: parameter %s does not match the model",
                             o->init, dv->name);
                break;
            }
            memcpy(m->p->data + dv->offset, src->p->data + sv->offset,
                   sizeof(float) * dv->count);
        }
        if (st == CH_OK && m->n_buffers == src->n_buffers && m->n_buffers)
            memcpy(m->buffers, src->buffers, sizeof(float) * m->n_buffers);
        if (st == CH_OK && !same)
            log_msg(verbosity, 1, "%s: labels differ from the data's: %s re-initialised\n",
                    o->init, task ? "head" : "classifier");
    }
    free(labels);
    free(hp);
    nn_model_free(src);
    ckpt_model_free(&ck);
    if (st != CH_OK) {
        nn_model_free(m);
        return st;
    }
    *out = m;
    return CH_OK;
}

/* One optim range per parameter group, with --freeze and --lr-scale applied. */
static ch_status make_ranges(const trainer_options *o, const params *p, optim_range **out,
                             int *n_out, ch_error *err)
{
    optim_range *r = calloc((size_t)p->ngroups + 1, sizeof *r);
    if (!r)
        return ch_fail(err, CH_ERR_NOMEM, "trainer: out of memory");
    for (int g = 0; g < p->ngroups; g++) {
        r[g].offset = p->groups[g].offset;
        r[g].count = p->groups[g].count;
        r[g].lr_scale = 1;
    }
    char known[1024] = "";
    for (int g = 0; g < p->ngroups; g++) {
        size_t l = strlen(known);
        snprintf(known + l, sizeof known - l, "%s%s", g ? ", " : "", p->groups[g].name);
    }
    for (int pass = 0; pass < 2; pass++) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", pass == 0 ? o->freeze : o->lr_scale);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            if (!*tok)
                continue;
            double scale = 1;
            if (pass == 1) {
                char *eq = strchr(tok, '=');
                char *end = NULL;
                if (eq) {
                    *eq = 0;
                    scale = strtod(eq + 1, &end);
                }
                if (!eq || end == eq + 1 || *end || !(scale >= 0) || scale > 1e6) {
                    free(r);
                    return ch_fail(err, CH_ERR_USAGE,
                                   "--lr-scale: '%s' is not group=factor (factor >= 0)", tok);
                }
            }
            int found = 0;
            for (int g = 0; g < p->ngroups; g++)
                if (strcmp(p->groups[g].name, tok) == 0) {
                    found = 1;
                    if (pass == 0)
                        r[g].frozen = 1;
                    else
                        r[g].lr_scale = (float)scale;
                }
            if (!found) {
                ch_fail(err, CH_ERR_USAGE, "--%s: no parameter group '%s' (groups: %s)",
                        pass == 0 ? "freeze" : "lr-scale", tok, known);
                free(r);
                return CH_ERR_USAGE;
            }
        }
    }
    *out = r;
    *n_out = p->ngroups;
    return CH_OK;
}

/* Extra trainer state beside a periodic checkpoint, as exact hex floats. */
typedef struct {
    double best_acc;
    int best_epoch;
    double loss_sum;
    long loss_n;
} trainer_extra;

static ch_status write_extra(const char *ckpt_path, const trainer_extra *x, ch_error *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s.trainer", ckpt_path);
    char text[512];
    int n = snprintf(text, sizeof text, "best_valid_accuracy=%a\nbest_epoch=%d\nloss_sum=%a\n"
                     "loss_n=%ld\n", x->best_acc, x->best_epoch, x->loss_sum, x->loss_n);
    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    ch_status st = atomic_write(&a, text, (size_t)n, err);
    if (st != CH_OK) {
        atomic_abort(&a);
        return st;
    }
    return atomic_commit(&a, err);
}

static ch_status read_extra(const char *ckpt_path, trainer_extra *x, ch_error *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s.trainer", ckpt_path);
    char *data;
    size_t n;
    CH_TRY(file_read_all(path, &data, &n, err));
    int ok = sscanf(data, "best_valid_accuracy=%la best_epoch=%d loss_sum=%la loss_n=%ld",
                    &x->best_acc, &x->best_epoch, &x->loss_sum, &x->loss_n) == 4;
    free(data);
    if (!ok)
        return ch_fail(err, CH_ERR_FORMAT, "%s: malformed trainer state", path);
    return CH_OK;
}

/* The parameter servers' optimizer state beside a periodic checkpoint (async / downpour):
 * "<ckpt>.ps_state" = "CHORUSPS", u32 format 1, u32 --ps-optim, u32 servers, u32 0, u64 n,
 * i64 versions[servers], f32 state[n], u32 CRC-32 of all before; little-endian, atomic. */
#define PS_STATE_MAGIC "CHORUSPS"
static ch_status write_ps_state(const char *ckpt_path, int optim, const int64_t *versions,
                                int n_servers, const float *state, size_t n, ch_error *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s.ps_state", ckpt_path);
    uint32_t head[4] = {1, (uint32_t)optim, (uint32_t)n_servers, 0};
    uint64_t n64 = n;
    uint32_t crc = crc32_update(0, PS_STATE_MAGIC, 8);
    crc = crc32_update(crc, head, sizeof head);
    crc = crc32_update(crc, &n64, sizeof n64);
    crc = crc32_update(crc, versions, sizeof(int64_t) * (size_t)n_servers);
    crc = crc32_update(crc, state, sizeof(float) * n);
    atomic_file a;
    CH_TRY(atomic_open(&a, path, err));
    ch_status st = atomic_write(&a, PS_STATE_MAGIC, 8, err);
    if (st == CH_OK)
        st = atomic_write(&a, head, sizeof head, err);
    if (st == CH_OK)
        st = atomic_write(&a, &n64, sizeof n64, err);
    if (st == CH_OK)
        st = atomic_write(&a, versions, sizeof(int64_t) * (size_t)n_servers, err);
    if (st == CH_OK)
        st = atomic_write(&a, state, sizeof(float) * n, err);
    if (st == CH_OK)
        st = atomic_write(&a, &crc, sizeof crc, err);
    if (st != CH_OK) {
        atomic_abort(&a);
        return st;
    }
    return atomic_commit(&a, err);
}

/* Reads what write_ps_state wrote: *found = false (CH_OK) when there is no such file; state
 * (n floats) and *versions (malloc'ed, *n_servers entries) otherwise. A file of another size,
 * optimizer or a bad CRC is CH_ERR_FORMAT naming it. */
static ch_status read_ps_state(const char *ckpt_path, int optim, size_t n, float *state,
                               int64_t **versions, int *n_servers, bool *found, ch_error *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s.ps_state", ckpt_path);
    *found = false;
    *versions = NULL;
    if (access(path, F_OK) != 0)
        return CH_OK;
    char *data;
    size_t len;
    CH_TRY(file_read_all(path, &data, &len, err));
    uint32_t head[4];
    uint64_t n64 = 0;
    ch_status st = CH_OK;
    if (len < 8 + sizeof head + sizeof n64 || memcmp(data, PS_STATE_MAGIC, 8) != 0)
        st = ch_fail(err, CH_ERR_FORMAT, "%s: not a parameter-server state file", path);
    if (st == CH_OK) {
        memcpy(head, data + 8, sizeof head);
        memcpy(&n64, data + 8 + sizeof head, sizeof n64);
        size_t want = 8 + sizeof head + sizeof n64 + sizeof(int64_t) * head[2] +
                      sizeof(float) * n + 4;
        if (head[0] != 1 || n64 != n || head[2] < 1 || head[2] > 1u << 20 || len != want)
            st = ch_fail(err, CH_ERR_FORMAT,
                         "%s: truncated or for another model (%llu parameters, the model has "
                         "%zu)", path, (unsigned long long)n64, n);
        else if ((int)head[1] != optim)
            st = ch_fail(err, CH_ERR_FORMAT, "%s: written with another --ps-optim", path);
    }
    if (st == CH_OK) {
        uint32_t crc, want_crc;
        memcpy(&want_crc, data + len - 4, 4);
        crc = crc32_update(0, data, len - 4);
        if (crc != want_crc)
            st = ch_fail(err, CH_ERR_FORMAT, "%s: checksum mismatch (damaged)", path);
    }
    if (st == CH_OK) {
        size_t o = 8 + sizeof head + sizeof n64;
        *versions = malloc(sizeof(int64_t) * head[2]);
        if (!*versions) {
            st = ch_fail(err, CH_ERR_NOMEM, "%s: out of memory", path);
        } else {
            memcpy(*versions, data + o, sizeof(int64_t) * head[2]);
            memcpy(state, data + o + sizeof(int64_t) * head[2], sizeof(float) * n);
            *n_servers = (int)head[2];
            *found = true;
        }
    }
    free(data);
    return st;
}

static void remove_step(const char *dir, int64_t step)
{
    char p[4400], q[4500];
    snprintf(p, sizeof p, "%s/DONE_%lld", dir, (long long)step);
    unlink(p);
    ckpt_path_for_step(p, sizeof p, dir, step);
    snprintf(q, sizeof q, "%s.trainer", p);
    unlink(q);
    snprintf(q, sizeof q, "%s.ps_state", p);
    unlink(q);
    ckpt_state_path(q, sizeof q, p, 0);
    unlink(q);
    unlink(p);
}

/* Accuracy over split s; confusion (K, K) filled when not NULL. With D (sync), this rank
 * evaluates its shard [rank*n/world, (rank+1)*n/world) and the counts are summed over the
 * workers, so every rank returns the same accuracy and confusion. */
static double evaluate(nn_model *m, nn_ctx *ctx, const trainer_data *data, int split, int bs,
                       float *logits, int K, int *confusion, dist_ctx *D, int rank, int world,
                       ch_error *err, ch_status *st)
{
    int n = data->n_eval[split], correct = 0, lo = 0, hi = n;
    if (D)
        trainer_shard(n, rank, world, &lo, &hi);
    if (confusion)
        memset(confusion, 0, sizeof(int) * (size_t)K * K);
    for (int s = lo; s < hi; s += bs) {
        int nb = hi - s < bs ? hi - s : bs;
        trainer_batch b;
        data->eval_batch(data->ctx, split, s, nb, &b);
        if ((*st = m->ops->reserve(m, ctx, b.N, b.T, err)) != CH_OK)
            return 0;
        nn_input in = {b.N, b.T, b.F, b.x, b.lengths};
        m->ops->forward(m, ctx, &in, 0, NULL, logits);
        for (int i = 0; i < b.N; i++) {
            const float *l = logits + (size_t)i * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (l[k] > l[best])
                    best = k;
            correct += best == b.labels[i];
            if (confusion)
                confusion[b.labels[i] * K + best]++;
        }
    }
    *st = CH_OK;
    if (D) {
        /* counts are exact in doubles (< 2^53) */
        size_t nv = 1 + (confusion ? (size_t)K * K : 0);
        double *v = malloc(sizeof(double) * nv);
        if (!v) {
            *st = ch_fail(err, CH_ERR_NOMEM, "trainer: out of memory");
            return 0;
        }
        v[0] = correct;
        for (size_t k = 1; k < nv; k++)
            v[k] = confusion[k - 1];
        *st = dist_sum_metrics(D, v, (int)nv, err);
        correct = (int)v[0];
        for (size_t k = 1; k < nv && *st == CH_OK; k++)
            confusion[k - 1] = (int)v[k];
        free(v);
        if (*st != CH_OK)
            return 0;
    }
    return n ? (double)correct / n : 0;
}

/* A task's metric over split s: every example's output (sync: this rank's shard, the rest
 * zero, then summed over ranks, so every rank holds all of them), then task->evaluate. */
static double evaluate_task(nn_model *m, nn_ctx *ctx, const trainer_data *data,
                            const trainer_task *task, int split, int bs, dist_ctx *D, int rank,
                            int world, ch_error *err, ch_status *st)
{
    int n = data->n_eval[split], lo = 0, hi = n;
    const int od = m->out_dim;
    if (D)
        trainer_shard(n, rank, world, &lo, &hi);
    float *out = calloc((size_t)n * od + 1, sizeof(float));
    if (!out) {
        *st = ch_fail(err, CH_ERR_NOMEM, "trainer: out of memory for %d outputs", n);
        return 0;
    }
    *st = CH_OK;
    for (int s = lo; s < hi && *st == CH_OK; s += bs) {
        int nb = hi - s < bs ? hi - s : bs;
        trainer_batch b;
        data->eval_batch(data->ctx, split, s, nb, &b);
        if ((*st = m->ops->reserve(m, ctx, b.N, b.T, err)) != CH_OK)
            break;
        nn_input in = {b.N, b.T, b.F, b.x, b.lengths};
        m->ops->forward(m, ctx, &in, 0, NULL, out + (size_t)s * od);
    }
    if (*st == CH_OK && D) {
        size_t nv = (size_t)n * od;
        double *v = malloc(sizeof(double) * (nv + 1));
        if (!v)
            *st = ch_fail(err, CH_ERR_NOMEM, "trainer: out of memory");
        for (size_t k = 0; v && k < nv; k++)
            v[k] = out[k];
        if (*st == CH_OK)
            *st = dist_sum_metrics(D, v, (int)nv, err);
        for (size_t k = 0; *st == CH_OK && k < nv; k++)
            out[k] = (float)v[k];
        free(v);
    }
    double value = 0;
    if (*st == CH_OK)
        *st = task->evaluate(task->ctx, split, out, n, od, &value, err);
    free(out);
    return value;
}

/* async/downpour: what the servers would do with a frozen group or an --lr-scale factor,
 * done to the gradient before the push (exact for plain SGD, approximate with momentum or
 * Adagrad). */
static void ps_grad_ranges(float *grad, const optim_range *r, int n_ranges)
{
    for (int g = 0; g < n_ranges; g++) {
        float f = r[g].frozen ? 0.0f : r[g].lr_scale;
        if (f != 1.0f)
            for (size_t i = 0; i < r[g].count; i++)
                grad[r[g].offset + i] *= f;
    }
}

/* Sync with --dist-overlap: backward of a step's last micro-batch reports each finished layer
 * (models/model.h's nn_grad_notify); the range is completed here (the earlier micro-batches'
 * gradient added, as it is after backward otherwise) and handed to the bucketed all-reduce,
 * which starts on it while backward goes on with the layers below. */
typedef struct {
    dist_ctx *d;
    float *grad;
    const float *acc; /* the earlier micro-batches' gradient, or NULL for the first */
    ch_status st;     /* the first failure (the notice itself cannot return one) */
    ch_error *err;
} overlap_sink;

static void overlap_ready(void *arg, size_t offset, size_t count)
{
    overlap_sink *o = arg;
    if (o->st != CH_OK)
        return;
    if (o->acc)
        for (size_t k = offset; k < offset + count; k++)
            o->grad[k] += o->acc[k];
    o->st = dist_grad_bucket_ready(o->d, o->grad, offset, count, o->err);
}

/* ---- the loop ---- */

ch_status trainer_run(const trainer_options *o, const trainer_data *data, const trainer_io *io,
                      const trainer_task *task, const trainer_dist *dist, uint64_t seed,
                      int threads, int verbosity, trainer_result *res, ch_error *err)
{
    memset(res, 0, sizeof *res);
    res->test_accuracy = -1;
    res->test_metric = -1;
    res->best_epoch = -1;
    /* up to dist_setup every rank fails (or not) the same way, before communicating */
    res->all_ranks_error = true;
    CH_TRY(trainer_options_check(o, err));
    dist_ctx *D = dist ? dist->d : NULL;
    const dist_options dopt_default = dist_options_default();
    const dist_options *dopt = dist && dist->opt ? dist->opt : &dopt_default;
    const bool ps = D && dopt->mode != DIST_SYNC;
    const bool overlap = D && !ps && dopt->overlap && dist->world > 1;
    int rank = dist ? dist->rank : 0, world = dist ? dist->world : 1;
    const int n_labels = io->n_labels, T = data->T, F = data->F;
    char ckdir[4096 + 16];
    if (o->checkpoint_dir[0])
        snprintf(ckdir, sizeof ckdir, "%s", o->checkpoint_dir);
    else
        snprintf(ckdir, sizeof ckdir, "%s.ckpts", io->model_out);

    ch_status st = CH_OK;
    nn_model *m = NULL;
    rng init;
    rng_seed(&init, seed, 0x696e6974ull);
    if (o->init[0]) {
        st = init_from(&m, o, io, task, F, &init, verbosity, err);
    } else if (task) {
        /* the model's own options, then the head over the labels */
        char hp[sizeof o->model_opts + 64];
        snprintf(hp, sizeof hp, "%s\nhead-classes=%d", o->model_opts, n_labels);
        st = nn_model_create(&m, o->model, hp, F, task->out_dim, &init, err);
    } else {
        st = nn_model_create(&m, o->model, o->model_opts, F, n_labels, &init, err);
    }
    if (st == CH_OK && D && (st = dist_setup(D, dopt, m->p->n, err)) != CH_OK)
        nn_model_free(m);
    if (st != CH_OK)
        return st;
    res->all_ranks_error = false;
    /* the model's output width: logits of the labels, or a task's embedding */
    const int K = task ? m->out_dim : n_labels;
    /* roles: a server only serves; the shard coordinates of a global batch (sync: this rank of
     * world; PS: the whole mini-batch) and this worker's slice of each epoch (PS: worker wi of
     * nw takes [base, base + n_ep) of the epoch's permutation; otherwise all of it) */
    const bool server = ps && dist_is_server(D);
    const int srank = ps ? 0 : rank, sworld = ps ? 1 : world;
    const int wi = ps && !server ? dist_worker_index(D) : 0, nw = ps ? dist_n_workers(D) : 1;
    const bool evaluator = !ps || rank == 0; /* PS: only worker 0 evaluates */
    dist_ctx *const ED = D && !ps ? D : NULL; /* sync: sharded evaluation, summed */

    nn_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.be = nn_backend_cpu();
    ctx.threads = threads;
    optim_range *ranges = NULL;
    int n_ranges = 0;
    optim_options oo = optim_options_adamw(o->lr);
    oo.weight_decay = o->weight_decay;
    optim_state opt;
    memset(&opt, 0, sizeof opt);
    int micro_max = (o->batch + o->grad_accum - 1) / o->grad_accum;
    micro_max = (micro_max + sworld - 1) / sworld + 1;
    float *logits = NULL, *dlogits = NULL, *best_p = NULL, *best_b = NULL, *acc_g = NULL;
    int *idx = NULL, *sizes = NULL, *perm = NULL;
    size_t np = m->p->n;
    st = make_ranges(o, m->p, &ranges, &n_ranges, err);
    if (st == CH_OK)
        st = optim_state_init(&opt, &oo, np, err);
    int eval_bs = o->batch > micro_max ? o->batch : micro_max;
    int NB = eval_bs > micro_max ? eval_bs : micro_max;
    const int n_train = data->n_train;
    const int base = (int)((long long)wi * n_train / nw);
    const int n_ep = (int)((long long)(wi + 1) * n_train / nw) - base;
    const int spe = (n_ep + o->batch - 1) / o->batch; /* steps per epoch (of this worker) */
    if (st == CH_OK) {
        logits = malloc(sizeof(float) * (size_t)NB * K);
        dlogits = malloc(sizeof(float) * (size_t)NB * K);
        best_p = malloc(sizeof(float) * np);
        best_b = malloc(sizeof(float) * (m->n_buffers + 1));
        acc_g = malloc(sizeof(float) * np);
        perm = malloc(sizeof(int) * (size_t)n_train);
        idx = malloc(sizeof(int) * (size_t)n_train);
        sizes = malloc(sizeof(int) * ((size_t)spe * o->grad_accum + 1));
        res->confusion = calloc((size_t)K * K, sizeof(int));
        if (!logits || !dlogits || !best_p || !best_b || !acc_g || !perm || !idx || !sizes ||
            !res->confusion)
            st = ch_fail(err, CH_ERR_NOMEM, "trainer: out of memory");
    }
    /* size the arena once for the largest batches, before the clock starts */
    if (st == CH_OK && !server)
        st = m->ops->reserve(m, &ctx, NB, T, err);

    const int64_t total_steps = (int64_t)spe * o->epochs;
    const int64_t warmup_steps = (int64_t)llround(o->warmup_epochs * spe);
    int64_t step = 0;
    int start_epoch = 0, start_pos = 0;
    trainer_extra ex = {-1, -1, 0, 0};
    /* async / downpour: the servers' parameters and optimizer state, for checkpoints and
     * --resume (ps_ver: one update count per server) */
    float *ps_p = NULL, *ps_s = NULL;
    int64_t *ps_ver = NULL;
    int n_ps_ver = 0;
    bool ps_restore = false;
    if (st == CH_OK && ps) {
        ps_p = malloc(sizeof(float) * np);
        ps_s = malloc(sizeof(float) * np);
        ps_ver = calloc((size_t)dist_n_servers(D) + 1, sizeof(int64_t));
        if (!ps_p || !ps_s || !ps_ver)
            st = ch_fail(err, CH_ERR_NOMEM, "trainer: out of memory");
    }
    if (st == CH_OK && o->resume) {
        int64_t found = -1;
        char path[4400];
        if (!path_exists(ckdir)) {
            log_msg(verbosity, 1, "%s: no checkpoint folder: starting from scratch\n", ckdir);
        } else if ((st = ckpt_find_latest(ckdir, &found, path, sizeof path, err)) == CH_OK &&
                   found < 0) {
            log_msg(verbosity, 1, "%s: no complete checkpoint: starting from scratch\n", ckdir);
        } else if (st == CH_OK) {
            ckpt_model ck;
            ckpt_state cs;
            memset(&ck, 0, sizeof ck);
            memset(&cs, 0, sizeof cs);
            st = ckpt_read(path, &ck, m->kind, np, err);
            if (st == CH_OK && ck.n_buffers != m->n_buffers)
                st = ch_fail(err, CH_ERR_FORMAT, "%s: buffer count does not match the model",
                             path);
            if (st == CH_OK)
                st = ckpt_state_read(path, 0, &cs, err);
            if (st == CH_OK && (cs.n != np || cs.n_moments != (uint32_t)opt.n_moments))
                st = ch_fail(err, CH_ERR_FORMAT, "%s: optimizer state does not match the model",
                             path);
            if (st == CH_OK)
                st = read_extra(path, &ex, err);
            if (st == CH_OK && ps) {
                int64_t *v = NULL;
                st = read_ps_state(path, dopt->ps_optim, np, ps_s, &v, &n_ps_ver, &ps_restore,
                                   err);
                if (ps_restore) {
                    free(ps_ver);
                    ps_ver = v;
                } else if (st == CH_OK) {
                    log_msg(verbosity, 1, "%s: no parameter-server state beside it: the servers' "
                            "optimizer state restarts\n", path);
                }
            }
            if (st == CH_OK) {
                memcpy(m->p->data, ck.params, sizeof(float) * np);
                if (m->n_buffers)
                    memcpy(m->buffers, ck.buffers, sizeof(float) * m->n_buffers);
                for (uint32_t k = 0; k < cs.n_moments; k++)
                    memcpy(opt.moment[k], cs.moment[k], sizeof(float) * np);
                opt.step = cs.opt_step;
                step = cs.step;
                start_epoch = (int)cs.epoch;
                start_pos = (int)cs.data_pos;
                log_msg(verbosity, 1, "resuming from %s (step %lld, epoch %d)\n", path,
                        (long long)step, start_epoch + 1);
            }
            ckpt_state_free(&cs);
            ckpt_model_free(&ck);
            /* the best model so far is the file written when it was found */
            if (st == CH_OK && ex.best_epoch >= 0) {
                ckpt_model bm;
                memset(&bm, 0, sizeof bm);
                st = ckpt_read(io->model_out, &bm, m->kind, np, err);
                if (st == CH_OK && bm.n_buffers == m->n_buffers) {
                    memcpy(best_p, bm.params, sizeof(float) * np);
                    if (m->n_buffers)
                        memcpy(best_b, bm.buffers, sizeof(float) * m->n_buffers);
                }
                ckpt_model_free(&bm);
            }
        }
    }
    /* only rank 0's checkpoint carries the partial epoch-loss sum (the sum over ranks) */
    if (rank != 0) {
        ex.loss_sum = 0;
        ex.loss_n = 0;
    }
    /* every rank starts from rank 0's state (identical already when seeded alike: a guard) */
    if (st == CH_OK && D)
        st = dist_broadcast(D, m->p->data, np, 0, err);
    if (st == CH_OK && D && m->n_buffers)
        st = dist_broadcast(D, m->buffers, m->n_buffers, 0, err);
    if (st == CH_OK && ps_restore) {
        st = dist_ps_restore(D, ps_s, ps_ver, n_ps_ver, err);
        int64_t total = 0;
        for (int k = 0; k < n_ps_ver; k++)
            total += ps_ver[k];
        log_msg(verbosity, 1, "restored the parameter servers' optimizer state (%lld updates)\n",
                (long long)total);
    }
    if (st == CH_OK && server) {
        res->server = true;
        st = dist_ps_serve(D, m->p->data, np, err);
    } else if (st == CH_OK && ps) {
        st = dist_ps_fetch(D, m->p->data, err);
    }
    res->params = np;
    res->flops_per_sample = m->ops->flops_per_sample ? m->ops->flops_per_sample(m, T) : 0;

    double t_train = 0;
    long samples = 0;
    int epoch = start_epoch;
    double last_loss = 0;
    bool ps_finished = false;
    for (; st == CH_OK && !server && epoch < o->epochs; epoch++) {
        int pos0 = epoch == start_epoch ? start_pos : 0;
        if (epoch != start_epoch || pos0 == 0) {
            ex.loss_sum = 0;
            ex.loss_n = 0;
        }
        /* --unfreeze-after: from that epoch on the frozen groups train (a function of the
         * epoch alone, so a resumed run unfreezes where an unbroken one does) */
        if (o->unfreeze_after > 0 && epoch >= o->unfreeze_after)
            for (int g = 0; g < n_ranges; g++)
                if (ranges[g].frozen) {
                    ranges[g].frozen = 0;
                    log_msg(verbosity, 1, "epoch %d: group %s unfrozen\n", epoch + 1,
                            m->p->groups[g].name);
                }
        for (int i = 0; i < n_train; i++)
            perm[i] = i;
        rng er;
        rng_seed(&er, seed, 0x65706f6368ull + (uint64_t)epoch);
        rng_shuffle_int(&er, perm, n_train);
        /* the plan: this rank's micro-batches of the remaining steps of the epoch */
        int n_mb = 0;
        long n_idx = 0;
        for (int s = pos0; s < spe; s++) {
            int g0 = base + s * o->batch;
            int ng = base + n_ep - g0 < o->batch ? base + n_ep - g0 : o->batch;
            int lo, hi;
            trainer_shard(ng, srank, sworld, &lo, &hi);
            for (int a = 0; a < o->grad_accum; a++) {
                int alo, ahi;
                trainer_shard(hi - lo, a, o->grad_accum, &alo, &ahi);
                if (ahi > alo) {
                    sizes[n_mb++] = ahi - alo;
                    for (int j = lo + alo; j < lo + ahi; j++)
                        idx[n_idx++] = perm[g0 + j];
                }
            }
        }
        if (n_mb > 0)
            st = batch_loader_start(data->loader, epoch, idx, sizes, n_mb, err);
        progress pb;
        char label[64];
        snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, o->epochs);
        progress_init(&pb, label, "ex", (long)n_ep, verbosity >= 1 && rank == 0);
        double t_ep = timer_now();
        long ep_samples = 0;
        for (int s = pos0; st == CH_OK && s < spe; s++) {
            double t0 = timer_now(), wait = 0, comm = 0;
            int g0 = base + s * o->batch;
            int ng = base + n_ep - g0 < o->batch ? base + n_ep - g0 : o->batch;
            int lo, hi;
            trainer_shard(ng, srank, sworld, &lo, &hi);
            params_zero_grad(m->p);
            int mb_done = 0, last_a = -1;
            for (int a = 0; a < o->grad_accum; a++) {
                int alo, ahi;
                trainer_shard(hi - lo, a, o->grad_accum, &alo, &ahi);
                if (ahi > alo)
                    last_a = a;
            }
            for (int a = 0; a < o->grad_accum && st == CH_OK; a++) {
                int alo, ahi;
                trainer_shard(hi - lo, a, o->grad_accum, &alo, &ahi);
                if (ahi <= alo)
                    continue;
                trainer_batch b;
                double w = 0;
                if ((st = batch_loader_next(data->loader, &b, &w, err)) != CH_OK)
                    break;
                wait += w;
                if ((st = m->ops->reserve(m, &ctx, b.N, b.T, err)) != CH_OK)
                    break;
                rng dr;
                /* the micro-batch's place in the global step (rank-major, as the shards are),
                 * so N ranks draw the masks one rank with N-step accumulation draws */
                rng_seed(&dr, seed ^ 0x64726f70ull,
                         (uint64_t)step * 4096u + (uint64_t)srank * o->grad_accum + (uint64_t)a);
                nn_input in = {b.N, b.T, b.F, b.x, b.lengths};
                m->ops->forward(m, &ctx, &in, 1, &dr, logits);
                /* each micro-batch's gradient is computed from zero and then added (one float
                 * addition per element, like the all-reduce's), so 1 rank accumulating N
                 * micro-batches sums exactly as N ranks do (bit-identical for N = 2) */
                if (mb_done > 0) {
                    memcpy(acc_g, m->p->grad, sizeof(float) * np);
                    params_zero_grad(m->p);
                }
                /* mean over the micro-batch -> its share of the global batch's mean */
                float scale = (float)b.N / (float)ng;
                double loss;
                if (task) {
                    /* the head's gradient goes straight into the zeroed grad, scaled */
                    loss = task->loss(task->ctx, m, logits, b.labels, b.N, step, spe, scale,
                                      dlogits);
                } else {
                    softmax_ce_dims cd = {b.N, K, (float)o->label_smoothing};
                    loss = softmax_ce_forward_backward(dlogits, logits, b.labels, &cd);
                    for (size_t k = 0; k < (size_t)b.N * K; k++)
                        dlogits[k] *= scale;
                }
                overlap_sink sink = {D, m->p->grad, mb_done > 0 ? acc_g : NULL, CH_OK, err};
                nn_grad_notify notify = {overlap_ready, &sink, np};
                if (overlap && a == last_a) {
                    ctx.grad_notify = &notify;
                    /* a task's head (after the model's parameters) is final already */
                    nn_grads_final_from(&ctx, m->head_classes > 0 ? m->head_offset : np);
                }
                m->ops->backward(m, &ctx, dlogits);
                ctx.grad_notify = NULL;
                if ((st = sink.st) != CH_OK)
                    break;
                /* what was not reported: all of it, or what the model did not report */
                if (mb_done > 0)
                    for (size_t k = 0; k < notify.mark; k++)
                        m->p->grad[k] += acc_g[k];
                mb_done++;
                ex.loss_sum += loss * b.N;
                ex.loss_n += b.N;
                ep_samples += b.N;
                if (D)
                    dist_add_samples(D, b.N);
            }
            if (st != CH_OK)
                break;
            /* DISTRIBUTED HOOK: sum the gradients of all ranks before clipping and stepping */
            if (!ps && dist && dist->sync_grads &&
                (st = dist->sync_grads(dist->ctx, m->p->grad, np, &comm, err)) != CH_OK)
                break;
            if (o->clip_norm > 0)
                optim_clip_grad_norm(m->p->grad, ranges, n_ranges, o->clip_norm);
            double lr = lr_warmup_cosine(o->lr, o->lr * o->min_lr_ratio, warmup_steps,
                                         total_steps, step);
            if (ps) {
                /* the servers update; the new parameters come back with the fetches */
                ps_grad_ranges(m->p->grad, ranges, n_ranges);
                double tc = timer_now();
                st = dist_worker_step(D, step, m->p->data, m->p->grad, lr, err);
                comm += timer_now() - tc;
                if (st != CH_OK)
                    break;
            } else {
                optim_step(m->p->data, &opt, m->p->grad, ranges, n_ranges, &oo, lr);
            }
            step++;
            double dt = timer_now() - t0;
            res->wait_s += wait;
            res->comm_s += comm;
            res->compute_s += dt - wait - comm;
            t_train += dt;
            progress_update(&pb, (long)(s + 1) * o->batch > n_ep ? n_ep : (long)(s + 1) * o->batch);
            bool ck_now = o->checkpoint_every > 0 && step % o->checkpoint_every == 0;
            /* DISTRIBUTED HOOK: every rank's BN running stats -> their mean, before saving */
            if (ck_now && !ps && dist && dist->average_buffers && m->n_buffers &&
                (st = dist->average_buffers(dist->ctx, m->buffers, m->n_buffers, err)) != CH_OK)
                break;
            /* sync: the checkpoint's partial epoch loss is the sum over ranks */
            trainer_extra ck_ex = ex;
            if (ck_now && ED) {
                double v[2] = {ex.loss_sum, (double)ex.loss_n};
                if ((st = dist_sum_metrics(ED, v, 2, err)) != CH_OK)
                    break;
                ck_ex.loss_sum = v[0];
                ck_ex.loss_n = (long)v[1];
            }
            if (ck_now && rank == 0) {
                char path[4400];
                st = dir_create(ckdir, err);
                ckpt_path_for_step(path, sizeof path, ckdir, step);
                /* async / downpour: the model is the servers' (worker 0's copy may be up to
                 * --n-fetch steps old), and their optimizer state goes beside it */
                const float *ck_params = m->p->data;
                if (st == CH_OK && ps) {
                    st = dist_ps_snapshot(D, ps_p, ps_s, ps_ver, err);
                    ck_params = ps_p;
                }
                if (st == CH_OK)
                    st = write_model(path, m, ck_params, m->buffers, io, err);
                if (st == CH_OK && ps)
                    st = write_ps_state(path, dopt->ps_optim, ps_ver, dist_n_servers(D), ps_s,
                                        np, err);
                ckpt_state cs;
                memset(&cs, 0, sizeof cs);
                cs.rank = 0;
                cs.world_size = (uint32_t)world;
                cs.step = step;
                cs.epoch = epoch;
                cs.data_pos = s + 1;
                cs.opt_step = opt.step;
                rng_seed(&cs.rng, seed, 0);
                cs.n_moments = (uint32_t)opt.n_moments;
                cs.n = np;
                for (int k = 0; k < opt.n_moments; k++)
                    cs.moment[k] = opt.moment[k];
                if (st == CH_OK)
                    st = ckpt_state_write(path, &cs, err);
                if (st == CH_OK)
                    st = write_extra(path, &ck_ex, err);
                if (st == CH_OK)
                    st = ckpt_mark_done(ckdir, step, err);
                if (st == CH_OK && step > 2 * o->checkpoint_every)
                    remove_step(ckdir, step - 2 * o->checkpoint_every);
            }
            if (o->max_steps > 0 && step >= o->max_steps) {
                res->stopped_early = true;
                break;
            }
        }
        progress_finish(&pb);
        samples += ep_samples;
        if (st != CH_OK || res->stopped_early)
            break;
        double ep_loss[2] = {ex.loss_sum, (double)ex.loss_n};
        if (ED && (st = dist_sum_metrics(ED, ep_loss, 2, err)) != CH_OK)
            break;
        last_loss = ep_loss[1] > 0 ? ep_loss[0] / ep_loss[1] : 0;
        if (!ps && dist && dist->average_buffers && m->n_buffers &&
            (st = dist->average_buffers(dist->ctx, m->buffers, m->n_buffers, err)) != CH_OK)
            break;
        if (ps && epoch == o->epochs - 1) {
            /* the last epoch is judged on the servers' final parameters */
            double lr_last = lr_warmup_cosine(o->lr, o->lr * o->min_lr_ratio, warmup_steps,
                                              total_steps, step > 0 ? step - 1 : 0);
            ps_finished = true;
            if ((st = dist_ps_done(D, lr_last, m->p->data, err)) != CH_OK)
                break;
        }
        if (!evaluator)
            continue;
        ch_status es = CH_OK;
        /* a task's metric is lower-better: the score kept is its negative */
        double acc = task ? -evaluate_task(m, &ctx, data, task, 1, eval_bs, ED, rank, world,
                                           err, &es)
                          : evaluate(m, &ctx, data, 1, eval_bs, logits, K, NULL, ED, rank,
                                     world, err, &es);
        if ((st = es) != CH_OK)
            break;
        bool better = ex.best_epoch < 0 || acc > ex.best_acc;
        if (better) {
            ex.best_acc = acc;
            ex.best_epoch = epoch;
            memcpy(best_p, m->p->data, sizeof(float) * np);
            if (m->n_buffers)
                memcpy(best_b, m->buffers, sizeof(float) * m->n_buffers);
            if (rank == 0 && (st = write_model(io->model_out, m, best_p, best_b, io, err)) !=
                                 CH_OK)
                break;
        }
        double ep_dt = timer_now() - t_ep;
        double lr_now = lr_warmup_cosine(o->lr, o->lr * o->min_lr_ratio, warmup_steps,
                                         total_steps, step > 0 ? step - 1 : 0);
        if (rank == 0)
            log_msg(verbosity, 1,
                    "epoch %d/%d: train loss %.4f, valid %s %.2f %%%s, lr %.3g, %.0f ex/s\n",
                    epoch + 1, o->epochs, last_loss, task ? task->metric : "acc",
                    100 * (task ? -acc : acc), better ? " (best)" : "", lr_now,
                    ep_dt > 0 ? ep_samples / ep_dt : 0);
    }
    /* PS workers end together: the servers wait for every worker's done */
    if (st == CH_OK && ps && !server && !ps_finished) {
        double lr_last = lr_warmup_cosine(o->lr, o->lr * o->min_lr_ratio, warmup_steps,
                                          total_steps, step > 0 ? step - 1 : 0);
        st = dist_ps_done(D, lr_last, m->p->data, err);
    }
    res->epochs = epoch < o->epochs ? epoch : o->epochs;
    res->steps = step;
    res->best_valid_accuracy = ex.best_acc < 0 ? 0 : ex.best_acc;
    if (task) {
        res->best_valid_accuracy = 0;
        res->best_valid_metric = ex.best_epoch >= 0 ? -ex.best_acc : -1;
    }
    res->best_epoch = ex.best_epoch;
    res->final_train_loss = last_loss;
    res->samples_per_s = t_train > 0 ? samples / t_train : 0;
    if (st == CH_OK && !server && evaluator && !res->stopped_early && ex.best_epoch >= 0 &&
        data->n_eval[2] > 0) {
        memcpy(m->p->data, best_p, sizeof(float) * np);
        if (m->n_buffers)
            memcpy(m->buffers, best_b, sizeof(float) * m->n_buffers);
        ch_status es = CH_OK;
        if (task)
            res->test_metric = evaluate_task(m, &ctx, data, task, 2, eval_bs, ED, rank, world,
                                             err, &es);
        else
            res->test_accuracy = evaluate(m, &ctx, data, 2, eval_bs, logits, K, res->confusion,
                                          ED, rank, world, err, &es);
        res->n_test = data->n_eval[2];
        st = es;
    }
    free(ps_p);
    free(ps_s);
    free(ps_ver);
    free(logits);
    free(dlogits);
    free(best_p);
    free(best_b);
    free(acc_g);
    free(perm);
    free(idx);
    free(sizes);
    free(ranges);
    optim_state_free(&opt);
    nn_model_free(m);
    if (st != CH_OK)
        trainer_result_free(res);
    return st;
}
