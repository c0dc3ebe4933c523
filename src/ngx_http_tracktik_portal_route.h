
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * What a portal route is: a row of the router's table (portal.c), handed
 * to the function that starts it (portal.c, portal_login.c).
 */


#ifndef _NGX_HTTP_TRACKTIK_PORTAL_ROUTE_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PORTAL_ROUTE_H_INCLUDED_


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


struct ngx_http_tracktik_portal_route_s {
    ngx_uint_t                          method;   /* GET (and HEAD), POST */
    ngx_str_t                           path;     /* "x/": an id follows */
    char                               *function;
    ngx_http_tracktik_portal_arg_t     *args;     /* after p_token */
    ngx_uint_t                          answer;   /* its kind: a row of
                                                     portal.c's answers[] */
};


#endif /* _NGX_HTTP_TRACKTIK_PORTAL_ROUTE_H_INCLUDED_ */
