/* dist.h — the distributed layer: data-parallel all-reduce (--dist sync), a parameter server
 * (--dist async) and DistBelief's Downpour SGD (--dist downpour), over MPI (DESIGN.md §7).
 *
 * The same API is built twice: train/dist_mpi.c with OpenMPI, train/dist_nompi.c without (one
 * process, world 1: sync is a no-op, async/downpour are rejected with a clear message). Shared,
 * MPI-free parts (options, sharding, the epoch order, the report) are in train/dist.c.
 *
 * ---- Launch and topology
 * A command runs unchanged alone, under `mpirun -np N` and under `srun`. dist_init() calls
 * MPI_Init_thread(MPI_THREAD_SERIALIZED) — serialized is all the progress thread needs: during
 * a step's gradient sync only that thread calls MPI, the main thread is back in MPI only after
 * dist_grad_sync_finish() has handed the thread back to sleep. Rank, world and local rank /
 * local size come from MPI (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)); threads per rank
 * default to the node's online cores / ranks on the node (dist_threads). --workers-per-node W
 * (W > 0) checks that every node runs exactly W ranks. Every communicator uses
 * MPI_ERRORS_RETURN and every MPI call is checked: a failure is a ch_status whose message names
 * the rank ("rank 3: MPI_Iallreduce: <MPI's reason>").
 *
 * Only rank 0 (dist_is_root) prints progress and writes checkpoints. Errors end a run through
 * dist_finish(): an error every rank hit the same way (bad layout, bad options) is printed once
 * by rank 0 and every rank exits with its code after MPI_Finalize; an error of one rank is
 * printed as "<prog>: rank R: <message>" and the job is ended with MPI_Abort, so no rank hangs
 * in a collective waiting for it. A rank killed outright (SIGKILL, OOM) ends the job through
 * mpirun ("mpirun noticed that process rank R ... exited on signal 9"); under Slurm run srun
 * with --kill-on-bad-exit=1 for the same effect. Parameter servers additionally give up after
 * --dist-timeout seconds without any message from any worker (a hang guard, not the normal path).
 *
 * ---- Roles
 * sync: every rank is a worker (n_workers = world). async / downpour with --ps P: the LAST P
 * ranks are parameter servers, ranks 0 .. world-P-1 are workers, so rank 0 (which prints and
 * checkpoints) is always worker 0. Server s owns the contiguous shard
 * [s*n/P, (s+1)*n/P) of the flat parameter buffer (dist_ps_shard) and the optimizer state for it.
 *
 * ---- Sync: sharding and loss scaling (the N-ranks = 1-rank-with-accumulation contract)
 * A global batch of B samples is the same list on every rank (same seed, dist_epoch_order).
 * Worker w of n takes the contiguous positions dist_shard(B, n, w) = [w*B/n, (w+1)*B/n)
 * (counts differ by at most one). The trainer must scale its loss so that the gradient it hands
 * in is d(sum over its shard of per-sample losses)/dθ × 1/B, i.e. with a loss that is the mean
 * over its own `count` samples, multiply the loss gradient by count / B (dist_loss_scale). The
 * all-reduce is a plain SUM, so after dist_grad_sync_finish every rank holds d(mean loss over
 * the global batch)/dθ: exactly what one rank gets by running the n shards one after the other
 * as micro-batches, each scaled the same way, accumulating into grad (N-step accumulation).
 * Learning rate and global batch therefore do not change with the rank count. Differences are
 * float rounding only: for 2 ranks the SUM is one commutative addition, the same one the
 * accumulation does, so results are bit-identical when each shard's backward is computed
 * identically; for more ranks MPI's reduction order (tree/ring) differs from the sequential one.
 * Batch norm: each rank normalises with its shard's batch statistics, as the accumulating single
 * rank does per micro-batch; the running statistics (model buffers, never all-reduced with the
 * gradients) are averaged over workers with dist_average_buffers before evaluation and before
 * every checkpoint (a rank's running stats differ only by the shards it saw).
 *
 * ---- Sync: bucketed, overlapped all-reduce
 * Per step: backward calls dist_grad_bucket_ready(ctx, grad, off, cnt) whenever a contiguous
 * range of grad is final (e.g. per layer, last layer first). Adjacent ranges are merged until a
 * bucket reaches --bucket-kb, then handed to a progress thread which starts MPI_Iallreduce(SUM,
 * in place) on it and keeps MPI progressing (MPI_Testsome) while backward continues. Every rank
 * must report the same ranges in the same order (the same model code does). After backward,
 * dist_grad_sync_finish(ctx, grad, n) sends what is left, covers every part of grad[0, n) that
 * was never reported, waits for all of them and returns with grad summed over the workers.
 * grad must not move or be touched in reported ranges until finish returns. dist_allreduce_grads
 * is the simple fallback (one blocking all-reduce of the whole buffer). --dist-progress poll (or
 * an MPI without MPI_THREAD_SERIALIZED) drops the thread: buckets then start from the calling
 * thread and advance only inside dist_grad_bucket_ready calls (less overlap, same sums).
 * The trainers report through the models' gradient-ready notices (models/model.h
 * nn_grad_notify: one range per finished layer of the step's last micro-batch) unless
 * --dist-overlap=false.
 *
 * ---- Async and Downpour (parameter server)
 * Server ranks call dist_ps_serve(ctx, params, n, err) with the initial parameters (identical on
 * all ranks, e.g. after dist_broadcast from rank 0); it returns when every worker has called
 * dist_ps_done. Workers call dist_ps_fetch(params) once before the first step, then per step,
 * after backward has ACCUMULATED the step's gradient (mean over the worker's own mini-batch),
 * dist_worker_step(ctx, step, params, grad, lr): async pushes grad and fetches fresh params
 * every step; downpour adds grad to a local accumulator, pushes the accumulated SUM every
 * --n-push steps and fetches every --n-fetch steps. The trainer zeroes grad after the call; the
 * parameters are only changed by fetches, unless --local-update (the default; async ignores it:
 * it fetches every step): then a downpour worker also
 * applies each step's gradient to its own copy (DistBelief's Downpour client: parameters -=
 * lr * gradient between fetches) with the servers' rule as far as one worker can: SGD at lr, or
 * Adagrad over a local sum of its own squared gradients (started at --ps-adagrad-init), so
 * the steps between fetches are not lost. Momentum is not applied locally. The server applies each push as it
 * arrives with --ps-optim: sgd (torch SGD with --ps-momentum) or adagrad (DistBelief: accum +=
 * g^2; p -= lr * g / (sqrt(accum) + 1e-10), accum starting at --ps-adagrad-init), at the lr the
 * worker sent with the push (so the trainer's lr schedule applies). Staleness of a push =
 * server shard version (updates applied so far) when the push arrives - version the worker's
 * parameters were fetched at; servers record mean and max, dist_stats_gather reports them.
 *
 * ---- Stats (dist_stats_gather, dist_summary_print)
 * comm: seconds in MPI transfers (sync: time collectives were in flight, overlapped or not;
 * PS: fetch/push time on workers, reply/receive time on servers); wait: seconds blocked with
 * nothing to overlap (sync: inside dist_grad_sync_finish; servers: idle waiting for messages);
 * compute: wall time since dist_setup minus comm(not overlapped) minus wait. Bytes per step:
 * payload bytes a worker hands to / receives from MPI per step (sync: 4n per all-reduce; PS:
 * pushed + fetched floats × 4), averaged over workers. samples/s: the samples all workers
 * reported with dist_add_samples divided by the slowest rank's wall time.
 */
