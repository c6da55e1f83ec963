/* lr_schedule.h — learning-rate schedules as pure functions of the step / epoch, plus
 * ReduceLROnPlateau with a small explicit state.
 *
 * Warm-up + cosine (per optimizer step s = 0, 1, ...; base lr B, floor F, warm-up W steps,
 * total S steps):
 *   s <  W:  lr = B * (s + 1) / W
 *   s >= W:  lr = F + (B - F) * 0.5 * (1 + cos(pi * min(1, (s - W) / max(1, S - W))))
 * (equivalently torch.optim.lr_scheduler.LambdaLR with that lambda divided by B).
 * Step decay (torch StepLR): lr = B * gamma ^ floor(epoch / step_size).
 * Plateau (torch ReduceLROnPlateau, threshold_mode "rel"): after each epoch's metric, the metric
 * is "better" if < best * (1 - threshold) (mode min) or > best * (1 + threshold) (mode max);
 * after more than `patience` epochs without improvement, lr = max(lr * factor, min_lr) (applied
 * only if it changes lr by more than eps = 1e-8), then `cooldown` epochs are ignored.
 */
#ifndef CHORUS_LR_SCHEDULE_H
#define CHORUS_LR_SCHEDULE_H

#include <stdint.h>

double lr_warmup_cosine(double base_lr, double floor_lr, int64_t warmup_steps,
                        int64_t total_steps, int64_t step);
double lr_step_decay(double base_lr, double gamma, int64_t step_size, int64_t epoch);

typedef enum { LR_PLATEAU_MIN = 0, LR_PLATEAU_MAX = 1 } lr_plateau_mode;

typedef struct {
    lr_plateau_mode mode;
    double factor;    /* torch default 0.1 */
    int patience;     /* torch default 10 */
    double threshold; /* torch default 1e-4 (relative) */
    int cooldown;     /* torch default 0 */
    double min_lr;    /* torch default 0 */
} lr_plateau_options;

/* State: plain values, saved with the training state. */
typedef struct {
    double lr;
    double best;
    int num_bad_epochs;
    int cooldown_counter;
} lr_plateau;

/* torch defaults for the given mode. */
lr_plateau_options lr_plateau_options_default(lr_plateau_mode mode);
/* Starts at lr = initial_lr, best = +inf (min) / -inf (max). */
lr_plateau lr_plateau_init(const lr_plateau_options *o, double initial_lr);
/* Feeds one epoch's metric; returns the lr to use from now on (also p->lr). */
double lr_plateau_step(lr_plateau *p, const lr_plateau_options *o, double metric);

#endif
