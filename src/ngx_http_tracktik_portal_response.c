
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The portal's responses: a portal function's answer relayed as JSON,
 * JSON errors, and the headers every answer carries (no-store, nosniff).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_portal_response.h"
#include "ngx_http_tracktik_session.h"


/* the done handler of a plain JSON route: the function's answer as is */

void
ngx_http_tracktik_portal_answered(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_tracktik_loc_conf_t  *tlcf;

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_tracktik_portal_error(r, rc, "the portal database "
                                                  "is unavailable"));
        return;
    }

    if (ctx->status == NGX_HTTP_UNAUTHORIZED && ctx->token.len) {
        /* expired or revoked: drop the cookie too */
        tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

        if (ngx_http_tracktik_session_set_cookie(r, tlcf, NULL) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_finalize_request(r,
        ngx_http_tracktik_portal_send(r, ctx->status, "application/json",
                                      ctx->body.data, ctx->body.len));
}


/*
 * The photo itself is served by nginx from the internal attachment store
 * location; the storage key never reaches the client.
 */

void
ngx_http_tracktik_portal_attachment(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    u_char                        *p;
    ngx_str_t                      uri;
    ngx_connection_t              *c;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    if (rc != NGX_OK || ctx->status != NGX_HTTP_OK || ctx->next.len == 0) {
        ngx_http_tracktik_portal_answered(r, ctx, rc);
        return;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);
    c = r->connection;

    uri.len = tlcf->attachment_store.len + ctx->next.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(uri.data, tlcf->attachment_store.data,
                   tlcf->attachment_store.len);
    ngx_memcpy(p, ctx->next.data, ctx->next.len);

    /* the store's location answers with these: a browser never sniffs a
     * photo into a page of the portal's origin */

    if (ngx_http_tracktik_portal_header(r, "Cache-Control", "private")
        != NGX_OK
        || ngx_http_tracktik_portal_header(r, "X-Content-Type-Options",
                                           "nosniff")
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    (void) ngx_http_internal_redirect(r, &uri, NULL);
    ngx_http_finalize_request(r, NGX_DONE);
    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_tracktik_portal_send(ngx_http_request_t *r, ngx_uint_t status,
    char *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_tracktik_portal_header(r, "Cache-Control", "no-store")
        != NGX_OK
        || ngx_http_tracktik_portal_header(r, "X-Content-Type-Options",
                                           "nosniff")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* {"error":"..."}; error is a literal of ours, it needs no escaping */

ngx_int_t
ngx_http_tracktik_portal_error(ngx_http_request_t *r, ngx_uint_t status,
    char *error)
{
    u_char  *p;
    size_t   len;

    len = sizeof("{\"error\":\"\"}") - 1 + ngx_strlen(error);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(p, "{\"error\":\"%s\"}", error);

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        && ngx_http_tracktik_portal_header(r, "Retry-After", "5") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_tracktik_portal_send(r, status, "application/json", p,
                                         len);
}


ngx_int_t
ngx_http_tracktik_portal_header(ngx_http_request_t *r, char *key,
    char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}
