/* cuda_ctx_cuda.c — CUDA context creation, checked-call helpers, current-context binding and
 * device memory helpers (see cuda_ctx.h). Built only with CUDA. */
#include "models/cuda_ctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/backend_cuda.h"

#define CUBLAS_WS_BYTES ((size_t)32 << 20)

/* The one piece of thread-local state: see cuda_ctx.h ("Current context"). */
static _Thread_local cuda_ctx *current_ctx;

void cuda_ctx_bind(cuda_ctx *c) { current_ctx = c; }

cuda_ctx *cuda_ctx_current(void) { return current_ctx; }

cuda_ctx *cuda_ctx_begin(const char *entry)
{
    cuda_ctx *c = current_ctx;
    if (!c) {
        /* a caller bug, not a user error: no context means nowhere to record the failure */
        fprintf(stderr, "%s: CUDA backend entry called with no bound cuda_ctx (cuda_ctx_bind)\n",
                entry);
        abort();
    }
    return c->st == CH_OK ? c : NULL;
}

static ch_status record(cuda_ctx *c, ch_status st, const char *call, const char *file, int line,
                        const char *what)
{
    if (c && c->st == CH_OK) {
        c->st = st;
        ch_fail(&c->err, st, "%s: %s failed at %s:%d: %s", c->name, call, file, line, what);
    }
    return st;
}

