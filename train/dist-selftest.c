/* dist-selftest.c — trains a small MLP on a synthetic, separable data set with the distributed
 * layer (train/dist.h), so that every mode can be checked end to end without audio or models.
 *
 *   dist-selftest [options]                         one process (with --accum K: K micro-batches)
 *   mpirun -np N dist-selftest --dist sync          data parallel
 *   mpirun -np 3 dist-selftest --dist async --ps 1  1 parameter server, 2 workers
 *   mpirun -np 3 dist-selftest --dist downpour --ps 1 --n-fetch 2 --n-push 2
 *
 * Model: x (32) -> linear (hidden) -> relu -> linear (8 classes) -> softmax cross-entropy, one
 * flat buffer [W1 b1 W2 b2], plain SGD. Data: 8 Gaussian classes (seeded by --data-seed), 4096
 * training and 1024 test points. Sync: global batch --batch, each rank takes its shard of it,
 * `--accum K` splits a rank's shard into K micro-batches; N ranks x K micro-batches run the same
 * computation for every N*K, which is what tests/test_dist_mpi.sh checks (2 ranks = 1 rank with
 * --accum 2). Async/downpour: every worker takes its own batches of --batch.
 * Backward reports each layer's gradient to dist_grad_bucket_ready as soon as it is final (W2/b2
 * first), so the overlapped bucket path is what runs (--no-overlap: one blocking all-reduce).
 * Fault injection for the tests: --kill-rank R --kill-step S (SIGKILL), --fail-rank/--fail-step
 * (an error return on one rank). Rank 0 prints the result; --out FILE writes the per-step loss
 * and the final parameters as text (%.9g, exact for floats); --json adds the dist report.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/rng.h"
#include "common/timer.h"
#include "train/dist.h"

#define PROG "dist-selftest"
#define D_IN 32
#define N_CLASSES 8
#define N_TRAIN 4096
#define N_TEST 1024

typedef struct {
    int steps;
    int batch;
    double lr;
    int accum;
    int hidden;
    bool no_overlap;
    int64_t data_seed;
    double separation;
    int kill_rank, kill_step, fail_rank, fail_step;
    int stall_step;
    double stall_s;
    char out[512];
} selftest_options;

static const opt_desc selftest_opts[] = {
    OPT_INT(selftest_options, steps, "steps", 1, 1 << 24, "Training steps (per worker)"),
    OPT_INT(selftest_options, batch, "batch", 1, 1 << 20,
            "sync: global batch; async/downpour: each worker's batch"),
    OPT_DOUBLE(selftest_options, lr, "lr", 0, 100, "SGD learning rate"),
    OPT_INT(selftest_options, accum, "accum", 1, 1024,
            "sync: micro-batches per rank per step (gradient accumulation)"),
    OPT_INT(selftest_options, hidden, "hidden", 1, 1 << 16, "Hidden units"),
    OPT_BOOL(selftest_options, no_overlap, "no-overlap",
             "sync: one blocking all-reduce after backward instead of overlapped buckets"),
    OPT_INT64(selftest_options, data_seed, "data-seed", 0, 9.2e18, "Seed of the synthetic data"),
    OPT_DOUBLE(selftest_options, separation, "separation", 0, 100,
               "Distance scale between class centres (smaller = harder)"),
    OPT_INT(selftest_options, kill_rank, "kill-rank", -1, 1 << 20,
            "Test hook: this rank kills itself (SIGKILL) at --kill-step (a server: that many "
            "milliseconds after it starts serving)"),
    OPT_INT(selftest_options, kill_step, "kill-step", -1, 1 << 30, "Test hook: step of the kill"),
    OPT_INT(selftest_options, stall_step, "stall-step", -1, 1 << 30,
            "Test hook: every worker sleeps --stall-s seconds at this step"),
    OPT_DOUBLE(selftest_options, stall_s, "stall-s", 0, 3600, "Test hook: length of the stall"),
    OPT_INT(selftest_options, fail_rank, "fail-rank", -1, 1 << 20,
            "Test hook: this rank returns an error at --fail-step"),
    OPT_INT(selftest_options, fail_step, "fail-step", -1, 1 << 30,
            "Test hook: step of the error"),
    OPT_STRING(selftest_options, out, "out",
               "Rank 0 writes 'loss STEP VALUE' and 'param I VALUE' lines here"),
};

typedef struct {
    float *x;  /* (n, D_IN) */
    int *y;
    int n;
} dataset;

