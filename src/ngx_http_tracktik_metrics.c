
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Counters of what the module does, kept in one shared memory zone so
 * that every worker adds to the same numbers and a reload keeps them
 * (nginx hands the new cycle the old zone when its name and size stay the
 * same).  The hooks are single atomic additions, no lock.  The
 * tracktik_metrics location that prints them is
 * ngx_http_tracktik_metrics_page.c; this file calls nobody, so every
 * part of the module can count.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_metrics.h"


#define NGX_HTTP_TRACKTIK_METRICS_ZONE_SIZE  (128 * 1024)

/* changes whenever ngx_http_tracktik_counters_t does: a zone kept over a
 * reload from an older build is then not read with the new layout */
#define NGX_HTTP_TRACKTIK_METRICS_LAYOUT                                      \
    (0x74740100 ^ sizeof(ngx_http_tracktik_counters_t))


typedef struct {
    ngx_http_request_t  *request;
    ngx_uint_t           route;
} ngx_http_tracktik_portal_count_t;


static ngx_int_t ngx_http_tracktik_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_uint_t ngx_http_tracktik_metrics_bucket(ngx_uint_t *bounds,
    ngx_uint_t n, ngx_uint_t value);
static void ngx_http_tracktik_metrics_portal_done(void *data);


/* this worker's view of the zone; NULL: nothing is counted */
static ngx_http_tracktik_counters_t  *ngx_http_tracktik_counters;


/* acknowledgement latency, milliseconds (the page has them in seconds) */

static ngx_uint_t  ngx_http_tracktik_ack_bounds[] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

/* deliveries per group commit */

static ngx_uint_t  ngx_http_tracktik_batch_bounds[] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000
};


ngx_shm_zone_t *
ngx_http_tracktik_metrics_zone(ngx_conf_t *cf, void *tag)
{
    ngx_shm_zone_t  *zone;

    static ngx_str_t  name = ngx_string("tracktik_metrics");

    zone = ngx_shared_memory_add(cf, &name,
                                 NGX_HTTP_TRACKTIK_METRICS_ZONE_SIZE, tag);
    if (zone == NULL) {
        return NULL;
    }

    zone->init = ngx_http_tracktik_metrics_init_zone;

    return zone;
}


/* the old cycle's counters, when their layout is this build's */

