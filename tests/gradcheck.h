/* gradcheck.h — finite-difference gradient checking for the layer tests (header-only).
 *
 * The test supplies a closure that runs the forward pass and returns the scalar loss
 * L = sum(out * R) with R fixed random weights, accumulated in double (gc_dot helps). Then for
 * every element v[i] of an input or parameter the central difference
 *   n_i = (L(v_i + eps) - L(v_i - eps)) / (2 eps),  eps = 1e-2,
 * is compared with the analytic gradient a_i (backward with dout = R):
 *   rel_i = |a_i - n_i| / max(1e-3, |a_i| + |n_i|)  <= 2e-2 for every element.
 * Tolerance: the forward runs in float32, so the loss has ~1e-7 relative rounding, amplified by
 * 1/eps to ~1e-5 .. 1e-4 absolute in n_i, plus eps^2 * f''' / 6 ~ 1e-5 truncation for smooth
 * layers: 2e-2 relative (with the 1e-3 floor for near-zero gradients) leaves a wide margin while a
 * wrong index or a missing term gives rel ~ 1. Kinks (ReLU at 0, max-pool ties) make the
 * difference meaningless: tests draw inputs away from them by construction.
 */
#ifndef CHORUS_GRADCHECK_H
#define CHORUS_GRADCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

#define GC_EPS 1e-2f
#define GC_TOL 2e-2

/* The forward pass as a closure: recompute outputs from the current inputs/parameters and return
 * L = sum(out * R) in double. */
typedef double (*gc_loss_fn)(void *ctx);

/* sum(a * r) over n floats, in double. */
static inline double gc_dot(const float *a, const float *r, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * (double)r[i];
    return s;
}

/* The central difference (L(v + eps) - L(v - eps)) / (2 eps) of f at *v; *v is restored
 * exactly. */
static inline double gc_central(float *v, float eps, gc_loss_fn f, void *ctx)
{
    float keep = *v;
    *v = keep + eps;
    double lp = f(ctx);
    *v = keep - eps;
    double lm = f(ctx);
    *v = keep;
    return (lp - lm) / (2.0 * (double)eps);
}

/* Checks analytic[0..n) against central differences of f over v[0..n) (v is perturbed and
 * restored exactly). Prints one line "gradcheck <what>: n=.. worst rel err .." and returns the
 * worst relative error; the caller asserts it is <= GC_TOL (gc_ok). */
static inline double gc_check(const char *what, float *v, const float *analytic, size_t n,
                              gc_loss_fn f, void *ctx)
{
    double worst = 0.0, wa = 0.0, wn = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double num = gc_central(&v[i], GC_EPS, f, ctx);
        double a = analytic[i];
        double rel = fabs(a - num) / fmax(1e-3, fabs(a) + fabs(num));
        if (!(rel <= worst)) {
            worst = isnan(rel) ? INFINITY : rel;
            wi = i;
            wa = a;
            wn = num;
        }
    }
    f(ctx); /* leave the outputs consistent with the restored inputs */
    printf("gradcheck %s: n=%zu worst rel err %.3g (element %zu: analytic %.6g numeric %.6g)\n",
           what, n, worst, wi, wa, wn);
    return worst;
}

/* 1 when a worst relative error from gc_check is within tolerance. */
static inline int gc_ok(double worst) { return worst <= GC_TOL; }

#endif
