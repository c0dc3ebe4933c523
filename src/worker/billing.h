/*
 * billing: the billing lines a report version should have, as the JSON
 * array tracktik_record_report() compares with the lines already billed
 * (it adds credit lines and new charges, never edits).
 */

#ifndef TT_BILLING_H
#define TT_BILLING_H

#include <stddef.h>

#include "rules.h"


/*
 * [{"rule_id": ..., "rule_set_version": n, "bill_code": ...,
 *   "quantity": "1.0", "unit_price": "95.00" | null}, ...]
 * Amounts are JSON strings so the database reads them as exact numerics.
 * Returns a malloc()ed string or NULL when out of memory.
 */
char *tt_billing_lines_json(const tt_line_t *lines, size_t n);

#endif /* TT_BILLING_H */
