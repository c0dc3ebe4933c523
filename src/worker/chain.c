/*
 * chain: the ledger's hash chain is checked where the rows are; only the
 * problems and a summary come back.
 */

#include <stdio.h>

#include "chain.h"
#include "db.h"


PGresult *
tt_chain_verify(PGconn *conn, const char *from, const char *to, int max,
    char *err, size_t errlen)
{
    char         lim[16];
    const char  *params[3];

    snprintf(lim, sizeof(lim), "%d", max);
    params[0] = from;
    params[1] = to;
    params[2] = lim;

    /* the dates are UTC days; --to's whole day is in */
    return tt_db_query(conn, "verifying the ledger chain",
              "SELECT * FROM tracktik_ledger_chain_verify("
              "    $1::date::timestamp AT TIME ZONE 'UTC',"
              "    ($2::date + 1)::timestamp AT TIME ZONE 'UTC', $3)",
              3, params, err, errlen);
}
