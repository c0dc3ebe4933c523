
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PORTAL_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PORTAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_portal_route.h"


/* the portal API's content handler: routes by portal.c's routes[] */
ngx_int_t ngx_http_tracktik_portal_handler(ngx_http_request_t *r);

/* the route names, for the metrics' labels: NULL past the last */
ngx_str_t *ngx_http_tracktik_portal_route_name(ngx_uint_t route);


#endif /* _NGX_HTTP_TRACKTIK_PORTAL_H_INCLUDED_ */
