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
tt_jobs_list(const tt_config_t *cfg, const char *state, int limit)
{
    char         lim[16];
    const char  *params[2];

    if (state != NULL && strcmp(state, "queued") != 0
        && strcmp(state, "running") != 0 && strcmp(state, "dead") != 0)
    {
        fprintf(stderr, "tracktik-worker: --state: \"%s\" is not a job "
                "state (queued, running, dead)\n", state);
        return 1;
    }

    snprintf(lim, sizeof(lim), "%d", limit);
    params[0] = state;
    params[1] = lim;

    return tt_db_print_table(cfg->dsn, "listing jobs",
               "id\tstate\tattempts\treceived_at\trun_after\tlocked_by\t"
               "last_error",
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
               2, params);
}


int
tt_jobs_retry(const tt_config_t *cfg, const char *id)
{
    int          rc;
    char         err[1024], *end;
    PGconn      *conn;
    PGresult    *res;
    const char  *params[1];

    if (id != NULL && (strtoll(id, &end, 10) <= 0 || *end != '\0')) {
        fprintf(stderr, "tracktik-worker: jobs retry: \"%s\" is not a job "
                "id\n", id);
        return 1;
    }

    conn = tt_db_connect(cfg->dsn, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "tracktik-worker: %s\n", err);
        return 1;
    }

    params[0] = id;

    res = PQexecParams(conn,
              "UPDATE tracktik_jobs"
              "   SET state = 'queued', attempts = 0, run_after = now(),"
              "       locked_by = NULL, locked_until = NULL"
              " WHERE ($1::bigint IS NULL AND state = 'dead')"
              "    OR (id = $1 AND state IN ('dead', 'queued'))"
              " RETURNING id",
              1, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, "retrying jobs", err, sizeof(err));
        fprintf(stderr, "tracktik-worker: %s\n", err);
        PQclear(res);
        PQfinish(conn);
        return 1;
    }

    rc = 0;

    if (id == NULL) {
        printf("requeued %d dead jobs\n", PQntuples(res));

    } else if (PQntuples(res) == 1) {
        printf("requeued job %s\n", id);

    } else {
        PQclear(res);
        res = PQexecParams(conn,
                  "SELECT state, coalesce(locked_by, '?')"
                  "  FROM tracktik_jobs WHERE id = $1",
                  1, NULL, params, NULL, NULL, 0);

        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            fprintf(stderr, "tracktik-worker: job %s is running (leased "
                    "by %s); not retried\n", id, PQgetvalue(res, 0, 1));
        } else {
            fprintf(stderr, "tracktik-worker: job %s not found (finished "
                    "jobs leave the queue)\n", id);
        }
        rc = 1;
    }

    PQclear(res);
    PQfinish(conn);

    return rc;
}
