/* backend_select_cuda.c — CUDA half of backend selection (CUDA builds). */
#include <stdbool.h>

#include "models/backend_cuda.h"
#include "models/backend_select.h"
#include "models/backend_select_impl.h"
#include "models/cuda_ctx.h"

bool nn_have_cuda(void) { return true; }

ch_status nn_select_cuda_table(const char *device, const nn_backend **out, ch_error *err)
{
    (void)device;
    (void)err;
    *out = nn_backend_cuda();
    return CH_OK;
}

ch_status nn_select_cuda_open(const char *device, int tf32, void **dev, ch_error *err)
{
    cuda_ctx *c;
    CH_TRY(cuda_ctx_create(&c, device, tf32, err));
    cuda_ctx_bind(c);
    *dev = c;
    return CH_OK;
}

ch_status nn_select_cuda_check(void *dev, ch_error *err) { return cuda_ctx_sync(dev, err); }

void nn_select_cuda_close(void *dev) { cuda_ctx_free(dev); }

ch_status nn_select_cuda_alloc(void *dev, void **p, size_t bytes, const char *what,
                               ch_error *err)
{
    if (cuda_alloc(dev, p, bytes, what) != CH_OK)
        return cuda_ctx_status(dev, err);
    return CH_OK;
}

void nn_select_cuda_free(void *p) { cuda_free(p); }

ch_status nn_select_cuda_copy(void *dev, void *dst, const void *src, size_t bytes, int dir,
                              ch_error *err)
{
    ch_status st =
        dir == 0 ? cuda_upload(dev, dst, src, bytes) : cuda_download(dev, dst, src, bytes);
    return st == CH_OK ? CH_OK : cuda_ctx_status(dev, err);
}

ch_status nn_select_cuda_zero(void *dev, void *p, size_t bytes, ch_error *err)
{
    cuda_ctx *c = dev;
    if (c->st == CH_OK)
        CUDA_CHECK(c, cudaMemsetAsync(p, 0, bytes, c->stream));
    return cuda_ctx_status(c, err);
}