typedef struct {
    int H;
    size_t n, oW1, ob1, oW2, ob2;
    /* per-batch work buffers, sized for the largest micro-batch */
    float *h, *logits, *dlogits, *dh, *g;
    int cap;
} mlp;

static ch_status make_data(uint64_t seed, double sep, dataset *tr, dataset *te, ch_error *err)
{
    rng r;
    rng_seed(&r, seed, 7);
    float centres[N_CLASSES][D_IN];
    for (int c = 0; c < N_CLASSES; c++)
        for (int j = 0; j < D_IN; j++)
            centres[c][j] = (float)(sep * rng_normal(&r));
    dataset *sets[2] = {tr, te};
    int sizes[2] = {N_TRAIN, N_TEST};
    for (int k = 0; k < 2; k++) {
        dataset *s = sets[k];
        s->n = sizes[k];
        s->x = ch_malloc(err, sizeof(float) * D_IN * (size_t)s->n, "data");
        s->y = ch_malloc(err, sizeof(int) * (size_t)s->n, "data");
        if (!s->x || !s->y)
            return CH_ERR_NOMEM;
        for (int i = 0; i < s->n; i++) {
            int c = (int)rng_below(&r, N_CLASSES);
            s->y[i] = c;
            for (int j = 0; j < D_IN; j++)
                s->x[(size_t)i * D_IN + j] = centres[c][j] + (float)rng_normal(&r);
        }
    }
    return CH_OK;
}

static ch_status mlp_init(mlp *m, int H, int cap, float **params, float **grad, rng *r,
                          ch_error *err)
{
    m->H = H;
    m->oW1 = 0;
    m->ob1 = m->oW1 + (size_t)H * D_IN;
    m->oW2 = m->ob1 + (size_t)H;
    m->ob2 = m->oW2 + (size_t)N_CLASSES * H;
    m->n = m->ob2 + N_CLASSES;
    m->cap = cap;
    *params = ch_malloc(err, sizeof(float) * m->n, "parameters");
    *grad = ch_calloc(err, m->n, sizeof(float), "gradients");
    m->g = ch_calloc(err, m->n, sizeof(float), "micro-batch gradients");
    m->h = ch_malloc(err, sizeof(float) * (size_t)cap * H, "activations");
    m->dh = ch_malloc(err, sizeof(float) * (size_t)cap * H, "activations");
    m->logits = ch_malloc(err, sizeof(float) * (size_t)cap * N_CLASSES, "activations");
    m->dlogits = ch_malloc(err, sizeof(float) * (size_t)cap * N_CLASSES, "activations");
    if (!*params || !*grad || !m->g || !m->h || !m->dh || !m->logits || !m->dlogits)
        return CH_ERR_NOMEM;
    /* torch nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias */
    float *p = *params;
    float a1 = 1.0f / sqrtf((float)D_IN), a2 = 1.0f / sqrtf((float)H);
    for (size_t i = m->oW1; i < m->oW2; i++)
        p[i] = (float)((2 * rng_uniform(r) - 1) * a1);
    for (size_t i = m->oW2; i < m->n; i++)
        p[i] = (float)((2 * rng_uniform(r) - 1) * a2);
    return CH_OK;
}

static void mlp_free(mlp *m)
{
    free(m->g);
    free(m->h);
    free(m->dh);
    free(m->logits);
    free(m->dlogits);
}

/* Forward over samples idx[0..n): logits; returns the summed cross-entropy, counts correct. */
static double mlp_forward(mlp *m, const float *p, const dataset *ds, const int *idx, int n,
                          int *correct)
{
    const int H = m->H;
    double loss = 0;
    int ok = 0;
    for (int s = 0; s < n; s++) {
        const float *x = ds->x + (size_t)idx[s] * D_IN;
        float *h = m->h + (size_t)s * H;
        for (int j = 0; j < H; j++) {
            const float *w = p + m->oW1 + (size_t)j * D_IN;
            float a = p[m->ob1 + j];
            for (int k = 0; k < D_IN; k++)
                a += w[k] * x[k];
            h[j] = a > 0 ? a : 0;
        }
        float *z = m->logits + (size_t)s * N_CLASSES;
        int arg = 0;
        for (int c = 0; c < N_CLASSES; c++) {
            const float *w = p + m->oW2 + (size_t)c * H;
            float a = p[m->ob2 + c];
            for (int j = 0; j < H; j++)
                a += w[j] * h[j];
            z[c] = a;
            if (a > z[arg])
                arg = c;
        }
        float mx = z[arg];
        double se = 0;
        for (int c = 0; c < N_CLASSES; c++)
            se += exp((double)(z[c] - mx));
        loss += log(se) - (double)(z[ds->y[idx[s]]] - mx);
        ok += arg == ds->y[idx[s]];
    }
    if (correct)
        *correct = ok;
    return loss;
}

