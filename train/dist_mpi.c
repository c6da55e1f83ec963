/* dist_mpi.c — the distributed layer over OpenMPI (contract in dist.h).
 *
 * Sync: buckets of the gradient go through a queue to one progress thread, the only thread that
 * calls MPI while a step's sync is open; it starts MPI_Iallreduce on each bucket in queue order
 * (so every rank starts the same collectives in the same order) and polls MPI_Testsome, which
 * is what makes Open MPI's non-blocking collectives advance while the main thread is still in
 * backward. If MPI cannot give MPI_THREAD_SERIALIZED, the main thread starts the buckets itself
 * and polls them at every dist_grad_bucket_ready call (less overlap, same results).
 *
 * Parameter server: point-to-point messages on a private communicator. A request is a 4 x int64
 * header {type, fetched version, lr bits, unused} on TAG_HDR; a push is followed by the shard's
 * gradient on TAG_DATA; a fetch is answered by {version} on TAG_REP_HDR and the shard on
 * TAG_REP_DATA. Servers poll one MPI_Irecv(ANY_SOURCE) so they can time out and measure idle
 * time; they never block on a worker except to receive the data of a push already announced.
 */
#include "train/dist.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "common/timer.h"

enum { TAG_HDR = 101, TAG_DATA = 102, TAG_REP_HDR = 103, TAG_REP_DATA = 104 };
enum { MSG_FETCH = 1, MSG_PUSH = 2, MSG_DONE = 3, MSG_SNAPSHOT = 4 };

typedef struct {
    size_t off, cnt;
} range;

struct dist_ctx {
    MPI_Comm world;  /* dup of MPI_COMM_WORLD with MPI_ERRORS_RETURN */
    MPI_Comm local;  /* ranks on this node */
    MPI_Comm wcomm;  /* workers only (servers get their own, unused) */
    int rank, world_size, local_rank, local_size, cores;
    int thread_level;
    bool we_init;
    bool setup_done;
    dist_options o;
    size_t n_params;
    bool is_server;
    int n_servers, n_workers, worker_idx, server_idx;

    /* sync: main-thread side */
    size_t bucket_floats;
    range pend;           /* reported, not yet queued (merged adjacent ranges) */
    bool pend_valid;
    range *reported;      /* every range queued this step, for the gaps at finish */
    int n_reported, cap_reported;
    float *grad;          /* the step's gradient buffer */
    /* sync: shared with the progress thread (under mu) */
    pthread_t thread;
    bool thread_on;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    range *queue;
    MPI_Request *reqs;
    int cap_queue, n_queued, n_launched, n_done;
    bool quit;
    ch_status th_st;
    ch_error th_err;
    double th_first_launch, th_comm_s;

    /* parameter server: worker side */
    float *accum;         /* downpour: gradient summed since the last push */
    float *local_acc;     /* downpour --local-update with Adagrad: this worker's sum of g^2 */
    int accum_steps;
    int64_t *fetched;     /* per server: version the local params were fetched at */
    int64_t (*hdr)[4];    /* per server: request headers (alive until the Waitall) */
    int64_t *rep_ver;     /* per server: reply versions */
    MPI_Request *ps_reqs; /* 3 per server */
    /* parameter server: server side, set by dist_ps_restore (NULL: fresh state) */
    float *restore_state; /* this server's shard */
    int64_t restore_version;

    /* stats */
    double t0, comm_s, comm_block_s, wait_s, work_s, bytes, steps, samples;
    double stale_sum;
    int64_t stale_n, stale_max, pushes;
};

static ch_status mpi_fail(const dist_ctx *d, ch_error *err, int rc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "error code %d", rc);
    return ch_fail(err, CH_ERR_INTERNAL, "rank %d: %s failed: %s", d ? d->rank : -1, what, s);
}

#define MPI_TRY(d, err, call, what)                \
    do {                                           \
        int mpi_rc_ = (call);                      \
        if (mpi_rc_ != MPI_SUCCESS)                \
            return mpi_fail((d), (err), mpi_rc_, (what)); \
    } while (0)

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ init / setup / finish */

ch_status dist_init(dist_ctx **out, int *argc, char ***argv, ch_error *err)
{
    *out = NULL;
    int inited = 0;
    MPI_Initialized(&inited);
    int provided = MPI_THREAD_SINGLE;
    if (!inited) {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
            return ch_fail(err, CH_ERR_INTERNAL, "MPI_Init_thread failed (is the MPI runtime "
                                                 "installed and mpirun/srun working?)");
    } else {
        MPI_Query_thread(&provided);
    }
    dist_ctx *d = calloc(1, sizeof *d);
    if (!d) {
        if (!inited)
            MPI_Finalize();
        return ch_fail(err, CH_ERR_NOMEM, "dist: out of memory");
    }
    d->we_init = !inited;
    d->thread_level = provided;
    d->world = d->local = d->wcomm = MPI_COMM_NULL;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    ch_status st = CH_OK;
    int rc;
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &d->world)) != MPI_SUCCESS)
        st = mpi_fail(d, err, rc, "MPI_Comm_dup");
    if (st == CH_OK) {
        MPI_Comm_set_errhandler(d->world, MPI_ERRORS_RETURN);
        MPI_Comm_rank(d->world, &d->rank);
        MPI_Comm_size(d->world, &d->world_size);
        if ((rc = MPI_Comm_split_type(d->world, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
                                      &d->local)) != MPI_SUCCESS)
            st = mpi_fail(d, err, rc, "MPI_Comm_split_type");
    }
    if (st == CH_OK) {
        MPI_Comm_set_errhandler(d->local, MPI_ERRORS_RETURN);
        MPI_Comm_rank(d->local, &d->local_rank);
        MPI_Comm_size(d->local, &d->local_size);
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        d->cores = c > 0 ? (int)c : 1;
        d->worker_idx = d->rank;
        d->n_workers = d->world_size;
        pthread_mutex_init(&d->mu, NULL);
        pthread_cond_init(&d->cv, NULL);
        *out = d;
        return CH_OK;
    }
    if (d->local != MPI_COMM_NULL)
        MPI_Comm_free(&d->local);
    if (d->world != MPI_COMM_NULL)
        MPI_Comm_free(&d->world);
    if (d->we_init)
        MPI_Finalize();
    free(d);
    return st;
}