#ifndef CHORUS_DIST_H
#define CHORUS_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/options.h"
#include "common/status.h"

typedef enum { DIST_SYNC = 0, DIST_ASYNC = 1, DIST_DOWNPOUR = 2 } dist_mode;
typedef enum { DIST_PS_SGD = 0, DIST_PS_ADAGRAD = 1 } dist_ps_optim;

typedef struct {
    int mode;             /* dist_mode (choice "sync|async|downpour") */
    int ps;               /* parameter-server ranks (async / downpour) */
    int n_fetch;          /* downpour: fetch every n_fetch steps */
    int n_push;           /* downpour: push accumulated gradients every n_push steps */
    int workers_per_node; /* 0: no check; else every node must run exactly this many ranks */
    int bucket_kb;        /* sync: all-reduce bucket size; 0 = dist_bucket_floats' choice */
    int ps_optim;         /* dist_ps_optim (choice "sgd|adagrad") */
    double ps_momentum;   /* ps-optim sgd */
    double ps_adagrad_init; /* ps-optim adagrad: initial accumulator value */
    bool local_update;    /* downpour: workers also step their own copy between fetches */
    double timeout_s;     /* servers: give up after this long without any worker message */
    int progress;         /* sync: 0 = progress thread, 1 = poll from the calling thread */
    bool overlap;         /* sync: trainers report finished layers to dist_grad_bucket_ready */
} dist_options;

dist_options dist_options_default(void);
extern const opt_desc dist_opts[];
extern const size_t dist_n_opts;
#define DIST_GROUP(ptr) {"Distributed training", dist_opts, dist_n_opts, (ptr)}

