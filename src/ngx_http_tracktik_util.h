
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_UTIL_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_UTIL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* one line of a secret file */
typedef struct {
    ngx_str_t                        text;   /* the line as written */
    ngx_str_t                        key;    /* whsec_ decoded, else text */
    ngx_uint_t                       line;
    ngx_str_t                       *file;   /* the file's full name */
} ngx_http_tracktik_secret_t;


char *ngx_http_tracktik_read_secrets(ngx_conf_t *cf, ngx_str_t *file,
    ngx_array_t **secrets);
ngx_table_elt_t *ngx_http_tracktik_header(ngx_http_request_t *r,
    u_char *name, size_t len);


#endif /* _NGX_HTTP_TRACKTIK_UTIL_H_INCLUDED_ */
