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
#include "db.h"
#include "enrich.h"
#include "log.h"


#define TT_ENRICH_SLOTS    509
#define TT_ENRICH_ZONES    256
#define TT_ENRICH_RECHECK  60.0     /* seconds between session checks */


typedef struct {
    long long    id;                /* 0: empty slot */
    long long    parent;            /* parent client, 0: none */
    int          is_client;         /* CLIENT or MULTI_LOCATION_CLIENT */
    const char  *time_zone;         /* interned; NULL: unknown */
    double       expires;           /* monotonic */
} tt_enrich_account_t;


typedef struct {
    long long    id;
    double       expires;
} tt_enrich_post_t;


struct tt_enrich_s {
    const tt_config_t    *cfg;
    PGconn               *conn;
    tt_api_t              api;
    int                   api_open;
    int                   active;
    double                checked_at;
    long long             calls;
    long long             hits;
    size_t                nzones;
    char                 *zones[TT_ENRICH_ZONES];
    tt_enrich_account_t   accounts[TT_ENRICH_SLOTS];
    tt_enrich_post_t      posts[TT_ENRICH_SLOTS];
};


static int tt_enrich_check(tt_enrich_t *e);
static int tt_enrich_account(tt_enrich_t *e, long long id,
    tt_enrich_account_t *out, char *err, size_t errlen);
static int tt_enrich_account_fetch(tt_enrich_t *e, long long id,
    tt_enrich_account_t *a, char *err, size_t errlen);
static int tt_enrich_post(tt_enrich_t *e, long long id, char *err,
    size_t errlen);
static const char *tt_enrich_zone(tt_enrich_t *e, const char *zone);
static const char *tt_enrich_string(yajl_val item, const char *key);
static long long tt_enrich_id(yajl_val item, const char *key);


tt_enrich_t *
tt_enrich_new(const tt_config_t *cfg)
{
    tt_enrich_t  *e;

    e = calloc(1, sizeof(tt_enrich_t));
    if (e == NULL) {
        return NULL;
    }

    e->cfg = cfg;
    e->checked_at = -TT_ENRICH_RECHECK;

    return e;
}


void
tt_enrich_free(tt_enrich_t *e)
{
    size_t  i;

    if (e == NULL) {
        return;
    }

    if (e->api_open) {
        tt_api_close(&e->api);
    }
    if (e->conn != NULL) {
        PQfinish(e->conn);
    }
    for (i = 0; i < e->nzones; i++) {
        free(e->zones[i]);
    }

    free(e);
}


void
tt_enrich_counts(const tt_enrich_t *e, long long *calls, long long *hits)
{
    *calls = e ? e->calls : 0;
    *hits = e ? e->hits : 0;
}


int
tt_enrich_reports(tt_enrich_t *e, tt_payload_t *p,
    const char *default_time_zone, char *err, size_t errlen)
{
    int                   need_client;
    char                  why[512], q[600];
    size_t                i;
    tt_report_t          *r;
    tt_enrich_account_t   site, parent;

    if (e == NULL || !tt_enrich_check(e)) {
        return 0;
    }

    for (i = 0; i < p->nreports; i++) {
        r = &p->reports[i];

        if (r->position.has_id
            && tt_enrich_post(e, r->position.id, why, sizeof(why)) != 0)
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

        if (tt_enrich_account(e, r->site.id, &site, why, sizeof(why)) != 0)
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
            && tt_enrich_account(e, site.parent, &parent, why, sizeof(why))
               != 0)
        {
            tt_log(TT_LOG_WARN, "event=enrich_failed client=%lld error=%s",
                   site.parent, tt_log_quote(why, q, sizeof(q)));
        }
    }

    return 0;
}


