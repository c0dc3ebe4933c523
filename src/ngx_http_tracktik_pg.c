
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The pool of PostgreSQL connections of one worker: the queue of queries,
 * the dispatch of each to an idle connection, new connections up to the
 * pool size, and the backoff while PostgreSQL cannot be reached.  One
 * connection's life is in ngx_http_tracktik_pg_conn.c: the pool calls it,
 * and it reports back through ngx_http_tracktik_pg_owner below.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_pg.h"
#include "ngx_http_tracktik_pg_conn.h"
#include "ngx_http_tracktik_metrics.h"


#define NGX_HTTP_TRACKTIK_PG_BACKOFF_MIN  50
#define NGX_HTTP_TRACKTIK_PG_BACKOFF_MAX  1000


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


static void ngx_http_tracktik_pg_dispatch(ngx_http_tracktik_pg_pool_t *pool);
static void ngx_http_tracktik_pg_next(void *data);
static ngx_int_t ngx_http_tracktik_pg_open(ngx_http_tracktik_pg_pool_t *pool);
static void ngx_http_tracktik_pg_connected(ngx_http_tracktik_pg_conn_t *pc);
static void ngx_http_tracktik_pg_connect_failed(
    ngx_http_tracktik_pg_conn_t *pc);
static void ngx_http_tracktik_pg_idle(ngx_http_tracktik_pg_conn_t *pc);
static void ngx_http_tracktik_pg_closing(ngx_http_tracktik_pg_conn_t *pc);
static void ngx_http_tracktik_pg_fail_waiting(ngx_event_t *ev);
static void ngx_http_tracktik_pg_cleanup(void *data);


/* what the pool does when one of its connections reports */
static ngx_http_tracktik_pg_owner_t  ngx_http_tracktik_pg_owner = {
    ngx_http_tracktik_pg_connected,
    ngx_http_tracktik_pg_connect_failed,
    ngx_http_tracktik_pg_idle,
    ngx_http_tracktik_pg_closing,
    ngx_http_tracktik_pg_next
};


