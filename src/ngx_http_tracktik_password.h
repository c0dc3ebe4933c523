
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_PASSWORD_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_PASSWORD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* how many checks may wait for the thread in one nginx worker */
#define NGX_HTTP_TRACKTIK_PASSWORD_QUEUE  64


typedef struct ngx_http_tracktik_password_s  ngx_http_tracktik_password_t;

/* matched: 1 when the password matches the hash */
typedef void (*ngx_http_tracktik_password_pt)(void *data,
    ngx_uint_t matched);


void ngx_http_tracktik_password_exit(void);
ngx_http_tracktik_password_t *ngx_http_tracktik_password_check(
    ngx_str_t *password, ngx_str_t *hash, ngx_uint_t cpu,
    ngx_http_tracktik_password_pt done, void *data, ngx_log_t *log);
void ngx_http_tracktik_password_forget(ngx_http_tracktik_password_t *check);


#endif /* _NGX_HTTP_TRACKTIK_PASSWORD_H_INCLUDED_ */
