
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_ASK_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_ASK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"


/* the most a scrape or a health check waits for PostgreSQL */
#define NGX_HTTP_TRACKTIK_ASK_TIMEOUT  3000


/*
 * rc: NGX_OK (res holds the result), NGX_ERROR (res is the error result,
 * or NULL), NGX_DECLINED (PostgreSQL could not be reached or its queue is
 * full) or NGX_AGAIN (no answer before the deadline).  res is cleared by
 * the pool after the callback returns.  The callback finalizes r.
 */
typedef void (*ngx_http_tracktik_ask_done_pt)(ngx_http_request_t *r,
    PGresult *res, ngx_int_t rc);


/*
 * Sends one statement without parameters for the request r on pool, with
 * a deadline.  NGX_DONE: done will be called (the request is held until
 * then); otherwise NGX_DECLINED or NGX_ERROR and nothing was sent.
 */
ngx_int_t ngx_http_tracktik_ask(ngx_http_request_t *r,
    ngx_http_tracktik_pg_pool_t *pool, const char *sql, ngx_msec_t timeout,
    ngx_http_tracktik_ask_done_pt done);

/* the SQLSTATE of an error result, "" for none */
const char *ngx_http_tracktik_ask_sqlstate(PGresult *res);


#endif /* _NGX_HTTP_TRACKTIK_ASK_H_INCLUDED_ */
