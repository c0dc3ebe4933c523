/*
 * billing_sync: pending billing_lines become TrackTik billing-adhoc-items,
 * exactly once each, and are marked posted with the item's id.
 *
 *   price        the line's unit_price, else tracktik_bill_items.default_price
 *   quantity     the line's quantity (negative for credit lines)
 *   serviceDate  the line's service_date
 *   description  "[tt:<idempotency key>] <bill code> ×<quantity> report <id>"
 *   account      the line's site_id
 *   contract     the report's post (position) contract, fetched from
 *                TrackTik and cached in tracktik_positions; else
 *                tracktik_site_contracts
 *   billItem     tracktik_bill_items.bill_item_id; a code not in the table
 *                is looked up as GET /bill-items?customId=<code> and stored
 *
 * A POST whose answer was lost (timeout, dropped connection, 5xx) may have
 * been stored: the line is "in doubt" (tracktik_billing_attempts) and the
 * next attempt first looks for an item whose description starts with
 * "[tt:<key>]".  Each line is worked on by one process at a time (a
 * session advisory lock, released if the process dies).
 */

#ifndef TT_BILLING_SYNC_H
#define TT_BILLING_SYNC_H

#include <signal.h>
#include <stddef.h>

#include "config.h"


typedef struct tt_billing_sync_s  tt_billing_sync_t;

typedef struct {
    int  posted;
    int  failed;                /* bad data: state failed */
    int  later;                 /* transient: still pending */
    int  busy;                  /* another process has the line */
} tt_billing_counts_t;


/* connects and opens the API (cfg->api_url, else the only tenant); stop
 * (set by a signal) cuts waits short.  NULL with err. */
tt_billing_sync_t *tt_billing_sync_open(const tt_config_t *cfg,
    volatile sig_atomic_t *stop, char *err, size_t errlen);

/* the tenant's base URL */
const char *tt_billing_sync_tenant(tt_billing_sync_t *s);

/*
 * One pass over the pending lines: 0 with counts, or -1 with err when
 * the pass stopped (a login is needed, or the database is gone).
 */
int tt_billing_sync_pass(tt_billing_sync_t *s, tt_billing_counts_t *counts,
    char *err, size_t errlen);

/* sleeps until seconds pass or stop is set; then reconnects a lost
 * database connection */
void tt_billing_sync_wait(tt_billing_sync_t *s, double seconds);

void tt_billing_sync_close(tt_billing_sync_t *s);

#endif /* TT_BILLING_SYNC_H */
