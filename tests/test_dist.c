/* test_dist.c — the MPI-free parts of the distributed layer (train/dist.h) and its one-rank
 * behaviour: batch shards tile the global batch and their loss scales sum to 1, parameter-server
 * shards tile the buffer, the shared epoch order is a permutation that every rank derives alike,
 * changes per epoch and groups similar lengths, and a single process (with or without MPI) gets a
 * no-op sync and a clear refusal of async/downpour. The multi-rank behaviour is tested under
 * mpirun by tests/test_dist_mpi.sh. */
#include "test_util.h"

#include "train/dist.h"

static void test_shard_tiles_batch(void **state)
{
    (void)state;
    for (int B = 1; B <= 70; B++)
        for (int n = 1; n <= 9; n++) {
            int next = 0, lo = B, hi = 0;
            float scale = 0;
            for (int w = 0; w < n; w++) {
                int b0, cnt;
                dist_shard(B, n, w, &b0, &cnt);
                assert_int_equal(b0, next); /* contiguous, in worker order */
                assert_true(cnt >= 0);
                next = b0 + cnt;
                lo = cnt < lo ? cnt : lo;
                hi = cnt > hi ? cnt : hi;
                scale += dist_loss_scale(cnt, B);
            }
            assert_int_equal(next, B);
            assert_true(hi - lo <= 1); /* balanced */
            assert_true(fabsf(scale - 1.0f) < 1e-5f);
        }
}

static void test_ps_shard_tiles_buffer(void **state)
{
    (void)state;
    size_t sizes[] = {1, 7, 100, 18696, 1000003};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        for (int P = 1; P <= 5; P++) {
            if ((size_t)P > sizes[k])
                continue;
            size_t next = 0;
            for (int s = 0; s < P; s++) {
                size_t off, cnt;
                dist_ps_shard(sizes[k], P, s, &off, &cnt);
                assert_int_equal(off, next);
                assert_true(cnt >= sizes[k] / (size_t)P && cnt <= sizes[k] / (size_t)P + 1);
                next = off + cnt;
            }
            assert_int_equal(next, sizes[k]);
        }
}

static int is_permutation(const int *a, int n)
{
    char *seen = calloc((size_t)n, 1);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        if (a[i] < 0 || a[i] >= n || seen[a[i]])
            ok = 0;
        else
            seen[a[i]] = 1;
    }
    free(seen);
    return ok;
}

/* mean over full batches of (max - min length within the batch) */
static double mean_batch_spread(const int *order, const int *len, int n, int B)
{
    double sum = 0;
    int nb = n / B;
    for (int b = 0; b < nb; b++) {
        int lo = 1 << 30, hi = 0;
        for (int i = b * B; i < (b + 1) * B; i++) {
            int l = len[order[i]];
            lo = l < lo ? l : lo;
            hi = l > hi ? l : hi;
        }
        sum += hi - lo;
    }
    return sum / nb;
}

static void test_epoch_order(void **state)
{
    (void)state;
    enum { N = 1000, B = 16 };
    int len[N], a[N], b[N], c[N];
    ch_error err;
    for (int i = 0; i < N; i++)
        len[i] = 10 + (i * 7919) % 300;
    /* plain shuffle: a permutation, the same for the same (seed, epoch), another per epoch */
    assert_int_equal(dist_epoch_order(5, 0, NULL, N, B, a, &err), CH_OK);
    assert_int_equal(dist_epoch_order(5, 0, NULL, N, B, b, &err), CH_OK);
    assert_int_equal(dist_epoch_order(5, 1, NULL, N, B, c, &err), CH_OK);
    assert_true(is_permutation(a, N));
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    int fixed = 0;
    for (int i = 0; i < N; i++)
        fixed += a[i] == i;
    assert_true(fixed < 20); /* actually shuffled */
    double spread_plain = mean_batch_spread(a, len, N, B);
    /* bucketed: still a permutation and deterministic, batches of similar length */
    assert_int_equal(dist_epoch_order(5, 0, len, N, B, a, &err), CH_OK);
    assert_int_equal(dist_epoch_order(5, 0, len, N, B, b, &err), CH_OK);
    assert_int_equal(dist_epoch_order(5, 1, len, N, B, c, &err), CH_OK);
    assert_true(is_permutation(a, N));
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    double spread_bucketed = mean_batch_spread(a, len, N, B);
    assert_true(spread_bucketed < 0.25 * spread_plain);
    /* batch order is shuffled: lengths do not simply ascend over the epoch */
    int ascending = 1;
    for (int bt = 1; bt < N / B && ascending; bt++)
        ascending = len[a[bt * B]] >= len[a[(bt - 1) * B]];
    assert_false(ascending);
    assert_int_equal(dist_epoch_order(5, 0, NULL, N, 0, a, &err), CH_ERR_USAGE);
}

