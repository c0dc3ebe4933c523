
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_DIRECTIVES_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_DIRECTIVES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"


char *ngx_http_tracktik_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tracktik_portal_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tracktik_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tracktik_webhook_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tracktik_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tracktik_session_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_tracktik_portal_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tracktik_portal_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_tracktik_password_cpu(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

char *ngx_http_tracktik_content(ngx_conf_t *cf, ngx_http_handler_pt handler,
    ngx_str_t *where);
char *ngx_http_tracktik_check_loc_conf(ngx_conf_t *cf,
    ngx_http_tracktik_loc_conf_t *conf);


#endif /* _NGX_HTTP_TRACKTIK_DIRECTIVES_H_INCLUDED_ */
