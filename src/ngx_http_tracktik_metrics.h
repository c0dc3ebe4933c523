
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_METRICS_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the pools, ngx_http_tracktik_pg_conf_t.metrics */
#define NGX_HTTP_TRACKTIK_METRICS_WEBHOOK   0
#define NGX_HTTP_TRACKTIK_METRICS_PORTAL    1
#define NGX_HTTP_TRACKTIK_METRICS_POOLS     2

/* what happened in a pool */
#define NGX_HTTP_TRACKTIK_PG_CONNECTED      0
#define NGX_HTTP_TRACKTIK_PG_CONNECT_FAILED 1
#define NGX_HTTP_TRACKTIK_PG_CLOSED         2
#define NGX_HTTP_TRACKTIK_PG_QUERY          3
#define NGX_HTTP_TRACKTIK_PG_WAIT           4   /* a query, waiting */
#define NGX_HTTP_TRACKTIK_PG_QUEUE_FULL     5
#define NGX_HTTP_TRACKTIK_PG_UNAVAILABLE    6
#define NGX_HTTP_TRACKTIK_PG_EVENTS         7

/* portal routes counted one by one; a later one counts as the last */
#define NGX_HTTP_TRACKTIK_METRICS_ROUTES    32


/* results of a delivery: the label values, in this order */
#define NGX_HTTP_TRACKTIK_D_QUEUED         0
#define NGX_HTTP_TRACKTIK_D_DUPLICATE      1
#define NGX_HTTP_TRACKTIK_D_DEAD_LETTER    2
#define NGX_HTTP_TRACKTIK_D_BAD_SIGNATURE  3
#define NGX_HTTP_TRACKTIK_D_BAD_REQUEST    4
#define NGX_HTTP_TRACKTIK_D_BACKPRESSURE   5
#define NGX_HTTP_TRACKTIK_D_UNAVAILABLE    6
#define NGX_HTTP_TRACKTIK_D_OTHER          7
#define NGX_HTTP_TRACKTIK_D_RESULTS        8

/* results of a login */
#define NGX_HTTP_TRACKTIK_L_SUCCESS        0
#define NGX_HTTP_TRACKTIK_L_FAILURE        1
#define NGX_HTTP_TRACKTIK_L_THROTTLED      2
#define NGX_HTTP_TRACKTIK_L_ERROR          3
#define NGX_HTTP_TRACKTIK_L_RESULTS        4

/* status classes of portal answers: 1xx .. 5xx */
#define NGX_HTTP_TRACKTIK_CLASSES          5

#define NGX_HTTP_TRACKTIK_ACK_BUCKETS      13
#define NGX_HTTP_TRACKTIK_BATCH_BUCKETS    10


/*
 * The counters, in shared memory: what the hooks below add to and the
 * tracktik_metrics location prints (ngx_http_tracktik_metrics_page.c).
 */
typedef struct {
    ngx_atomic_t    layout;
    ngx_atomic_t    deliveries[NGX_HTTP_TRACKTIK_D_RESULTS];

    /* per bucket, not cumulative; the last one is above every bound */
    ngx_atomic_t    ack[NGX_HTTP_TRACKTIK_ACK_BUCKETS + 1];
    ngx_atomic_t    ack_msec;
    ngx_atomic_t    batch[NGX_HTTP_TRACKTIK_BATCH_BUCKETS + 1];
    ngx_atomic_t    batch_rows;

    ngx_atomic_t    pg[NGX_HTTP_TRACKTIK_METRICS_POOLS]
                      [NGX_HTTP_TRACKTIK_PG_EVENTS];
    ngx_atomic_t    portal[NGX_HTTP_TRACKTIK_METRICS_ROUTES]
                          [NGX_HTTP_TRACKTIK_CLASSES];
    ngx_atomic_t    logins[NGX_HTTP_TRACKTIK_L_RESULTS];
    ngx_atomic_t    event_polls[2];     /* polled, skipped */
} ngx_http_tracktik_counters_t;


/* the hooks: each one line where the thing happens, cheap, lock-free */
void ngx_http_tracktik_metrics_delivery(ngx_http_request_t *r,
    ngx_uint_t status, const char *result, const char *error);
void ngx_http_tracktik_metrics_batch(ngx_uint_t rows);
void ngx_http_tracktik_metrics_pg(ngx_uint_t pool, ngx_uint_t event);
void ngx_http_tracktik_metrics_portal(ngx_http_request_t *r,
    ngx_uint_t route);
void ngx_http_tracktik_metrics_login(ngx_int_t rc, ngx_uint_t status);
void ngx_http_tracktik_metrics_event_poll(ngx_uint_t skipped);

/* the zone the counters live in (the tracktik_metrics directive's) */
ngx_shm_zone_t *ngx_http_tracktik_metrics_zone(ngx_conf_t *cf, void *tag);
/* in a worker: counts go to the zone from now on */
void ngx_http_tracktik_metrics_attach(ngx_shm_zone_t *zone);
/* the counters as they stand; NULL: nothing is counted */
ngx_http_tracktik_counters_t *ngx_http_tracktik_metrics_current(void);


#endif /* _NGX_HTTP_TRACKTIK_METRICS_H_INCLUDED_ */