/* is there a session to use?  (re-checked every minute) */
static int
tt_enrich_check(tt_enrich_t *e)
{
    char               err[1024], q[1100];
    double             now;
    PGresult          *res;
    tt_api_settings_t  set;

    now = tt_api_now();

    if (e->active && e->conn != NULL && PQstatus(e->conn) == CONNECTION_OK) {
        return 1;
    }

    if (now - e->checked_at < TT_ENRICH_RECHECK) {
        return 0;
    }

    e->checked_at = now;
    e->active = 0;

    if (e->conn != NULL && PQstatus(e->conn) != CONNECTION_OK) {
        PQreset(e->conn);
    }

    if (e->conn == NULL) {
        e->conn = tt_db_connect(e->cfg->dsn, err, sizeof(err));
        if (e->conn == NULL) {
            tt_log(TT_LOG_WARN, "event=enrich_off error=%s",
                   tt_log_quote(err, q, sizeof(q)));
            return 0;
        }
    }

    res = PQexec(e->conn, "SELECT count(*) FROM tracktik_oauth");
    if (PQresultStatus(res) != PGRES_TUPLES_OK
        || strcmp(PQgetvalue(res, 0, 0), "0") == 0)
    {
        /* no session (or no schema for it): the worker runs without */
        PQclear(res);
        return 0;
    }
    PQclear(res);

    if (!e->api_open) {
        tt_api_settings_from(e->cfg, &set);

        /* short: a job's lease must outlive a TrackTik outage */
        set.timeout_ms = set.timeout_ms < 5000 ? set.timeout_ms : 5000;
        set.max_retries = 2;
        set.backoff_cap_ms = 2000;
        set.max_rate_limited = 3;

        if (tt_api_open(&e->api, e->conn, &set, err, sizeof(err))
            != TT_API_OK)
        {
            tt_api_close(&e->api);
            tt_log(TT_LOG_WARN, "event=enrich_off error=%s",
                   tt_log_quote(err, q, sizeof(q)));
            return 0;
        }
        e->api_open = 1;
        tt_log(TT_LOG_INFO, "event=enrich_on tenant=%s",
               tt_log_quote(e->api.base_url, q, sizeof(q)));
    }

    e->active = 1;
    return 1;
}


static int
tt_enrich_account(tt_enrich_t *e, long long id, tt_enrich_account_t *out,
    char *err, size_t errlen)
{
    char                  idbuf[32], ttl[16];
    double                now;
    PGresult             *res;
    const char           *params[2], *type;
    tt_enrich_account_t  *slot;

    now = tt_api_now();
    slot = &e->accounts[(unsigned long long) id % TT_ENRICH_SLOTS];

    if (slot->id == id && slot->expires > now) {
        e->hits++;
        *out = *slot;
        return 0;
    }

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    snprintf(ttl, sizeof(ttl), "%d", TT_ENRICH_TTL);
    params[0] = idbuf;
    params[1] = ttl;

    res = PQexecParams(e->conn,
              "SELECT type, parent_client_id, time_zone,"
              "       extract(epoch FROM fetched_at"
              "               + make_interval(secs => $2) - now())"
              "  FROM tracktik_accounts"
              " WHERE account_id = $1"
              "   AND fetched_at > now() - make_interval(secs => $2)",
              2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(e->conn, res, "reading tracktik_accounts", err, errlen);
        PQclear(res);
        return -1;
    }

    memset(out, 0, sizeof(*out));
    out->id = id;

    if (PQntuples(res) == 1) {
        type = PQgetvalue(res, 0, 0);
        out->is_client = strcmp(type, "CLIENT") == 0
                         || strcmp(type, "MULTI_LOCATION_CLIENT") == 0;
        out->parent = PQgetisnull(res, 0, 1) ? 0
                                             : atoll(PQgetvalue(res, 0, 1));
        out->time_zone = PQgetisnull(res, 0, 2)
                         ? NULL : tt_enrich_zone(e, PQgetvalue(res, 0, 2));
        out->expires = now + atof(PQgetvalue(res, 0, 3));
        PQclear(res);
        e->hits++;
        *slot = *out;
        return 0;
    }

    PQclear(res);

    if (tt_enrich_account_fetch(e, id, out, err, errlen) != 0) {
        return -1;
    }

    out->expires = now + TT_ENRICH_TTL;
    *slot = *out;
    return 0;
}


