/*
 * worker_time: ISO 8601 parsing (src/common/tt_time.c) and civil time in
 * a site's time zone (src/worker/tz.c), DST transitions included.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "tt_time.h"
#include "tz.h"


static long long
parse_instant(const char *s, const char *zone)
{
    long long      t;
    tt_datetime_t  dt;

    assert_int_equal(tt_time_parse(s, strlen(s), &dt), 0);
    assert_int_equal(tt_tz_instant(&dt, zone, &t), 0);

    return t;
}


static void
test_parse_forms(void **state)
{
    tt_datetime_t  dt;

    (void) state;

    assert_int_equal(tt_time_parse("2026-03-02T23:30:15.25+05:30", 28, &dt),
                     0);
    assert_int_equal(dt.year, 2026);
    assert_int_equal(dt.month, 3);
    assert_int_equal(dt.day, 2);
    assert_int_equal(dt.hour, 23);
    assert_int_equal(dt.minute, 30);
    assert_int_equal(dt.second, 15);
    assert_int_equal(dt.usec, 250000);
    assert_int_equal(dt.has_offset, 1);
    assert_int_equal(dt.offset, 5 * 3600 + 30 * 60);

    assert_int_equal(tt_time_parse("2026-03-02 23:30:00", 19, &dt), 0);
    assert_int_equal(dt.has_offset, 0);

    assert_int_equal(tt_time_parse("2026-03-02T23:30Z", 17, &dt), 0);
    assert_int_equal(dt.has_offset, 1);
    assert_int_equal(dt.offset, 0);

    assert_int_equal(tt_time_parse("2026-03-02T23:30:00-0400", 24, &dt), 0);
    assert_int_equal(dt.offset, -4 * 3600);

    assert_int_equal(tt_time_parse("2024-02-29", 10, &dt), 0);
    assert_int_equal(dt.has_time, 0);
}


static void
test_parse_rejects(void **state)
{
    tt_datetime_t  dt;
    const char    *bad[] = {
        "", "2026", "2026-13-01", "2026-02-30", "2023-02-29",
        "2026-03-02T24:00:00Z", "2026-03-02T23:61", "2026-03-02X23:30",
        "2026-03-02T23:30:00+5", "2026-03-02T23:30:00Zjunk",
        "yesterday 14:00", "2026-03-02T23:30:00.Z", NULL
    };
    int            i;

    (void) state;

    for (i = 0; bad[i] != NULL; i++) {
        assert_int_equal(tt_time_parse(bad[i], strlen(bad[i]), &dt), -1);
    }
}


static void
test_epoch_round_trip(void **state)
{
    char       buf[32];
    struct tm  tm;

    (void) state;

    assert_int_equal(tt_time_civil_to_epoch(1970, 1, 1, 0, 0, 0), 0);
    assert_int_equal(tt_time_civil_to_epoch(2000, 3, 1, 0, 0, 0),
                     951868800);

    tt_time_epoch_to_civil(951868800 - 1, &tm);
    assert_int_equal(tm.tm_year, 100);
    assert_int_equal(tm.tm_mon, 1);
    assert_int_equal(tm.tm_mday, 29);           /* 2000 is a leap year */
    assert_int_equal(tm.tm_hour, 23);
    assert_int_equal(tm.tm_wday, 2);            /* a Tuesday */

    tt_time_format_utc(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
}


