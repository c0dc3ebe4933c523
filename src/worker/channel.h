/*
 * channel: a side channel to the TrackTik tenant: a database connection
 * of its own (so it never touches a batch's transaction), the OAuth
 * session stored there, and an API client on top.  Enrichment, photos,
 * billing sync and the auth commands each hold one.
 *
 * Opened at once (tt_channel_open: commands, billing sync) or lazily
 * (tt_channel_init + tt_channel_ready: the run loop's helpers, which run
 * without TrackTik until someone logs in, checked once a minute).
 */

#ifndef TT_CHANNEL_H
#define TT_CHANNEL_H

#include <stddef.h>
#include <libpq-fe.h>

#include "api.h"


#define TT_CHANNEL_RECHECK  60.0    /* seconds between session checks */


typedef struct {
    const char         *name;       /* "enrich": events enrich_on/_off */
    const char         *dsn;
    tt_api_settings_t   set;
    PGconn             *conn;
    tt_api_t            api;
    int                 api_open;
    int                 active;
    double              checked_at;
} tt_channel_t;


/* connects and opens the API; -1 with err (then closed again) */
int tt_channel_open(tt_channel_t *ch, const char *dsn,
    const tt_api_settings_t *set, char *err, size_t errlen);

/* nothing is opened yet */
void tt_channel_init(tt_channel_t *ch, const char *name, const char *dsn,
    const tt_api_settings_t *set);

/*
 * 1 when the channel can be used now: connected, a session stored, the
 * API open.  0 otherwise (logged as <name>_off once per check).
 */
int tt_channel_ready(tt_channel_t *ch);

/* after a database error: the next tt_channel_ready() checks again */
void tt_channel_lost(tt_channel_t *ch);

void tt_channel_close(tt_channel_t *ch);

#endif /* TT_CHANNEL_H */
