/*
 * billing: rule output to the lines JSON handed to the ledger statement.
 */

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "billing.h"


static void tt_billing_key(yajl_gen g, const char *key);
static void tt_billing_string(yajl_gen g, const char *value);


char *
tt_billing_lines_json(const tt_line_t *lines, size_t n)
{
    char                 *out;
    size_t                i, len;
    yajl_gen              g;
    const unsigned char  *buf;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NULL;
    }

    yajl_gen_array_open(g);

    for (i = 0; i < n; i++) {
        yajl_gen_map_open(g);

        tt_billing_key(g, "rule_id");
        tt_billing_string(g, lines[i].rule_id);
        tt_billing_key(g, "rule_set_version");
        yajl_gen_integer(g, lines[i].rule_set_version);
        tt_billing_key(g, "bill_code");
        tt_billing_string(g, lines[i].bill_code);
        tt_billing_key(g, "quantity");
        tt_billing_string(g, lines[i].quantity);
        tt_billing_key(g, "unit_price");

        if (lines[i].unit_price != NULL) {
            tt_billing_string(g, lines[i].unit_price);
        } else {
            yajl_gen_null(g);
        }

        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    out = NULL;
    if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
        out = strndup((const char *) buf, len);
    }

    yajl_gen_free(g);

    return out;
}


static void
tt_billing_key(yajl_gen g, const char *key)
{
    yajl_gen_string(g, (const unsigned char *) key, strlen(key));
}


static void
tt_billing_string(yajl_gen g, const char *value)
{
    yajl_gen_string(g, (const unsigned char *) value, strlen(value));
}