static int
tt_enrich_account_fetch(tt_enrich_t *e, long long id, tt_enrich_account_t *a,
    char *err, size_t errlen)
{
    char              path[96], reason[300], idbuf[32], parent[32];
    yajl_val          tree, item;
    PGresult         *res;
    tt_api_rc_e       rc;
    const char       *params[6], *type, *zone;
    tt_http_answer_t  answer;

    snprintf(path, sizeof(path), "/rest/v1/clients/%lld"
             "?include=name,timeZone", id);

    rc = tt_api_request(&e->api, "GET", path, NULL, &answer, err, errlen);
    if (rc != TT_API_OK) {
        return -1;
    }
    e->calls++;

    tree = NULL;
    item = NULL;

    if (answer.status == 200) {
        item = tt_api_item(&answer, &tree);
    } else if (answer.status != 404) {
        snprintf(err, errlen, "GET /rest/v1/clients/%lld: %s", id,
                 tt_api_error_text(&answer, reason, sizeof(reason)));
        tt_http_answer_free(&answer);
        return -1;
    }

    /* 404: an account that is not a client or site; remembered as such */
    tt_http_answer_free(&answer);

    type = item ? tt_enrich_string(item, "type") : NULL;
    zone = item ? tt_enrich_string(item, "timeZone") : NULL;
    a->parent = item ? tt_enrich_id(item, "parentClient") : 0;
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

    res = PQexecParams(e->conn,
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
        tt_db_error(e->conn, res, "storing tracktik_accounts", err, errlen);
        PQclear(res);
        return -1;
    }

    PQclear(res);
    return 0;
}


static int
tt_enrich_post(tt_enrich_t *e, long long id, char *err, size_t errlen)
{
    char               idbuf[32], ttl[16];
    long               status;
    double             now;
    PGresult          *res;
    long long          contract;
    tt_api_rc_e        rc;
    tt_enrich_post_t  *slot;
    const char        *params[2];

    now = tt_api_now();
    slot = &e->posts[(unsigned long long) id % TT_ENRICH_SLOTS];

    if (slot->id == id && slot->expires > now) {
        e->hits++;
        return 0;
    }

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    snprintf(ttl, sizeof(ttl), "%d", TT_ENRICH_TTL);
    params[0] = idbuf;
    params[1] = ttl;

    res = PQexecParams(e->conn,
              "SELECT extract(epoch FROM fetched_at"
              "               + make_interval(secs => $2) - now())"
              "  FROM tracktik_positions WHERE position_id = $1"
              "   AND fetched_at > now() - make_interval(secs => $2)",
              2, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(e->conn, res, "reading tracktik_positions", err, errlen);
        PQclear(res);
        return -1;
    }

    if (PQntuples(res) == 1) {
        slot->id = id;
        slot->expires = now + atof(PQgetvalue(res, 0, 0));
        PQclear(res);
        e->hits++;
        return 0;
    }

    PQclear(res);

    rc = tt_enrich_fetch_post(&e->api, e->conn, id, &contract, &status, err,
                              errlen);
    if (rc != TT_API_OK || status != 200) {
        return -1;
    }

    e->calls++;
    slot->id = id;
    slot->expires = now + TT_ENRICH_TTL;
    return 0;
}


tt_api_rc_e
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

    *contract = tt_enrich_id(item, "contract");

    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    snprintf(site, sizeof(site), "%lld", tt_enrich_id(item, "account"));
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


/* an integer id, or an included object's id; 0 when absent */
static long long
tt_enrich_id(yajl_val item, const char *key)
{
    yajl_val     v;
    const char  *path[] = { key, NULL }, *idpath[] = { "id", NULL };

    v = yajl_tree_get(item, path, yajl_t_any);

    if (v != NULL && YAJL_IS_OBJECT(v)) {
        v = yajl_tree_get(v, idpath, yajl_t_any);
    }

    if (v != NULL && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) > 0) {
        return YAJL_GET_INTEGER(v);
    }

    return 0;
}
