/* backend_select.c — --device parsing and the CPU half of backend selection (see
 * backend_select.h); the CUDA half is backend_select_cuda.c or backend_select_nocuda.c. */
#include "models/backend_select.h"

#include <stdlib.h>
#include <string.h>

#include "models/backend_select_impl.h"

static bool is_cuda(const char *device)
{
    return strncmp(device, "cuda", 4) == 0 && (device[4] == '\0' || device[4] == ':');
}

/* "cuda" is cuda:0; the form check (digits after the colon) is shared by both builds so a
 * malformed string is a usage error even without CUDA. */
static ch_status check_cuda_form(const char *device, ch_error *err)
{
    if (device[4] == '\0')
        return CH_OK;
    const char *p = device + 5;
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 4 || p[n] != '\0')
        return ch_fail(err, CH_ERR_USAGE, "--device: '%s' is not cpu or cuda[:N]", device);
    return CH_OK;
}

ch_status nn_backend_for_device(const char *device, const nn_backend **out, ch_error *err)
{
    *out = NULL;
    if (strcmp(device, "cpu") == 0) {
        *out = nn_backend_cpu();
        return CH_OK;
    }
    if (!is_cuda(device))
        return ch_fail(err, CH_ERR_USAGE, "--device: '%s' is not cpu or cuda[:N]", device);
    CH_TRY(check_cuda_form(device, err));
    return nn_select_cuda_table(device, out, err);
}

ch_status nn_device_open(nn_ctx *ctx, const char *device, int tf32, ch_error *err)
{
    const nn_backend *be;
    CH_TRY(nn_backend_for_device(device, &be, err));
    void *dev = NULL;
    if (be != nn_backend_cpu())
        CH_TRY(nn_select_cuda_open(device, tf32, &dev, err));
    ctx->be = be;
    ctx->device = dev;
    return CH_OK;
}

ch_status nn_device_check(nn_ctx *ctx, ch_error *err)
{
    return ctx->device ? nn_select_cuda_check(ctx->device, err) : CH_OK;
}

void nn_device_close(nn_ctx *ctx)
{
    if (ctx->device)
        nn_select_cuda_close(ctx->device);
    ctx->device = NULL;
    ctx->be = NULL;
}

ch_status nn_device_alloc(nn_ctx *ctx, void **p, size_t bytes, const char *what, ch_error *err)
{
    if (ctx->device)
        return nn_select_cuda_alloc(ctx->device, p, bytes, what, err);
    *p = ch_malloc(err, bytes, what);
    return *p ? CH_OK : CH_ERR_NOMEM;
}

void nn_device_free(nn_ctx *ctx, void *p)
{
    if (ctx->device)
        nn_select_cuda_free(p);
    else
        free(p);
}

ch_status nn_device_upload(nn_ctx *ctx, void *dst, const void *src_host, size_t bytes,
                           ch_error *err)
{
    if (ctx->device)
        return nn_select_cuda_copy(ctx->device, dst, src_host, bytes, 0, err);
    if (bytes)
        memcpy(dst, src_host, bytes);
    return CH_OK;
}

ch_status nn_device_download(nn_ctx *ctx, void *dst_host, const void *src, size_t bytes,
                             ch_error *err)
{
    if (ctx->device)
        return nn_select_cuda_copy(ctx->device, dst_host, src, bytes, 1, err);
    if (bytes)
        memcpy(dst_host, src, bytes);
    return CH_OK;
}

ch_status nn_device_zero(nn_ctx *ctx, void *p, size_t bytes, ch_error *err)
{
    if (ctx->device)
        return nn_select_cuda_zero(ctx->device, p, bytes, err);
    if (bytes)
        memset(p, 0, bytes);
    return CH_OK;
}
