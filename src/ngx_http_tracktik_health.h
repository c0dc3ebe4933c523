
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_HEALTH_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_HEALTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"


char *ngx_http_tracktik_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_tracktik_health_init_module(ngx_cycle_t *cycle);
void ngx_http_tracktik_health_init_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_TRACKTIK_HEALTH_H_INCLUDED_ */
