
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The tracktik_health location: 200 only when PostgreSQL answers a round
 * trip on the webhook's pool in time and its schema is at least the one
 * this build needs (TT_SCHEMA_VERSION); 503 with a one-line reason
 * otherwise.  The version is logged at start, and the first worker of a
 * configuration with a health location checks the schema at once, so an
 * old schema is in the error log before anybody asks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_ask.h"
#include "ngx_http_tracktik_directives.h"
#include "ngx_http_tracktik_health.h"
#include "ngx_http_tracktik_portal_response.h"
#include "common/tt_version.h"


/*
 * The schema's version, 0 when tracktik_schema_version() does not exist
 * (a schema older than migration 013, or none): its call runs only when
 * it exists, through query_to_xml(), so an old schema is an answer, not
 * an error the pool would log at every check.
 */
static char  ngx_http_tracktik_version_sql[] =
    "SELECT CASE WHEN to_regprocedure('tracktik_schema_version()') IS NULL"
    " THEN 0 ELSE (xpath('/row/v/text()', query_to_xml("
    "'SELECT tracktik_schema_version() AS v', false, true, '')))[1]"
    "::text::integer END";

#define NGX_HTTP_TRACKTIK_SCHEMA_OLD                                          \
    "schema older than module: run tracktik-worker migrate\n"


static ngx_int_t ngx_http_tracktik_health_handler(ngx_http_request_t *r);
static void ngx_http_tracktik_health_answer(ngx_http_request_t *r,
    PGresult *res, ngx_int_t rc);
static ngx_int_t ngx_http_tracktik_health_version(PGresult *res,
    ngx_log_t *log);
static void ngx_http_tracktik_health_start(ngx_event_t *ev);
static void ngx_http_tracktik_health_started(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc);


/* per worker: the old schema is said once in the error log */
static ngx_uint_t                     ngx_http_tracktik_schema_logged;

static ngx_event_t                    ngx_http_tracktik_health_event;
static ngx_http_tracktik_pg_query_t   ngx_http_tracktik_health_query;


char *
ngx_http_tracktik_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tracktik_module);
    tmcf->health = 1;

    return ngx_http_tracktik_content(cf, ngx_http_tracktik_health_handler,
                                     NULL);
}


ngx_int_t
ngx_http_tracktik_health_init_module(ngx_cycle_t *cycle)
{
    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "tracktik module %s, schema version %d",
                  TT_VERSION, TT_SCHEMA_VERSION);

    return NGX_OK;
}


/* the first worker asks for the schema's version as soon as it runs */

void
ngx_http_tracktik_health_init_process(ngx_cycle_t *cycle)
{
    ngx_event_t                    *ev;
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_tracktik_module);

    /* not in the cache manager and loader, which run this too */

    if (tmcf == NULL || !tmcf->health || !tmcf->configured
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_worker != 0)
    {
        return;
    }

    ev = &ngx_http_tracktik_health_event;

    ev->handler = ngx_http_tracktik_health_start;
    ev->data = tmcf;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, 1);
}


static void
ngx_http_tracktik_health_start(ngx_event_t *ev)
{
    ngx_http_tracktik_pg_pool_t   *pool;
    ngx_http_tracktik_pg_query_t  *q;

    pool = ngx_http_tracktik_pool(ev->data);
    if (pool == NULL) {
        return;
    }

    q = &ngx_http_tracktik_health_query;

    q->command = ngx_http_tracktik_version_sql;
    q->handler = ngx_http_tracktik_health_started;
    q->log = ev->log;

    /* PostgreSQL down: the pool has said so, the health location will */
    (void) ngx_http_tracktik_pg_submit(pool, q);
}


static void
ngx_http_tracktik_health_started(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc)
{
    if (rc == NGX_OK) {
        (void) ngx_http_tracktik_health_version(res, q->log);
    }
}


static ngx_int_t
ngx_http_tracktik_health_handler(ngx_http_request_t *r)
{
    /* the webhook's pool: its health is what is checked */

    return ngx_http_tracktik_ask(r, 0, ngx_http_tracktik_version_sql,
                                 ngx_http_tracktik_health_answer);
}


static void
ngx_http_tracktik_health_answer(ngx_http_request_t *r, PGresult *res,
    ngx_int_t rc)
{
    char        *reason;
    ngx_uint_t   status;

    status = NGX_HTTP_SERVICE_UNAVAILABLE;

    switch (rc) {

    case NGX_OK:
        if (ngx_http_tracktik_health_version(res, r->connection->log)
            == NGX_OK)
        {
            status = NGX_HTTP_OK;
            reason = "ok\n";

        } else {
            reason = NGX_HTTP_TRACKTIK_SCHEMA_OLD;
        }

        break;

    case NGX_AGAIN:
        reason = "PostgreSQL did not answer in time\n";
        break;

    case NGX_DECLINED:
        reason = "PostgreSQL is unavailable\n";
        break;

    default:
        reason = "PostgreSQL refused the check\n";
    }

    ngx_http_finalize_request(r,
        ngx_http_tracktik_portal_send(r, status, "text/plain",
                                      (u_char *) reason, ngx_strlen(reason)));
}


/* NGX_OK when the schema is as new as this build needs */

static ngx_int_t
ngx_http_tracktik_health_version(PGresult *res, ngx_log_t *log)
{
    ngx_int_t  version;

    version = NGX_ERROR;

    if (PQntuples(res) == 1 && PQnfields(res) == 1 && !PQgetisnull(res, 0, 0))
    {
        version = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                           PQgetlength(res, 0, 0));
    }

    if (version >= TT_SCHEMA_VERSION) {
        return NGX_OK;
    }

    if (!ngx_http_tracktik_schema_logged) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "tracktik: the database schema is version %i, this "
                      "module needs %d: run \"tracktik-worker migrate\"",
                      version, TT_SCHEMA_VERSION);
        ngx_http_tracktik_schema_logged = 1;
    }

    return NGX_DECLINED;
}

