/*
 * worker_json: trees of bounded depth.  A document nested a million levels
 * deep is refused before yajl builds it (yajl_tree_free() would recurse a
 * million times), and so is such a payload; brackets inside strings do
 * not count.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "parse.h"
#include "tt_json.h"


/* n '[' then n ']' */
static char *
nested(size_t n)
{
    char  *s;

    s = malloc(2 * n + 1);
    assert_non_null(s);

    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';

    return s;
}


static void
test_depth_counts_outside_strings(void **state)
{
    const char  *doc = "{\"a\": [1, {\"b\": \"[[[{{{\\\"]]]\"}], \"c\": {}}";

    (void) state;

    assert_int_equal(tt_json_depth(doc, strlen(doc), 64), 3);
    assert_int_equal(tt_json_depth("\"[[[\"", 5, 64), 0);
    assert_int_equal(tt_json_depth("[[[]]]", 6, 2), 3);
    assert_int_equal(tt_json_depth("", 0, 64), 0);
}


static void
test_tree_within_the_limit(void **state)
{
    char      err[128];
    char     *s;
    yajl_val  tree;

    (void) state;

    s = nested(TT_JSON_MAX_DEPTH);
    tree = tt_json_tree(s, TT_JSON_MAX_DEPTH, err, sizeof(err));
    assert_non_null(tree);
    yajl_tree_free(tree);
    free(s);

    tree = tt_json_tree("{\"a\":", TT_JSON_MAX_DEPTH, err, sizeof(err));
    assert_null(tree);
    assert_non_null(strstr(err, "parse error"));
    assert_null(strchr(err, '\n'));
}


static void
test_a_million_levels_refused(void **state)
{
    char      err[128];
    char     *s;
    yajl_val  tree;

    (void) state;

    s = nested(1000000);
    tree = tt_json_tree(s, TT_JSON_MAX_DEPTH, err, sizeof(err));
    assert_null(tree);
    assert_string_equal(err, "nested deeper than 64 levels");
    free(s);
}


static void
test_deep_payload_is_a_poison_error(void **state)
{
    char           err[256], *s, *doc;
    size_t         n;
    tt_payload_t   p;

    (void) state;

    n = 1000000;
    s = nested(n);
    doc = malloc(2 * n + 16);
    assert_non_null(doc);
    snprintf(doc, 2 * n + 16, "{\"data\":%s}", s);

    assert_int_equal(tt_payload_parse(doc, strlen(doc), "UTC", &p, err,
                                      sizeof(err)), -1);
    assert_string_equal(err,
        "payload is not valid JSON: nested deeper than 64 levels");

    tt_payload_free(&p);
    free(doc);
    free(s);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_depth_counts_outside_strings),
        cmocka_unit_test(test_tree_within_the_limit),
        cmocka_unit_test(test_a_million_levels_refused),
        cmocka_unit_test(test_deep_payload_is_a_poison_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