ngx_http_tracktik_pg_pool_t *
ngx_http_tracktik_pg_pool_create(ngx_http_tracktik_pg_conf_t *conf,
    ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_tracktik_pg_pool_t  *pg;

    pg = ngx_pcalloc(pool, sizeof(ngx_http_tracktik_pg_pool_t));
    if (pg == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_tracktik_pg_cleanup;
    cln->data = pg;

    pg->conf = conf;
    pg->log = log;

    ngx_queue_init(&pg->all);
    ngx_queue_init(&pg->idle);
    ngx_queue_init(&pg->waiting);

    pg->fail_event.handler = ngx_http_tracktik_pg_fail_waiting;
    pg->fail_event.data = pg;
    pg->fail_event.log = log;
    pg->fail_event.cancelable = 1;

    return pg;
}


/*
 * The pool of conf in this worker, created in the cycle's pool the first
 * time it is asked for (*pool keeps it); NULL when it cannot be.
 */

ngx_http_tracktik_pg_pool_t *
ngx_http_tracktik_pg_pool(ngx_http_tracktik_pg_pool_t **pool,
    ngx_http_tracktik_pg_conf_t *conf)
{
    if (*pool == NULL) {
        *pool = ngx_http_tracktik_pg_pool_create(conf, ngx_cycle->pool,
                                                 ngx_cycle->log);
    }

    return *pool;
}


ngx_int_t
ngx_http_tracktik_pg_submit(ngx_http_tracktik_pg_pool_t *pool,
    ngx_http_tracktik_pg_query_t *q)
{
    if (pool->nwaiting >= pool->conf->queue_size) {
        ngx_http_tracktik_metrics_pg(pool->conf->metrics,
                                     NGX_HTTP_TRACKTIK_PG_QUEUE_FULL);
        return NGX_BUSY;
    }

    if (pool->nconns == 0
        && (ngx_msec_int_t) (pool->retry_at - ngx_current_msec) > 0)
    {
        ngx_http_tracktik_metrics_pg(pool->conf->metrics,
                                     NGX_HTTP_TRACKTIK_PG_UNAVAILABLE);
        return NGX_DECLINED;
    }

    ngx_http_tracktik_metrics_pg(pool->conf->metrics,
                                 ngx_queue_empty(&pool->idle)
                                 ? NGX_HTTP_TRACKTIK_PG_WAIT
                                 : NGX_HTTP_TRACKTIK_PG_QUERY);

    q->conn = NULL;
    q->waiting = 1;
    ngx_str_null(&q->error);

    ngx_queue_insert_tail(&pool->waiting, &q->queue);
    pool->nwaiting++;

    ngx_http_tracktik_pg_dispatch(pool);

    return NGX_OK;
}


void
ngx_http_tracktik_pg_cancel(ngx_http_tracktik_pg_pool_t *pool,
    ngx_http_tracktik_pg_query_t *q)
{
    ngx_http_tracktik_pg_conn_t  *pc;

    if (q->waiting) {
        ngx_queue_remove(&q->queue);
        q->waiting = 0;
        pool->nwaiting--;
        return;
    }

    /* in flight: the connection drains the result and forgets it */

    pc = q->conn;

    if (pc) {
        pc->query = NULL;
        q->conn = NULL;
    }
}


static void
ngx_http_tracktik_pg_dispatch(ngx_http_tracktik_pg_pool_t *pool)
{
    ngx_int_t                      rc;
    ngx_queue_t                   *qq;
    ngx_http_tracktik_pg_conn_t   *pc;
    ngx_http_tracktik_pg_query_t  *q;

    while (!ngx_queue_empty(&pool->waiting) && !ngx_queue_empty(&pool->idle)) {

        qq = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qq, ngx_http_tracktik_pg_query_t, queue);

        ngx_queue_remove(qq);
        q->waiting = 0;
        pool->nwaiting--;

        if (q->prepare) {
            rc = q->prepare(q);

            if (rc == NGX_DONE) {
                continue;
            }
        }

        qq = ngx_queue_head(&pool->idle);
        pc = ngx_queue_data(qq, ngx_http_tracktik_pg_conn_t, queue);
        ngx_queue_remove(qq);
        pc->state = NGX_HTTP_TRACKTIK_PG_BUSY;

        if (ngx_http_tracktik_pg_send(pc, q) != NGX_OK) {

            /*
             * the statement never reached the server: close the broken
             * connection and give the query to the next one
             */

            ngx_http_tracktik_pg_close(pc);

            ngx_queue_insert_head(&pool->waiting, &q->queue);
            q->waiting = 1;
            pool->nwaiting++;
        }
    }

    while (pool->nwaiting > pool->nconnecting
           && pool->nconns < pool->conf->size
           && (ngx_msec_int_t) (pool->retry_at - ngx_current_msec) <= 0)
    {
        if (ngx_http_tracktik_pg_open(pool) != NGX_OK) {
            break;
        }
    }

    if (pool->nwaiting && pool->nconns == 0 && !pool->fail_event.posted) {
        ngx_post_event(&pool->fail_event, &ngx_posted_events);
    }
}


static void
ngx_http_tracktik_pg_next(void *data)
{
    ngx_http_tracktik_pg_dispatch(data);
}


