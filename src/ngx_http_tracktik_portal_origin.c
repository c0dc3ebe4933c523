
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The portal's CSRF defence: a state-changing request (every POST route)
 * must carry exactly one Origin header naming the portal itself.
 * Browsers send Origin with every cross-origin POST, and with same-origin
 * POSTs too.
 *
 * "The portal itself" is, by default, the request's own Host: right when
 * browsers reach nginx directly.  Behind a front proxy that rewrites Host
 * (to an internal name, or to its upstream's address) the two never
 * match, so the operator names the public origin instead:
 *
 *     tracktik_portal_origin https://portal.example.com;
 *
 * Then the Origin must be one of the named ones, scheme and port
 * included, and Host is not consulted.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_portal_origin.h"


static ngx_int_t ngx_http_tracktik_origin_valid(ngx_str_t *origin);
static u_char *ngx_http_tracktik_origin_host(ngx_str_t *origin);
static ngx_table_elt_t *ngx_http_tracktik_origin_header(
    ngx_http_request_t *r);


/*
 * An origin as browsers serialize it: http:// or https://, a host name,
 * IPv4 or [IPv6] address, an optional port; no path, not even "/".
 * The directive may repeat and take several: a portal served under more
 * than one name.
 */

char *
ngx_http_tracktik_portal_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_tracktik_loc_conf_t *tlcf = conf;

    ngx_str_t   *value, *origin;
    ngx_uint_t   i;

    if (tlcf->portal_origins == NGX_CONF_UNSET_PTR) {
        tlcf->portal_origins = ngx_array_create(cf->pool, 2,
                                                sizeof(ngx_str_t));
        if (tlcf->portal_origins == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_tracktik_origin_valid(&value[i]) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\" in \"%V\": "
                               "scheme://host[:port] as a browser sends "
                               "it, with http or https and no path, e.g. "
                               "https://portal.example.com",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        origin = ngx_array_push(tlcf->portal_origins);
        if (origin == NULL) {
            return NGX_CONF_ERROR;
        }

        *origin = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_tracktik_origin_valid(ngx_str_t *origin)
{
    u_char      *p, *last, *host;
    ngx_int_t    port;
    ngx_uint_t   bracket;

    p = ngx_http_tracktik_origin_host(origin);

    if (p == NULL) {
        return NGX_ERROR;
    }

    last = origin->data + origin->len;
    host = p;
    bracket = (*p == '[');

    if (bracket) {
        for (p++; p < last && *p != ']'; p++) {
            if (!(isxdigit(*p) || *p == ':' || *p == '.')) {
                return NGX_ERROR;
            }
        }

        if (p == last || p - host < 3) {
            return NGX_ERROR;
        }

        p++;

    } else {
        for ( /* void */ ; p < last && *p != ':'; p++) {
            if (!(isalnum(*p) || *p == '-' || *p == '.')) {
                return NGX_ERROR;
            }
        }

        if (p == host) {
            return NGX_ERROR;
        }
    }

    if (p == last) {
        return NGX_OK;
    }

    if (*p != ':' || last - p < 2 || last - p > 6) {
        return NGX_ERROR;
    }

    port = ngx_atoi(p + 1, last - p - 1);

    if (port < 1 || port > 65535) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_tracktik_portal_origin_check(ngx_http_request_t *r)
{
    u_char                        *p, *last;
    ngx_str_t                     *allowed;
    ngx_uint_t                     i;
    ngx_table_elt_t               *origin;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    origin = ngx_http_tracktik_origin_header(r);

    if (origin == NULL) {
        return NGX_DECLINED;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    if (tlcf->portal_origins) {
        allowed = tlcf->portal_origins->elts;

        for (i = 0; i < tlcf->portal_origins->nelts; i++) {
            if (origin->value.len == allowed[i].len
                && ngx_strncasecmp(origin->value.data, allowed[i].data,
                                   allowed[i].len) == 0)
            {
                return NGX_OK;
            }
        }

        return NGX_DECLINED;
    }

    /* no origin named: the one of this very Host, either scheme */

    if (r->headers_in.host == NULL) {
        return NGX_DECLINED;
    }

    p = ngx_http_tracktik_origin_host(&origin->value);

    if (p == NULL) {
        return NGX_DECLINED;
    }

    last = origin->value.data + origin->value.len;

    if ((size_t) (last - p) != r->headers_in.host->value.len
        || ngx_strncasecmp(p, r->headers_in.host->value.data, last - p) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the one Origin header; NULL when there is none, or more than one */

static ngx_table_elt_t *
ngx_http_tracktik_origin_header(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *origin;

    origin = NULL;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == 6
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Origin", 6) == 0)
        {
            if (origin) {
                return NULL;
            }

            origin = &h[i];
        }
    }

    return origin;
}


/* where the host begins after "http://" or "https://"; NULL: neither, or
 * nothing after it */

static u_char *
ngx_http_tracktik_origin_host(ngx_str_t *origin)
{
    if (origin->len > 7
        && ngx_strncasecmp(origin->data, (u_char *) "http://", 7) == 0)
    {
        return origin->data + 7;
    }

    if (origin->len > 8
        && ngx_strncasecmp(origin->data, (u_char *) "https://", 8) == 0)
    {
        return origin->data + 8;
    }

    return NULL;
}
