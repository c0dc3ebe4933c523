
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The portal's JSON API.  Each route is one call of a portal_api_*
 * function (sql/020_portal.sql) with the session token and the request's
 * parameters; the function scopes everything to the session's user, so
 * this file only routes, validates the shape of parameters, and relays
 * the answer.  The CSV export is streamed a page at a time, fetching the
 * next page only once the previous one has been written to the client;
 * the event stream polls for new ledger rows.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <yajl/yajl_tree.h>
#include <openssl/crypto.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_password.h"
#include "ngx_http_tracktik_portal.h"
#include "ngx_http_tracktik_session.h"


#define NGX_HTTP_TRACKTIK_ARG_MAX      512
#define NGX_HTTP_TRACKTIK_LOGIN_MAX    4096
#define NGX_HTTP_TRACKTIK_EVENTS_PING  15
#define NGX_HTTP_TRACKTIK_EVENTS_LIFE  (10 * 60 * 1000)


#define NGX_HTTP_TRACKTIK_ANSWER                                              \
    "SELECT status, body, user_email, client_id, next FROM "


static ngx_int_t ngx_http_tracktik_portal_get(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_str_t *path);
static void ngx_http_tracktik_portal_login(ngx_http_request_t *r);
static ngx_int_t ngx_http_tracktik_portal_logout(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx);
static ngx_int_t ngx_http_tracktik_portal_same_origin(ngx_http_request_t *r);
static ngx_int_t ngx_http_tracktik_portal_args(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, char **names, char **error);
static ngx_int_t ngx_http_tracktik_portal_value(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, u_char *data, size_t len);
static ngx_int_t ngx_http_tracktik_portal_id(ngx_str_t *s);
static void ngx_http_tracktik_portal_answered(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_tracktik_portal_login_hash(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_tracktik_portal_login_checked(void *data,
    ngx_uint_t matched);
static void ngx_http_tracktik_portal_logged_in(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_tracktik_portal_attachment(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_tracktik_portal_csv_page(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_tracktik_portal_csv_write(ngx_http_request_t *r);
static void ngx_http_tracktik_portal_events(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_tracktik_portal_tick(ngx_event_t *ev);
static ngx_int_t ngx_http_tracktik_portal_stream_start(
    ngx_http_request_t *r, ngx_http_tracktik_portal_ctx_t *ctx, char *type,
    char *key, char *value);
static ngx_int_t ngx_http_tracktik_portal_stream(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, u_char *data, size_t len,
    ngx_uint_t last);
static void ngx_http_tracktik_portal_handle(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc);
static void ngx_http_tracktik_portal_expired(ngx_event_t *ev);
static void ngx_http_tracktik_portal_cleanup(void *data);
static void ngx_http_tracktik_portal_finish(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_tracktik_portal_send(ngx_http_request_t *r,
    ngx_uint_t status, char *type, u_char *body, size_t len);
static ngx_int_t ngx_http_tracktik_portal_error(ngx_http_request_t *r,
    ngx_uint_t status, char *error);
static ngx_int_t ngx_http_tracktik_portal_header(ngx_http_request_t *r,
    char *key, char *value);


static char  *ngx_http_tracktik_filters[] = {
    "site", "severity", "category", "from", "to", "q", "cursor", "limit",
    NULL
};

static char  *ngx_http_tracktik_csv_filters[] = {
    "site", "severity", "category", "from", "to", "q", NULL
};

static char  *ngx_http_tracktik_stats_args[] = { "from", "to", NULL };


ngx_int_t
ngx_http_tracktik_portal_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                        path;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path = r->uri;

    if (path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;
    }

    while (path.len && path.data[0] == '/') {
        path.data++;
        path.len--;
    }

    ctx = ngx_http_tracktik_portal_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (path.len == 5 && ngx_strncmp(path.data, "login", 5) == 0) {

        if (r->method != NGX_HTTP_POST) {
            goto not_allowed_post;
        }

        if (ngx_http_tracktik_portal_same_origin(r) != NGX_OK) {
            goto cross_origin;
        }

        rc = ngx_http_read_client_request_body(r,
                                            ngx_http_tracktik_portal_login);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    if (path.len == 6 && ngx_strncmp(path.data, "logout", 6) == 0) {

        if (r->method != NGX_HTTP_POST) {
            goto not_allowed_post;
        }

        if (ngx_http_tracktik_portal_same_origin(r) != NGX_OK) {
            goto cross_origin;
        }

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_tracktik_portal_logout(r, ctx);
    }

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_tracktik_portal_header(r, "Allow", "GET, HEAD")
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_tracktik_portal_error(r, NGX_HTTP_NOT_ALLOWED,
                                              "method not allowed");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_tracktik_portal_get(r, ctx, &path);

not_allowed_post:

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_tracktik_portal_header(r, "Allow", "POST") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_tracktik_portal_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "method not allowed");

cross_origin:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tracktik portal: refused a cross-origin POST");

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_tracktik_portal_error(r, NGX_HTTP_FORBIDDEN,
                                          "cross-origin request refused");
}


static ngx_int_t
ngx_http_tracktik_portal_get(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_str_t *path)
{
    char                              *sql, **args, *error;
    ngx_int_t                          rc;
    ngx_str_t                          id;
    ngx_http_tracktik_loc_conf_t      *tlcf;
    ngx_http_tracktik_portal_done_pt   done;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    done = ngx_http_tracktik_portal_answered;
    args = NULL;
    ngx_str_null(&id);

#define route(s)                                                              \
    (path->len == sizeof(s) - 1 && ngx_strncmp(path->data, s, path->len) == 0)

#define route_id(s)                                                           \
    (path->len > sizeof(s) - 1                                                \
     && ngx_strncmp(path->data, s, sizeof(s) - 1) == 0                        \
     && (id.data = path->data + sizeof(s) - 1,                                \
         id.len = path->len - (sizeof(s) - 1), 1))

    if (route("me")) {
        sql = NGX_HTTP_TRACKTIK_ANSWER "portal_api_session($1)";

    } else if (route("sites")) {
        sql = NGX_HTTP_TRACKTIK_ANSWER "portal_api_sites($1)";

    } else if (route("incidents")) {
        sql = NGX_HTTP_TRACKTIK_ANSWER
              "portal_api_incidents($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        args = ngx_http_tracktik_filters;

    } else if (route("incidents.csv")) {
        sql = NGX_HTTP_TRACKTIK_ANSWER
              "portal_api_incidents_csv($1, $2, $3, $4, $5, $6, $7, $8)";
        args = ngx_http_tracktik_csv_filters;
        done = ngx_http_tracktik_portal_csv_page;

    } else if (route("stats")) {
        sql = NGX_HTTP_TRACKTIK_ANSWER "portal_api_stats($1, $2, $3)";
        args = ngx_http_tracktik_stats_args;

    } else if (route("events")) {
        sql = NGX_HTTP_TRACKTIK_ANSWER "portal_api_events($1, $2)";
        done = ngx_http_tracktik_portal_events;

    } else if (route_id("incidents/")) {
        sql = NGX_HTTP_TRACKTIK_ANSWER "portal_api_incident($1, $2)";

    } else if (route_id("attachments/")) {
        sql = NGX_HTTP_TRACKTIK_ANSWER "portal_api_attachment($1, $2)";
        done = ngx_http_tracktik_portal_attachment;

    } else {
        return ngx_http_tracktik_portal_error(r, NGX_HTTP_NOT_FOUND,
                                              "no such API route");
    }

#undef route
#undef route_id

    rc = ngx_http_tracktik_session_token(r, tlcf, &ctx->token);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_tracktik_portal_error(r, NGX_HTTP_UNAUTHORIZED,
                                              "not logged in");
    }

    ctx->nvalues = 0;

    if (id.data) {
        if (ngx_http_tracktik_portal_id(&id) != NGX_OK) {
            return ngx_http_tracktik_portal_error(r, NGX_HTTP_NOT_FOUND,
                                                  "not found");
        }

        if (ngx_http_tracktik_portal_value(r, ctx, id.data, id.len)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (args) {
        rc = ngx_http_tracktik_portal_args(r, ctx, args, &error);

        if (rc == NGX_DECLINED) {
            return ngx_http_tracktik_portal_error(r, NGX_HTTP_BAD_REQUEST,
                                                  error);
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (done == ngx_http_tracktik_portal_csv_page) {
        /* $8, the page cursor: from the start */
        if (ngx_http_tracktik_portal_value(r, ctx, (u_char *) "", 0)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (done == ngx_http_tracktik_portal_events) {
        /* $2: resume after Last-Event-ID, or start from now */
        ngx_str_t         after;
        ngx_table_elt_t  *h;

        h = ngx_http_tracktik_header(r, (u_char *) "Last-Event-ID",
                                     sizeof("Last-Event-ID") - 1);

        if (h) {
            after = h->value;

        } else {
            ngx_str_null(&after);
        }

        if (after.len && ngx_http_tracktik_portal_id(&after) != NGX_OK) {
            ngx_str_null(&after);
        }

        if (ngx_http_tracktik_portal_value(r, ctx, after.data ? after.data
                                                      : (u_char *) "",
                                           after.len)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->started = ngx_current_msec;
    }

    rc = ngx_http_tracktik_portal_call(r, ctx, sql, done);

    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;

    return NGX_DONE;
}


/* POST /login {"email": ..., "password": ...} */

static void
ngx_http_tracktik_portal_login(ngx_http_request_t *r)
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

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
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
        OPENSSL_cleanse(cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    OPENSSL_cleanse(p, len);

    if (ctx->email.data == NULL || ctx->password.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* first the throttle and the stored hash, then the check, then the
     * session: the password itself never leaves nginx */

    ctx->nvalues = 0;
    ngx_str_null(&ctx->token);

    if (ngx_http_tracktik_portal_value(r, ctx, ctx->email.data,
                                       ctx->email.len)
        != NGX_OK
        || ngx_http_tracktik_portal_value(r, ctx,
                                          r->connection->addr_text.data,
                                          r->connection->addr_text.len)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_tracktik_portal_call(r, ctx,
             NGX_HTTP_TRACKTIK_ANSWER "portal_login_hash($1, $2)",
             ngx_http_tracktik_portal_login_hash);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
    }
}


/* the stored hash (a dummy one for unknown users): check the password */

static void
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
        ngx_http_tracktik_portal_finish(r,
            ngx_http_tracktik_portal_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "too many logins at once, "
                                           "try again shortly"));
        return;
    }

    /* a check waits at most as long as a query may take */
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

    /* $2: the hash the password matched, or nothing: a failed login */

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        ngx_http_tracktik_portal_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    ttl.data = p;
    ttl.len = ngx_sprintf(p, "%T", tlcf->session_timeout) - p;

    ctx->nvalues = 0;

    rc = ngx_http_tracktik_portal_value(r, ctx, ctx->email.data,
                                        ctx->email.len);

    if (rc == NGX_OK) {
        rc = matched ? ngx_http_tracktik_portal_value(r, ctx, ctx->hash.data,
                                                      ctx->hash.len)
                     : ngx_http_tracktik_portal_value(r, ctx, (u_char *) "",
                                                      0);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_tracktik_portal_value(r, ctx,
                                            c->addr_text.data,
                                            c->addr_text.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_tracktik_portal_value(r, ctx, ttl.data, ttl.len);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_tracktik_portal_call(r, ctx,
                 NGX_HTTP_TRACKTIK_ANSWER
                 "portal_login_open($1, $2, $3, $4::integer)",
                 ngx_http_tracktik_portal_logged_in);

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_http_tracktik_portal_finish(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_tracktik_portal_logged_in(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_tracktik_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    if (rc == NGX_OK && ctx->status == NGX_HTTP_OK) {

        if (ctx->next.len != 64
            || ngx_http_tracktik_session_set_cookie(r, tlcf, &ctx->next)
               != NGX_OK)
        {
            ngx_http_tracktik_portal_finish(r,
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

        if (ngx_http_tracktik_portal_header(r, "Retry-After", "900")
            != NGX_OK)
        {
            ngx_http_tracktik_portal_finish(r,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_tracktik_portal_answered(r, ctx, rc);
}


static ngx_int_t
ngx_http_tracktik_portal_logout(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx)
{
    ngx_int_t                      rc;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    if (ngx_http_tracktik_session_set_cookie(r, tlcf, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_tracktik_session_token(r, tlcf, &ctx->token);

    if (rc == NGX_ERROR) {
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

    rc = ngx_http_tracktik_portal_call(r, ctx,
                                 NGX_HTTP_TRACKTIK_ANSWER "portal_logout($1)",
                                 ngx_http_tracktik_portal_answered);
    if (rc != NGX_OK) {
        return rc;
    }

    r->main->count++;

    return NGX_DONE;
}


/*
 * CSRF defence: a state-changing request must come from a page of this
 * very host; browsers send Origin with every cross-origin POST, and with
 * same-origin POSTs too.
 */

static ngx_int_t
ngx_http_tracktik_portal_same_origin(ngx_http_request_t *r)
{
    u_char           *p, *last;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *origin;

    if (r->headers_in.host == NULL) {
        return NGX_DECLINED;
    }

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
                return NGX_DECLINED;
            }

            origin = &h[i];
        }
    }

    if (origin == NULL) {
        return NGX_DECLINED;
    }

    p = origin->value.data;
    last = p + origin->value.len;

    if (last - p > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0) {
        p += 7;

    } else if (last - p > 8
               && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0)
    {
        p += 8;

    } else {
        return NGX_DECLINED;
    }

    if ((size_t) (last - p) != r->headers_in.host->value.len
        || ngx_strncasecmp(p, r->headers_in.host->value.data, last - p) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* NGX_DECLINED with *error set when a parameter is malformed */

static ngx_int_t
ngx_http_tracktik_portal_args(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, char **names, char **error)
{
    u_char     *dst, *src, *p;
    ngx_str_t   value;

    for ( /* void */ ; *names; names++) {

        if (ngx_http_arg(r, (u_char *) *names, ngx_strlen(*names), &value)
            != NGX_OK)
        {
            ngx_str_set(&value, "");
        }

        if (value.len > NGX_HTTP_TRACKTIK_ARG_MAX) {
            *error = "a parameter is too long";
            return NGX_DECLINED;
        }

        dst = ngx_pnalloc(r->pool, value.len + 1);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        /* form encoding: '+' is a space */

        for (p = value.data; p < value.data + value.len; p++) {
            if (*p == '+') {
                *p = ' ';
            }
        }

        src = value.data;
        p = dst;

        ngx_unescape_uri(&p, &src, value.len, 0);

        if (ngx_strlchr(dst, p, '\0') != NULL) {
            *error = "a parameter contains NUL";
            return NGX_DECLINED;
        }

        if (ngx_http_tracktik_portal_value(r, ctx, dst, p - dst) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a query parameter: text format, so a NUL-terminated copy */

static ngx_int_t
ngx_http_tracktik_portal_value(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, u_char *data, size_t len)
{
    u_char  *p;

    if (ctx->nvalues >= NGX_HTTP_TRACKTIK_MAX_PARAMS - 1) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, data, len);
    p[len] = '\0';

    ctx->values[1 + ctx->nvalues++] = (const char *) p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tracktik_portal_id(ngx_str_t *s)
{
    ngx_uint_t  i;

    if (s->len == 0 || s->len > 18) {
        return NGX_DECLINED;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static void
ngx_http_tracktik_portal_answered(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    ngx_http_tracktik_loc_conf_t  *tlcf;

    if (rc != NGX_OK) {
        ngx_http_tracktik_portal_finish(r,
            ngx_http_tracktik_portal_error(r, rc, "the portal database "
                                                  "is unavailable"));
        return;
    }

    if (ctx->status == NGX_HTTP_UNAUTHORIZED && ctx->token.len) {
        /* expired or revoked: drop the cookie too */
        tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

        if (ngx_http_tracktik_session_set_cookie(r, tlcf, NULL) != NGX_OK) {
            ngx_http_tracktik_portal_finish(r,
                                            NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_tracktik_portal_finish(r,
        ngx_http_tracktik_portal_send(r, ctx->status, "application/json",
                                      ctx->body.data, ctx->body.len));
}


/*
 * The photo itself is served by nginx from the internal attachment store
 * location; the storage key never reaches the client.
 */

static void
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
        ngx_http_tracktik_portal_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_cpymem(uri.data, tlcf->attachment_store.data,
                   tlcf->attachment_store.len);
    ngx_memcpy(p, ctx->next.data, ctx->next.len);

    if (ngx_http_tracktik_portal_header(r, "Cache-Control", "private")
        != NGX_OK)
    {
        ngx_http_tracktik_portal_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    (void) ngx_http_internal_redirect(r, &uri, NULL);
    ngx_http_finalize_request(r, NGX_DONE);
    ngx_http_run_posted_requests(c);
}


/* CSV export: one page per query, the next fetched once this one is sent */

static void
ngx_http_tracktik_portal_csv_page(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    ngx_int_t  last;

    if (!ctx->streaming) {
        if (rc != NGX_OK || ctx->status != NGX_HTTP_OK) {
            ngx_http_tracktik_portal_answered(r, ctx, rc);
            return;
        }

        if (ngx_http_tracktik_portal_stream_start(r, ctx,
                                 "text/csv; charset=utf-8",
                                 "Content-Disposition",
                                 "attachment; filename=\"incidents.csv\"")
            != NGX_OK)
        {
            return;
        }

    } else if (rc != NGX_OK || ctx->status != NGX_HTTP_OK) {
        /* headers are gone: all that is left is to cut the response */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tracktik portal: CSV export stopped: %V",
                      &ctx->body);
        ngx_http_tracktik_portal_finish(r, NGX_ERROR);
        return;
    }

    last = (ctx->next.len == 0);

    rc = ngx_http_tracktik_portal_stream(r, ctx, ctx->body.data,
                                         ctx->body.len, last);

    if (rc == NGX_ERROR) {
        ngx_http_tracktik_portal_finish(r, NGX_ERROR);
        return;
    }

    if (last) {
        ngx_http_tracktik_portal_finish(r, rc);
        return;
    }

    r->write_event_handler = ngx_http_tracktik_portal_csv_write;

    if (rc == NGX_OK && !r->connection->buffered && !r->buffered) {
        ngx_http_tracktik_portal_csv_write(r);
    }
}


static void
ngx_http_tracktik_portal_csv_write(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_event_t                     *wev;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);
    wev = r->connection->write;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "client timed out during the CSV export");
        ngx_http_tracktik_portal_finish(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (ctx->pending) {
        return;
    }

    rc = ngx_http_output_filter(r, NULL);

    if (rc == NGX_ERROR) {
        ngx_http_tracktik_portal_finish(r, NGX_ERROR);
        return;
    }

    if (r->connection->buffered || r->buffered) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (!wev->delayed) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_tracktik_portal_finish(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    /* the page is out: free it and fetch the next one */

    if (ctx->body_pool) {
        ngx_destroy_pool(ctx->body_pool);
        ctx->body_pool = NULL;
    }

    ctx->body_pool = ngx_create_pool(16384, r->connection->log);
    if (ctx->body_pool == NULL) {
        ngx_http_tracktik_portal_finish(r, NGX_ERROR);
        return;
    }

    /* $8, the cursor, is the last parameter */
    ctx->values[ctx->nvalues] = (const char *) ctx->next.data;

    rc = ngx_http_tracktik_portal_call(r, ctx, ctx->query.command,
                                       ngx_http_tracktik_portal_csv_page);
    if (rc != NGX_OK) {
        ngx_http_tracktik_portal_finish(r, NGX_ERROR);
    }
}


/* GET /events: Server-Sent Events, one poll of the ledger per interval */

static void
ngx_http_tracktik_portal_events(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, ngx_int_t rc)
{
    u_char                        *p, *buf;
    size_t                         len;
    ngx_http_tracktik_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tracktik_module);

    if (!ctx->streaming) {
        if (rc != NGX_OK || ctx->status != NGX_HTTP_OK) {
            ngx_http_tracktik_portal_answered(r, ctx, rc);
            return;
        }

        if (ngx_http_tracktik_portal_stream_start(r, ctx,
                                                  "text/event-stream",
                                                  "X-Accel-Buffering", "no")
            != NGX_OK)
        {
            return;
        }

        /* a client that goes away ends the stream */
        r->read_event_handler = ngx_http_test_reading;

        rc = ngx_http_tracktik_portal_stream(r, ctx,
                                             (u_char *) "retry: 2000\n\n",
                                             sizeof("retry: 2000\n\n") - 1,
                                             0);
        if (rc == NGX_ERROR) {
            ngx_http_tracktik_portal_finish(r, NGX_ERROR);
            return;
        }

    } else if (rc != NGX_OK || ctx->status != NGX_HTTP_OK) {

        /* logged out or expired meanwhile, or the database went away */

        (void) ngx_http_tracktik_portal_stream(r, ctx,
                                    (u_char *) "event: end\ndata: {}\n\n",
                                    sizeof("event: end\ndata: {}\n\n") - 1,
                                    1);
        ngx_http_tracktik_portal_finish(r, NGX_OK);
        return;
    }

    if (ctx->body.len > 2) {
        len = sizeof("id: \nevent: incidents\ndata: \n\n") - 1
              + ctx->next.len + ctx->body.len;

        buf = ngx_pnalloc(r->pool, len);
        if (buf == NULL) {
            ngx_http_tracktik_portal_finish(r, NGX_ERROR);
            return;
        }

        p = ngx_sprintf(buf, "id: %V\nevent: incidents\ndata: ", &ctx->next);

        /* JSON from PostgreSQL has no raw newlines; be sure of it */
        for (len = 0; len < ctx->body.len; len++) {
            *p++ = (ctx->body.data[len] == '\n' || ctx->body.data[len] == '\r')
                   ? ' ' : ctx->body.data[len];
        }

        p = ngx_cpymem(p, "\n\n", 2);

        ctx->idle_ticks = 0;

        if (ngx_http_tracktik_portal_stream(r, ctx, buf, p - buf, 0)
            == NGX_ERROR)
        {
            ngx_http_tracktik_portal_finish(r, NGX_ERROR);
            return;
        }

    } else if (++ctx->idle_ticks * tlcf->events_interval
               >= NGX_HTTP_TRACKTIK_EVENTS_PING * 1000)
    {
        ctx->idle_ticks = 0;

        if (ngx_http_tracktik_portal_stream(r, ctx, (u_char *) ": ping\n\n",
                                            sizeof(": ping\n\n") - 1, 0)
            == NGX_ERROR)
        {
            ngx_http_tracktik_portal_finish(r, NGX_ERROR);
            return;
        }
    }

    /* keep the resume point for the next poll */

    if (ctx->next.len) {
        p = ngx_pnalloc(r->pool, ctx->next.len + 1);
        if (p == NULL) {
            ngx_http_tracktik_portal_finish(r, NGX_ERROR);
            return;
        }

        ngx_memcpy(p, ctx->next.data, ctx->next.len);
        p[ctx->next.len] = '\0';
        ctx->values[1] = (const char *) p;
    }

    ctx->tick.handler = ngx_http_tracktik_portal_tick;
    ctx->tick.data = r;
    ctx->tick.log = r->connection->log;

    ngx_add_timer(&ctx->tick, tlcf->events_interval);
}


static void
ngx_http_tracktik_portal_tick(ngx_event_t *ev)
{
    ngx_int_t                        rc;
    ngx_http_request_t              *r;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    r = ev->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    /*
     * a stream ends after a while, so its memory does not grow without
     * bound; EventSource reconnects with Last-Event-ID and loses nothing
     */

    if (ngx_current_msec - ctx->started >= NGX_HTTP_TRACKTIK_EVENTS_LIFE) {
        (void) ngx_http_tracktik_portal_stream(r, ctx, NULL, 0, 1);
        ngx_http_tracktik_portal_finish(r, NGX_OK);
        ngx_http_run_posted_requests(r->connection);
        return;
    }

    rc = ngx_http_tracktik_portal_call(r, ctx, ctx->query.command,
                                       ngx_http_tracktik_portal_events);
    if (rc != NGX_OK) {
        /* the queue is full or PostgreSQL is down: try again later */
        ngx_add_timer(&ctx->tick, 5000);
    }

    ngx_http_run_posted_requests(r->connection);
}


/*
 * The headers of a streamed answer (length unknown, sent chunked); on
 * failure the request is already finalized.
 */

static ngx_int_t
ngx_http_tracktik_portal_stream_start(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, char *type, char *key, char *value)
{
    ngx_int_t  rc;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    if (ngx_http_tracktik_portal_header(r, key, value) != NGX_OK
        || ngx_http_tracktik_portal_header(r, "Cache-Control", "no-store")
           != NGX_OK)
    {
        ngx_http_tracktik_portal_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_tracktik_portal_finish(r, rc);
        return NGX_ERROR;
    }

    ctx->streaming = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tracktik_portal_stream(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, u_char *data, size_t len,
    ngx_uint_t last)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (len) {
        b->pos = data;
        b->last = data + len;
        b->memory = 1;
    }

    b->flush = 1;
    b->last_buf = last ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the query plumbing shared by every route and the access phase */

ngx_http_tracktik_portal_ctx_t *
ngx_http_tracktik_portal_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tracktik_portal_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_tracktik_portal_cleanup;
    cln->data = r;

    ctx->r = r;

    ngx_http_set_ctx(r, ctx, ngx_http_tracktik_module);

    return ctx;
}


/*
 * Runs sql with the session token as $1 and ctx->values as $2...; done is
 * called with the answer, or with an HTTP status when there is none.
 */

ngx_int_t
ngx_http_tracktik_portal_call(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx, const char *sql,
    ngx_http_tracktik_portal_done_pt done)
{
    u_char                         *p;
    ngx_int_t                       rc;
    ngx_http_tracktik_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_tracktik_module);

    ctx->pool = ngx_http_tracktik_portal_pool(tmcf);
    if (ctx->pool == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->token.len) {
        p = ngx_pnalloc(r->pool, ctx->token.len + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, ctx->token.data, ctx->token.len);
        p[ctx->token.len] = '\0';
        ctx->values[0] = (const char *) p;

        ctx->query.values = ctx->values;
        ctx->query.nparams = 1 + ctx->nvalues;

    } else {
        /* the login: no session yet */
        ctx->query.values = ctx->values + 1;
        ctx->query.nparams = ctx->nvalues;
    }

    ctx->query.command = sql;
    ctx->query.lengths = NULL;
    ctx->query.formats = NULL;
    ctx->query.prepare = NULL;
    ctx->query.handler = ngx_http_tracktik_portal_handle;
    ctx->query.data = ctx;
    ctx->query.log = r->connection->log;
    ctx->done = done;

    rc = ngx_http_tracktik_pg_submit(ctx->pool, &ctx->query);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tracktik portal: %s",
                      rc == NGX_BUSY ? "PostgreSQL queue is full"
                                     : "PostgreSQL is unavailable");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ctx->pending = 1;

    ctx->deadline.handler = ngx_http_tracktik_portal_expired;
    ctx->deadline.data = r;
    ctx->deadline.log = r->connection->log;

    ngx_add_timer(&ctx->deadline, tmcf->portal_pg.query_timeout);

    return NGX_OK;
}


static void
ngx_http_tracktik_portal_handle(ngx_http_tracktik_pg_query_t *q,
    PGresult *res, ngx_int_t rc)
{
    ngx_http_tracktik_portal_ctx_t *ctx = q->data;

    u_char              *p;
    ngx_str_t           *s;
    ngx_int_t            n;
    ngx_uint_t           i;
    ngx_pool_t          *pool;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->r;
    c = r->connection;

    ctx->pending = 0;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (rc == NGX_OK && (PQntuples(res) != 1 || PQnfields(res) != 5)) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "tracktik portal: unexpected answer shape");
        rc = NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ctx->done(r, ctx, rc == NGX_ERROR ? NGX_HTTP_SERVICE_UNAVAILABLE
                                          : rc);
        ngx_http_run_posted_requests(c);
        return;
    }

    n = ngx_atoi((u_char *) PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
    ctx->status = (n >= 200 && n < 600) ? (ngx_uint_t) n
                                        : NGX_HTTP_INTERNAL_SERVER_ERROR;

    pool = ctx->body_pool ? ctx->body_pool : r->pool;

    for (i = 1; i < 5; i++) {
        s = (i == 1) ? &ctx->body : (i == 2) ? &ctx->vars.user
            : (i == 3) ? &ctx->vars.client : &ctx->next;

        s->len = PQgetisnull(res, 0, i) ? 0 : PQgetlength(res, 0, i);
        s->data = NULL;

        if (s->len == 0) {
            continue;
        }

        p = ngx_pnalloc(i == 1 ? pool : r->pool, s->len + 1);
        if (p == NULL) {
            ctx->done(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
            ngx_http_run_posted_requests(c);
            return;
        }

        ngx_memcpy(p, PQgetvalue(res, 0, i), s->len);
        p[s->len] = '\0';
        s->data = p;
    }

    ctx->done(r, ctx, NGX_OK);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_tracktik_portal_expired(ngx_event_t *ev)
{
    ngx_connection_t                *c;
    ngx_http_request_t              *r;
    ngx_http_tracktik_portal_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx->check) {
        ngx_log_error(NGX_LOG_WARN, c->log, NGX_ETIMEDOUT,
                      "tracktik portal: the password check waited too long");

        ngx_http_tracktik_password_forget(ctx->check);
        ctx->check = NULL;

        ngx_http_tracktik_portal_finish(r,
            ngx_http_tracktik_portal_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "too many logins at once, "
                                           "try again shortly"));
        ngx_http_run_posted_requests(c);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                  "tracktik portal: PostgreSQL did not answer in time");

    if (ctx->pending) {
        ngx_http_tracktik_pg_cancel(ctx->pool, &ctx->query);
        ctx->pending = 0;
    }

    ctx->done(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_tracktik_portal_cleanup(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_tracktik_portal_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tracktik_module);

    if (ctx == NULL) {
        return;
    }

    if (ctx->pending) {
        ngx_http_tracktik_pg_cancel(ctx->pool, &ctx->query);
        ctx->pending = 0;
    }

    if (ctx->check) {
        ngx_http_tracktik_password_forget(ctx->check);
        ctx->check = NULL;
    }

    if (ctx->password.data) {
        OPENSSL_cleanse(ctx->password.data, ctx->password.len);
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (ctx->tick.timer_set) {
        ngx_del_timer(&ctx->tick);
    }

    if (ctx->body_pool) {
        ngx_destroy_pool(ctx->body_pool);
        ctx->body_pool = NULL;
    }
}


static void
ngx_http_tracktik_portal_finish(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
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


static ngx_int_t
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


static ngx_int_t
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
