/* dist.c — the MPI-free part of the distributed layer: options, sharding, the shared epoch
 * order and the report. See dist.h for the contract. */
#include "train/dist.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "common/cli.h"
#include "common/rng.h"
#include "common/timer.h"

dist_options dist_options_default(void)
{
    dist_options o;
    memset(&o, 0, sizeof o);
    o.mode = DIST_SYNC;
    o.ps = 1;
    o.n_fetch = 1;
    o.n_push = 1;
    o.workers_per_node = 0;
    o.bucket_kb = 0;
    o.ps_optim = DIST_PS_SGD;
    o.ps_momentum = 0.0;
    o.ps_adagrad_init = 0.1;
    o.local_update = true; /* DistBelief's Downpour client */
    o.timeout_s = 600.0;
    o.progress = 0;
    o.overlap = true;
    return o;
}

const opt_desc dist_opts[] = {
    OPT_CHOICE(dist_options, mode, "dist", "sync|async|downpour",
               "Distributed mode under mpirun/srun: sync (data-parallel all-reduce), async "
               "(parameter server) or downpour (Downpour SGD)"),
    OPT_INT(dist_options, ps, "ps", 1, 1 << 20,
            "async/downpour: ranks that are parameter servers (the last ones)"),
    OPT_INT(dist_options, n_fetch, "n-fetch", 1, 1 << 30,
            "downpour: a worker fetches parameters every this many steps"),
    OPT_INT(dist_options, n_push, "n-push", 1, 1 << 30,
            "downpour: a worker pushes gradients accumulated over this many steps"),
    OPT_INT(dist_options, workers_per_node, "workers-per-node", 0, 1 << 20,
            "Check that every node runs this many ranks (0 = no check); threads per rank "
            "default to the node's cores divided by its ranks"),
    OPT_INT(dist_options, bucket_kb, "bucket-kb", 0, 1 << 20,
            "sync: gradient all-reduce bucket size in KiB (launched as backward produces it); "
            "0 = an eighth of the gradient, 16 KiB to 1 MiB"),
    OPT_CHOICE(dist_options, ps_optim, "ps-optim", "sgd|adagrad",
               "async/downpour: update the servers apply (SGD with --ps-momentum, or Adagrad "
               "as DistBelief)"),
    OPT_DOUBLE(dist_options, ps_momentum, "ps-momentum", 0, 0.999999,
               "async/downpour: SGD momentum on the servers"),
    OPT_DOUBLE(dist_options, ps_adagrad_init, "ps-adagrad-init", 0, 1e9,
               "async/downpour: Adagrad's initial accumulator value"),
    OPT_BOOL(dist_options, local_update, "local-update",
             "downpour: workers also update their own parameters between fetches (DistBelief's "
             "Downpour client), with SGD or a local Adagrad; false: only fetches change them"),
    OPT_DOUBLE(dist_options, timeout_s, "dist-timeout", 1, 1e9,
               "Servers give up after this many seconds without a message from any worker"),
    OPT_CHOICE(dist_options, progress, "dist-progress", "thread|poll",
               "sync: advance the bucket all-reduces from a progress thread (overlaps backward) "
               "or only when backward reports a bucket"),
    OPT_BOOL(dist_options, overlap, "dist-overlap",
             "sync: start each gradient bucket's all-reduce as soon as backward has finished its "
             "layers, overlapped with the rest of backward (false: all of it after backward)"),
};
const size_t dist_n_opts = OPT_COUNT(dist_opts);

const char *dist_mode_name(dist_mode m)
{
    switch (m) {
    case DIST_SYNC: return "sync";
    case DIST_ASYNC: return "async";
    case DIST_DOWNPOUR: return "downpour";
    }
    return "?";
}

int dist_env_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                       "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v);
    }
    return 0;
}

void dist_shard(int B, int n, int w, int *begin, int *count)
{
    /* floor(w*B/n) boundaries: counts differ by at most one and tile [0, B) exactly */
    long b0 = (long)w * B / n, b1 = (long)(w + 1) * B / n;
    *begin = (int)b0;
    *count = (int)(b1 - b0);
}

size_t dist_bucket_floats(int bucket_kb, size_t n_params)
{
    if (bucket_kb > 0)
        return (size_t)bucket_kb * 1024 / sizeof(float);
    const size_t lo = 16 * 1024 / sizeof(float), hi = 1024 * 1024 / sizeof(float);
    size_t b = (n_params + 7) / 8;
    return b < lo ? lo : b > hi ? hi : b;
}

float dist_loss_scale(int count, int B)
{
    return B > 0 ? (float)count / (float)B : 0.0f;
}

void dist_ps_shard(size_t n, int P, int s, size_t *off, size_t *count)
{
    size_t a = (size_t)((unsigned long long)n * (unsigned)s / (unsigned)P);
    size_t b = (size_t)((unsigned long long)n * (unsigned)(s + 1) / (unsigned)P);
    *off = a;
    *count = b - a;
}

typedef struct {
    int len, idx;
} len_idx;

static int cmp_len(const void *a, const void *b)
{
    const len_idx *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx); /* stable: the same order on every rank */
}