ch_status cuda_check_rt(cuda_ctx *c, cudaError_t e, const char *call, const char *file, int line)
{
    if (e == cudaSuccess)
        return CH_OK;
    char what[256];
    snprintf(what, sizeof what, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    return record(c, e == cudaErrorMemoryAllocation ? CH_ERR_NOMEM : CH_ERR_INTERNAL, call, file,
                  line, what);
}

ch_status cuda_check_cublas(cuda_ctx *c, cublasStatus_t s, const char *call, const char *file,
                            int line)
{
    if (s == CUBLAS_STATUS_SUCCESS)
        return CH_OK;
    char what[256];
    snprintf(what, sizeof what, "%s (%s)", cublasGetStatusString(s), cublasGetStatusName(s));
    return record(c, s == CUBLAS_STATUS_ALLOC_FAILED ? CH_ERR_NOMEM : CH_ERR_INTERNAL, call, file,
                  line, what);
}

ch_status cuda_check_cudnn(cuda_ctx *c, cudnnStatus_t s, const char *call, const char *file,
                           int line)
{
    if (s == CUDNN_STATUS_SUCCESS)
        return CH_OK;
    char what[512];
    char detail[256] = "";
    cudnnGetLastErrorString(detail, sizeof detail);
    snprintf(what, sizeof what, "%s%s%s", cudnnGetErrorString(s), detail[0] ? ": " : "", detail);
    return record(c, s == CUDNN_STATUS_ALLOC_FAILED ? CH_ERR_NOMEM : CH_ERR_INTERNAL, call, file,
                  line, what);
}

ch_status cuda_check_nccl(cuda_ctx *c, ncclResult_t r, const char *call, const char *file,
                          int line)
{
    if (r == ncclSuccess)
        return CH_OK;
    return record(c, CH_ERR_INTERNAL, call, file, line, ncclGetErrorString(r));
}

ch_status cuda_parse_device(const char *device, int *ordinal, ch_error *err)
{
    if (strcmp(device, "cuda") == 0) {
        *ordinal = 0;
        return CH_OK;
    }
    if (strncmp(device, "cuda:", 5) == 0 && device[5] >= '0' && device[5] <= '9') {
        char *end;
        long v = strtol(device + 5, &end, 10);
        if (*end == '\0' && v >= 0 && v < 1024) {
            *ordinal = (int)v;
            return CH_OK;
        }
    }
    return ch_fail(err, CH_ERR_USAGE, "--device: '%s' is not cpu or cuda[:N]", device);
}

ch_status cuda_ctx_create(cuda_ctx **out, const char *device, int tf32, ch_error *err)
{
    *out = NULL;
    int ordinal;
    CH_TRY(cuda_parse_device(device, &ordinal, err));
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
        return ch_fail(err, CH_ERR_UNSUPPORTED, "cuda:%d: no CUDA device (cudaGetDeviceCount: %s)",
                       ordinal, e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    if (ordinal >= count)
        return ch_fail(err, CH_ERR_UNSUPPORTED, "cuda:%d: no such device (this machine has %d)",
                       ordinal, count);
    cuda_ctx *c = ch_calloc(err, 1, sizeof *c, "cuda context");
    if (!c)
        return CH_ERR_NOMEM;
    c->device = ordinal;
    c->tf32 = tf32 != 0;
    snprintf(c->name, sizeof c->name, "cuda:%d", ordinal);
    ch_status st = CUDA_CHECK(c, cudaSetDevice(ordinal));
    if (st == CH_OK)
        st = CUDA_CHECK(c, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    if (st == CH_OK)
        st = CUBLAS_CHECK(c, cublasCreate(&c->cublas));
    if (st == CH_OK)
        st = CUBLAS_CHECK(c, cublasSetStream(c->cublas, c->stream));
    /* fp32 by default: cuBLAS's default math is already pure fp32 (unless NVIDIA_TF32_OVERRIDE
     * says otherwise); TF32 only when asked. cuDNN's per-convolution math type is set in
     * conv2d.cu from c->tf32. */
    if (st == CH_OK)
        st = CUBLAS_CHECK(c, cublasSetMathMode(c->cublas, c->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                  : CUBLAS_DEFAULT_MATH));
    /* 32 MiB: what cuBLAS recommends for Hopper; the handle then never allocates on its own */
    if (st == CH_OK)
        st = cuda_alloc(c, &c->cublas_ws, CUBLAS_WS_BYTES, "cuBLAS workspace");
    if (st == CH_OK)
        st = CUBLAS_CHECK(c, cublasSetWorkspace(c->cublas, c->cublas_ws, CUBLAS_WS_BYTES));
    if (st == CH_OK)
        st = CUDNN_CHECK(c, cudnnCreate(&c->cudnn));
    if (st == CH_OK)
        st = CUDNN_CHECK(c, cudnnSetStream(c->cudnn, c->stream));
    if (st == CH_OK)
        st = CUDA_CHECK(c, cudaMallocHost((void **)&c->host_scalar, sizeof(double)));
    if (st != CH_OK) {
        ch_fail(err, st, "%s", c->err.msg);
        cuda_ctx_free(c);
        return st;
    }
    *out = c;
    return CH_OK;
}

void cuda_ctx_free(cuda_ctx *c)
{
    if (!c)
        return;
    if (current_ctx == c)
        current_ctx = NULL;
    if (c->stream)
        cudaStreamSynchronize(c->stream); /* teardown: an error here has nowhere to go */
    conv2d_cuda_plans_free(c);
    cudaFree(c->scratch);
    cudaFree(c->cublas_ws);
    cudaFreeHost(c->host_scalar);
    if (c->cudnn)
        cudnnDestroy(c->cudnn);
    if (c->cublas)
        cublasDestroy(c->cublas);
    if (c->stream)
        cudaStreamDestroy(c->stream);
    free(c);
}

ch_status cuda_ctx_status(const cuda_ctx *c, ch_error *err)
{
    if (c->st != CH_OK)
        ch_fail(err, c->st, "%s", c->err.msg);
    return c->st;
}

ch_status cuda_ctx_sync(cuda_ctx *c, ch_error *err)
{
    CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    return cuda_ctx_status(c, err);
}

ch_status cuda_ctx_scratch(cuda_ctx *c, size_t n)
{
    if (n <= c->scratch_n)
        return CH_OK;
    /* the old contents are dead: scratch never carries values across calls */
    CH_TRY(CUDA_CHECK(c, cudaStreamSynchronize(c->stream)));
    cudaFree(c->scratch);
    c->scratch = NULL;
    c->scratch_n = 0;
    CH_TRY(cuda_alloc(c, (void **)&c->scratch, n * sizeof(double), "reduction scratch"));
    c->scratch_n = n;
    return CH_OK;
}

ch_status cuda_alloc(cuda_ctx *c, void **p, size_t bytes, const char *what)
{
    *p = NULL;
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e == cudaSuccess)
        return CH_OK;
    *p = NULL;
    char call[160];
    snprintf(call, sizeof call, "cudaMalloc of %zu bytes for %s", bytes, what);
    return cuda_check_rt(c, e, call, __FILE__, __LINE__);
}

void cuda_free(void *p) { cudaFree(p); }

ch_status cuda_upload(cuda_ctx *c, void *dst_dev, const void *src_host, size_t bytes)
{
    CH_TRY(CUDA_CHECK(c, cudaMemcpyAsync(dst_dev, src_host, bytes, cudaMemcpyHostToDevice,
                                         c->stream)));
    return CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
}

ch_status cuda_download(cuda_ctx *c, void *dst_host, const void *src_dev, size_t bytes)
{
    CH_TRY(CUDA_CHECK(c, cudaMemcpyAsync(dst_host, src_dev, bytes, cudaMemcpyDeviceToHost,
                                         c->stream)));
    return CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
}

ch_status cuda_graph_begin(cuda_ctx *c)
{
    CH_TRY(c->st);
    /* thread-local mode: other threads' CUDA calls stay legal while this one captures */
    return CUDA_CHECK(c, cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
}

ch_status cuda_graph_end(cuda_ctx *c, cuda_graph *g)
{
    g->graph = NULL;
    g->exec = NULL;
    /* end the capture even when a captured call failed, so the stream is usable again */
    ch_status st = CUDA_CHECK(c, cudaStreamEndCapture(c->stream, &g->graph));
    if (c->st != CH_OK) {
        cuda_graph_free(g);
        return c->st;
    }
    if (st == CH_OK)
        st = CUDA_CHECK(c, cudaGraphInstantiate(&g->exec, g->graph, 0));
    if (st != CH_OK)
        cuda_graph_free(g);
    return st;
}

ch_status cuda_graph_launch(cuda_ctx *c, const cuda_graph *g)
{
    CH_TRY(c->st);
    return CUDA_CHECK(c, cudaGraphLaunch(g->exec, c->stream));
}

void cuda_graph_free(cuda_graph *g)
{
    if (g->exec)
        cudaGraphExecDestroy(g->exec);
    if (g->graph)
        cudaGraphDestroy(g->graph);
    g->exec = NULL;
    g->graph = NULL;
}

ch_status cuda_host_alloc(cuda_ctx *c, void **p, size_t bytes, const char *what)
{
    *p = NULL;
    cudaError_t e = cudaMallocHost(p, bytes ? bytes : 1);
    if (e == cudaSuccess)
        return CH_OK;
    *p = NULL;
    char call[160];
    snprintf(call, sizeof call, "cudaMallocHost of %zu bytes for %s", bytes, what);
    return cuda_check_rt(c, e, call, __FILE__, __LINE__);
}

void cuda_host_free(void *p) { cudaFreeHost(p); }

ch_status cuda_upload_async(cuda_ctx *c, void *dst_dev, const void *src_pinned, size_t bytes)
{
    CH_TRY(c->st);
    return CUDA_CHECK(c, cudaMemcpyAsync(dst_dev, src_pinned, bytes, cudaMemcpyHostToDevice,
                                         c->stream));
}
