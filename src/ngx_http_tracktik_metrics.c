
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Counters of what the module does, kept in one shared memory zone so
 * that every worker adds to the same numbers and a reload keeps them
 * (nginx hands the new cycle the old zone when its name and size stay the
 * same).  The hooks are single atomic additions, no lock.  The
 * tracktik_metrics location prints them in Prometheus' text format,
 * followed by the gauges PostgreSQL answers (tracktik_metrics_gauges(),
 * sql/functions/metrics.sql; ngx_http_tracktik_metrics_text.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_ask.h"
#include "ngx_http_tracktik_directives.h"
#include "ngx_http_tracktik_metrics.h"
#include "ngx_http_tracktik_metrics_text.h"
#include "common/tt_version.h"


#define NGX_HTTP_TRACKTIK_METRICS_ZONE_SIZE  (128 * 1024)

/* changes whenever ngx_http_tracktik_counters_t does: a zone kept over a
 * reload from an older build is then not read with the new layout */
#define NGX_HTTP_TRACKTIK_METRICS_LAYOUT                                      \
    (0x74740100 ^ sizeof(ngx_http_tracktik_counters_t))


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


typedef struct {
    ngx_http_request_t  *request;
    ngx_uint_t           route;
} ngx_http_tracktik_portal_count_t;


/* a counter family of the pools: one sample per pool and label value */
typedef struct {
    char                *name;
    char                *help;
    char                *label;       /* NULL: the pool label alone */
    char                *values[2];
    ngx_uint_t           events[2];
} ngx_http_tracktik_pg_family_t;


static ngx_int_t ngx_http_tracktik_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_tracktik_metrics_handler(ngx_http_request_t *r);
static void ngx_http_tracktik_metrics_answer(ngx_http_request_t *r,
    PGresult *res, ngx_int_t rc);
static ngx_int_t ngx_http_tracktik_metrics_send(ngx_http_request_t *r,
    PGresult *res);
static void ngx_http_tracktik_metrics_counters(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m);
static void ngx_http_tracktik_metrics_histogram(ngx_http_tracktik_text_t *t,
    char *name, char *help, char **bounds, ngx_atomic_t *buckets,
    ngx_uint_t n, ngx_atomic_uint_t sum, ngx_uint_t msec);
static void ngx_http_tracktik_metrics_pools(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m);
static void ngx_http_tracktik_metrics_routes(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m);
static ngx_uint_t ngx_http_tracktik_metrics_bucket(ngx_uint_t *bounds,
    ngx_uint_t n, ngx_uint_t value);
static void ngx_http_tracktik_metrics_portal_done(void *data);


/* this worker's view of the zone; NULL: nothing is counted */
static ngx_http_tracktik_counters_t  *ngx_http_tracktik_counters;


static char  *ngx_http_tracktik_delivery_results[] = {
    "queued", "duplicate", "dead_letter", "bad_signature", "bad_request",
    "backpressure", "unavailable", "other"
};

static char  *ngx_http_tracktik_login_results[] = {
    "success", "failure", "throttled", "error"
};

static char  *ngx_http_tracktik_pool_names[] = { "webhook", "portal" };

static char  *ngx_http_tracktik_poll_results[] = { "polled", "skipped" };

static ngx_http_tracktik_pg_family_t  ngx_http_tracktik_pg_families[] = {

    { "tracktik_pg_connects_total",
      "PostgreSQL connection attempts, by result",
      "result", { "ok", "failed" },
      { NGX_HTTP_TRACKTIK_PG_CONNECTED, NGX_HTTP_TRACKTIK_PG_CONNECT_FAILED } },

    { "tracktik_pg_queries_total",
      "statements handed to the pool",
      NULL, { NULL, NULL }, { NGX_HTTP_TRACKTIK_PG_QUERY, 0 } },

    { "tracktik_pg_waits_total",
      "statements that found no idle connection and waited",
      NULL, { NULL, NULL }, { NGX_HTTP_TRACKTIK_PG_WAIT, 0 } },

    { "tracktik_pg_refused_total",
      "statements refused at once, by reason",
      "reason", { "queue_full", "unavailable" },
      { NGX_HTTP_TRACKTIK_PG_QUEUE_FULL, NGX_HTTP_TRACKTIK_PG_UNAVAILABLE } },

    { NULL, NULL, NULL, { NULL, NULL }, { 0, 0 } }
};


/* acknowledgement latency, milliseconds, and the same bounds in seconds */

static ngx_uint_t  ngx_http_tracktik_ack_bounds[] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static char  *ngx_http_tracktik_ack_le[] = {
    "0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
    "0.5", "1", "2.5", "5", "10"
};

/* deliveries per group commit */

static ngx_uint_t  ngx_http_tracktik_batch_bounds[] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000
};

static char  *ngx_http_tracktik_batch_le[] = {
    "1", "2", "5", "10", "20", "50", "100", "200", "500", "1000"
};


