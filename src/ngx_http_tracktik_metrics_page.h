
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_METRICS_PAGE_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_METRICS_PAGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the tracktik_metrics directive, and its zone in each worker */
char *ngx_http_tracktik_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_tracktik_metrics_init_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_TRACKTIK_METRICS_PAGE_H_INCLUDED_ */