ch_status dist_epoch_order(uint64_t seed, int epoch, const int *lengths, int n, int B,
                           int *order, ch_error *err)
{
    if (n < 0 || B < 1)
        return ch_fail(err, CH_ERR_USAGE, "dist_epoch_order: bad size n=%d B=%d", n, B);
    rng r;
    /* one stream per epoch: every rank derives the same permutation without communicating */
    rng_seed(&r, seed, 0x6469737400000000ull + (uint64_t)epoch);
    for (int i = 0; i < n; i++)
        order[i] = i;
    rng_shuffle_int(&r, order, n);
    if (!lengths || n == 0)
        return CH_OK;
    const int window = 50 * B;
    len_idx *tmp = ch_malloc(err, sizeof *tmp * (size_t)(window < n ? window : n), "epoch order");
    int nb = (n + B - 1) / B;
    int *batch = ch_malloc(err, sizeof *batch * (size_t)nb, "epoch order");
    int *copy = ch_malloc(err, sizeof *copy * (size_t)n, "epoch order");
    if (!tmp || !batch || !copy) {
        free(tmp);
        free(batch);
        free(copy);
        return CH_ERR_NOMEM;
    }
    for (int w0 = 0; w0 < n; w0 += window) {
        int m = n - w0 < window ? n - w0 : window;
        for (int i = 0; i < m; i++) {
            tmp[i].idx = order[w0 + i];
            tmp[i].len = lengths[order[w0 + i]];
        }
        qsort(tmp, (size_t)m, sizeof *tmp, cmp_len);
        for (int i = 0; i < m; i++)
            order[w0 + i] = tmp[i].idx;
    }
    /* shuffle whole batches (the last, maybe partial, one stays last so that every other batch
     * is full) so that training does not see lengths in ascending runs */
    int full = n / B;
    for (int i = 0; i < nb; i++)
        batch[i] = i;
    rng_shuffle_int(&r, batch, full);
    memcpy(copy, order, sizeof *copy * (size_t)n);
    int k = 0;
    for (int i = 0; i < nb; i++) {
        int b0 = batch[i] * B, b1 = b0 + B < n ? b0 + B : n;
        for (int j = b0; j < b1; j++)
            order[k++] = copy[j];
    }
    free(tmp);
    free(batch);
    free(copy);
    return CH_OK;
}

void dist_summary_print(const dist_summary *s, FILE *out, bool json)
{
    if (json) {
        fprintf(out,
                "\"dist\":{\"mode\":\"%s\",\"world\":%d,\"workers\":%d,\"servers\":%d,"
                "\"wall_s\":%.4f,\"samples\":%.0f,\"samples_per_s\":%.2f,\"compute_s\":%.4f,"
                "\"comm_s\":%.4f,\"wait_s\":%.4f,\"server_compute_s\":%.4f,"
                "\"server_comm_s\":%.4f,\"server_wait_s\":%.4f,\"bytes_per_step\":%.0f,"
                "\"steps\":%.1f,\"pushes\":%lld,\"staleness_mean\":%.4f,\"staleness_max\":%lld}",
                dist_mode_name(s->mode), s->world, s->n_workers, s->n_servers, s->wall_s,
                s->samples, s->samples_per_s, s->compute_s, s->comm_s, s->wait_s,
                s->server_compute_s, s->server_comm_s, s->server_wait_s, s->bytes_per_step,
                s->steps, (long long)s->pushes, s->staleness_mean, (long long)s->staleness_max);
        return;
    }
    fprintf(out, "dist %s: %d ranks (%d workers, %d servers), %.0f samples in %.2f s = %.1f "
                 "samples/s\n",
            dist_mode_name(s->mode), s->world, s->n_workers, s->n_servers, s->samples, s->wall_s,
            s->samples_per_s);
    fprintf(out, "  workers (mean): compute %.3f s, communication %.3f s, waiting %.3f s, "
                 "%.0f bytes/step\n",
            s->compute_s, s->comm_s, s->wait_s, s->bytes_per_step);
    if (s->n_servers > 0)
        fprintf(out, "  servers (mean): updates %.3f s, communication %.3f s, waiting %.3f s; "
                     "%lld pushes, staleness mean %.2f max %lld\n",
                s->server_compute_s, s->server_comm_s, s->server_wait_s, (long long)s->pushes,
                s->staleness_mean, (long long)s->staleness_max);
}

ch_status dist_hook_sync_grads(void *ctx, float *grad, size_t n, double *comm_s, ch_error *err)
{
    double t = timer_now();
    ch_status st = dist_grad_sync_finish(ctx, grad, n, err);
    if (comm_s)
        *comm_s = timer_now() - t;
    return st;
}

ch_status dist_hook_average_buffers(void *ctx, float *buf, size_t n, ch_error *err)
{
    return dist_average_buffers(ctx, buf, n, err);
}

int dist_report_early(const char *prog, ch_status st, const ch_error *err)
{
    return dist_env_rank() == 0 ? cli_report(prog, st, err) : ch_exit_code(st);
}

int dist_parse_args(const opt_parser *p, int argc, char **argv, const char **pos, ch_error *err)
{
    if (opt_wants_help(argc, argv) && dist_env_rank() != 0)
        return 0;
    char **all = calloc((size_t)argc + 1, sizeof *all);
    if (!all)
        return dist_report_early(p->prog, ch_fail(err, CH_ERR_NOMEM, "out of memory"), err);
    int n_pos = 0;
    bool help = false;
    ch_status st = opt_parse(p, argc, argv, all, &n_pos, &help, err);
    for (int i = 0; st == CH_OK && !help && i < n_pos && i < p->max_pos; i++)
        pos[i] = all[i];
    free(all);
    if (st != CH_OK)
        return dist_report_early(p->prog, st, err);
    return help ? 0 : -1;
}

ch_status dist_start(dist_ctx **out, int *argc, char ***argv, int requested, int *threads,
                     int *verbosity, ch_error *err)
{
    /* MPI before any thread starts; threads per rank = the node's cores / its ranks unless
     * requested; only rank 0 prints */
    CH_TRY(dist_init(out, argc, argv, err));
    if (!dist_is_root(*out))
        *verbosity = 0;
    *threads = dist_threads(*out, requested);
    omp_set_num_threads(*threads);
    return CH_OK;
}