/* the gauges: one row per sample, grouped by name */
static char  ngx_http_tracktik_gauges_sql[] =
    "SELECT name, labels, value::text, help FROM tracktik_metrics_gauges()";


/* tracktik_metrics: the content handler, and the zone on first use */

char *
ngx_http_tracktik_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                           *rv;
    ngx_str_t                       where;
    ngx_shm_zone_t                 *zone;
    ngx_http_tracktik_main_conf_t  *tmcf;

    static ngx_str_t  name = ngx_string("tracktik_metrics");

    rv = ngx_http_tracktik_content(cf, ngx_http_tracktik_metrics_handler,
                                   &where);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tracktik_module);

    if (tmcf->metrics_zone) {
        return NGX_CONF_OK;
    }

    zone = ngx_shared_memory_add(cf, &name,
                                 NGX_HTTP_TRACKTIK_METRICS_ZONE_SIZE,
                                 &ngx_http_tracktik_module);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->init = ngx_http_tracktik_metrics_init_zone;
    tmcf->metrics_zone = zone;

    return NGX_CONF_OK;
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
ngx_http_tracktik_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_tracktik_module);

    if (tmcf && tmcf->metrics_zone) {
        ngx_http_tracktik_counters = tmcf->metrics_zone->data;
    }
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


/*
 * The scrape: the gauges are asked of PostgreSQL first; without an answer
 * in time the counters are printed all the same, with tracktik_up 0.
 */

static ngx_int_t
ngx_http_tracktik_metrics_handler(ngx_http_request_t *r)
{
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tracktik_module);

    return ngx_http_tracktik_ask(r, ngx_http_tracktik_portal_pool(tmcf),
                                 tmcf->portal_pg.query_timeout,
                                 ngx_http_tracktik_gauges_sql,
                                 ngx_http_tracktik_metrics_answer);
}


static void
ngx_http_tracktik_metrics_answer(ngx_http_request_t *r, PGresult *res,
    ngx_int_t rc)
{
    ngx_http_finalize_request(r,
        ngx_http_tracktik_metrics_send(r, rc == NGX_OK ? res : NULL));
}


static ngx_int_t
ngx_http_tracktik_metrics_send(ngx_http_request_t *r, PGresult *res)
{
    ngx_int_t                      rc;
    ngx_http_tracktik_text_t       t;
    ngx_http_tracktik_counters_t  *m;

    m = ngx_http_tracktik_counters;

    ngx_http_tracktik_text_init(&t, r->pool);

    ngx_http_tracktik_text_family(&t, "tracktik_build_info",
                                  "the module's version and the schema "
                                  "version it needs", "gauge");
    ngx_http_tracktik_text(&t, "tracktik_build_info{version=\"%s\","
                           "schema_version=\"%d\"} 1\n",
                           TT_VERSION,
                           TT_SCHEMA_VERSION);

    ngx_http_tracktik_text_family(&t, "tracktik_schema_version_needed",
                                  "the schema version this build needs; "
                                  "compare tracktik_schema_version",
                                  "gauge");
    ngx_http_tracktik_text(&t, "tracktik_schema_version_needed %d\n",
                           TT_SCHEMA_VERSION);

    ngx_http_tracktik_text_family(&t, "tracktik_up",
                                  "1 when PostgreSQL answered the gauges' "
                                  "query in time", "gauge");
    ngx_http_tracktik_text(&t, "tracktik_up %d\n", res ? 1 : 0);

    if (m) {
        ngx_http_tracktik_metrics_counters(&t, m);
    }

    if (res) {
        ngx_http_tracktik_text_gauges(&t, res, r->connection->log);
    }

    if (t.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = t.size;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, ngx_http_tracktik_text_end(&t, r));
}


static void
ngx_http_tracktik_metrics_counters(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m)
{
    ngx_uint_t  i;

    ngx_http_tracktik_text_family(t, "tracktik_webhook_deliveries_total",
                                  "webhook deliveries answered, by result",
                                  "counter");

    for (i = 0; i < NGX_HTTP_TRACKTIK_D_RESULTS; i++) {
        ngx_http_tracktik_text(t, "tracktik_webhook_deliveries_total"
                               "{result=\"%s\"} %uA\n",
                               ngx_http_tracktik_delivery_results[i],
                               m->deliveries[i]);
    }

    ngx_http_tracktik_metrics_histogram(t, "tracktik_webhook_ack_seconds",
        "time from a delivery's first byte to its acknowledgement "
        "(200, 202)", ngx_http_tracktik_ack_le, m->ack,
        NGX_HTTP_TRACKTIK_ACK_BUCKETS, m->ack_msec, 1);

    ngx_http_tracktik_metrics_histogram(t, "tracktik_webhook_group_commit_size",
        "deliveries per group commit", ngx_http_tracktik_batch_le, m->batch,
        NGX_HTTP_TRACKTIK_BATCH_BUCKETS, m->batch_rows, 0);

    ngx_http_tracktik_metrics_pools(t, m);
    ngx_http_tracktik_metrics_routes(t, m);

    ngx_http_tracktik_text_family(t, "tracktik_portal_logins_total",
                                  "portal logins, by result", "counter");

    for (i = 0; i < NGX_HTTP_TRACKTIK_L_RESULTS; i++) {
        ngx_http_tracktik_text(t, "tracktik_portal_logins_total"
                               "{result=\"%s\"} %uA\n",
                               ngx_http_tracktik_login_results[i],
                               m->logins[i]);
    }

    ngx_http_tracktik_text_family(t, "tracktik_portal_event_polls_total",
                                  "event stream polls, made or skipped "
                                  "while output waits for the client",
                                  "counter");

    for (i = 0; i < 2; i++) {
        ngx_http_tracktik_text(t, "tracktik_portal_event_polls_total"
                               "{result=\"%s\"} %uA\n",
                               ngx_http_tracktik_poll_results[i],
                               m->event_polls[i]);
    }
}


