/*
 * billing_sync: one pass over the pending lines, oldest first; lines that
 * cannot be posted now stay pending (transient) or become failed (bad
 * data, with last_error saying what to fix).
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "api.h"
#include "billing_refs.h"
#include "billing_sync.h"
#include "channel.h"
#include "db.h"
#include "enrich.h"
#include "log.h"
#include "lookup.h"
#include "oauth.h"
#include "tt_json.h"


/* pg_try_advisory_lock(TT_SYNC_LOCK, hashint8(line id)) */
#define TT_SYNC_LOCK  1414808642


typedef struct {
    long long   id;
    const char *key;
    const char *bill_code;
    const char *quantity;
    const char *unit_price;     /* NULL: none */
    const char *service_date;
    const char *site_id;        /* NULL: none */
    const char *report_id;
    const char *position_id;    /* NULL: none */
    const char *credited_state; /* credit lines: the charge's state */
    int         in_doubt;
} tt_sync_line_t;


typedef struct tt_billing_sync_s  tt_sync_t;

struct tt_billing_sync_s {
    tt_channel_t             ch;
    tt_lookup_t              posts;
    volatile sig_atomic_t   *stop;
    char                     err[1024];
};


static tt_billing_rc_e tt_sync_line(tt_sync_t *s, long long id);
static tt_billing_rc_e tt_sync_post(tt_sync_t *s, const tt_sync_line_t *l);
static tt_billing_rc_e tt_sync_lookup(tt_sync_t *s, const tt_sync_line_t *l,
    char *remote, size_t size);
static char *tt_sync_body(const tt_sync_line_t *l, const char *price,
    const char *contract, const char *bill_item, const char *description);
static int tt_sync_mark(tt_sync_t *s, long long id, const char *state,
    const char *remote, const char *error);
static int tt_sync_attempt(tt_sync_t *s, long long id, int in_doubt);


tt_billing_sync_t *
tt_billing_sync_open(const tt_config_t *cfg, volatile sig_atomic_t *stop,
    char *err, size_t errlen)
{
    tt_sync_t          *s;
    tt_api_settings_t   set;

    s = calloc(1, sizeof(tt_sync_t));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }

    tt_api_settings_from(cfg, &set);

    if (tt_channel_open(&s->ch, cfg->dsn, &set, err, errlen) != 0) {
        free(s);
        return NULL;
    }

    /* no memory layer: an operator's change to the table counts at once */
    tt_lookup_init(&s->posts, &tt_enrich_posts, &s->ch.api, TT_ENRICH_TTL,
                   0);

    s->stop = stop;
    s->ch.api.stop = (volatile int *) stop;

    return s;
}


const char *
tt_billing_sync_tenant(tt_billing_sync_t *s)
{
    return s->ch.api.base_url;
}


int
tt_billing_sync_pass(tt_billing_sync_t *s, tt_billing_counts_t *counts,
    char *err, size_t errlen)
{
    int            n, i, stopped;
    char           last[32];
    long long      last_id;
    PGresult      *res;
    const char    *params[1];

    memset(counts, 0, sizeof(*counts));
    last_id = 0;
    stopped = 0;

    /* a session that needs a login stops the sync before any line */
    if (tt_oauth_token(&s->ch.api, s->err, sizeof(s->err)) == TT_API_LOGIN) {
        stopped = 1;
    }

    while (!stopped) {
        snprintf(last, sizeof(last), "%lld", last_id);
        params[0] = last;

        res = PQexecParams(s->ch.conn,
                  "SELECT id FROM billing_lines"
                  " WHERE state = 'pending' AND id > $1"
                  " ORDER BY id LIMIT 200", 1, NULL, params, NULL, NULL, 0);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            tt_db_error(s->ch.conn, res, "listing pending billing lines",
                        s->err, sizeof(s->err));
            PQclear(res);
            stopped = 1;
            break;
        }

        n = PQntuples(res);

        for (i = 0; i < n && !*s->stop && !stopped; i++) {
            last_id = atoll(PQgetvalue(res, i, 0));

            switch (tt_sync_line(s, last_id)) {
            case TT_BILLING_OK: counts->posted++; break;
            case TT_BILLING_FAILED: counts->failed++; break;
            case TT_BILLING_LATER:  counts->later++;  break;
            case TT_BILLING_BUSY:   counts->busy++;   break;
            case TT_BILLING_STOP:   stopped = 1; break;
            }
        }

        PQclear(res);

        if (n == 0 || *s->stop) {
            break;
        }
    }

    if (stopped) {
        snprintf(err, errlen, "%s", s->err);
        return -1;
    }

    return 0;
}