static void
test_zone_offsets_and_dst(void **state)
{
    struct tm  tm;
    long long  t;

    (void) state;

    /* an offset in the text wins over the zone */
    t = parse_instant("2026-03-02T23:30:00Z", "America/New_York");
    assert_int_equal(t, tt_time_civil_to_epoch(2026, 3, 2, 23, 30, 0));

    /* winter: New York is UTC-5 */
    assert_int_equal(tt_tz_local(t, "America/New_York", &tm), 0);
    assert_int_equal(tm.tm_hour, 18);
    assert_int_equal(tm.tm_mday, 2);

    /* summer (after 2026-03-08 02:00): UTC-4 */
    t = tt_time_civil_to_epoch(2026, 7, 1, 3, 30, 0);
    assert_int_equal(tt_tz_local(t, "America/New_York", &tm), 0);
    assert_int_equal(tm.tm_hour, 23);
    assert_int_equal(tm.tm_mday, 30);           /* the evening before */
    assert_int_equal(tm.tm_mon, 5);

    /* text without an offset is read in the zone */
    t = parse_instant("2026-07-01 09:00:00", "Europe/Paris");
    assert_int_equal(t, tt_time_civil_to_epoch(2026, 7, 1, 7, 0, 0));

    /* alternating zones keep giving the right answers */
    assert_int_equal(tt_tz_local(t, "Asia/Tokyo", &tm), 0);
    assert_int_equal(tm.tm_hour, 16);
    assert_int_equal(tt_tz_local(t, "UTC", &tm), 0);
    assert_int_equal(tm.tm_hour, 7);
    assert_int_equal(tt_tz_local(t, "Europe/Paris", &tm), 0);
    assert_int_equal(tm.tm_hour, 9);
}


static void
test_dst_change_day_and_cache(void **state)
{
    int        i;
    struct tm  tm;

    (void) state;

    /* asked twice each, so the second answer may come from the cache */
    for (i = 0; i < 2; i++) {
        /* 2026-03-08, New York springs forward at 02:00 local (07:00Z) */
        assert_int_equal(tt_tz_local(tt_time_civil_to_epoch(2026, 3, 8, 6,
                             59, 0), "America/New_York", &tm), 0);
        assert_int_equal(tm.tm_hour, 1);
        assert_int_equal(tm.tm_min, 59);

        assert_int_equal(tt_tz_local(tt_time_civil_to_epoch(2026, 3, 8, 7,
                             0, 0), "America/New_York", &tm), 0);
        assert_int_equal(tm.tm_hour, 3);
        assert_int_equal(tm.tm_min, 0);

        /* the day before and the day after, in between another zone */
        assert_int_equal(tt_tz_local(tt_time_civil_to_epoch(2026, 3, 7, 23,
                             30, 0), "America/New_York", &tm), 0);
        assert_int_equal(tm.tm_hour, 18);
        assert_int_equal(tm.tm_wday, 6);

        assert_int_equal(tt_tz_local(tt_time_civil_to_epoch(2026, 3, 9, 12,
                             0, 0), "Europe/London", &tm), 0);
        assert_int_equal(tm.tm_hour, 12);

        assert_int_equal(tt_tz_local(tt_time_civil_to_epoch(2026, 3, 9, 3,
                             30, 0), "America/New_York", &tm), 0);
        assert_int_equal(tm.tm_hour, 23);
        assert_int_equal(tm.tm_mday, 8);
        assert_int_equal(tm.tm_wday, 0);

        /* half-hour zone */
        assert_int_equal(tt_tz_local(tt_time_civil_to_epoch(2026, 3, 9, 3,
                             30, 0), "Asia/Kolkata", &tm), 0);
        assert_int_equal(tm.tm_hour, 9);
        assert_int_equal(tm.tm_min, 0);
    }
}


static void
test_zone_validation(void **state)
{
    struct tm  tm;

    (void) state;

    assert_true(tt_tz_valid("UTC"));
    assert_true(tt_tz_valid("America/Toronto"));
    assert_false(tt_tz_valid("Mars/Olympus_Mons"));
    assert_false(tt_tz_valid("../../etc/passwd"));
    assert_false(tt_tz_valid("/etc/localtime"));
    assert_false(tt_tz_valid(""));
    assert_int_equal(tt_tz_local(0, "Mars/Olympus_Mons", &tm), -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_epoch_round_trip),
        cmocka_unit_test(test_zone_offsets_and_dst),
        cmocka_unit_test(test_dst_change_day_and_cache),
        cmocka_unit_test(test_zone_validation),
    };

    return cmocka_run_group_tests_name("worker_time", tests, NULL, NULL);
}