static void *progress_main(void *arg);

static ch_status grow(void **p, int *cap, int need, size_t elem, ch_error *err)
{
    if (need <= *cap)
        return CH_OK;
    int nc = *cap ? *cap : 32;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, elem * (size_t)nc);
    if (!q)
        return ch_fail(err, CH_ERR_NOMEM, "dist: out of memory");
    *p = q;
    *cap = nc;
    return CH_OK;
}

ch_status dist_setup(dist_ctx *d, const dist_options *o, size_t n_params, ch_error *err)
{
    if (d->setup_done)
        return ch_fail(err, CH_ERR_USAGE, "dist_setup called twice");
    d->o = *o;
    d->n_params = n_params;
    const char *mode = dist_mode_name((dist_mode)o->mode);
    /* every rank reaches the same verdict from the same options, so these are collective */
    if (o->mode != DIST_SYNC) {
        if (d->world_size < 2)
            return ch_fail(err, CH_ERR_USAGE,
                           "--dist %s needs at least 2 ranks (--ps servers + workers), this run "
                           "has 1; start it with mpirun -np N or srun, or use --dist sync",
                           mode);
        if (o->ps >= d->world_size)
            return ch_fail(err, CH_ERR_USAGE,
                           "--ps %d leaves no worker in a world of %d ranks (need --ps < %d)",
                           o->ps, d->world_size, d->world_size);
        if ((size_t)o->ps > n_params)
            return ch_fail(err, CH_ERR_USAGE, "--ps %d is more servers than the %zu parameters",
                           o->ps, n_params);
        if (o->mode == DIST_ASYNC && (o->n_fetch != 1 || o->n_push != 1))
            return ch_fail(err, CH_ERR_USAGE,
                           "--n-fetch / --n-push apply to --dist downpour (async fetches and "
                           "pushes every step)");
        size_t off, cnt;
        dist_ps_shard(n_params, o->ps, 0, &off, &cnt);
        if (cnt + 1 > (size_t)INT_MAX)
            return ch_fail(err, CH_ERR_USAGE,
                           "a parameter shard of %zu floats is too large for one MPI message; "
                           "use more --ps servers", cnt);
    }
    /* ranks that disagree on the layout or the model size would corrupt each other silently */
    long long mine[2] = {(long long)o->mode * 1000003LL + o->ps * 1009LL + o->n_fetch * 31LL +
                             o->n_push,
                         (long long)n_params};
    long long lo[2], hi[2];
    MPI_TRY(d, err, MPI_Allreduce(mine, lo, 2, MPI_LONG_LONG, MPI_MIN, d->world), "MPI_Allreduce");
    MPI_TRY(d, err, MPI_Allreduce(mine, hi, 2, MPI_LONG_LONG, MPI_MAX, d->world), "MPI_Allreduce");
    if (lo[1] != hi[1])
        return ch_fail(err, CH_ERR_USAGE,
                       "ranks disagree on the parameter count (%lld vs %lld): every rank must "
                       "build the same model", lo[1], hi[1]);
    if (lo[0] != hi[0])
        return ch_fail(err, CH_ERR_USAGE,
                       "ranks were given different --dist / --ps / --n-fetch / --n-push options");
    int bad = (o->workers_per_node > 0 && d->local_size != o->workers_per_node) ? d->local_size : 0;
    int any_bad = 0;
    MPI_TRY(d, err, MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, d->world), "MPI_Allreduce");
    if (any_bad)
        return ch_fail(err, CH_ERR_USAGE,
                       "--workers-per-node %d, but a node runs %d ranks of this job (check the "
                       "mpirun -npernode / srun --ntasks-per-node layout)",
                       o->workers_per_node, any_bad);

    if (o->mode == DIST_SYNC) {
        d->n_servers = 0;
        d->n_workers = d->world_size;
        d->is_server = false;
        d->worker_idx = d->rank;
        d->server_idx = -1;
    } else {
        d->n_servers = o->ps;
        d->n_workers = d->world_size - o->ps;
        d->is_server = d->rank >= d->n_workers;
        d->worker_idx = d->is_server ? -1 : d->rank;
        d->server_idx = d->is_server ? d->rank - d->n_workers : -1;
    }
    MPI_TRY(d, err, MPI_Comm_split(d->world, d->is_server ? 1 : 0, d->rank, &d->wcomm),
            "MPI_Comm_split");
    MPI_Comm_set_errhandler(d->wcomm, MPI_ERRORS_RETURN);

    d->bucket_floats = dist_bucket_floats(o->bucket_kb, n_params);
    if (o->mode == DIST_SYNC) {
        CH_TRY(grow((void **)&d->queue, &d->cap_queue, 64, sizeof *d->queue, err));
        int cap = 0;
        CH_TRY(grow((void **)&d->reqs, &cap, d->cap_queue, sizeof *d->reqs, err));
        CH_TRY(grow((void **)&d->reported, &d->cap_reported, 64, sizeof *d->reported, err));
        if (d->world_size > 1 && d->thread_level >= MPI_THREAD_SERIALIZED && o->progress == 0) {
            if (pthread_create(&d->thread, NULL, progress_main, d) != 0)
                return ch_fail(err, CH_ERR_INTERNAL, "rank %d: cannot start the MPI progress "
                                                     "thread", d->rank);
            d->thread_on = true;
        }
    } else if (!d->is_server) {
        int P = d->n_servers;
        d->fetched = calloc((size_t)P, sizeof *d->fetched);
        d->rep_ver = calloc((size_t)P, sizeof *d->rep_ver);
        d->hdr = calloc((size_t)P, sizeof *d->hdr);
        d->ps_reqs = calloc((size_t)P * 3, sizeof *d->ps_reqs);
        if (!d->fetched || !d->rep_ver || !d->hdr || !d->ps_reqs)
            return ch_fail(err, CH_ERR_NOMEM, "dist: out of memory");
        if (o->mode == DIST_DOWNPOUR && o->n_push > 1) {
            d->accum = ch_calloc(err, n_params ? n_params : 1, sizeof(float),
                                 "downpour gradient accumulator");
            if (!d->accum)
                return CH_ERR_NOMEM;
        }
        if (o->mode == DIST_DOWNPOUR && o->local_update && o->ps_optim == DIST_PS_ADAGRAD) {
            d->local_acc = ch_malloc(err, sizeof(float) * (n_params ? n_params : 1),
                                     "downpour local Adagrad state");
            if (!d->local_acc)
                return CH_ERR_NOMEM;
            for (size_t i = 0; i < n_params; i++)
                d->local_acc[i] = (float)o->ps_adagrad_init;
        }
    }
    d->setup_done = true;
    d->t0 = timer_now();
    return CH_OK;
}

