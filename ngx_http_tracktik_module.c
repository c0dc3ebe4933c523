
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Directives, configuration and variables of ngx_http_tracktik_module.
 * The request handling lives in src/: the webhook in
 * ngx_http_tracktik_webhook.c, the PostgreSQL pool in ngx_http_tracktik_pg.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <netdb.h>

#include "src/ngx_http_tracktik_module.h"
#include "src/ngx_http_tracktik_password.h"
#include "src/ngx_http_tracktik_portal.h"
#include "src/ngx_http_tracktik_session.h"
#include "src/ngx_http_tracktik_webhook.h"


static ngx_int_t ngx_http_tracktik_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_tracktik_init(ngx_conf_t *cf);
static void ngx_http_tracktik_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_tracktik_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tracktik_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_tracktik_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_tracktik_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_tracktik_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tracktik_conninfo(ngx_conf_t *cf,
    ngx_http_tracktik_main_conf_t *tmcf, ngx_str_t *conninfo);
static char *ngx_http_tracktik_resolve(ngx_conf_t *cf, char *hosts,
    char **addrs);
static char *ngx_http_tracktik_strdup(ngx_pool_t *pool, const char *s,
    size_t len);
static char *ngx_http_tracktik_webhook(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tracktik_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tracktik_session_secret_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tracktik_portal_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tracktik_password_cpu(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_tracktik_where(ngx_conf_t *cf, ngx_str_t *where);
static ngx_int_t ngx_http_tracktik_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_conf_enum_t  ngx_http_tracktik_auth[] = {
    { ngx_string("hmac_sha512"), NGX_HTTP_TRACKTIK_AUTH_HMAC_SHA512 },
    { ngx_string("hmac_sha256"), NGX_HTTP_TRACKTIK_AUTH_HMAC_SHA256 },
    { ngx_string("static"), NGX_HTTP_TRACKTIK_AUTH_STATIC },
    { ngx_string("standard"), NGX_HTTP_TRACKTIK_AUTH_STANDARD },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_tracktik_commands[] = {

    { ngx_string("tracktik_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tracktik_postgres,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tracktik_webhook"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tracktik_webhook,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tracktik_webhook_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tracktik_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tracktik_webhook_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, auth),
      &ngx_http_tracktik_auth },

    { ngx_string("tracktik_webhook_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, header),
      NULL },

    { ngx_string("tracktik_webhook_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, tolerance),
      NULL },

    { ngx_string("tracktik_webhook_retry_after"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, retry_after),
      NULL },

    { ngx_string("tracktik_portal_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tracktik_portal_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tracktik_portal_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, portal_auth),
      NULL },

    { ngx_string("tracktik_session_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tracktik_session_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tracktik_session_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, session_timeout),
      NULL },

    { ngx_string("tracktik_cookie_secure"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, cookie_secure),
      NULL },

    { ngx_string("tracktik_portal_login_page"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, login_page),
      NULL },

    { ngx_string("tracktik_attachment_store"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, attachment_store),
      NULL },

    { ngx_string("tracktik_portal_password_cpu"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tracktik_password_cpu,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tracktik_portal_events_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, events_interval),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tracktik_module_ctx = {
    ngx_http_tracktik_add_variables,       /* preconfiguration */
    ngx_http_tracktik_init,                /* postconfiguration */

    ngx_http_tracktik_create_main_conf,    /* create main configuration */
    ngx_http_tracktik_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_tracktik_create_loc_conf,     /* create location configuration */
    ngx_http_tracktik_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_tracktik_module = {
    NGX_MODULE_V1,
    &ngx_http_tracktik_module_ctx,         /* module context */
    ngx_http_tracktik_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_tracktik_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


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


static ngx_uint_t  ngx_http_tracktik_webhook_used;
static ngx_str_t   ngx_http_tracktik_webhook_where;
static ngx_uint_t  ngx_http_tracktik_portal_used;


ngx_http_tracktik_pg_pool_t *
ngx_http_tracktik_pool(ngx_http_tracktik_main_conf_t *tmcf)
{
    if (tmcf->pool == NULL) {
        tmcf->pool = ngx_http_tracktik_pg_pool_create(&tmcf->pg,
                                                      ngx_cycle->pool,
                                                      ngx_cycle->log);
    }

    return tmcf->pool;
}


/* a worker leaves no PostgreSQL connection behind when it exits */

static void
ngx_http_tracktik_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_tracktik_module);

    if (tmcf && tmcf->pool) {
        ngx_http_tracktik_pg_close_all(tmcf->pool);
    }

    if (tmcf && tmcf->portal_pool) {
        ngx_http_tracktik_pg_close_all(tmcf->portal_pool);
    }

    ngx_http_tracktik_password_exit();
}


/*
 * The portal has a pool of its own: a burst of slow portal queries must
 * not hold up webhook acknowledgements.
 */

ngx_http_tracktik_pg_pool_t *
ngx_http_tracktik_portal_pool(ngx_http_tracktik_main_conf_t *tmcf)
{
    if (tmcf->portal_pool == NULL) {
        tmcf->portal_pool = ngx_http_tracktik_pg_pool_create(&tmcf->portal_pg,
                                                             ngx_cycle->pool,
                                                             ngx_cycle->log);
    }

    return tmcf->portal_pool;
}


static ngx_int_t
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

    ngx_http_tracktik_webhook_used = 0;
    ngx_http_tracktik_portal_used = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tracktik_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tracktik_module);
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_tracktik_session_access_handler;

    if (ngx_http_tracktik_webhook_used && !tmcf->configured) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tracktik_webhook\" in %V needs \"tracktik_postgres\" "
                      "in the http block", &ngx_http_tracktik_webhook_where);
        return NGX_ERROR;
    }

    if (ngx_http_tracktik_portal_used && !tmcf->configured) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "the tracktik portal needs \"tracktik_postgres\" "
                      "in the http block");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void *
ngx_http_tracktik_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tracktik_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tmcf->pg.keywords = NULL;
     *     tmcf->pg.values = NULL;
     *     tmcf->configured = 0;
     *     tmcf->pool = NULL;
     *     tmcf->batcher = NULL;
     */

    tmcf->pg.size = NGX_CONF_UNSET_UINT;
    tmcf->pg.queue_size = NGX_CONF_UNSET_UINT;
    tmcf->pg.connect_timeout = NGX_CONF_UNSET_MSEC;
    tmcf->pg.query_timeout = NGX_CONF_UNSET_MSEC;
    tmcf->portal_pg.size = NGX_CONF_UNSET_UINT;
    tmcf->batch_size = NGX_CONF_UNSET_UINT;
    tmcf->inflight = NGX_CONF_UNSET_UINT;
    tmcf->password_cpu = NGX_CONF_UNSET_UINT;

    return tmcf;
}


static char *
ngx_http_tracktik_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_tracktik_main_conf_t *tmcf = conf;

    ngx_conf_init_uint_value(tmcf->pg.size, 4);
    ngx_conf_init_uint_value(tmcf->pg.queue_size, 1024);
    ngx_conf_init_msec_value(tmcf->pg.connect_timeout, 5000);
    ngx_conf_init_msec_value(tmcf->pg.query_timeout, 10000);
    ngx_conf_init_uint_value(tmcf->batch_size, 200);
    ngx_conf_init_uint_value(tmcf->inflight, 1);
    ngx_conf_init_uint_value(tmcf->password_cpu, 10);

    if (tmcf->inflight > tmcf->pg.size) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "tracktik_postgres: inflight=%ui is more than "
                      "pool=%ui", tmcf->inflight, tmcf->pg.size);
        return NGX_CONF_ERROR;
    }
    ngx_conf_init_uint_value(tmcf->portal_pg.size, 4);

    tmcf->portal_pg.keywords = tmcf->pg.keywords;
    tmcf->portal_pg.values = tmcf->pg.values;
    tmcf->portal_pg.queue_size = tmcf->pg.queue_size;
    tmcf->portal_pg.connect_timeout = tmcf->pg.connect_timeout;
    tmcf->portal_pg.query_timeout = tmcf->pg.query_timeout;

    return NGX_CONF_OK;
}


static void *
ngx_http_tracktik_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_tracktik_loc_conf_t  *tlcf;

    tlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tracktik_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     tlcf->header = { 0, NULL };
     */

    tlcf->secrets = NGX_CONF_UNSET_PTR;
    tlcf->auth = NGX_CONF_UNSET_UINT;
    tlcf->tolerance = NGX_CONF_UNSET;
    tlcf->retry_after = NGX_CONF_UNSET;
    tlcf->portal_auth = NGX_CONF_UNSET;
    tlcf->session_secrets = NGX_CONF_UNSET_PTR;
    tlcf->session_timeout = NGX_CONF_UNSET;
    tlcf->cookie_secure = NGX_CONF_UNSET;
    tlcf->events_interval = NGX_CONF_UNSET_MSEC;

    return tlcf;
}


