/*
 * billing_view: the billing staff's view of the billing lines (`billing
 * list`, `billing retry`; sql/functions/billing_view.sql).
 */

#ifndef TT_BILLING_VIEW_H
#define TT_BILLING_VIEW_H

#include <stddef.h>
#include <libpq-fe.h>


/* the filters of a listing; NULL members do not filter */
typedef struct {
    const char  *from;          /* service_date >= (YYYY-MM-DD) */
    const char  *to;            /* service_date <= */
    const char  *client;
    const char  *site;
    const char  *code;
    const char  *state;         /* pending, posted, failed, in_doubt */
} tt_billing_filter_t;


/* 1 when state is one a listing can show */
int tt_billing_view_state_valid(const char *state);

/*
 * The lines, by service date then id: id, state, kind, service_date,
 * client_id, site_id, bill_code, quantity, unit_price, amount, report_id,
 * ledger_version, external_id, last_error.  NULL with err.
 */
PGresult *tt_billing_view_lines(PGconn *conn, const tt_billing_filter_t *f,
    char *err, size_t errlen);

/*
 * Their totals: client_id, bill_code, grand_total (t/f), lines,
 * quantity, amount, unpriced; per client and code, then per client
 * (bill_code NULL), then overall.  NULL with err.
 */
PGresult *tt_billing_view_totals(PGconn *conn, const tt_billing_filter_t *f,
    char *err, size_t errlen);

/*
 * Failed line id (or every failed line: id NULL) back to pending.
 * *requeued: how many; -1 with err (a database error, or line id is not
 * failed: err says its state).
 */
int tt_billing_view_retry(PGconn *conn, const char *id, int *requeued,
    char *err, size_t errlen);

#endif /* TT_BILLING_VIEW_H */