static void stop_thread(dist_ctx *d)
{
    if (!d->thread_on)
        return;
    pthread_mutex_lock(&d->mu);
    d->quit = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    d->thread_on = false;
}

static void ctx_free(dist_ctx *d)
{
    stop_thread(d);
    if (d->wcomm != MPI_COMM_NULL)
        MPI_Comm_free(&d->wcomm);
    if (d->local != MPI_COMM_NULL)
        MPI_Comm_free(&d->local);
    if (d->world != MPI_COMM_NULL)
        MPI_Comm_free(&d->world);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d->queue);
    free(d->reqs);
    free(d->reported);
    free(d->accum);
    free(d->local_acc);
    free(d->restore_state);
    free(d->fetched);
    free(d->rep_ver);
    free(d->hdr);
    free(d->ps_reqs);
    free(d);
}

int dist_finish(dist_ctx *d, const char *prog, ch_status st, const ch_error *err, bool all_ranks)
{
    int code = ch_exit_code(st);
    if (!d) {
        if (st != CH_OK && dist_env_rank() == 0)
            fprintf(stderr, "%s: %s\n", prog, err ? err->msg : ch_status_name(st));
        return code;
    }
    if (st != CH_OK) {
        const char *msg = err ? err->msg : ch_status_name(st);
        if (all_ranks) {
            if (d->rank == 0)
                fprintf(stderr, "%s: %s\n", prog, msg);
        } else if (d->world_size > 1) {
            if (strncmp(msg, "rank ", 5) == 0)
                fprintf(stderr, "%s: %s\n", prog, msg);
            else
                fprintf(stderr, "%s: rank %d: %s\n", prog, d->rank, msg);
            fflush(stderr);
            /* the other ranks may be inside a collective waiting for this one: end them all */
            MPI_Abort(MPI_COMM_WORLD, code);
        } else {
            fprintf(stderr, "%s: %s\n", prog, msg);
        }
    }
    bool we_init = d->we_init;
    ctx_free(d);
    if (we_init)
        MPI_Finalize();
    return code;
}

/* ------------------------------------------------------------------ queries */

int dist_rank(const dist_ctx *d) { return d->rank; }
int dist_world(const dist_ctx *d) { return d->world_size; }
int dist_local_rank(const dist_ctx *d) { return d->local_rank; }
int dist_local_size(const dist_ctx *d) { return d->local_size; }
bool dist_is_root(const dist_ctx *d) { return d->rank == 0; }
bool dist_is_server(const dist_ctx *d) { return d->is_server; }
int dist_n_workers(const dist_ctx *d) { return d->n_workers; }
int dist_worker_index(const dist_ctx *d) { return d->worker_idx; }
int dist_n_servers(const dist_ctx *d) { return d->n_servers; }
dist_mode dist_get_mode(const dist_ctx *d) { return (dist_mode)d->o.mode; }

int dist_threads(const dist_ctx *d, int requested)
{
    if (requested > 0)
        return requested;
    int t = d->cores / (d->local_size > 0 ? d->local_size : 1);
    return t > 0 ? t : 1;
}

void dist_add_samples(dist_ctx *d, double n) { d->samples += n; }

/* ------------------------------------------------------------------ sync */

/* Starts queued buckets [*launched, upto) and tests those in flight [*done, *launched); returns
 * an MPI code. The counters are the caller's copies: the thread works on them without holding
 * mu and writes them back under it, so the main thread only ever sees consistent values. */
static int progress_once(dist_ctx *d, int upto, int *launched, int *done)
{
    while (*launched < upto) {
        if (*launched == *done)
            d->th_first_launch = timer_now(); /* start of an in-flight period */
        range r = d->queue[*launched];
        int rc = MPI_Iallreduce(MPI_IN_PLACE, d->grad + r.off, (int)r.cnt, MPI_FLOAT, MPI_SUM,
                                d->wcomm, &d->reqs[*launched]);
        if (rc != MPI_SUCCESS)
            return rc;
        (*launched)++;
    }
    if (*done < *launched) {
        int flag = 0;
        int rc = MPI_Testall(*launched - *done, d->reqs + *done, &flag, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            return rc;
        if (flag) {
            *done = *launched;
            d->th_comm_s += timer_now() - d->th_first_launch;
        }
    }
    return MPI_SUCCESS;
}

static void *progress_main(void *arg)
{
    dist_ctx *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->quit && d->n_launched == d->n_queued && d->n_done == d->n_launched)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->quit)
            break;
        int upto = d->n_queued, launched = d->n_launched, done = d->n_done;
        pthread_mutex_unlock(&d->mu);
        int rc = progress_once(d, upto, &launched, &done);
        pthread_mutex_lock(&d->mu);
        d->n_launched = launched;
        d->n_done = done;
        if (rc != MPI_SUCCESS && d->th_st == CH_OK) {
            d->th_st = mpi_fail(d, &d->th_err, rc, "MPI_Iallreduce (gradient bucket)");
            /* nothing more can complete: let finish return the error */
            d->n_done = d->n_launched = d->n_queued;
        }
        pthread_cond_broadcast(&d->cv);
        if (d->n_done < d->n_launched && d->n_launched == d->n_queued) {
            /* collectives in flight and nothing new to start: poll gently, this thread must not
             * take a core from backward */
            pthread_mutex_unlock(&d->mu);
            sleep_us(20);
            pthread_mutex_lock(&d->mu);
        }
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

