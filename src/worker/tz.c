/*
 * tz: the site's civil time.  glibc's localtime_r()/mktime() follow the TZ
 * environment variable after tzset(), and every tzset() to another zone
 * reads its file again.  So each zone's UTC offset is remembered for the
 * UTC day around the instants asked for, when it is the same at both ends
 * of that day (no DST change in it): reports from several zones then cost
 * a zone switch per zone and day, not per report.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tz.h"


#define TT_TZ_CACHE  16


typedef struct {
    char       name[104];
    long long  from;                /* [from, to): offset constant */
    long long  to;
    long       offset;              /* seconds east of UTC */
} tt_tz_span_t;


static int tt_tz_select(const char *name);

static char          tt_tz_current[128];     /* the zone TZ is set to */
static char          tt_tz_known[TT_TZ_CACHE][104];  /* zones found valid */
static unsigned      tt_tz_known_next;
static tt_tz_span_t  tt_tz_spans[TT_TZ_CACHE];
static unsigned      tt_tz_spans_next;


int
tt_tz_valid(const char *name)
{
    char      path[256];
    unsigned  i;

    if (name == NULL || name[0] == '\0' || strlen(name) > 100) {
        return 0;
    }

    if (strcmp(name, "UTC") == 0) {
        return 1;
    }

    /* no absolute paths, no climbing out of the zoneinfo tree */
    if (name[0] == '/' || name[0] == '.' || strstr(name, "..") != NULL) {
        return 0;
    }

    for (i = 0; i < TT_TZ_CACHE; i++) {
        if (strcmp(name, tt_tz_known[i]) == 0) {
            return 1;
        }
    }

    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);

    if (access(path, R_OK) != 0) {
        return 0;
    }

    snprintf(tt_tz_known[tt_tz_known_next++ % TT_TZ_CACHE],
             sizeof(tt_tz_known[0]), "%s", name);

    return 1;
}


int
tt_tz_local(long long t, const char *name, struct tm *out)
{
    long           offset;
    time_t         tt, day;
    unsigned       i;
    struct tm      edge;
    tt_tz_span_t  *span;

    if (strcmp(name, "UTC") == 0) {
        tt_time_epoch_to_civil(t, out);
        return 0;
    }

    for (i = 0; i < TT_TZ_CACHE; i++) {
        span = &tt_tz_spans[i];

        if (t >= span->from && t < span->to
            && strcmp(span->name, name) == 0)
        {
            tt_time_epoch_to_civil(t + span->offset, out);
            return 0;
        }
    }

    if (tt_tz_select(name) != 0) {
        return -1;
    }

    tt = (time_t) t;
    if (localtime_r(&tt, out) == NULL) {
        return -1;
    }

    offset = out->tm_gmtoff;

    /* remember the offset for this UTC day if it holds all day long */
    day = (time_t) (t - ((t % 86400) + 86400) % 86400);

    if (strlen(name) < sizeof(span->name)
        && localtime_r(&day, &edge) != NULL && edge.tm_gmtoff == offset
        && (day += 86400 - 1, localtime_r(&day, &edge) != NULL)
        && edge.tm_gmtoff == offset)
    {
        span = &tt_tz_spans[tt_tz_spans_next++ % TT_TZ_CACHE];
        snprintf(span->name, sizeof(span->name), "%s", name);
        span->from = day - (86400 - 1);
        span->to = day + 1;
        span->offset = offset;
    }

    return 0;
}


int
tt_tz_instant(const tt_datetime_t *dt, const char *name, long long *out)
{
    struct tm  tm;
    time_t     t;

    if (dt->has_offset) {
        *out = tt_time_civil_to_epoch(dt->year, dt->month, dt->day,
                                      dt->hour, dt->minute, dt->second)
               - dt->offset;
        return 0;
    }

    if (strcmp(name, "UTC") == 0) {
        *out = tt_time_civil_to_epoch(dt->year, dt->month, dt->day,
                                      dt->hour, dt->minute, dt->second);
        return 0;
    }

    if (tt_tz_select(name) != 0) {
        return -1;
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = dt->year - 1900;
    tm.tm_mon = dt->month - 1;
    tm.tm_mday = dt->day;
    tm.tm_hour = dt->hour;
    tm.tm_min = dt->minute;
    tm.tm_sec = dt->second;
    tm.tm_isdst = -1;

    t = mktime(&tm);
    if (t == (time_t) -1 && !(tm.tm_year == 69 && tm.tm_mday == 31)) {
        return -1;
    }

    *out = (long long) t;
    return 0;
}


static int
tt_tz_select(const char *name)
{
    if (strcmp(tt_tz_current, name) == 0) {
        return 0;
    }

    if (!tt_tz_valid(name)) {
        return -1;
    }

    if (setenv("TZ", name, 1) != 0) {
        return -1;
    }
    tzset();

    snprintf(tt_tz_current, sizeof(tt_tz_current), "%s", name);

    return 0;
}
