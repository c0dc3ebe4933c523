
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_JSON_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* NULL when body is a JSON object jsonb accepts, else why it is not */
const char *ngx_http_tracktik_json_check(ngx_str_t *body);


#endif /* _NGX_HTTP_TRACKTIK_JSON_H_INCLUDED_ */