typedef struct dist_ctx dist_ctx;

/* Rank from the launcher's environment before MPI is up (OMPI_COMM_WORLD_RANK, PMIX_RANK,
 * PMI_RANK, SLURM_PROCID; 0 when alone), so a command can print usage errors once. */
int dist_env_rank(void);
/* An error before MPI is up (bad usage, unwritable output) is the same on every rank: launcher
 * rank 0 prints it (cli_report), the others only return the exit code. */
int dist_report_early(const char *prog, ch_status st, const ch_error *err);
/* A distributed command's argument parsing: --help only from launcher rank 0 (the other ranks
 * exit 0 quietly), usage errors printed once (dist_report_early). Returns -1 to go on with
 * pos[0 .. p->max_pos) set (pointers into argv; max_pos >= 0), else the exit code to return
 * at once. */
int dist_parse_args(const opt_parser *p, int argc, char **argv, const char **pos,
                    ch_error *err);

/* Initialises MPI (if built with it and not yet initialised) and the topology. *out is owned by
 * the caller and must be ended with dist_finish (which also finalises MPI). On failure *out is
 * NULL and MPI has been finalised. */
ch_status dist_init(dist_ctx **out, int *argc, char ***argv, ch_error *err);

/* Checks the layout (--ps < world, async/downpour need >= 2 ranks, --workers-per-node) and sets
 * the roles. Every rank reaches the same verdict, so an error here is a collective one
 * (dist_finish(..., true)). n_params: the flat buffer's size (shards, accumulators). */
ch_status dist_setup(dist_ctx *d, const dist_options *o, size_t n_params, ch_error *err);

/* Ends the run: frees d and finalises MPI, returning the exit code for st. st != CH_OK and
 * all_ranks: printed once by rank 0 as "<prog>: <msg>". st != CH_OK otherwise: printed as
 * "<prog>: rank R: <msg>" and, with world > 1, MPI_Abort ends every rank (does not return). */
int dist_finish(dist_ctx *d, const char *prog, ch_status st, const ch_error *err, bool all_ranks);

/* ---- roles and topology */
int dist_rank(const dist_ctx *d);
int dist_world(const dist_ctx *d);
int dist_local_rank(const dist_ctx *d);
int dist_local_size(const dist_ctx *d);
bool dist_is_root(const dist_ctx *d);   /* rank 0: prints, writes checkpoints */
bool dist_is_server(const dist_ctx *d);
int dist_n_workers(const dist_ctx *d);
int dist_worker_index(const dist_ctx *d); /* 0 .. n_workers-1; -1 on a server */
int dist_n_servers(const dist_ctx *d);
dist_mode dist_get_mode(const dist_ctx *d);
/* Threads for this rank: requested when > 0, else node cores / ranks on this node (>= 1). */
int dist_threads(const dist_ctx *d, int requested);
/* A trainer's start: dist_init, then this rank's OpenMP threads (dist_threads of requested,
 * set with omp_set_num_threads, returned in *threads) and *verbosity = 0 off rank 0. On error
 * *out is NULL and the caller ends with dist_finish(NULL, ..., true). */
ch_status dist_start(dist_ctx **out, int *argc, char ***argv, int requested, int *threads,
                     int *verbosity, ch_error *err);

/* ---- sharding (pure functions, also used by a single rank for accumulation) */
/* Worker w of n takes positions [*begin, *begin + *count) of a global batch of B. */
void dist_shard(int B, int n, int w, int *begin, int *count);
/* Bucket size in floats: bucket_kb KiB, or for 0 an eighth of the n_params gradient clamped
 * to [16 KiB, 1 MiB], so that even a small model's all-reduce goes out in several pieces while
 * backward runs (one bucket would wait for the whole backward), and a large one's in pieces
 * big enough for the link's bandwidth rather than its latency. */
size_t dist_bucket_floats(int bucket_kb, size_t n_params);
/* Factor for a mean-over-its-`count`-samples loss gradient: count / B (see the contract). */
float dist_loss_scale(int count, int B);
/* The parameter server s of P owns floats [*off, *off + *count) of n. */
void dist_ps_shard(size_t n, int P, int s, size_t *off, size_t *count);
/* Epoch order shared by all ranks: a permutation of 0..n-1 from (seed, epoch), then, when
 * lengths is not NULL, bucketed by length: windows of 50 batches are sorted by length, cut
 * into batches of B and the batches shuffled again, so a batch holds utterances of similar
 * length and the ranks' shards cost about the same. order gets n indices. */
