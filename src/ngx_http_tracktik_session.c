
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Portal sessions: the tt_session cookie is a random token (the session
 * row in PostgreSQL is keyed by its SHA-256) followed by an HMAC-SHA256 of
 * the token under the session secret, so a forged or tampered cookie is
 * refused without a database round trip.  The access-phase handler guards
 * locations with "tracktik_portal_auth on".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_hmac.h"
#include "ngx_http_tracktik_portal_call.h"
#include "ngx_http_tracktik_session.h"


#define NGX_HTTP_TRACKTIK_TOKEN_LEN  64
#define NGX_HTTP_TRACKTIK_SIG_LEN    43       /* base64url of 32 bytes */


static ngx_int_t ngx_http_tracktik_session_sign(ngx_str_t *key,
    ngx_str_t *token, u_char *sig);
static void ngx_http_tracktik_session_checked(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
static ngx_int_t ngx_http_tracktik_session_deny(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf);


static ngx_str_t  ngx_http_tracktik_cookie_name = ngx_string("tt_session");


/* NGX_OK and the token when the cookie carries a valid signature */

ngx_int_t
ngx_http_tracktik_session_token(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *token)
{
    u_char                      *p;
    ngx_str_t                    value, t;
    ngx_uint_t                   i;
    ngx_http_tracktik_secret_t  *secret;
    u_char                       sig[NGX_HTTP_TRACKTIK_SIG_LEN];

    if (tlcf->session_secrets == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies,
                                          &ngx_http_tracktik_cookie_name,
                                          &value)
        == NGX_DECLINED)
    {
        return NGX_DECLINED;
    }

    if (value.len != NGX_HTTP_TRACKTIK_TOKEN_LEN + 1 + NGX_HTTP_TRACKTIK_SIG_LEN
        || value.data[NGX_HTTP_TRACKTIK_TOKEN_LEN] != '.')
    {
        goto invalid;
    }

    for (p = value.data; p < value.data + NGX_HTTP_TRACKTIK_TOKEN_LEN; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            goto invalid;
        }
    }

    t.data = value.data;
    t.len = NGX_HTTP_TRACKTIK_TOKEN_LEN;

    secret = tlcf->session_secrets->elts;

    for (i = 0; i < tlcf->session_secrets->nelts; i++) {

        if (ngx_http_tracktik_session_sign(&secret[i].key, &t, sig) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (CRYPTO_memcmp(sig, value.data + NGX_HTTP_TRACKTIK_TOKEN_LEN + 1,
                          NGX_HTTP_TRACKTIK_SIG_LEN)
            == 0)
        {
            *token = t;
            return NGX_OK;
        }
    }

invalid:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tracktik portal: invalid session cookie");

    return NGX_DECLINED;
}


/*
 * The start of a portal request that acts for a session: its body is
 * discarded (a route's arguments are in its URL) and the cookie's token
 * is read.  NGX_OK and the token, NGX_DECLINED when there is no valid
 * session, or a status to finalize with.
 */

ngx_int_t
ngx_http_tracktik_session_request(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_int_t                      rc;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    rc = ngx_http_tracktik_session_token(r, tlcf, token);

    return (rc == NGX_ERROR) ? NGX_HTTP_INTERNAL_SERVER_ERROR : rc;
}


/* Set-Cookie for a new session, or one that clears it (token NULL) */

