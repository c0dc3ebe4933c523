/*
 * worker_api: the TrackTik client's pure parts: Retry-After, backoff with
 * jitter under a cap, query escaping and readable error texts from
 * TrackTik's and the OAuth server's error bodies.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "api.h"


static void
test_retry_after(void **state)
{
    (void) state;

    assert_float_equal(tt_api_parse_retry_after("7", 0), 7.0, 1e-9);
    assert_float_equal(tt_api_parse_retry_after(" 2.5 \r\n", 0), 2.5, 1e-9);
    assert_float_equal(tt_api_parse_retry_after("0", 0), 0.0, 1e-9);

    /* an HTTP date: seconds from now, never negative */
    assert_float_equal(tt_api_parse_retry_after(
        "Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0), 10.0, 1e-9);
    assert_float_equal(tt_api_parse_retry_after(
        "Wed, 21 Oct 2015 07:28:00 GMT", 1445412490.0), 0.0, 1e-9);

    /* a server asking for days gets an hour at most */
    assert_float_equal(tt_api_parse_retry_after("999999", 0), 3600.0, 1e-9);

    /* unreadable: absent */
    assert_true(tt_api_parse_retry_after("", 0) < 0);
    assert_true(tt_api_parse_retry_after("soon", 0) < 0);
    assert_true(tt_api_parse_retry_after("5 s", 0) < 0);
}


static void
test_backoff_grows_with_jitter_under_cap(void **state)
{
    int                i, n;
    double             d, lo, hi, nominal;
    tt_api_settings_t  set;

    (void) state;

    tt_api_settings_default(&set);
    set.backoff_base_ms = 500;
    set.backoff_cap_ms = 4000;

    for (n = 0; n < 12; n++) {
        nominal = 0.5 * (1 << n);
        if (nominal > 4.0) {
            nominal = 4.0;
        }
        lo = 1e9;
        hi = 0;
        for (i = 0; i < 2000; i++) {
            d = tt_api_backoff(&set, n);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* within the upper half of the nominal delay, and spread out */
        assert_true(lo >= nominal / 2 - 1e-9);
        assert_true(hi <= nominal + 1e-9);
        assert_true(hi - lo > nominal / 4);
    }

    /* huge retry counts stay at the cap */
    assert_true(tt_api_backoff(&set, 1000) <= 4.0 + 1e-9);
}


static void
test_escape(void **state)
{
    char  buf[64];

    (void) state;

    assert_string_equal(tt_api_escape("[tt:report:1:v2:adh@3]", buf,
                                      sizeof(buf)),
                        "%5Btt%3Areport%3A1%3Av2%3Aadh%403%5D");
    assert_string_equal(tt_api_escape("a b&c=d+e", buf, sizeof(buf)),
                        "a%20b%26c%3Dd%2Be");
    assert_string_equal(tt_api_escape("Az09-_.~", buf, sizeof(buf)),
                        "Az09-_.~");

    /* never past the buffer: truncated at a whole escape */
    assert_string_equal(tt_api_escape("::::::::", buf, 8), "%3A%3A");
}


static void
test_error_text(void **state)
{
    char              buf[256];
    tt_http_answer_t  a;

    (void) state;

    memset(&a, 0, sizeof(a));

    a.status = 400;
    a.body = "{\"error\":\"invalid_grant\",\"error_description\":\"x\","
             "\"message\":\"The refresh token is invalid.\","
             "\"hint\":\"Token has been revoked\"}";
    assert_string_equal(tt_api_error_text(&a, buf, sizeof(buf)),
        "HTTP 400: invalid_grant (The refresh token is invalid.); "
        "Token has been revoked");

    a.body = "{\"status\":400,\"error\":\"Validation failed: `price` is "
             "required\"}";
    assert_string_equal(tt_api_error_text(&a, buf, sizeof(buf)),
        "HTTP 400: Validation failed: `price` is required");

    a.status = 502;
    a.body = "<html>Bad Gateway</html>";
    assert_string_equal(tt_api_error_text(&a, buf, sizeof(buf)),
                        "HTTP 502");

    a.body = NULL;
    assert_string_equal(tt_api_error_text(&a, buf, sizeof(buf)),
                        "HTTP 502");
}


static void
test_item_envelope(void **state)
{
    yajl_val          tree, item;
    tt_http_answer_t  a;

    (void) state;

    memset(&a, 0, sizeof(a));

    a.body = "{\"meta\":{},\"data\":{\"id\":60001}}";
    item = tt_api_item(&a, &tree);
    assert_non_null(item);
    assert_true(YAJL_IS_OBJECT(item));
    assert_int_equal(YAJL_GET_INTEGER(item->u.object.values[0]), 60001);
    yajl_tree_free(tree);

    a.body = "{\"id\":60002}";
    item = tt_api_item(&a, &tree);
    assert_non_null(item);
    assert_int_equal(YAJL_GET_INTEGER(item->u.object.values[0]), 60002);
    yajl_tree_free(tree);

    a.body = "not json";
    assert_null(tt_api_item(&a, &tree));
    assert_null(tree);
}


/* the bearer token never travels in clear text to another machine */
static void
test_url_check(void **state)
{
    char  err[256];

    (void) state;

    assert_int_equal(tt_api_url_check("https://acme.tracktik.com", "--url",
                                      err, sizeof(err)), 0);
    assert_int_equal(tt_api_url_check("http://127.0.0.1:8090", "--url",
                                      err, sizeof(err)), 0);
    assert_int_equal(tt_api_url_check("http://localhost/", "--url",
                                      err, sizeof(err)), 0);
    assert_int_equal(tt_api_url_check("http://[::1]:80", "--url",
                                      err, sizeof(err)), 0);

    assert_int_equal(tt_api_url_check("http://acme.tracktik.com", "--url",
                                      err, sizeof(err)), -1);
    assert_non_null(strstr(err, "clear text"));
    assert_non_null(strstr(err, "--url \"http://acme.tracktik.com\""));

    /* names that only begin like loopback */
    assert_int_equal(tt_api_url_check("http://127.0.0.1.evil.example",
                                      "--url", err, sizeof(err)), -1);
    assert_int_equal(tt_api_url_check("http://localhost.evil.example",
                                      "--url", err, sizeof(err)), -1);
    assert_int_equal(tt_api_url_check("ftp://x", "--url", err,
                                      sizeof(err)), -1);
    assert_non_null(strstr(err, "expected the tenant's base URL"));
    assert_int_equal(tt_api_url_check("https://", "--url", err,
                                      sizeof(err)), -1);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_backoff_grows_with_jitter_under_cap),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_item_envelope),
        cmocka_unit_test(test_url_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
