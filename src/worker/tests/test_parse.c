/*
 * worker_parse: TrackTik report entities out of job payloads: every
 * accepted envelope, relations as ids or objects, and precise errors for
 * payloads that must go to 'dead'.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"


static int
parse(const char *json, tt_payload_t *p, char *err, size_t errlen)
{
    return tt_payload_parse(json, strlen(json), "UTC", p, err, errlen);
}


static void
expect_error(const char *json, const char *message)
{
    char          err[512];
    tt_payload_t  p;

    err[0] = '\0';
    assert_int_equal(parse(json, &p, err, sizeof(err)), -1);
    assert_string_equal(err, message);
    tt_payload_free(&p);
}


static void
test_bare_entity_with_included_relations(void **state)
{
    char          err[512];
    tt_report_t  *r;
    tt_payload_t  p;

    (void) state;

    assert_int_equal(parse(
        "{\"id\": 4711, \"reportDateTime\": \"2026-03-02T23:30:00-05:00\","
        " \"status\": \"APPROVED\", \"updatedOn\": \"2026-03-03T01:00:00Z\","
        " \"reportTemplate\": {\"id\": 12, \"name\": \"Alarm Response\"},"
        " \"account\": {\"id\": 55, \"name\": \"Main St\","
        "   \"parentClient\": {\"id\": 3}, \"timeZone\": \"America/New_York\"},"
        " \"position\": 900,"
        " \"reportFlag\": {\"id\": 9, \"name\": \"After hours dispatch\","
        "   \"severityLevel\": \"HIGH\"},"
        " \"reportFields\": [{\"id\": 1, \"fieldTag\": \"hours\","
        "   \"value\": \"2.5\"}, {\"id\": 2, \"fieldTag\": null,"
        "   \"value\": 7}, 33]}", &p, err, sizeof(err)), 0);

    assert_int_equal(p.nreports, 1);
    r = &p.reports[0];

    assert_int_equal(r->report_id, 4711);
    assert_int_equal(r->data_index, TT_ENTITY_BARE);
    assert_int_equal(r->occurred_at,
                     tt_time_civil_to_epoch(2026, 3, 3, 4, 30, 0));
    assert_true(r->template.has_id);
    assert_int_equal(r->template.id, 12);
    assert_string_equal(r->template.name, "Alarm Response");
    assert_int_equal(r->site.id, 55);
    assert_int_equal(r->client.id, 3);
    assert_int_equal(r->position.id, 900);
    assert_int_equal(r->flag.id, 9);
    assert_string_equal(r->flag.name, "After hours dispatch");
    assert_string_equal(r->severity, "HIGH");
    assert_string_equal(r->status, "APPROVED");
    assert_string_equal(r->time_zone, "America/New_York");
    assert_true(r->has_updated_on);
    assert_int_equal(r->updated_on,
                     tt_time_civil_to_epoch(2026, 3, 3, 1, 0, 0));
    assert_int_equal(r->nfields, 2);
    assert_string_equal(tt_report_field(r, "hours"), "2.5");
    assert_null(tt_report_field(r, "minutes"));

    tt_payload_free(&p);
}


static void
test_relations_as_ids_and_envelopes(void **state)
{
    char          err[512];
    tt_payload_t  p;

    (void) state;

    /* {"data": {...}}, relations as bare ids, no time zone anywhere */
    assert_int_equal(parse(
        "{\"data\": {\"id\": \"77\", \"reportDateTime\":"
        " \"2026-01-05 08:00:00\", \"account\": 5, \"reportFlag\": 8,"
        " \"reportTemplate\": 2}}", &p, err, sizeof(err)), 0);
    assert_int_equal(p.nreports, 1);
    assert_int_equal(p.reports[0].report_id, 77);
    assert_int_equal(p.reports[0].data_index, TT_ENTITY_DATA);
    assert_int_equal(p.reports[0].site.id, 5);
    assert_false(p.reports[0].client.present);
    assert_int_equal(p.reports[0].flag.id, 8);
    assert_null(p.reports[0].flag.name);
    assert_null(p.reports[0].severity);
    assert_string_equal(p.reports[0].time_zone, "UTC");
    assert_int_equal(p.reports[0].occurred_at,
                     tt_time_civil_to_epoch(2026, 1, 5, 8, 0, 0));
    tt_payload_free(&p);

    /* {"data": [...]}: every element is a report; a CLIENT account is
     * its own client; the report's time zone wins over the site's */
    assert_int_equal(parse(
        "{\"meta\": {\"count\": 2}, \"data\": ["
        " {\"id\": 1, \"reportDateTime\": \"2026-01-05T08:00:00Z\"},"
        " {\"id\": 2, \"reportDateTime\": \"2026-01-05T08:00:00Z\","
        "  \"timeZone\": \"Europe/Paris\", \"account\": {\"id\": 9,"
        "  \"type\": \"CLIENT\", \"timeZone\": \"Asia/Tokyo\"}}]}",
        &p, err, sizeof(err)), 0);
    assert_int_equal(p.nreports, 2);
    assert_int_equal(p.reports[1].data_index, 1);
    assert_int_equal(p.reports[1].client.id, 9);
    assert_string_equal(p.reports[1].time_zone, "Europe/Paris");
    tt_payload_free(&p);
}


