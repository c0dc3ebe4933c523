
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PORTAL_LOGIN_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PORTAL_LOGIN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_portal_route.h"


ngx_int_t ngx_http_tracktik_portal_login(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id);
void ngx_http_tracktik_portal_login_hash(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
ngx_int_t ngx_http_tracktik_portal_logout(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id);


#endif /* _NGX_HTTP_TRACKTIK_PORTAL_LOGIN_H_INCLUDED_ */
