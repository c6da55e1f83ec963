/* pool2d.cu — average and max pooling on the device (see pool2d.h), bit-identical to pool2d.c:
 * the forwards scan each window in the CPU's row-major order (max: strict >, so ties keep the
 * first, and the same argmax index f*T + t); the backwards are gathers, one thread per input
 * element summing the windows that contain it in ascending (fo, to) order, which is the order
 * in which the CPU's scatter adds into that element — no atomics, deterministic. */
#include "models/cuda_util.cuh"

struct pool_shape {
    int F, T, kF, kT, sF, sT, Fo, To;
};

static pool_shape shape_of(const pool2d_dims *d)
{
    pool_shape s = {d->F, d->T, d->kF, d->kT, d->sF, d->sT, pool2d_out_f(d), pool2d_out_t(d)};
    return s;
}

static __global__ void avg_fwd_k(float *out, const float *in, size_t total, pool_shape s)
{
    const float inv = 1.0f / (float)(s.kF * s.kT);
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        const size_t p = o / ((size_t)s.Fo * s.To);
        const int r = (int)(o % ((size_t)s.Fo * s.To)), fo = r / s.To, to = r % s.To;
        const float *x = in + p * s.F * s.T;
        float acc = 0.0f;
        for (int i = 0; i < s.kF; i++)
            for (int j = 0; j < s.kT; j++)
                acc += x[(size_t)(fo * s.sF + i) * s.T + to * s.sT + j];
        out[o] = acc * inv;
    }
}

static __global__ void max_fwd_k(float *out, int32_t *argmax, const float *in, size_t total,
                                 pool_shape s)
{
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        const size_t p = o / ((size_t)s.Fo * s.To);
        const int r = (int)(o % ((size_t)s.Fo * s.To)), fo = r / s.To, to = r % s.To;
        const float *x = in + p * s.F * s.T;
        int32_t best = (fo * s.sF) * s.T + to * s.sT;
        for (int i = 0; i < s.kF; i++)
            for (int j = 0; j < s.kT; j++) {
                int32_t k = (fo * s.sF + i) * s.T + to * s.sT + j;
                if (x[k] > x[best])
                    best = k;
            }
        out[o] = x[best];
        argmax[o] = best;
    }
}

/* windows along one axis that contain position f: fo in [lo, hi] */
static __device__ inline void windows(int f, int k, int st, int n_out, int *lo, int *hi)
{
    int a = f - k + 1;
    *lo = a <= 0 ? 0 : (a + st - 1) / st;
    int h = f / st;
    *hi = h < n_out - 1 ? h : n_out - 1;
}

/* max = 0: average; max = 1: max with argmax */
static __global__ void pool_bwd_k(float *din, const float *dout, const int32_t *argmax,
                                  size_t total, pool_shape s, int max)
{
    const float inv = 1.0f / (float)(s.kF * s.kT);
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t p = i / ((size_t)s.F * s.T);
        const int r = (int)(i % ((size_t)s.F * s.T)), f = r / s.T, t = r % s.T;
        const size_t base = p * s.Fo * s.To;
        int f0, f1, t0, t1;
        windows(f, s.kF, s.sF, s.Fo, &f0, &f1);
        windows(t, s.kT, s.sT, s.To, &t0, &t1);
        float acc = 0.0f;
        for (int fo = f0; fo <= f1; fo++)
            for (int to = t0; to <= t1; to++) {
                size_t o = base + (size_t)fo * s.To + to;
                if (!max)
                    acc += __fmul_rn(dout[o], inv); /* no FMA: the CPU rounds the product */
                else if (argmax[o] == r)
                    acc += dout[o];
            }
        din[i] = acc;
    }
}

extern "C" void avgpool2d_forward_cuda(float *out, const float *in, const pool2d_dims *d)
{
    CU_ENTRY(c);
    size_t total = pool2d_out_floats(d);
    if (total == 0)
        return;
    avg_fwd_k<<<cu_blocks(total), CU_BLOCK, 0, c->stream>>>(out, in, total, shape_of(d));
    CUDA_CHECK_LAUNCH(c, "avg_fwd_k");
}

extern "C" void avgpool2d_backward_cuda(float *din, const float *dout, const pool2d_dims *d)
{
    CU_ENTRY(c);
    size_t total = (size_t)d->N * d->C * d->F * d->T;
    if (total == 0)
        return;
    pool_bwd_k<<<cu_blocks(total), CU_BLOCK, 0, c->stream>>>(din, dout, NULL, total,
                                                             shape_of(d), 0);
    CUDA_CHECK_LAUNCH(c, "pool_bwd_k (avg)");
}

extern "C" void maxpool2d_forward_cuda(float *out, int32_t *argmax, const float *in,
                                       const pool2d_dims *d)
{
    CU_ENTRY(c);
    size_t total = pool2d_out_floats(d);
    if (total == 0)
        return;
    max_fwd_k<<<cu_blocks(total), CU_BLOCK, 0, c->stream>>>(out, argmax, in, total, shape_of(d));
    CUDA_CHECK_LAUNCH(c, "max_fwd_k");
}

extern "C" void maxpool2d_backward_cuda(float *din, const float *dout, const int32_t *argmax,
                                        const pool2d_dims *d)
{
    CU_ENTRY(c);
    size_t total = (size_t)d->N * d->C * d->F * d->T;
    if (total == 0)
        return;
    pool_bwd_k<<<cu_blocks(total), CU_BLOCK, 0, c->stream>>>(din, dout, argmax, total,
                                                             shape_of(d), 1);
    CUDA_CHECK_LAUNCH(c, "pool_bwd_k (max)");
}
