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

#include "config.h"


/* `billing sync [--once]`: exit code */
int tt_billing_sync(const tt_config_t *cfg, int once);

#endif /* TT_BILLING_SYNC_H */
