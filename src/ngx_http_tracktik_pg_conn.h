
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * One PostgreSQL connection of a pool (ngx_http_tracktik_pg_conn.c).  The
 * pool (ngx_http_tracktik_pg.c) calls down into it; the connection tells
 * the pool what happened through the owner's callbacks below and never
 * names the pool's functions.  Only the pool includes this header;
 * everybody else uses ngx_http_tracktik_pg.h.
 */


#ifndef _NGX_HTTP_TRACKTIK_PG_CONN_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PG_CONN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>

#include "ngx_http_tracktik_pg_query.h"


#define NGX_HTTP_TRACKTIK_PG_CONNECTING  0
#define NGX_HTTP_TRACKTIK_PG_IDLE        1
#define NGX_HTTP_TRACKTIK_PG_BUSY        2


typedef struct ngx_http_tracktik_pg_conn_s  ngx_http_tracktik_pg_conn_t;

typedef void (*ngx_http_tracktik_pg_report_pt)(
    ngx_http_tracktik_pg_conn_t *pc);


/*
 * What a connection reports to its owner (pc->data is the owner's).
 * pc->state is already the new state when a report is made.
 */
typedef struct {
    /* connected: idle, for the first time */
    ngx_http_tracktik_pg_report_pt   connected;
    /* could not connect: the owner closes it */
    ngx_http_tracktik_pg_report_pt   connect_failed;
    /* done with a query and healthy: idle again */
    ngx_http_tracktik_pg_report_pt   idle;
    /* being closed (freed right after): the owner forgets it */
    ngx_http_tracktik_pg_report_pt   closing;
    /* a query's handler has run (its connection may be gone) */
    void                           (*next)(void *data);
} ngx_http_tracktik_pg_owner_t;


struct ngx_http_tracktik_pg_conn_s {
    ngx_queue_t                      queue;      /* the owner's: idle */
    ngx_queue_t                      link;       /* the owner's: all */
    ngx_http_tracktik_pg_owner_t    *owner;
    void                            *data;       /* the owner's */
    ngx_http_tracktik_pg_conf_t     *conf;
    ngx_log_t                       *log;
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
};


ngx_http_tracktik_pg_conn_t *ngx_http_tracktik_pg_conn_create(
    ngx_http_tracktik_pg_conf_t *conf, ngx_log_t *log,
    ngx_http_tracktik_pg_owner_t *owner, void *data);
ngx_int_t ngx_http_tracktik_pg_connect(ngx_http_tracktik_pg_conn_t *pc);
ngx_int_t ngx_http_tracktik_pg_send(ngx_http_tracktik_pg_conn_t *pc,
    ngx_http_tracktik_pg_query_t *q);
void ngx_http_tracktik_pg_close(ngx_http_tracktik_pg_conn_t *pc);
void ngx_http_tracktik_pg_set_error(ngx_http_tracktik_pg_query_t *q,
    const char *msg);
const char *ngx_http_tracktik_pg_message(PGresult *res);
const char *ngx_http_tracktik_pg_sqlstate(PGresult *res);


#endif /* _NGX_HTTP_TRACKTIK_PG_CONN_H_INCLUDED_ */
