/* bench_sv.c — chorus side of the speaker-model training benchmark (bench/sv/run.sh).
 *
 *   bench_sv [BATCH [STEPS]]          (defaults 32, 3)
 *
 * For each model (tdnn, resnet at their defaults: 80 bins, 256-dim embedding) and each thread
 * count (1, 2): training steps on 2-s chunks (T = 200, random features): forward (train), the
 * AAM-softmax head (1000 speakers, s 32, m 0.2), backward through head and model, SGD with
 * momentum 0.9 over model + head. One warm-up step, then STEPS timed steps; prints lines
 * "model<TAB>threads<TAB>samples_per_s<TAB>gflop_per_s<TAB>flops_per_sample" (median step).
 * GFLOP/s counts 3x the forward FLOPs per sample (forward + two backward GEMMs).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/timer.h"
#include "models/aam_softmax.h"
#include "models/backend.h"
#include "models/model.h"
#include "models/optim.h"

enum { NBINS = 80, EMB = 256, FRAMES = 200, SPEAKERS = 1000 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run(const char *kind, int threads, int N, int steps)
{
    omp_set_num_threads(threads);
    rng r;
    rng_seed(&r, 1, 0);
    ch_error err;
    nn_model *m = NULL;
    aam_head *h = NULL;
    if (nn_model_create(&m, kind, NULL, NBINS, EMB, &r, &err) != CH_OK ||
        aam_head_create(&h, SPEAKERS, EMB, &r, &err) != CH_OK) {
        fprintf(stderr, "bench_sv: %s\n", err.msg);
        nn_model_free(m);
        return 1;
    }
    nn_ctx ctx = {.be = nn_backend_cpu(), .threads = threads};
    if (m->ops->reserve(m, &ctx, N, FRAMES, &err) != CH_OK) {
        fprintf(stderr, "bench_sv: %s\n", err.msg);
        nn_model_free(m);
        aam_head_free(h);
        return 1;
    }
    aam_dims ad = {.N = N, .D = EMB, .K = SPEAKERS, .scale = 32, .margin = 0.2f};
    float *x = malloc(sizeof(float) * (size_t)N * FRAMES * NBINS);
    float *emb = malloc(sizeof(float) * N * EMB), *demb = malloc(sizeof(float) * N * EMB);
    float *ws = malloc(sizeof(float) * ctx.be->aam_softmax_workspace_floats(&ad));
    int *labels = malloc(sizeof(int) * N), *lens = malloc(sizeof(int) * N);
    for (size_t i = 0; i < (size_t)N * FRAMES * NBINS; i++)
        x[i] = (float)rng_normal(&r);
    for (int n = 0; n < N; n++) {
        labels[n] = (int)rng_below(&r, SPEAKERS);
        lens[n] = FRAMES;
    }
    optim_options oo = optim_options_sgd(0.1);
    oo.momentum = 0.9;
    optim_state sm, sh;
    optim_state_init(&sm, &oo, m->p->n, &err);
    optim_state_init(&sh, &oo, h->p->n, &err);
    optim_range rm = {0, m->p->n, 1.0f, 0}, rh = {0, h->p->n, 1.0f, 0};
    nn_input in = {N, FRAMES, NBINS, x, lens};
    double *dt = malloc(sizeof(double) * (size_t)(steps + 1));
    for (int s = 0; s <= steps; s++) {
        double t0 = timer_now();
        params_zero_grad(m->p);
        params_zero_grad(h->p);
        m->ops->forward(m, &ctx, &in, 1, &r, emb);
        ctx.be->aam_softmax_forward_backward(NULL, demb, h->dw, emb, h->w, labels, &ad, ws);
        m->ops->backward(m, &ctx, demb);
        optim_step(m->p->data, &sm, m->p->grad, &rm, 1, &oo, 0.1);
        optim_step(h->p->data, &sh, h->p->grad, &rh, 1, &oo, 0.1);
        dt[s] = timer_now() - t0;
    }
    qsort(dt + 1, (size_t)steps, sizeof(double), cmp_double);
    double med = dt[1 + steps / 2], fl = m->ops->flops_per_sample(m, FRAMES);
    printf("%s\t%d\t%.2f\t%.1f\t%.0f\n", kind, threads, N / med, 3.0 * fl * N / med / 1e9, fl);
    fflush(stdout);
    free(dt), free(x), free(emb), free(demb), free(ws), free(labels), free(lens);
    optim_state_free(&sm);
    optim_state_free(&sh);
    aam_head_free(h);
    nn_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    int N = argc > 1 ? atoi(argv[1]) : 32, steps = argc > 2 ? atoi(argv[2]) : 3;
    if (N < 1 || steps < 1) {
        fprintf(stderr, "usage: bench_sv [BATCH [STEPS]]\n");
        return 2;
    }
    const char *only = getenv("SV_BENCH_MODELS"); /* e.g. "tdnn" */
    static const char *const kinds[2] = {"tdnn", "resnet"};
    for (int k = 0; k < 2; k++) {
        if (only && !strstr(only, kinds[k]))
            continue;
        for (int th = 1; th <= 2; th++)
            if (run(kinds[k], th, N, steps))
                return 1;
    }
    return 0;
}
