
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PORTAL_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PORTAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_portal_call.h"


/* where a named argument's value comes from */
#define NGX_HTTP_TRACKTIK_ARG_QUERY   0    /* ?name=, name without "p_" */
#define NGX_HTTP_TRACKTIK_ARG_ID      1    /* the id that ends the path */
#define NGX_HTTP_TRACKTIK_ARG_RESUME  2    /* Last-Event-ID, or "" */
#define NGX_HTTP_TRACKTIK_ARG_CURSOR  3    /* a stream's pages: "" first */


typedef struct ngx_http_tracktik_portal_route_s
    ngx_http_tracktik_portal_route_t;

/* NGX_DONE once the route is under way, or a status to finalize with */
typedef ngx_int_t (*ngx_http_tracktik_portal_start_pt)(
    ngx_http_request_t *r, ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id);


typedef struct {
    char                               *name;   /* the SQL parameter */
    ngx_uint_t                          from;   /* NGX_HTTP_TRACKTIK_ARG_* */
} ngx_http_tracktik_portal_arg_t;


/* how a route starts, and what becomes of the function's answer */
typedef struct {
    ngx_http_tracktik_portal_start_pt   start;
    ngx_http_tracktik_portal_done_pt    done;
} ngx_http_tracktik_portal_answer_t;


struct ngx_http_tracktik_portal_route_s {
    ngx_uint_t                          method;   /* GET (and HEAD), POST */
    ngx_str_t                           path;     /* "x/": an id follows */
    char                               *function;
    ngx_http_tracktik_portal_arg_t     *args;     /* after p_token */
    ngx_http_tracktik_portal_answer_t  *answer;
};


ngx_int_t ngx_http_tracktik_portal_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TRACKTIK_PORTAL_H_INCLUDED_ */
