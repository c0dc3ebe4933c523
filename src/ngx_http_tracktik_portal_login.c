
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * Logging in and out.  A login is three steps: portal_login_hash() (the
 * throttle, which records the attempt, and the stored hash or a dummy
 * one), the bcrypt check in the password thread
 * (ngx_http_tracktik_password.c), and portal_login_open() with the hash
 * the password matched, which opens the session.  The password itself
 * never leaves nginx and is wiped once the check has its copy.  The
 * throttle's rules are in sql/functions/logins.sql: it answers 429 with
 * the seconds to wait, sent as Retry-After.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_tree.h>
#include <openssl/crypto.h>

#include "ngx_http_tracktik_json.h"
#include "ngx_http_tracktik_metrics.h"
#include "ngx_http_tracktik_portal_login.h"
#include "ngx_http_tracktik_portal_response.h"
#include "ngx_http_tracktik_session.h"


#define NGX_HTTP_TRACKTIK_LOGIN_MAX    4096


static void ngx_http_tracktik_portal_login_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_tracktik_portal_login_addr(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx);
static void ngx_http_tracktik_portal_login_checked(void *data,
    ngx_uint_t matched);
static void ngx_http_tracktik_portal_login_waited(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_tracktik_portal_logged_in(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);


ngx_int_t
ngx_http_tracktik_portal_login(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id)
{
    ngx_int_t  rc;

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_tracktik_portal_login_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* POST /login {"email": ..., "password": ...} */

static void
ngx_http_tracktik_portal_login_body(ngx_http_request_t *r)
{
    char                            *e, *pw;
    u_char                          *p;
    size_t                           len;
    ngx_int_t                        rc;
    yajl_val                         root, email, password;
    ngx_chain_t                     *cl;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    static const char  *email_path[] = { "email", NULL };
    static const char  *password_path[] = { "password", NULL };

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    len = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            if (cl->buf->in_file) {
                len = NGX_HTTP_TRACKTIK_LOGIN_MAX + 1;
                break;
            }

            len += cl->buf->last - cl->buf->pos;
        }
    }

    if (len == 0 || len > NGX_HTTP_TRACKTIK_LOGIN_MAX) {
        ngx_http_finalize_request(r,
            ngx_http_tracktik_portal_error(r, NGX_HTTP_BAD_REQUEST,
                                           "expected a JSON object with "
                                           "email and password"));
        return;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    len = 0;

    /* a chunked body ends with an empty buffer, its pos NULL: skipped */

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->last == cl->buf->pos) {
            continue;
        }

        ngx_memcpy(p + len, cl->buf->pos, cl->buf->last - cl->buf->pos);
        len += cl->buf->last - cl->buf->pos;
    }

    p[len] = '\0';

    root = yajl_tree_parse((const char *) p, NULL, 0);
    email = root ? yajl_tree_get(root, email_path, yajl_t_string) : NULL;
    password = root ? yajl_tree_get(root, password_path, yajl_t_string)
                    : NULL;

    e = email ? YAJL_GET_STRING(email) : NULL;
    pw = password ? YAJL_GET_STRING(password) : NULL;

    if (e == NULL || pw == NULL || *e == '\0' || ngx_strlen(e) > 320
        || ngx_strlen(pw) > 1024)
    {
        if (root) {
            yajl_tree_free(root);
        }

        ngx_http_finalize_request(r,
            ngx_http_tracktik_portal_error(r, NGX_HTTP_BAD_REQUEST,
                                           "expected a JSON object with "
                                           "email and password"));
        return;
    }

    ctx->email.len = ngx_strlen(e);
    ctx->password.len = ngx_strlen(pw);

    ctx->email.data = ngx_pnalloc(r->pool, ctx->email.len + 1);
    ctx->password.data = ngx_pnalloc(r->pool, ctx->password.len + 1);

    if (ctx->email.data && ctx->password.data) {
        ngx_cpystrn(ctx->email.data, (u_char *) e, ctx->email.len + 1);
        ngx_cpystrn(ctx->password.data, (u_char *) pw,
                    ctx->password.len + 1);
    }

    OPENSSL_cleanse(pw, ctx->password.len);
    yajl_tree_free(root);

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->last != cl->buf->pos) {
            OPENSSL_cleanse(cl->buf->pos, cl->buf->last - cl->buf->pos);
        }
    }

    OPENSSL_cleanse(p, len);

    if (ctx->email.data == NULL || ctx->password.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* yajl lets overlong forms and surrogates through; PostgreSQL not */

    if (ngx_http_tracktik_text_valid(ctx->email.data, ctx->email.len)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik portal: parameter \"email\" is not valid "
                      "UTF-8");

        ngx_http_finalize_request(r,
            ngx_http_tracktik_portal_error(r, NGX_HTTP_BAD_REQUEST,
                                           "parameter email is not valid "
                                           "UTF-8"));
        return;
    }

    /* first the throttle and the stored hash, then the check, then the
     * session: the password itself never leaves nginx */

    ctx->nvalues = 0;
    ngx_str_null(&ctx->token);

    if (ngx_http_tracktik_portal_value(r, ctx, "p_email", ctx->email.data,
                                       ctx->email.len)
        != NGX_OK
        || ngx_http_tracktik_portal_login_addr(r, ctx) != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_tracktik_portal_call(r, ctx, ctx->function, ctx->done);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * p_ip: the client's address, formatted from the connection's sockaddr at
 * each call.  Behind a trusted proxy nginx's realip module rewrites that
 * sockaddr for the request (X-Forwarded-For, X-Real-IP, PROXY protocol),
 * so the throttle counts the client, not the proxy; PostgreSQL groups
 * IPv6 addresses by /64.
 */

static ngx_int_t
ngx_http_tracktik_portal_login_addr(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx)
{
    u_char            *p;
    size_t             len;
    ngx_connection_t  *c;

    c = r->connection;

    p = ngx_pnalloc(r->pool, NGX_SOCKADDR_STRLEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = ngx_sock_ntop(c->sockaddr, c->socklen, p, NGX_SOCKADDR_STRLEN, 0);

    return ngx_http_tracktik_portal_value(r, ctx, "p_ip", p, len);
}


/*
 * The stored hash (a dummy one for unknown users): check the password.
 * The attempt is already recorded, so a login refused here with 503
 * counts for the throttle like a wrong password.
 */

void
ngx_http_tracktik_portal_login_hash(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_tracktik_main_conf_t  *tmcf;

    if (rc != NGX_OK || ctx->status != NGX_HTTP_OK || ctx->next.len == 0) {
        ngx_http_tracktik_portal_logged_in(r, ctx, rc);
        return;
    }

    ctx->hash = ctx->next;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tracktik_module);

    ctx->check = ngx_http_tracktik_password_check(&ctx->password, &ctx->hash,
                                        tmcf->password_cpu,
                                        ngx_http_tracktik_portal_login_checked,
                                        r, r->connection->log);

    OPENSSL_cleanse(ctx->password.data, ctx->password.len);

    if (ctx->check == NULL) {
        ngx_http_finalize_request(r,
            ngx_http_tracktik_portal_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "too many logins at once, "
                                           "try again shortly"));
        return;
    }

    /* a check waits at most as long as a query may take */
    ctx->done = ngx_http_tracktik_portal_login_waited;
    ngx_add_timer(&ctx->deadline, tmcf->portal_pg.query_timeout);
}