static ngx_int_t
ngx_http_tracktik_pg_open(ngx_http_tracktik_pg_pool_t *pool)
{
    ngx_http_tracktik_pg_conn_t  *pc;

    pc = ngx_http_tracktik_pg_conn_create(pool->conf, pool->log,
                                          &ngx_http_tracktik_pg_owner, pool);
    if (pc == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&pool->all, &pc->link);
    pool->nconns++;
    pool->nconnecting++;

    if (ngx_http_tracktik_pg_connect(pc) != NGX_OK) {
        ngx_http_tracktik_pg_connect_failed(pc);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_tracktik_pg_connected(ngx_http_tracktik_pg_conn_t *pc)
{
    ngx_http_tracktik_pg_pool_t  *pool;

    pool = pc->data;

    pool->nconnecting--;
    pool->failures = 0;
    ngx_http_tracktik_metrics_pg(pool->conf->metrics,
                                 NGX_HTTP_TRACKTIK_PG_CONNECTED);

    ngx_queue_insert_head(&pool->idle, &pc->queue);

    ngx_http_tracktik_pg_dispatch(pool);
}


static void
ngx_http_tracktik_pg_connect_failed(ngx_http_tracktik_pg_conn_t *pc)
{
    ngx_msec_t                    backoff;
    ngx_http_tracktik_pg_pool_t  *pool;

    pool = pc->data;

    ngx_http_tracktik_pg_close(pc);

    pool->failures++;
    ngx_http_tracktik_metrics_pg(pool->conf->metrics,
                                 NGX_HTTP_TRACKTIK_PG_CONNECT_FAILED);

    backoff = NGX_HTTP_TRACKTIK_PG_BACKOFF_MIN
              << ngx_min(pool->failures - 1, 5);
    backoff = ngx_min(backoff, NGX_HTTP_TRACKTIK_PG_BACKOFF_MAX);

    pool->retry_at = ngx_current_msec + backoff;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "tracktik pg: connect failure %ui, next try in %M ms",
                   pool->failures, backoff);

    if (pool->nwaiting && pool->nconns == 0 && !pool->fail_event.posted) {
        ngx_post_event(&pool->fail_event, &ngx_posted_events);
    }
}


static void
ngx_http_tracktik_pg_idle(ngx_http_tracktik_pg_conn_t *pc)
{
    ngx_http_tracktik_pg_pool_t  *pool;

    pool = pc->data;

    ngx_queue_insert_head(&pool->idle, &pc->queue);
}


static void
ngx_http_tracktik_pg_closing(ngx_http_tracktik_pg_conn_t *pc)
{
    ngx_http_tracktik_pg_pool_t  *pool;

    pool = pc->data;

    if (pc->state == NGX_HTTP_TRACKTIK_PG_IDLE) {
        ngx_queue_remove(&pc->queue);

    } else if (pc->state == NGX_HTTP_TRACKTIK_PG_CONNECTING) {
        pool->nconnecting--;
    }

    if (pc->state != NGX_HTTP_TRACKTIK_PG_CONNECTING) {
        ngx_http_tracktik_metrics_pg(pool->conf->metrics,
                                     NGX_HTTP_TRACKTIK_PG_CLOSED);
    }

    ngx_queue_remove(&pc->link);
    pool->nconns--;
}


static void
ngx_http_tracktik_pg_fail_waiting(ngx_event_t *ev)
{
    ngx_queue_t                   *qq;
    ngx_http_tracktik_pg_pool_t   *pool;
    ngx_http_tracktik_pg_query_t  *q;

    pool = ev->data;

    /* a connection came up meanwhile: let the queries wait for it */

    while (pool->nconns == 0 && !ngx_queue_empty(&pool->waiting)) {

        qq = ngx_queue_head(&pool->waiting);
        q = ngx_queue_data(qq, ngx_http_tracktik_pg_query_t, queue);

        ngx_queue_remove(qq);
        q->waiting = 0;
        pool->nwaiting--;

        ngx_http_tracktik_pg_set_error(q, "PostgreSQL is unavailable");
        q->handler(q, NULL, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


static void
ngx_http_tracktik_pg_cleanup(void *data)
{
    ngx_http_tracktik_pg_close_all(data);
}


void
ngx_http_tracktik_pg_close_all(ngx_http_tracktik_pg_pool_t *pool)
{
    ngx_queue_t                  *qq;
    ngx_http_tracktik_pg_conn_t  *pc;

    if (pool->fail_event.posted) {
        ngx_delete_posted_event(&pool->fail_event);
    }

    while (!ngx_queue_empty(&pool->all)) {
        qq = ngx_queue_head(&pool->all);
        pc = ngx_queue_data(qq, ngx_http_tracktik_pg_conn_t, link);
        ngx_http_tracktik_pg_close(pc);
    }
}