static char *
ngx_http_tracktik_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_tracktik_loc_conf_t *prev = parent;
    ngx_http_tracktik_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->secrets, prev->secrets, NULL);
    ngx_conf_merge_uint_value(conf->auth, prev->auth,
                              NGX_HTTP_TRACKTIK_AUTH_HMAC_SHA512);
    ngx_conf_merge_str_value(conf->header, prev->header,
                             "TrackTik-Subscription-Secret");
    ngx_conf_merge_sec_value(conf->tolerance, prev->tolerance, 300);
    ngx_conf_merge_sec_value(conf->retry_after, prev->retry_after, 5);
    ngx_conf_merge_value(conf->portal_auth, prev->portal_auth, 0);
    ngx_conf_merge_ptr_value(conf->session_secrets, prev->session_secrets,
                             NULL);
    ngx_conf_merge_sec_value(conf->session_timeout, prev->session_timeout,
                             12 * 60 * 60);
    ngx_conf_merge_value(conf->cookie_secure, prev->cookie_secure, 0);
    ngx_conf_merge_str_value(conf->login_page, prev->login_page,
                             "/portal/login.html");
    ngx_conf_merge_str_value(conf->attachment_store, prev->attachment_store,
                             "/_tracktik_attachments/");
    ngx_conf_merge_msec_value(conf->events_interval, prev->events_interval,
                              1000);

    if ((conf->portal_api.len || conf->portal_auth)
        && conf->session_secrets == NULL)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "the tracktik portal needs "
                      "\"tracktik_session_secret_file\"%s%V",
                      conf->portal_api.len ? " for the API in " : "",
                      &conf->portal_api);
        return NGX_CONF_ERROR;
    }

    if (conf->session_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tracktik_session_timeout\" must be positive");
        return NGX_CONF_ERROR;
    }

    if (conf->portal_auth) {
        ngx_http_tracktik_portal_used = 1;
    }

    if (conf->header.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tracktik_webhook_header\" must not be empty");
        return NGX_CONF_ERROR;
    }

    if (conf->webhook.len && conf->secrets == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tracktik_webhook\" in %V has no "
                      "\"tracktik_webhook_secret_file\"", &conf->webhook);
        return NGX_CONF_ERROR;
    }

    if (conf->tolerance == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tracktik_webhook_tolerance\" must be positive");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tracktik_postgres(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_main_conf_t *tmcf = conf;

    u_char      *p;
    ngx_int_t    n;
    ngx_str_t   *value, name, arg;
    ngx_msec_t   ms;
    ngx_uint_t   i;

    if (tmcf->configured) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        p = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        if (p == NULL) {
            goto invalid;
        }

        name.data = value[i].data;
        name.len = p - value[i].data;
        arg.data = p + 1;
        arg.len = value[i].data + value[i].len - arg.data;

        if (ngx_strncmp(name.data, "pool", name.len) == 0 && name.len == 4) {
            n = ngx_atoi(arg.data, arg.len);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            tmcf->pg.size = n;
            continue;
        }

        if (name.len == 11 && ngx_strncmp(name.data, "portal_pool", 11) == 0) {
            n = ngx_atoi(arg.data, arg.len);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            tmcf->portal_pg.size = n;
            continue;
        }

        if (name.len == 5 && ngx_strncmp(name.data, "queue", 5) == 0) {
            n = ngx_atoi(arg.data, arg.len);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            tmcf->pg.queue_size = n;
            continue;
        }

        if (name.len == 8 && ngx_strncmp(name.data, "inflight", 8) == 0) {
            n = ngx_atoi(arg.data, arg.len);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            tmcf->inflight = n;
            continue;
        }

        if (name.len == 5 && ngx_strncmp(name.data, "batch", 5) == 0) {
            n = ngx_atoi(arg.data, arg.len);
            if (n == NGX_ERROR || n == 0 || n > 10000) {
                goto invalid;
            }

            tmcf->batch_size = n;
            continue;
        }

        if ((name.len == 15
             && ngx_strncmp(name.data, "connect_timeout", 15) == 0)
            || (name.len == 13
                && ngx_strncmp(name.data, "query_timeout", 13) == 0))
        {
            ms = ngx_parse_time(&arg, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            if (name.len == 15) {
                tmcf->pg.connect_timeout = ms;

            } else {
                tmcf->pg.query_timeout = ms;
            }

            continue;
        }

        goto invalid;
    }

    if (ngx_http_tracktik_conninfo(cf, tmcf, &value[1]) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    tmcf->configured = 1;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" (expected pool=N, "
                       "portal_pool=N, queue=N, batch=N, inflight=N, "
                       "connect_timeout=TIME or query_timeout=TIME)",
                       &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * Turns the conninfo into keyword/value arrays for PQconnectStartParams()
 * and resolves host names now, at configuration time: a host name left to
 * libpq would be resolved with a blocking lookup inside the event loop.
 */

static char *
ngx_http_tracktik_conninfo(ngx_conf_t *cf, ngx_http_tracktik_main_conf_t *tmcf,
    ngx_str_t *conninfo)
{
    char                *err, *host, *hostaddr, *addrs;
    ngx_uint_t           n, i, app, enc;
    PQconninfoOption    *opts, *o;

    err = NULL;

    opts = PQconninfoParse(ngx_http_tracktik_strdup(cf->pool,
                               (char *) conninfo->data, conninfo->len),
                           &err);

    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid PostgreSQL conninfo: %s",
                           err ? err : "out of memory");
        if (err) {
            PQfreemem(err);
        }

        return NGX_CONF_ERROR;
    }

    n = 0;
    host = NULL;
    hostaddr = NULL;
    app = 0;
    enc = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        n++;

        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;

        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;

        } else if (ngx_strcmp(o->keyword, "application_name") == 0) {
            app = 1;

        } else if (ngx_strcmp(o->keyword, "client_encoding") == 0) {
            enc = 1;
        }
    }

    tmcf->pg.keywords = ngx_pcalloc(cf->pool, (n + 4) * sizeof(char *));
    tmcf->pg.values = ngx_pcalloc(cf->pool, (n + 4) * sizeof(char *));

    if (tmcf->pg.keywords == NULL || tmcf->pg.values == NULL) {
        PQconninfoFree(opts);
        return NGX_CONF_ERROR;
    }

    i = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        tmcf->pg.keywords[i] = ngx_http_tracktik_strdup(cf->pool, o->keyword,
                                                  ngx_strlen(o->keyword));
        tmcf->pg.values[i] = ngx_http_tracktik_strdup(cf->pool, o->val,
                                                  ngx_strlen(o->val));

        if (tmcf->pg.keywords[i] == NULL || tmcf->pg.values[i] == NULL) {
            PQconninfoFree(opts);
            return NGX_CONF_ERROR;
        }

        i++;
    }

    if (hostaddr == NULL && host != NULL && host[0] != '/' && host[0] != '@') {

        if (ngx_http_tracktik_resolve(cf, host, &addrs) != NGX_CONF_OK) {
            PQconninfoFree(opts);
            return NGX_CONF_ERROR;
        }

        tmcf->pg.keywords[i] = "hostaddr";
        tmcf->pg.values[i++] = addrs;
    }

    if (!app) {
        tmcf->pg.keywords[i] = "application_name";
        tmcf->pg.values[i++] = "ngx_http_tracktik";
    }

    if (!enc) {
        tmcf->pg.keywords[i] = "client_encoding";
        tmcf->pg.values[i++] = "UTF8";
    }

    PQconninfoFree(opts);

    return NGX_CONF_OK;
}


