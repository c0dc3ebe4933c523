
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Is a webhook body a JSON object that PostgreSQL's jsonb will take?
 * A pure function of the bytes (yajl's event parser, no tree is built).
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


/* JSON validation with yajl: a JSON object PostgreSQL's jsonb will take */

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


static int
ngx_http_tracktik_json_string(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    /* jsonb has no room for \u0000 */

    if (ngx_strlchr((u_char *) s, (u_char *) s + len, '\0') != NULL) {
        jc->error = "the body contains a \\u0000 escape";
        return 0;
    }

    return ngx_http_tracktik_json_value(jc);
}


static int
ngx_http_tracktik_json_key(void *ctx, const unsigned char *s, size_t len)
{
    ngx_http_tracktik_json_check_t  *jc = ctx;

    if (ngx_strlchr((u_char *) s, (u_char *) s + len, '\0') != NULL) {
        jc->error = "the body contains a \\u0000 escape";
        return 0;
    }

    return 1;
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
    ngx_http_tracktik_json_key,
    ngx_http_tracktik_json_end,
    ngx_http_tracktik_json_start_array,
    ngx_http_tracktik_json_end
};


const char *
ngx_http_tracktik_json_check(ngx_str_t *body)
{
    yajl_status                      st;
    yajl_handle                      h;
    ngx_http_tracktik_json_check_t   jc;

    if (body->len == 0) {
        return "the body is empty";
    }

    ngx_memzero(&jc, sizeof(ngx_http_tracktik_json_check_t));

    h = yajl_alloc(&ngx_http_tracktik_json_callbacks, NULL, &jc);
    if (h == NULL) {
        return "out of memory";
    }

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
