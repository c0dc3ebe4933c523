
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The portal's streamed answers: the CSV export, a page per call, the
 * next page fetched only once the previous one has been written to the
 * client; and Server-Sent Events, one bounded poll of the ledger per
 * interval.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_metrics.h"
#include "ngx_http_tracktik_portal_response.h"
#include "ngx_http_tracktik_portal_stream.h"


#define NGX_HTTP_TRACKTIK_EVENTS_PING  15


static void ngx_http_tracktik_portal_csv_write(ngx_http_request_t *r);
static void ngx_http_tracktik_portal_tick(ngx_event_t *ev);
static void ngx_http_tracktik_portal_events_write(ngx_http_request_t *r);
static ngx_int_t ngx_http_tracktik_portal_wait_client(ngx_http_request_t *r);
static ngx_int_t ngx_http_tracktik_portal_stream_start(
    ngx_http_request_t *r, ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc,
    char *type, char *key, char *value);
static void ngx_http_tracktik_portal_csv_named(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc, char *disposition);
static ngx_int_t ngx_http_tracktik_portal_stream(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, u_char *data, size_t len,
    ngx_uint_t last);


/* CSV export: one page per query, the next fetched once this one is sent */

void
ngx_http_tracktik_portal_csv_page(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_tracktik_portal_csv_named(r, ctx, rc,
                                 "attachment; filename=\"incidents.csv\"");
}


void
ngx_http_tracktik_portal_audit_csv(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_tracktik_portal_csv_named(r, ctx, rc,
                                 "attachment; filename=\"audit.csv\"");
}


