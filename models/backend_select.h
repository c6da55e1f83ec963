/* backend_select.h — from a --device string to a backend table and its device context, without
 * #ifdef in callers (DESIGN.md §6).
 *
 *   nn_ctx ctx = {0};
 *   if ((st = nn_device_open(&ctx, com.device, 0, &err)) != CH_OK) return cli_report(...);
 *   ... model code calls ctx.be->..., with device pointers when ctx.be is the CUDA table ...
 *   if ((st = nn_device_check(&ctx, &err)) != CH_OK) ...   (once per step: CUDA errors)
 *   nn_device_close(&ctx);
 *
 * "cpu" gives the CPU table and no device context. "cuda" / "cuda:N" gives the CUDA table and a
 * cuda_ctx (models/cuda_ctx.h) in ctx->device, bound as the calling thread's current context;
 * in a CUDA=0 build it fails with "--device cuda:0: this build has no CUDA (built with CUDA=0)".
 */
#ifndef CHORUS_BACKEND_SELECT_H
#define CHORUS_BACKEND_SELECT_H

#include <stdbool.h>

#include "common/status.h"
#include "models/backend.h"

/* True when this build has the CUDA backend (it may still find no device at run time). */
bool nn_have_cuda(void);

/* The table for device without opening anything: "cpu" -> CPU; "cuda[:N]" -> CUDA, or
 * CH_ERR_UNSUPPORTED in a CUDA=0 build; anything else CH_ERR_USAGE
 * ("--device: 'x' is not cpu or cuda[:N]"). */
ch_status nn_backend_for_device(const char *device, const nn_backend **out, ch_error *err);

/* Sets ctx->be and ctx->device for device (see above); tf32 = 1 lets cuBLAS/cuDNN use TF32
 * (ignored on the CPU). A missing driver / device is CH_ERR_UNSUPPORTED
 * ("cuda:0: no CUDA device (cudaGetDeviceCount: ...)"). ctx->device is owned by ctx until
 * nn_device_close. Other fields of ctx are left alone. */
ch_status nn_device_open(nn_ctx *ctx, const char *device, int tf32, ch_error *err);

/* CPU: CH_OK. CUDA: waits for the device and returns the first error its calls met. */
ch_status nn_device_check(nn_ctx *ctx, ch_error *err);

/* Releases the device context (NULL-safe, idempotent); ctx->be is reset to NULL. */
void nn_device_close(nn_ctx *ctx);

/* Memory where ctx's backend computes — host memory on the CPU, device memory with CUDA — so
 * that parameter buffers, arenas and workspaces are written once for both. The caller owns
 * *p (nn_device_free with the same ctx). Copies: upload / download are synchronous; zero is
 * asynchronous on CUDA (ordered with the layer calls; per-step gradient zeroing). */
ch_status nn_device_alloc(nn_ctx *ctx, void **p, size_t bytes, const char *what, ch_error *err);
void nn_device_free(nn_ctx *ctx, void *p);
ch_status nn_device_upload(nn_ctx *ctx, void *dst, const void *src_host, size_t bytes,
                           ch_error *err);
ch_status nn_device_download(nn_ctx *ctx, void *dst_host, const void *src, size_t bytes,
                             ch_error *err);
ch_status nn_device_zero(nn_ctx *ctx, void *p, size_t bytes, ch_error *err);

#endif