void
tt_billing_sync_wait(tt_billing_sync_t *s, double seconds)
{
    tt_api_sleep(&s->ch.api, seconds);

    if (PQstatus(s->ch.conn) != CONNECTION_OK) {
        PQreset(s->ch.conn);
    }
}


void
tt_billing_sync_close(tt_billing_sync_t *s)
{
    if (s == NULL) {
        return;
    }

    tt_lookup_free(&s->posts);
    tt_channel_close(&s->ch);
    free(s);
}


static tt_billing_rc_e
tt_sync_line(tt_sync_t *s, long long id)
{
    char            idbuf[32], q[1100];
    PGresult       *res, *lock;
    const char     *params[1];
    tt_sync_line_t  l;
    tt_billing_rc_e    rc;

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    params[0] = idbuf;

    lock = PQexecParams(s->ch.conn,
               "SELECT pg_try_advisory_lock(1414808642, hashint8($1))", 1,
               NULL, params, NULL, NULL, 0);

    if (PQresultStatus(lock) != PGRES_TUPLES_OK) {
        tt_db_error(s->ch.conn, lock, "locking a billing line", s->err,
                    sizeof(s->err));
        PQclear(lock);
        return TT_BILLING_STOP;
    }

    if (strcmp(PQgetvalue(lock, 0, 0), "t") != 0) {
        PQclear(lock);
        return TT_BILLING_BUSY;
    }

    PQclear(lock);

    /* re-read under the lock: another process may have posted it */
    res = PQexecParams(s->ch.conn,
              "SELECT b.idempotency_key, b.bill_code, b.quantity::text,"
              "       b.unit_price::text, b.service_date::text,"
              "       b.site_id::text, b.report_id::text,"
              "       CASE jsonb_typeof(l.raw->'position')"
              "            WHEN 'object' THEN l.raw->'position'->>'id'"
              "            ELSE l.raw->>'position' END,"
              "       c.state, coalesce(a.in_doubt, false)"
              "  FROM billing_lines b"
              "  JOIN incidents_ledger l ON l.id = b.ledger_id"
              "  LEFT JOIN billing_lines c ON c.id = b.credits_line_id"
              "  LEFT JOIN tracktik_billing_attempts a ON a.line_id = b.id"
              " WHERE b.id = $1 AND b.state = 'pending'",
              1, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(s->ch.conn, res, "reading a billing line", s->err,
                    sizeof(s->err));
        rc = TT_BILLING_STOP;

    } else if (PQntuples(res) == 0) {
        rc = TT_BILLING_BUSY;      /* done by someone else meanwhile */

    } else {
#define TT_COL(c)  (PQgetisnull(res, 0, c) ? NULL : PQgetvalue(res, 0, c))
        memset(&l, 0, sizeof(l));
        l.id = id;
        l.key = TT_COL(0);
        l.bill_code = TT_COL(1);
        l.quantity = TT_COL(2);
        l.unit_price = TT_COL(3);
        l.service_date = TT_COL(4);
        l.site_id = TT_COL(5);
        l.report_id = TT_COL(6);
        l.position_id = TT_COL(7);
        l.credited_state = TT_COL(8);
        l.in_doubt = strcmp(PQgetvalue(res, 0, 9), "t") == 0;
#undef TT_COL

        rc = tt_sync_post(s, &l);

        if (rc == TT_BILLING_FAILED) {
            tt_log(TT_LOG_WARN, "event=billing_line_failed line=%lld "
                   "error=%s", id, tt_log_quote(s->err, q, sizeof(q)));
        } else if (rc == TT_BILLING_LATER) {
            tt_log(TT_LOG_WARN, "event=billing_line_later line=%lld "
                   "error=%s", id, tt_log_quote(s->err, q, sizeof(q)));
        }
    }

    PQclear(res);

    res = PQexecParams(s->ch.conn,
              "SELECT pg_advisory_unlock(1414808642, hashint8($1))", 1, NULL,
              params, NULL, NULL, 0);
    PQclear(res);

    return rc;
}


