
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Inside the PostgreSQL pool: what ngx_http_tracktik_pg.c (the pool and
 * its queue) and ngx_http_tracktik_pg_conn.c (one connection's life) share.
 * Only those two files include it; everybody else uses
 * ngx_http_tracktik_pg.h.
 */


#ifndef _NGX_HTTP_TRACKTIK_PG_CONN_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PG_CONN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_pg.h"


#define NGX_HTTP_TRACKTIK_PG_CONNECTING  0
#define NGX_HTTP_TRACKTIK_PG_IDLE        1
#define NGX_HTTP_TRACKTIK_PG_BUSY        2


typedef struct {
    ngx_queue_t                      queue;      /* pool->idle */
    ngx_queue_t                      link;       /* pool->all */
    ngx_http_tracktik_pg_pool_t     *pool;
    PGconn                          *pgconn;
    ngx_connection_t                *connection;
    ngx_http_tracktik_pg_query_t    *query;
    PGresult                        *result;
    ngx_uint_t                       state;
    unsigned                         failed:1;
    unsigned                         writing:1;
    ngx_uint_t                       preparing;  /* statement number */

    /* the statement numbers prepared on this connection */
    uint64_t                         prepared[NGX_HTTP_TRACKTIK_PG_STATEMENTS
                                              / 64];
} ngx_http_tracktik_pg_conn_t;


struct ngx_http_tracktik_pg_pool_s {
    ngx_http_tracktik_pg_conf_t     *conf;
    ngx_log_t                       *log;
    ngx_queue_t                      all;
    ngx_queue_t                      idle;
    ngx_queue_t                      waiting;
    ngx_uint_t                       nwaiting;
    ngx_uint_t                       nconns;
    ngx_uint_t                       nconnecting;
    ngx_uint_t                       failures;
    ngx_msec_t                       retry_at;
    ngx_event_t                      fail_event;
};


/* the pool, ngx_http_tracktik_pg.c */
void ngx_http_tracktik_pg_dispatch(ngx_http_tracktik_pg_pool_t *pool);
void ngx_http_tracktik_pg_connect_failed(ngx_http_tracktik_pg_conn_t *pc);
void ngx_http_tracktik_pg_set_error(ngx_http_tracktik_pg_query_t *q,
    const char *msg);

/* a connection, ngx_http_tracktik_pg_conn.c */
ngx_int_t ngx_http_tracktik_pg_connect(ngx_http_tracktik_pg_pool_t *pool);
ngx_int_t ngx_http_tracktik_pg_send(ngx_http_tracktik_pg_conn_t *pc,
    ngx_http_tracktik_pg_query_t *q);
void ngx_http_tracktik_pg_close(ngx_http_tracktik_pg_conn_t *pc);
const char *ngx_http_tracktik_pg_message(PGresult *res);
const char *ngx_http_tracktik_pg_sqlstate(PGresult *res);


#endif /* _NGX_HTTP_TRACKTIK_PG_CONN_H_INCLUDED_ */
