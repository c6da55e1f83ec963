/* dist_nompi.c — the distributed layer of a build without MPI: one process, world 1. Sync calls
 * are no-ops (one rank's sum is its own gradient); async / downpour need servers and workers,
 * so dist_setup rejects them with a message saying why. Same contract as dist_mpi.c (dist.h). */
#include "train/dist.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timer.h"

struct dist_ctx {
    dist_options o;
    size_t n_params;
    int cores;
    double t0, samples, steps, bytes;
};

ch_status dist_init(dist_ctx **out, int *argc, char ***argv, ch_error *err)
{
    (void)argc;
    (void)argv;
    dist_ctx *d = calloc(1, sizeof *d);
    if (!d)
        return ch_fail(err, CH_ERR_NOMEM, "dist: out of memory");
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    d->cores = c > 0 ? (int)c : 1;
    d->o = dist_options_default();
    d->t0 = timer_now();
    *out = d;
    return CH_OK;
}

ch_status dist_setup(dist_ctx *d, const dist_options *o, size_t n_params, ch_error *err)
{
    if (o->mode != DIST_SYNC)
        return ch_fail(err, CH_ERR_UNSUPPORTED,
                       "--dist %s needs MPI (parameter servers and workers are separate ranks); "
                       "this build has none: install OpenMPI and rebuild (make MPI=1), or use "
                       "--dist sync", dist_mode_name((dist_mode)o->mode));
    if (o->workers_per_node > 1)
        return ch_fail(err, CH_ERR_USAGE,
                       "--workers-per-node %d, but this build without MPI runs 1 rank",
                       o->workers_per_node);
    d->o = *o;
    d->n_params = n_params;
    d->t0 = timer_now();
    return CH_OK;
}

int dist_finish(dist_ctx *d, const char *prog, ch_status st, const ch_error *err, bool all_ranks)
{
    (void)all_ranks;
    if (st != CH_OK)
        fprintf(stderr, "%s: %s\n", prog, err ? err->msg : ch_status_name(st));
    free(d);
    return ch_exit_code(st);
}

int dist_rank(const dist_ctx *d) { (void)d; return 0; }
int dist_world(const dist_ctx *d) { (void)d; return 1; }
int dist_local_rank(const dist_ctx *d) { (void)d; return 0; }
int dist_local_size(const dist_ctx *d) { (void)d; return 1; }
bool dist_is_root(const dist_ctx *d) { (void)d; return true; }
bool dist_is_server(const dist_ctx *d) { (void)d; return false; }
int dist_n_workers(const dist_ctx *d) { (void)d; return 1; }
int dist_worker_index(const dist_ctx *d) { (void)d; return 0; }
int dist_n_servers(const dist_ctx *d) { (void)d; return 0; }
dist_mode dist_get_mode(const dist_ctx *d) { return (dist_mode)d->o.mode; }

int dist_threads(const dist_ctx *d, int requested)
{
    return requested > 0 ? requested : d->cores;
}

void dist_add_samples(dist_ctx *d, double n) { d->samples += n; }

ch_status dist_grad_bucket_ready(dist_ctx *d, float *grad, size_t offset, size_t count,
                                 ch_error *err)
{
    (void)d;
    (void)grad;
    (void)offset;
    (void)count;
    (void)err;
    return CH_OK;
}

ch_status dist_grad_sync_finish(dist_ctx *d, float *grad, size_t n, ch_error *err)
{
    (void)grad;
    (void)n;
    (void)err;
    d->steps += 1;
    return CH_OK;
}

ch_status dist_allreduce_grads(dist_ctx *d, float *grad, size_t n, ch_error *err)
{
    return dist_grad_sync_finish(d, grad, n, err);
}

ch_status dist_average_buffers(dist_ctx *d, float *buf, size_t n, ch_error *err)
{
    (void)d;
    (void)buf;
    (void)n;
    (void)err;
    return CH_OK;
}

ch_status dist_broadcast(dist_ctx *d, float *data, size_t n, int root, ch_error *err)
{
    (void)d;
    (void)data;
    (void)n;
    if (root != 0)
        return ch_fail(err, CH_ERR_USAGE, "broadcast root %d is not a rank of 1", root);
    return CH_OK;
}

ch_status dist_sum_metrics(dist_ctx *d, double *v, int n, ch_error *err)
{
    (void)d;
    (void)v;
    (void)n;
    (void)err;
    return CH_OK;
}

ch_status dist_barrier(dist_ctx *d, ch_error *err)
{
    (void)d;
    (void)err;
    return CH_OK;
}

static ch_status no_ps(const char *what, ch_error *err)
{
    return ch_fail(err, CH_ERR_UNSUPPORTED, "%s: this build has no MPI (no parameter server)",
                   what);
}

ch_status dist_ps_serve(dist_ctx *d, float *params, size_t n, ch_error *err)
{
    (void)d;
    (void)params;
    (void)n;
    return no_ps("dist_ps_serve", err);
}

ch_status dist_ps_fetch(dist_ctx *d, float *params, ch_error *err)
{
    (void)d;
    (void)params;
    return no_ps("dist_ps_fetch", err);
}

ch_status dist_ps_push(dist_ctx *d, const float *grad, double lr, ch_error *err)
{
    (void)d;
    (void)grad;
    (void)lr;
    return no_ps("dist_ps_push", err);
}

ch_status dist_worker_step(dist_ctx *d, int64_t step, float *params, const float *grad,
                           double lr, ch_error *err)
{
    (void)d;
    (void)step;
    (void)params;
    (void)grad;
    (void)lr;
    return no_ps("dist_worker_step", err);
}

ch_status dist_ps_done(dist_ctx *d, double lr, float *final_params, ch_error *err)
{
    (void)d;
    (void)lr;
    (void)final_params;
    return no_ps("dist_ps_done", err);
}

ch_status dist_ps_snapshot(dist_ctx *d, float *params, float *state, int64_t *versions,
                           ch_error *err)
{
    (void)d;
    (void)params;
    (void)state;
    (void)versions;
    return no_ps("dist_ps_snapshot", err);
}

ch_status dist_ps_restore(dist_ctx *d, const float *state, const int64_t *versions,
                          int n_versions, ch_error *err)
{
    (void)d;
    (void)state;
    (void)versions;
    (void)n_versions;
    return no_ps("dist_ps_restore", err);
}

ch_status dist_stats_gather(dist_ctx *d, dist_summary *s, ch_error *err)
{
    (void)err;
    memset(s, 0, sizeof *s);
    s->world = 1;
    s->n_workers = 1;
    s->mode = (dist_mode)d->o.mode;
    s->wall_s = timer_now() - d->t0;
    s->samples = d->samples;
    s->samples_per_s = s->wall_s > 0 ? s->samples / s->wall_s : 0.0;
    s->compute_s = s->wall_s;
    s->steps = d->steps;
    return CH_OK;
}