static ch_status enqueue(dist_ctx *d, range r, ch_error *err)
{
    /* cut into buckets no larger than bucket_floats: int counts for MPI and a pipeline */
    while (r.cnt > 0) {
        range piece = {r.off, r.cnt < d->bucket_floats ? r.cnt : d->bucket_floats};
        r.off += piece.cnt;
        r.cnt -= piece.cnt;
        if (d->n_reported >= d->cap_reported)
            CH_TRY(grow((void **)&d->reported, &d->cap_reported, d->n_reported + 1,
                        sizeof *d->reported, err));
        d->reported[d->n_reported++] = piece;
        pthread_mutex_lock(&d->mu);
        if (d->n_queued >= d->cap_queue) {
            /* growing moves queue and reqs, which the thread uses outside the lock: wait until
             * it has nothing in flight (only in the first steps, until the size has settled) */
            while (d->thread_on && (d->n_launched < d->n_queued || d->n_done < d->n_launched) &&
                   d->th_st == CH_OK)
                pthread_cond_wait(&d->cv, &d->mu);
            int cap = d->cap_queue, cap2 = d->cap_queue;
            ch_status st = grow((void **)&d->queue, &cap, d->n_queued + 1, sizeof *d->queue, err);
            if (st == CH_OK)
                st = grow((void **)&d->reqs, &cap2, d->n_queued + 1, sizeof *d->reqs, err);
            if (st != CH_OK) {
                pthread_mutex_unlock(&d->mu);
                return st;
            }
            d->cap_queue = cap < cap2 ? cap : cap2;
        }
        d->queue[d->n_queued++] = piece;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
    if (!d->thread_on) {
        int rc = progress_once(d, d->n_queued, &d->n_launched, &d->n_done);
        if (rc != MPI_SUCCESS)
            return mpi_fail(d, err, rc, "MPI_Iallreduce (gradient bucket)");
    }
    return CH_OK;
}

ch_status dist_grad_bucket_ready(dist_ctx *d, float *grad, size_t offset, size_t count,
                                 ch_error *err)
{
    if (d->n_workers <= 1 || count == 0)
        return CH_OK;
    if (d->o.mode != DIST_SYNC)
        return ch_fail(err, CH_ERR_USAGE, "dist_grad_bucket_ready is for --dist sync");
    if (offset + count > d->n_params)
        return ch_fail(err, CH_ERR_USAGE, "gradient range [%zu, %zu) is outside the %zu parameters",
                       offset, offset + count, d->n_params);
    if (d->n_reported == 0 && !d->pend_valid)
        d->grad = grad;
    else if (grad != d->grad)
        return ch_fail(err, CH_ERR_USAGE, "gradient buffer moved during a step's sync");
    range r = {offset, count};
    if (d->pend_valid && r.off + r.cnt == d->pend.off) { /* backward order: grows downwards */
        d->pend.off = r.off;
        d->pend.cnt += r.cnt;
    } else if (d->pend_valid && d->pend.off + d->pend.cnt == r.off) {
        d->pend.cnt += r.cnt;
    } else {
        if (d->pend_valid)
            CH_TRY(enqueue(d, d->pend, err));
        d->pend = r;
        d->pend_valid = true;
    }
    if (d->pend.cnt >= d->bucket_floats) {
        CH_TRY(enqueue(d, d->pend, err));
        d->pend_valid = false;
    }
    return CH_OK;
}

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    return x->off < y->off ? -1 : (x->off > y->off);
}

ch_status dist_grad_sync_finish(dist_ctx *d, float *grad, size_t n, ch_error *err)
{
    if (d->n_workers <= 1) {
        d->steps += 1;
        return CH_OK;
    }
    if (d->o.mode != DIST_SYNC)
        return ch_fail(err, CH_ERR_USAGE, "dist_grad_sync_finish is for --dist sync");
    if (n > d->n_params)
        return ch_fail(err, CH_ERR_USAGE, "gradient of %zu floats, the model has %zu", n,
                       d->n_params);
    if (d->n_reported == 0 && !d->pend_valid)
        d->grad = grad;
    else if (grad != d->grad)
        return ch_fail(err, CH_ERR_USAGE, "gradient buffer moved during a step's sync");
    if (d->pend_valid) {
        CH_TRY(enqueue(d, d->pend, err));
        d->pend_valid = false;
    }
    /* whatever backward never reported (a layer without a hook) is reduced now, in offset
     * order: the same list on every rank */
    int nr = d->n_reported;
    range *sorted = NULL;
    if (nr > 0) {
        sorted = ch_malloc(err, sizeof *sorted * (size_t)nr, "dist: gap list");
        if (!sorted)
            return CH_ERR_NOMEM;
        memcpy(sorted, d->reported, sizeof *sorted * (size_t)nr);
        qsort(sorted, (size_t)nr, sizeof *sorted, cmp_range);
    }
    size_t at = 0;
    ch_status st = CH_OK;
    for (int i = 0; i <= nr && st == CH_OK; i++) {
        size_t next = i < nr ? sorted[i].off : n;
        if (next > at)
            st = enqueue(d, (range){at, next - at}, err);
        if (i < nr && sorted[i].off + sorted[i].cnt > at)
            at = sorted[i].off + sorted[i].cnt;
    }
    free(sorted);
    if (st != CH_OK)
        return st;

    double t = timer_now();
    if (d->thread_on) {
        pthread_mutex_lock(&d->mu);
        while (d->n_done < d->n_queued && d->th_st == CH_OK)
            pthread_cond_wait(&d->cv, &d->mu);
        st = d->th_st;
        if (st != CH_OK && err)
            *err = d->th_err;
        d->n_queued = d->n_launched = d->n_done = 0;
        pthread_mutex_unlock(&d->mu);
    } else {
        int rc = progress_once(d, d->n_queued, &d->n_launched, &d->n_done);
        if (rc == MPI_SUCCESS && d->n_done < d->n_launched) {
            rc = MPI_Waitall(d->n_launched - d->n_done, d->reqs + d->n_done, MPI_STATUSES_IGNORE);
            d->th_comm_s += timer_now() - d->th_first_launch;
        }
        d->n_queued = d->n_launched = d->n_done = 0;
        if (rc != MPI_SUCCESS)
            st = mpi_fail(d, err, rc, "MPI_Iallreduce (gradient bucket)");
    }
    d->wait_s += timer_now() - t;
    d->n_reported = 0;
    d->grad = NULL;
    d->bytes += (double)n * sizeof(float);
    d->steps += 1;
    return st;
}

