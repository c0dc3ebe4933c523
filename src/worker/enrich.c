/*
 * enrich: memory cache (one slot per id modulo a prime) in front of the
 * reference tables in front of the API.  It has its own database
 * connection, so it never touches the batch's transaction, and a short
 * retry budget, so a job's lease outlives a TrackTik outage.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "api.h"
#include "channel.h"
#include "db.h"
#include "enrich.h"
#include "log.h"


#define TT_ENRICH_SLOTS    509
#define TT_ENRICH_ZONES    256


typedef struct {
    long long    parent;            /* parent client, 0: none */
    int          is_client;         /* CLIENT or MULTI_LOCATION_CLIENT */
    const char  *time_zone;         /* interned; NULL: unknown */
} tt_enrich_account_t;


struct tt_enrich_s {
    tt_channel_t          ch;
    tt_lookup_t           accounts;
    tt_lookup_t           posts;
    size_t                nzones;
    char                 *zones[TT_ENRICH_ZONES];
    int                   no_posts;     /* tt_enrich_no_posts() */
};


static void tt_enrich_account_row(void *ctx, PGresult *res, void *value);
static int tt_enrich_account_fetch(void *ctx, long long id, void *value,
    char *err, size_t errlen);
static void tt_enrich_post_row(void *ctx, PGresult *res, void *value);
static int tt_enrich_post_fetch(void *ctx, long long id, void *value,
    char *err, size_t errlen);
static tt_api_rc_e tt_enrich_fetch_post(tt_api_t *api, PGconn *conn,
    long long id, long long *contract, long *status, char *err,
    size_t errlen);
static const char *tt_enrich_zone(tt_enrich_t *e, const char *zone);
static const char *tt_enrich_string(yajl_val item, const char *key);


static const tt_lookup_kind_t  tt_enrich_accounts = {
    "tracktik_accounts",
    "SELECT type, parent_client_id, time_zone,"
    "       extract(epoch FROM fetched_at"
    "               + make_interval(secs => $2) - now())"
    "  FROM tracktik_accounts"
    " WHERE account_id = $1"
    "   AND fetched_at > now() - make_interval(secs => $2)",
    sizeof(tt_enrich_account_t),
    tt_enrich_account_row,
    tt_enrich_account_fetch
};


const tt_lookup_kind_t  tt_enrich_posts = {
    "tracktik_positions",
    "SELECT contract_id,"
    "       extract(epoch FROM fetched_at"
    "               + make_interval(secs => $2) - now())"
    "  FROM tracktik_positions WHERE position_id = $1"
    "   AND fetched_at > now() - make_interval(secs => $2)",
    sizeof(tt_enrich_post_t),
    tt_enrich_post_row,
    tt_enrich_post_fetch
};


tt_enrich_t *
tt_enrich_new(const tt_config_t *cfg)
{
    tt_enrich_t        *e;
    tt_api_settings_t   set;

    e = calloc(1, sizeof(tt_enrich_t));
    if (e == NULL) {
        return NULL;
    }

    tt_api_settings_from(cfg, &set);

    /* short: a job's lease must outlive a TrackTik outage */
    set.timeout_ms = set.timeout_ms < 5000 ? set.timeout_ms : 5000;
    set.max_retries = 2;
    set.backoff_cap_ms = 2000;
    set.max_rate_limited = 3;

    tt_channel_init(&e->ch, "enrich", cfg->dsn, &set);

    if (tt_lookup_init(&e->accounts, &tt_enrich_accounts, e, TT_ENRICH_TTL,
                       TT_ENRICH_SLOTS) != 0
        || tt_lookup_init(&e->posts, &tt_enrich_posts, &e->ch.api,
                          TT_ENRICH_TTL, TT_ENRICH_SLOTS) != 0)
    {
        tt_enrich_free(e);
        return NULL;
    }

    return e;
}


void
tt_enrich_free(tt_enrich_t *e)
{
    size_t  i;

    if (e == NULL) {
        return;
    }

    tt_channel_close(&e->ch);
    tt_lookup_free(&e->accounts);
    tt_lookup_free(&e->posts);

    for (i = 0; i < e->nzones; i++) {
        free(e->zones[i]);
    }

    free(e);
}


void
tt_enrich_no_posts(tt_enrich_t *e)
{
    if (e != NULL) {
        e->no_posts = 1;
    }
}


void
tt_enrich_counts(const tt_enrich_t *e, long long *calls, long long *hits)
{
    *calls = e ? e->accounts.fetches + e->posts.fetches : 0;
    *hits = e ? e->accounts.hits + e->posts.hits : 0;
}


