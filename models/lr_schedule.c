/* lr_schedule.c — warm-up + cosine, step decay, reduce-on-plateau (see lr_schedule.h). */
#include "models/lr_schedule.h"

#include <math.h>

double lr_warmup_cosine(double base_lr, double floor_lr, int64_t warmup_steps,
                        int64_t total_steps, int64_t step)
{
    if (step < warmup_steps)
        return base_lr * (double)(step + 1) / (double)warmup_steps;
    int64_t span = total_steps - warmup_steps;
    double frac = (double)(step - warmup_steps) / (double)(span > 1 ? span : 1);
    if (frac > 1.0)
        frac = 1.0;
    return floor_lr + (base_lr - floor_lr) * 0.5 * (1.0 + cos(M_PI * frac));
}

double lr_step_decay(double base_lr, double gamma, int64_t step_size, int64_t epoch)
{
    if (step_size <= 0)
        return base_lr;
    return base_lr * pow(gamma, (double)(epoch / step_size));
}

lr_plateau_options lr_plateau_options_default(lr_plateau_mode mode)
{
    lr_plateau_options o = {mode, 0.1, 10, 1e-4, 0, 0.0};
    return o;
}

lr_plateau lr_plateau_init(const lr_plateau_options *o, double initial_lr)
{
    lr_plateau p = {initial_lr, o->mode == LR_PLATEAU_MIN ? INFINITY : -INFINITY, 0, 0};
    return p;
}

double lr_plateau_step(lr_plateau *p, const lr_plateau_options *o, double metric)
{
    int better = o->mode == LR_PLATEAU_MIN ? metric < p->best * (1.0 - o->threshold)
                                           : metric > p->best * (1.0 + o->threshold);
    if (better) {
        p->best = metric;
        p->num_bad_epochs = 0;
    } else {
        p->num_bad_epochs++;
    }
    if (p->cooldown_counter > 0) {
        p->cooldown_counter--;
        p->num_bad_epochs = 0;
    }
    if (p->num_bad_epochs > o->patience) {
        double nl = p->lr * o->factor;
        if (nl < o->min_lr)
            nl = o->min_lr;
        if (p->lr - nl > 1e-8)
            p->lr = nl;
        p->cooldown_counter = o->cooldown;
        p->num_bad_epochs = 0;
    }
    return p->lr;
}
