/*
 * ledger: appending a report version to incidents_ledger (with its
 * billing lines) through tracktik_record_report(), sent in the caller's
 * pipeline and read back in order.
 */

#ifndef TT_LEDGER_H
#define TT_LEDGER_H

#include <libpq-fe.h>

#include "parse.h"


typedef struct {
    char  outcome[16];          /* appended | duplicate | stale */
    int   version;
    int   lines_charged;
    int   lines_credited;
} tt_ledger_result_t;


/* queues the statement (pipeline mode); -1 when libpq refuses it */
int tt_ledger_send(PGconn *conn, long long job_id, const tt_report_t *r,
    const char *service_date, const char *lines_json);

/* reads one tt_ledger_send() result; -1 when it is not a row */
int tt_ledger_read(PGresult *res, tt_ledger_result_t *out);

#endif /* TT_LEDGER_H */
