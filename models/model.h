/* model.h — what every trainable model offers the trainers (kws-train, sv-train), the
 * distributed layer (train/dist*) and the inference commands (kws-detect, sv-embed).
 *
 * A model is a kind name ("densenet-bilstm", "tdnn", "resnet"), its hyper-parameters as
 * "key=value" lines (what a checkpoint stores; unknown keys are an error, missing keys take the
 * kind's defaults), one params block (models/params.h: every trained float in one buffer, grads
 * mirror it, groups name contiguous ranges for --freeze / --lr-scale), and a separate buffer of
 * non-trained state (batch-norm running mean/var) that checkpoints store beside the params and
 * that the optimizer and gradient all-reduce never touch.
 *
 * Input is a padded batch of feature matrices, batch-first (N, T, F): sequence n has
 * lengths[n] valid frames (1..T); frames past it are zero and must not change the output
 * (models pool over valid frames only, and the BiLSTM runs with packed-sequence semantics).
 * Output is (N, out_dim): logits for a classifier (KWS), the embedding for a speaker model.
 *
 * Lifetime: nn_model_create → (reserve → forward → backward)* → nn_model_free. Activations
 * live in an arena owned by the model, sized by reserve for the largest (N, T) seen, so a
 * training step allocates nothing. forward(train=1) keeps what backward needs; backward
 * ACCUMULATES into p->grad (the caller zeroes it per optimizer step, which is what makes
 * gradient accumulation and bucketed all-reduce work). Results are deterministic for a given
 * thread count.
 */
#ifndef CHORUS_MODEL_H
#define CHORUS_MODEL_H

#include <stddef.h>

#include "common/options.h"
#include "common/rng.h"
#include "common/status.h"
#include "models/backend.h"
#include "models/checkpoint.h"
#include "models/params.h"

typedef struct nn_model nn_model;

typedef struct {
    int N;              /* batch */
    int T;              /* padded frames */
    int F;              /* feature bins (must equal the model's in_bins) */
    const float *x;     /* (N, T, F), row-major, zero past lengths[n] */
    const int *lengths; /* (N) valid frames, 1..T */
} nn_input;

typedef struct {
    const char *kind;
    /* Makes room for batches up to N x T (grows the arena; no-op when already big enough).
     * Call it after setting the thread count: models size their per-thread layer workspaces
     * here (inside their arena; ctx->ws is not needed by them). */
    ch_status (*reserve)(nn_model *m, nn_ctx *ctx, int N, int T, ch_error *err);
    /* out: (N, out_dim). train = 1: batch-norm batch statistics (running stats updated),
     * dropout drawn from r, activations kept for backward. train = 0: eval mode, r unused. */
    void (*forward)(nn_model *m, nn_ctx *ctx, const nn_input *in, int train, rng *r,
                    float *out);
    /* dout: (N, out_dim) gradient of the loss w.r.t. out of the last forward(train = 1);
     * accumulates into m->p->grad. */
    void (*backward)(nn_model *m, nn_ctx *ctx, const float *dout);
    /* Forward FLOPs of one sample of T frames (a multiply-add counts 2). */
    double (*flops_per_sample)(const nn_model *m, int T);
    void (*destroy)(nn_model *m); /* frees impl (not p, buffers: nn_model_free does) */
} nn_model_ops;

struct nn_model {
    const nn_model_ops *ops;
    params *p;           /* trained parameters + gradients, owned */
    float *buffers;      /* non-trained state (BN running stats), n_buffers floats, owned */
    size_t n_buffers;
    int in_bins;         /* F */
    int out_dim;         /* classes (KWS) or embedding size (SV) */
    char kind[32];
    char *hparams;       /* resolved "key=value\n" lines, every key (owned) */
    int head_classes;    /* > 0: a training head "head.weight" (head_classes, out_dim) in p */
    size_t head_offset;  /* its offset in p->data / p->grad (after every kind parameter) */
    void *impl;          /* the kind's own state */
};

/* Gradient-ready notices, for overlapping a gradient all-reduce with backward. Every kind lays
 * its parameters out in forward order, one layer's (or unit's) parameters contiguous, so
 * backward finishes them from the end of the buffer towards the start: after a layer's
 * parameter gradients are final (nothing later in this backward adds to them), backward calls
 * nn_grads_final_from(ctx, <offset of the layer's first parameter>), which reports
 * [offset, mark) to ready() and lowers mark to offset. The caller sets mark to where the final
 * part starts before backward (the parameter count, or less when it has finished a head
 * itself) and afterwards treats [0, mark) as not reported. ready() runs on the thread that
 * called backward, between layers. On a device backend it would have to wait for the stream
 * first (the trainers use it on the CPU only). */
typedef struct nn_grad_notify {
    void (*ready)(void *arg, size_t offset, size_t count);
    void *arg;
    size_t mark;
} nn_grad_notify;

static inline void nn_grads_final_from(nn_ctx *ctx, size_t offset)
{
    nn_grad_notify *n = ctx->grad_notify;
    if (n && offset < n->mark) {
        n->ready(n->arg, offset, n->mark - offset);
        n->mark = offset;
    }
}

/* Creates a model of `kind` from hparams ("key=value" lines or "key=value,key=value"; NULL or
 * "" = the kind's defaults) for in_bins input features and out_dim outputs, parameters
 * initialised from init (PyTorch's default schemes). Unknown kind / key / bad value:
 * CH_ERR_USAGE naming it. */
ch_status nn_model_create(nn_model **out, const char *kind, const char *hparams, int in_bins,
                          int out_dim, rng *init, ch_error *err);
void nn_model_free(nn_model *m);

/* The kinds nn_model_create knows, NULL-terminated. */
const char *const *nn_model_kinds(void);

/* Every kind accepts three generic keys, handled here rather than by the kind: "in-bins" and
 * "out-dim" (nn_model_create's in_bins / out_dim arguments win when > 0; a different value in
 * hparams is a usage error; 0 means "take it from hparams"; m->hparams always starts with both,
 * so a checkpoint's hparams alone recreate the model), and "head-classes" (default 0): K > 0
 * appends a classifier weight "head.weight" (K, out_dim), group "head", after the kind's
 * parameters — the AAM-softmax head a speaker model trains with (models/aam_softmax.h). The
 * kind never reads it (forward still outputs the embedding), checkpoints carry it (so training
 * resumes with it), and inference simply ignores it. */

/* Recreates the model a checkpoint holds (kind + hparams, then its params and buffers copied
 * in). Errors: unknown kind / bad hparams (CH_ERR_FORMAT, the checkpoint is at fault), a
 * parameter or buffer count that does not match what the hparams imply (CH_ERR_FORMAT). */
ch_status nn_model_from_checkpoint(nn_model **out, const ckpt_model *ck, ch_error *err);

/* For kinds (models/<kind>.c): applies "key=value" lines (already split and trimmed by
 * nn_model_create: one per line, no in-bins/out-dim) to an option table. CH_ERR_USAGE names the
 * kind and the key. */
ch_status nn_hparams_apply(const char *kind, const char *lines, const opt_group *g,
                           ch_error *err);
/* Formats every option of g as "key=value\n" lines appended to *buf (realloc'ed; owner
 * caller). */
ch_status nn_hparams_append(char **buf, const opt_group *g, ch_error *err);

#endif
