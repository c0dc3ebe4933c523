
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The tracktik_postgres conninfo: parsed by libpq, with host names
 * resolved at configuration time for the pool (ngx_http_tracktik_pg.c),
 * and the server-side statement_timeout added to its options.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <netdb.h>

#include "ngx_http_tracktik_conninfo.h"


static char *ngx_http_tracktik_resolve(ngx_conf_t *cf, char *hosts,
    char **addrs);
static char *ngx_http_tracktik_strdup(ngx_pool_t *pool, const char *s,
    size_t len);
static char *ngx_http_tracktik_options(ngx_conf_t *cf, const char *options,
    ngx_msec_t statement_timeout);


/*
 * Turns the conninfo into keyword/value arrays for PQconnectStartParams()
 * and resolves host names now, at configuration time: a host name left to
 * libpq would be resolved with a blocking lookup inside the event loop.
 *
 * Every connection asks for statement_timeout: when nginx gives up on a
 * query (query_timeout) it only stops waiting, and PostgreSQL would run
 * the statement to its end; now the server stops it too.  It is appended
 * to the conninfo's own options, so it wins over one set there.
 */

char *
ngx_http_tracktik_conninfo(ngx_conf_t *cf, ngx_http_tracktik_pg_conf_t *pg,
    ngx_str_t *conninfo, ngx_msec_t statement_timeout)
{
    char                *err, *host, *hostaddr, *addrs, *options;
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
    options = NULL;
    app = 0;
    enc = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }

        n++;

        if (ngx_strcmp(o->keyword, "options") == 0) {
            options = o->val;
            n--;
            continue;
        }

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

    pg->keywords = ngx_pcalloc(cf->pool, (n + 5) * sizeof(char *));
    pg->values = ngx_pcalloc(cf->pool, (n + 5) * sizeof(char *));

    if (pg->keywords == NULL || pg->values == NULL) {
        PQconninfoFree(opts);
        return NGX_CONF_ERROR;
    }

    i = 0;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL || ngx_strcmp(o->keyword, "options") == 0) {
            continue;
        }

        pg->keywords[i] = ngx_http_tracktik_strdup(cf->pool, o->keyword,
                                                   ngx_strlen(o->keyword));
        pg->values[i] = ngx_http_tracktik_strdup(cf->pool, o->val,
                                                 ngx_strlen(o->val));

        if (pg->keywords[i] == NULL || pg->values[i] == NULL) {
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

        pg->keywords[i] = "hostaddr";
        pg->values[i++] = addrs;
    }

    if (!app) {
        pg->keywords[i] = "application_name";
        pg->values[i++] = "ngx_http_tracktik";
    }

    if (!enc) {
        pg->keywords[i] = "client_encoding";
        pg->values[i++] = "UTF8";
    }

    pg->keywords[i] = "options";
    pg->values[i] = ngx_http_tracktik_options(cf, options, statement_timeout);

    PQconninfoFree(opts);

    if (pg->values[i] == NULL) {
        return NGX_CONF_ERROR;
    }

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


/* the conninfo's options, if any, then "-c statement_timeout=Nms" */

static char *
ngx_http_tracktik_options(ngx_conf_t *cf, const char *options,
    ngx_msec_t statement_timeout)
{
    u_char  *p, *last;
    size_t   len;

    len = (options ? ngx_strlen(options) + 1 : 0)
          + sizeof("-c statement_timeout=ms") + NGX_INT_T_LEN;

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NULL;
    }

    last = ngx_snprintf(p, len - 1, "%s%s-c statement_timeout=%Mms",
                        options ? options : "", options ? " " : "",
                        statement_timeout);
    *last = '\0';

    return (char *) p;
}
