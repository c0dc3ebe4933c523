
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * One statement asked of PostgreSQL on behalf of a request, under a
 * deadline: what the metrics and the health locations need (the portal's
 * calls, with their arguments and answer row, are portal_call.c).  The
 * request waits; the callback gets the result, or why there is none.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_ask.h"


typedef struct {
    ngx_http_tracktik_ctx_t          vars;     /* must be first */
    ngx_http_request_t              *request;
    ngx_http_tracktik_pg_pool_t     *pool;
    ngx_http_tracktik_pg_query_t     query;
    ngx_http_tracktik_ask_done_pt    done;
    ngx_event_t                      deadline;
    unsigned                         pending:1;
} ngx_http_tracktik_ask_ctx_t;


static void ngx_http_tracktik_ask_handle(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc);
static void ngx_http_tracktik_ask_expired(ngx_event_t *ev);
static void ngx_http_tracktik_ask_cleanup(void *data);


ngx_int_t
ngx_http_tracktik_ask(ngx_http_request_t *r, ngx_uint_t portal,
    const char *sql, ngx_http_tracktik_ask_done_pt done)
{
    ngx_int_t                       rc;
    ngx_msec_t                      query_timeout;
    ngx_pool_cleanup_t             *cln;
    ngx_http_tracktik_pg_pool_t    *pool;
    ngx_http_tracktik_ask_ctx_t    *ctx;
    ngx_http_tracktik_main_conf_t  *tmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tracktik_module);

    if (portal) {
        pool = ngx_http_tracktik_portal_pool(tmcf);
        query_timeout = tmcf->portal_pg.query_timeout;

    } else {
        pool = ngx_http_tracktik_pool(tmcf);
        query_timeout = tmcf->pg.query_timeout;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tracktik_ask_ctx_t));
    if (ctx == NULL || pool == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_tracktik_ask_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->pool = pool;
    ctx->done = done;

    ctx->query.command = sql;
    ctx->query.handler = ngx_http_tracktik_ask_handle;
    ctx->query.data = ctx;
    ctx->query.log = r->connection->log;

    ngx_http_set_ctx(r, ctx, ngx_http_tracktik_module);

    /* done finalizes the request, now or later: it is held till then */

    r->main->count++;

    rc = ngx_http_tracktik_pg_submit(pool, &ctx->query);

    if (rc != NGX_OK) {
        done(r, NULL, NGX_DECLINED);
        return NGX_DONE;
    }

    ctx->pending = 1;

    ctx->deadline.handler = ngx_http_tracktik_ask_expired;
    ctx->deadline.data = ctx;
    ctx->deadline.log = r->connection->log;

    ngx_add_timer(&ctx->deadline,
                  ngx_min(query_timeout, NGX_HTTP_TRACKTIK_ASK_TIMEOUT));

    return NGX_DONE;
}


static void
ngx_http_tracktik_ask_handle(ngx_http_tracktik_pg_query_t *q, PGresult *res,
    ngx_int_t rc)
{
    ngx_http_tracktik_ask_ctx_t *ctx = q->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ctx->pending = 0;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (rc == NGX_HTTP_SERVICE_UNAVAILABLE) {
        rc = NGX_DECLINED;
    }

    ctx->done(r, res, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_tracktik_ask_expired(ngx_event_t *ev)
{
    ngx_http_tracktik_ask_ctx_t *ctx = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                  "tracktik: PostgreSQL did not answer in time");

    ngx_http_tracktik_pg_cancel(ctx->pool, &ctx->query);
    ctx->pending = 0;

    ctx->done(r, NULL, NGX_AGAIN);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_tracktik_ask_cleanup(void *data)
{
    ngx_http_tracktik_ask_ctx_t *ctx = data;

    if (ctx->pending) {
        ngx_http_tracktik_pg_cancel(ctx->pool, &ctx->query);
        ctx->pending = 0;
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }
}
