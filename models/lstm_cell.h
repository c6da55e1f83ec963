/* lstm_cell.h — the LSTM cell's element-wise step (PyTorch's gate order i, f, g, o), shared by
 * the layer (models/lstm.c) and the DenseNet-BiLSTM's streaming head (models/kws_densenet.c), so
 * both compute the same floats.
 *
 * Why vectorised here: the step is five exponentials per unit; as scalar expf calls (the loop
 * cannot vectorise through a libm call) they were the largest cost of the BiLSTM after its
 * GEMMs. lstm_expf8 is Cephes' expf (range reduction by ln 2 in two parts, degree-6
 * polynomial, 2^n through the exponent bits) on 8 lanes with GCC vector extensions: within
 * 8e-8 relative (under 1 ulp) of exp over the clamped range [-87.3, 88.3], as
 * tests/test_lstm.c measures; inputs beyond it are clamped (sigmoid and tanh saturate long
 * before).
 * sigmoid(x) = 1 / (1 + e^-x); tanh(x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|), no
 * cancellation for large |x| (the form the layer used with scalar expf).
 */
#ifndef CHORUS_LSTM_CELL_H
#define CHORUS_LSTM_CELL_H

#include <string.h>

typedef float lstm_v8f __attribute__((vector_size(32)));
typedef int lstm_v8i __attribute__((vector_size(32)));

static inline lstm_v8f lstm_ld8(const float *p)
{
    lstm_v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void lstm_st8(float *p, lstm_v8f v) { memcpy(p, &v, sizeof v); }

/* where m: a, else b (m: all-ones / all-zeros lanes from a vector comparison) */
static inline lstm_v8f lstm_sel8(lstm_v8i m, lstm_v8f a, lstm_v8f b)
{
    return (lstm_v8f)(((lstm_v8i)a & m) | ((lstm_v8i)b & ~m));
}

static inline lstm_v8f lstm_expf8(lstm_v8f x)
{
    /* n stays in [-126, 127]: 2^n is a normal float */
    const lstm_v8f hi = {88.3f, 88.3f, 88.3f, 88.3f, 88.3f, 88.3f, 88.3f, 88.3f};
    const lstm_v8f lo = -(lstm_v8f){87.3f, 87.3f, 87.3f, 87.3f, 87.3f, 87.3f, 87.3f, 87.3f};
    x = lstm_sel8(x > hi, hi, x);
    x = lstm_sel8(x < lo, lo, x);
    /* n = round(x / ln 2) as floor(x log2(e) + 0.5) */
    lstm_v8f fx = x * 1.44269504088896341f + 0.5f;
    lstm_v8i n = __builtin_convertvector(fx, lstm_v8i); /* truncates towards zero */
    lstm_v8f fn = __builtin_convertvector(n, lstm_v8f);
    lstm_v8i gt = fn > fx; /* truncation went up (negative fx): one less */
    n += gt;               /* gt lanes are -1 */
    fn = __builtin_convertvector(n, lstm_v8f);
    /* r = x - n ln 2, ln 2 = 0.693359375 - 2.12194440e-4 (the first part exact in n) */
    lstm_v8f r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    lstm_v8f r2 = r * r;
    lstm_v8f y = r * 1.9875691500e-4f + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r2 + r + 1.0f;
    /* * 2^n: n + 127 in the exponent field */
    lstm_v8i e = (n + 127) << 23;
    return y * (lstm_v8f)e;
}

static inline lstm_v8f lstm_sigmoid8(lstm_v8f x) { return 1.0f / (1.0f + lstm_expf8(-x)); }

static inline lstm_v8f lstm_tanh8(lstm_v8f x)
{
    const lstm_v8i sign = {(int)0x80000000, (int)0x80000000, (int)0x80000000, (int)0x80000000,
                           (int)0x80000000, (int)0x80000000, (int)0x80000000, (int)0x80000000};
    lstm_v8i s = (lstm_v8i)x & sign;
    lstm_v8f ax = (lstm_v8f)((lstm_v8i)x & ~sign);
    lstm_v8f t = lstm_expf8(-2.0f * ax);
    return (lstm_v8f)((lstm_v8i)((1.0f - t) / (1.0f + t)) | s);
}

/* Scalar forms (through the same vector code, lane 0), for the layer's backward and tails. */
static inline float lstm_sigmoidf(float x)
{
    lstm_v8f v = {x, 0, 0, 0, 0, 0, 0, 0};
    return lstm_sigmoid8(v)[0];
}

static inline float lstm_tanhf(float x)
{
    lstm_v8f v = {x, 0, 0, 0, 0, 0, 0, 0};
    return lstm_tanh8(v)[0];
}

/* out[k] = tanh(x[k]), k < H (the layer's backward recomputes tanh of the cells). */
static inline void lstm_tanh_row(const float *x, float *out, int H)
{
    int k = 0;
    for (; k + 8 <= H; k += 8)
        lstm_st8(out + k, lstm_tanh8(lstm_ld8(x + k)));
    for (; k < H; k++)
        out[k] = lstm_tanhf(x[k]);
}

/* One step of H units. a: the gate pre-activations without the recurrent term (4H: i, f, g,
 * o), r: the recurrent term h_prev W_hh^T (4H); c: the cell (H) updated in place; h: the new
 * hidden state (H) written; y: a second copy of h (may be NULL); acts: the gate activations
 * (4H) written for backward (may be NULL, may equal a); cells: a copy of the new cell (may be
 * NULL). Lanes are independent, so the 8-wide body and the scalar tail give the same floats
 * for a unit wherever it falls. */
static inline void lstm_cell_step(const float *a, const float *r, float *c, float *h, float *y,
                                  float *acts, float *cells, int H)
{
    int k = 0;
    for (; k + 8 <= H; k += 8) {
        lstm_v8f gi = lstm_sigmoid8(lstm_ld8(a + k) + lstm_ld8(r + k));
        lstm_v8f gf = lstm_sigmoid8(lstm_ld8(a + H + k) + lstm_ld8(r + H + k));
        lstm_v8f gg = lstm_tanh8(lstm_ld8(a + 2 * H + k) + lstm_ld8(r + 2 * H + k));
        lstm_v8f go = lstm_sigmoid8(lstm_ld8(a + 3 * H + k) + lstm_ld8(r + 3 * H + k));
        lstm_v8f cv = gf * lstm_ld8(c + k) + gi * gg;
        lstm_v8f hv = go * lstm_tanh8(cv);
        if (acts) {
            lstm_st8(acts + k, gi);
            lstm_st8(acts + H + k, gf);
            lstm_st8(acts + 2 * H + k, gg);
            lstm_st8(acts + 3 * H + k, go);
        }
        lstm_st8(c + k, cv);
        lstm_st8(h + k, hv);
        if (y)
            lstm_st8(y + k, hv);
        if (cells)
            lstm_st8(cells + k, cv);
    }
    for (; k < H; k++) {
        float gi = lstm_sigmoidf(a[k] + r[k]);
        float gf = lstm_sigmoidf(a[H + k] + r[H + k]);
        float gg = lstm_tanhf(a[2 * H + k] + r[2 * H + k]);
        float go = lstm_sigmoidf(a[3 * H + k] + r[3 * H + k]);
        float cv = gf * c[k] + gi * gg;
        float hv = go * lstm_tanhf(cv);
        if (acts) {
            acts[k] = gi;
            acts[H + k] = gf;
            acts[2 * H + k] = gg;
            acts[3 * H + k] = go;
        }
        c[k] = cv;
        h[k] = hv;
        if (y)
            y[k] = hv;
        if (cells)
            cells[k] = cv;
    }
}

#endif
