/*
 * worker_notify: notification rule files (errors name the rule or
 * recipient and the field), mail addresses, the Standard Webhooks
 * signature (the specification's own example), loopback relays, and a
 * mail that no header injection or hidden field can get into.
 *
 * Which reports a rule matches is decided by the database
 * (notify_rule_matches(), sql/functions/notify.sql) in the ledger's
 * insert transaction; t/worker/notify_match.t tests it end to end.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "notify.h"
#include "notify_send.h"
#include "notify_mail.h"


static void
expect_error(const char *json, const char *want)
{
    char               err[1024];
    tt_notify_rules_t  nr;

    err[0] = '\0';
    assert_int_equal(tt_notify_rules_parse(json, strlen(json), ".", &nr, err,
                                           sizeof(err)), -1);
    if (strstr(err, want) == NULL) {
        fail_msg("error \"%s\" does not say \"%s\"", err, want);
    }
    tt_notify_rules_free(&nr);
}


static void
test_rules_valid(void **state)
{
    char               err[1024];
    const char        *json;
    tt_notify_rules_t  nr;

    (void) state;

    json = "{\"recipients\": {\"ops\": {\"email\": \"ops@client3.example\"},"
           " \"mgr\": {\"portal_role\": \"client\", \"sites\": [1, 2]}},"
           " \"rules\": [{\"id\": \"c3\", \"match\": {\"client\": 3},"
           " \"min_severity\": \"high\", \"notify\": [\"ops\", \"mgr\"]},"
           " {\"id\": \"d\", \"notify\": \"ops\", \"mode\": \"weekly\","
           " \"digest_at\": \"08:30\", \"digest_weekday\": \"mon\"}]}";

    assert_int_equal(tt_notify_rules_parse(json, strlen(json), ".", &nr, err,
                                           sizeof(err)), 0);
    assert_int_equal(nr.nrules, 2);
    assert_int_equal(nr.nrecipients, 2);
    assert_string_equal(nr.secrets_json, "{}");
    tt_notify_rules_free(&nr);
}


static void
test_rules_errors(void **state)
{
    (void) state;

    expect_error("[]", "expected a JSON object");
    expect_error("{\"rules\": []}", "recipients: expected an object");
    expect_error("{\"recipients\": {\"a\": {\"email\": \"a@b.example\"}},"
                 " \"rules\": [{\"id\": \"r\", \"notify\": \"b\"}]}",
                 "rule \"r\" (rules[0]): notify: \"b\" is not a recipient");
    expect_error("{\"recipients\": {\"a\": {\"email\": \"a@b.example\"}},"
                 " \"rules\": [{\"id\": \"r\", \"notify\": \"a\","
                 " \"match\": {\"time_of_day\": {\"from\": \"22:00\"}}}]}",
                 "rule \"r\" (rules[0]): match.time_of_day");
    expect_error("{\"recipients\": {\"a\": {\"email\": \"a@b.example\"}},"
                 " \"rules\": [{\"id\": \"r\", \"notify\": \"a\","
                 " \"min_severity\": \"URGENT\"}]}",
                 "rule \"r\" (rules[0]): min_severity");
    expect_error("{\"recipients\": {\"a\": {\"email\": \"a@b.example\"}},"
                 " \"rules\": [{\"id\": \"r\", \"notify\": \"a\","
                 " \"mode\": \"weekly\", \"digest_at\": \"08:00\","
                 " \"digest_weekday\": \"n m\"}]}",
                 "rule \"r\" (rules[0]): digest_weekday");
    expect_error("{\"recipients\": {\"a b\": {\"email\": \"a@b.example\"}},"
                 " \"rules\": [{\"id\": \"r\", \"notify\": \"a b\"}]}",
                 "recipient \"a b\": the name");
    expect_error("{\"recipients\": {\"a\": {\"email\": \"a@b\"}},"
                 " \"rules\": [{\"id\": \"r\", \"notify\": \"a\"}]}",
                 "recipient \"a\": email: \"a@b\" is not a mail address");
    expect_error("{\"recipients\": {\"h\": {"
                 " \"webhook\": \"https://x.example/\","
                 " \"secret_file\": \"/nonexistent/secret\"}},"
                 " \"rules\": [{\"id\": \"r\", \"notify\": \"h\"}]}",
                 "recipient \"h\": secret_file: cannot open");
}


static void
test_email_valid(void **state)
{
    (void) state;

    assert_true(tt_notify_email_valid("ops@client3.example"));
    assert_true(tt_notify_email_valid("first.last+tag@mail.example.com"));
    assert_false(tt_notify_email_valid("ops"));
    assert_false(tt_notify_email_valid("@client3.example"));
    assert_false(tt_notify_email_valid("ops@localhost"));
    assert_false(tt_notify_email_valid("ops@a..example"));
    assert_false(tt_notify_email_valid("a@b@c.example"));
    assert_false(tt_notify_email_valid("ops@x.example\r\nBcc: y@z.example"));
    assert_false(tt_notify_email_valid("o ps@x.example"));
    assert_false(tt_notify_email_valid("<ops@x.example>"));
}


/* the example of the Standard Webhooks specification */
static void
test_webhook_signature(void **state)
{
    char  sig[128];

    (void) state;

    assert_int_equal(tt_notify_webhook_signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
        "{\"test\": 2432232314}", sig, sizeof(sig)), 0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");

    assert_int_equal(tt_notify_webhook_signature("not-a-secret", "m", 1, "{}",
                                                 sig, sizeof(sig)), -1);
}


