
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Is a webhook body a JSON object, and will PostgreSQL's jsonb take it?
 * Pure functions of the bytes (yajl's event parser, no tree is built).
 * The two questions are apart: a signed object that jsonb refuses is
 * still a delivery to keep (as bytes), a body that is no object is not.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <yajl/yajl_parse.h>

#include "ngx_http_tracktik_json.h"


#define NGX_HTTP_TRACKTIK_JSON_MAX_DEPTH     128
#define NGX_HTTP_TRACKTIK_JSON_MAX_NUMBER    256


typedef struct {
    ngx_uint_t                       depth;
    ngx_uint_t                       values;
    const char                      *error;
} ngx_http_tracktik_json_check_t;


/* JSON validation with yajl: a JSON object within our limits */

static int
ngx_http_tracktik_json_value(ngx_http_tracktik_json_check_t *jc)
{
    if (jc->depth == 0) {
        jc->error = "body is not a JSON object";
        return 0;
    }

    return 1;
}


static int
ngx_http_tracktik_json_null(void *ctx)
{
    return ngx_http_tracktik_json_value(ctx);
}


static int
ngx_http_tracktik_json_boolean(void *ctx, int value)
{
    return ngx_http_tracktik_json_value(ctx);
}


static int
ngx_http_tracktik_json_number(void *ctx, const char *s, size_t len)
{
    size_t                           i;
    ngx_int_t                        exp;
    ngx_http_tracktik_json_check_t  *jc = ctx;

    if (len > NGX_HTTP_TRACKTIK_JSON_MAX_NUMBER) {
        jc->error = "a number in the body is too long";
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] == 'e' || s[i] == 'E') {
            i++;

            if (i < len && (s[i] == '+' || s[i] == '-')) {
                i++;
            }

            exp = ngx_atoi((u_char *) s + i, len - i);

            if (exp == NGX_ERROR || exp > 1000) {
                jc->error = "a number in the body is out of range";
                return 0;
            }

            break;
        }
    }

    return ngx_http_tracktik_json_value(jc);
}


/* what a string holds is ngx_http_tracktik_json_jsonb_refuses()'s part */

static int
ngx_http_tracktik_json_string(void *ctx, const unsigned char *s, size_t len)
{
    return ngx_http_tracktik_json_value(ctx);
}


static int
ngx_http_tracktik_json_start(void *ctx)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    if (++jc->depth > NGX_HTTP_TRACKTIK_JSON_MAX_DEPTH) {
        jc->error = "the body is nested too deeply";
        return 0;
    }

    return 1;
}


static int
ngx_http_tracktik_json_start_array(void *ctx)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    if (jc->depth == 0) {
        jc->error = "body is not a JSON object";
        return 0;
    }

    return ngx_http_tracktik_json_start(ctx);
}


static int
ngx_http_tracktik_json_end(void *ctx)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    jc->depth--;

    return 1;
}


static yajl_callbacks  ngx_http_tracktik_json_callbacks = {
    ngx_http_tracktik_json_null,
    ngx_http_tracktik_json_boolean,
    NULL,
    NULL,
    ngx_http_tracktik_json_number,
    ngx_http_tracktik_json_string,
    ngx_http_tracktik_json_start,
    NULL,
    ngx_http_tracktik_json_end,
    ngx_http_tracktik_json_start_array,
    ngx_http_tracktik_json_end
};


/*
 * What yajl lets through and JSON (and so jsonb) does not: whitespace
 * other than space, tab, CR and LF between tokens (yajl also skips \f and
 * \v), and anything after the top-level object or array has closed (yajl
 * stops at an unfinished string there).  One pass, strings skipped.
 */

static ngx_int_t
ngx_http_tracktik_json_frame(ngx_str_t *body)
{
    u_char      *p, *last;
    ngx_uint_t   in_string, escaped, depth, closed;

    in_string = 0;
    escaped = 0;
    depth = 0;
    closed = 0;

    for (p = body->data, last = p + body->len; p < last; p++) {

        if (in_string) {
            if (escaped) {
                escaped = 0;

            } else if (*p == '\\') {
                escaped = 1;

            } else if (*p == '"') {
                in_string = 0;
            }

            continue;
        }

        switch (*p) {

        case ' ':
        case '\t':
        case '\r':
        case '\n':
            continue;

        case '\f':
        case '\v':
            return NGX_DECLINED;
        }

        if (closed) {
            return NGX_DECLINED;        /* a token after the value */
        }

        switch (*p) {

        case '"':
            in_string = 1;
            break;

        case '{':
        case '[':
            depth++;
            break;

        case '}':
        case ']':
            if (depth > 0 && --depth == 0) {
                closed = 1;
            }
            break;
        }
    }

    return in_string ? NGX_DECLINED : NGX_OK;
}


