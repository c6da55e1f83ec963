/* bench_dist.c — speed of the distributed layer's gradient sync, run under mpirun by
 * bench/dist/run.sh.
 *
 *   bench_dist allreduce [MAX_MB]  per size (4 KiB .. MAX_MB): time of dist_allreduce_grads
 *                                  (chorus) and of a bare MPI_Allreduce on MPI_COMM_WORLD (peer),
 *                                  median of repeats after a warm-up; prints
 *                                  "allreduce BYTES chorus_s peer_s chorus_busbw_MBps peer_busbw"
 *                                  with bus bandwidth = bytes/time x 2(N-1)/N (ring all-reduce).
 *   bench_dist overlap MB LAYERS MS  a simulated backward of LAYERS layers of MS ms compute each
 *                                  over MB MB of gradients; step time with the sync after
 *                                  backward (blocking) vs buckets reported per layer
 *                                  (overlapped) vs compute alone; prints
 *                                  "overlap compute_s blocking_s overlapped_s".
 * Only rank 0 prints. Without MPI it says so and exits 77.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timer.h"
#include "train/dist.h"

#if CHORUS_HAVE_MPI
#include <mpi.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* A fixed amount of float work (passes over w) that the compiler cannot drop: fixed work, not
 * a fixed time, so a rank that is descheduled on a shared machine shows up as slower. */
static float busy(float *w, size_t n, long passes)
{
    float acc = 0;
    for (long p = 0; p < passes; p++)
        for (size_t i = 0; i < n; i++) {
            w[i] = w[i] * 0.999f + 0.001f;
            acc += w[i];
        }
    return acc;
}

/* passes of busy() per `ms` milliseconds, from the fastest of 30 timed passes on rank 0 (the
 * minimum is robust to preemption), the same on every rank */
static long calibrate(dist_ctx *d, float *w, size_t n, double ms)
{
    double best = 1e9;
    for (int i = 0; i < 30; i++) {
        double t = timer_now();
        volatile float s = busy(w, n, 1);
        (void)s;
        double dt = timer_now() - t;
        best = dt < best ? dt : best;
    }
    long passes = (long)(ms * 1e-3 / best) + 1;
    MPI_Bcast(&passes, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    (void)d;
    return passes;
}

static int run_allreduce(dist_ctx *d, double max_mb, ch_error *err)
{
    int N = dist_world(d);
    size_t max_n = (size_t)(max_mb * 1024 * 1024 / 4);
    float *g = calloc(max_n, sizeof(float));
    double *tc = calloc(64, sizeof(double)), *tp = calloc(64, sizeof(double));
    if (!g || !tc || !tp)
        return 1;
    for (size_t n = 1024; n <= max_n; n *= 4) {
        int reps = n <= 65536 ? 40 : n <= (1u << 20) ? 12 : 5;
        for (int r = -2; r < reps; r++) {
            dist_barrier(d, err);
            double t = timer_now();
            if (dist_allreduce_grads(d, g, n, err) != CH_OK)
                return 1;
            double a = timer_now() - t;
            dist_barrier(d, err);
            t = timer_now();
            MPI_Allreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double b = timer_now() - t;
            if (r >= 0) {
                tc[r] = a;
                tp[r] = b;
            }
        }
        double mc = median(tc, reps), mp = median(tp, reps);
        double bytes = (double)n * 4, f = 2.0 * (N - 1) / N;
        if (dist_is_root(d))
            printf("allreduce\t%.0f\t%.6f\t%.6f\t%.1f\t%.1f\n", bytes, mc, mp,
                   bytes / mc * f / 1e6, bytes / mp * f / 1e6);
    }
    free(g);
    free(tc);
    free(tp);
    return 0;
}

static int run_overlap(dist_ctx *d, double mb, int layers, double ms, ch_error *err)
{
    size_t n = (size_t)(mb * 1024 * 1024 / 4), per = n / (size_t)layers;
    n = per * (size_t)layers;
    float *g = calloc(n, sizeof(float)), *w = calloc(4096, sizeof(float));
    double t3[3][16];
    if (!g || !w)
        return 1;
    float sink = 0;
    const int reps = 7;
    long passes = calibrate(d, w, 4096, ms);
    /* modes interleaved per repeat, so that load changes on a shared machine hit all three */
    for (int r = -1; r < reps; r++)
        for (int mode = 0; mode < 3; mode++) {
            dist_barrier(d, err);
            double t = timer_now();
            for (int l = layers - 1; l >= 0; l--) { /* backward: last layer first */
                sink += busy(w, 4096, passes);
                if (mode == 2 && dist_grad_bucket_ready(d, g, (size_t)l * per, per, err) != CH_OK)
                    return 1;
            }
            if (mode == 1 && dist_allreduce_grads(d, g, n, err) != CH_OK)
                return 1;
            if (mode == 2 && dist_grad_sync_finish(d, g, n, err) != CH_OK)
                return 1;
            if (r >= 0)
                t3[mode][r] = timer_now() - t;
        }
    if (dist_is_root(d))
        printf("overlap\t%.6f\t%.6f\t%.6f\t%g\n", median(t3[0], reps), median(t3[1], reps),
               median(t3[2], reps), (double)sink * 0.0);
    free(g);
    free(w);
    return 0;
}

int main(int argc, char **argv)
{
    ch_error err;
    dist_ctx *d = NULL;
    if (argc < 2 || (strcmp(argv[1], "allreduce") != 0 && strcmp(argv[1], "overlap") != 0)) {
        fprintf(stderr, "usage: bench_dist allreduce [MAX_MB] | overlap MB LAYERS MS\n");
        return 2;
    }
    ch_status st = dist_init(&d, &argc, &argv, &err);
    if (st != CH_OK)
        return dist_finish(NULL, "bench_dist", st, &err, true);
    dist_options o = dist_options_default();
    int rc;
    if (strcmp(argv[1], "allreduce") == 0) {
        double max_mb = argc > 2 ? atof(argv[2]) : 16;
        o.bucket_kb = 1024;
        st = dist_setup(d, &o, (size_t)(max_mb * 1024 * 1024 / 4), &err);
        rc = st == CH_OK ? run_allreduce(d, max_mb, &err) : 1;
    } else {
        double mb = argc > 2 ? atof(argv[2]) : 4;
        int layers = argc > 3 ? atoi(argv[3]) : 8;
        double ms = argc > 4 ? atof(argv[4]) : 5;
        o.bucket_kb = 256;
        st = dist_setup(d, &o, (size_t)(mb * 1024 * 1024 / 4), &err);
        rc = st == CH_OK ? run_overlap(d, mb, layers, ms, &err) : 1;
    }
    if (st == CH_OK && rc != 0)
        st = CH_ERR_INTERNAL;
    return dist_finish(d, "bench_dist", st, &err, false);
}

#else
int main(void)
{
    printf("SKIP: bench_dist needs a build with MPI\n");
    return 77;
}
#endif
