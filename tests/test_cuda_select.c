/* test_cuda_select.c — --device plumbing (models/backend_select.h), in every build and with or
 * without a GPU: "cpu" gives the CPU table; malformed strings are usage errors; a CUDA device in
 * a CUDA=0 build, or on a machine with no driver/GPU, is refused with one clear line
 * (CH_ERR_UNSUPPORTED); in a CUDA build the CUDA table is complete for every layer that has a
 * CUDA version, and on a GPU machine the device opens, checks clean and closes. */
#include "test_util.h"

#include "common/cli.h"
#include "models/backend.h"
#include "models/backend_select.h"

#if CHORUS_HAVE_CUDA
#include "models/backend_cuda.h"
#include "models/cuda_ctx.h"
#endif

static void test_cpu(void **state)
{
    (void)state;
    const nn_backend *be = NULL;
    ch_error err;
    assert_int_equal(nn_backend_for_device("cpu", &be, &err), CH_OK);
    assert_ptr_equal(be, nn_backend_cpu());
    nn_ctx ctx = {0};
    assert_int_equal(nn_device_open(&ctx, "cpu", 0, &err), CH_OK);
    assert_ptr_equal(ctx.be, nn_backend_cpu());
    assert_null(ctx.device);
    assert_int_equal(nn_device_check(&ctx, &err), CH_OK);
    nn_device_close(&ctx);
    assert_null(ctx.be);
    nn_device_close(&ctx); /* idempotent */
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"gpu", "", "CPU", "cuda:", "cuda:x", "cuda:1a", "cudax", "cuda0",
                         "cuda:-1", "cuda:99999", " cuda"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const nn_backend *be = nn_backend_cpu();
        ch_error err = {{0}};
        ch_status st = nn_backend_for_device(bad[i], &be, &err);
        printf("'%s': %s\n", bad[i], err.msg);
        assert_int_equal(st, CH_ERR_USAGE);
        assert_null(be);
        char want[128];
        snprintf(want, sizeof want, "--device: '%s' is not cpu or cuda[:N]", bad[i]);
        assert_string_equal(err.msg, want);
        nn_ctx ctx = {0};
        assert_int_equal(nn_device_open(&ctx, bad[i], 0, &err), CH_ERR_USAGE);
        assert_null(ctx.be);
    }
}

#if CHORUS_HAVE_CUDA
static int gpu_count(void)
{
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}
#endif

