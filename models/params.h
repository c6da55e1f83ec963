/* params.h — a model's parameters: one contiguous buffer carved into named views from a size
 * table, with a gradient buffer that mirrors it.
 *
 * The model describes its parameters once as a param_spec table (name, shape, group, init).
 * params_create lays the views out in table order in one float buffer `data` (and `grad`, same
 * offsets), so optimizers (moments of size n), all-reduce, parameter-server sharding and
 * checkpoints work on the whole buffer or on (offset, count) ranges. A group is a named
 * contiguous range (consecutive table entries with the same group name) used for --freeze and
 * --lr-scale; a group name appearing in two separate runs of the table is rejected.
 *
 * Initialisation (params_init) is deterministic from an rng, in table order, like PyTorch's
 * defaults: PARAM_INIT_TORCH_WEIGHT = kaiming_uniform(a = sqrt 5) = U(-1/sqrt(fan_in), ..) for
 * conv / linear weights (fan_in = prod(shape[1:])), PARAM_INIT_TORCH_BIAS = U(-1/sqrt(fan_in))
 * with the fan_in of the layer's weight (spec.fan_in), XAVIER_UNIFORM (fan_in + fan_out),
 * KAIMING_NORMAL (relu gain, fan_in), UNIFORM (U(-scale, scale), e.g. LSTM's 1/sqrt(H)), ONES
 * and ZEROS (batch-norm gamma / beta and running statistics).
 * Buffers without gradient (batch-norm running statistics) belong in their own group so the
 * trainer can exclude it from the optimizer.
 */
#ifndef CHORUS_PARAMS_H
#define CHORUS_PARAMS_H

#include <stddef.h>

#include "common/rng.h"
#include "common/status.h"

#define PARAM_MAX_DIMS 4
#define PARAM_NAME_MAX 64

typedef enum {
    PARAM_INIT_ZEROS,
    PARAM_INIT_ONES,
    PARAM_INIT_TORCH_WEIGHT,
    PARAM_INIT_TORCH_BIAS,
    PARAM_INIT_XAVIER_UNIFORM,
    PARAM_INIT_KAIMING_NORMAL,
    PARAM_INIT_UNIFORM
} param_init;

typedef struct {
    const char *name;             /* unique, e.g. "block1.conv2.weight" */
    int ndim;                     /* 1 .. PARAM_MAX_DIMS */
    int shape[PARAM_MAX_DIMS];
    const char *group;            /* e.g. "frontend", "encoder", "classifier" */
    param_init init;
    int fan_in;                   /* PARAM_INIT_TORCH_BIAS: fan_in of the layer's weight */
    float scale;                  /* PARAM_INIT_UNIFORM: bound */
} param_spec;

typedef struct {
    char name[PARAM_NAME_MAX];
    char group[PARAM_NAME_MAX];
    int ndim;
    int shape[PARAM_MAX_DIMS];
    size_t offset, count;         /* in floats, into data / grad */
    param_init init;
    int fan_in;
    float scale;
} param_view;

typedef struct {
    char name[PARAM_NAME_MAX];
    size_t offset, count;
} param_group;

typedef struct {
    float *data;                  /* n floats, owned */
    float *grad;                  /* n floats, owned, zeroed at creation */
    size_t n;
    int nviews;
    param_view *views;            /* owned */
    int ngroups;
    param_group *groups;          /* owned, in buffer order */
} params;

/* Lays out the table (count entries) and allocates data and grad (64-byte aligned, zeroed).
 * Views are packed in table order without padding, so a checkpoint is exactly data[0..n).
 * Errors: duplicate names, bad shapes, a group split into two runs (CH_ERR_USAGE); memory. On
 * success *out is owned by the caller (params_free). */
ch_status params_create(params **out, const param_spec *table, int count, ch_error *err);
void params_free(params *p);
/* Appends the views of `extra` (count entries) after those of *p: the existing views keep
 * their offsets, data and grad; the new ones are initialised from r as params_init would
 * (drawing only for them). *p is replaced by the new block (the old one freed); on error it is
 * left as it was. Used to add a training-only head (e.g. AAM-softmax classes) to a model. */
ch_status params_extend(params **p, const param_spec *extra, int count, rng *r, ch_error *err);

/* Initialises every view per its init kind, drawing from r in table order. */
void params_init(params *p, rng *r);
/* grad[0..n) = 0 (once per step; layer backwards accumulate). */
void params_zero_grad(params *p);

/* The view named `name`, or NULL. */
const param_view *params_find(const params *p, const char *name);
/* data / grad of a view by name, or NULL when absent. */
float *params_data(const params *p, const char *name);
float *params_grad(const params *p, const char *name);
/* The group named `name`, or NULL. */
const param_group *params_find_group(const params *p, const char *name);

#endif
