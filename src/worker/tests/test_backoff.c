/*
 * worker_backoff: retry delays grow exponentially, carry jitter and stop
 * at the cap.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "claim.h"


static void
test_exponential_with_jitter_and_cap(void **state)
{
    tt_config_t  cfg = { 0 };

    (void) state;

    cfg.backoff_base_ms = 1000;
    cfg.backoff_cap_s = 60;

    /* jitter 0 gives half the nominal delay, jitter ~1 nearly all of it */
    assert_float_equal(tt_backoff_delay(&cfg, 1, 0.0), 0.5, 1e-9);
    assert_float_equal(tt_backoff_delay(&cfg, 1, 0.999), 0.9995, 1e-9);
    assert_float_equal(tt_backoff_delay(&cfg, 2, 0.0), 1.0, 1e-9);
    assert_float_equal(tt_backoff_delay(&cfg, 4, 0.0), 4.0, 1e-9);
    assert_float_equal(tt_backoff_delay(&cfg, 6, 0.5), 24.0, 1e-9);

    /* 2^6 s = 64 s > cap */
    assert_float_equal(tt_backoff_delay(&cfg, 7, 0.0), 30.0, 1e-9);
    assert_float_equal(tt_backoff_delay(&cfg, 7, 0.999), 59.97, 1e-9);
    assert_float_equal(tt_backoff_delay(&cfg, 500, 0.0), 30.0, 1e-9);

    /* nonsense attempt numbers behave as the first attempt */
    assert_float_equal(tt_backoff_delay(&cfg, 0, 0.0), 0.5, 1e-9);
}


static void
test_ids_array(void **state)
{
    char             *s;
    const long long   ids[] = { 1, 42, 9007199254740993LL };

    (void) state;

    s = tt_ids_array(ids, 3);
    assert_string_equal(s, "{1,42,9007199254740993}");
    free(s);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_exponential_with_jitter_and_cap),
        cmocka_unit_test(test_ids_array),
    };

    return cmocka_run_group_tests_name("worker_backoff", tests, NULL, NULL);
}
