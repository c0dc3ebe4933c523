/*
 * tz: the site's civil time.  glibc's localtime_r()/mktime() follow the TZ
 * environment variable after tzset(); the zone last selected is cached so
 * a stream of reports from one zone costs one tzset().
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tz.h"


static int tt_tz_select(const char *name);

static char  tt_tz_current[128];     /* the zone TZ is set to */
static char  tt_tz_known[128];       /* the last zone found valid */


int
tt_tz_valid(const char *name)
{
    char  path[256];

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

    if (strcmp(name, tt_tz_known) == 0) {
        return 1;
    }

    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);

    if (access(path, R_OK) != 0) {
        return 0;
    }

    snprintf(tt_tz_known, sizeof(tt_tz_known), "%s", name);

    return 1;
}


int
tt_tz_local(long long t, const char *name, struct tm *out)
{
    time_t  tt;

    if (strcmp(name, "UTC") == 0) {
        tt_time_epoch_to_civil(t, out);
        return 0;
    }

    if (tt_tz_select(name) != 0) {
        return -1;
    }

    tt = (time_t) t;
    if (localtime_r(&tt, out) == NULL) {
        return -1;
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