static char *
ngx_http_tracktik_resolve(ngx_conf_t *cf, char *hosts, char **addrs)
{
    int               rc;
    char             *h, *end, *list, *name;
    u_char           *p;
    size_t            len;
    struct addrinfo   hints, *res;
    char              text[NGX_SOCKADDR_STRLEN];

    len = ngx_strlen(hosts);

    list = ngx_pnalloc(cf->pool, (len + 1) * (NGX_SOCKADDR_STRLEN + 1));
    if (list == NULL) {
        return NGX_CONF_ERROR;
    }

    p = (u_char *) list;

    for (h = hosts; *h; h = end) {

        end = h;
        while (*end && *end != ',') {
            end++;
        }

        name = (char *) ngx_pnalloc(cf->pool, end - h + 1);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn((u_char *) name, (u_char *) h, end - h + 1);

        if (*end == ',') {
            end++;
        }

        ngx_memzero(&hints, sizeof(struct addrinfo));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;

        rc = getaddrinfo(name, NULL, &hints, &res);

        if (rc != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "PostgreSQL host \"%s\" could not be "
                               "resolved: %s", name, gai_strerror(rc));
            return NGX_CONF_ERROR;
        }

        rc = getnameinfo(res->ai_addr, res->ai_addrlen, text, sizeof(text),
                         NULL, 0, NI_NUMERICHOST);
        freeaddrinfo(res);

        if (rc != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "PostgreSQL host \"%s\" could not be "
                               "resolved: %s", name, gai_strerror(rc));
            return NGX_CONF_ERROR;
        }

        if (p != (u_char *) list) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, text, ngx_strlen(text));
    }

    *p = '\0';
    *addrs = list;

    return NGX_CONF_OK;
}


