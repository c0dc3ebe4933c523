
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_CONNINFO_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_CONNINFO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_tracktik_pg.h"


/* fills pg->keywords and pg->values; host names are resolved now */
char *ngx_http_tracktik_conninfo(ngx_conf_t *cf,
    ngx_http_tracktik_pg_conf_t *pg, ngx_str_t *conninfo);


#endif /* _NGX_HTTP_TRACKTIK_CONNINFO_H_INCLUDED_ */
