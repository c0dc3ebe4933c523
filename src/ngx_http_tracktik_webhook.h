
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_WEBHOOK_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_WEBHOOK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct {
    ngx_str_t                        text;   /* the line as written */
    ngx_str_t                        key;    /* whsec_ decoded, else text */
    ngx_uint_t                       line;
} ngx_http_tracktik_secret_t;


ngx_int_t ngx_http_tracktik_webhook_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_tracktik_webhook_check_secret(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret);


#endif /* _NGX_HTTP_TRACKTIK_WEBHOOK_H_INCLUDED_ */
