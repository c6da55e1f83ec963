/* cuda_ctx.h — the CUDA device context: device id, stream, cuBLAS and cuDNN handles, and the
 * first error any CUDA / cuBLAS / cuDNN call of this context has met. Built only with CUDA
 * (included by the models/ files named _cuda.c and .cu, and CUDA-only test code).
 *
 * Errors. The backend table's entries return void (they have the CPU layers' signatures), so a
 * failed call cannot be returned where it happens. Every call is checked with the macros below;
 * the first failure is kept in the context as a ch_status + one-line message naming the call,
 * file:line and the library's error string, and the context is then "poisoned": later layer
 * calls do nothing. A caller asks once per step with cuda_ctx_sync (or nn_device_check in
 * models/backend_select.h), exactly as cudaGetLastError works for kernel launches.
 *
 * Current context. The backend entries get no context argument either, so they find theirs
 * through a thread-local "current" pointer set by cuda_ctx_bind — the same model as the CUDA
 * runtime's own current device. One context per thread (per rank); binding is explicit and done
 * once by whoever opens the device (models/backend_select.c). This is the only such state.
 * cuda_ctx_create also makes c->device the creating thread's current CUDA device; another thread
 * that uses the context (a prefetch thread calling cuda_upload_async) calls
 * cudaSetDevice(c->device) first.
 *
 * Pointers. With the CUDA table every tensor argument (including labels, lengths, argmax,
 * dropout masks, workspaces) is a device pointer; dims structs, concat's pointer/channel arrays,
 * optimizer ranges/options and the rng are host memory.
 */
#ifndef CHORUS_CUDA_CTX_H
#define CHORUS_CUDA_CTX_H

#include <stddef.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "common/status.h"

typedef struct cuda_ctx {
    int device;            /* CUDA device ordinal (the N of cuda:N) */
    char name[40];         /* "cuda:N", prefix of error messages */
    cudaStream_t stream;   /* every launch, copy, cuBLAS and cuDNN call of this context */
    cublasHandle_t cublas; /* bound to stream */
    cudnnHandle_t cudnn;   /* bound to stream */
    int tf32;              /* 1: cuBLAS/cuDNN may use TF32 tensor cores; 0 (default): fp32 */
    ch_status st;          /* first failure, CH_OK while healthy (sticky) */
    ch_error err;          /* its message */
    /* scratch owned by the context: device doubles for reductions (loss, grad norm), grown on
     * demand (reserve time, not per step once shapes are fixed), and one pinned host double to
     * read a scalar back */
    double *scratch;
    size_t scratch_n;
    double *host_scalar;
    void *conv_plans;      /* models/conv2d.cu: cuDNN descriptors + algorithms per shape */
    void *cublas_ws;       /* cuBLAS workspace set on the handle, so that cuBLAS never allocates
                            * inside a captured graph */
} cuda_ctx;

/* CUDA graphs for launch-bound steps: everything issued on c->stream between cuda_graph_begin
 * and cuda_graph_end is recorded (not run) into g, and cuda_graph_launch replays it. A replay
 * reuses the recorded pointers and shapes, so it is valid while those stay fixed (same batch
 * shape, same buffers: write new inputs into the same device buffers). Nothing that waits for
 * the stream may run while capturing: not softmax_ce_forward_backward_cuda (it returns the loss),
 * optim_clip_grad_norm_cuda, cuda_upload / cuda_download, or cuda_ctx_sync; size workspaces
 * (which makes the conv plans) before capturing. */
typedef struct {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
} cuda_graph;

/* Opens "cuda" or "cuda:N": selects the device, creates the stream and handles. fp32 maths
 * unless tf32. Errors: CH_ERR_USAGE for a malformed string; CH_ERR_UNSUPPORTED when there is no
 * driver/device ("cuda:0: no CUDA device (cudaGetDeviceCount: ...)") or N is out of range;
 * CH_ERR_INTERNAL when a handle cannot be created. *out is owned by the caller (cuda_ctx_free). */