ngx_int_t
ngx_http_tracktik_session_set_cookie(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf, ngx_str_t *token)
{
    u_char                      *p;
    size_t                       len;
    ngx_table_elt_t             *h;
    ngx_http_tracktik_secret_t  *secret;

    len = sizeof("tt_session=.; Path=/; HttpOnly; SameSite=Strict; Secure; "
                 "Max-Age=") - 1
          + NGX_HTTP_TRACKTIK_TOKEN_LEN + NGX_HTTP_TRACKTIK_SIG_LEN
          + NGX_TIME_T_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Set-Cookie");
    h->value.data = p;

    p = ngx_cpymem(p, "tt_session=", sizeof("tt_session=") - 1);

    if (token) {
        secret = tlcf->session_secrets->elts;

        p = ngx_cpymem(p, token->data, token->len);
        *p++ = '.';

        if (ngx_http_tracktik_session_sign(&secret[0].key, token, p)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        p += NGX_HTTP_TRACKTIK_SIG_LEN;
    }

    p = ngx_cpymem(p, "; Path=/; HttpOnly; SameSite=Strict",
                   sizeof("; Path=/; HttpOnly; SameSite=Strict") - 1);

    if (tlcf->cookie_secure) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    p = ngx_sprintf(p, "; Max-Age=%T", token ? tlcf->session_timeout : 0);

    h->value.len = p - h->value.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tracktik_session_sign(ngx_str_t *key, ngx_str_t *token, u_char *sig)
{
    size_t     len;
    ngx_str_t  mac, encoded;
    u_char     md[EVP_MAX_MD_SIZE];
    u_char     buf[NGX_HTTP_TRACKTIK_SIG_LEN + 4];

    if (ngx_http_tracktik_hmac("SHA256", key, token, 1, md, &len) != NGX_OK
        || len != 32)
    {
        return NGX_ERROR;
    }

    mac.data = md;
    mac.len = len;
    encoded.data = buf;

    ngx_encode_base64url(&encoded, &mac);

    if (encoded.len != NGX_HTTP_TRACKTIK_SIG_LEN) {
        return NGX_ERROR;
    }

    ngx_memcpy(sig, buf, NGX_HTTP_TRACKTIK_SIG_LEN);

    return NGX_OK;
}


/*
 * Access phase: a valid, unexpired, unrevoked session passes; otherwise
 * API-like requests get 401 and pages a redirect to the login page.  The
 * session is checked in PostgreSQL, asynchronously: the phase handler
 * returns NGX_AGAIN and the phases run again once the answer is in.
 */

ngx_int_t
ngx_http_tracktik_session_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        token;
    ngx_http_tracktik_loc_conf_t    *tlcf;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    if (!tlcf->portal_auth || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx && ctx->auth_done) {
        return ctx->auth_rc;
    }

    if (ctx && ctx->pending) {
        return NGX_AGAIN;
    }

    rc = ngx_http_tracktik_session_token(r, tlcf, &token);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_tracktik_session_deny(r, tlcf);
    }

    ctx = ngx_http_tracktik_portal_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->token = token;
    ctx->nvalues = 0;

    rc = ngx_http_tracktik_portal_call(r, ctx, "portal_api_session",
                                       ngx_http_tracktik_session_checked);

    if (rc != NGX_OK) {
        return rc;
    }

    return NGX_AGAIN;
}


static void
ngx_http_tracktik_session_checked(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    ngx_connection_t              *c;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);
    c = r->connection;

    ctx->auth_done = 1;

    if (rc != NGX_OK) {
        ctx->auth_rc = rc;

    } else if (ctx->status == NGX_HTTP_OK) {
        ctx->auth_rc = NGX_OK;

    } else {
        ctx->auth_rc = ngx_http_tracktik_session_deny(r, tlcf);
    }

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_tracktik_session_deny(ngx_http_request_t *r,
    ngx_http_tracktik_loc_conf_t *tlcf)
{
    u_char           *p;
    ngx_table_elt_t  *h, *accept;

    accept = r->headers_in.accept;

    if (accept
        && ngx_strlcasestrn(accept->value.data,
                            accept->value.data + accept->value.len,
                            (u_char *) "json", 4 - 1)
           != NULL)
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, tlcf->login_page.len + sizeof("?next=") - 1
                             + 3 * (r->uri.len + 1 + r->args.len));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Location");
    h->value.data = p;

    p = ngx_cpymem(p, tlcf->login_page.data, tlcf->login_page.len);
    p = ngx_cpymem(p, "?next=", sizeof("?next=") - 1);
    p = (u_char *) ngx_escape_uri(p, r->uri.data, r->uri.len,
                                  NGX_ESCAPE_ARGS);

    /* the page's own query (filters) survives the detour */

    if (r->args.len) {
        p = ngx_cpymem(p, "%3F", 3);
        p = (u_char *) ngx_escape_uri(p, r->args.data, r->args.len,
                                      NGX_ESCAPE_ARGS);
    }

    h->value.len = p - h->value.data;

    r->headers_out.location = h;

    return NGX_HTTP_MOVED_TEMPORARILY;
}
