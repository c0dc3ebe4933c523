/*
 * worker_rules: contract rules: validation errors that name the rule,
 * matching on every dimension, the after-hours window across midnight in
 * the site's time zone, priority order, quantities, rule set choice by
 * effective date.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"
#include "rules.h"
#include "tz.h"


/* the seed's rule, as in conf/contracts.example.json */
static const char  *seed_rules =
    "{\"effective_from\": \"2020-01-01\", \"rules\": ["
    " {\"id\": \"after-hours-dispatch\", \"priority\": 10,"
    "  \"match\": {\"category\": \"After hours dispatch\"},"
    "  \"bill_code\": \"ADH\", \"quantity\": 1.0},"
    " {\"id\": \"alarm-response-hours\", \"priority\": 20,"
    "  \"match\": {\"category\": [\"Alarm response\"]},"
    "  \"bill_code\": \"ALR\", \"quantity_field\": \"hours\","
    "  \"unit_price\": 65.00}]}";

/* client 3 nights, 18:00-06:00 site time, Monday to Friday nights */
static const char  *night_rules =
    "{\"effective_from\": \"2020-01-01\", \"rules\": ["
    " {\"id\": \"night\", \"match\": {\"client\": [3],"
    "  \"severity\": [\"SEVERE\", \"HIGH\"], \"status\": \"any\","
    "  \"time_of_day\": {\"from\": \"18:00\", \"to\": \"06:00\"},"
    "  \"weekdays\": [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]},"
    "  \"bill_code\": \"NPR\", \"quantity\": 1}]}";


typedef struct {
    tt_payload_t  payload;
    struct tm     local;
} report_t;


static void
report_make(report_t *rep, const char *when, const char *zone,
    const char *flag, const char *severity, const char *status,
    const char *extra)
{
    char  json[2048], err[256];

    snprintf(json, sizeof(json),
             "{\"id\": 1, \"reportDateTime\": \"%s\", \"status\": \"%s\","
             " \"timeZone\": \"%s\", \"reportTemplate\": {\"id\": 4,"
             " \"name\": \"Dispatch\"},"
             " \"account\": {\"id\": 55, \"parentClient\": 3},"
             " \"reportFlag\": {\"id\": 9, \"name\": \"%s\","
             " \"severityLevel\": \"%s\"}%s}",
             when, status, zone, flag, severity, extra ? extra : "");

    assert_int_equal(tt_payload_parse(json, strlen(json), "UTC",
                                      &rep->payload, err, sizeof(err)), 0);
    assert_int_equal(tt_tz_local(rep->payload.reports[0].occurred_at,
                                 rep->payload.reports[0].time_zone,
                                 &rep->local), 0);
}


static void
set_make(tt_rule_set_t *set, const char *json)
{
    char  err[512];

    err[0] = '\0';
    if (tt_rule_set_parse(json, strlen(json), set, err, sizeof(err)) != 0) {
        fail_msg("rule set rejected: %s", err);
    }
    set->version = 1;
}


static size_t
bill(tt_rule_set_t *set, report_t *rep, tt_line_t *lines)
{
    char    err[512];
    size_t  n;

    assert_int_equal(tt_rules_bill(set, &rep->payload.reports[0],
                                   &rep->local, lines, 8, &n, err,
                                   sizeof(err)), 0);
    return n;
}


static int
night_matches(const char *when, const char *zone)
{
    int            m;
    report_t       rep;
    tt_rule_set_t  set;

    set_make(&set, night_rules);
    report_make(&rep, when, zone, "Intrusion", "HIGH", "NEW", NULL);

    m = tt_rule_matches(&set.rules[0], &rep.payload.reports[0], &rep.local);

    tt_payload_free(&rep.payload);
    tt_rule_set_free(&set);

    return m;
}


static void
expect_invalid(const char *json, const char *message)
{
    char           err[512];
    tt_rule_set_t  set;

    err[0] = '\0';
    assert_int_equal(tt_rule_set_parse(json, strlen(json), &set, err,
                                       sizeof(err)), -1);
    assert_string_equal(err, message);
    tt_rule_set_free(&set);
}