static void
test_poison_payloads_have_precise_errors(void **state)
{
    (void) state;

    expect_error("{\"id\": 1, \"reportDateTime\": ",
                 "payload is not valid JSON: parse error: premature EOF");
    expect_error("[1, 2]", "payload: expected a JSON object, got an array");
    expect_error("{\"reportDateTime\": \"2026-01-01T00:00:00Z\"}",
                 "id: missing (a report entity needs its id)");
    expect_error("{\"id\": -4, \"reportDateTime\": \"2026-01-01\"}",
                 "id: expected a positive integer, got a number");
    expect_error("{\"id\": \"x1\", \"reportDateTime\": \"2026-01-01\"}",
                 "id: expected a positive integer, got a string");
    expect_error("{\"id\": 1}", "reportDateTime: missing");
    expect_error("{\"id\": 1, \"reportDateTime\": 1700000000}",
                 "reportDateTime: expected a date-time string, got a number");
    expect_error("{\"id\": 1, \"reportDateTime\": \"last Tuesday\"}",
                 "reportDateTime: \"last Tuesday\" is not an ISO 8601 "
                 "date-time");
    expect_error("{\"id\": 1, \"reportDateTime\": \"2026-01-01\","
                 " \"account\": [5]}",
                 "account: expected an integer id or an object, got an "
                 "array");
    expect_error("{\"id\": 1, \"reportDateTime\": \"2026-01-01\","
                 " \"reportFlag\": {\"id\": 2, \"severityLevel\": 3}}",
                 "reportFlag.severityLevel: expected a string, got a number");
    expect_error("{\"id\": 1, \"reportDateTime\": \"2026-01-01\","
                 " \"timeZone\": \"Mars/Olympus_Mons\"}",
                 "timeZone: \"Mars/Olympus_Mons\" is not a known time zone");
    expect_error("{\"id\": 1, \"reportDateTime\": \"2026-01-01\","
                 " \"status\": true}",
                 "status: expected a string, got a boolean");
    expect_error("{\"id\": 1, \"reportDateTime\": \"2026-01-01\","
                 " \"reportFields\": {\"hours\": 2}}",
                 "reportFields: expected an array, got an object");
    expect_error("{\"data\": []}", "data: empty array, no report in payload");
    expect_error("{\"data\": \"x\"}",
                 "data: expected an object or an array of objects, got a "
                 "string");
    expect_error("{\"data\": [{\"id\": 1, \"reportDateTime\":"
                 " \"2026-01-01\"}, {\"id\": 2, \"reportDateTime\": \"no\"}]}",
                 "data[1].reportDateTime: \"no\" is not an ISO 8601 "
                 "date-time");
    expect_error("{\"data\": [7]}", "data[0]: expected a report object, "
                 "got a number");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_bare_entity_with_included_relations),
        cmocka_unit_test(test_relations_as_ids_and_envelopes),
        cmocka_unit_test(test_poison_payloads_have_precise_errors),
    };

    return cmocka_run_group_tests_name("worker_parse", tests, NULL, NULL);
}
