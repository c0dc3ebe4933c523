
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * One call of a portal function, shared by the portal routes and the
 * session check of the access phase: the function is called with named
 * arguments (the session token as p_token, then the request's values),
 * under the portal pool's query deadline, and its one answer row (status,
 * body, user, client, next) is decoded into the request context.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>

#include "ngx_http_tracktik_portal_call.h"


/* every portal function answers with this row (portal_reply()) */
#define NGX_HTTP_TRACKTIK_ANSWER                                              \
    "SELECT status, body, user_email, client_id, next FROM "


static const char *ngx_http_tracktik_portal_sql(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *function,
    ngx_uint_t first);
static void ngx_http_tracktik_portal_handle(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc);
static void ngx_http_tracktik_portal_expired(ngx_event_t *ev);
static void ngx_http_tracktik_portal_cleanup(void *data);


ngx_http_tracktik_portal_ctx_t *
ngx_http_tracktik_portal_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tracktik_portal_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_tracktik_portal_cleanup;
    cln->data = r;

    ctx->r = r;

    ngx_http_set_ctx(r, ctx, ngx_http_tracktik_module);

    return ctx;
}


/*
 * The next named argument of the call (after p_token): text format, so a
 * NUL-terminated copy.
 */

ngx_int_t
ngx_http_tracktik_portal_value(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *name, u_char *data,
    size_t len)
{
    u_char  *p;

    if (ctx->nvalues >= NGX_HTTP_TRACKTIK_MAX_PARAMS - 1) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, data, len);
    p[len] = '\0';

    ctx->nvalues++;
    ctx->names[ctx->nvalues] = name;
    ctx->values[ctx->nvalues] = (const char *) p;

    return NGX_OK;
}


/*
 * Calls function with the session token as p_token (when there is one)
 * and ctx->values under their names; done is called with the answer, or
 * with an HTTP status when there is none or the deadline passed.
 */

