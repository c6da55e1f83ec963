/* linear.h — fully connected layer (torch.nn.Linear): out = in W^T + b.
 * Input (N, In), weight (Out, In), bias (Out) or NULL, output (N, Out). One cblas_sgemm per call
 * (forward) and two (backward); no workspace. */
#ifndef CHORUS_LINEAR_H
#define CHORUS_LINEAR_H

typedef struct {
    int N, In, Out;
} linear_dims;

/* out: (N, Out) written; in: (N, In); w: (Out, In); b: (Out) or NULL. */
void linear_forward(float *out, const float *in, const float *w, const float *b,
                    const linear_dims *d);

/* din: (N, In) WRITTEN or NULL; dw: (Out, In) and db: (Out) (or NULL) ACCUMULATED;
 * dout: (N, Out); in, w as in the forward. */
void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, const linear_dims *d);

#endif
