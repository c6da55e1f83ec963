/* test_util.h — shared helpers for the C tests (cmocka) : environment paths, skip, tolerances,
 * random inputs, loading the PyTorch reference dumps. Header-only so each test stays one file. */
#ifndef CHORUS_TEST_UTIL_H
#define CHORUS_TEST_UTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "tensorfile.h"

/* Directory from the runner's environment ($CHORUS_TMP etc.), or a fallback. */
static inline const char *test_env(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* Exit code 77 tells tests/run.sh that the whole test binary was skipped. */
#define TEST_SKIP_ALL(...)                       \
    do {                                         \
        printf("SKIP: " __VA_ARGS__);            \
        printf("\n");                            \
        exit(77);                                \
    } while (0)

/* max |a-b| and mean |a-b| over n floats. */
static inline void test_diff_stats(const float *a, const float *b, size_t n, double *max_abs,
                                   double *mean_abs)
{
    double mx = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= mx))
            mx = isnan(d) ? INFINITY : d > mx ? d : mx;
        sum += d;
    }
    *max_abs = mx;
    *mean_abs = n ? sum / (double)n : 0.0;
}

/* Asserts every |a-b| <= atol + rtol*|b|, printing the worst element when it fails. */
static inline void test_assert_close(const char *what, const float *a, const float *b, size_t n,
                                     double atol, double rtol)
{
    size_t worst = 0;
    double worst_excess = -1;
    double mx, mean;
    test_diff_stats(a, b, n, &mx, &mean);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double excess = isnan(d) ? INFINITY : d - (atol + rtol * fabs((double)b[i]));
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    printf("%s: n=%zu max|d|=%.3g mean|d|=%.3g (atol %.3g rtol %.3g)\n", what, n, mx, mean, atol,
           rtol);
    if (n && worst_excess > 0) {
        fail_msg("%s: element %zu: got %.9g want %.9g (|d|=%.3g > %.3g)", what, worst, a[worst],
                 b[worst], fabs((double)a[worst] - (double)b[worst]),
                 atol + rtol * fabs((double)b[worst]));
    }
}

/* n floats drawn from scale * N(0, 1) (r advanced n times). Owner: caller (free). */
static inline float *test_randn(rng *r, size_t n, float scale)
{
    float *a = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        a[i] = scale * (float)rng_normal(r);
    return a;
}

/* n zeroed floats. Owner: caller (free). */
static inline float *test_zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* Loads the reference dump $CHORUS_REF/<fmt...> (written by a tests/ref/ script). A missing or
 * unreadable dump SKIPs the calling test when torch is not installed (the script could not have
 * written it) and FAILs it when torch is there. Owner: caller (tf_free). */
static inline tf_file *test_ref_load(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline tf_file *test_ref_load(const char *fmt, ...)
{
    char name[1024], path[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/%s", test_env("CHORUS_REF", "build/ref"), name);
    tf_file *f = tf_load(path);
    if (f)
        return f;
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("SKIP parity: %s missing and torch not installed\n", path);
        skip();
    }
    fail_msg("%s: missing or unreadable although torch is installed", path);
    return NULL;
}

/* Tensor `name` of a dump, which must exist with `numel` elements (0 = any count); fails the
 * test otherwise. */
static inline const float *test_ref_get(const tf_file *f, const char *name, size_t numel)
{
    const float *p = tf_get(f, name, NULL, NULL);
    if (!p)
        fail_msg("dump lacks tensor %s", name);
    if (numel && tf_numel(f, name) != numel)
        fail_msg("tensor %s: %zu elements, expected %zu", name, tf_numel(f, name), numel);
    return p;
}

#endif
