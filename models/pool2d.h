/* pool2d.h — 2-d average and max pooling (torch.nn.AvgPool2d / MaxPool2d with no padding,
 * ceil_mode=False), with kernel and stride per axis, e.g. kF=2, kT=1 pools frequency only.
 *
 * Input (N, C, F, T), output (N, C, Fo, To), Fo = (F - kF) / sF + 1, To = (T - kT) / sT + 1.
 * Max pooling saves, per output element, the index (f*T + t) of the chosen input inside its
 * (F, T) plane; ties go to the first in row-major order, as torch does on the CPU.
 */
#ifndef CHORUS_POOL2D_H
#define CHORUS_POOL2D_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int N, C, F, T;
    int kF, kT, sF, sT;
} pool2d_dims;

int pool2d_out_f(const pool2d_dims *d);
int pool2d_out_t(const pool2d_dims *d);
size_t pool2d_out_floats(const pool2d_dims *d);

/* out: (N, C, Fo, To) written; in: (N, C, F, T). */
void avgpool2d_forward(float *out, const float *in, const pool2d_dims *d);
/* din: (N, C, F, T) WRITTEN; dout: (N, C, Fo, To). */
void avgpool2d_backward(float *din, const float *dout, const pool2d_dims *d);

/* out: (N, C, Fo, To) written; argmax: (N, C, Fo, To) written (saved for backward). */
void maxpool2d_forward(float *out, int32_t *argmax, const float *in, const pool2d_dims *d);
/* din: (N, C, F, T) WRITTEN (zero except at the argmax positions, where overlapping windows add). */
void maxpool2d_backward(float *din, const float *dout, const int32_t *argmax,
                        const pool2d_dims *d);

#endif
