/*
 * ledger: appending report versions to incidents_ledger (with their
 * billing lines) through tracktik_record_batch(): one statement for every
 * report of a batch, sent in the caller's pipeline.
 */

#ifndef TT_LEDGER_H
#define TT_LEDGER_H

#include <stddef.h>
#include <libpq-fe.h>

#include "parse.h"


typedef struct {
    long long            job_id;
    const tt_report_t   *report;
    const char          *service_date;   /* "YYYY-MM-DD", site time */
    const char          *lines_json;     /* billing.c's array */
} tt_ledger_item_t;


typedef struct {
    char  outcome[16];          /* appended | duplicate | stale */
    int   version;
    int   lines_charged;
    int   lines_credited;
} tt_ledger_result_t;


/* the JSON array tracktik_record_batch() reads; malloc()ed or NULL */
char *tt_ledger_batch_json(const tt_ledger_item_t *items, size_t n);

/* queues the statement (pipeline mode); -1 when libpq refuses it */
int tt_ledger_send(PGconn *conn, const char *batch_json);

/* fills results[0..n) from the statement's rows; -1 when malformed */
int tt_ledger_read(PGresult *res, tt_ledger_result_t *results, size_t n);

#endif /* TT_LEDGER_H */
