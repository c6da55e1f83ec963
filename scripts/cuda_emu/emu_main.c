/* emu_main.c — runs cases of tests/test_cuda_backend.c against the emulated kernels
 * (scripts/cuda_emu_check.sh): the test file is included whole, its own main renamed away. */
#define main static test_cuda_backend_main
#include "tests/test_cuda_backend.c"
#undef main

void *emu_ctx_init(void);

int main(void)
{
    g_ctx.be = nn_backend_cuda();
    g_ctx.device = emu_ctx_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu),         cmocka_unit_test(test_linear),
        cmocka_unit_test(test_lstm),         cmocka_unit_test(test_attention_pool),
        cmocka_unit_test(test_aam_softmax),  cmocka_unit_test(test_mask_add_relu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