static ngx_int_t
ngx_http_tracktik_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t               *shpool;
    ngx_http_tracktik_counters_t  *m;

    m = data;

    if (m && m->layout == NGX_HTTP_TRACKTIK_METRICS_LAYOUT) {
        zone->data = m;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    m = ngx_slab_calloc(shpool, sizeof(ngx_http_tracktik_counters_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->layout = NGX_HTTP_TRACKTIK_METRICS_LAYOUT;
    zone->data = m;

    return NGX_OK;
}


void
ngx_http_tracktik_metrics_attach(ngx_shm_zone_t *zone)
{
    ngx_http_tracktik_counters = zone->data;
}


ngx_http_tracktik_counters_t *
ngx_http_tracktik_metrics_current(void)
{
    return ngx_http_tracktik_counters;
}


/*
 * A webhook answer: its result, and for an acknowledgement (200, 202)
 * the time since the request's first byte.
 */

void
ngx_http_tracktik_metrics_delivery(ngx_http_request_t *r, ngx_uint_t status,
    const char *result, const char *error)
{
    ngx_uint_t                     d, ms, i;
    ngx_msec_int_t                 elapsed;
    ngx_time_t                    *tp;
    ngx_http_tracktik_counters_t  *m;

    m = ngx_http_tracktik_counters;

    if (m == NULL) {
        return;
    }

    switch (status) {

    case NGX_HTTP_ACCEPTED:
        d = (ngx_strcmp(result, "stored") == 0)
            ? NGX_HTTP_TRACKTIK_D_DEAD_LETTER : NGX_HTTP_TRACKTIK_D_QUEUED;
        break;

    case NGX_HTTP_OK:
        d = NGX_HTTP_TRACKTIK_D_DUPLICATE;
        break;

    case NGX_HTTP_UNAUTHORIZED:
        d = NGX_HTTP_TRACKTIK_D_BAD_SIGNATURE;
        break;

    case NGX_HTTP_BAD_REQUEST:
    case NGX_HTTP_NOT_ALLOWED:
    case NGX_HTTP_UNSUPPORTED_MEDIA_TYPE:
        d = NGX_HTTP_TRACKTIK_D_BAD_REQUEST;
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        /* the batcher's and the webhook's words for a full queue */
        d = (error && ngx_strncmp(error, "too many", 8) == 0)
            ? NGX_HTTP_TRACKTIK_D_BACKPRESSURE
            : NGX_HTTP_TRACKTIK_D_UNAVAILABLE;
        break;

    default:
        d = NGX_HTTP_TRACKTIK_D_OTHER;
    }

    (void) ngx_atomic_fetch_add(&m->deliveries[d], 1);

    if (status != NGX_HTTP_OK && status != NGX_HTTP_ACCEPTED) {
        return;
    }

    tp = ngx_timeofday();

    elapsed = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                                + (tp->msec - r->start_msec));
    ms = ngx_max(elapsed, 0);

    i = ngx_http_tracktik_metrics_bucket(ngx_http_tracktik_ack_bounds,
                                         NGX_HTTP_TRACKTIK_ACK_BUCKETS, ms);

    (void) ngx_atomic_fetch_add(&m->ack[i], 1);
    (void) ngx_atomic_fetch_add(&m->ack_msec, ms);
}


/* one group commit of rows deliveries */

void
ngx_http_tracktik_metrics_batch(ngx_uint_t rows)
{
    ngx_uint_t                     i;
    ngx_http_tracktik_counters_t  *m;

    m = ngx_http_tracktik_counters;

    if (m == NULL) {
        return;
    }

    i = ngx_http_tracktik_metrics_bucket(ngx_http_tracktik_batch_bounds,
                                         NGX_HTTP_TRACKTIK_BATCH_BUCKETS,
                                         rows);

    (void) ngx_atomic_fetch_add(&m->batch[i], 1);
    (void) ngx_atomic_fetch_add(&m->batch_rows, rows);
}


void
ngx_http_tracktik_metrics_pg(ngx_uint_t pool, ngx_uint_t event)
{
    ngx_http_tracktik_counters_t  *m;

    m = ngx_http_tracktik_counters;

    if (m == NULL || pool >= NGX_HTTP_TRACKTIK_METRICS_POOLS) {
        return;
    }

    (void) ngx_atomic_fetch_add(&m->pg[pool][event], 1);

    /* a statement that waits is a statement too */

    if (event == NGX_HTTP_TRACKTIK_PG_WAIT) {
        (void) ngx_atomic_fetch_add(&m->pg[pool][NGX_HTTP_TRACKTIK_PG_QUERY],
                                    1);
    }
}


/* a portal API request: counted by its final status when it is freed */

void
ngx_http_tracktik_metrics_portal(ngx_http_request_t *r, ngx_uint_t route)
{
    ngx_pool_cleanup_t                *cln;
    ngx_http_tracktik_portal_count_t  *pc;

    if (ngx_http_tracktik_counters == NULL) {
        return;
    }

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_tracktik_portal_count_t));
    if (cln == NULL) {
        return;
    }

    pc = cln->data;
    pc->request = r;
    pc->route = ngx_min(route, NGX_HTTP_TRACKTIK_METRICS_ROUTES - 1);

    cln->handler = ngx_http_tracktik_metrics_portal_done;
}


static void
ngx_http_tracktik_metrics_portal_done(void *data)
{
    ngx_http_tracktik_portal_count_t *pc = data;

    ngx_uint_t                     status;
    ngx_http_tracktik_counters_t  *m;

    m = ngx_http_tracktik_counters;
    status = pc->request->headers_out.status;

    /* no status: the client left before the answer */

    if (m == NULL || status < 100 || status > 599) {
        return;
    }

    (void) ngx_atomic_fetch_add(&m->portal[pc->route][status / 100 - 1], 1);
}


/* rc and status as the login's answer came (portal_login.c) */

void
ngx_http_tracktik_metrics_login(ngx_int_t rc, ngx_uint_t status)
{
    ngx_uint_t                     l;
    ngx_http_tracktik_counters_t  *m;

    m = ngx_http_tracktik_counters;

    if (m == NULL) {
        return;
    }

    if (rc != NGX_OK) {
        l = NGX_HTTP_TRACKTIK_L_ERROR;

    } else if (status == NGX_HTTP_OK) {
        l = NGX_HTTP_TRACKTIK_L_SUCCESS;

    } else if (status == NGX_HTTP_UNAUTHORIZED) {
        l = NGX_HTTP_TRACKTIK_L_FAILURE;

    } else if (status == NGX_HTTP_TOO_MANY_REQUESTS) {
        l = NGX_HTTP_TRACKTIK_L_THROTTLED;

    } else {
        l = NGX_HTTP_TRACKTIK_L_ERROR;
    }

    (void) ngx_atomic_fetch_add(&m->logins[l], 1);
}


/* an event stream's poll timer: a poll made, or skipped because the last
 * message is still waiting for the client (portal_stream.c) */

void
ngx_http_tracktik_metrics_event_poll(ngx_uint_t skipped)
{
    ngx_http_tracktik_counters_t  *m;

    m = ngx_http_tracktik_counters;

    if (m == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&m->event_polls[skipped ? 1 : 0], 1);
}


static ngx_uint_t
ngx_http_tracktik_metrics_bucket(ngx_uint_t *bounds, ngx_uint_t n,
    ngx_uint_t value)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (value <= bounds[i]) {
            return i;
        }
    }

    return n;
}
