
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Prometheus' text format (version 0.0.4) for the tracktik_metrics
 * location: lines written into a chain of buffers, a metric family's
 * HELP and TYPE lines, and the gauges PostgreSQL answers, checked before
 * they are printed so that a bad row cannot break the whole scrape.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_metrics_text.h"


#define NGX_HTTP_TRACKTIK_TEXT_BUF     8192
#define NGX_HTTP_TRACKTIK_NAME_MAX     100
#define NGX_HTTP_TRACKTIK_LABELS_MAX   512
#define NGX_HTTP_TRACKTIK_HELP_MAX     200
#define NGX_HTTP_TRACKTIK_VALUE_MAX    40


static ngx_int_t ngx_http_tracktik_text_name(u_char *p, size_t len);
static ngx_int_t ngx_http_tracktik_text_plain(u_char *p, size_t len);


void
ngx_http_tracktik_text_init(ngx_http_tracktik_text_t *t, ngx_pool_t *pool)
{
    ngx_memzero(t, sizeof(ngx_http_tracktik_text_t));

    t->pool = pool;
    t->last = &t->out;
}


/* one or more whole lines, at most NGX_HTTP_TRACKTIK_TEXT_LINE bytes */

void
ngx_http_tracktik_text(ngx_http_tracktik_text_t *t, const char *fmt, ...)
{
    u_char       *p;
    va_list       args;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (t->failed) {
        return;
    }

    b = t->buf;

    if (b == NULL || b->end - b->last < NGX_HTTP_TRACKTIK_TEXT_LINE) {

        b = ngx_create_temp_buf(t->pool, NGX_HTTP_TRACKTIK_TEXT_BUF);
        cl = ngx_alloc_chain_link(t->pool);

        if (b == NULL || cl == NULL) {
            t->failed = 1;
            return;
        }

        cl->buf = b;
        cl->next = NULL;
        *t->last = cl;
        t->last = &cl->next;
        t->buf = b;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(b->last, b->last + NGX_HTTP_TRACKTIK_TEXT_LINE, fmt,
                      args);
    va_end(args);

    t->size += p - b->last;
    b->last = p;
}


void
ngx_http_tracktik_text_family(ngx_http_tracktik_text_t *t, char *name,
    char *help, char *type)
{
    ngx_http_tracktik_text(t, "# HELP %s %s\n# TYPE %s %s\n", name, help,
                           name, type);
}


/*
 * The rows of tracktik_metrics_gauges(): name, labels (already written
 * as name="value",... and escaped by the function), value as text, help.
 * Rows of one name come together; each name gets its HELP and TYPE once.
 * A row that could break the format is left out and logged.
 */

void
ngx_http_tracktik_text_gauges(ngx_http_tracktik_text_t *t, PGresult *res,
    ngx_log_t *log)
{
    int        i, n;
    char      *value;
    size_t     len;
    u_char    *name, *labels, *help, *prev;
    ngx_str_t  v;

    if (PQnfields(res) != 4) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "tracktik metrics: the gauges' query answered %d "
                      "columns, not 4", PQnfields(res));
        return;
    }

    n = PQntuples(res);
    prev = NULL;

    for (i = 0; i < n; i++) {

        if (PQgetisnull(res, i, 0) || PQgetisnull(res, i, 2)) {
            continue;
        }

        name = (u_char *) PQgetvalue(res, i, 0);
        labels = (u_char *) PQgetvalue(res, i, 1);
        value = PQgetvalue(res, i, 2);
        help = (u_char *) PQgetvalue(res, i, 3);

        len = PQgetlength(res, i, 1);

        if (ngx_http_tracktik_text_name(name, PQgetlength(res, i, 0))
            != NGX_OK
            || len > NGX_HTTP_TRACKTIK_LABELS_MAX
            || ngx_http_tracktik_text_plain(labels, len) != NGX_OK
            || PQgetlength(res, i, 2) > NGX_HTTP_TRACKTIK_VALUE_MAX
            || PQgetlength(res, i, 3) > NGX_HTTP_TRACKTIK_HELP_MAX
            || ngx_http_tracktik_text_plain(help, PQgetlength(res, i, 3))
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "tracktik metrics: gauge row %d is not printable, "
                          "left out", i + 1);
            continue;
        }

        if (prev == NULL || ngx_strcmp(prev, name) != 0) {
            ngx_http_tracktik_text_family(t, (char *) name,
                                          *help ? (char *) help : "gauge",
                                          "gauge");
            prev = name;
        }

        /* float8's words for what Prometheus writes +Inf, -Inf, NaN */

        if (ngx_strcmp(value, "Infinity") == 0) {
            ngx_str_set(&v, "+Inf");

        } else if (ngx_strcmp(value, "-Infinity") == 0) {
            ngx_str_set(&v, "-Inf");

        } else {
            v.data = (u_char *) value;
            v.len = ngx_strlen(value);
        }

        ngx_http_tracktik_text(t, len ? "%s{%s} %V\n" : "%s%s %V\n",
                               name, labels, &v);
    }
}


ngx_chain_t *
ngx_http_tracktik_text_end(ngx_http_tracktik_text_t *t,
    ngx_http_request_t *r)
{
    if (t->buf) {
        t->buf->last_buf = (r == r->main) ? 1 : 0;
        t->buf->last_in_chain = 1;
    }

    return t->out;
}


/* [a-z_][a-z0-9_]*: the metric names this module writes */

static ngx_int_t
ngx_http_tracktik_text_name(u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_HTTP_TRACKTIK_NAME_MAX
        || (*p >= '0' && *p <= '9'))
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')
              || p[i] == '_'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* one line's worth: no control characters */

static ngx_int_t
ngx_http_tracktik_text_plain(u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