int
tt_enrich_reports(tt_enrich_t *e, tt_payload_t *p,
    const char *default_time_zone, char *err, size_t errlen)
{
    int                   need_client;
    char                  why[512], q[600];
    size_t                i;
    tt_report_t          *r;
    tt_enrich_post_t      post;
    tt_enrich_account_t   site, parent;

    if (e == NULL || !tt_channel_ready(&e->ch)) {
        return 0;
    }

    for (i = 0; i < p->nreports; i++) {
        r = &p->reports[i];

        if (r->position.has_id && !e->no_posts
            && tt_lookup_get(&e->posts, e->ch.conn, r->position.id, &post,
                             why, sizeof(why)) != 0)
        {
            /* names and contracts only: the report does not wait */
            tt_log(TT_LOG_WARN, "event=enrich_failed post=%lld error=%s",
                   r->position.id, tt_log_quote(why, q, sizeof(q)));
        }

        if (!r->site.has_id) {
            continue;
        }

        /* no client named, or only the account itself (a site looks
         * like a CLIENT in the /accounts shape) */
        need_client = !r->client.present || !r->client.has_id
                      || r->client.id == r->site.id;

        if (tt_lookup_get(&e->accounts, e->ch.conn, r->site.id, &site, why,
                          sizeof(why)) != 0)
        {
            if (need_client) {
                snprintf(err, errlen, "report %lld: the client of site %lld "
                         "is needed from TrackTik: %s", r->report_id,
                         r->site.id, why);
                return -1;
            }
            tt_log(TT_LOG_WARN, "event=enrich_failed site=%lld error=%s",
                   r->site.id, tt_log_quote(why, q, sizeof(q)));
            continue;
        }

        if (need_client && (site.parent != 0 || site.is_client)) {
            r->client.present = 1;
            r->client.has_id = 1;
            r->client.id = site.parent != 0 ? site.parent : r->site.id;
            r->client.name = NULL;
        }

        if (r->time_zone == default_time_zone && site.time_zone != NULL) {
            r->time_zone = site.time_zone;
        }

        if (site.parent != 0
            && tt_lookup_get(&e->accounts, e->ch.conn, site.parent, &parent,
                             why, sizeof(why)) != 0)
        {
            tt_log(TT_LOG_WARN, "event=enrich_failed client=%lld error=%s",
                   site.parent, tt_log_quote(why, q, sizeof(q)));
        }
    }

    return 0;
}


static void
tt_enrich_account_row(void *ctx, PGresult *res, void *value)
{
    const char           *type;
    tt_enrich_account_t  *a;

    a = value;
    type = PQgetvalue(res, 0, 0);
    a->is_client = strcmp(type, "CLIENT") == 0
                   || strcmp(type, "MULTI_LOCATION_CLIENT") == 0;
    a->parent = PQgetisnull(res, 0, 1) ? 0 : atoll(PQgetvalue(res, 0, 1));
    a->time_zone = PQgetisnull(res, 0, 2)
                   ? NULL : tt_enrich_zone(ctx, PQgetvalue(res, 0, 2));
}


static int
tt_enrich_account_fetch(void *ctx, long long id, void *value, char *err,
    size_t errlen)
{
    char                  path[96], reason[300], idbuf[32], parent[32];
    yajl_val              tree, item;
    PGresult             *res;
    tt_enrich_t          *e;
    tt_api_rc_e           rc;
    const char           *params[6], *type, *zone;
    tt_http_answer_t      answer;
    tt_enrich_account_t  *a;

    e = ctx;
    a = value;

    snprintf(path, sizeof(path), "/rest/v1/clients/%lld"
             "?include=name,timeZone", id);

    rc = tt_api_request(&e->ch.api, "GET", path, NULL, &answer, err, errlen);
    if (rc != TT_API_OK) {
        return 1;
    }

    tree = NULL;
    item = NULL;

    if (answer.status == 200) {
        item = tt_api_item(&answer, &tree);
    } else if (answer.status != 404) {
        snprintf(err, errlen, "GET /rest/v1/clients/%lld: %s", id,
                 tt_api_error_text(&answer, reason, sizeof(reason)));
        tt_http_answer_free(&answer);
        return 1;
    }

    /* 404: an account that is not a client or site; remembered as such */
    tt_http_answer_free(&answer);

    type = item ? tt_enrich_string(item, "type") : NULL;
    zone = item ? tt_enrich_string(item, "timeZone") : NULL;
    a->parent = item ? tt_api_id(item, "parentClient") : 0;
    a->is_client = type != NULL && (strcmp(type, "CLIENT") == 0
                   || strcmp(type, "MULTI_LOCATION_CLIENT") == 0);
    a->time_zone = zone ? tt_enrich_zone(e, zone) : NULL;

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    snprintf(parent, sizeof(parent), "%lld", a->parent);
    params[0] = idbuf;
    params[1] = item ? tt_enrich_string(item, "name") : NULL;
    params[2] = type;
    params[3] = a->parent ? parent : NULL;
    params[4] = zone;
    params[5] = item ? tt_enrich_string(item, "status") : NULL;

    res = PQexecParams(e->ch.conn,
              "INSERT INTO tracktik_accounts (account_id, name, type,"
              "    parent_client_id, time_zone, status, fetched_at)"
              " VALUES ($1, $2, $3, $4, $5, $6, now())"
              " ON CONFLICT (account_id) DO UPDATE"
              "   SET name = EXCLUDED.name, type = EXCLUDED.type,"
              "       parent_client_id = EXCLUDED.parent_client_id,"
              "       time_zone = EXCLUDED.time_zone,"
              "       status = EXCLUDED.status, fetched_at = now()",
              6, NULL, params, NULL, NULL, 0);

    if (tree != NULL) {
        yajl_tree_free(tree);
    }

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(e->ch.conn, res, "storing tracktik_accounts", err, errlen);
        PQclear(res);
        return 1;
    }

    PQclear(res);
    return 0;
}


