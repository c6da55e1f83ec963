/* test_util.h — shared helpers for the C tests (cmocka) : environment paths, skip, tolerances.
 * Header-only so each test stays one file. */
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

#endif