static void test_one_process(void **state)
{
    (void)state;
    int argc = 1;
    char arg0[] = "test_dist", *argv0[] = {arg0, NULL};
    char **argv = argv0;
    dist_ctx *d = NULL;
    ch_error err;
    assert_int_equal(dist_init(&d, &argc, &argv, &err), CH_OK);
    assert_non_null(d);
    assert_int_equal(dist_world(d), 1);
    assert_int_equal(dist_rank(d), 0);
    assert_true(dist_is_root(d));
    assert_true(dist_threads(d, 3) == 3);
    assert_true(dist_threads(d, 0) >= 1);

    dist_options o = dist_options_default();
    assert_int_equal(o.mode, DIST_SYNC);
    o.mode = DIST_ASYNC;
    ch_status st = dist_setup(d, &o, 100, &err);
    /* with MPI a layout error (usage), without MPI not possible in this build */
    assert_true(st == CH_ERR_USAGE || st == CH_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, CHORUS_HAVE_MPI ? "needs at least 2 ranks" : "needs MPI"));
    printf("async alone: %s\n", err.msg);
    o.mode = DIST_DOWNPOUR;
    assert_int_not_equal(dist_setup(d, &o, 100, &err), CH_OK);

    o.mode = DIST_SYNC;
    assert_int_equal(dist_setup(d, &o, 100, &err), CH_OK);
    assert_int_equal(dist_n_workers(d), 1);
    assert_false(dist_is_server(d));
    float g[100], g0[100];
    for (int i = 0; i < 100; i++)
        g[i] = g0[i] = (float)i * 0.5f - 3.0f;
    /* one rank: the sum over workers is its own gradient, bit for bit */
    assert_int_equal(dist_grad_bucket_ready(d, g, 50, 50, &err), CH_OK);
    assert_int_equal(dist_grad_sync_finish(d, g, 100, &err), CH_OK);
    assert_memory_equal(g, g0, sizeof g);
    double comm = -1;
    assert_int_equal(dist_hook_sync_grads(d, g, 100, &comm, &err), CH_OK);
    assert_true(comm >= 0);
    assert_int_equal(dist_hook_average_buffers(d, g, 100, &err), CH_OK);
    assert_memory_equal(g, g0, sizeof g);
    assert_int_equal(dist_allreduce_grads(d, g, 100, &err), CH_OK);
    assert_int_equal(dist_average_buffers(d, g, 100, &err), CH_OK);
    assert_memory_equal(g, g0, sizeof g);
    double m[2] = {1.5, 2.0};
    assert_int_equal(dist_sum_metrics(d, m, 2, &err), CH_OK);
    assert_true(m[0] == 1.5 && m[1] == 2.0);
    assert_int_equal(dist_ps_fetch(d, g, &err) == CH_OK, 0); /* not a PS run */
    dist_add_samples(d, 64);
    dist_summary s;
    assert_int_equal(dist_stats_gather(d, &s, &err), CH_OK);
    assert_int_equal(s.world, 1);
    assert_true(s.samples == 64);
    assert_true(s.steps == 3);
    assert_int_equal(dist_finish(d, "test_dist", CH_OK, NULL, true), 0);
}

/* Under AddressSanitizer: unwind allocations slowly, through MPI's frame-pointer-less code, so
 * that tests/lsan.supp's library suppressions match MPI's one-time allocations. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

/* --bucket-kb: explicit sizes as given; 0 = an eighth of the gradient within [16 KiB, 1 MiB] */
static void test_bucket_size(void **state)
{
    (void)state;
    assert_int_equal(dist_bucket_floats(1, 10), 256);
    assert_int_equal(dist_bucket_floats(1024, 10), 262144);
    assert_int_equal(dist_bucket_floats(0, 1000), 4096);        /* tiny model: 16 KiB */
    assert_int_equal(dist_bucket_floats(0, 43000), 5375);       /* KWS default: 8 buckets */
    assert_int_equal(dist_bucket_floats(0, 1880000), 235000);   /* tdnn: 8 buckets */
    assert_int_equal(dist_bucket_floats(0, 100000000), 262144); /* large: 1 MiB */
    assert_int_equal(dist_options_default().bucket_kb, 0);
}

int main(void)
{
    /* keep Open MPI / PMIx plugins loaded after MPI_Finalize, for the same reason */
    setenv("OMPI_MCA_mca_base_component_disable_dlclose", "1", 0);
    setenv("PMIX_MCA_mca_base_component_disable_dlclose", "1", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_tiles_batch),
        cmocka_unit_test(test_ps_shard_tiles_buffer),
        cmocka_unit_test(test_epoch_order),
        cmocka_unit_test(test_one_process),
        cmocka_unit_test(test_bucket_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
