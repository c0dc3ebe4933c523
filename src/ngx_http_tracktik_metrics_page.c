
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The tracktik_metrics location: the counters
 * (ngx_http_tracktik_metrics.c) in Prometheus' text format, followed by
 * the gauges PostgreSQL answers (tracktik_metrics_gauges(),
 * sql/functions/metrics.sql; ngx_http_tracktik_metrics_text.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_ask.h"
#include "ngx_http_tracktik_directives.h"
#include "ngx_http_tracktik_metrics.h"
#include "ngx_http_tracktik_metrics_page.h"
#include "ngx_http_tracktik_metrics_text.h"
#include "ngx_http_tracktik_portal.h"
#include "common/tt_version.h"


/* a counter family of the pools: one sample per pool and label value */
typedef struct {
    char                *name;
    char                *help;
    char                *label;       /* NULL: the pool label alone */
    char                *values[2];
    ngx_uint_t           events[2];
} ngx_http_tracktik_pg_family_t;


static ngx_int_t ngx_http_tracktik_metrics_handler(ngx_http_request_t *r);
static void ngx_http_tracktik_metrics_answer(ngx_http_request_t *r,
    PGresult *res, ngx_int_t rc);
static ngx_int_t ngx_http_tracktik_metrics_send(ngx_http_request_t *r,
    PGresult *res);
static void ngx_http_tracktik_metrics_counters(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m);
static void ngx_http_tracktik_metrics_results(ngx_http_tracktik_text_t *t,
    char *name, char *help, char **labels, ngx_atomic_t *values,
    ngx_uint_t n);
static void ngx_http_tracktik_metrics_histogram(ngx_http_tracktik_text_t *t,
    char *name, char *help, char **bounds, ngx_atomic_t *buckets,
    ngx_uint_t n, ngx_atomic_uint_t sum, ngx_uint_t msec);
static void ngx_http_tracktik_metrics_pools(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m);
static void ngx_http_tracktik_metrics_routes(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m);


static char  *ngx_http_tracktik_delivery_results[] = {
    "queued", "duplicate", "dead_letter", "bad_signature", "bad_request",
    "backpressure", "unavailable", "other"
};

static char  *ngx_http_tracktik_login_results[] = {
    "success", "failure", "throttled", "error"
};

static char  *ngx_http_tracktik_poll_results[] = { "polled", "skipped" };

static char  *ngx_http_tracktik_pool_names[] = { "webhook", "portal" };

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


/* the histograms' bounds: acknowledgement latency in seconds */

static char  *ngx_http_tracktik_ack_le[] = {
    "0.001", "0.002", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
    "0.5", "1", "2.5", "5", "10"
};

/* deliveries per group commit */

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
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tracktik_module);

    if (tmcf->metrics_zone == NULL) {
        tmcf->metrics_zone = ngx_http_tracktik_metrics_zone(cf,
                                                   &ngx_http_tracktik_module);
        if (tmcf->metrics_zone == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return ngx_http_tracktik_content(cf, ngx_http_tracktik_metrics_handler,
                                     NULL);
}


void
ngx_http_tracktik_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_tracktik_module);

    if (tmcf && tmcf->metrics_zone) {
        ngx_http_tracktik_metrics_attach(tmcf->metrics_zone);
    }
}


/*
 * The scrape: the gauges are asked of PostgreSQL first; without an answer
 * in time the counters are printed all the same, with tracktik_up 0.
 */

static ngx_int_t
ngx_http_tracktik_metrics_handler(ngx_http_request_t *r)
{
    /* the portal's pool: a scrape never holds up an acknowledgement */

    return ngx_http_tracktik_ask(r, 1, ngx_http_tracktik_gauges_sql,
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

    m = ngx_http_tracktik_metrics_current();

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


/* a counter family with one "result" label: a value per label */

static void
ngx_http_tracktik_metrics_results(ngx_http_tracktik_text_t *t, char *name,
    char *help, char **labels, ngx_atomic_t *values, ngx_uint_t n)
{
    ngx_uint_t  i;

    ngx_http_tracktik_text_family(t, name, help, "counter");

    for (i = 0; i < n; i++) {
        ngx_http_tracktik_text(t, "%s{result=\"%s\"} %uA\n", name,
                               labels[i], values[i]);
    }
}


static void
ngx_http_tracktik_metrics_counters(ngx_http_tracktik_text_t *t,
    ngx_http_tracktik_counters_t *m)
{
    ngx_http_tracktik_metrics_results(t, "tracktik_webhook_deliveries_total",
        "webhook deliveries answered, by result",
        ngx_http_tracktik_delivery_results, m->deliveries,
        NGX_HTTP_TRACKTIK_D_RESULTS);

    ngx_http_tracktik_metrics_histogram(t, "tracktik_webhook_ack_seconds",
        "time from a delivery's first byte to its acknowledgement "
        "(200, 202)", ngx_http_tracktik_ack_le, m->ack,
        NGX_HTTP_TRACKTIK_ACK_BUCKETS, m->ack_msec, 1);

    ngx_http_tracktik_metrics_histogram(t, "tracktik_webhook_group_commit_size",
        "deliveries per group commit", ngx_http_tracktik_batch_le, m->batch,
        NGX_HTTP_TRACKTIK_BATCH_BUCKETS, m->batch_rows, 0);

    ngx_http_tracktik_metrics_pools(t, m);
    ngx_http_tracktik_metrics_routes(t, m);

    ngx_http_tracktik_metrics_results(t, "tracktik_portal_logins_total",
        "portal logins, by result", ngx_http_tracktik_login_results,
        m->logins, NGX_HTTP_TRACKTIK_L_RESULTS);

    ngx_http_tracktik_metrics_results(t, "tracktik_portal_event_polls_total",
        "event stream polls, made or skipped while output waits for the "
        "client", ngx_http_tracktik_poll_results, m->event_polls, 2);
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
