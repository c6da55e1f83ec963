/* test_optim.c — models/optim and models/lr_schedule against torch.optim: five steps of
 * SGD (momentum + Nesterov + weight decay; momentum + dampening) and AdamW on the same
 * parameters and gradient sequence with two ranges of different lr scale, clip_grad_norm_,
 * LambdaLR warm-up + cosine, StepLR and ReduceLROnPlateau sequences (dump from
 * tests/ref/nn_optim.py); plus frozen ranges and state allocation checks without torch.
 */
#include "test_util.h"

#include "models/lr_schedule.h"
#include "models/optim.h"

enum { N1 = 20, N2 = 17, NP = N1 + N2, STEPS = 5 };

/* Runs five steps from p0 with the dumped gradients and compares every step with torch.
 * Tolerance atol 1e-6 + rtol 1e-6: the same float32 operations in the same order as torch's
 * single-tensor implementation, so only last-ulp differences (fused multiply-add, sqrtf) remain,
 * and they do not grow over five steps. */
static void run_case(const tf_file *f, const char *name, const optim_options *o)
{
    const float *p0 = test_ref_get(f, "p0", 0), *grads = test_ref_get(f, "grads", 0);
    const float *want = test_ref_get(f, name, 0);
    optim_range ranges[2] = {{0, N1, 1.0f, 0}, {N1, N2, 0.5f, 0}};
    float p[NP];
    memcpy(p, p0, sizeof(p));
    optim_state st;
    ch_error err;
    assert_int_equal(optim_state_init(&st, o, NP, &err), CH_OK);
    for (int s = 0; s < STEPS; s++) {
        optim_step(p, &st, grads + s * NP, ranges, 2, o, o->lr);
        char what[64];
        snprintf(what, sizeof(what), "%s step %d", name, s + 1);
        test_assert_close(what, p, want + s * NP, NP, 1e-6, 1e-6);
    }
    assert_int_equal(st.step, STEPS);
    optim_state_free(&st);
}

static void test_optim_parity(void **state)
{
    (void)state;
    tf_file *f = test_ref_load("nn_optim.tsr");
    optim_options sgd = optim_options_sgd(0.1);
    sgd.momentum = 0.9;
    sgd.nesterov = 1;
    sgd.weight_decay = 1e-2;
    run_case(f, "sgd_nesterov", &sgd);
    optim_options damp = optim_options_sgd(0.05);
    damp.momentum = 0.8;
    damp.dampening = 0.3;
    run_case(f, "sgd_damp", &damp);
    optim_options adamw = optim_options_adamw(1e-2);
    adamw.weight_decay = 0.05;
    run_case(f, "adamw", &adamw);
    tf_free(f);
}

/* clip_grad_norm_: torch reduces the norm in float32, chorus in double: rtol 1e-6 on the norm
 * and the clipped gradient. */
static void test_clip_parity(void **state)
{
    (void)state;
    tf_file *f = test_ref_load("nn_optim.tsr");
    const char *cases[2] = {"clip_small", "clip_large"};
    const double max_norm[2] = {1.0, 100.0};
    optim_range ranges[2] = {{0, N1, 1.0f, 0}, {N1, N2, 1.0f, 0}};
    for (int c = 0; c < 2; c++) {
        char nm[64];
        float g[NP];
        snprintf(nm, sizeof(nm), "%s_in", cases[c]);
        memcpy(g, test_ref_get(f, nm, 0), sizeof(g));
        double total = optim_clip_grad_norm(g, ranges, 2, max_norm[c]);
        snprintf(nm, sizeof(nm), "%s_norm", cases[c]);
        float tn = (float)total;
        test_assert_close(nm, &tn, test_ref_get(f, nm, 0), 1, 0, 1e-6);
        snprintf(nm, sizeof(nm), "%s_out", cases[c]);
        test_assert_close(nm, g, test_ref_get(f, nm, 0), NP, 1e-7, 1e-6);
    }
    tf_free(f);
}

