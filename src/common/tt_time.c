/*
 * tt_time: date-time text parsing with no locale or time zone state.
 *
 * Civil-date arithmetic uses the days-from-civil algorithm (proleptic
 * Gregorian calendar), so it is exact for any year and needs no timegm().
 */

#include <string.h>

#include "tt_time.h"


static int tt_time_digits(const char *s, size_t len, size_t pos, int n,
    int *out);
static int tt_time_days_in_month(int year, int month);


int
tt_time_parse(const char *s, size_t len, tt_datetime_t *dt)
{
    int     sign, oh, om;
    size_t  p;

    memset(dt, 0, sizeof(*dt));

    if (tt_time_digits(s, len, 0, 4, &dt->year) != 0
        || len < 10 || s[4] != '-' || s[7] != '-'
        || tt_time_digits(s, len, 5, 2, &dt->month) != 0
        || tt_time_digits(s, len, 8, 2, &dt->day) != 0)
    {
        return -1;
    }

    if (dt->month < 1 || dt->month > 12 || dt->day < 1
        || dt->day > tt_time_days_in_month(dt->year, dt->month))
    {
        return -1;
    }

    if (len == 10) {
        return 0;
    }

    if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        || tt_time_digits(s, len, 11, 2, &dt->hour) != 0
        || len < 16 || s[13] != ':'
        || tt_time_digits(s, len, 14, 2, &dt->minute) != 0)
    {
        return -1;
    }

    dt->has_time = 1;
    p = 16;

    if (p < len && s[p] == ':') {
        if (tt_time_digits(s, len, p + 1, 2, &dt->second) != 0) {
            return -1;
        }
        p += 3;

        if (p < len && (s[p] == '.' || s[p] == ',')) {
            int  scale = 100000;

            p++;
            if (p >= len || s[p] < '0' || s[p] > '9') {
                return -1;
            }
            while (p < len && s[p] >= '0' && s[p] <= '9') {
                dt->usec += (s[p] - '0') * scale;
                scale /= 10;
                p++;
            }
        }
    }

    if (dt->hour > 23 || dt->minute > 59 || dt->second > 60) {
        return -1;
    }

    if (p == len) {
        return 0;
    }

    if (s[p] == 'Z' || s[p] == 'z') {
        dt->has_offset = 1;
        return (p + 1 == len) ? 0 : -1;
    }

    if (s[p] != '+' && s[p] != '-') {
        return -1;
    }

    sign = (s[p] == '-') ? -1 : 1;
    p++;

    if (tt_time_digits(s, len, p, 2, &oh) != 0) {
        return -1;
    }
    p += 2;
    om = 0;

    if (p < len) {
        if (s[p] == ':') {
            p++;
        }
        if (tt_time_digits(s, len, p, 2, &om) != 0) {
            return -1;
        }
        p += 2;
    }

    if (p != len || oh > 18 || om > 59) {
        return -1;
    }

    dt->has_offset = 1;
    dt->offset = sign * (oh * 3600 + om * 60);

    return 0;
}


long long
tt_time_civil_to_epoch(int year, int month, int day, int hour, int minute,
    int second)
{
    long long  y, era, yoe, doy, doe, days;

    y = (long long) year - (month <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    days = era * 146097 + doe - 719468;

    return days * 86400 + hour * 3600 + minute * 60 + second;
}


void
tt_time_epoch_to_civil(long long t, struct tm *tm)
{
    long long  days, secs, era, doe, yoe, y, doy, mp, d, m;

    days = t / 86400;
    secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }

    memset(tm, 0, sizeof(*tm));
    tm->tm_hour = (int) (secs / 3600);
    tm->tm_min = (int) (secs % 3600 / 60);
    tm->tm_sec = (int) (secs % 60);
    tm->tm_wday = (int) ((days % 7 + 11) % 7);     /* 1970-01-01: Thursday */

    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp + (mp < 10 ? 3 : -9);

    tm->tm_year = (int) (y + (m <= 2) - 1900);
    tm->tm_mon = (int) (m - 1);
    tm->tm_mday = (int) d;
}


void
tt_time_format_utc(long long t, char *buf, size_t size)
{
    struct tm  tm;

    tt_time_epoch_to_civil(t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


static int
tt_time_digits(const char *s, size_t len, size_t pos, int n, int *out)
{
    int  i, v;

    if (pos + n > len) {
        return -1;
    }

    v = 0;
    for (i = 0; i < n; i++) {
        if (s[pos + i] < '0' || s[pos + i] > '9') {
            return -1;
        }
        v = v * 10 + (s[pos + i] - '0');
    }

    *out = v;
    return 0;
}


static int
tt_time_days_in_month(int year, int month)
{
    static const int  days[] = { 31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31 };

    if (month == 2
        && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
    {
        return 29;
    }

    return days[month - 1];
}
