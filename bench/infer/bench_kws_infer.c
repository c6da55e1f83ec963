/* bench_kws_infer.c — chorus side of the KWS inference benchmark (bench/infer/run.sh).
 *
 *   bench_kws_infer [THREADS [FRAMES [REPEATS [profile]]]]
 *
 * Latency of one eval-mode forward of the default DenseNet-BiLSTM (12 classes, 40 bins) on one
 * clip of FRAMES frames (98 = 1 s) at batch 1, the model reserved once (as kws-detect does).
 * Median of REPEATS timed forwards after 5 warm-ups, the same protocol as
 * bench/kws/ref_model.py --mode infer (which reports the mean; the C side prints both). Rows:
 *   infer_b1_<N>t_ms          median latency per clip, milliseconds
 *   infer_b1_<N>t_mean_ms     mean latency
 *   infer_b1_<N>t_cpu_ms      median process CPU time per clip (robust to neighbours)
 *   infer_<N>t_peak_rss_mb    peak resident set
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

#include "bench/train/profile_backend.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    const int T = argc > 2 ? atoi(argv[2]) : 98, reps = argc > 3 ? atoi(argv[3]) : 200;
    const int prof = argc > 4 && strcmp(argv[4], "profile") == 0;
    const int F = 40, K = 12;
    if (threads < 1 || T < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_kws_infer [THREADS [FRAMES [REPEATS [profile]]]]\n");
        return 2;
    }
    omp_set_num_threads(threads);
    ch_error err;
    rng r;
    rng_seed(&r, 2, 0);
    nn_model *m;
    if (nn_model_create(&m, "densenet-bilstm", NULL, F, K, &r, &err) != CH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    nn_ctx ctx = {.be = prof ? profile_backend() : nn_backend_cpu(), .threads = threads};
    if (m->ops->reserve(m, &ctx, 1, T, &err) != CH_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    float *x = malloc(sizeof(float) * (size_t)T * F), logits[12];
    for (int i = 0; i < T * F; i++)
        x[i] = (float)rng_normal(&r);
    double *lat = malloc(sizeof(double) * (size_t)reps), sum = 0;
    double *clat = malloc(sizeof(double) * (size_t)reps);
    int len = T;
    nn_input in = {1, T, F, x, &len};
    for (int i = 0; i < 5; i++)
        m->ops->forward(m, &ctx, &in, 0, NULL, logits);
    profile_reset();
    double c_all = cpu_now();
    for (int i = 0; i < reps; i++) {
        double t0 = timer_now(), c0 = cpu_now();
        m->ops->forward(m, &ctx, &in, 0, NULL, logits);
        lat[i] = timer_now() - t0;
        clat[i] = cpu_now() - c0;
        sum += lat[i];
    }
    c_all = cpu_now() - c_all;
    qsort(lat, (size_t)reps, sizeof(double), cmp_double);
    qsort(clat, (size_t)reps, sizeof(double), cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("infer_b1_%dt_ms\t%.3f\n", threads, 1e3 * lat[reps / 2]);
    printf("infer_b1_%dt_mean_ms\t%.3f\n", threads, 1e3 * sum / reps);
    printf("infer_b1_%dt_cpu_ms\t%.3f\n", threads, 1e3 * clat[reps / 2]);
    printf("infer_%dt_peak_rss_mb\t%.1f\n", threads, ru.ru_maxrss / 1024.0);
    if (prof)
        profile_print(stderr, c_all);
    free(lat);
    free(clat);
    free(x);
    nn_model_free(m);
    return 0;
}
