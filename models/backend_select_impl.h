/* backend_select_impl.h — the build-dependent half of backend_select.c, implemented by
 * backend_select_cuda.c (CUDA builds) or backend_select_nocuda.c (CUDA=0). Private to
 * models/backend_select*.c. device strings arrive already checked ("cuda" or "cuda:<digits>"). */
#ifndef CHORUS_BACKEND_SELECT_IMPL_H
#define CHORUS_BACKEND_SELECT_IMPL_H

#include "common/status.h"
#include "models/backend.h"

ch_status nn_select_cuda_table(const char *device, const nn_backend **out, ch_error *err);
/* Opens and binds a cuda_ctx; *dev owns it. */
ch_status nn_select_cuda_open(const char *device, int tf32, void **dev, ch_error *err);
ch_status nn_select_cuda_check(void *dev, ch_error *err);
void nn_select_cuda_close(void *dev);
/* Memory on the CUDA device of dev (errors come back as the context's message). */
ch_status nn_select_cuda_alloc(void *dev, void **p, size_t bytes, const char *what,
                               ch_error *err);
void nn_select_cuda_free(void *p);
/* dir: 0 host -> device, 1 device -> host (synchronous) */
ch_status nn_select_cuda_copy(void *dev, void *dst, const void *src, size_t bytes, int dir,
                              ch_error *err);
ch_status nn_select_cuda_zero(void *dev, void *p, size_t bytes, ch_error *err);

#endif