/* Backward of the last forward with d(loss)/d(logit) scaled by `scale`/n (mean over the n
 * samples times the shard's share of the global batch); the micro-batch gradient is built in
 * m->g and then added to grad, so accumulating micro-batches adds whole gradients exactly as
 * the all-reduce does. Each finished layer is reported to the dist layer when report is set. */
static ch_status mlp_backward(mlp *m, const float *p, const dataset *ds, const int *idx, int n,
                              float scale, float *grad, dist_ctx *d, bool report, ch_error *err)
{
    const int H = m->H;
    memset(m->g, 0, sizeof(float) * m->n);
    float inv = scale / (float)n;
    for (int s = 0; s < n; s++) {
        float *z = m->logits + (size_t)s * N_CLASSES, *dz = m->dlogits + (size_t)s * N_CLASSES;
        float mx = z[0];
        for (int c = 1; c < N_CLASSES; c++)
            mx = z[c] > mx ? z[c] : mx;
        double se = 0;
        for (int c = 0; c < N_CLASSES; c++)
            se += exp((double)(z[c] - mx));
        for (int c = 0; c < N_CLASSES; c++)
            dz[c] = (float)(exp((double)(z[c] - mx)) / se) * inv;
        dz[ds->y[idx[s]]] -= inv;
    }
    /* layer 2 */
    for (int s = 0; s < n; s++) {
        const float *h = m->h + (size_t)s * H, *dz = m->dlogits + (size_t)s * N_CLASSES;
        for (int c = 0; c < N_CLASSES; c++) {
            float *gw = m->g + m->oW2 + (size_t)c * H;
            for (int j = 0; j < H; j++)
                gw[j] += dz[c] * h[j];
            m->g[m->ob2 + c] += dz[c];
        }
    }
    for (size_t i = m->oW2; i < m->n; i++)
        grad[i] += m->g[i];
    if (report)
        CH_TRY(dist_grad_bucket_ready(d, grad, m->oW2, m->n - m->oW2, err));
    /* layer 1 */
    for (int s = 0; s < n; s++) {
        const float *h = m->h + (size_t)s * H, *dz = m->dlogits + (size_t)s * N_CLASSES;
        float *dh = m->dh + (size_t)s * H;
        for (int j = 0; j < H; j++) {
            float a = 0;
            for (int c = 0; c < N_CLASSES; c++)
                a += dz[c] * p[m->oW2 + (size_t)c * H + j];
            dh[j] = h[j] > 0 ? a : 0;
        }
        const float *x = ds->x + (size_t)idx[s] * D_IN;
        for (int j = 0; j < H; j++) {
            float *gw = m->g + m->oW1 + (size_t)j * D_IN;
            for (int k = 0; k < D_IN; k++)
                gw[k] += dh[j] * x[k];
            m->g[m->ob1 + j] += dh[j];
        }
    }
    for (size_t i = 0; i < m->oW2; i++)
        grad[i] += m->g[i];
    if (report) {
        /* b1 then W1, as a layer-by-layer backward would report them */
        CH_TRY(dist_grad_bucket_ready(d, grad, m->ob1, m->oW2 - m->ob1, err));
        CH_TRY(dist_grad_bucket_ready(d, grad, m->oW1, m->ob1 - m->oW1, err));
    }
    return CH_OK;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Test hook for servers, which have no steps: die kill_step ms after serving starts. */
static void *killer(void *arg)
{
    sleep_s(*(const int *)arg * 1e-3);
    fflush(NULL);
    raise(SIGKILL);
    return NULL;
}

typedef struct {
    selftest_options so;
    dist_options dopt;
    cli_common com;
    dataset tr, te;
    mlp m;
    float *p, *grad;
    int *order, *lengths;
    double *losses;
    int epoch_loaded;
    bool past_setup; /* errors before this are the same on every rank */
} run_state;

/* The sample ids of global batch `b` (batches counted over epochs; every rank gets the same). */
static ch_status batch_ids(run_state *rs, dist_ctx *d, int64_t b, const int **ids, ch_error *err)
{
    int B = rs->so.batch, per_epoch = N_TRAIN / B;
    int epoch = (int)(b / per_epoch);
    if (epoch != rs->epoch_loaded) {
        CH_TRY(dist_epoch_order((uint64_t)rs->com.seed, epoch, rs->lengths, N_TRAIN, B,
                                rs->order, err));
        rs->epoch_loaded = epoch;
    }
    (void)d;
    *ids = rs->order + (size_t)(b % per_epoch) * B;
    return CH_OK;
}

/* The collectives a trainer uses besides the gradient sync, checked against their definitions
 * on rank-dependent data: buffer averaging over workers (batch-norm running statistics), metric
 * sums over workers, broadcast from the last rank. */
static ch_status check_collectives(dist_ctx *d, ch_error *err)
{
    enum { NB = 1000 };
    float buf[NB];
    const int rank = dist_rank(d), world = dist_world(d), nw = dist_n_workers(d);
    for (int i = 0; i < NB; i++)
        buf[i] = (float)(world - 1) * 7.0f + (float)i;
    if (rank != world - 1)
        for (int i = 0; i < NB; i++)
            buf[i] = -1.0f;
    CH_TRY(dist_broadcast(d, buf, NB, world - 1, err));
    for (int i = 0; i < NB; i++)
        if (buf[i] != (float)(world - 1) * 7.0f + (float)i)
            return ch_fail(err, CH_ERR_INTERNAL, "rank %d: dist_broadcast self-check failed at "
                                                 "%d: %g", rank, i, buf[i]);
    if (dist_is_server(d))
        return CH_OK;
    const int w = dist_worker_index(d);
    for (int i = 0; i < NB; i++)
        buf[i] = (float)(w * 1000 + i);
    CH_TRY(dist_average_buffers(d, buf, NB, err));
    for (int i = 0; i < NB; i++) {
        double want = (nw - 1) * 500.0 + i; /* mean over w of w*1000 + i */
        if (fabs(buf[i] - want) > 1e-3 * (1 + want))
            return ch_fail(err, CH_ERR_INTERNAL, "rank %d: dist_average_buffers self-check "
                                                 "failed at %d: %g, want %g", rank, i, buf[i],
                           want);
    }
    double v[2] = {1.0, (double)w};
    CH_TRY(dist_sum_metrics(d, v, 2, err));
    if (v[0] != nw || v[1] != nw * (nw - 1) / 2.0)
        return ch_fail(err, CH_ERR_INTERNAL, "rank %d: dist_sum_metrics self-check failed: "
                                             "%g %g", rank, v[0], v[1]);
    return CH_OK;
}

static ch_status run(run_state *rs, dist_ctx *d, ch_error *err)
{
    selftest_options *so = &rs->so;
    if (so->batch > N_TRAIN)
        return ch_fail(err, CH_ERR_USAGE, "--batch %d is larger than the %d training samples",
                       so->batch, N_TRAIN);
    CH_TRY(make_data((uint64_t)so->data_seed, so->separation, &rs->tr, &rs->te, err));
    rng init;
    rng_seed(&init, (uint64_t)rs->com.seed, 1);
    int cap = so->batch > N_TEST ? so->batch : N_TEST;
    CH_TRY(mlp_init(&rs->m, so->hidden, cap, &rs->p, &rs->grad, &init, err));
    const size_t n = rs->m.n;
    rs->order = ch_malloc(err, sizeof(int) * N_TRAIN, "epoch order");
    rs->lengths = ch_malloc(err, sizeof(int) * N_TRAIN, "lengths");
    rs->losses = ch_calloc(err, (size_t)so->steps, sizeof(double), "loss log");
    if (!rs->order || !rs->lengths || !rs->losses)
        return CH_ERR_NOMEM;
    /* pretend utterance lengths, so the length bucketing of the epoch order is exercised */
    rng lr_;
    rng_seed(&lr_, (uint64_t)so->data_seed, 9);
    for (int i = 0; i < N_TRAIN; i++)
        rs->lengths[i] = 20 + (int)rng_below(&lr_, 80);
    rs->epoch_loaded = -1;

    /* the layout is checked by every rank alike: its errors are collective */
    ch_status st = dist_setup(d, &rs->dopt, n, err);
    if (st != CH_OK)
        return st;
    rs->past_setup = true;
    if (cli_verbosity(&rs->com) >= 2)
        fprintf(stderr, "%s: rank %d of %d: local rank %d of %d on this node, %d threads, %s\n",
                PROG, dist_rank(d), dist_world(d), dist_local_rank(d), dist_local_size(d),
                dist_threads(d, rs->com.threads),
                dist_is_server(d) ? "parameter server" : "worker");
    CH_TRY(check_collectives(d, err));
    CH_TRY(dist_broadcast(d, rs->p, n, 0, err));
    const int rank = dist_rank(d);
    const dist_mode mode = dist_get_mode(d);
    const int nw = dist_n_workers(d), w = dist_worker_index(d);
    if (dist_is_server(d)) {
        if (rank == so->kill_rank && so->kill_step >= 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, killer, &so->kill_step) == 0)
                pthread_detach(t);
        }
        return dist_ps_serve(d, rs->p, n, err);
    }

    if (mode != DIST_SYNC)
        CH_TRY(dist_ps_fetch(d, rs->p, err));
    for (int64_t step = 0; step < so->steps; step++) {
        if (rank == so->kill_rank && step == so->kill_step) {
            fflush(NULL);
            raise(SIGKILL);
        }
        if (step == so->stall_step)
            sleep_s(so->stall_s);
        if (rank == so->fail_rank && step == so->fail_step)
            return ch_fail(err, CH_ERR_INTERNAL, "injected failure at step %lld",
                           (long long)step);
        memset(rs->grad, 0, sizeof(float) * n);
        double loss = 0;
        if (mode == DIST_SYNC) {
            const int *ids;
            CH_TRY(batch_ids(rs, d, step, &ids, err));
            int parts = nw * so->accum;
            for (int a = 0; a < so->accum; a++) {
                int b0, cnt;
                dist_shard(so->batch, parts, w * so->accum + a, &b0, &cnt);
                if (cnt == 0)
                    continue;
                float scale = dist_loss_scale(cnt, so->batch);
                loss += mlp_forward(&rs->m, rs->p, &rs->tr, ids + b0, cnt, NULL) / so->batch;
                bool report = !so->no_overlap && a == so->accum - 1;
                CH_TRY(mlp_backward(&rs->m, rs->p, &rs->tr, ids + b0, cnt, scale, rs->grad, d,
                                    report, err));
            }
            if (so->no_overlap)
                CH_TRY(dist_allreduce_grads(d, rs->grad, n, err));
            else
                CH_TRY(dist_grad_sync_finish(d, rs->grad, n, err));
            CH_TRY(dist_sum_metrics(d, &loss, 1, err));
            const float lr = (float)so->lr;
            for (size_t i = 0; i < n; i++)
                rs->p[i] -= lr * rs->grad[i];
            dist_add_samples(d, (double)so->batch / nw);
        } else {
            /* workers take interleaved global batches: different data, the same epochs */
            const int *ids;
            CH_TRY(batch_ids(rs, d, step * nw + w, &ids, err));
            loss = mlp_forward(&rs->m, rs->p, &rs->tr, ids, so->batch, NULL) / so->batch;
            CH_TRY(mlp_backward(&rs->m, rs->p, &rs->tr, ids, so->batch, 1.0f, rs->grad, d, false,
                                err));
            CH_TRY(dist_worker_step(d, step, rs->p, rs->grad, so->lr, err));
            dist_add_samples(d, so->batch);
        }
        rs->losses[step] = loss;
    }
    if (mode != DIST_SYNC)
        CH_TRY(dist_ps_done(d, so->lr, rs->p, err));
    return CH_OK;
}

