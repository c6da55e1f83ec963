/* test_params.c — models/params (layout, groups, lookup, deterministic PyTorch-like init),
 * models/arena (planning pass = real pass, alignment, overflow) and models/backend (the CPU
 * table is complete and points at the layer functions). */
#include "test_util.h"

#include <stdint.h>

#include "models/arena.h"
#include "models/backend.h"
#include "models/conv2d.h"
#include "models/params.h"

static const param_spec table[] = {
    {"conv1.weight", 4, {8, 1, 3, 3}, "frontend", PARAM_INIT_TORCH_WEIGHT, 0, 0},
    {"conv1.bias", 1, {8}, "frontend", PARAM_INIT_TORCH_BIAS, 9, 0},
    {"bn1.gamma", 1, {8}, "frontend", PARAM_INIT_ONES, 0, 0},
    {"bn1.beta", 1, {8}, "frontend", PARAM_INIT_ZEROS, 0, 0},
    {"lstm.w", 2, {64, 40}, "encoder", PARAM_INIT_UNIFORM, 0, 0.125f},
    {"fc.weight", 2, {12, 40}, "classifier", PARAM_INIT_XAVIER_UNIFORM, 0, 0},
    {"fc.bias", 1, {12}, "classifier", PARAM_INIT_ZEROS, 0, 0},
};

static void test_params_layout_init(void **state)
{
    (void)state;
    ch_error err = {{0}};
    params *p = NULL, *q = NULL;
    int n = (int)(sizeof table / sizeof table[0]);
    assert_int_equal(params_create(&p, table, n, &err), CH_OK);
    assert_int_equal(params_create(&q, table, n, &err), CH_OK);
    size_t want = 72 + 8 + 8 + 8 + 64 * 40 + 12 * 40 + 12;
    printf("params: n=%zu (want %zu), %d views, %d groups\n", p->n, want, p->nviews, p->ngroups);
    assert_int_equal(p->n, want);
    assert_int_equal(p->ngroups, 3);
    assert_true(((uintptr_t)p->data & 63) == 0 && ((uintptr_t)p->grad & 63) == 0);
    const param_view *v = params_find(p, "fc.weight");
    assert_non_null(v);
    assert_int_equal(v->offset, 72 + 24 + 2560);
    assert_int_equal(v->count, 480);
    assert_null(params_find(p, "nope"));
    const param_group *g = params_find_group(p, "encoder");
    assert_non_null(g);
    assert_int_equal(g->offset, 96);
    assert_int_equal(g->count, 2560);
    assert_int_equal(params_find_group(p, "classifier")->count, 492);

    rng r1, r2;
    rng_seed(&r1, 5, 0);
    rng_seed(&r2, 5, 0);
    params_init(p, &r1);
    params_init(q, &r2);
    assert_memory_equal(p->data, q->data, p->n * sizeof(float)); /* deterministic */
    /* bounds: torch weight 1/sqrt(9), bias 1/sqrt(9), uniform 0.125, xavier sqrt(6/52) */
    struct {
        const char *name;
        double bound;
        int exact; /* 1: every element equals bound */
    } chk[] = {{"conv1.weight", 1.0 / 3, 0}, {"conv1.bias", 1.0 / 3, 0}, {"bn1.gamma", 1, 1},
               {"bn1.beta", 0, 1},           {"lstm.w", 0.125, 0},      {"fc.weight", sqrt(6.0 / 52), 0},
               {"fc.bias", 0, 1}};
    for (size_t k = 0; k < sizeof chk / sizeof chk[0]; k++) {
        const param_view *w = params_find(p, chk[k].name);
        const float *a = params_data(p, chk[k].name);
        double mx = 0;
        for (size_t i = 0; i < w->count; i++) {
            if (chk[k].exact)
                assert_true(a[i] == (float)chk[k].bound);
            mx = fmax(mx, fabs(a[i]));
        }
        printf("init %-13s max|w|=%.4f bound %.4f\n", chk[k].name, mx, chk[k].bound);
        assert_true(mx <= chk[k].bound + 1e-7);
        if (!chk[k].exact && w->count >= 64)
            assert_true(mx > 0.8 * chk[k].bound); /* actually spans the range */
    }
    p->grad[3] = 1.0f;
    params_zero_grad(p);
    assert_true(p->grad[3] == 0.0f);
    assert_ptr_equal(params_grad(p, "fc.bias"), p->grad + params_find(p, "fc.bias")->offset);
    params_free(p);
    params_free(q);
    params_free(NULL);
}

static void test_params_errors(void **state)
{
    (void)state;
    ch_error err = {{0}};
    params *p = NULL;
    const param_spec split[] = {
        {"a", 1, {4}, "g1", PARAM_INIT_ZEROS, 0, 0},
        {"b", 1, {4}, "g2", PARAM_INIT_ZEROS, 0, 0},
        {"c", 1, {4}, "g1", PARAM_INIT_ZEROS, 0, 0},
    };
    assert_int_equal(params_create(&p, split, 3, &err), CH_ERR_USAGE);
    printf("split group: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "not contiguous"));
    const param_spec dup[] = {
        {"a", 1, {4}, "g", PARAM_INIT_ZEROS, 0, 0},
        {"a", 1, {4}, "g", PARAM_INIT_ZEROS, 0, 0},
    };
    assert_int_equal(params_create(&p, dup, 2, &err), CH_ERR_USAGE);
    printf("duplicate: %s\n", err.msg);
    const param_spec bad[] = {{"a", 2, {4, 0}, "g", PARAM_INIT_ZEROS, 0, 0}};
    assert_int_equal(params_create(&p, bad, 1, &err), CH_ERR_USAGE);
    printf("bad shape: %s\n", err.msg);
    assert_null(p);
}

/* The carving a model step would do: the same sequence in planning and real passes. */
static void carve(arena *a, float **out)
{
    out[0] = arena_alloc(a, 3);
    out[1] = arena_alloc(a, 1000);
    out[2] = arena_calloc(a, 17);
}

static void test_arena(void **state)
{
    (void)state;
    ch_error err = {{0}};
    float *blk[3];
    arena plan = arena_planner();
    carve(&plan, blk);
    assert_null(blk[0]);
    printf("arena plan: %zu bytes\n", plan.peak);
    assert_int_equal(plan.peak, 64 + 4032 + 128);
    arena a;
    assert_int_equal(arena_create(&a, plan.peak, &err), CH_OK);
    for (int step = 0; step < 3; step++) {
        float *again[3];
        arena_reset(&a);
        carve(&a, again);
        for (int i = 0; i < 3; i++) {
            assert_non_null(again[i]);
            assert_true(((uintptr_t)again[i] & 63) == 0);
            if (step)
                assert_ptr_equal(again[i], blk[i]); /* same offsets every step */
            blk[i] = again[i];
        }
        assert_true(blk[2][16] == 0.0f);
    }
    assert_false(arena_overflowed(&a));
    assert_null(arena_alloc(&a, 1)); /* full */
    assert_true(arena_overflowed(&a));
    arena_destroy(&a);
}

static void test_backend_cpu(void **state)
{
    (void)state;
    const nn_backend *be = nn_backend_cpu();
    assert_string_equal(be->name, "cpu");
    assert_null(nn_backend_missing(be));
    assert_ptr_equal(be->conv2d_forward, conv2d_forward);
    nn_backend partial = *be;
    partial.linear_backward = NULL;
    assert_string_equal(nn_backend_missing(&partial), "linear_backward");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_layout_init),
        cmocka_unit_test(test_params_errors),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_backend_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