ch_status dist_epoch_order(uint64_t seed, int epoch, const int *lengths, int n, int B,
                           int *order, ch_error *err);

/* ---- sync mode */
ch_status dist_grad_bucket_ready(dist_ctx *d, float *grad, size_t offset, size_t count,
                                 ch_error *err);
ch_status dist_grad_sync_finish(dist_ctx *d, float *grad, size_t n, ch_error *err);
ch_status dist_allreduce_grads(dist_ctx *d, float *grad, size_t n, ch_error *err);
/* Averages buf over the workers (BN running statistics); servers do not take part. */
ch_status dist_average_buffers(dist_ctx *d, float *buf, size_t n, ch_error *err);
/* Broadcast of n floats from world rank root to every rank (initial parameters). */
ch_status dist_broadcast(dist_ctx *d, float *data, size_t n, int root, ch_error *err);
/* Sum of n doubles over the workers, result on every worker (loss sums, correct counts). */
ch_status dist_sum_metrics(dist_ctx *d, double *v, int n, ch_error *err);
/* Barrier over every rank. */
ch_status dist_barrier(dist_ctx *d, ch_error *err);

/* Adapters with the signatures of train/trainer.h's trainer_dist hook (ctx = the dist_ctx):
 *   trainer_dist h = {dist_rank(d), dist_world(d), d, dist_hook_sync_grads,
 *                     dist_hook_average_buffers};
 * sync_grads = dist_grad_sync_finish (uses the buckets backward reported, if any, and reduces
 * the rest in pipelined buckets), *comm_s = seconds spent in it. */
ch_status dist_hook_sync_grads(void *ctx, float *grad, size_t n, double *comm_s, ch_error *err);
ch_status dist_hook_average_buffers(void *ctx, float *buf, size_t n, ch_error *err);

/* ---- async / downpour (parameter server) */
ch_status dist_ps_serve(dist_ctx *d, float *params, size_t n, ch_error *err);
ch_status dist_ps_fetch(dist_ctx *d, float *params, ch_error *err);
ch_status dist_ps_push(dist_ctx *d, const float *grad, double lr, ch_error *err);
ch_status dist_worker_step(dist_ctx *d, int64_t step, float *params, const float *grad,
                           double lr, ch_error *err);
/* A worker is finished: flushes a partial downpour accumulation, then tells every server. */
/* final_params (n floats, every worker): the final parameters, broadcast by the servers once
 * every worker is done (collective with dist_ps_serve). */
ch_status dist_ps_done(dist_ctx *d, double lr, float *final_params, ch_error *err);

/* Checkpointing a parameter-server run. dist_ps_snapshot (a worker; the trainer calls it on
 * rank 0 when it writes a checkpoint): every server sends its current parameter shard, its
 * optimizer state shard (SGD momentum buffer, or Adagrad's sum of squares) and its update count
 * (version); params and state receive the whole n floats, versions one count per server (may
 * be NULL). The servers answer between pushes, so the snapshot is of a consistent moment of each
 * shard. dist_ps_restore (every rank, before dist_ps_serve; the same full arrays everywhere,
 * e.g. broadcast from rank 0): the servers start from that state and those versions instead of
 * fresh ones (versions of another server count: each server takes the largest). Without MPI
 * both are CH_ERR_UNSUPPORTED. */
ch_status dist_ps_snapshot(dist_ctx *d, float *params, float *state, int64_t *versions,
                           ch_error *err);
ch_status dist_ps_restore(dist_ctx *d, const float *state, const int64_t *versions,
                          int n_versions, ch_error *err);

/* ---- stats and report */
void dist_add_samples(dist_ctx *d, double n);
typedef struct {
    int world, n_workers, n_servers;
    dist_mode mode;
    double wall_s;            /* slowest rank */
    double samples, samples_per_s;
    double compute_s, comm_s, wait_s; /* mean over workers */
    double server_comm_s, server_wait_s, server_compute_s; /* mean over servers */
    double bytes_per_step;    /* mean over workers */
    double steps;             /* mean steps per worker */
    int64_t pushes;           /* applied by servers */
    double staleness_mean;    /* over pushes; async modes */
    int64_t staleness_max;
} dist_summary;
/* Collective over every rank; the summary is valid on rank 0. */
ch_status dist_stats_gather(dist_ctx *d, dist_summary *s, ch_error *err);
/* Human lines, or with json one "\"dist\":{...}" object body (no braces around it). */
void dist_summary_print(const dist_summary *s, FILE *out, bool json);
const char *dist_mode_name(dist_mode m);

#endif