/* Rank 0: accuracy on the test set, the --out file and the report. */
static ch_status report(run_state *rs, dist_ctx *d, ch_error *err)
{
    dist_summary sum;
    CH_TRY(dist_stats_gather(d, &sum, err));
    if (!dist_is_root(d))
        return CH_OK;
    int *idx = ch_malloc(err, sizeof(int) * N_TEST, "test ids");
    if (!idx)
        return CH_ERR_NOMEM;
    for (int i = 0; i < N_TEST; i++)
        idx[i] = i;
    int correct = 0;
    double tl = mlp_forward(&rs->m, rs->p, &rs->te, idx, N_TEST, &correct) / N_TEST;
    free(idx);
    double acc = (double)correct / N_TEST;
    const selftest_options *so = &rs->so;
    if (so->out[0]) {
        FILE *f = fopen(so->out, "w");
        if (!f)
            return ch_fail(err, CH_ERR_IO, "%s: cannot open for writing", so->out);
        for (int s = 0; s < so->steps; s++)
            fprintf(f, "loss %d %.9g\n", s, rs->losses[s]);
        for (size_t i = 0; i < rs->m.n; i++)
            fprintf(f, "param %zu %.9g\n", i, rs->p[i]);
        if (fclose(f) != 0)
            return ch_fail(err, CH_ERR_IO, "%s: write failed", so->out);
    }
    if (cli_verbosity(&rs->com) >= 1) {
        printf("%s: %s, %d ranks: train loss %.4f -> %.4f, test loss %.4f, test accuracy %.4f\n",
               PROG, dist_mode_name(sum.mode), sum.world, rs->losses[0],
               rs->losses[so->steps - 1], tl, acc);
        dist_summary_print(&sum, stdout, false);
    }
    if (rs->com.json) {
        printf("{\"mode\":\"%s\",\"world\":%d,\"steps\":%d,\"first_loss\":%.6f,"
               "\"final_loss\":%.6f,\"test_loss\":%.6f,\"test_accuracy\":%.6f,",
               dist_mode_name(sum.mode), sum.world, so->steps, rs->losses[0],
               rs->losses[so->steps - 1], tl, acc);
        dist_summary_print(&sum, stdout, true);
        printf("}\n");
    }
    return CH_OK;
}

