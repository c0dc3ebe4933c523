
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
 * The whole of a content handler that answers GET and HEAD with what
 * PostgreSQL says: sends sql (no parameters) on the portal's pool
 * (portal 1) or the webhook's (0), and done is called with its result,
 * within NGX_HTTP_TRACKTIK_ASK_TIMEOUT or the pool's query_timeout,
 * whichever is shorter; also at once, with NGX_DECLINED, when the pool
 * refuses the statement.  Returns what the content handler returns.
 */
ngx_int_t ngx_http_tracktik_ask(ngx_http_request_t *r, ngx_uint_t portal,
    const char *sql, ngx_http_tracktik_ask_done_pt done);


#endif /* _NGX_HTTP_TRACKTIK_ASK_H_INCLUDED_ */
