
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * What a query is, and a pool's settings: shared by the pool
 * (ngx_http_tracktik_pg.h, which callers include) and its connections
 * (ngx_http_tracktik_pg_conn.h).
 */


#ifndef _NGX_HTTP_TRACKTIK_PG_QUERY_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PG_QUERY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <libpq-fe.h>


/* statement numbers from 1 to this are kept prepared; others are not */
#define NGX_HTTP_TRACKTIK_PG_STATEMENTS  1024


typedef struct ngx_http_tracktik_pg_query_s  ngx_http_tracktik_pg_query_t;


/*
 * Returns NGX_OK to send the query, or NGX_DONE when nothing is left to
 * send: the query is then dropped and the callback has released it.  It
 * may run again for the same query if a broken connection kept the first
 * attempt from leaving, so it must be idempotent.
 */
typedef ngx_int_t (*ngx_http_tracktik_pg_prepare_pt)(
    ngx_http_tracktik_pg_query_t *q);

/*
 * rc is NGX_OK with res holding the statement's result, or NGX_ERROR
 * (res is the error result or NULL; q->error says why), or
 * NGX_HTTP_SERVICE_UNAVAILABLE when PostgreSQL could not be reached.
 * res is cleared by the pool after the handler returns.
 */
typedef void (*ngx_http_tracktik_pg_handler_pt)(
    ngx_http_tracktik_pg_query_t *q, PGresult *res, ngx_int_t rc);


typedef struct {
    char                           **keywords;
    char                           **values;
    ngx_uint_t                       size;
    ngx_uint_t                       queue_size;
    ngx_msec_t                       connect_timeout;
    ngx_msec_t                       query_timeout;
    ngx_uint_t                       metrics;   /* the pool's counters */
} ngx_http_tracktik_pg_conf_t;


struct ngx_http_tracktik_pg_query_s {
    ngx_queue_t                      queue;

    /*
     * The command and the parameters must stay valid until the handler
     * runs: a prepared statement's first run on a connection sends them
     * only once its Prepare has completed.
     */
    const char                      *command;
    int                              nparams;
    const char                     **values;
    int                             *lengths;   /* binary parameters only */
    int                             *formats;   /* NULL: all text */
    ngx_uint_t                       statement; /* 0: not prepared; the
                                                   same number, the same
                                                   command */

    ngx_http_tracktik_pg_prepare_pt  prepare;
    ngx_http_tracktik_pg_handler_pt  handler;
    void                            *data;

    ngx_str_t                        error;
    ngx_log_t                       *log;

    /* set by the pool */
    void                            *conn;
    unsigned                         waiting:1;
};


#endif /* _NGX_HTTP_TRACKTIK_PG_QUERY_H_INCLUDED_ */