int main(int argc, char **argv)
{
    ch_error err;
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.com = cli_common_default();
    rs.dopt = dist_options_default();
    rs.so = (selftest_options){.steps = 200, .batch = 64, .lr = 0.1, .accum = 1, .hidden = 64,
                               .data_seed = 1, .separation = 0.6, .kill_rank = -1,
                               .kill_step = -1, .fail_rank = -1, .fail_step = -1,
                               .stall_step = -1, .stall_s = 0};
    opt_group groups[] = {
        {"Self-test", selftest_opts, OPT_COUNT(selftest_opts), &rs.so},
        DIST_GROUP(&rs.dopt),
        CLI_COMMON_GROUP(&rs.com),
    };
    opt_parser parser = {PROG, "[options]   (alone, or under mpirun -np N / srun)",
                         "Trains a small MLP on synthetic data through the distributed layer "
                         "(sync all-reduce, parameter server, Downpour SGD) and reports loss, "
                         "test accuracy, throughput, time split and staleness.",
                         groups, sizeof groups / sizeof *groups, 0, 0};
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int n_pos = 0;
    bool help = false;
    ch_status st = pos ? opt_parse(&parser, argc, argv, pos, &n_pos, &help, &err)
                       : ch_fail(&err, CH_ERR_NOMEM, "out of memory");
    free(pos);
    if (st != CH_OK || help) {
        /* before MPI is up every rank parses alike: let only the first one say it */
        return st != CH_OK ? dist_report_early(PROG, st, &err) : 0;
    }
    dist_ctx *d = NULL;
    if ((st = dist_init(&d, &argc, &argv, &err)) != CH_OK)
        return dist_finish(NULL, PROG, st, &err, true);
    st = run(&rs, d, &err);
    /* errors up to dist_setup (options, layout) are the same on every rank; later ones may be
     * one rank's own, and the others must not wait for it */
    bool collective = !rs.past_setup;
    if (st == CH_OK)
        st = report(&rs, d, &err);
    free(rs.tr.x);
    free(rs.tr.y);
    free(rs.te.x);
    free(rs.te.y);
    mlp_free(&rs.m);
    free(rs.p);
    free(rs.grad);
    free(rs.order);
    free(rs.lengths);
    free(rs.losses);
    return dist_finish(d, PROG, st, &err, collective);
}
