/* bench_kws_train.c — chorus side of the KWS training benchmark (bench/train/run.sh).
 *
 *   bench_kws_train THREADS [BATCH [FRAMES [STEPS [profile]]]]
 *
 * The default DenseNet-BiLSTM (12 classes, 40 bins), random features and labels, every clip
 * FRAMES long (98 = 1 s): the model step only — zero grad, forward (train), label-smoothed
 * cross entropy, backward, AdamW over the whole buffer — exactly what bench/kws/ref_model.py
 * --mode train times. Two warm-up steps, then STEPS timed steps. Prints tab-separated rows:
 *   train_b<B>_<N>t        samples/s (wall clock)
 *   train_b<B>_<N>t_cpu    samples per CPU-second x N (= samples/s on N dedicated cores)
 *   train_<N>t_peak_rss_mb peak resident set (getrusage)
 *   train_<N>t_gflops      achieved GFLOP/s (3 x forward FLOPs per sample)
 * With "profile", a wrapped backend table times every layer kind and prints its share.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/rng.h"
#include "common/timer.h"
#include <time.h>
#include "models/model.h"
#include "models/optim.h"

#include "bench/train/profile_backend.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_kws_train THREADS [BATCH [FRAMES [STEPS [profile]]]]\n");
        return 2;
    }
    const int threads = atoi(argv[1]);
    const int N = argc > 2 ? atoi(argv[2]) : 64, T = argc > 3 ? atoi(argv[3]) : 98;
    const int steps = argc > 4 ? atoi(argv[4]) : 10;
    const int prof = argc > 5 && strcmp(argv[5], "profile") == 0;
    const int F = 40, K = 12;
    if (threads < 1 || N < 1 || T < 1 || steps < 1) {
        fprintf(stderr, "bench_kws_train: THREADS, BATCH, FRAMES, STEPS must be >= 1\n");
        return 2;
    }
    omp_set_num_threads(threads);
    ch_error err;
    rng r;
    rng_seed(&r, 1, 0);
    nn_model *m;
    if (nn_model_create(&m, "densenet-bilstm", NULL, F, K, &r, &err) != CH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    nn_ctx ctx = {.be = prof ? profile_backend() : nn_backend_cpu(), .threads = threads};
    if (m->ops->reserve(m, &ctx, N, T, &err) != CH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    float *x = malloc(sizeof(float) * (size_t)N * T * F);
    int *lengths = malloc(sizeof(int) * (size_t)N), *labels = malloc(sizeof(int) * (size_t)N);
    float *logits = malloc(sizeof(float) * (size_t)N * K), *dl = malloc(sizeof(float) * (size_t)N * K);
    for (size_t i = 0; i < (size_t)N * T * F; i++)
        x[i] = (float)rng_normal(&r);
    for (int n = 0; n < N; n++) {
        lengths[n] = T;
        labels[n] = (int)rng_below(&r, K);
    }
    optim_options o = optim_options_adamw(1e-3);
    optim_state st;
    if (optim_state_init(&st, &o, m->p->n, &err) != CH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    optim_range rg = {0, m->p->n, 1.0f, 0};
    nn_input in = {N, T, F, x, lengths};
    softmax_ce_dims cd = {N, K, 0.1f};
    double t0 = 0, c0 = 0;
    for (int s = 0; s < steps + 2; s++) {
        if (s == 2) {
            t0 = timer_now();
            c0 = cpu_now();
            profile_reset();
        }
        params_zero_grad(m->p);
        m->ops->forward(m, &ctx, &in, 1, &r, logits);
        ctx.be->softmax_ce_forward_backward(dl, logits, labels, &cd);
        m->ops->backward(m, &ctx, dl);
        double ta = cpu_now();
        optim_step(m->p->data, &st, m->p->grad, &rg, 1, &o, 1e-3);
        profile_add("adamw", cpu_now() - ta);
    }
    double dt = timer_now() - t0, dc = cpu_now() - c0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("train_b%d_%dt\t%.2f\n", N, threads, (double)N * steps / dt);
    /* per CPU-second of the process: robust to neighbours on this shared machine; with 1 thread
     * it is the throughput of one dedicated core */
    printf("train_b%d_%dt_cpu\t%.2f\n", N, threads, (double)N * steps / dc * threads);
    printf("train_%dt_peak_rss_mb\t%.1f\n", threads, ru.ru_maxrss / 1024.0);
    printf("train_%dt_gflops\t%.1f\n", threads,
           3.0 * m->ops->flops_per_sample(m, T) * N * steps / dt * 1e-9);
    if (prof)
        profile_print(stderr, dc);
    optim_state_free(&st);
    free(x);
    free(lengths);
    free(labels);
    free(logits);
    free(dl);
    nn_model_free(m);
    return 0;
}
