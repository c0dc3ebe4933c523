/*
 * channel: one database connection and one API client per side channel.
 */

#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "db.h"
#include "log.h"


int
tt_channel_open(tt_channel_t *ch, const char *dsn,
    const tt_api_settings_t *set, char *err, size_t errlen)
{
    memset(ch, 0, sizeof(*ch));
    ch->dsn = dsn;
    ch->set = *set;

    ch->conn = tt_db_connect(dsn, err, errlen);
    if (ch->conn == NULL) {
        return -1;
    }

    if (tt_api_open(&ch->api, ch->conn, &ch->set, err, errlen)
        != TT_API_OK)
    {
        tt_api_close(&ch->api);
        PQfinish(ch->conn);
        ch->conn = NULL;
        return -1;
    }

    ch->api_open = 1;
    ch->active = 1;
    return 0;
}


void
tt_channel_init(tt_channel_t *ch, const char *name, const char *dsn,
    const tt_api_settings_t *set)
{
    memset(ch, 0, sizeof(*ch));
    ch->name = name;
    ch->dsn = dsn;
    ch->set = *set;
    ch->checked_at = -TT_CHANNEL_RECHECK;
}


int
tt_channel_ready(tt_channel_t *ch)
{
    char       err[1024], q[1100];
    double     now;
    PGresult  *res;

    if (ch->active && ch->conn != NULL
        && PQstatus(ch->conn) == CONNECTION_OK)
    {
        return 1;
    }

    now = tt_api_now();

    if (now - ch->checked_at < TT_CHANNEL_RECHECK) {
        return 0;
    }

    ch->checked_at = now;
    ch->active = 0;

    if (ch->conn != NULL && PQstatus(ch->conn) != CONNECTION_OK) {
        PQreset(ch->conn);
    }

    if (ch->conn == NULL) {
        ch->conn = tt_db_connect(ch->dsn, err, sizeof(err));
        if (ch->conn == NULL) {
            tt_log(TT_LOG_WARN, "event=%s_off error=%s", ch->name,
                   tt_log_quote(err, q, sizeof(q)));
            return 0;
        }
    }

    res = PQexec(ch->conn, "SELECT count(*) FROM tracktik_oauth");
    if (PQresultStatus(res) != PGRES_TUPLES_OK
        || strcmp(PQgetvalue(res, 0, 0), "0") == 0)
    {
        /* no session (or no schema for it): the worker runs without */
        PQclear(res);
        return 0;
    }
    PQclear(res);

    if (!ch->api_open) {
        if (tt_api_open(&ch->api, ch->conn, &ch->set, err, sizeof(err))
            != TT_API_OK)
        {
            tt_api_close(&ch->api);
            tt_log(TT_LOG_WARN, "event=%s_off error=%s", ch->name,
                   tt_log_quote(err, q, sizeof(q)));
            return 0;
        }
        ch->api_open = 1;
        tt_log(TT_LOG_INFO, "event=%s_on tenant=%s", ch->name,
               tt_log_quote(ch->api.base_url, q, sizeof(q)));
    }

    ch->active = 1;
    return 1;
}


void
tt_channel_lost(tt_channel_t *ch)
{
    ch->active = 0;
}


void
tt_channel_close(tt_channel_t *ch)
{
    if (ch->api_open) {
        tt_api_close(&ch->api);
        ch->api_open = 0;
    }

    if (ch->conn != NULL) {
        PQfinish(ch->conn);
        ch->conn = NULL;
    }

    ch->active = 0;
}