static tt_billing_rc_e
tt_sync_post(tt_sync_t *s, const tt_sync_line_t *l)
{
    int               tries, in_doubt;
    char              bill_item[32], price[64], contract[32], remote[32];
    char              description[512], reason[512], *body;
    yajl_val          tree, item;
    long long         rid;
    tt_api_rc_e       arc;
    tt_billing_rc_e      rc;
    tt_http_answer_t  answer;

    if (l->credited_state != NULL && strcmp(l->credited_state, "posted")) {
        if (strcmp(l->credited_state, "failed") == 0) {
            snprintf(s->err, sizeof(s->err), "this credit line undoes a "
                     "charge that was never posted (it failed)");
            tt_sync_mark(s, l->id, "failed", NULL, s->err);
            return TT_BILLING_FAILED;
        }
        snprintf(s->err, sizeof(s->err), "waiting for the charge it credits "
                 "to be posted");
        return TT_BILLING_LATER;
    }

    if (l->site_id == NULL) {
        snprintf(s->err, sizeof(s->err), "the line has no site (account): "
                 "the report named none");
        tt_sync_mark(s, l->id, "failed", NULL, s->err);
        return TT_BILLING_FAILED;
    }

    rc = tt_billing_bill_item(&s->ch.api, l->bill_code, l->unit_price,
                              bill_item, sizeof(bill_item), price,
                              sizeof(price), s->err, sizeof(s->err));
    if (rc == TT_BILLING_OK) {
        rc = tt_billing_contract(&s->ch.api, &s->posts, l->position_id,
                                 l->site_id, contract, sizeof(contract),
                                 s->err, sizeof(s->err));
    }
    if (rc != TT_BILLING_OK) {
        if (rc == TT_BILLING_FAILED) {
            tt_sync_mark(s, l->id, "failed", NULL, s->err);
        }
        return rc;
    }

    snprintf(description, sizeof(description), "[tt:%s] %s \xc3\x97%s "
             "report %s", l->key, l->bill_code, l->quantity, l->report_id);

    body = tt_sync_body(l, price, contract, bill_item, description);
    if (body == NULL) {
        snprintf(s->err, sizeof(s->err), "out of memory");
        return TT_BILLING_STOP;
    }

    in_doubt = l->in_doubt;

    for (tries = 0; ; tries++) {
        if (in_doubt) {
            /* a previous POST may have been stored: never post twice */
            rc = tt_sync_lookup(s, l, remote, sizeof(remote));

            if (rc == TT_BILLING_OK) {
                free(body);
                if (tt_sync_mark(s, l->id, "posted", remote, NULL) != 0) {
                    return TT_BILLING_STOP;
                }
                tt_log(TT_LOG_INFO, "event=billing_line_found line=%lld "
                       "remote=%s", l->id, remote);
                return TT_BILLING_OK;
            }
            if (rc != TT_BILLING_FAILED) {     /* FAILED here: not found */
                free(body);
                return rc;
            }
        }

        if (tt_sync_attempt(s, l->id, 1) != 0) {
            free(body);
            return TT_BILLING_STOP;
        }
        in_doubt = 1;

        arc = tt_api_request(&s->ch.api, "POST", "/rest/v1/billing-adhoc-items",
                             body, &answer, s->err, sizeof(s->err));

        if (arc == TT_API_UNKNOWN) {
            tt_sync_mark(s, l->id, "pending", NULL, s->err);

            if (tries < s->ch.api.set.max_retries && !*s->ch.api.stop) {
                tt_log(TT_LOG_WARN, "event=billing_post_unknown line=%lld "
                       "attempt=%d", l->id, tries + 1);
                tt_api_sleep(&s->ch.api, tt_api_backoff(&s->ch.api.set, tries));
                continue;
            }
            free(body);
            return TT_BILLING_LATER;
        }

        if (arc != TT_API_OK) {
            free(body);
            return tt_billing_api_rc(arc);
        }

        break;
    }

    free(body);

    if (answer.status == 200 || answer.status == 201) {
        item = tt_api_item(&answer, &tree);

        rid = item ? tt_api_id(item, "id") : 0;

        if (rid == 0) {
            /* stored, but no id to show: the lookup will find it */
            snprintf(s->err, sizeof(s->err), "TrackTik answered HTTP %ld "
                     "without an item id", answer.status);
            if (tree != NULL) {
                yajl_tree_free(tree);
            }
            tt_http_answer_free(&answer);
            tt_sync_mark(s, l->id, "pending", NULL, s->err);
            return TT_BILLING_LATER;
        }

        if (tree != NULL) {
            yajl_tree_free(tree);
        }
        tt_http_answer_free(&answer);

        snprintf(remote, sizeof(remote), "%lld", rid);
        if (tt_sync_mark(s, l->id, "posted", remote, NULL) != 0) {
            return TT_BILLING_STOP;
        }
        tt_log(TT_LOG_INFO, "event=billing_line_posted line=%lld remote=%s",
               l->id, remote);
        return TT_BILLING_OK;
    }

    /* a refusal: TrackTik stored nothing */
    tt_api_error_text(&answer, reason, sizeof(reason));
    tt_http_answer_free(&answer);
    tt_sync_attempt(s, l->id, 0);

    if (answer.status == 400 || answer.status == 404 || answer.status == 422)
    {
        snprintf(s->err, sizeof(s->err), "TrackTik refused the ad-hoc item: "
                 "%s", reason);
        tt_sync_mark(s, l->id, "failed", NULL, s->err);
        return TT_BILLING_FAILED;
    }

    snprintf(s->err, sizeof(s->err), "TrackTik answered %s", reason);
    tt_sync_mark(s, l->id, "pending", NULL, s->err);
    return TT_BILLING_LATER;
}


