/* bench_fbank.c — chorus side of the frontend benchmark (bench/frontend/run.sh).
 *
 *   bench_fbank [SIGNAL_DIR]
 *
 * Single-thread fbank-80 (dither 0, otherwise Kaldi defaults) on 10 s, 60 s and 600 s of a
 * deterministic speech-like signal (harmonics with a wandering pitch plus noise, int16 scale),
 * then the same on 10 s with Kaldi's default dither=1 (no peer line), then multi-thread
 * throughput over 512 one-second utterances with one shared computer and a workspace per
 * thread. Prints lines "case<TAB>x_real_time" (median of 7 timed repeats after a
 * warm-up). With SIGNAL_DIR, also writes the signals as raw float32 (sig_<sec>s.f32) so the peer
 * script computes on exactly the same input.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/timer.h"
#include "frontend/features.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *make_signal(long n, uint64_t seed)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    rng r;
    rng_seed(&r, seed, 0);
    double phase = 0;
    for (long i = 0; i < n; i++) {
        double t = (double)i / 16000.0;
        double f0 = 120.0 + 40.0 * sin(2 * M_PI * 0.7 * t);
        phase += 2 * M_PI * f0 / 16000.0;
        double v = 0;
        for (int h = 1; h <= 8; h++)
            v += sin(h * phase) / h;
        v = 3000.0 * v * (0.6 + 0.4 * sin(2 * M_PI * 3.0 * t)) + 200.0 * rng_normal(&r);
        x[i] = (float)lrint(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
    }
    return x;
}

int main(int argc, char **argv)
{
    const char *dump = argc > 1 ? argv[1] : NULL;
    feat_options o = feat_options_default(FEAT_FBANK);
    o.num_mel_bins = 80;
    o.dither = 0.0f;
    feat_computer *c;
    feat_workspace *ws;
    ch_error e;
    if (feat_computer_create(&o, &c, &e) != CH_OK || feat_workspace_create(c, &ws, &e) != CH_OK) {
        fprintf(stderr, "bench_fbank: %s\n", e.msg);
        return 1;
    }
    const int secs[] = {10, 60, 600};
    for (int k = 0; k < 3; k++) {
        long n = 16000L * secs[k];
        float *x = make_signal(n, 1234);
        if (dump) {
            char path[4096];
            snprintf(path, sizeof path, "%s/sig_%ds.f32", dump, secs[k]);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(x, sizeof(float), (size_t)n, f) != (size_t)n) {
                fprintf(stderr, "bench_fbank: cannot write %s\n", path);
                return 1;
            }
            fclose(f);
        }
        long T = feat_num_frames(c, n);
        float *y = malloc(sizeof(float) * (size_t)T * (size_t)feat_dim(c));
        feat_compute(c, ws, NULL, x, n, y, &e); /* warm-up */
        int reps = secs[k] >= 600 ? 3 : secs[k] >= 60 ? 5 : 25; /* inner loop, ~0.1-0.3 s */
        double t[7];
        for (int r = 0; r < 7; r++) {
            double t0 = timer_now();
            for (int i = 0; i < reps; i++)
                feat_compute(c, ws, NULL, x, n, y, &e);
            t[r] = (timer_now() - t0) / reps;
        }
        qsort(t, 7, sizeof *t, cmp_double);
        printf("fbank80 %ds 1t\t%.0f\n", secs[k], secs[k] / t[3]);
        fflush(stdout);
        free(x);
        free(y);
    }

    /* Kaldi's default dither (a Gaussian per sample, bit-exact with Kaldi's RandGauss): what
     * feat-extract costs without --dither=0; no peer line (the peers run with dither 0) */
    {
        feat_options od = o;
        od.dither = 1.0f;
        feat_computer *cd;
        feat_workspace *wd;
        if (feat_computer_create(&od, &cd, &e) != CH_OK ||
            feat_workspace_create(cd, &wd, &e) != CH_OK) {
            fprintf(stderr, "bench_fbank: %s\n", e.msg);
            return 1;
        }
        long nd = 16000L * 10;
        float *xd = make_signal(nd, 1234);
        float *yd = malloc(sizeof(float) * (size_t)feat_num_frames(cd, nd) * (size_t)feat_dim(cd));
        feat_rand r;
        feat_rand_init(&r, 1);
        feat_compute(cd, wd, &r, xd, nd, yd, &e); /* warm-up */
        double t[5];
        for (int k = 0; k < 5; k++) {
            double t0 = timer_now();
            feat_compute(cd, wd, &r, xd, nd, yd, &e);
            t[k] = timer_now() - t0;
        }
        qsort(t, 5, sizeof *t, cmp_double);
        printf("fbank80 10s 1t dither=1\t%.0f\n", 10.0 / t[2]);
        fflush(stdout);
        free(xd);
        free(yd);
        feat_workspace_free(wd);
        feat_computer_free(cd);
    }

    /* throughput over many 1-s utterances */
    enum { NUTT = 512 };
    long n = 16000;
    float *x = make_signal(n * NUTT, 99);
    long T = feat_num_frames(c, n);
    int dim = feat_dim(c);
    float *y = malloc(sizeof(float) * (size_t)T * (size_t)dim * NUTT);
    int maxt = omp_get_max_threads();
    for (int threads = 1; threads <= maxt; threads *= 2) {
        double t[5];
        for (int r = 0; r < 5; r++) {
            double t0 = timer_now();
#pragma omp parallel num_threads(threads)
            {
                feat_workspace *w = NULL;
                ch_error e2;
                if (feat_workspace_create(c, &w, &e2) == CH_OK) {
#pragma omp for schedule(dynamic, 8)
                    for (int u = 0; u < NUTT; u++)
                        feat_compute(c, w, NULL, x + (size_t)u * n, n,
                                     y + (size_t)u * T * dim, &e2);
                }
                feat_workspace_free(w);
            }
            t[r] = timer_now() - t0;
        }
        qsort(t, 5, sizeof *t, cmp_double);
        printf("fbank80 512x1s %dt\t%.0f\n", threads, NUTT / t[2]);
        if (threads * 2 > maxt && threads != maxt)
            threads = maxt / 2; /* also measure exactly maxt */
    }
    free(x);
    free(y);
    feat_workspace_free(ws);
    feat_computer_free(c);
    return 0;
}
