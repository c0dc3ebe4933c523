/*
 * tz: civil time in a named IANA time zone (the site's), using the system
 * tz database.  Process-wide state: the worker is single threaded.
 */

#ifndef TT_TZ_H
#define TT_TZ_H

#include <time.h>

#include "tt_time.h"


/* 1 when name is a zone the tz database knows ("UTC" always is) */
int tt_tz_valid(const char *name);

/* local civil time of instant t in zone name; -1 on an unknown zone */
int tt_tz_local(long long t, const char *name, struct tm *out);

/*
 * The instant of a parsed date-time: its own offset when it has one,
 * otherwise the civil time read in zone name.  -1 on an unknown zone.
 */
int tt_tz_instant(const tt_datetime_t *dt, const char *name, long long *out);

#endif /* TT_TZ_H */
