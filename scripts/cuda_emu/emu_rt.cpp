/* emu_rt.cpp — host stand-ins for the CUDA runtime / cuBLAS calls and the cuda_ctx functions the
 * emulated kernels and tests/test_cuda_backend.c use (scripts/cuda_emu_check.sh). "Device"
 * memory is host memory. cuBLAS column-major calls map onto CBLAS column-major ones; the leading
 * dimensions are checked (cuBLAS would reject them) and C is not read when beta == 0, as in
 * cuBLAS (outputs arrive NaN-poisoned). Any failure aborts with a message. */
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <functional>
#include <thread>
#include <vector>

#include "models/cuda_ctx.h"
extern "C" {
#include "models/backend_select.h"
}

struct emu_dim {
    unsigned x, y, z;
};
thread_local emu_dim blockIdx, threadIdx;
emu_dim blockDim, gridDim;
static pthread_barrier_t emu_bar;

void emu_sync(void) { pthread_barrier_wait(&emu_bar); }

void emu_run(unsigned grid, unsigned block, const std::function<void()> &f)
{
    gridDim.x = grid;
    blockDim.x = block;
    for (unsigned b = 0; b < grid; b++) {
        pthread_barrier_init(&emu_bar, NULL, block);
        std::vector<std::thread> th;
        for (unsigned t = 0; t < block; t++)
            th.emplace_back([&f, b, t] {
                blockIdx.x = b;
                threadIdx.x = t;
                f();
            });
        for (auto &x : th)
            x.join();
        pthread_barrier_destroy(&emu_bar);
    }
}

static cuda_ctx emu_ctx;

static void emu_die(const char *what, const char *file, int line)
{
    fprintf(stderr, "cuda_emu: %s failed at %s:%d\n", what, file, line);
    abort();
}

extern "C" cuda_ctx *cuda_ctx_begin(const char *entry)
{
    (void)entry;
    return &emu_ctx;
}
extern "C" ch_status cuda_check_rt(cuda_ctx *c, cudaError_t e, const char *call, const char *file,
                                   int line)
{
    (void)c;
    if (e != cudaSuccess)
        emu_die(call, file, line);
    return CH_OK;
}
extern "C" ch_status cuda_check_cublas(cuda_ctx *c, cublasStatus_t s, const char *call,
                                       const char *file, int line)
{
    (void)c;
    if (s != CUBLAS_STATUS_SUCCESS)
        emu_die(call, file, line);
    return CH_OK;
}
extern "C" ch_status cuda_ctx_scratch(cuda_ctx *c, size_t n)
{
    if (c->scratch_n < n) {
        free(c->scratch);
        c->scratch = (double *)calloc(n, sizeof(double));
        c->scratch_n = n;
    }
    if (!c->host_scalar)
        c->host_scalar = (double *)calloc(1, sizeof(double));
    if (!c->scratch || !c->host_scalar)
        emu_die("cuda_ctx_scratch", __FILE__, __LINE__);
    return CH_OK;
}

cudaError_t cudaGetLastError(void) { return cudaSuccess; }
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    (void)kind, (void)stream;
    memmove(dst, src, count);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t count, cudaStream_t stream)
{
    (void)stream;
    memset(p, v, count);
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    (void)s;
    return cudaSuccess;
}

static CBLAS_TRANSPOSE tr(cublasOperation_t o) { return o == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; }

static void check_ld(const char *what, int ld, int rows)
{
    if (ld < (rows > 1 ? rows : 1)) {
        fprintf(stderr, "cuda_emu: %s: leading dimension %d < %d\n", what, ld, rows);
        abort();
    }
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *A, int lda,
                           const float *B, int ldb, const float *beta, float *C, int ldc)
{
    (void)h;
    if (m < 0 || n < 0 || k < 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    check_ld("sgemm A", lda, ta == CUBLAS_OP_N ? m : k);
    check_ld("sgemm B", ldb, tb == CUBLAS_OP_N ? k : n);
    check_ld("sgemm C", ldc, m);
    if (*beta == 0.0f)
        for (int j = 0; j < n; j++)
            memset(C + (size_t)j * ldc, 0, sizeof(float) * (size_t)m);
    cblas_sgemm(CblasColMajor, tr(ta), tr(tb), m, n, k, *alpha, A, lda, B, ldb, *beta, C, ldc);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemv(cublasHandle_t h, cublasOperation_t t, int m, int n,
                           const float *alpha, const float *A, int lda, const float *x, int incx,
                           const float *beta, float *y, int incy)
{
    (void)h;
    check_ld("sgemv A", lda, m);
    if (*beta == 0.0f)
        for (int i = 0; i < (t == CUBLAS_OP_N ? m : n); i++)
            y[(size_t)i * incy] = 0.0f;
    cblas_sgemv(CblasColMajor, tr(t), m, n, *alpha, A, lda, x, incx, *beta, y, incy);
    return CUBLAS_STATUS_SUCCESS;
}

/* what tests/test_cuda_backend.c's helpers call */
extern "C" ch_status cuda_alloc(cuda_ctx *c, void **p, size_t bytes, const char *what)
{
    (void)c;
    *p = malloc(bytes ? bytes : 1);
    if (!*p)
        emu_die(what, __FILE__, __LINE__);
    return CH_OK;
}
extern "C" void cuda_free(void *p) { free(p); }
extern "C" ch_status cuda_upload(cuda_ctx *c, void *dst, const void *src, size_t bytes)
{
    (void)c;
    memcpy(dst, src, bytes);
    return CH_OK;
}
extern "C" ch_status cuda_download(cuda_ctx *c, void *dst, const void *src, size_t bytes)
{
    (void)c;
    memcpy(dst, src, bytes);
    return CH_OK;
}
extern "C" ch_status nn_device_check(nn_ctx *ctx, ch_error *err)
{
    (void)ctx, (void)err;
    return CH_OK;
}
extern "C" void *emu_ctx_init(void) { return &emu_ctx; }
