
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PORTAL_RESPONSE_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PORTAL_RESPONSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_portal_call.h"


ngx_int_t ngx_http_tracktik_portal_send(ngx_http_request_t *r,
    ngx_uint_t status, char *type, u_char *body, size_t len);
ngx_int_t ngx_http_tracktik_portal_error(ngx_http_request_t *r,
    ngx_uint_t status, char *error);
ngx_int_t ngx_http_tracktik_portal_header(ngx_http_request_t *r, char *key,
    char *value);

/* done handlers: the answer as JSON, or the photo it names */
void ngx_http_tracktik_portal_answered(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
void ngx_http_tracktik_portal_attachment(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);


#endif /* _NGX_HTTP_TRACKTIK_PORTAL_RESPONSE_H_INCLUDED_ */