static char *
ngx_http_tracktik_strdup(ngx_pool_t *pool, const char *s, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_cpystrn(p, (u_char *) s, len + 1);

    return (char *) p;
}


static char *
ngx_http_tracktik_webhook(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = ngx_http_tracktik_webhook_handler;

    if (ngx_http_tracktik_where(cf, &tlcf->webhook) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (!ngx_http_tracktik_webhook_used) {
        ngx_http_tracktik_webhook_used = 1;
        ngx_http_tracktik_webhook_where = tlcf->webhook;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tracktik_portal_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = ngx_http_tracktik_portal_handler;

    ngx_http_tracktik_portal_used = 1;

    return ngx_http_tracktik_where(cf, &tlcf->portal_api);
}


/* "file:line" of the directive being parsed, for later error messages */

/* tracktik_portal_password_cpu 10%;  the share of one core per worker */

static char *
ngx_http_tracktik_password_cpu(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tracktik_main_conf_t *tmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (tmcf->password_cpu != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = NGX_ERROR;

    if (value[1].len > 1 && value[1].data[value[1].len - 1] == '%') {
        n = ngx_atoi(value[1].data, value[1].len - 1);
    }

    if (n < 1 || n > 100) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\": a share of "
                           "one core from 1%% to 100%%",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    tmcf->password_cpu = n;

    return NGX_CONF_OK;
}


static char *
ngx_http_tracktik_where(ngx_conf_t *cf, ngx_str_t *where)
{
    where->data = ngx_pnalloc(cf->pool,
                              cf->conf_file->file.name.len + NGX_INT_T_LEN + 2);
    if (where->data == NULL) {
        return NGX_CONF_ERROR;
    }

    where->len = ngx_sprintf(where->data, "%V:%ui", &cf->conf_file->file.name,
                             cf->conf_file->line)
                 - where->data;

    return NGX_CONF_OK;
}


/*
 * One secret per line; any of them may sign a delivery, so a new secret is
 * added beside the old one, nginx reloaded, and the old line removed once
 * TrackTik signs with the new one.  Blank lines are ignored and surrounding
 * whitespace is trimmed.  The file is read when the configuration is loaded
 * (nginx -t, start, reload); its contents never reach a log.
 */

static char *
ngx_http_tracktik_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    ngx_str_t                   *value;
    ngx_uint_t                   i;
    ngx_http_tracktik_secret_t  *secret;

    if (tlcf->secrets != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_tracktik_read_secrets(cf, &value[1], &tlcf->secrets)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    secret = tlcf->secrets->elts;

    for (i = 0; i < tlcf->secrets->nelts; i++) {
        if (ngx_http_tracktik_webhook_check_secret(cf, &secret[i]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "line %ui of secret file \"%V\" starts with "
                               "\"whsec_\" but is not valid base64",
                               secret[i].line, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The first line signs new session cookies; every line is accepted when
 * checking one, so the key rotates without logging everybody out.
 */

static char *
ngx_http_tracktik_session_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    ngx_str_t                   *value;
    ngx_uint_t                   i;
    ngx_http_tracktik_secret_t  *secret;

    if (tlcf->session_secrets != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_tracktik_read_secrets(cf, &value[1], &tlcf->session_secrets)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    secret = tlcf->session_secrets->elts;

    for (i = 0; i < tlcf->session_secrets->nelts; i++) {
        secret[i].key = secret[i].text;

        if (secret[i].text.len < 32) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "line %ui of session secret file \"%V\" is "
                               "shorter than 32 characters",
                               secret[i].line, &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_http_tracktik_read_secrets(ngx_conf_t *cf, ngx_str_t *file,
    ngx_array_t **secrets)
{
    u_char                      *p, *last, *eol, *start, *end;
    size_t                       size;
    ssize_t                      n;
    ngx_fd_t                     fd;
    ngx_str_t                    name;
    ngx_file_t                   f;
    ngx_uint_t                   line;
    ngx_file_info_t              fi;
    ngx_http_tracktik_secret_t  *secret;

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &name);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    size = ngx_file_size(&fi);

    if (size > 65536) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" is too large", &name);
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.fd = fd;
    f.name = name;
    f.log = cf->log;

    p = ngx_pnalloc(cf->pool, size + 1);
    if (p == NULL) {
        ngx_close_file(fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&f, p, size, 0);

    ngx_close_file(fd);

    if (n == NGX_ERROR || (size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not read secret file \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    *secrets = ngx_array_create(cf->pool, 2,
                                sizeof(ngx_http_tracktik_secret_t));
    if (*secrets == NULL) {
        return NGX_CONF_ERROR;
    }

    last = p + size;
    line = 0;

    for ( /* void */ ; p < last; p = eol + 1) {

        line++;

        eol = ngx_strlchr(p, last, LF);
        if (eol == NULL) {
            eol = last;
        }

        start = p;
        end = eol;

        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }

        while (end > start
               && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == CR))
        {
            end--;
        }

        if (start == end) {
            continue;
        }

        secret = ngx_array_push(*secrets);
        if (secret == NULL) {
            return NGX_CONF_ERROR;
        }

        secret->text.data = start;
        secret->text.len = end - start;
        secret->key = secret->text;
        secret->line = line;
    }

    if ((*secrets)->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "secret file \"%V\" has no secrets", &name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the first request header with this name, in any case */

ngx_table_elt_t *
ngx_http_tracktik_header(ngx_http_request_t *r, u_char *name, size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, name, len) == 0)
        {
            return &h[i];
        }
    }
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