static void test_cuda(void **state)
{
    (void)state;
    const nn_backend *be = NULL;
    ch_error err = {{0}};
    nn_ctx ctx = {0};
    assert_int_equal(nn_have_cuda(), CHORUS_HAVE_CUDA);
#if !CHORUS_HAVE_CUDA
    assert_int_equal(nn_backend_for_device("cuda:0", &be, &err), CH_ERR_UNSUPPORTED);
    assert_string_equal(err.msg, "--device cuda:0: this build has no CUDA (built with CUDA=0)");
    assert_int_equal(nn_backend_for_device("cuda", &be, &err), CH_ERR_UNSUPPORTED);
    assert_string_equal(err.msg, "--device cuda:0: this build has no CUDA (built with CUDA=0)");
    assert_int_equal(nn_device_open(&ctx, "cuda:1", 0, &err), CH_ERR_UNSUPPORTED);
    assert_string_equal(err.msg, "--device cuda:1: this build has no CUDA (built with CUDA=0)");
    assert_null(ctx.be);
    assert_null(ctx.device);
    printf("CUDA=0 build: %s\n", err.msg);
#else
    assert_int_equal(nn_backend_for_device("cuda:0", &be, &err), CH_OK);
    assert_ptr_equal(be, nn_backend_cuda());
    assert_string_equal(be->name, "cuda");
    /* every entry with a CUDA version is filled; the first missing one (if any) comes after */
    const void *have[] = {
        (const void *)be->conv2d_workspace_floats, (const void *)be->conv2d_forward,
        (const void *)be->conv2d_backward, (const void *)be->conv1d_workspace_floats,
        (const void *)be->conv1d_forward, (const void *)be->conv1d_backward,
        (const void *)be->batchnorm_forward_train, (const void *)be->batchnorm_forward_eval,
        (const void *)be->batchnorm_backward, (const void *)be->relu_forward,
        (const void *)be->relu_backward, (const void *)be->avgpool2d_forward,
        (const void *)be->avgpool2d_backward, (const void *)be->maxpool2d_forward,
        (const void *)be->maxpool2d_backward, (const void *)be->concat_forward,
        (const void *)be->concat_backward, (const void *)be->linear_forward,
        (const void *)be->linear_backward, (const void *)be->dropout_forward_train,
        (const void *)be->dropout_backward, (const void *)be->mean_pool_forward,
        (const void *)be->mean_pool_backward, (const void *)be->stats_pool_forward,
        (const void *)be->stats_pool_backward, (const void *)be->softmax_ce_forward_backward};
    for (size_t i = 0; i < sizeof have / sizeof have[0]; i++)
        assert_non_null(have[i]);
    const char *missing = nn_backend_missing(be);
    printf("CUDA table: first missing entry: %s\n", missing ? missing : "(none)");
    int ord = -1;
    assert_int_equal(cuda_parse_device("cuda", &ord, &err), CH_OK);
    assert_int_equal(ord, 0);
    assert_int_equal(cuda_parse_device("cuda:3", &ord, &err), CH_OK);
    assert_int_equal(ord, 3);
    assert_int_equal(cuda_parse_device("cuda:3x", &ord, &err), CH_ERR_USAGE);

    ch_status st = nn_device_open(&ctx, "cuda", 0, &err);
    if (gpu_count() == 0) {
        printf("no GPU: %s\n", err.msg);
        assert_int_equal(st, CH_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.msg, "cuda:0: no CUDA device (cudaGetDeviceCount: "));
        assert_null(ctx.device);
        assert_null(ctx.be);
    } else {
        if (st != CH_OK)
            fail_msg("nn_device_open(cuda): %s", err.msg);
        assert_ptr_equal(ctx.be, nn_backend_cuda());
        assert_non_null(ctx.device);
        assert_ptr_equal(cuda_ctx_current(), ctx.device);
        assert_int_equal(nn_device_check(&ctx, &err), CH_OK);
        nn_device_close(&ctx);
        assert_null(cuda_ctx_current());
        char dev[32];
        snprintf(dev, sizeof dev, "cuda:%d", gpu_count());
        assert_int_equal(nn_device_open(&ctx, dev, 0, &err), CH_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.msg, "no such device"));
    }
#endif
    /* the commands' own flag check agrees with the build */
    cli_common com = cli_common_default();
    snprintf(com.device, sizeof com.device, "cuda:0");
    assert_int_equal(cli_check_device(&com, nn_have_cuda(), &err),
                     nn_have_cuda() ? CH_OK : CH_ERR_UNSUPPORTED);
}

/* nn_device_alloc / upload / zero / download / free round trip on one device */
static void memory_roundtrip(const char *device)
{
    nn_ctx ctx = {0};
    ch_error err;
    if (nn_device_open(&ctx, device, 0, &err) != CH_OK)
        fail_msg("%s: %s", device, err.msg);
    enum { N = 1000 };
    float h[N], back[N];
    for (int i = 0; i < N; i++)
        h[i] = (float)i * 0.5f - 7.0f;
    void *d = NULL;
    assert_int_equal(nn_device_alloc(&ctx, &d, sizeof h, "roundtrip", &err), CH_OK);
    assert_non_null(d);
    assert_int_equal(nn_device_upload(&ctx, d, h, sizeof h, &err), CH_OK);
    memset(back, 0xff, sizeof back);
    assert_int_equal(nn_device_download(&ctx, back, d, sizeof h, &err), CH_OK);
    assert_memory_equal(back, h, sizeof h);
    /* zero the second half only */
    assert_int_equal(nn_device_zero(&ctx, (float *)d + N / 2, sizeof h / 2, &err), CH_OK);
    assert_int_equal(nn_device_download(&ctx, back, d, sizeof h, &err), CH_OK);
    for (int i = 0; i < N; i++)
        assert_true(back[i] == (i < N / 2 ? h[i] : 0.0f));
    assert_int_equal(nn_device_check(&ctx, &err), CH_OK);
    nn_device_free(&ctx, d);
    nn_device_close(&ctx);
    printf("%s: memory round trip ok\n", device);
}

static void test_memory(void **state)
{
    (void)state;
    memory_roundtrip("cpu");
#if CHORUS_HAVE_CUDA
    if (gpu_count() > 0)
        memory_roundtrip("cuda:0");
    else
        printf("cuda:0: memory round trip not run (no GPU)\n");
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_cuda),
        cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
