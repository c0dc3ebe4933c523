/*
 * ratelimit: one round trip per request to take a slot from the shared
 * bucket; the database clock decides, so hosts with skewed clocks agree.
 */

#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "log.h"
#include "ratelimit.h"


tt_api_rc_e
tt_ratelimit_take(tt_api_t *api, char *err, size_t errlen)
{
    char         per_minute[32], burst[32];
    double       wait;
    PGresult    *res;
    const char  *params[3];

    snprintf(per_minute, sizeof(per_minute), "%d", api->set.per_minute);
    snprintf(burst, sizeof(burst), "%d", api->set.burst);

    params[0] = api->base_url;
    params[1] = per_minute;
    params[2] = burst;

    for ( ;; ) {
        if (api->stop != NULL && *api->stop) {
            snprintf(err, errlen, "stopping");
            return TT_API_RETRY;
        }

        res = PQexecParams(api->conn,
                  "SELECT tracktik_api_take($1, $2, $3)", 3, NULL, params,
                  NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            tt_db_error(api->conn, res, "taking from the request budget "
                        "(tracktik_api_take)", err, errlen);
            PQclear(res);
            return TT_API_ERROR;
        }

        wait = atof(PQgetvalue(res, 0, 0));
        PQclear(res);

        if (wait <= 0) {
            return TT_API_OK;
        }

        /* ask again: another worker may take the slot first */
        tt_api_sleep(api, wait < 5 ? wait : 5);
    }
}


void
tt_ratelimit_defer(tt_api_t *api, double seconds)
{
    char         secs[32], err[512], q[600];
    PGresult    *res;
    const char  *params[2];

    snprintf(secs, sizeof(secs), "%.3f", seconds);
    params[0] = api->base_url;
    params[1] = secs;

    res = PQexecParams(api->conn, "SELECT tracktik_api_defer($1, $2)", 2,
                       NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* only this process then waits: it sleeps in the caller anyway */
        tt_db_error(api->conn, res, "tracktik_api_defer", err, sizeof(err));
        tt_log(TT_LOG_WARN, "event=api_defer_failed error=%s",
               tt_log_quote(err, q, sizeof(q)));
    }

    PQclear(res);
}