/* Blocking all-reduce of any size (chunks of at most INT_MAX / 2 elements). */
static ch_status allreduce_big(dist_ctx *d, void *buf, size_t n, MPI_Datatype t, size_t esz,
                               MPI_Op op, MPI_Comm c, ch_error *err)
{
    const size_t chunk = (size_t)INT_MAX / 2;
    for (size_t at = 0; at < n; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        MPI_TRY(d, err, MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * esz, (int)m, t, op, c),
                "MPI_Allreduce");
    }
    return CH_OK;
}

ch_status dist_allreduce_grads(dist_ctx *d, float *grad, size_t n, ch_error *err)
{
    if (d->is_server)
        return CH_OK;
    if (d->n_workers <= 1) {
        d->steps += 1;
        return CH_OK;
    }
    double t = timer_now();
    ch_status st = allreduce_big(d, grad, n, MPI_FLOAT, sizeof(float), MPI_SUM, d->wcomm, err);
    double dt = timer_now() - t;
    d->comm_block_s += dt;
    d->comm_s += dt;
    d->bytes += (double)n * sizeof(float);
    d->steps += 1;
    return st;
}

ch_status dist_average_buffers(dist_ctx *d, float *buf, size_t n, ch_error *err)
{
    if (d->n_workers <= 1 || d->is_server || n == 0)
        return CH_OK;
    double t = timer_now();
    ch_status st = allreduce_big(d, buf, n, MPI_FLOAT, sizeof(float), MPI_SUM, d->wcomm, err);
    float inv = 1.0f / (float)d->n_workers;
    for (size_t i = 0; i < n && st == CH_OK; i++)
        buf[i] *= inv;
    d->comm_block_s += timer_now() - t;
    d->comm_s += timer_now() - t;
    return st;
}

ch_status dist_broadcast(dist_ctx *d, float *data, size_t n, int root, ch_error *err)
{
    if (d->world_size <= 1)
        return CH_OK;
    if (root < 0 || root >= d->world_size)
        return ch_fail(err, CH_ERR_USAGE, "broadcast root %d is not a rank of %d", root,
                       d->world_size);
    double t = timer_now();
    const size_t chunk = (size_t)INT_MAX / 2;
    for (size_t at = 0; at < n; at += chunk) {
        size_t m = n - at < chunk ? n - at : chunk;
        MPI_TRY(d, err, MPI_Bcast(data + at, (int)m, MPI_FLOAT, root, d->world), "MPI_Bcast");
    }
    d->comm_block_s += timer_now() - t;
    d->comm_s += timer_now() - t;
    return CH_OK;
}

ch_status dist_sum_metrics(dist_ctx *d, double *v, int n, ch_error *err)
{
    if (d->n_workers <= 1 || d->is_server || n <= 0)
        return CH_OK;
    double t = timer_now();
    MPI_TRY(d, err, MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, d->wcomm),
            "MPI_Allreduce");
    d->comm_block_s += timer_now() - t;
    d->comm_s += timer_now() - t;
    return CH_OK;
}

ch_status dist_barrier(dist_ctx *d, ch_error *err)
{
    if (d->world_size <= 1)
        return CH_OK;
    double t = timer_now();
    MPI_TRY(d, err, MPI_Barrier(d->world), "MPI_Barrier");
    d->wait_s += timer_now() - t;
    return CH_OK;
}

/* ------------------------------------------------------------------ parameter server */

static int server_rank(const dist_ctx *d, int s) { return d->n_workers + s; }

static ch_status need_worker(const dist_ctx *d, const char *what, ch_error *err)
{
    if (!d->setup_done || d->o.mode == DIST_SYNC)
        return ch_fail(err, CH_ERR_USAGE, "%s needs --dist async or downpour", what);
    if (d->is_server)
        return ch_fail(err, CH_ERR_USAGE, "rank %d: %s called on a parameter server", d->rank,
                       what);
    return CH_OK;
}

ch_status dist_ps_fetch(dist_ctx *d, float *params, ch_error *err)
{
    CH_TRY(need_worker(d, "dist_ps_fetch", err));
    double t = timer_now();
    int P = d->n_servers, nr = 0;
    for (int s = 0; s < P; s++) {
        size_t off, cnt;
        dist_ps_shard(d->n_params, P, s, &off, &cnt);
        int64_t *h = d->hdr[s];
        h[0] = MSG_FETCH;
        h[1] = h[2] = h[3] = 0;
        int sr = server_rank(d, s);
        MPI_TRY(d, err, MPI_Isend(h, 4, MPI_INT64_T, sr, TAG_HDR, d->world, &d->ps_reqs[nr++]),
                "MPI_Isend (fetch request)");
        MPI_TRY(d, err, MPI_Irecv(&d->rep_ver[s], 1, MPI_INT64_T, sr, TAG_REP_HDR, d->world,
                                  &d->ps_reqs[nr++]), "MPI_Irecv (fetch reply)");
        MPI_TRY(d, err, MPI_Irecv(params + off, (int)cnt, MPI_FLOAT, sr, TAG_REP_DATA, d->world,
                                  &d->ps_reqs[nr++]), "MPI_Irecv (fetch reply)");
        d->bytes += (double)cnt * sizeof(float);
    }
    MPI_TRY(d, err, MPI_Waitall(nr, d->ps_reqs, MPI_STATUSES_IGNORE), "MPI_Waitall (fetch)");
    for (int s = 0; s < P; s++)
        d->fetched[s] = d->rep_ver[s];
    double dt = timer_now() - t;
    d->comm_s += dt;
    d->comm_block_s += dt;
    return CH_OK;
}

