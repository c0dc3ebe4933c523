/*
 * billing_view: listing, totals and retry of billing lines; the rules
 * (state in doubt, effective price) live in sql/functions/billing_view.sql
 * so that the portal shows the same.
 */

#include <stdio.h>
#include <string.h>

#include "billing_view.h"
#include "db.h"


static void tt_billing_view_params(const tt_billing_filter_t *f,
    const char *params[6]);


int
tt_billing_view_state_valid(const char *state)
{
    return strcmp(state, "pending") == 0 || strcmp(state, "posted") == 0
           || strcmp(state, "failed") == 0 || strcmp(state, "in_doubt") == 0;
}


PGresult *
tt_billing_view_lines(PGconn *conn, const tt_billing_filter_t *f, char *err,
    size_t errlen)
{
    const char  *params[6];

    tt_billing_view_params(f, params);

    return tt_db_query(conn, "listing billing lines",
              "SELECT id, state, kind, service_date, client_id, site_id,"
              "       bill_code, quantity, unit_price, amount, report_id,"
              "       ledger_version, external_id,"
              "       replace(left(last_error, 200), E'\\n', ' ') AS last_error"
              "  FROM tracktik_billing_view($1, $2, $3, $4, $5, $6)"
              " ORDER BY service_date, id",
              6, params, err, errlen);
}


PGresult *
tt_billing_view_totals(PGconn *conn, const tt_billing_filter_t *f,
    char *err, size_t errlen)
{
    const char  *params[6];

    tt_billing_view_params(f, params);

    return tt_db_query(conn, "totalling billing lines",
              "SELECT * FROM tracktik_billing_view_totals($1, $2, $3, $4,"
              "                                           $5, $6)",
              6, params, err, errlen);
}


int
tt_billing_view_retry(PGconn *conn, const char *id, int *requeued, char *err,
    size_t errlen)
{
    PGresult    *res;
    const char  *params[1];

    params[0] = id;

    res = tt_db_query(conn, "retrying billing lines",
              "SELECT * FROM tracktik_billing_retry($1)", 1, params, err,
              errlen);
    if (res == NULL) {
        return -1;
    }

    *requeued = PQntuples(res);
    PQclear(res);

    if (id == NULL || *requeued == 1) {
        return 0;
    }

    res = tt_db_query(conn, "reading a billing line",
              "SELECT state FROM tracktik_billing_view(NULL, NULL, NULL,"
              "                                        NULL, NULL, NULL)"
              " WHERE id = $1", 1, params, err, errlen);
    if (res == NULL) {
        return -1;
    }

    if (PQntuples(res) == 0) {
        snprintf(err, errlen, "there is no billing line %s", id);
    } else {
        snprintf(err, errlen, "billing line %s is %s, not failed: only a "
                 "failed line is retried", id, PQgetvalue(res, 0, 0));
    }

    PQclear(res);
    return -1;
}


static void
tt_billing_view_params(const tt_billing_filter_t *f, const char *params[6])
{
    params[0] = f->from;
    params[1] = f->to;
    params[2] = f->client;
    params[3] = f->site;
    params[4] = f->code;
    params[5] = f->state;
}