static void
ngx_http_tracktik_portal_csv_named(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc, char *disposition)
{
    ngx_int_t  last;

    if (!ctx->streaming) {
        if (ngx_http_tracktik_portal_stream_start(r, ctx, rc,
                                 "text/csv; charset=utf-8",
                                 "Content-Disposition", disposition)
            != NGX_OK)
        {
            return;
        }

    } else if (rc != NGX_OK || ctx->status != NGX_HTTP_OK) {
        /* headers are gone: all that is left is to cut the response */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tracktik portal: CSV export stopped: %V",
                      &ctx->body);
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    last = (ctx->next.len == 0);

    rc = ngx_http_tracktik_portal_stream(r, ctx, ctx->body.data,
                                         ctx->body.len, last);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    if (last) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    r->write_event_handler = ngx_http_tracktik_portal_csv_write;

    if (rc == NGX_OK && !r->connection->buffered && !r->buffered) {
        ngx_http_tracktik_portal_csv_write(r);
        return;
    }

    /*
     * the page waits for the client, at most send_timeout: without that
     * timer a client that stops reading would hold the request forever,
     * and a worker exiting after a reload, seeing no timer left, would
     * close the export half sent
     */

    if (ngx_http_tracktik_portal_wait_client(r) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


static void
ngx_http_tracktik_portal_csv_write(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_event_t                     *wev;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);
    wev = r->connection->write;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "client timed out during the CSV export");
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (ctx->pending) {
        return;
    }

    rc = ngx_http_output_filter(r, NULL);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    if (r->connection->buffered || r->buffered) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    /* the page is out: free it and fetch the next one */

    if (ctx->body_pool) {
        ngx_destroy_pool(ctx->body_pool);
        ctx->body_pool = NULL;
    }

    ctx->body_pool = ngx_create_pool(16384, r->connection->log);
    if (ctx->body_pool == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    /* p_cursor, the last argument */
    ctx->values[ctx->nvalues] = (const char *) ctx->next.data;

    rc = ngx_http_tracktik_portal_call(r, ctx, ctx->function,
                                       ngx_http_tracktik_portal_csv_page);
    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


/*
 * GET /events: Server-Sent Events, one poll of the ledger per interval.
 *
 * portal_api_events() answers at most 500 incidents a poll: 206 when the
 * message is full, and the stream then polls again at once.  Each poll's
 * answer and message live in a pool of their own (ctx->body_pool), freed
 * once the message has been written; no poll runs while the last message
 * is still waiting for the client, and a client that reads nothing for
 * send_timeout is cut off.  A 429 (the session has too many streams
 * open) is answered with Retry-After.
 */

void
ngx_http_tracktik_portal_events_page(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    u_char                        *p, *buf, *dot;
    size_t                         len;
    ngx_str_t                      id;
    ngx_msec_t                     delay;
    ngx_pool_t                    *pool;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    delay = tlcf->events_interval;

    if (rc == NGX_OK && ctx->status == NGX_HTTP_PARTIAL_CONTENT) {
        /* a full message: more is waiting */
        ctx->status = NGX_HTTP_OK;
        delay = 1;
    }

    if (!ctx->streaming) {
        if (rc == NGX_OK && ctx->status == NGX_HTTP_TOO_MANY_REQUESTS
            && ctx->next.len
            && ngx_http_tracktik_portal_header(r, "Retry-After",
                                               (char *) ctx->next.data)
               != NGX_OK)
        {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (ngx_http_tracktik_portal_stream_start(r, ctx, rc,
                                                  "text/event-stream",
                                                  "X-Accel-Buffering", "no")
            != NGX_OK)
        {
            return;
        }

        /* a client that goes away ends the stream */
        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_tracktik_portal_events_write;

        rc = ngx_http_tracktik_portal_stream(r, ctx,
                                             (u_char *) "retry: 2000\n\n",
                                             sizeof("retry: 2000\n\n") - 1,
                                             0);
        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

    } else if (rc != NGX_OK || ctx->status != NGX_HTTP_OK) {

        /* logged out or expired meanwhile, or the database went away */

        (void) ngx_http_tracktik_portal_stream(r, ctx,
                                    (u_char *) "event: end\ndata: {}\n\n",
                                    sizeof("event: end\ndata: {}\n\n") - 1,
                                    1);
        ngx_http_finalize_request(r, NGX_OK);
        return;
    }

    /* the client's id is the resume point up to the dot: the rest names
       the stream's place (portal_api_events()) */

    id = ctx->next;

    dot = ngx_strlchr(id.data, id.data + id.len, '.');
    if (dot) {
        id.len = dot - id.data;
    }

    if (ctx->body.len > 2) {
        len = sizeof("id: \nevent: incidents\ndata: \n\n") - 1
              + id.len + ctx->body.len;

        pool = ctx->body_pool ? ctx->body_pool : r->pool;

        buf = ngx_pnalloc(pool, len);
        if (buf == NULL) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        p = ngx_sprintf(buf, "id: %V\nevent: incidents\ndata: ", &id);

        /* JSON from PostgreSQL has no raw newlines; be sure of it */
        for (len = 0; len < ctx->body.len; len++) {
            *p++ = (ctx->body.data[len] == '\n' || ctx->body.data[len] == '\r')
                   ? ' ' : ctx->body.data[len];
        }

        p = ngx_cpymem(p, "\n\n", 2);

        ctx->idle_ticks = 0;

        if (ngx_http_tracktik_portal_stream(r, ctx, buf, p - buf, 0)
            == NGX_ERROR)
        {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

    } else if (++ctx->idle_ticks * tlcf->events_interval
               >= NGX_HTTP_TRACKTIK_EVENTS_PING * 1000)
    {
        ctx->idle_ticks = 0;

        if (ngx_http_tracktik_portal_stream(r, ctx, (u_char *) ": ping\n\n",
                                            sizeof(": ping\n\n") - 1, 0)
            == NGX_ERROR)
        {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }
    }

    if (ngx_http_tracktik_portal_wait_client(r) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    /* the resume point for the next poll (NUL-terminated, in r->pool) */

    if (ctx->next.len) {
        ctx->values[1] = (const char *) ctx->next.data;
    }

    ctx->tick.handler = ngx_http_tracktik_portal_tick;
    ctx->tick.data = ctx;
    ctx->tick.log = r->connection->log;

    ngx_add_timer(&ctx->tick, delay);
}


static void
ngx_http_tracktik_portal_tick(ngx_event_t *ev)
{
    ngx_http_tracktik_portal_ctx_t *ctx = ev->data;

    ngx_int_t                      rc;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    r = ctx->r;
    c = r->connection;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    /*
     * a stream ends after a while, so its memory does not grow without
     * bound, and at once when the worker is exiting (a reload, a graceful
     * stop), which it would otherwise hold up for the stream's whole life;
     * EventSource reconnects with Last-Event-ID and loses nothing
     */

    if (ngx_exiting
        || ngx_current_msec - ctx->started >= tlcf->events_lifetime)
    {
        (void) ngx_http_tracktik_portal_stream(r, ctx, NULL, 0, 1);

        /* the request may be freed now: only c is used after this */
        ngx_http_finalize_request(r, NGX_OK);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (c->buffered || r->buffered) {
        /* the last message is still on its way: no poll meanwhile */
        ngx_http_tracktik_metrics_event_poll(1);
        ngx_add_timer(&ctx->tick, tlcf->events_interval);
        return;
    }

    ngx_http_tracktik_metrics_event_poll(0);

    /* the last poll's answer is out: free it, the next one has a pool */

    if (ctx->body_pool) {
        ngx_destroy_pool(ctx->body_pool);
    }

    ctx->body_pool = ngx_create_pool(4096, c->log);
    if (ctx->body_pool == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    rc = ngx_http_tracktik_portal_call(r, ctx, ctx->function,
                                       ngx_http_tracktik_portal_events_page);
    if (rc != NGX_OK) {
        /* the queue is full or PostgreSQL is down: try again later */
        ngx_add_timer(&ctx->tick, 5000);
    }

    ngx_http_run_posted_requests(c);
}


/* the client reads again: send what waits, or give up after send_timeout */

static void
ngx_http_tracktik_portal_events_write(ngx_http_request_t *r)
{
    if (r->connection->write->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "client timed out on the event stream");
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (ngx_http_output_filter(r, NULL) == NGX_ERROR
        || ngx_http_tracktik_portal_wait_client(r) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_ERROR);
    }
}


/* output still buffered: wait for the socket, at most send_timeout */

static ngx_int_t
ngx_http_tracktik_portal_wait_client(ngx_http_request_t *r)
{
    ngx_event_t               *wev;
    ngx_http_core_loc_conf_t  *clcf;

    wev = r->connection->write;

    if (!r->connection->buffered && !r->buffered) {
        if (wev->timer_set) {
            ngx_del_timer(wev);
        }

        return NGX_OK;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!wev->delayed) {
        ngx_add_timer(wev, clcf->send_timeout);
    }

    if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The headers of a streamed answer (length unknown, sent chunked), once
 * its first call has answered 200; anything else is answered as JSON.
 * NGX_OK when the stream is open; otherwise the request is finalized.
 */

static ngx_int_t
ngx_http_tracktik_portal_stream_start(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc, char *type, char *key,
    char *value)
{
    if (rc != NGX_OK || ctx->status != NGX_HTTP_OK) {
        ngx_http_tracktik_portal_answered(r, ctx, rc);
        return NGX_DONE;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    if (ngx_http_tracktik_portal_header(r, key, value) != NGX_OK
        || ngx_http_tracktik_portal_header(r, "Cache-Control", "no-store")
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_ERROR;
    }

    ctx->streaming = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tracktik_portal_stream(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, u_char *data, size_t len,
    ngx_uint_t last)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (len) {
        b->pos = data;
        b->last = data + len;
        b->memory = 1;
    }

    b->flush = 1;
    b->last_buf = last ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