/* TT_BILLING_OK: found (remote set); TT_BILLING_FAILED: certainly absent */
static tt_billing_rc_e
tt_sync_lookup(tt_sync_t *s, const tt_sync_line_t *l, char *remote,
    size_t size)
{
    char              tag[300], esc[1000], path[1200];
    yajl_val          tree, data, item;
    long long         rid;
    tt_api_rc_e       arc;
    tt_http_answer_t  answer;
    const char       *dpath[] = { "data", NULL };

    snprintf(tag, sizeof(tag), "[tt:%s]", l->key);
    snprintf(path, sizeof(path), "/rest/v1/billing-adhoc-items"
             "?description:startswith=%s&limit=10",
             tt_api_escape(tag, esc, sizeof(esc)));

    arc = tt_api_request(&s->ch.api, "GET", path, NULL, &answer, s->err,
                         sizeof(s->err));
    if (arc != TT_API_OK) {
        return tt_billing_api_rc(arc);
    }

    if (answer.status != 200) {
        tt_api_error_text(&answer, tag, sizeof(tag));
        snprintf(s->err, sizeof(s->err), "looking up an earlier attempt: "
                 "TrackTik answered %s", tag);
        tt_http_answer_free(&answer);
        return TT_BILLING_LATER;
    }

    tree = tt_json_tree(answer.body, TT_JSON_MAX_DEPTH, NULL, 0);
    tt_http_answer_free(&answer);

    data = tree ? yajl_tree_get(tree, dpath, yajl_t_array) : NULL;

    if (data == NULL) {
        snprintf(s->err, sizeof(s->err), "looking up an earlier attempt: "
                 "the answer is not a list");
        if (tree != NULL) {
            yajl_tree_free(tree);
        }
        return TT_BILLING_LATER;
    }

    if (YAJL_GET_ARRAY(data)->len == 0) {
        yajl_tree_free(tree);
        return TT_BILLING_FAILED;
    }

    if (YAJL_GET_ARRAY(data)->len > 1) {
        tt_log(TT_LOG_WARN, "event=billing_duplicates line=%lld count=%zu",
               l->id, YAJL_GET_ARRAY(data)->len);
    }

    item = YAJL_GET_ARRAY(data)->values[0];
    rid = tt_api_id(item, "id");

    if (rid == 0) {
        yajl_tree_free(tree);
        snprintf(s->err, sizeof(s->err), "looking up an earlier attempt: "
                 "an item without an id");
        return TT_BILLING_LATER;
    }

    snprintf(remote, size, "%lld", rid);
    yajl_tree_free(tree);
    return TT_BILLING_OK;
}


