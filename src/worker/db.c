/*
 * db: connection set-up and the statements the run loop prepares once.
 */

#include <stdio.h>
#include <string.h>

#include "db.h"


typedef struct {
    const char  *name;
    const char  *sql;
    int          nparams;
} tt_db_statement_t;


static const tt_db_statement_t  tt_db_statements[] = {

    /* claim.c: a batch of runnable jobs, leased to this worker */
    { "tt_claim",
      "UPDATE tracktik_jobs j"
      "   SET state = 'running', locked_by = $1,"
      "       locked_until = now() + make_interval(secs => $2),"
      "       attempts = j.attempts + 1"
      "  FROM (SELECT id FROM tracktik_jobs"
      "         WHERE state = 'queued' AND run_after <= now()"
      "         ORDER BY run_after, id"
      "         LIMIT $3"
      "         FOR UPDATE SKIP LOCKED) c"
      " WHERE j.id = c.id"
      " RETURNING j.id, j.attempts, j.payload::text", 3 },

    /* claim.c: keep the lease while working */
    { "tt_renew",
      "UPDATE tracktik_jobs"
      "   SET locked_until = now() + make_interval(secs => $3)"
      " WHERE id = ANY ($1::bigint[]) AND locked_by = $2"
      "   AND state = 'running'", 3 },

    /* claim.c: hand unstarted jobs back (graceful stop) */
    { "tt_release",
      "UPDATE tracktik_jobs"
      "   SET state = 'queued', locked_by = NULL, locked_until = NULL,"
      "       attempts = greatest(attempts - 1, 0)"
      " WHERE id = ANY ($1::bigint[]) AND locked_by = $2"
      "   AND state = 'running'", 2 },

    /* claim.c: a failed attempt: retry later, or dead after the last */
    { "tt_fail",
      "UPDATE tracktik_jobs"
      "   SET state = CASE WHEN $3::boolean OR attempts >= $4"
      "                    THEN 'dead' ELSE 'queued' END,"
      "       run_after = now() + make_interval(secs => $5),"
      "       locked_by = NULL, locked_until = NULL, last_error = $6"
      " WHERE id = $1 AND locked_by = $2 AND state = 'running'"
      " RETURNING state, attempts", 6 },

    /* process.c: finished jobs leave the queue */
    { "tt_finish",
      "DELETE FROM tracktik_jobs"
      " WHERE id = ANY ($1::bigint[]) AND locked_by = $2", 2 },

    /* ledger.c: every report of a batch, with the lines each should have */
    { "tt_record",
      "SELECT ord, outcome, version, lines_charged, lines_credited"
      "  FROM tracktik_record_batch($1::jsonb)", 1 },

    /* claim.c: jobs whose worker vanished go back to the queue */
    { "tt_rescue",
      "UPDATE tracktik_jobs j"
      "   SET state = CASE WHEN j.attempts >= $1 THEN 'dead'"
      "                    ELSE 'queued' END,"
      "       last_error = 'lease expired: worker ' || coalesce(j.locked_by,"
      "                    '?') || ' stopped before finishing the job',"
      "       locked_by = NULL, locked_until = NULL"
      "  FROM (SELECT id, locked_by FROM tracktik_jobs"
      "         WHERE state = 'running' AND locked_until < now()"
      "         FOR UPDATE SKIP LOCKED) e"
      " WHERE j.id = e.id"
      " RETURNING j.id, j.state, coalesce(e.locked_by, '?')", 1 },

    /* claim.c: anything left to do at all (drain mode) */
    { "tt_pending",
      "SELECT count(*) FILTER (WHERE state = 'queued'"
      "                          AND run_after <= now()),"
      "       count(*) FILTER (WHERE state = 'running')"
      "  FROM tracktik_jobs", 0 },

    /* claim.c: forget deliveries older than the retention window */
    { "tt_prune",
      "DELETE FROM tracktik_deliveries"
      " WHERE ctid = ANY (ARRAY (SELECT ctid FROM tracktik_deliveries"
      "        WHERE received_at < now() - make_interval(days => $1)"
      "        LIMIT 10000))", 1 },

    /* rules.c: newest rule set version, to notice a new load */
    { "tt_rules_version",
      "SELECT coalesce(max(version), 0) FROM contract_rule_sets", 0 },

    { NULL, NULL, 0 }
};


PGconn *
tt_db_connect(const char *dsn, char *err, size_t errlen)
{
    PGconn  *conn;
    char    *p;

    conn = PQconnectdb(dsn);

    if (conn == NULL) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: out of memory");
        return NULL;
    }

    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                 PQerrorMessage(conn));
        p = err + strlen(err);
        while (p > err && (p[-1] == '\n' || p[-1] == ' ')) {
            *--p = '\0';
        }
        PQfinish(conn);
        return NULL;
    }

    return conn;
}


int
tt_db_prepare(PGconn *conn, char *err, size_t errlen)
{
    PGresult                 *res;
    const tt_db_statement_t  *st;

    for (st = tt_db_statements; st->name != NULL; st++) {
        res = PQprepare(conn, st->name, st->sql, st->nparams, NULL);

        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            tt_db_error(conn, res, st->name, err, errlen);
            PQclear(res);
            return -1;
        }

        PQclear(res);
    }

    return 0;
}


int
tt_db_exec(PGconn *conn, const char *sql, ExecStatusType status, char *err,
    size_t errlen)
{
    PGresult  *res;

    res = PQexec(conn, sql);

    if (PQresultStatus(res) != status) {
        tt_db_error(conn, res, "query", err, errlen);
        PQclear(res);
        return -1;
    }

    PQclear(res);
    return 0;
}


PGresult *
tt_db_query(PGconn *conn, const char *what, const char *sql, int nparams,
    const char *const *params, char *err, size_t errlen)
{
    PGresult  *res;

    res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(conn, res, what, err, errlen);
        PQclear(res);
        return NULL;
    }

    return res;
}


void
tt_db_error(PGconn *conn, PGresult *res, const char *what, char *err,
    size_t errlen)
{
    const char  *msg, *state, *detail;
    char        *p;

    msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;

    if (msg != NULL) {
        snprintf(err, errlen, "%s: %s%s%s (SQLSTATE %s)", what, msg,
                 detail ? ": " : "", detail ? detail : "",
                 state ? state : "?");
        return;
    }

    snprintf(err, errlen, "%s: %s", what,
             conn ? PQerrorMessage(conn) : "no connection");

    p = err + strlen(err);
    while (p > err && (p[-1] == '\n' || p[-1] == ' ')) {
        *--p = '\0';
    }
}


int
tt_db_error_is_permanent(PGresult *res)
{
    const char  *state;

    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    return state != NULL && strncmp(state, "22", 2) == 0;
}
