
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PORTAL_ARCHIVE_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PORTAL_ARCHIVE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_portal_call.h"


/* done handler: the auditor's archive the answer names, or the answer */
void ngx_http_tracktik_portal_archive(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);


#endif /* _NGX_HTTP_TRACKTIK_PORTAL_ARCHIVE_H_INCLUDED_ */
