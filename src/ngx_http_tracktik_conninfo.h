
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_CONNINFO_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_CONNINFO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tracktik_pg.h"


/* query_timeout's default (ngx_http_tracktik_init_main_conf()) */
#define NGX_HTTP_TRACKTIK_QUERY_TIMEOUT  10000


/*
 * fills pg->keywords and pg->values; host names are resolved now, and
 * every connection asks for statement_timeout (milliseconds)
 */
char *ngx_http_tracktik_conninfo(ngx_conf_t *cf,
    ngx_http_tracktik_pg_conf_t *pg, ngx_str_t *conninfo,
    ngx_msec_t statement_timeout);


#endif /* _NGX_HTTP_TRACKTIK_CONNINFO_H_INCLUDED_ */