static void
ngx_http_tracktik_portal_login_checked(void *data, ngx_uint_t matched)
{
    ngx_http_request_t *r = data;

    u_char                          *p;
    ngx_int_t                        rc;
    ngx_str_t                        ttl;
    ngx_connection_t                *c;
    ngx_http_tracktik_loc_conf_t    *tlcf;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    c = r->connection;
    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    ctx->check = NULL;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    /* p_hash: the hash the password matched, or "": a failed login */

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    ttl.data = p;
    ttl.len = ngx_sprintf(p, "%T", tlcf->session_timeout) - p;

    ctx->nvalues = 0;

    rc = ngx_http_tracktik_portal_value(r, ctx, "p_email", ctx->email.data,
                                        ctx->email.len);

    if (rc == NGX_OK) {
        rc = ngx_http_tracktik_portal_value(r, ctx, "p_hash",
                                            matched ? ctx->hash.data
                                                    : (u_char *) "",
                                            matched ? ctx->hash.len : 0);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_tracktik_portal_login_addr(r, ctx);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_tracktik_portal_value(r, ctx, "p_ttl", ttl.data,
                                            ttl.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_tracktik_portal_call(r, ctx, "portal_login_open",
                                           ngx_http_tracktik_portal_logged_in);

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/* the deadline passed before the password thread got to the check */

static void
ngx_http_tracktik_portal_login_waited(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    ngx_log_error(NGX_LOG_WARN, r->connection->log, NGX_ETIMEDOUT,
                  "tracktik portal: the password check waited too long");

    ngx_http_tracktik_password_forget(ctx->check);
    ctx->check = NULL;

    ngx_http_finalize_request(r,
        ngx_http_tracktik_portal_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "too many logins at once, "
                                       "try again shortly"));
}


static void
ngx_http_tracktik_portal_logged_in(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    char                          *wait;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    ngx_http_tracktik_metrics_login(rc, ctx->status);

    if (rc == NGX_OK && ctx->status == NGX_HTTP_OK) {

        if (ctx->next.len != 64
            || ngx_http_tracktik_session_set_cookie(r, tlcf, &ctx->next)
               != NGX_OK)
        {
            ngx_http_finalize_request(r,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik portal: \"%V\" logged in", &ctx->vars.user);

    } else if (rc == NGX_OK && ctx->status == NGX_HTTP_UNAUTHORIZED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik portal: failed login");

    } else if (rc == NGX_OK && ctx->status == NGX_HTTP_TOO_MANY_REQUESTS) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "tracktik portal: login throttled");

        /* next: the seconds the throttle asks to wait */
        wait = (ctx->next.len && ctx->next.len <= 6
                && ngx_atoi(ctx->next.data, ctx->next.len) > 0)
               ? (char *) ctx->next.data : "900";

        if (ngx_http_tracktik_portal_header(r, "Retry-After", wait)
            != NGX_OK)
        {
            ngx_http_finalize_request(r,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_tracktik_portal_answered(r, ctx, rc);
}


ngx_int_t
ngx_http_tracktik_portal_logout(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id)
{
    ngx_int_t                      rc;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    rc = ngx_http_tracktik_session_request(r, &ctx->token);

    if (rc != NGX_OK && rc != NGX_DECLINED) {
        return rc;
    }

    /* logged out in the browser, whatever the server still knows */

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    if (ngx_http_tracktik_session_set_cookie(r, tlcf, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_tracktik_portal_send(r, NGX_HTTP_OK,
                                     "application/json",
                                     (u_char *) "{\"status\":\"logged out\"}",
                                     sizeof("{\"status\":\"logged out\"}")
                                     - 1);
    }

    ctx->nvalues = 0;

    return ngx_http_tracktik_portal_begin(r, ctx, route->function,
                                          ctx->done);
}
