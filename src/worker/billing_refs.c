/*
 * billing_refs: the TrackTik ids an ad-hoc item refers to.  A bill code's
 * bill item comes from tracktik_bill_items, else from TrackTik (the bill
 * item whose customId is the code, then stored); the contract is the
 * post's (tt_enrich_posts), else the site's from tracktik_site_contracts.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "billing_refs.h"
#include "db.h"
#include "enrich.h"
#include "tt_json.h"


tt_billing_rc_e
tt_billing_bill_item(tt_api_t *api, const char *bill_code,
    const char *unit_price, char *bill_item, size_t itemlen, char *price,
    size_t size, char *err, size_t errlen)
{
    char              esc[300], path[400], reason[300], idbuf[32];
    yajl_val          tree, data;
    long long         id;
    PGresult         *res;
    tt_api_rc_e       arc;
    const char       *params[2], *dpath[] = { "data", NULL };
    tt_http_answer_t  answer;

    params[0] = bill_code;
    res = tt_db_query(api->conn, "reading tracktik_bill_items",
              "SELECT bill_item_id::text, default_price::text"
              "  FROM tracktik_bill_items WHERE bill_code = $1", 1, params,
              err, errlen);
    if (res == NULL) {
        return TT_BILLING_STOP;
    }

    if (PQntuples(res) == 1) {
        snprintf(bill_item, itemlen, "%s", PQgetvalue(res, 0, 0));
        if (unit_price != NULL) {
            snprintf(price, size, "%s", unit_price);
        } else if (!PQgetisnull(res, 0, 1)) {
            snprintf(price, size, "%s", PQgetvalue(res, 0, 1));
        } else {
            snprintf(err, errlen, "no price: the rule gives no "
                     "unit_price and tracktik_bill_items has no "
                     "default_price for bill code %s", bill_code);
            PQclear(res);
            return TT_BILLING_FAILED;
        }
        PQclear(res);
        return TT_BILLING_OK;
    }

    PQclear(res);

    /* not mapped yet: the bill item whose customId is the code */
    snprintf(path, sizeof(path), "/rest/v1/bill-items?customId=%s&limit=2",
             tt_api_escape(bill_code, esc, sizeof(esc)));

    arc = tt_api_request(api, "GET", path, NULL, &answer, err, errlen);
    if (arc != TT_API_OK) {
        return tt_billing_api_rc(arc);
    }

    if (answer.status != 200) {
        snprintf(err, errlen, "looking up bill code %s: TrackTik "
                 "answered %s", bill_code,
                 tt_api_error_text(&answer, reason, sizeof(reason)));
        tt_http_answer_free(&answer);
        return TT_BILLING_LATER;
    }

    tree = tt_json_tree(answer.body, TT_JSON_MAX_DEPTH, NULL, 0);
    tt_http_answer_free(&answer);
    data = tree ? yajl_tree_get(tree, dpath, yajl_t_array) : NULL;

    id = data != NULL && YAJL_GET_ARRAY(data)->len == 1
         ? tt_api_id(YAJL_GET_ARRAY(data)->values[0], "id") : 0;

    if (id == 0)
    {
        snprintf(err, errlen, "bill code %s: %s TrackTik bill "
                 "item has it as customId; map it with INSERT INTO "
                 "tracktik_bill_items (bill_code, bill_item_id, "
                 "default_price) VALUES (...)", bill_code,
                 data != NULL && YAJL_GET_ARRAY(data)->len > 1
                 ? "more than one" : "no");
        if (tree != NULL) {
            yajl_tree_free(tree);
        }
        return TT_BILLING_FAILED;
    }

    yajl_tree_free(tree);

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    params[0] = bill_code;
    params[1] = idbuf;
    res = PQexecParams(api->conn,
              "INSERT INTO tracktik_bill_items (bill_code, bill_item_id,"
              "                                 source)"
              " VALUES ($1, $2, 'api') ON CONFLICT (bill_code) DO NOTHING",
              2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(api->conn, res, "storing a bill item mapping", err,
                    errlen);
        PQclear(res);
        return TT_BILLING_STOP;
    }

    PQclear(res);

    /* again from the table: an operator's row wins, and has the price */
    return tt_billing_bill_item(api, bill_code, unit_price, bill_item,
                                itemlen, price, size, err, errlen);
}


tt_billing_rc_e
tt_billing_contract(tt_api_t *api, tt_lookup_t *posts,
    const char *position_id, const char *site_id, char *contract,
    size_t size, char *err, size_t errlen)
{
    int                rc;
    PGresult          *res;
    const char        *params[1];
    tt_enrich_post_t   post;

    if (position_id != NULL) {
        rc = tt_lookup_get(posts, api->conn, atoll(position_id), &post,
                           err, errlen);

        switch (rc) {
        case 0:
            break;
        case TT_ENRICH_REFUSED:
            return post.status == 404 ? TT_BILLING_FAILED : TT_BILLING_LATER;
        case TT_ENRICH_FAILED:
            return tt_billing_api_rc(post.api_rc);
        default:
            return TT_BILLING_STOP;
        }

        if (post.contract != 0) {
            snprintf(contract, size, "%lld", post.contract);
            return TT_BILLING_OK;
        }
    }

    params[0] = site_id;
    res = tt_db_query(api->conn, "reading tracktik_site_contracts",
              "SELECT contract_id::text FROM tracktik_site_contracts"
              " WHERE site_id = $1", 1, params, err, errlen);
    if (res == NULL) {
        return TT_BILLING_STOP;
    }

    if (PQntuples(res) == 1) {
        snprintf(contract, size, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return TT_BILLING_OK;
    }

    PQclear(res);

    snprintf(err, errlen, "no contract: %s%s%s and site %s has "
             "no row in tracktik_site_contracts (INSERT INTO "
             "tracktik_site_contracts (site_id, contract_id) VALUES ...)",
             position_id ? "post " : "the report names no post",
             position_id ? position_id : "",
             position_id ? " has no contract (non billable)" : "",
             site_id);
    return TT_BILLING_FAILED;
}


tt_billing_rc_e
tt_billing_api_rc(tt_api_rc_e rc)
{
    switch (rc) {
    case TT_API_OK:
        return TT_BILLING_OK;
    case TT_API_LOGIN:
    case TT_API_ERROR:
        return TT_BILLING_STOP;
    default:
        return TT_BILLING_LATER;
    }
}
