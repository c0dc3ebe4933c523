
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PG_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_tracktik_pg_query.h"


/*
 * A per-worker pool of asynchronous libpq connections driven by nginx's
 * event loop.  Callers submit queries; the pool sends each one on an idle
 * connection (opening connections lazily, up to the pool size) and hands
 * the result back to the query's handler.  A query may carry a prepare
 * callback that runs just before it is sent: the webhook batcher uses it
 * to seal a group of deliveries into one statement (group commit).  A
 * query with a statement number is a prepared statement: each connection
 * prepares it the first time it runs it (one more round trip), and later
 * runs it without its text being parsed and planned again.
 */


typedef struct ngx_http_tracktik_pg_pool_s  ngx_http_tracktik_pg_pool_t;


ngx_http_tracktik_pg_pool_t *ngx_http_tracktik_pg_pool_create(
    ngx_http_tracktik_pg_conf_t *conf, ngx_pool_t *pool, ngx_log_t *log);
ngx_http_tracktik_pg_pool_t *ngx_http_tracktik_pg_pool(
    ngx_http_tracktik_pg_pool_t **pool, ngx_http_tracktik_pg_conf_t *conf);
ngx_int_t ngx_http_tracktik_pg_submit(ngx_http_tracktik_pg_pool_t *pool,
    ngx_http_tracktik_pg_query_t *q);
void ngx_http_tracktik_pg_close_all(ngx_http_tracktik_pg_pool_t *pool);
void ngx_http_tracktik_pg_cancel(ngx_http_tracktik_pg_pool_t *pool,
    ngx_http_tracktik_pg_query_t *q);


#endif /* _NGX_HTTP_TRACKTIK_PG_H_INCLUDED_ */
