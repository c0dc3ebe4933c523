
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PORTAL_STREAM_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PORTAL_STREAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_portal_call.h"


/* done handlers: each answer is a page of the stream */

void ngx_http_tracktik_portal_csv_page(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);

/* the latest audit's CSV, whole (one page), as audit.csv */
void ngx_http_tracktik_portal_audit_csv(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
void ngx_http_tracktik_portal_events_page(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);


#endif /* _NGX_HTTP_TRACKTIK_PORTAL_STREAM_H_INCLUDED_ */