static void
test_seed_rule_bills_adh_for_any_client(void **state)
{
    report_t       rep;
    tt_line_t      lines[8];
    tt_rule_set_t  set;

    (void) state;

    set_make(&set, seed_rules);

    report_make(&rep, "2026-03-04T12:00:00Z", "UTC",
                "After hours dispatch", "LOW", "APPROVED", NULL);
    assert_int_equal(bill(&set, &rep, lines), 1);
    assert_string_equal(lines[0].bill_code, "ADH");
    assert_string_equal(lines[0].quantity, "1.0");
    assert_null(lines[0].unit_price);
    assert_string_equal(lines[0].rule_id, "after-hours-dispatch");
    assert_int_equal(lines[0].rule_set_version, 1);
    tt_payload_free(&rep.payload);

    /* category names compare case-insensitively */
    report_make(&rep, "2026-03-04T12:00:00Z", "UTC",
                "AFTER HOURS DISPATCH", "LOW", "APPROVED", NULL);
    assert_int_equal(bill(&set, &rep, lines), 1);
    tt_payload_free(&rep.payload);

    /* by default only APPROVED reports bill */
    report_make(&rep, "2026-03-04T12:00:00Z", "UTC",
                "After hours dispatch", "LOW", "PENDING", NULL);
    assert_int_equal(bill(&set, &rep, lines), 0);
    tt_payload_free(&rep.payload);

    /* another category bills nothing */
    report_make(&rep, "2026-03-04T12:00:00Z", "UTC", "Patrol", "LOW",
                "APPROVED", NULL);
    assert_int_equal(bill(&set, &rep, lines), 0);
    tt_payload_free(&rep.payload);

    tt_rule_set_free(&set);
}


static void
test_quantity_from_tagged_field(void **state)
{
    char           err[512];
    size_t         n;
    report_t       rep;
    tt_line_t      lines[8];
    tt_rule_set_t  set;

    (void) state;

    set_make(&set, seed_rules);

    report_make(&rep, "2026-03-04T12:00:00Z", "UTC", "Alarm response",
                "LOW", "APPROVED", ", \"reportFields\": [{\"fieldTag\":"
                " \"hours\", \"value\": \"2.75\"}]");
    assert_int_equal(bill(&set, &rep, lines), 1);
    assert_string_equal(lines[0].bill_code, "ALR");
    assert_string_equal(lines[0].quantity, "2.75");
    assert_string_equal(lines[0].unit_price, "65.00");
    tt_payload_free(&rep.payload);

    report_make(&rep, "2026-03-04T12:00:00Z", "UTC", "Alarm response",
                "LOW", "APPROVED", ", \"reportFields\": [{\"fieldTag\":"
                " \"hours\", \"value\": \"two\"}]");
    assert_int_equal(tt_rules_bill(&set, &rep.payload.reports[0],
                                   &rep.local, lines, 8, &n, err,
                                   sizeof(err)), -1);
    assert_string_equal(err, "rule \"alarm-response-hours\" (rule set 1): "
                        "report field \"hours\" is \"two\", not a "
                        "non-negative number");
    tt_payload_free(&rep.payload);

    report_make(&rep, "2026-03-04T12:00:00Z", "UTC", "Alarm response",
                "LOW", "APPROVED", NULL);
    assert_int_equal(tt_rules_bill(&set, &rep.payload.reports[0],
                                   &rep.local, lines, 8, &n, err,
                                   sizeof(err)), -1);
    assert_string_equal(err, "rule \"alarm-response-hours\" (rule set 1): "
                        "the report has no field tagged \"hours\" to bill "
                        "as quantity");
    tt_payload_free(&rep.payload);

    tt_rule_set_free(&set);

    assert_true(tt_rules_decimal("0"));
    assert_true(tt_rules_decimal(".5"));
    assert_true(tt_rules_decimal("12.50"));
    assert_false(tt_rules_decimal("-1"));
    assert_false(tt_rules_decimal("1e3"));
    assert_false(tt_rules_decimal("1.2.3"));
    assert_false(tt_rules_decimal("inf"));
    assert_false(tt_rules_decimal(""));
}


