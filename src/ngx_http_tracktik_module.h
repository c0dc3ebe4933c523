
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_MODULE_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_pg.h"


#define NGX_HTTP_TRACKTIK_AUTH_HMAC_SHA512  0
#define NGX_HTTP_TRACKTIK_AUTH_HMAC_SHA256  1
#define NGX_HTTP_TRACKTIK_AUTH_STATIC       2
#define NGX_HTTP_TRACKTIK_AUTH_STANDARD     3


typedef struct ngx_http_tracktik_batcher_s  ngx_http_tracktik_batcher_t;


typedef struct {
    ngx_http_tracktik_pg_conf_t      pg;
    ngx_uint_t                       batch_size;
    ngx_uint_t                       configured;  /* tracktik_postgres seen */

    /* per worker process, created on first use */
    ngx_http_tracktik_pg_pool_t     *pool;
    ngx_http_tracktik_batcher_t     *batcher;
} ngx_http_tracktik_main_conf_t;


typedef struct {
    ngx_array_t                     *secrets;
    ngx_uint_t                       auth;
    ngx_str_t                        header;
    time_t                           tolerance;
    time_t                           retry_after;
    ngx_str_t                        webhook;      /* file:line, if set */
} ngx_http_tracktik_loc_conf_t;


typedef struct {
    ngx_str_t                        result;       /* $tracktik_webhook_result */
    ngx_str_t                        job_id;       /* $tracktik_job_id */
} ngx_http_tracktik_ctx_t;


extern ngx_module_t  ngx_http_tracktik_module;


ngx_http_tracktik_pg_pool_t *ngx_http_tracktik_pool(
    ngx_http_tracktik_main_conf_t *tmcf);


#endif /* _NGX_HTTP_TRACKTIK_MODULE_H_INCLUDED_ */