ch_status dist_ps_push(dist_ctx *d, const float *grad, double lr, ch_error *err)
{
    CH_TRY(need_worker(d, "dist_ps_push", err));
    double t = timer_now();
    int P = d->n_servers, nr = 0;
    for (int s = 0; s < P; s++) {
        size_t off, cnt;
        dist_ps_shard(d->n_params, P, s, &off, &cnt);
        int64_t *h = d->hdr[s];
        h[0] = MSG_PUSH;
        h[1] = d->fetched[s];
        memcpy(&h[2], &lr, sizeof lr);
        h[3] = 0;
        int sr = server_rank(d, s);
        MPI_TRY(d, err, MPI_Isend(h, 4, MPI_INT64_T, sr, TAG_HDR, d->world, &d->ps_reqs[nr++]),
                "MPI_Isend (push)");
        /* MPI does not write a send buffer; the cast is for MPI-2 style prototypes */
        MPI_TRY(d, err, MPI_Isend((void *)(grad + off), (int)cnt, MPI_FLOAT, sr, TAG_DATA,
                                  d->world, &d->ps_reqs[nr++]), "MPI_Isend (push)");
        d->bytes += (double)cnt * sizeof(float);
    }
    MPI_TRY(d, err, MPI_Waitall(nr, d->ps_reqs, MPI_STATUSES_IGNORE), "MPI_Waitall (push)");
    double dt = timer_now() - t;
    d->comm_s += dt;
    d->comm_block_s += dt;
    return CH_OK;
}

ch_status dist_worker_step(dist_ctx *d, int64_t step, float *params, const float *grad,
                           double lr, ch_error *err)
{
    CH_TRY(need_worker(d, "dist_worker_step", err));
    int64_t k = step + 1;
    if (d->accum) {
        for (size_t i = 0; i < d->n_params; i++)
            d->accum[i] += grad[i];
        d->accum_steps++;
        if (k % d->o.n_push == 0) {
            CH_TRY(dist_ps_push(d, d->accum, lr, err));
            memset(d->accum, 0, sizeof(float) * d->n_params);
            d->accum_steps = 0;
        }
    } else {
        CH_TRY(dist_ps_push(d, grad, lr, err));
    }
    /* --local-update: the step the servers will apply, on this worker's copy now (a fetch
     * this step replaces it anyway) */
    if (d->o.mode == DIST_DOWNPOUR && d->o.local_update && k % d->o.n_fetch != 0) {
        const float flr = (float)lr;
        if (d->local_acc) {
            for (size_t i = 0; i < d->n_params; i++) {
                d->local_acc[i] += grad[i] * grad[i];
                params[i] -= flr * grad[i] / (sqrtf(d->local_acc[i]) + 1e-10f);
            }
        } else {
            for (size_t i = 0; i < d->n_params; i++)
                params[i] -= flr * grad[i];
        }
    } else if (d->local_acc) {
        for (size_t i = 0; i < d->n_params; i++)
            d->local_acc[i] += grad[i] * grad[i];
    }
    if (k % d->o.n_fetch == 0)
        CH_TRY(dist_ps_fetch(d, params, err));
    d->steps += 1;
    return CH_OK;
}

ch_status dist_ps_snapshot(dist_ctx *d, float *params, float *state, int64_t *versions,
                           ch_error *err)
{
    CH_TRY(need_worker(d, "dist_ps_snapshot", err));
    double t = timer_now();
    for (int s = 0; s < d->n_servers; s++) {
        size_t off, cnt;
        dist_ps_shard(d->n_params, d->n_servers, s, &off, &cnt);
        int64_t h[4] = {MSG_SNAPSHOT, 0, 0, 0}, v = 0;
        int sr = server_rank(d, s);
        MPI_TRY(d, err, MPI_Send(h, 4, MPI_INT64_T, sr, TAG_HDR, d->world),
                "MPI_Send (snapshot request)");
        MPI_TRY(d, err, MPI_Recv(&v, 1, MPI_INT64_T, sr, TAG_REP_HDR, d->world,
                                 MPI_STATUS_IGNORE), "MPI_Recv (snapshot)");
        MPI_TRY(d, err, MPI_Recv(params + off, (int)cnt, MPI_FLOAT, sr, TAG_REP_DATA, d->world,
                                 MPI_STATUS_IGNORE), "MPI_Recv (snapshot)");
        MPI_TRY(d, err, MPI_Recv(state + off, (int)cnt, MPI_FLOAT, sr, TAG_REP_DATA, d->world,
                                 MPI_STATUS_IGNORE), "MPI_Recv (snapshot)");
        if (versions)
            versions[s] = v;
    }
    d->comm_s += timer_now() - t;
    return CH_OK;
}

