
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The module's variables: each is a string of the request context
 * (ngx_http_tracktik_ctx_t), set by the handler that knows it.  A new
 * variable is a row of ngx_http_tracktik_vars[] and a member of the
 * context.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_variables.h"


static ngx_int_t ngx_http_tracktik_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_tracktik_vars[] = {

    { ngx_string("tracktik_job_id"), NULL, ngx_http_tracktik_variable,
      offsetof(ngx_http_tracktik_ctx_t, job_id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tracktik_webhook_result"), NULL,
      ngx_http_tracktik_variable,
      offsetof(ngx_http_tracktik_ctx_t, result), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tracktik_user"), NULL, ngx_http_tracktik_variable,
      offsetof(ngx_http_tracktik_ctx_t, user), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tracktik_client"), NULL, ngx_http_tracktik_variable,
      offsetof(ngx_http_tracktik_ctx_t, client), NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_tracktik_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_tracktik_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tracktik_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                *s;
    ngx_http_tracktik_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}
