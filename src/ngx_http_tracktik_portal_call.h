
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PORTAL_CALL_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PORTAL_CALL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_password.h"


/* p_token and up to eight more named arguments */
#define NGX_HTTP_TRACKTIK_MAX_PARAMS  9


typedef struct ngx_http_tracktik_portal_ctx_s
    ngx_http_tracktik_portal_ctx_t;

/* rc: NGX_OK (ctx->status, body, next hold the answer) or an HTTP status */
typedef void (*ngx_http_tracktik_portal_done_pt)(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);


struct ngx_http_tracktik_portal_ctx_s {
    ngx_http_tracktik_ctx_t             vars;      /* must be first */

    ngx_http_request_t                 *r;
    ngx_http_tracktik_pg_pool_t        *pool;
    ngx_http_tracktik_pg_query_t        query;
    ngx_http_tracktik_portal_done_pt    done;
    ngx_event_t                         deadline;
    ngx_event_t                         tick;      /* event stream polls */

    ngx_str_t                           token;     /* from the cookie */

    /* a login: the password is wiped once the check has its copy */
    ngx_str_t                           email;
    ngx_str_t                           password;
    ngx_str_t                           hash;
    ngx_http_tracktik_password_t       *check;

    /* the route's function, and the one query.command calls */
    const char                         *function;
    const char                         *called;

    /* the call: called(p_token => $1, names[1] => $2, ...) */
    const char                         *names[NGX_HTTP_TRACKTIK_MAX_PARAMS];
    const char                         *values[NGX_HTTP_TRACKTIK_MAX_PARAMS];
    ngx_uint_t                          nvalues;

    /* the answer of the last call */
    ngx_uint_t                          status;
    ngx_str_t                           body;
    ngx_str_t                           next;
    ngx_pool_t                         *body_pool; /* NULL: r->pool */

    /* access phase */
    ngx_int_t                           auth_rc;
    unsigned                            auth_done:1;

    unsigned                            pending:1;
    unsigned                            streaming:1;
    ngx_uint_t                          idle_ticks;
    ngx_msec_t                          started;
};


ngx_http_tracktik_portal_ctx_t *ngx_http_tracktik_portal_ctx(
    ngx_http_request_t *r);
ngx_int_t ngx_http_tracktik_portal_value(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *name, u_char *data,
    size_t len);
ngx_int_t ngx_http_tracktik_portal_begin(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *function,
    ngx_http_tracktik_portal_done_pt done);
ngx_int_t ngx_http_tracktik_portal_call(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *function,
    ngx_http_tracktik_portal_done_pt done);


#endif /* _NGX_HTTP_TRACKTIK_PORTAL_CALL_H_INCLUDED_ */