/*
 * Buckets are added up here (the zone keeps each on its own), and the
 * count is their sum: +Inf equals _count even while workers add.
 */

static void
ngx_http_tracktik_metrics_histogram(ngx_http_tracktik_text_t *t, char *name,
    char *help, char **bounds, ngx_atomic_t *buckets, ngx_uint_t n,
    ngx_atomic_uint_t sum, ngx_uint_t msec)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  total;

    ngx_http_tracktik_text_family(t, name, help, "histogram");

    total = 0;

    for (i = 0; i <= n; i++) {
        total += buckets[i];

        ngx_http_tracktik_text(t, "%s_bucket{le=\"%s\"} %uA\n", name,
                               i < n ? bounds[i] : "+Inf", total);
    }

    if (msec) {
        ngx_http_tracktik_text(t, "%s_sum %uA.%03uA\n", name, sum / 1000,
                               sum % 1000);

    } else {
        ngx_http_tracktik_text(t, "%s_sum %uA\n", name, sum);
    }

    ngx_http_tracktik_text(t, "%s_count %uA\n", name, total);
}


static void
ngx_http_tracktik_metrics_pools(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m)
{
    ngx_uint_t                       i, k;
    ngx_atomic_t                    *pg;
    ngx_atomic_uint_t                open, closed;
    ngx_http_tracktik_pg_family_t   *f;

    ngx_http_tracktik_text_family(t, "tracktik_pg_connections",
                                  "PostgreSQL connections open in all "
                                  "workers", "gauge");

    for (i = 0; i < NGX_HTTP_TRACKTIK_METRICS_POOLS; i++) {
        pg = m->pg[i];

        /* the later read: never more closed than opened */
        closed = pg[NGX_HTTP_TRACKTIK_PG_CLOSED];
        open = pg[NGX_HTTP_TRACKTIK_PG_CONNECTED];

        ngx_http_tracktik_text(t, "tracktik_pg_connections{pool=\"%s\"} "
                               "%uA\n", ngx_http_tracktik_pool_names[i],
                               open > closed ? open - closed : 0);
    }

    for (f = ngx_http_tracktik_pg_families; f->name; f++) {

        ngx_http_tracktik_text_family(t, f->name, f->help, "counter");

        for (i = 0; i < NGX_HTTP_TRACKTIK_METRICS_POOLS; i++) {
            if (f->label == NULL) {
                ngx_http_tracktik_text(t, "%s{pool=\"%s\"} %uA\n", f->name,
                                       ngx_http_tracktik_pool_names[i],
                                       m->pg[i][f->events[0]]);
                continue;
            }

            for (k = 0; k < 2 && f->values[k]; k++) {
                ngx_http_tracktik_text(t, "%s{pool=\"%s\",%s=\"%s\"} %uA\n",
                                       f->name,
                                       ngx_http_tracktik_pool_names[i],
                                       f->label, f->values[k],
                                       m->pg[i][f->events[k]]);
            }
        }
    }
}


static void
ngx_http_tracktik_metrics_routes(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m)
{
    ngx_str_t   *name, unknown;
    ngx_uint_t   i, c;

    ngx_str_set(&unknown, "unknown");

    ngx_http_tracktik_text_family(t, "tracktik_portal_requests_total",
                                  "portal API answers, by route and status "
                                  "class", "counter");

    for (i = 0; i < NGX_HTTP_TRACKTIK_METRICS_ROUTES; i++) {

        name = (i < NGX_HTTP_TRACKTIK_METRICS_ROUTES - 1)
               ? ngx_http_tracktik_portal_route_name(i) : &unknown;

        if (name == NULL) {
            continue;
        }

        for (c = 1; c < NGX_HTTP_TRACKTIK_CLASSES; c++) {
            ngx_http_tracktik_text(t, "tracktik_portal_requests_total"
                                   "{route=\"%V\",status=\"%uixx\"} %uA\n",
                                   name, c + 1, m->portal[i][c]);
        }
    }
}
