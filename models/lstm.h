/* lstm.h — one LSTM layer (unidirectional or bidirectional), forward and backward through time.
 *
 * Layout: batch-first, like torch.nn.LSTM(batch_first=True). Input x: (N, T, I), I = dims.In;
 * output y: (N, T, D*H) with D = 2 if bidirectional (forward direction in y[..., 0:H], reverse in
 * y[..., H:2H], as torch concatenates them). Gate order i, f, g, o as torch.
 *
 * Variable lengths behave exactly like torch.nn.utils.rnn.pack_padded_sequence: sequence n has
 * lengths[n] valid frames (0 <= lengths[n] <= T, any order); steps t >= lengths[n] produce zero
 * output and do not touch the state; the reverse direction starts at frame lengths[n]-1. Initial
 * states h0 = c0 = 0.
 *
 * Parameters, one flat block per layer (lstm_param_floats), per direction d = 0 .. D-1 in order:
 *   w_ih (4H, I), w_hh (4H, H), b_ih (4H), b_hh (4H)
 * i.e. torch's weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0 then the *_reverse ones.
 *
 * Saved for backward (forward outputs): gates (D, N, T, 4H) = activated gates (sigmoid i, f, o,
 * tanh g) and cells (D, N, T, H) = c_t. Padded positions of both are left unspecified.
 *
 * No allocation inside, no hidden state. Workspace size from lstm_workspace_floats. OpenMP over
 * the batch for the element-wise step work; BLAS for every GEMM; results are deterministic for a
 * given thread count (no float reductions whose order depends on scheduling).
 */
#ifndef CHORUS_LSTM_H
#define CHORUS_LSTM_H

#include <stddef.h>

typedef struct {
    int N;             /* batch */
    int T;             /* padded time steps */
    int In;            /* input features (not "I": complex.h, pulled in by cblas.h, defines I) */
    int H;             /* hidden size per direction */
    int bidirectional; /* 0 or 1 */
} lstm_dims;

/* Number of directions D (1 or 2). */
int lstm_directions(const lstm_dims *d);
/* Floats in one layer's flat parameter block (see layout above). */
size_t lstm_param_floats(const lstm_dims *d);
/* Floats of the saved gates (D*N*T*4H) and cells (D*N*T*H). */
size_t lstm_gates_floats(const lstm_dims *d);
size_t lstm_cells_floats(const lstm_dims *d);
/* Workspace floats needed by lstm_forward and lstm_backward (the larger of the two). */
size_t lstm_workspace_floats(const lstm_dims *d);

/* y: (N, T, D*H) written; gates: (D, N, T, 4H), cells: (D, N, T, H) written (saved for
 * backward); hn, cn: (D, N, H) final states (torch's h_n, c_n: forward direction at its last
 * valid frame, reverse direction at frame 0), written when not NULL.
 * x: (N, T, I); lengths: (N) valid frames; w: flat parameters. */
void lstm_forward(float *y, float *hn, float *cn, float *gates, float *cells, const float *x,
                  const int *lengths, const float *w, const lstm_dims *d, float *ws);

/* dx: (N, T, I) WRITTEN (=), zero at padded steps; may be NULL. dw: flat parameter gradient
 * (same layout as w), ACCUMULATED (+=). dh0, dc0: (D, N, H) gradients w.r.t. the (zero)
 * initial states, written when not NULL. dy: (N, T, D*H) upstream gradient (padded steps
 * ignored); dhn, dcn: (D, N, H) upstream gradients of the final states, or NULL for zero.
 * y, gates, cells: what lstm_forward saved; x, lengths, w: its inputs. */
void lstm_backward(float *dx, float *dw, float *dh0, float *dc0, const float *dy,
                   const float *dhn, const float *dcn, const float *y, const float *gates,
                   const float *cells, const float *x, const int *lengths, const float *w,
                   const lstm_dims *d, float *ws);

#endif