ngx_int_t
ngx_http_tracktik_portal_call(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *function,
    ngx_http_tracktik_portal_done_pt done)
{
    u_char                         *p;
    ngx_int_t                       rc;
    ngx_uint_t                      first;
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tracktik_module);

    ctx->pool = ngx_http_tracktik_portal_pool(tmcf);
    if (ctx->pool == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->token.len) {
        p = ngx_pnalloc(r->pool, ctx->token.len + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, ctx->token.data, ctx->token.len);
        p[ctx->token.len] = '\0';

        ctx->names[0] = "p_token";
        ctx->values[0] = (const char *) p;
        first = 0;

    } else {
        /* the login: no session yet */
        first = 1;
    }

    /* a stream calls the same function again: the text is kept */

    if (ctx->called != function
        || (ngx_uint_t) ctx->query.nparams != 1 + ctx->nvalues - first)
    {
        ctx->query.command = ngx_http_tracktik_portal_sql(r, ctx, function,
                                                          first);
        if (ctx->query.command == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->called = function;
    }

    ctx->query.values = ctx->values + first;
    ctx->query.nparams = 1 + ctx->nvalues - first;
    ctx->query.lengths = NULL;
    ctx->query.formats = NULL;
    ctx->query.prepare = NULL;
    /*
     * until the answer comes, there is no body: a stream's previous page
     * is freed by now, and a call that fails or times out leaves this
     * for whoever reports it
     */
    ngx_str_set(&ctx->body, "no answer from PostgreSQL");

    ctx->query.handler = ngx_http_tracktik_portal_handle;
    ctx->query.data = ctx;
    ctx->query.log = r->connection->log;
    ctx->done = done;

    rc = ngx_http_tracktik_pg_submit(ctx->pool, &ctx->query);

    if (rc != NGX_OK) {
        ngx_log_error((rc == NGX_BUSY ? NGX_LOG_WARN : NGX_LOG_ERR),
                      r->connection->log, 0, "tracktik portal: %s",
                      rc == NGX_BUSY ? "PostgreSQL queue is full"
                                     : "PostgreSQL is unavailable");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ctx->pending = 1;

    ctx->deadline.handler = ngx_http_tracktik_portal_expired;
    ctx->deadline.data = r;
    ctx->deadline.log = r->connection->log;

    ngx_add_timer(&ctx->deadline, tmcf->portal_pg.query_timeout);

    return NGX_OK;
}


/* the first call of a content handler: the request waits for its answer */

ngx_int_t
ngx_http_tracktik_portal_begin(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *function,
    ngx_http_tracktik_portal_done_pt done)
{
    ngx_int_t  rc;

    rc = ngx_http_tracktik_portal_call(r, ctx, function, done);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;

    return NGX_DONE;
}


/* "SELECT ... FROM function(p_token => $1, p_site => $2, ...)" */

static const char *
ngx_http_tracktik_portal_sql(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *function,
    ngx_uint_t first)
{
    u_char      *sql, *p;
    size_t       len;
    ngx_uint_t   i;

    len = sizeof(NGX_HTTP_TRACKTIK_ANSWER "()") + ngx_strlen(function);

    for (i = first; i <= ctx->nvalues; i++) {
        len += sizeof(", ") - 1 + ngx_strlen(ctx->names[i])
               + sizeof(" => $") - 1 + NGX_INT_T_LEN;
    }

    sql = ngx_pnalloc(r->pool, len);
    if (sql == NULL) {
        return NULL;
    }

    p = ngx_sprintf(sql, NGX_HTTP_TRACKTIK_ANSWER "%s(", function);

    for (i = first; i <= ctx->nvalues; i++) {
        p = ngx_sprintf(p, "%s%s => $%ui", i == first ? "" : ", ",
                        ctx->names[i], i - first + 1);
    }

    *p++ = ')';
    *p = '\0';

    return (const char *) sql;
}


static void
ngx_http_tracktik_portal_handle(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc)
{
    ngx_http_tracktik_portal_ctx_t *ctx = q->data;

    u_char              *p;
    ngx_str_t           *s;
    ngx_int_t            n;
    ngx_uint_t           i;
    ngx_pool_t          *pool;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->r;
    c = r->connection;

    ctx->pending = 0;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (rc == NGX_OK && (PQntuples(res) != 1 || PQnfields(res) != 5)) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "tracktik portal: unexpected answer shape");
        rc = NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ctx->done(r, ctx, rc == NGX_ERROR ? NGX_HTTP_SERVICE_UNAVAILABLE
                                          : rc);
        ngx_http_run_posted_requests(c);
        return;
    }

    n = ngx_atoi((u_char *) PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
    ctx->status = (n >= 200 && n < 600) ? (ngx_uint_t) n
                                        : NGX_HTTP_INTERNAL_SERVER_ERROR;

    pool = ctx->body_pool ? ctx->body_pool : r->pool;

    for (i = 1; i < 5; i++) {
        s = (i == 1) ? &ctx->body : (i == 2) ? &ctx->vars.user
            : (i == 3) ? &ctx->vars.client : &ctx->next;

        s->len = PQgetisnull(res, 0, i) ? 0 : PQgetlength(res, 0, i);
        s->data = NULL;

        if (s->len == 0) {
            continue;
        }

        p = ngx_pnalloc(i == 1 ? pool : r->pool, s->len + 1);
        if (p == NULL) {
            ctx->done(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            ngx_http_run_posted_requests(c);
            return;
        }

        ngx_memcpy(p, PQgetvalue(res, 0, i), s->len);
        p[s->len] = '\0';
        s->data = p;
    }

    ctx->done(r, ctx, NGX_OK);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_tracktik_portal_expired(ngx_event_t *ev)
{
    ngx_connection_t                *c;
    ngx_http_request_t              *r;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx->pending) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "tracktik portal: PostgreSQL did not answer in time");

        ngx_http_tracktik_pg_cancel(ctx->pool, &ctx->query);
        ctx->pending = 0;
    }

    /* or whatever else the request waited for (the password check) */

    ctx->done(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_tracktik_portal_cleanup(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_tracktik_portal_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx == NULL) {
        return;
    }

    if (ctx->pending) {
        ngx_http_tracktik_pg_cancel(ctx->pool, &ctx->query);
        ctx->pending = 0;
    }

    if (ctx->check) {
        ngx_http_tracktik_password_forget(ctx->check);
        ctx->check = NULL;
    }

    if (ctx->password.data) {
        OPENSSL_cleanse(ctx->password.data, ctx->password.len);
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (ctx->tick.timer_set) {
        ngx_del_timer(&ctx->tick);
    }

    if (ctx->body_pool) {
        ngx_destroy_pool(ctx->body_pool);
        ctx->body_pool = NULL;
    }
}