static void
test_loopback(void **state)
{
    (void) state;

    assert_true(tt_notify_url_loopback("smtp://127.0.0.1:2525"));
    assert_true(tt_notify_url_loopback("smtp://localhost:25"));
    assert_true(tt_notify_url_loopback("smtp://[::1]:25"));
    assert_false(tt_notify_url_loopback("smtp://relay.example:587"));
    assert_false(tt_notify_url_loopback("smtp://localhost.evil.example:25"));
    assert_false(tt_notify_url_loopback("smtp://10.0.0.1:25"));
}


static void
test_mail(void **state)
{
    char              *msg, err[256];
    tt_notify_note_t   note;

    (void) state;

    memset(&note, 0, sizeof(note));
    note.id = 42;
    note.channel = "email";
    note.address = "ops@client3.example";
    note.announce = "severity_raised:SEVERE";
    note.report_id = 7;
    note.unsubscribe = "42.abc";
    note.item = "{\"id\": 7, \"severity\": \"SEVERE\","
                " \"site\": {\"name\": \"Main\\r\\nBcc: x@evil.example\"},"
                " \"fields\": [{\"label\": \"Note\","
                " \"value\": \"<b>hi</b>\"}]}";

    msg = tt_notify_mail(&note, "alerts@guards.example",
                         "https://portal.example/portal/", err, sizeof(err));
    assert_non_null(msg);

    assert_non_null(strstr(msg, "Message-ID: <tracktik-notification-42@"
                                "guards.example>\r\n"));
    assert_non_null(strstr(msg, "Subject: Severity raised to SEVERE: "
                                "incident 7 at MainBcc: x@evil.example\r\n"));
    assert_null(strstr(msg, "\r\nBcc:"));
    assert_non_null(strstr(msg, "&lt;b&gt;hi&lt;/b&gt;"));
    assert_non_null(strstr(msg, "https://portal.example/portal/#incident=7"));
    assert_non_null(strstr(msg, "notify/unsubscribe?token=42.abc"));

    free(msg);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_rules_valid),
        cmocka_unit_test(test_rules_errors),
        cmocka_unit_test(test_email_valid),
        cmocka_unit_test(test_webhook_signature),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_mail),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