ch_status cuda_ctx_create(cuda_ctx **out, const char *device, int tf32, ch_error *err);
void cuda_ctx_free(cuda_ctx *c); /* also unbinds it if it is current; NULL is fine */

/* Parses "cuda" (0) or "cuda:N" into *ordinal; CH_ERR_USAGE otherwise. */
ch_status cuda_parse_device(const char *device, int *ordinal, ch_error *err);

/* Thread-local current context for the backend entries (see above). */
void cuda_ctx_bind(cuda_ctx *c);
cuda_ctx *cuda_ctx_current(void);
/* The current context if it is bound and healthy, else NULL (the entries then do nothing).
 * Calling a CUDA entry with no bound context is a programming error: it aborts with a message. */
cuda_ctx *cuda_ctx_begin(const char *entry);

/* Waits for the stream, then returns the sticky status (copying its message into err). */
ch_status cuda_ctx_sync(cuda_ctx *c, ch_error *err);
/* The sticky status without waiting. */
ch_status cuda_ctx_status(const cuda_ctx *c, ch_error *err);

/* Makes c->scratch at least n doubles. */
ch_status cuda_ctx_scratch(cuda_ctx *c, size_t n);

/* Checked calls: on failure record "<name>: <call> failed at <file>:<line>: <error string>" in
 * c (first failure only) and return the status; CH_OK otherwise. */
ch_status cuda_check_rt(cuda_ctx *c, cudaError_t e, const char *call, const char *file, int line);
ch_status cuda_check_cublas(cuda_ctx *c, cublasStatus_t s, const char *call, const char *file,
                            int line);
ch_status cuda_check_cudnn(cuda_ctx *c, cudnnStatus_t s, const char *call, const char *file,
                           int line);
ch_status cuda_check_nccl(cuda_ctx *c, ncclResult_t r, const char *call, const char *file,
                          int line);

#define CUDA_CHECK(c, call) cuda_check_rt((c), (call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(c, call) cuda_check_cublas((c), (call), #call, __FILE__, __LINE__)
#define CUDNN_CHECK(c, call) cuda_check_cudnn((c), (call), #call, __FILE__, __LINE__)
#define NCCL_CHECK(c, call) cuda_check_nccl((c), (call), #call, __FILE__, __LINE__)
/* After every kernel launch: catches bad launch configurations at once (execution errors show
 * at the next sync). */
#define CUDA_CHECK_LAUNCH(c, kernel) \
    cuda_check_rt((c), cudaGetLastError(), "launch of " kernel, __FILE__, __LINE__)

ch_status cuda_graph_begin(cuda_ctx *c);
ch_status cuda_graph_end(cuda_ctx *c, cuda_graph *g); /* g owned by the caller */
ch_status cuda_graph_launch(cuda_ctx *c, const cuda_graph *g);
void cuda_graph_free(cuda_graph *g);

/* Device memory owned by the caller (cuda_free). Failure: CH_ERR_NOMEM in c naming `what`. */
ch_status cuda_alloc(cuda_ctx *c, void **p, size_t bytes, const char *what);
void cuda_free(void *p);
/* Synchronous copies on c's stream (tests, checkpoints; not for the step loop). */
ch_status cuda_upload(cuda_ctx *c, void *dst_dev, const void *src_host, size_t bytes);
ch_status cuda_download(cuda_ctx *c, void *dst_host, const void *src_dev, size_t bytes);
/* For the step loop: pinned (page-locked) host buffers, which a prefetch thread fills while the
 * GPU runs, and an asynchronous upload from one on c's stream (the buffer must not be refilled
 * until the stream has passed the copy: double-buffer, or wait on an event). */
ch_status cuda_host_alloc(cuda_ctx *c, void **p, size_t bytes, const char *what);
void cuda_host_free(void *p);
ch_status cuda_upload_async(cuda_ctx *c, void *dst_dev, const void *src_pinned, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