/* LR sequences: values are stored as float32 in the dump, so rtol 1e-6. */
static void test_lr_parity(void **state)
{
    (void)state;
    tf_file *f = test_ref_load("nn_optim.tsr");
    size_t n = tf_numel(f, "lr_cosine");
    const float *want = test_ref_get(f, "lr_cosine", 0);
    float got[64];
    assert_true(n <= 64);
    for (size_t s = 0; s < n; s++)
        got[s] = (float)lr_warmup_cosine(0.1, 0.001, 3, 10, (int64_t)s);
    test_assert_close("warm-up + cosine (LambdaLR)", got, want, n, 0, 1e-6);
    want = test_ref_get(f, "lr_step", 0);
    n = tf_numel(f, "lr_step");
    assert_true(n <= 64);
    for (size_t s = 0; s < n; s++)
        got[s] = (float)lr_step_decay(0.1, 0.5, 3, (int64_t)s);
    test_assert_close("StepLR", got, want, n, 0, 1e-6);

    size_t nm = tf_numel(f, "plateau_metrics");
    const float *metrics = test_ref_get(f, "plateau_metrics", 0);
    assert_true(nm <= 64);
    lr_plateau_options om = lr_plateau_options_default(LR_PLATEAU_MAX);
    om.patience = 2;
    om.factor = 0.5;
    lr_plateau pm = lr_plateau_init(&om, 0.1);
    for (size_t s = 0; s < nm; s++)
        got[s] = (float)lr_plateau_step(&pm, &om, metrics[s]);
    test_assert_close("ReduceLROnPlateau max", got, test_ref_get(f, "plateau_max", 0), nm, 0, 1e-6);
    lr_plateau_options on = lr_plateau_options_default(LR_PLATEAU_MIN);
    on.patience = 1;
    on.factor = 0.3;
    on.cooldown = 1;
    on.min_lr = 0.004;
    lr_plateau pn = lr_plateau_init(&on, 0.1);
    for (size_t s = 0; s < nm; s++)
        got[s] = (float)lr_plateau_step(&pn, &on, metrics[s]);
    test_assert_close("ReduceLROnPlateau min+cooldown", got, test_ref_get(f, "plateau_min", 0), nm,
                      0, 1e-6);
    /* the sequences must actually move, or the comparison proves little */
    assert_true(pm.lr < 0.1 && pn.lr < 0.1);
    tf_free(f);
}

/* Without torch: frozen ranges stay bit-identical, lr scale 0 too, bad options are refused,
 * and the schedule shapes hold (warm-up rises linearly, cosine ends at the floor). */
static void test_optim_frozen_and_shapes(void **state)
{
    (void)state;
    float p[10], g[10], keep[10];
    for (int i = 0; i < 10; i++) {
        p[i] = keep[i] = (float)i * 0.1f + 1.0f;
        g[i] = 0.5f - (float)i * 0.1f;
    }
    optim_range ranges[2] = {{0, 4, 1.0f, 1}, {4, 6, 1.0f, 0}};
    optim_options o = optim_options_adamw(0.1);
    optim_state st;
    ch_error err;
    assert_int_equal(optim_state_init(&st, &o, 10, &err), CH_OK);
    optim_step(p, &st, g, ranges, 2, &o, 0.1);
    assert_memory_equal(p, keep, 4 * sizeof(float));
    for (int i = 4; i < 10; i++)
        assert_true(p[i] != keep[i]);
    for (int i = 0; i < 4; i++)
        assert_true(st.moment[0][i] == 0.0f && st.moment[1][i] == 0.0f);
    optim_state_free(&st);
    optim_state_free(&st); /* safe twice */

    optim_options bad = optim_options_sgd(0.1);
    bad.nesterov = 1; /* without momentum: torch raises, so do we */
    assert_int_equal(optim_state_init(&st, &bad, 10, &err), CH_ERR_USAGE);
    printf("nesterov without momentum: %s\n", err.msg);

    assert_true(fabs(lr_warmup_cosine(1.0, 0.1, 4, 20, 0) - 0.25) < 1e-12);
    assert_true(fabs(lr_warmup_cosine(1.0, 0.1, 4, 20, 3) - 1.0) < 1e-12);
    assert_true(fabs(lr_warmup_cosine(1.0, 0.1, 4, 20, 4) - 1.0) < 1e-12);
    assert_true(fabs(lr_warmup_cosine(1.0, 0.1, 4, 20, 12) - 0.55) < 1e-12);
    assert_true(fabs(lr_warmup_cosine(1.0, 0.1, 4, 20, 20) - 0.1) < 1e-12);
    assert_true(fabs(lr_warmup_cosine(1.0, 0.1, 4, 20, 99) - 0.1) < 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optim_parity),
        cmocka_unit_test(test_clip_parity),
        cmocka_unit_test(test_lr_parity),
        cmocka_unit_test(test_optim_frozen_and_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
