/*
 * billing_refs: what a billing line's ad-hoc item points at in TrackTik:
 * the bill item (and default price) of its bill code, and the contract.
 */

#ifndef TT_BILLING_REFS_H
#define TT_BILLING_REFS_H

#include <stddef.h>

#include "api.h"
#include "lookup.h"


/* what became of a billing line, or of one step of posting it */
typedef enum {
    TT_BILLING_OK = 0,          /* posted (or found posted); step done */
    TT_BILLING_FAILED,          /* bad data: the line fails, err says why */
    TT_BILLING_LATER,           /* transient: the line stays pending */
    TT_BILLING_BUSY,            /* another process has the line */
    TT_BILLING_STOP             /* a login is needed, the database gone */
} tt_billing_rc_e;


/*
 * bill_item: the bill item id of bill_code; price: unit_price, else its
 * default price.  api->conn is the database.
 */
tt_billing_rc_e tt_billing_bill_item(tt_api_t *api, const char *bill_code,
    const char *unit_price, char *bill_item, size_t itemlen, char *price,
    size_t size, char *err, size_t errlen);

/* contract: the post's (position_id may be NULL), else the site's */
tt_billing_rc_e tt_billing_contract(tt_api_t *api, tt_lookup_t *posts,
    const char *position_id, const char *site_id, char *contract,
    size_t size, char *err, size_t errlen);

/* what an API client failure means for the line */
tt_billing_rc_e tt_billing_api_rc(tt_api_rc_e rc);

#endif /* TT_BILLING_REFS_H */
