
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_SESSION_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"


ngx_int_t ngx_http_tracktik_session_token(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *token);
ngx_int_t ngx_http_tracktik_session_request(ngx_http_request_t *r,
    ngx_str_t *token);
ngx_int_t ngx_http_tracktik_session_set_cookie(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *token);
ngx_int_t ngx_http_tracktik_session_access_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_TRACKTIK_SESSION_H_INCLUDED_ */
