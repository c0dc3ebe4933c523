
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_METRICS_TEXT_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_METRICS_TEXT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>


/* the longest line one ngx_http_tracktik_text() call may write */
#define NGX_HTTP_TRACKTIK_TEXT_LINE  1024


/* a response body written line by line into buffers of r->pool */
typedef struct {
    ngx_pool_t     *pool;
    ngx_chain_t    *out;
    ngx_chain_t   **last;
    ngx_buf_t      *buf;
    off_t           size;
    ngx_uint_t      failed;
} ngx_http_tracktik_text_t;


void ngx_http_tracktik_text_init(ngx_http_tracktik_text_t *t,
    ngx_pool_t *pool);
void ngx_http_tracktik_text(ngx_http_tracktik_text_t *t,
    const char *fmt, ...);
void ngx_http_tracktik_text_family(ngx_http_tracktik_text_t *t,
    char *name, char *help, char *type);
void ngx_http_tracktik_text_gauges(ngx_http_tracktik_text_t *t,
    PGresult *res, ngx_log_t *log);
ngx_chain_t *ngx_http_tracktik_text_end(ngx_http_tracktik_text_t *t,
    ngx_http_request_t *r);


#endif /* _NGX_HTTP_TRACKTIK_METRICS_TEXT_H_INCLUDED_ */
