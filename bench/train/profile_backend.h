/* profile_backend.h — a timing wrapper around the CPU backend table, for the benchmarks only
 * (header-only, one translation unit per program). Every entry the KWS model calls goes through
 * a wrapper that adds its wall time to a per-kind slot; the model code is unchanged because it
 * only ever calls ctx->be. The slots are file-static: acceptable in a single-threaded benchmark
 * driver (the wrapped kernels run their own OpenMP inside), never in the library.
 */
#ifndef CHORUS_BENCH_PROFILE_BACKEND_H
#define CHORUS_BENCH_PROFILE_BACKEND_H

#include <stdio.h>
#include <string.h>

#include <time.h>

#include "models/backend.h"

/* Process CPU seconds: on a shared, oversubscribed machine wall time measures the neighbours;
 * CPU time measures our work (summed over threads). */
static inline double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define PROF_SLOTS 24
static struct {
    const char *name[PROF_SLOTS];
    double sec[PROF_SLOTS];
    long calls[PROF_SLOTS];
    int n;
} prof_;

static inline void profile_add(const char *name, double s)
{
    int i = 0;
    while (i < prof_.n && strcmp(prof_.name[i], name) != 0)
        i++;
    if (i == prof_.n) {
        if (prof_.n == PROF_SLOTS)
            return;
        prof_.name[prof_.n++] = name;
    }
    prof_.sec[i] += s;
    prof_.calls[i]++;
}

static inline void profile_reset(void)
{
    memset(prof_.sec, 0, sizeof prof_.sec);
    memset(prof_.calls, 0, sizeof prof_.calls);
}

static inline void profile_print(FILE *out, double total)
{
    double sum = 0;
    for (int i = 0; i < prof_.n; i++)
        sum += prof_.sec[i];
    fprintf(out, "%-26s %10s %7s %8s\n", "layer", "seconds", "share", "calls");
    for (int i = 0; i < prof_.n; i++)
        fprintf(out, "%-26s %10.4f %6.1f%% %8ld\n", prof_.name[i], prof_.sec[i],
                100.0 * prof_.sec[i] / total, prof_.calls[i]);
    fprintf(out, "%-26s %10.4f %6.1f%%\n", "(not in a layer)", total - sum,
            100.0 * (total - sum) / total);
}

#define PROF_WRAP(nm, args, call)                                                              \
    static void prof_##nm args                                                                 \
    {                                                                                          \
        double t0_ = cpu_now();                                                                \
        nn_backend_cpu()->nm call;                                                             \
        profile_add(#nm, cpu_now() - t0_);                                                     \
    }

PROF_WRAP(conv2d_forward,
          (float *out, const float *in, const float *w, const float *b, const conv2d_dims *d,
           float *ws),
          (out, in, w, b, d, ws))
PROF_WRAP(conv2d_backward,
          (float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
           const conv2d_dims *d, float *ws),
          (din, dw, db, dout, in, w, d, ws))
PROF_WRAP(batchnorm_forward_train,
          (float *out, float *sm, float *si, float *rm, float *rv, const float *in,
           const float *g, const float *b, const batchnorm_dims *d),
          (out, sm, si, rm, rv, in, g, b, d))
PROF_WRAP(batchnorm_forward_eval,
          (float *out, const float *in, const float *g, const float *b, const float *rm,
           const float *rv, const batchnorm_dims *d),
          (out, in, g, b, rm, rv, d))
PROF_WRAP(batchnorm_backward,
          (float *din, float *dg, float *db, const float *dout, const float *in, const float *sm,
           const float *si, const float *g, const batchnorm_dims *d),
          (din, dg, db, dout, in, sm, si, g, d))
PROF_WRAP(relu_forward, (float *out, const float *in, size_t n), (out, in, n))
PROF_WRAP(relu_backward, (float *din, const float *dout, const float *out, size_t n),
          (din, dout, out, n))
PROF_WRAP(avgpool2d_forward, (float *out, const float *in, const pool2d_dims *d), (out, in, d))
PROF_WRAP(avgpool2d_backward, (float *din, const float *dout, const pool2d_dims *d),
          (din, dout, d))
PROF_WRAP(linear_forward,
          (float *out, const float *in, const float *w, const float *b, const linear_dims *d),
          (out, in, w, b, d))
PROF_WRAP(linear_backward,
          (float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
           const linear_dims *d),
          (din, dw, db, dout, in, w, d))
PROF_WRAP(lstm_forward,
          (float *y, float *hn, float *cn, float *gates, float *cells, const float *x,
           const int *lengths, const float *w, const lstm_dims *d, float *ws),
          (y, hn, cn, gates, cells, x, lengths, w, d, ws))
PROF_WRAP(lstm_backward,
          (float *dx, float *dw, float *dh0, float *dc0, const float *dy, const float *dhn,
           const float *dcn, const float *y, const float *gates, const float *cells,
           const float *x, const int *lengths, const float *w, const lstm_dims *d, float *ws),
          (dx, dw, dh0, dc0, dy, dhn, dcn, y, gates, cells, x, lengths, w, d, ws))
PROF_WRAP(attention_pool_forward,
          (float *out, float *saved, const float *h, const int *lengths, const float *w,
           const attention_pool_dims *d, float *ws),
          (out, saved, h, lengths, w, d, ws))
PROF_WRAP(attention_pool_backward,
          (float *dh, float *dw, const float *dout, const float *saved, const float *h,
           const int *lengths, const float *w, const attention_pool_dims *d, float *ws),
          (dh, dw, dout, saved, h, lengths, w, d, ws))

PROF_WRAP(conv2d_bnrelu_forward,
          (float *out, const float *in, const float *scale, const float *shift, const float *w,
           const float *b, const conv2d_dims *d, float *ws),
          (out, in, scale, shift, w, b, d, ws))

/* The CPU table with the model's entries wrapped (copied once into a static table). */
static inline const nn_backend *profile_backend(void)
{
    static nn_backend t;
    t = *nn_backend_cpu();
    t.name = "cpu-profiled";
    t.conv2d_forward = prof_conv2d_forward;
    t.conv2d_backward = prof_conv2d_backward;
    t.conv2d_bnrelu_forward = prof_conv2d_bnrelu_forward;
    t.batchnorm_forward_train = prof_batchnorm_forward_train;
    t.batchnorm_forward_eval = prof_batchnorm_forward_eval;
    t.batchnorm_backward = prof_batchnorm_backward;
    t.relu_forward = prof_relu_forward;
    t.relu_backward = prof_relu_backward;
    t.avgpool2d_forward = prof_avgpool2d_forward;
    t.avgpool2d_backward = prof_avgpool2d_backward;
    t.linear_forward = prof_linear_forward;
    t.linear_backward = prof_linear_backward;
    t.lstm_forward = prof_lstm_forward;
    t.lstm_backward = prof_lstm_backward;
    t.attention_pool_forward = prof_attention_pool_forward;
    t.attention_pool_backward = prof_attention_pool_backward;
    return &t;
}

#endif