ch_status dist_ps_restore(dist_ctx *d, const float *state, const int64_t *versions,
                          int n_versions, ch_error *err)
{
    if (!d->setup_done || d->o.mode == DIST_SYNC)
        return ch_fail(err, CH_ERR_USAGE, "dist_ps_restore needs --dist async or downpour");
    if (!d->is_server)
        return CH_OK;
    size_t off, cnt;
    dist_ps_shard(d->n_params, d->n_servers, d->server_idx, &off, &cnt);
    free(d->restore_state);
    d->restore_state = ch_malloc(err, sizeof(float) * (cnt ? cnt : 1), "server restore state");
    if (!d->restore_state)
        return CH_ERR_NOMEM;
    memcpy(d->restore_state, state + off, sizeof(float) * cnt);
    /* the same layout: this server's own count; another: the largest (it only has to be > 0
     * for momentum's first-step rule and a fair staleness baseline) */
    int64_t v = 0;
    for (int s = 0; s < n_versions; s++)
        if (versions[s] > v)
            v = versions[s];
    if (n_versions == d->n_servers)
        v = versions[d->server_idx];
    d->restore_version = v;
    return CH_OK;
}

/* Every server broadcasts its final shard: afterwards every rank holds the final parameters. */
static ch_status final_bcast(dist_ctx *d, float *params, ch_error *err)
{
    for (int s = 0; s < d->n_servers; s++) {
        size_t off, cnt;
        dist_ps_shard(d->n_params, d->n_servers, s, &off, &cnt);
        MPI_TRY(d, err, MPI_Bcast(params + off, (int)cnt, MPI_FLOAT, server_rank(d, s), d->world),
                "MPI_Bcast (final parameters)");
    }
    return CH_OK;
}

ch_status dist_ps_done(dist_ctx *d, double lr, float *final_params, ch_error *err)
{
    CH_TRY(need_worker(d, "dist_ps_done", err));
    if (d->accum && d->accum_steps > 0) {
        CH_TRY(dist_ps_push(d, d->accum, lr, err));
        memset(d->accum, 0, sizeof(float) * d->n_params);
        d->accum_steps = 0;
    }
    double t = timer_now();
    for (int s = 0; s < d->n_servers; s++) {
        int64_t h[4] = {MSG_DONE, 0, 0, 0};
        MPI_TRY(d, err, MPI_Send(h, 4, MPI_INT64_T, server_rank(d, s), TAG_HDR, d->world),
                "MPI_Send (done)");
    }
    ch_status st = final_bcast(d, final_params, err);
    d->wait_s += timer_now() - t; /* mostly waiting for the slowest worker */
    return st;
}

ch_status dist_ps_serve(dist_ctx *d, float *params, size_t n, ch_error *err)
{
    if (!d->setup_done || d->o.mode == DIST_SYNC || !d->is_server)
        return ch_fail(err, CH_ERR_USAGE, "rank %d: dist_ps_serve is for server ranks of --dist "
                                          "async/downpour", d->rank);
    if (n != d->n_params)
        return ch_fail(err, CH_ERR_USAGE, "dist_ps_serve: %zu parameters, setup said %zu", n,
                       d->n_params);
    size_t off, cnt;
    dist_ps_shard(n, d->n_servers, d->server_idx, &off, &cnt);
    float *p = params + off;
    float *g = ch_malloc(err, sizeof(float) * (cnt ? cnt : 1), "server gradient buffer");
    /* SGD momentum buffer, or Adagrad's sum of squares */
    float *state = ch_malloc(err, sizeof(float) * (cnt ? cnt : 1), "server optimizer state");
    if (!g || !state) {
        free(g);
        free(state);
        return CH_ERR_NOMEM;
    }
    const bool adagrad = d->o.ps_optim == DIST_PS_ADAGRAD;
    const float mom = (float)d->o.ps_momentum;
    for (size_t i = 0; i < cnt; i++)
        state[i] = d->restore_state ? d->restore_state[i]
                   : adagrad        ? (float)d->o.ps_adagrad_init
                                    : 0.0f;
    int64_t version = d->restore_state ? d->restore_version : 0;
    int done = 0;
    ch_status st = CH_OK;
    int64_t h[4];
    MPI_Request req = MPI_REQUEST_NULL;
    double last_msg = timer_now();
    while (done < d->n_workers && st == CH_OK) {
        int rc = MPI_Irecv(h, 4, MPI_INT64_T, MPI_ANY_SOURCE, TAG_HDR, d->world, &req);
        if (rc != MPI_SUCCESS) {
            st = mpi_fail(d, err, rc, "MPI_Irecv (server)");
            break;
        }
        MPI_Status stt;
        int flag = 0;
        double t = timer_now();
        for (long spins = 0;; spins++) {
            if ((rc = MPI_Test(&req, &flag, &stt)) != MPI_SUCCESS || flag)
                break;
            if (spins > 200) /* idle: stop burning the core the workers need */
                sleep_us(50);
            if (timer_now() - last_msg > d->o.timeout_s)
                break;
        }
        double now = timer_now();
        d->wait_s += now - t;
        if (rc != MPI_SUCCESS) {
            st = mpi_fail(d, err, rc, "MPI_Test (server)");
            break;
        }
        if (!flag) {
            MPI_Cancel(&req);
            MPI_Wait(&req, MPI_STATUS_IGNORE);
            st = ch_fail(err, CH_ERR_IO,
                         "rank %d (parameter server): no message from any worker for %.0f s "
                         "(%d of %d workers finished); giving up (--dist-timeout)",
                         d->rank, d->o.timeout_s, done, d->n_workers);
            break;
        }
        last_msg = now;
        int src = stt.MPI_SOURCE;
        if (h[0] == MSG_FETCH) {
            int64_t v = version;
            if ((rc = MPI_Send(&v, 1, MPI_INT64_T, src, TAG_REP_HDR, d->world)) == MPI_SUCCESS)
                rc = MPI_Send(p, (int)cnt, MPI_FLOAT, src, TAG_REP_DATA, d->world);
            if (rc != MPI_SUCCESS)
                st = mpi_fail(d, err, rc, "MPI_Send (fetch reply)");
        } else if (h[0] == MSG_PUSH) {
            rc = MPI_Recv(g, (int)cnt, MPI_FLOAT, src, TAG_DATA, d->world, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) {
                st = mpi_fail(d, err, rc, "MPI_Recv (push)");
                break;
            }
            double t2 = timer_now();
            int64_t stale = version - h[1];
            d->stale_sum += (double)stale;
            d->stale_n++;
            if (stale > d->stale_max)
                d->stale_max = stale;
            double lr;
            memcpy(&lr, &h[2], sizeof lr);
            const float flr = (float)lr;
            if (adagrad) {
                for (size_t i = 0; i < cnt; i++) {
                    state[i] += g[i] * g[i];
                    p[i] -= flr * g[i] / (sqrtf(state[i]) + 1e-10f);
                }
            } else if (mom > 0.0f) {
                /* torch SGD: the first step copies the gradient into the buffer */
                for (size_t i = 0; i < cnt; i++) {
                    state[i] = version == 0 ? g[i] : mom * state[i] + g[i];
                    p[i] -= flr * state[i];
                }
            } else {
                for (size_t i = 0; i < cnt; i++)
                    p[i] -= flr * g[i];
            }
            version++;
            d->pushes++;
            d->work_s += timer_now() - t2;
        } else if (h[0] == MSG_SNAPSHOT) {
            int64_t v = version;
            if ((rc = MPI_Send(&v, 1, MPI_INT64_T, src, TAG_REP_HDR, d->world)) == MPI_SUCCESS)
                rc = MPI_Send(p, (int)cnt, MPI_FLOAT, src, TAG_REP_DATA, d->world);
            if (rc == MPI_SUCCESS)
                rc = MPI_Send(state, (int)cnt, MPI_FLOAT, src, TAG_REP_DATA, d->world);
            if (rc != MPI_SUCCESS)
                st = mpi_fail(d, err, rc, "MPI_Send (snapshot reply)");
        } else if (h[0] == MSG_DONE) {
            done++;
        } else {
            st = ch_fail(err, CH_ERR_INTERNAL, "rank %d (parameter server): unknown message "
                                               "type %lld from rank %d", d->rank,
                         (long long)h[0], src);
        }
        d->comm_s += timer_now() - now;
    }
    free(g);
    free(state);
    if (st != CH_OK)
        return st;
    double t = timer_now();
    st = final_bcast(d, params, err);
    d->comm_s += timer_now() - t;
    return st;
}