const char *
ngx_http_tracktik_json_check(ngx_str_t *body)
{
    yajl_status                      st;
    yajl_handle                      h;
    ngx_http_tracktik_json_check_t   jc;

    if (body->len == 0) {
        return "the body is empty";
    }

    if (ngx_http_tracktik_json_frame(body) != NGX_OK) {
        return "the body is not valid JSON";
    }

    ngx_memzero(&jc, sizeof(ngx_http_tracktik_json_check_t));

    h = yajl_alloc(&ngx_http_tracktik_json_callbacks, NULL, &jc);
    if (h == NULL) {
        return "out of memory";
    }

    /*
     * yajl refuses invalid UTF-8 in a string as a syntax error by
     * default; here it is let through, to be stored as a dead letter
     */

    yajl_config(h, yajl_dont_validate_strings, 1);

    st = yajl_parse(h, body->data, body->len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    if (st == yajl_status_ok) {
        return NULL;
    }

    if (jc.error) {
        return jc.error;
    }

    return "the body is not valid JSON";
}


/*
 * A body that yajl parsed is ASCII outside its strings, so checking the
 * whole body as text checks the bytes of every string; then the escapes,
 * which jsonb decodes: no \u0000, and UTF-16 surrogates only in pairs.
 */

const char *
ngx_http_tracktik_json_jsonb_refuses(ngx_str_t *body)
{
    u_char      *p, *last;
    ngx_int_t    u;
    ngx_uint_t   high;

    if (ngx_http_tracktik_text_valid(body->data, body->len) != NGX_OK) {
        return "invalid UTF-8 in a string";
    }

    p = body->data;
    last = p + body->len;

    while (p < last) {

        if (*p++ != '"') {
            continue;
        }

        /* a string: high is set after the first half of a pair */

        high = 0;

        while (p < last && *p != '"') {

            if (*p != '\\') {
                if (high) {
                    break;
                }

                p++;
                continue;
            }

            if (last - p < 2 || p[1] != 'u') {
                if (high) {
                    break;
                }

                p += 2;
                continue;
            }

            if (last - p < 6) {
                return "a truncated \\u escape";
            }

            u = ngx_hextoi(p + 2, 4);
            p += 6;

            if (u == 0) {
                return "a \\u0000 escape";
            }

            if (u >= 0xdc00 && u <= 0xdfff) {
                if (!high) {
                    return "a lone UTF-16 surrogate escape";
                }

                high = 0;
                continue;
            }

            if (high) {
                break;
            }

            high = (u >= 0xd800 && u <= 0xdbff);
        }

        if (high) {
            return "a lone UTF-16 surrogate escape";
        }

        p++;
    }

    return NULL;
}


/*
 * NGX_OK when PostgreSQL takes the bytes as text: strict UTF-8, that is
 * no stray or missing continuation bytes, no overlong forms, no UTF-16
 * surrogates, nothing past U+10FFFF, and no NUL.  Anything else would be
 * refused by the server as an error of the query, not of the client.
 */

ngx_int_t
ngx_http_tracktik_text_valid(u_char *p, size_t len)
{
    u_char      *last;
    uint32_t     u, min;
    ngx_uint_t   n;

    last = p + len;

    while (p < last) {
        u = *p++;

        if (u < 0x80) {
            if (u == 0) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (u >= 0xc2 && u <= 0xdf) {
            n = 1;
            u &= 0x1f;
            min = 0x80;

        } else if (u >= 0xe0 && u <= 0xef) {
            n = 2;
            u &= 0x0f;
            min = 0x800;

        } else if (u >= 0xf0 && u <= 0xf4) {
            n = 3;
            u &= 0x07;
            min = 0x10000;

        } else {
            return NGX_DECLINED;
        }

        if ((size_t) (last - p) < n) {
            return NGX_DECLINED;
        }

        while (n--) {
            if ((*p & 0xc0) != 0x80) {
                return NGX_DECLINED;
            }

            u = (u << 6) | (*p++ & 0x3f);
        }

        if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
