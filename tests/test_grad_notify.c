/* test_grad_notify.c — the gradient-ready notices of models/model.h (nn_grad_notify), which the
 * trainers use to start a sync all-reduce on finished layers while backward goes on. For every
 * model kind (small configs, variable lengths, with and without an AAM head's range reported
 * first, and with gradients accumulating onto non-zero ones):
 *  - the reported ranges tile [0, mark) exactly, from the end down, with no gap or overlap;
 *  - every range is final when reported: a copy taken inside ready() equals the gradient after
 *    backward bit for bit (a range reported before a later layer adds to it would differ);
 *  - the model reports more than one range (else there is nothing to overlap);
 *  - backward with notices gives the same gradient as backward without.
 */
#include "test_util.h"

#include <omp.h>
#include <string.h>

#include "common/rng.h"
#include "models/backend.h"
#include "models/model.h"

typedef struct {
    const float *grad;
    float *snap;       /* copies of each range when it was reported */
    size_t expect_end; /* the next range must end here */
    int n_ranges;
    int bad; /* a range that does not continue the tiling */
} recorder;

static void record(void *arg, size_t offset, size_t count)
{
    recorder *r = arg;
    if (offset + count != r->expect_end || count == 0)
        r->bad++;
    memcpy(r->snap + offset, r->grad + offset, sizeof(float) * count);
    r->expect_end = offset;
    r->n_ranges++;
}

static void check_kind(const char *kind, const char *hparams, int F, int out_dim, int head)
{
    rng r;
    rng_seed(&r, 77, 0);
    char hp[256];
    snprintf(hp, sizeof hp, "%s%shead-classes=%d", hparams, hparams[0] ? "," : "", head);
    nn_model *m = NULL;
    ch_error err;
    assert_int_equal(nn_model_create(&m, kind, hp, F, out_dim, &r, &err), CH_OK);
    const size_t np = m->p->n;
    const int N = 3, T = 23;
    int lens[3] = {23, 17, 9};
    float *x = test_randn(&r, (size_t)N * T * F, 1);
    for (int n = 0; n < N; n++)
        for (int t = lens[n]; t < T; t++)
            for (int f = 0; f < F; f++)
                x[((size_t)n * T + t) * F + f] = 0.0f;
    float *out = test_zeros((size_t)N * m->out_dim);
    float *dout = test_randn(&r, (size_t)N * m->out_dim, 1);
    float *start = test_randn(&r, np, 0.1f); /* accumulate onto this, as micro-batches do */
    float *plain = test_zeros(np), *snap = test_zeros(np);
    nn_ctx ctx = {.be = nn_backend_cpu(), .threads = omp_get_max_threads()};
    assert_int_equal(m->ops->reserve(m, &ctx, N, T, &err), CH_OK);
    nn_input in = {N, T, F, x, lens};

    /* without notices */
    rng dr;
    rng_seed(&dr, 5, 0);
    m->ops->forward(m, &ctx, &in, 1, &dr, out);
    memcpy(m->p->grad, start, sizeof(float) * np);
    m->ops->backward(m, &ctx, dout);
    memcpy(plain, m->p->grad, sizeof(float) * np);

    /* with notices; the head (not touched by the model's backward) is reported first, as the
     * trainer does once the loss has written it */
    rng_seed(&dr, 5, 0);
    m->ops->forward(m, &ctx, &in, 1, &dr, out);
    memcpy(m->p->grad, start, sizeof(float) * np);
    recorder rec = {m->p->grad, snap, np, 0, 0};
    nn_grad_notify notify = {record, &rec, np};
    ctx.grad_notify = &notify;
    nn_grads_final_from(&ctx, head ? m->head_offset : np);
    m->ops->backward(m, &ctx, dout);
    ctx.grad_notify = NULL;

    printf("%s (%zu parameters%s): %d ranges reported\n", kind, np, head ? ", head" : "",
           rec.n_ranges);
    assert_int_equal(rec.bad, 0);
    assert_int_equal(notify.mark, 0);          /* everything was reported */
    assert_true(rec.n_ranges >= (head ? 4 : 3)); /* several layers, something to overlap */
    assert_memory_equal(snap, m->p->grad, sizeof(float) * np);
    assert_memory_equal(plain, m->p->grad, sizeof(float) * np);
    free(x), free(out), free(dout), free(start), free(plain), free(snap);
    nn_model_free(m);
}

static void test_kws_densenet(void **state)
{
    (void)state;
    check_kind("densenet-bilstm", "growth=4,lstm-hidden=8,stem-channels=4,transition-channels=6",
               16, 5, 0);
    check_kind("densenet-bilstm",
               "growth=4,lstm-hidden=8,stem-channels=4,transition-channels=6,pooling=mean", 16, 5,
               0);
}

static void test_tdnn(void **state)
{
    (void)state;
    check_kind("tdnn", "channels=8,stats-channels=12", 10, 6, 0);
    check_kind("tdnn", "channels=8,stats-channels=12", 10, 6, 7);
}

static void test_resnet(void **state)
{
    (void)state;
    check_kind("resnet", "channels=4", 16, 6, 0);
    check_kind("resnet", "channels=4", 16, 6, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kws_densenet),
        cmocka_unit_test(test_tdnn),
        cmocka_unit_test(test_resnet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