static void
test_after_hours_window_across_midnight(void **state)
{
    (void) state;

    /*
     * Site in New York (UTC-5 in March before the 8th).  2026-03-02 is a
     * Monday.
     */

    /* Monday 18:30 local: in the window */
    assert_true(night_matches("2026-03-02T23:30:00Z", "America/New_York"));

    /* Monday 17:59 local: before it */
    assert_false(night_matches("2026-03-02T22:59:00Z", "America/New_York"));

    /* Tuesday 02:00 local is still Monday night */
    assert_true(night_matches("2026-03-03T07:00:00Z", "America/New_York"));

    /* Tuesday 06:00 local: the window has closed ("to" is exclusive) */
    assert_false(night_matches("2026-03-03T11:00:00Z", "America/New_York"));

    /* the same instant is 23:00 in UTC: the site's zone decides */
    assert_true(night_matches("2026-03-03T11:00:00Z", "UTC") == 0);
    assert_false(night_matches("2026-03-03T12:00:00Z", "UTC"));

    /* Saturday 01:00 local belongs to Friday night: billed */
    assert_true(night_matches("2026-03-07T06:00:00Z", "America/New_York"));

    /* Saturday 20:00 local is Saturday night: not a weekday night */
    assert_false(night_matches("2026-03-08T01:00:00Z", "America/New_York"));

    /* Monday 03:00 local belongs to Sunday night: not billed */
    assert_false(night_matches("2026-03-09T07:00:00Z", "America/New_York"));

    /* after the DST change (UTC-4): Monday 2026-03-09 18:00 local */
    assert_true(night_matches("2026-03-09T22:00:00Z", "America/New_York"));
    assert_false(night_matches("2026-03-09T21:59:00Z", "America/New_York"));

    /* reportDateTime without an offset is read in the site's zone */
    assert_true(night_matches("2026-03-02 18:00:00", "America/New_York"));
    assert_false(night_matches("2026-03-02 17:59:59", "America/New_York"));
}


static void
test_match_dimensions(void **state)
{
    report_t       rep;
    tt_line_t      lines[8];
    tt_rule_set_t  set;

    (void) state;

    set_make(&set,
        "{\"rules\": ["
        " {\"id\": \"a\", \"priority\": 5, \"continue\": true,"
        "  \"match\": {\"site\": [55], \"report_template\": [\"dispatch\"],"
        "  \"category\": [9]}, \"bill_code\": \"SITE\", \"quantity\": 2},"
        " {\"id\": \"b\", \"priority\": 5,"
        "  \"match\": {\"client\": 3, \"report_template\": [4]},"
        "  \"bill_code\": \"CLI\", \"quantity\": 1, \"unit_price\": 10},"
        " {\"id\": \"c\", \"priority\": 1, \"match\": {\"client\": [4]},"
        "  \"bill_code\": \"OTHER\", \"quantity\": 1},"
        " {\"id\": \"d\", \"priority\": 9, \"bill_code\": \"ANY\","
        "  \"quantity\": 1}]}");

    /* c (priority 1) does not match client 3; a matches and continues;
     * b matches and stops before d */
    report_make(&rep, "2026-03-04T12:00:00Z", "UTC", "x", "LOW",
                "APPROVED", NULL);
    assert_int_equal(bill(&set, &rep, lines), 2);
    assert_string_equal(lines[0].bill_code, "SITE");
    assert_string_equal(lines[0].quantity, "2");
    assert_string_equal(lines[1].bill_code, "CLI");
    assert_string_equal(lines[1].unit_price, "10");
    tt_payload_free(&rep.payload);

    tt_rule_set_free(&set);

    /* weekday and per-rule effective dates */
    set_make(&set,
        "{\"rules\": [{\"id\": \"weekend\", \"match\": {\"weekdays\":"
        " [\"saturday\", \"sun\"]}, \"effective_from\": \"2026-03-01\","
        " \"effective_until\": \"2026-04-01\", \"bill_code\": \"WE\","
        " \"quantity\": 1}]}");

    report_make(&rep, "2026-03-07T12:00:00Z", "UTC", "x", "LOW",
                "APPROVED", NULL);               /* a Saturday */
    assert_int_equal(bill(&set, &rep, lines), 1);
    tt_payload_free(&rep.payload);

    report_make(&rep, "2026-03-06T12:00:00Z", "UTC", "x", "LOW",
                "APPROVED", NULL);               /* a Friday */
    assert_int_equal(bill(&set, &rep, lines), 0);
    tt_payload_free(&rep.payload);

    report_make(&rep, "2026-04-04T12:00:00Z", "UTC", "x", "LOW",
                "APPROVED", NULL);               /* Saturday, too late */
    assert_int_equal(bill(&set, &rep, lines), 0);
    tt_payload_free(&rep.payload);

    tt_rule_set_free(&set);
}


static void
test_rule_set_by_effective_date(void **state)
{
    tt_rule_set_t   sets[3];
    tt_rulebook_t   rb;
    long long       jan, mar;

    (void) state;

    set_make(&sets[0], seed_rules);
    set_make(&sets[1], seed_rules);
    set_make(&sets[2], seed_rules);

    jan = tt_time_civil_to_epoch(2026, 1, 1, 0, 0, 0);
    mar = tt_time_civil_to_epoch(2026, 3, 1, 0, 0, 0);

    sets[0].version = 1;
    sets[0].effective_from = jan;
    sets[1].version = 2;
    sets[1].effective_from = mar;
    sets[2].version = 3;                 /* a correction of version 1 */
    sets[2].effective_from = jan;

    rb.sets = sets;
    rb.nsets = 3;
    rb.max_version = 3;

    assert_null(tt_rulebook_pick(&rb, jan - 1));
    assert_int_equal(tt_rulebook_pick(&rb, jan)->version, 3);
    assert_int_equal(tt_rulebook_pick(&rb, mar - 1)->version, 3);
    assert_int_equal(tt_rulebook_pick(&rb, mar)->version, 2);

    tt_rule_set_free(&sets[0]);
    tt_rule_set_free(&sets[1]);
    tt_rule_set_free(&sets[2]);
}


