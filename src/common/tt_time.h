/*
 * tt_time: ISO 8601 / TrackTik date-time text, parsed without locale or
 * time zone state.  Used by the worker and its unit tests.
 */

#ifndef TT_TIME_H
#define TT_TIME_H

#include <stddef.h>
#include <time.h>


typedef struct {
    int     year;
    int     month;          /* 1..12 */
    int     day;            /* 1..31 */
    int     hour;           /* 0..23 */
    int     minute;         /* 0..59 */
    int     second;         /* 0..60 (leap second tolerated) */
    int     usec;           /* fraction of a second, microseconds */
    int     has_time;       /* 0: a bare date */
    int     has_offset;     /* 1: "Z" or "+HH:MM" given */
    int     offset;         /* seconds east of UTC, when has_offset */
} tt_datetime_t;


/*
 * Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH[:MM]|-HH[:MM]]"
 * (a space may stand for the "T").  Returns 0, or -1 when the text is not
 * such a date-time or names an impossible date.
 */
int tt_time_parse(const char *s, size_t len, tt_datetime_t *dt);

/* seconds since the epoch of the civil date-time taken as UTC */
long long tt_time_civil_to_epoch(int year, int month, int day, int hour,
    int minute, int second);

/* the inverse: epoch seconds to UTC civil fields (struct tm semantics) */
void tt_time_epoch_to_civil(long long t, struct tm *tm);

/* "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes) */
void tt_time_format_utc(long long t, char *buf, size_t size);

#endif /* TT_TIME_H */
