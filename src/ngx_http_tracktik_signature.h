
/*
 * Copyright (C) ngx_http_tracktik authors
 */


#ifndef _NGX_HTTP_TRACKTIK_SIGNATURE_H_INCLUDED_
#define _NGX_HTTP_TRACKTIK_SIGNATURE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"


/* a key shorter than this is weak; an empty one signs for anybody */
#define NGX_HTTP_TRACKTIK_SECRET_MIN  16


/*
 * One webhook signature scheme (tracktik_webhook_auth NAME).  Adding a
 * scheme is one row of ngx_http_tracktik_schemes[] plus its functions.
 */

typedef struct {
    ngx_str_t                        name;

    /* NGX_OK: a configured secret signs the delivery; NGX_DECLINED: none
     * does (the reason is logged at info); NGX_ERROR */
    ngx_int_t                      (*verify)(ngx_http_request_t *r,
                                       ngx_http_tracktik_loc_conf_t *tlcf,
                                       ngx_str_t *body);

    /* at configuration time: NGX_CONF_OK if the secret can sign */
    char                          *(*check_secret)(ngx_conf_t *cf,
                                       ngx_http_tracktik_secret_t *secret);

    /* the key that makes a redelivery a duplicate, for a verified one */
    ngx_int_t                      (*dedupe_key)(ngx_http_request_t *r,
                                       ngx_str_t *body, ngx_str_t *key);
} ngx_http_tracktik_scheme_t;


/* the first row is the default scheme; the table ends with an empty name */
extern ngx_http_tracktik_scheme_t  ngx_http_tracktik_schemes[];


ngx_int_t ngx_http_tracktik_secret_decode(ngx_conf_t *cf,
    ngx_http_tracktik_secret_t *secret);


#endif /* _NGX_HTTP_TRACKTIK_SIGNATURE_H_INCLUDED_ */
