/*
 * jobs: listing the queue and replaying dead jobs.  A replayed job starts
 * again with zero attempts; its last_error stays until the next failure.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "jobs.h"


int
tt_jobs_state_valid(const char *state)
{
    return strcmp(state, "queued") == 0 || strcmp(state, "running") == 0
           || strcmp(state, "dead") == 0;
}


PGresult *
tt_jobs_list(PGconn *conn, const char *state, int limit, char *err,
    size_t errlen)
{
    char         lim[16];
    const char  *params[2];

    snprintf(lim, sizeof(lim), "%d", limit);
    params[0] = state;
    params[1] = lim;

    return tt_db_query(conn, "listing jobs",
              "SELECT id, state, attempts,"
              "       to_char(received_at AT TIME ZONE 'UTC',"
              "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
              "       to_char(run_after AT TIME ZONE 'UTC',"
              "               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
              "       coalesce(locked_by, '-'),"
              "       coalesce(replace(left(last_error, 200), E'\\n', ' '),"
              "                '-')"
              "  FROM tracktik_jobs"
              " WHERE $1::text IS NULL OR state = $1"
              " ORDER BY id LIMIT $2",
              2, params, err, errlen);
}


int
tt_jobs_retry(PGconn *conn, const char *id, int *requeued, char *err,
    size_t errlen)
{
    PGresult    *res;
    const char  *params[1];

    params[0] = id;

    res = tt_db_query(conn, "retrying jobs",
              "UPDATE tracktik_jobs"
              "   SET state = 'queued', attempts = 0, run_after = now(),"
              "       locked_by = NULL, locked_until = NULL"
              " WHERE ($1::bigint IS NULL AND state = 'dead')"
              "    OR (id = $1 AND state IN ('dead', 'queued'))"
              " RETURNING id",
              1, params, err, errlen);

    if (res == NULL) {
        return -1;
    }

    *requeued = PQntuples(res);
    PQclear(res);

    if (id == NULL || *requeued == 1) {
        return 0;
    }

    res = PQexecParams(conn,
              "SELECT state, coalesce(locked_by, '?')"
              "  FROM tracktik_jobs WHERE id = $1",
              1, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        snprintf(err, errlen, "job %s is running (leased by %s); not "
                 "retried", id, PQgetvalue(res, 0, 1));
    } else {
        snprintf(err, errlen, "job %s not found (finished jobs leave the "
                 "queue)", id);
    }

    PQclear(res);

    return -1;
}
