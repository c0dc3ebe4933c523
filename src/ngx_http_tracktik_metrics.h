
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


/* the hooks: each one line where the thing happens, cheap, lock-free */
void ngx_http_tracktik_metrics_delivery(ngx_http_request_t *r,
    ngx_uint_t status, const char *result, const char *error);
void ngx_http_tracktik_metrics_batch(ngx_uint_t rows);
void ngx_http_tracktik_metrics_pg(ngx_uint_t pool, ngx_uint_t event);
void ngx_http_tracktik_metrics_portal(ngx_http_request_t *r,
    ngx_uint_t route);
void ngx_http_tracktik_metrics_login(ngx_int_t rc, ngx_uint_t status);
void ngx_http_tracktik_metrics_event_poll(ngx_uint_t skipped);

/* the tracktik_metrics directive, and its zone in each worker */
char *ngx_http_tracktik_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_tracktik_metrics_init_process(ngx_cycle_t *cycle);

/* the route names, from portal.c: NULL past the last */
ngx_str_t *ngx_http_tracktik_portal_route_name(ngx_uint_t route);


#endif /* _NGX_HTTP_TRACKTIK_METRICS_H_INCLUDED_ */
