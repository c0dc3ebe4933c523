/*
 * Stand-ins for nginx's HTTP functions used by module code, and the
 * requests the module-side fuzz harnesses build (fuzz/ngx_stubs.h):
 * Cookie and ?args parsing as nginx 1.22 does them, a request body never
 * read, phases never run (aborts: a harness must not get there), and the
 * reference UTF-8 decoder the harnesses check the module against.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_stubs.h"


/*
 * "name=value" pairs separated by ';' (or ',') in the Cookie headers: the
 * first whose name matches in any case; the value runs to the next ';'.
 * The header's index, or NGX_DECLINED.
 */

ngx_int_t
ngx_http_parse_multi_header_lines(ngx_array_t *headers, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char            *p, *end, *v;
    ngx_uint_t         i;
    ngx_table_elt_t  **h;

    h = headers->elts;

    for (i = 0; i < headers->nelts; i++) {

        p = h[i]->value.data;
        end = p + h[i]->value.len;

        while (p < end) {

            if ((size_t) (end - p) >= name->len
                && ngx_strncasecmp(p, name->data, name->len) == 0)
            {
                v = p + name->len;

                while (v < end && *v == ' ') {
                    v++;
                }

                if (v < end && *v == '=') {
                    v++;

                    while (v < end && *v == ' ') {
                        v++;
                    }

                    value->data = v;

                    while (v < end && *v != ';') {
                        v++;
                    }

                    value->len = v - value->data;

                    return i;
                }
            }

            while (p < end && *p != ';' && *p != ',') {
                p++;
            }

            if (p < end) {
                p++;
            }

            while (p < end && *p == ' ') {
                p++;
            }
        }
    }

    return NGX_DECLINED;
}


/* ?name=value: the first pair whose name matches in any case */

ngx_int_t
ngx_http_arg(ngx_http_request_t *r, u_char *name, size_t len,
    ngx_str_t *value)
{
    u_char  *p, *last, *v;

    if (r->args.len == 0 || len == 0) {
        return NGX_DECLINED;
    }

    p = r->args.data;
    last = p + r->args.len;

    for ( /* void */ ; p < last; p++) {

        p = ngx_strlcasestrn(p, last - 1, name, len - 1);

        if (p == NULL) {
            return NGX_DECLINED;
        }

        if ((p == r->args.data || p[-1] == '&') && p + len < last
            && p[len] == '=')
        {
            v = p + len + 1;
            value->data = v;

            while (v < last && *v != '&') {
                v++;
            }

            value->len = v - value->data;

            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* a harness's request has no body to read */

ngx_int_t
ngx_http_discard_request_body(ngx_http_request_t *r)
{
    (void) r;

    return NGX_OK;
}


void
ngx_http_core_run_phases(ngx_http_request_t *r)
{
    fuzz_ngx_unreachable("ngx_http_core_run_phases()");
}


void
ngx_http_run_posted_requests(ngx_connection_t *c)
{
    fuzz_ngx_unreachable("ngx_http_run_posted_requests()");
}


/*
 * A reference for the harnesses: the length of the well-formed UTF-8
 * sequence at p by Unicode's table 3-7 (the allowed byte ranges), 0 when
 * the bytes there are not one.
 */

size_t
fuzz_ngx_utf8(const u_char *p, const u_char *last)
{
    size_t   n, i;
    u_char   lo, hi;

    lo = 0x80;
    hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] == 0xe0) {
        n = 3;
        lo = 0xa0;
    } else if (p[0] >= 0xe1 && p[0] <= 0xef && p[0] != 0xed) {
        n = 3;
    } else if (p[0] == 0xed) {
        n = 3;
        hi = 0x9f;
    } else if (p[0] == 0xf0) {
        n = 4;
        lo = 0x90;
    } else if (p[0] >= 0xf1 && p[0] <= 0xf3) {
        n = 4;
    } else if (p[0] == 0xf4) {
        n = 4;
        hi = 0x8f;
    } else {
        return 0;
    }

    if ((size_t) (last - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


/* the harnesses' requests */

u_char *
fuzz_ngx_copy(ngx_pool_t *pool, const u_char *data, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        abort();
    }

    if (len) {
        ngx_memcpy(p, data, len);
    }

    p[len] = '\0';

    return p;
}


void
fuzz_ngx_fields(ngx_pool_t *pool, const u_char *data, size_t size,
    ngx_str_t *f, ngx_uint_t n)
{
    u_char      *p, *last, *end;
    ngx_uint_t   i;

    p = fuzz_ngx_copy(pool, data, size);
    last = p + size;

    for (i = 0; i < n; i++) {

        if (p > last) {
            ngx_str_null(&f[i]);
            continue;
        }

        end = (i < n - 1) ? memchr(p, '\0', last - p) : NULL;
        end = end ? end : last;

        *end = '\0';
        f[i].data = p;
        f[i].len = end - p;
        p = end + 1;
    }
}


ngx_http_request_t *
fuzz_ngx_request(void *loc_conf, void *main_conf)
{
    ngx_log_t           *log;
    ngx_pool_t          *pool;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    pool = ngx_create_pool(4096, NULL);
    if (pool == NULL) {
        abort();
    }

    log = ngx_pcalloc(pool, sizeof(ngx_log_t));
    if (log == NULL) {
        abort();
    }

    log->log_level = NGX_LOG_DEBUG | NGX_LOG_DEBUG_ALL;
    pool->log = log;

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));
    r->ctx = ngx_pcalloc(pool, FUZZ_NGX_MODULES * sizeof(void *));
    r->loc_conf = ngx_pcalloc(pool, FUZZ_NGX_MODULES * sizeof(void *));
    r->main_conf = ngx_pcalloc(pool, FUZZ_NGX_MODULES * sizeof(void *));

    if (r == NULL || c == NULL || r->ctx == NULL || r->loc_conf == NULL
        || r->main_conf == NULL
        || ngx_list_init(&r->headers_in.headers, pool, 4,
                         sizeof(ngx_table_elt_t)) != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 4,
                         sizeof(ngx_table_elt_t)) != NGX_OK
        || ngx_array_init(&r->headers_in.cookies, pool, 2,
                          sizeof(ngx_table_elt_t *)) != NGX_OK)
    {
        abort();
    }

    c->log = log;
    c->pool = pool;
    c->fd = -1;

    r->connection = c;
    r->pool = pool;
    r->main = r;
    r->count = 1;
    r->loc_conf[FUZZ_NGX_TRACKTIK_INDEX] = loc_conf;
    r->main_conf[FUZZ_NGX_TRACKTIK_INDEX] = main_conf;

    return r;
}


ngx_table_elt_t *
fuzz_ngx_header(ngx_http_request_t *r, const char *key, u_char *value,
    size_t len)
{
    ngx_table_elt_t   *h, **cookie;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        abort();
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;
    h->lowcase_key = (u_char *) key;

    if (ngx_strcasecmp(h->key.data, (u_char *) "Cookie") == 0) {
        cookie = ngx_array_push(&r->headers_in.cookies);
        if (cookie == NULL) {
            abort();
        }

        *cookie = h;

    } else if (ngx_strcasecmp(h->key.data, (u_char *) "Host") == 0) {
        r->headers_in.host = h;

    } else if (ngx_strcasecmp(h->key.data, (u_char *) "Accept") == 0) {
        r->headers_in.accept = h;
    }

    return h;
}