static void
test_invalid_rules_are_named(void **state)
{
    (void) state;

    expect_invalid("{\"rules\": [", "not valid JSON: parse error: "
                   "premature EOF");
    expect_invalid("{\"rules\": []}",
                   "rules: empty; a rule set needs a rule");
    expect_invalid("{\"rule\": []}", "unknown key \"rule\" (expected name, "
                   "description, effective_from, rules)");
    expect_invalid("{\"rules\": [{\"bill_code\": \"X\", \"quantity\": 1}]}",
                   "rules[0]: id: missing (every rule needs a string id)");
    expect_invalid("{\"rules\": [{\"id\": \"adh\", \"quantity\": 1}]}",
                   "rule \"adh\" (rules[0]): bill_code: missing (a string "
                   "of 1 to 64 characters)");
    expect_invalid("{\"rules\": [{\"id\": \"adh\", \"bill_code\": \"ADH\"}]}",
                   "rule \"adh\" (rules[0]): give exactly one of quantity "
                   "(a number) and quantity_field (a report field tag)");
    expect_invalid("{\"rules\": [{\"id\": \"a\", \"bill_code\": \"A\","
                   " \"quantity\": 1}, {\"id\": \"alr\", \"bill_code\":"
                   " \"ALR\", \"quantity\": -2}]}",
                   "rule \"alr\" (rules[1]): quantity: expected a "
                   "non-negative number");
    expect_invalid("{\"rules\": [{\"id\": \"n\", \"bill_code\": \"N\","
                   " \"quantity\": 1, \"match\": {\"time_of_day\":"
                   " {\"from\": \"25:00\", \"to\": \"06:00\"}}}]}",
                   "rule \"n\" (rules[0]): match.time_of_day: \"from\" and "
                   "\"to\" must be 24-hour times \"HH:MM\" (00:00..24:00)");
    expect_invalid("{\"rules\": [{\"id\": \"n\", \"bill_code\": \"N\","
                   " \"quantity\": 1, \"match\": {\"weekdays\":"
                   " [\"funday\"]}}]}",
                   "rule \"n\" (rules[0]): match.weekdays: \"funday\" is not "
                   "a day (mon, tue, wed, thu, fri, sat, sun)");
    expect_invalid("{\"rules\": [{\"id\": \"n\", \"bill_code\": \"N\","
                   " \"quantity\": 1, \"match\": {\"client\": [\"acme\"]}}]}",
                   "rule \"n\" (rules[0]): match.client: expected integer "
                   "ids");
    expect_invalid("{\"rules\": [{\"id\": \"n\", \"bill_code\": \"N\","
                   " \"quantity\": 1, \"match\": {\"colour\": \"red\"}}]}",
                   "rule \"n\" (rules[0]): match: unknown key \"colour\" "
                   "(expected client, site, report_template, category, "
                   "severity, status, time_of_day, weekdays)");
    expect_invalid("{\"rules\": [{\"id\": \"d\", \"bill_code\": \"A\","
                   " \"quantity\": 1}, {\"id\": \"d\", \"bill_code\": \"B\","
                   " \"quantity\": 1}]}",
                   "rule \"d\" (rules[1]): id: also used by rules[0]");
    expect_invalid("{\"rules\": [{\"id\": \"a b\", \"bill_code\": \"A\","
                   " \"quantity\": 1}]}",
                   "rule \"a b\" (rules[0]): id: only letters, digits, "
                   "\"-\", \"_\" and \".\" are allowed");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_seed_rule_bills_adh_for_any_client),
        cmocka_unit_test(test_quantity_from_tagged_field),
        cmocka_unit_test(test_after_hours_window_across_midnight),
        cmocka_unit_test(test_match_dimensions),
        cmocka_unit_test(test_rule_set_by_effective_date),
        cmocka_unit_test(test_invalid_rules_are_named),
    };

    return cmocka_run_group_tests_name("worker_rules", tests, NULL, NULL);
}