static void
tt_enrich_post_row(void *ctx, PGresult *res, void *value)
{
    tt_enrich_post_t  *p;

    (void) ctx;

    p = value;
    p->contract = PQgetisnull(res, 0, 0) ? 0 : atoll(PQgetvalue(res, 0, 0));
}


/* GET /rest/v1/positions/{id} into tracktik_positions */
static int
tt_enrich_post_fetch(void *ctx, long long id, void *value, char *err,
    size_t errlen)
{
    tt_api_t          *api;
    tt_enrich_post_t  *p;

    api = ctx;
    p = value;

    p->api_rc = tt_enrich_fetch_post(api, api->conn, id, &p->contract,
                                     &p->status, err, errlen);

    if (p->api_rc != TT_API_OK) {
        return TT_ENRICH_FAILED;
    }

    return p->status == 200 ? 0 : TT_ENRICH_REFUSED;
}


static tt_api_rc_e
tt_enrich_fetch_post(tt_api_t *api, PGconn *conn, long long id,
    long long *contract, long *status, char *err, size_t errlen)
{
    char               idbuf[32], path[64], reason[300], site[32], cbuf[32];
    yajl_val           tree, item, nb;
    PGresult          *res;
    tt_api_rc_e        rc;
    const char        *params[5], *nbpath[] = { "nonBillable", NULL };
    tt_http_answer_t   answer;

    *contract = 0;
    *status = 0;

    snprintf(path, sizeof(path), "/rest/v1/positions/%lld", id);
    rc = tt_api_request(api, "GET", path, NULL, &answer, err, errlen);
    if (rc != TT_API_OK) {
        return rc;
    }

    *status = answer.status;

    if (answer.status != 200) {
        snprintf(err, errlen, "reading post %lld: TrackTik answered %s", id,
                 tt_api_error_text(&answer, reason, sizeof(reason)));
        tt_http_answer_free(&answer);
        return TT_API_OK;
    }

    item = tt_api_item(&answer, &tree);
    tt_http_answer_free(&answer);

    if (item == NULL) {
        snprintf(err, errlen, "reading post %lld: the answer is not JSON",
                 id);
        if (tree != NULL) {
            yajl_tree_free(tree);
        }
        return TT_API_RETRY;
    }

    *contract = tt_api_id(item, "contract");

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    snprintf(site, sizeof(site), "%lld", tt_api_id(item, "account"));
    snprintf(cbuf, sizeof(cbuf), "%lld", *contract);
    nb = yajl_tree_get(item, nbpath, yajl_t_true);

    params[0] = idbuf;
    params[1] = tt_enrich_string(item, "name");
    params[2] = strcmp(site, "0") ? site : NULL;
    params[3] = *contract ? cbuf : NULL;
    params[4] = nb != NULL ? "t" : "f";

    res = PQexecParams(conn,
              "INSERT INTO tracktik_positions (position_id, name, site_id,"
              "    contract_id, non_billable, fetched_at)"
              " VALUES ($1, $2, $3, $4, $5, now())"
              " ON CONFLICT (position_id) DO UPDATE"
              "   SET name = EXCLUDED.name, site_id = EXCLUDED.site_id,"
              "       contract_id = EXCLUDED.contract_id,"
              "       non_billable = EXCLUDED.non_billable,"
              "       fetched_at = now()", 5, NULL, params, NULL, NULL, 0);

    yajl_tree_free(tree);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        tt_db_error(conn, res, "storing tracktik_positions", err, errlen);
        PQclear(res);
        return TT_API_ERROR;
    }

    PQclear(res);
    return TT_API_OK;
}


/* time zone names live as long as the process: reports point at them */
static const char *
tt_enrich_zone(tt_enrich_t *e, const char *zone)
{
    size_t  i;

    for (i = 0; i < e->nzones; i++) {
        if (strcmp(e->zones[i], zone) == 0) {
            return e->zones[i];
        }
    }

    if (e->nzones == TT_ENRICH_ZONES) {
        return NULL;
    }

    e->zones[e->nzones] = strdup(zone);

    return e->zones[e->nzones] ? e->zones[e->nzones++] : NULL;
}


static const char *
tt_enrich_string(yajl_val item, const char *key)
{
    yajl_val     v;
    const char  *path[] = { key, NULL };

    v = yajl_tree_get(item, path, yajl_t_string);

    return v ? v->u.string : NULL;
}
