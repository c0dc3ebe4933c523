
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PORTAL_ORIGIN_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PORTAL_ORIGIN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* tracktik_portal_origin ORIGIN ...; */
char *ngx_http_tracktik_portal_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* NGX_OK when the request's Origin may change state in the portal */
ngx_int_t ngx_http_tracktik_portal_origin_check(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TRACKTIK_PORTAL_ORIGIN_H_INCLUDED_ */