/* ------------------------------------------------------------------ stats */

enum { ST_SERVER, ST_WALL, ST_SAMPLES, ST_COMPUTE, ST_COMM, ST_WAIT, ST_WORK, ST_BYTES, ST_STEPS,
       ST_PUSHES, ST_STALE_SUM, ST_STALE_N, ST_STALE_MAX, ST_N };

ch_status dist_stats_gather(dist_ctx *d, dist_summary *s, ch_error *err)
{
    memset(s, 0, sizeof *s);
    double mine[ST_N], *all = NULL;
    double wall = timer_now() - d->t0;
    double th_comm;
    pthread_mutex_lock(&d->mu);
    th_comm = d->th_comm_s;
    pthread_mutex_unlock(&d->mu);
    mine[ST_SERVER] = d->is_server;
    mine[ST_WALL] = wall;
    mine[ST_SAMPLES] = d->samples;
    mine[ST_COMM] = d->comm_s + th_comm;
    mine[ST_WAIT] = d->wait_s;
    mine[ST_WORK] = d->work_s;
    mine[ST_COMPUTE] = d->is_server ? d->work_s : wall - d->wait_s - d->comm_block_s;
    mine[ST_BYTES] = d->bytes;
    mine[ST_STEPS] = d->steps;
    mine[ST_PUSHES] = (double)d->pushes;
    mine[ST_STALE_SUM] = d->stale_sum;
    mine[ST_STALE_N] = (double)d->stale_n;
    mine[ST_STALE_MAX] = (double)d->stale_max;
    if (d->rank == 0) {
        all = ch_malloc(err, sizeof(double) * ST_N * (size_t)d->world_size, "dist stats");
        if (!all)
            return CH_ERR_NOMEM; /* the other ranks then block in the gather: caller aborts */
    }
    int rc = MPI_Gather(mine, ST_N, MPI_DOUBLE, all, ST_N, MPI_DOUBLE, 0, d->world);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail(d, err, rc, "MPI_Gather (stats)");
    }
    s->world = d->world_size;
    s->n_workers = d->n_workers;
    s->n_servers = d->n_servers;
    s->mode = (dist_mode)d->o.mode;
    if (d->rank != 0)
        return CH_OK;
    double steps_sum = 0, bytes_sum = 0, stale_n = 0;
    for (int r = 0; r < d->world_size; r++) {
        const double *v = all + (size_t)r * ST_N;
        if (v[ST_WALL] > s->wall_s)
            s->wall_s = v[ST_WALL];
        if (v[ST_SERVER] != 0) {
            s->server_compute_s += v[ST_WORK] / d->n_servers;
            s->server_comm_s += v[ST_COMM] / d->n_servers;
            s->server_wait_s += v[ST_WAIT] / d->n_servers;
            s->pushes += (int64_t)v[ST_PUSHES];
            s->staleness_mean += v[ST_STALE_SUM];
            stale_n += v[ST_STALE_N];
            if ((int64_t)v[ST_STALE_MAX] > s->staleness_max)
                s->staleness_max = (int64_t)v[ST_STALE_MAX];
        } else {
            s->samples += v[ST_SAMPLES];
            s->compute_s += v[ST_COMPUTE] / d->n_workers;
            s->comm_s += v[ST_COMM] / d->n_workers;
            s->wait_s += v[ST_WAIT] / d->n_workers;
            steps_sum += v[ST_STEPS];
            bytes_sum += v[ST_BYTES];
        }
    }
    s->staleness_mean = stale_n > 0 ? s->staleness_mean / stale_n : 0.0;
    s->steps = steps_sum / d->n_workers;
    s->bytes_per_step = steps_sum > 0 ? bytes_sum / steps_sum : 0.0;
    s->samples_per_s = s->wall_s > 0 ? s->samples / s->wall_s : 0.0;
    free(all);
    return CH_OK;
}
