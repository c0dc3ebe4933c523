/*
 * libFuzzer harness: date-time text (src/common/tt_time.c), the worker's
 * parser of TrackTik date-times (the module links only tt_version.h of
 * src/common).
 *
 * The input is handed over exactly as it is, not NUL terminated, so a
 * read past len is an overflow.  An accepted date-time must survive the
 * round trip through epoch seconds, and formatting any instant of years
 * 0 to 9999 (the ones four-digit text can name) must fit the documented
 * 21 bytes.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tt_time.h"
#include "tz.h"


#define FUZZ_MIN_T   -62167219200LL     /* 0000-01-01T00:00:00Z */
#define FUZZ_SPAN    315537897600ULL    /* to 10000-01-01T00:00:00Z */


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *s, out[21];
    long long       t, instant;
    uint64_t        raw;
    struct tm       tm;
    tt_datetime_t   dt;

    s = malloc(size ? size : 1);
    if (s == NULL) {
        return 0;
    }

    memcpy(s, data, size);

    if (tt_time_parse(s, size, &dt) == 0) {
        if (dt.month < 1 || dt.month > 12 || dt.day < 1 || dt.day > 31
            || dt.hour < 0 || dt.hour > 23 || dt.minute < 0
            || dt.minute > 59 || dt.second < 0 || dt.second > 60
            || dt.usec < 0 || dt.usec > 999999)
        {
            abort();            /* accepted out of its documented range */
        }

        t = tt_time_civil_to_epoch(dt.year, dt.month, dt.day, dt.hour,
                                   dt.minute, dt.second);

        tt_time_epoch_to_civil(t, &tm);

        if (dt.second < 60
            && (tm.tm_year + 1900 != dt.year || tm.tm_mon + 1 != dt.month
                || tm.tm_mday != dt.day || tm.tm_hour != dt.hour
                || tm.tm_min != dt.minute || tm.tm_sec != dt.second))
        {
            abort();            /* the round trip lost the date */
        }

        tt_time_format_utc(t, out, sizeof(out));

        (void) tt_tz_instant(&dt, "UTC", &instant);
        (void) tt_tz_instant(&dt, "America/New_York", &instant);
    }

    if (size >= sizeof(raw)) {
        memcpy(&raw, data, sizeof(raw));
        t = FUZZ_MIN_T + (long long) (raw % FUZZ_SPAN);
        tt_time_epoch_to_civil(t, &tm);
        tt_time_format_utc(t, out, sizeof(out));
    }

    free(s);

    return 0;
}
