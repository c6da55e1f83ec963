/* backend_select_nocuda.c — CUDA half of backend selection in a CUDA=0 build: every CUDA
 * device is refused with one clear line. */
#include <stdbool.h>

#include "models/backend_select.h"
#include "models/backend_select_impl.h"

bool nn_have_cuda(void) { return false; }

static ch_status no_cuda(const char *device, ch_error *err)
{
    /* "cuda" alone means cuda:0; name the device the user would have got */
    return ch_fail(err, CH_ERR_UNSUPPORTED,
                   "--device %s: this build has no CUDA (built with CUDA=0)",
                   device[4] == '\0' ? "cuda:0" : device);
}

ch_status nn_select_cuda_table(const char *device, const nn_backend **out, ch_error *err)
{
    *out = NULL;
    return no_cuda(device, err);
}

ch_status nn_select_cuda_open(const char *device, int tf32, void **dev, ch_error *err)
{
    (void)tf32;
    *dev = NULL;
    return no_cuda(device, err);
}

ch_status nn_select_cuda_check(void *dev, ch_error *err)
{
    (void)dev;
    return ch_fail(err, CH_ERR_INTERNAL, "nn_device_check: no CUDA context in a CUDA=0 build");
}

void nn_select_cuda_close(void *dev) { (void)dev; }

/* Unreachable: without CUDA, nn_device_open never sets ctx->device. */
ch_status nn_select_cuda_alloc(void *dev, void **p, size_t bytes, const char *what,
                               ch_error *err)
{
    (void)dev, (void)bytes;
    *p = NULL;
    return ch_fail(err, CH_ERR_INTERNAL, "%s: no CUDA device in a CUDA=0 build", what);
}

void nn_select_cuda_free(void *p) { (void)p; }

ch_status nn_select_cuda_copy(void *dev, void *dst, const void *src, size_t bytes, int dir,
                              ch_error *err)
{
    (void)dev, (void)dst, (void)src, (void)bytes, (void)dir;
    return ch_fail(err, CH_ERR_INTERNAL, "nn_device copy: no CUDA device in a CUDA=0 build");
}

ch_status nn_select_cuda_zero(void *dev, void *p, size_t bytes, ch_error *err)
{
    (void)dev, (void)p, (void)bytes;
    return ch_fail(err, CH_ERR_INTERNAL, "nn_device_zero: no CUDA device in a CUDA=0 build");
}
