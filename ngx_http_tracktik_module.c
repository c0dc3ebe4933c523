
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The module and directive tables of ngx_http_tracktik_module, its
 * configuration (create, init, merge), and the hooks that hand each
 * phase of the module's life to the concern it belongs to.  The directive
 * handlers are in src/ngx_http_tracktik_directives.c, the variables in
 * src/ngx_http_tracktik_variables.c; the request handling lives in src/,
 * one file per concern: the webhook (ngx_http_tracktik_webhook.c), the
 * PostgreSQL pool (ngx_http_tracktik_pg.c), the portal and its sessions.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "src/ngx_http_tracktik_module.h"
#include "src/ngx_http_tracktik_conninfo.h"
#include "src/ngx_http_tracktik_directives.h"
#include "src/ngx_http_tracktik_health.h"
#include "src/ngx_http_tracktik_metrics.h"
#include "src/ngx_http_tracktik_metrics_page.h"
#include "src/ngx_http_tracktik_password.h"
#include "src/ngx_http_tracktik_portal_origin.h"
#include "src/ngx_http_tracktik_session.h"
#include "src/ngx_http_tracktik_variables.h"


static ngx_int_t ngx_http_tracktik_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_tracktik_init_process(ngx_cycle_t *cycle);
static void ngx_http_tracktik_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_tracktik_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tracktik_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_tracktik_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_tracktik_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_command_t  ngx_http_tracktik_commands[] = {

    { ngx_string("tracktik_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tracktik_postgres,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tracktik_portal_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_tracktik_portal_postgres,
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
      ngx_http_tracktik_webhook_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

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
      ngx_http_tracktik_portal_auth,
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

    { ngx_string("tracktik_portal_events_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tracktik_loc_conf_t, events_lifetime),
      NULL },

    { ngx_string("tracktik_portal_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_tracktik_portal_origin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tracktik_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tracktik_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tracktik_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tracktik_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
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
    ngx_http_tracktik_health_init_module,  /* init module */
    ngx_http_tracktik_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_tracktik_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_tracktik_init_process(ngx_cycle_t *cycle)
{
    ngx_http_tracktik_metrics_init_process(cycle);
    ngx_http_tracktik_health_init_process(cycle);

    return NGX_OK;
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


static ngx_int_t
ngx_http_tracktik_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_tracktik_module);

    if (tmcf->webhook.len && !tmcf->configured) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tracktik_webhook\" in %V needs \"tracktik_postgres\" "
                      "in the http block", &tmcf->webhook);
        return NGX_ERROR;
    }

    if ((tmcf->metrics_zone || tmcf->health) && !tmcf->configured) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"tracktik_metrics\" and \"tracktik_health\" need "
                      "\"tracktik_postgres\" in the http block");
        return NGX_ERROR;
    }

    if (tmcf->portal && !tmcf->configured && !tmcf->portal_conninfo.len) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "the tracktik portal needs \"tracktik_postgres\" "
                      "or \"tracktik_portal_postgres\" in the http block");
        return NGX_ERROR;
    }

    /* the session check runs only where "tracktik_portal_auth on" is */

    if (!tmcf->access) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_tracktik_session_access_handler;

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
    tmcf->portal_pg.queue_size = NGX_CONF_UNSET_UINT;
    tmcf->portal_pg.connect_timeout = NGX_CONF_UNSET_MSEC;
    tmcf->portal_pg.query_timeout = NGX_CONF_UNSET_MSEC;
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
    ngx_conf_init_msec_value(tmcf->pg.query_timeout,
                             NGX_HTTP_TRACKTIK_QUERY_TIMEOUT);
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
    tmcf->portal_pg.metrics = NGX_HTTP_TRACKTIK_METRICS_PORTAL;

    /*
     * What tracktik_portal_postgres does not set is tracktik_postgres's;
     * its statement_timeout, unless given, is its own query_timeout, else
     * tracktik_postgres's statement_timeout.
     */
    if (tmcf->portal_statement_timeout == 0
        && tmcf->portal_pg.query_timeout != NGX_CONF_UNSET_MSEC)
    {
        tmcf->portal_statement_timeout = tmcf->portal_pg.query_timeout;
    }

    ngx_conf_init_uint_value(tmcf->portal_pg.queue_size,
                             tmcf->pg.queue_size);
    ngx_conf_init_msec_value(tmcf->portal_pg.connect_timeout,
                             tmcf->pg.connect_timeout);
    ngx_conf_init_msec_value(tmcf->portal_pg.query_timeout,
                             tmcf->pg.query_timeout);

    if (tmcf->portal_conninfo.len == 0) {
        tmcf->portal_pg.keywords = tmcf->pg.keywords;
        tmcf->portal_pg.values = tmcf->pg.values;
        return NGX_CONF_OK;
    }

    if (tmcf->portal_statement_timeout == 0) {
        tmcf->portal_statement_timeout = tmcf->statement_timeout
                                         ? tmcf->statement_timeout
                                         : tmcf->portal_pg.query_timeout;
    }

    return ngx_http_tracktik_conninfo(cf, &tmcf->portal_pg,
                                      &tmcf->portal_conninfo,
                                      tmcf->portal_statement_timeout);
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
    tlcf->events_lifetime = NGX_CONF_UNSET_MSEC;
    tlcf->portal_origins = NGX_CONF_UNSET_PTR;

    return tlcf;
}


static char *
ngx_http_tracktik_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_tracktik_loc_conf_t *prev = parent;
    ngx_http_tracktik_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->secrets, prev->secrets, NULL);
    ngx_conf_merge_uint_value(conf->auth, prev->auth, 0);   /* hmac_sha512 */
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
    /* a stream ends after this and the client reconnects (portal_stream.c) */
    ngx_conf_merge_msec_value(conf->events_lifetime, prev->events_lifetime,
                              10 * 60 * 1000);
    ngx_conf_merge_ptr_value(conf->portal_origins, prev->portal_origins,
                             NULL);

    return ngx_http_tracktik_check_loc_conf(cf, conf);
}

