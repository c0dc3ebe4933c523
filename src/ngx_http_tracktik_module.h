
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_MODULE_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_pg.h"
#include "ngx_http_tracktik_util.h"


typedef struct ngx_http_tracktik_batcher_s  ngx_http_tracktik_batcher_t;


typedef struct {
    ngx_http_tracktik_pg_conf_t      pg;          /* webhook ingest */
    ngx_http_tracktik_pg_conf_t      portal_pg;   /* portal queries */
    ngx_uint_t                       batch_size;
    ngx_uint_t                       inflight;    /* INSERTs in flight */
    ngx_uint_t                       configured;  /* tracktik_postgres seen */
    ngx_uint_t                       password_cpu; /* percent of one core */
    ngx_msec_t                       statement_timeout; /* 0: query_timeout */
    ngx_str_t                        portal_conninfo; /* its own, if set */
    ngx_msec_t                       portal_statement_timeout;

    /* what the configuration uses, set by the directives */
    ngx_str_t                        webhook;     /* file:line of the first
                                                     tracktik_webhook */
    ngx_flag_t                       portal;      /* portal API or auth */
    ngx_flag_t                       access;      /* tracktik_portal_auth on
                                                     somewhere */
    ngx_shm_zone_t                  *metrics_zone; /* tracktik_metrics */
    ngx_flag_t                       health;      /* tracktik_health */

    /*
     * per worker process, created on first use; the portal has a pool of
     * its own: a burst of slow portal queries must not hold up webhook
     * acknowledgements
     */
    ngx_http_tracktik_pg_pool_t     *pool;
    ngx_http_tracktik_pg_pool_t     *portal_pool;
    ngx_http_tracktik_batcher_t     *batcher;
} ngx_http_tracktik_main_conf_t;


typedef struct {
    ngx_array_t                     *secrets;
    ngx_uint_t                       auth;         /* row of schemes[] */
    ngx_str_t                        header;
    time_t                           tolerance;
    time_t                           retry_after;
    ngx_str_t                        webhook;      /* file:line, if set */

    ngx_str_t                        portal_api;   /* file:line, if set */
    ngx_flag_t                       portal_auth;
    ngx_array_t                     *session_secrets;
    time_t                           session_timeout;
    ngx_flag_t                       cookie_secure;
    ngx_str_t                        login_page;
    ngx_str_t                        attachment_store;
    ngx_msec_t                       events_interval;
    ngx_msec_t                       events_lifetime;
    ngx_array_t                     *portal_origins; /* of ngx_str_t, or
                                                        NULL: the Host's */
} ngx_http_tracktik_loc_conf_t;


/* the first member of every request context of the module */
typedef struct {
    ngx_str_t                        result;   /* $tracktik_webhook_result */
    ngx_str_t                        job_id;   /* $tracktik_job_id */
    ngx_str_t                        user;     /* $tracktik_user */
    ngx_str_t                        client;   /* $tracktik_client */
} ngx_http_tracktik_ctx_t;


extern ngx_module_t  ngx_http_tracktik_module;


/* the webhook's pool and the portal's, in this worker (or NULL) */

static ngx_inline ngx_http_tracktik_pg_pool_t *
ngx_http_tracktik_pool(ngx_http_tracktik_main_conf_t *tmcf)
{
    return ngx_http_tracktik_pg_pool(&tmcf->pool, &tmcf->pg);
}


static ngx_inline ngx_http_tracktik_pg_pool_t *
ngx_http_tracktik_portal_pool(ngx_http_tracktik_main_conf_t *tmcf)
{
    return ngx_http_tracktik_pg_pool(&tmcf->portal_pool, &tmcf->portal_pg);
}


#endif /* _NGX_HTTP_TRACKTIK_MODULE_H_INCLUDED_ */
