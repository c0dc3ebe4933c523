
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_VARIABLES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"


/* preconfiguration: $tracktik_job_id, $tracktik_webhook_result, ... */
ngx_int_t ngx_http_tracktik_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_TRACKTIK_VARIABLES_H_INCLUDED_ */