static char *
tt_sync_body(const tt_sync_line_t *l, const char *price,
    const char *contract, const char *bill_item, const char *description)
{
    yajl_gen  g;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NULL;
    }

#define TT_KEY(k)   yajl_gen_string(g, (const unsigned char *) k, strlen(k))
#define TT_STR(v)   yajl_gen_string(g, (const unsigned char *) v, strlen(v))
#define TT_NUM(v)   yajl_gen_number(g, v, strlen(v))

    yajl_gen_map_open(g);
    TT_KEY("price");       TT_NUM(price);
    TT_KEY("quantity");    TT_NUM(l->quantity);
    TT_KEY("serviceDate"); TT_STR(l->service_date);
    TT_KEY("description"); TT_STR(description);
    TT_KEY("account");     TT_NUM(l->site_id);
    TT_KEY("contract");    TT_NUM(contract);
    TT_KEY("billItem");    TT_NUM(bill_item);
    yajl_gen_map_close(g);

#undef TT_KEY
#undef TT_STR
#undef TT_NUM

    return tt_api_json_text(g);
}


/* state pending: only last_error changes */
static int
tt_sync_mark(tt_sync_t *s, long long id, const char *state,
    const char *remote, const char *error)
{
    char         idbuf[32];
    PGresult    *res;
    const char  *params[4];

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    params[0] = idbuf;
    params[1] = state;
    params[2] = remote;
    params[3] = error;

    res = PQexecParams(s->ch.conn,
              "WITH l AS ("
              "  UPDATE billing_lines"
              "     SET state = $2, last_error = $4,"
              "         external_id = coalesce($3, external_id),"
              "         posted_at = CASE WHEN $2 = 'posted' THEN now() END"
              "   WHERE id = $1 AND state = 'pending'"
              "  RETURNING id)"
              " UPDATE tracktik_billing_attempts a SET in_doubt = false"
              "  FROM l WHERE a.line_id = l.id AND $2 <> 'pending'",
              4, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(s->ch.conn, res, "updating a billing line", s->err,
                    sizeof(s->err));
        PQclear(res);
        return -1;
    }

    PQclear(res);
    return 0;
}


/* committed before the POST: a crash after it leaves the line in doubt */
static int
tt_sync_attempt(tt_sync_t *s, long long id, int in_doubt)
{
    char         idbuf[32];
    PGresult    *res;
    const char  *params[2];

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    params[0] = idbuf;
    params[1] = in_doubt ? "t" : "f";

    res = PQexecParams(s->ch.conn,
              "INSERT INTO tracktik_billing_attempts AS a"
              "    (line_id, attempts, in_doubt)"
              " VALUES ($1, CASE WHEN $2::boolean THEN 1 ELSE 0 END, $2)"
              " ON CONFLICT (line_id) DO UPDATE"
              "   SET attempts = a.attempts"
              "                  + CASE WHEN $2::boolean THEN 1 ELSE 0 END,"
              "       in_doubt = $2, last_attempt_at = now()",
              2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(s->ch.conn, res, "recording a billing attempt", s->err,
                    sizeof(s->err));
        PQclear(res);
        return -1;
    }

    PQclear(res);
    return 0;
}
