
/*
 * Copyright (C) ngx_http_tracktik authors
 *
 * The portal's JSON API.  Each route is one call of a portal function
 * (sql/functions/portal_api.sql) with the session
 * token and the request's values as named arguments; the function scopes
 * everything to the session's user, so this file only routes, checks the
 * shape of the values, and hands the answer on (portal_response.c, or the
 * streams of portal_stream.c).  A route is one row of the table below.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_json.h"
#include "ngx_http_tracktik_metrics.h"
#include "ngx_http_tracktik_portal.h"
#include "ngx_http_tracktik_portal_archive.h"
#include "ngx_http_tracktik_portal_login.h"
#include "ngx_http_tracktik_portal_origin.h"
#include "ngx_http_tracktik_portal_response.h"
#include "ngx_http_tracktik_portal_stream.h"
#include "ngx_http_tracktik_session.h"


#define NGX_HTTP_TRACKTIK_ARG_MAX      512


static ngx_http_tracktik_portal_route_t *ngx_http_tracktik_portal_route(
    ngx_str_t *path, ngx_uint_t method, ngx_str_t *id);
static ngx_uint_t ngx_http_tracktik_portal_path(
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *path, ngx_str_t *id);
static ngx_uint_t ngx_http_tracktik_portal_method(
    ngx_http_tracktik_portal_route_t *route, ngx_uint_t method);
static char *ngx_http_tracktik_portal_allow(ngx_http_request_t *r,
    ngx_str_t *path);
static ngx_uint_t ngx_http_tracktik_portal_route_index(
    ngx_http_tracktik_portal_route_t *route);
static ngx_int_t ngx_http_tracktik_portal_not_allowed(ngx_http_request_t *r,
    char *allow);
static ngx_int_t ngx_http_tracktik_portal_query(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id);
static ngx_int_t ngx_http_tracktik_portal_tokened(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id);
static ngx_int_t ngx_http_tracktik_portal_args(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id);
static ngx_int_t ngx_http_tracktik_portal_arg(ngx_http_request_t *r,
    ngx_http_tracktik_portal_arg_t *arg, ngx_str_t *id, ngx_str_t *value,
    char **error);
static ngx_int_t ngx_http_tracktik_portal_id(ngx_str_t *s);


/* how a route starts, and what becomes of the function's answer */
typedef struct {
    ngx_http_tracktik_portal_start_pt   start;
    ngx_http_tracktik_portal_done_pt    done;
} ngx_http_tracktik_portal_answer_t;


/* the kinds of answer (a route's last column), rows of the table below */
#define NGX_HTTP_TRACKTIK_JSON     0
#define NGX_HTTP_TRACKTIK_OPEN     1   /* no session: a token in the URL */
#define NGX_HTTP_TRACKTIK_FILE     2
#define NGX_HTTP_TRACKTIK_ZIP      3
#define NGX_HTTP_TRACKTIK_CSV      4
#define NGX_HTTP_TRACKTIK_AUDIT    5
#define NGX_HTTP_TRACKTIK_EVENTS   6
#define NGX_HTTP_TRACKTIK_LOGIN    7
#define NGX_HTTP_TRACKTIK_LOGOUT   8

static ngx_http_tracktik_portal_answer_t  ngx_http_tracktik_portal_answers[] = {
    { ngx_http_tracktik_portal_query, ngx_http_tracktik_portal_answered },
    { ngx_http_tracktik_portal_tokened, ngx_http_tracktik_portal_answered },
    { ngx_http_tracktik_portal_query, ngx_http_tracktik_portal_attachment },
    { ngx_http_tracktik_portal_query, ngx_http_tracktik_portal_archive },
    { ngx_http_tracktik_portal_query, ngx_http_tracktik_portal_csv_page },
    { ngx_http_tracktik_portal_query, ngx_http_tracktik_portal_audit_csv },
    { ngx_http_tracktik_portal_query, ngx_http_tracktik_portal_events_page },
    { ngx_http_tracktik_portal_login, ngx_http_tracktik_portal_login_hash },
    { ngx_http_tracktik_portal_logout, ngx_http_tracktik_portal_answered }
};


#define ngx_http_tracktik_filter_args                                         \
    { "p_site", NGX_HTTP_TRACKTIK_ARG_QUERY },                                \
    { "p_severity", NGX_HTTP_TRACKTIK_ARG_QUERY },                            \
    { "p_category", NGX_HTTP_TRACKTIK_ARG_QUERY },                            \
    { "p_from", NGX_HTTP_TRACKTIK_ARG_QUERY },                                \
    { "p_to", NGX_HTTP_TRACKTIK_ARG_QUERY },                                  \
    { "p_q", NGX_HTTP_TRACKTIK_ARG_QUERY }

static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_incidents_args[] = {
    ngx_http_tracktik_filter_args,
    { "p_cursor", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_limit", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { NULL, 0 }
};

/* the cursor last: each page replaces it with the next one */
static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_csv_args[] = {
    ngx_http_tracktik_filter_args,
    { "p_cursor", NGX_HTTP_TRACKTIK_ARG_CURSOR },
    { NULL, 0 }
};

static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_stats_args[] = {
    { "p_from", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_to", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { NULL, 0 }
};

/* the billing page's filters (sql/functions/portal_billing.sql) */
static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_billing_args[] = {
    { "p_from", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_to", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_client", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_site", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_code", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_state", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { NULL, 0 }
};

/* an auditor's archive: the period, and the client for an operator
 * (sql/functions/portal_archive.sql) */
static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_archive_args[] = {
    { "p_from", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_to", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_client", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { NULL, 0 }
};

/* the resume point first: each poll replaces it with the next one */
static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_events_args[] = {
    { "p_after", NGX_HTTP_TRACKTIK_ARG_RESUME },
    { NULL, 0 }
};

/* the latest audit's CSV is one page: the cursor is never set */
static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_audit_args[] = {
    { "p_cursor", NGX_HTTP_TRACKTIK_ARG_CURSOR },
    { NULL, 0 }
};

static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_id_args[] = {
    { "p_id", NGX_HTTP_TRACKTIK_ARG_ID },
    { NULL, 0 }
};

/* notifications (sql/functions/portal_notify.sql) */
#define ngx_http_tracktik_subscription_args                                   \
    { "p_sites", NGX_HTTP_TRACKTIK_ARG_QUERY },                               \
    { "p_min_severity", NGX_HTTP_TRACKTIK_ARG_QUERY },                        \
    { "p_mode", NGX_HTTP_TRACKTIK_ARG_QUERY },                                \
    { "p_digest_at", NGX_HTTP_TRACKTIK_ARG_QUERY },                           \
    { "p_digest_weekday", NGX_HTTP_TRACKTIK_ARG_QUERY },                      \
    { "p_time_zone", NGX_HTTP_TRACKTIK_ARG_QUERY }

static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_sub_add_args[] = {
    ngx_http_tracktik_subscription_args,
    { NULL, 0 }
};

static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_sub_change_args[] = {
    { "p_id", NGX_HTTP_TRACKTIK_ARG_ID },
    ngx_http_tracktik_subscription_args,
    { "p_paused", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { NULL, 0 }
};

static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_switch_args[] = {
    { "p_id", NGX_HTTP_TRACKTIK_ARG_ID },
    { "p_enabled", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { NULL, 0 }
};

static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_log_args[] = {
    { "p_limit", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { "p_state", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { NULL, 0 }
};

/* ?token=: the unsubscribe link's, not a session's (no session here) */
static ngx_http_tracktik_portal_arg_t  ngx_http_tracktik_link_args[] = {
    { "p_token", NGX_HTTP_TRACKTIK_ARG_QUERY },
    { NULL, 0 }
};


/*
 * The routes, after the location's prefix.  A path ending in '/' takes an
 * id; GET routes answer HEAD too; POST and DELETE routes must come from
 * this origin (but for the unsubscribe link's, which takes no session).
 * Login takes its email from the body (portal_login.c).
 */

static ngx_http_tracktik_portal_route_t  ngx_http_tracktik_portal_routes[] = {

    { NGX_HTTP_POST, ngx_string("login"), "portal_login_hash",
      NULL, NGX_HTTP_TRACKTIK_LOGIN },

    { NGX_HTTP_POST, ngx_string("logout"), "portal_logout",
      NULL, NGX_HTTP_TRACKTIK_LOGOUT },

    { NGX_HTTP_GET, ngx_string("me"), "portal_api_session",
      NULL, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("sites"), "portal_api_sites",
      NULL, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("incidents"), "portal_api_incidents",
      ngx_http_tracktik_incidents_args, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("incidents.csv"), "portal_api_incidents_csv",
      ngx_http_tracktik_csv_args, NGX_HTTP_TRACKTIK_CSV },

    { NGX_HTTP_GET, ngx_string("stats"), "portal_api_stats",
      ngx_http_tracktik_stats_args, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("events"), "portal_api_events",
      ngx_http_tracktik_events_args, NGX_HTTP_TRACKTIK_EVENTS },

    { NGX_HTTP_GET, ngx_string("incidents/"), "portal_api_incident",
      ngx_http_tracktik_id_args, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("attachments/"), "portal_api_attachment",
      ngx_http_tracktik_id_args, NGX_HTTP_TRACKTIK_FILE },

    { NGX_HTTP_GET, ngx_string("billing"), "portal_api_billing",
      ngx_http_tracktik_billing_args, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_POST, ngx_string("billing/retry/"),
      "portal_api_billing_retry", ngx_http_tracktik_id_args,
      NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("notify/subscriptions"),
      "portal_api_notify_subscriptions", NULL,
      NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_POST, ngx_string("notify/subscriptions"),
      "portal_api_notify_subscription_add", ngx_http_tracktik_sub_add_args,
      NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_POST, ngx_string("notify/subscriptions/"),
      "portal_api_notify_subscription_change",
      ngx_http_tracktik_sub_change_args, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_DELETE, ngx_string("notify/subscriptions/"),
      "portal_api_notify_subscription_delete", ngx_http_tracktik_id_args,
      NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("notify/rules"), "portal_api_notify_rules",
      NULL, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_POST, ngx_string("notify/rules/"),
      "portal_api_notify_rule_switch", ngx_http_tracktik_switch_args,
      NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("notify/log"), "portal_api_notify_log",
      ngx_http_tracktik_log_args, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_POST, ngx_string("notify/replay/"), "portal_api_notify_replay",
      ngx_http_tracktik_id_args, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("notify/unsubscribe"),
      "portal_api_notify_unsubscribe_check", ngx_http_tracktik_link_args,
      NGX_HTTP_TRACKTIK_OPEN },

    { NGX_HTTP_POST, ngx_string("notify/unsubscribe"),
      "portal_api_notify_unsubscribe", ngx_http_tracktik_link_args,
      NGX_HTTP_TRACKTIK_OPEN },

    { NGX_HTTP_GET, ngx_string("audit"), "portal_api_audit_latest",
      NULL, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("audit.csv"), "portal_api_audit_csv",
      ngx_http_tracktik_audit_args, NGX_HTTP_TRACKTIK_AUDIT },

    /* the auditor's archive: queued by a POST, listed, downloaded */
    { NGX_HTTP_POST, ngx_string("archive"), "portal_api_archive_request",
      ngx_http_tracktik_archive_args, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("archives"), "portal_api_archives",
      NULL, NGX_HTTP_TRACKTIK_JSON },

    { NGX_HTTP_GET, ngx_string("archive/"), "portal_api_archive",
      ngx_http_tracktik_id_args, NGX_HTTP_TRACKTIK_ZIP },

    { 0, ngx_null_string, NULL, NULL, 0 }
};


ngx_int_t
ngx_http_tracktik_portal_handler(ngx_http_request_t *r)
{
    char                               *allow;
    ngx_int_t                           rc;
    ngx_str_t                           path, id;
    ngx_http_core_loc_conf_t           *clcf;
    ngx_http_tracktik_portal_ctx_t     *ctx;
    ngx_http_tracktik_portal_route_t   *route;
    ngx_http_tracktik_portal_answer_t  *answer;

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

    route = ngx_http_tracktik_portal_route(&path, r->method, &id);

    ngx_http_tracktik_metrics_portal(r,
        route ? ngx_http_tracktik_portal_route_index(route)
              : NGX_HTTP_TRACKTIK_METRICS_ROUTES);

    if (route == NULL) {

        if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
            return ngx_http_tracktik_portal_not_allowed(r, "GET, HEAD");
        }

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_tracktik_portal_error(r, NGX_HTTP_NOT_FOUND,
                                              "no such API route");
    }

    if (!ngx_http_tracktik_portal_method(route, r->method)) {
        allow = ngx_http_tracktik_portal_allow(r, &path);
        if (allow == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_tracktik_portal_not_allowed(r, allow);
    }

    /*
     * a route that changes something must come from this origin: its
     * authority is the session cookie, which a browser would send along
     * with another site's request; a route without a session (its
     * authority is a token in its URL) is exempt
     */

    if (route->method != NGX_HTTP_GET
        && route->answer != NGX_HTTP_TRACKTIK_OPEN
        && ngx_http_tracktik_portal_origin_check(r) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik portal: refused a cross-origin %V",
                      &r->method_name);

        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_tracktik_portal_error(r, NGX_HTTP_FORBIDDEN,
                                              "cross-origin request refused");
    }

    answer = &ngx_http_tracktik_portal_answers[route->answer];

    ctx->function = route->function;
    ctx->done = answer->done;

    return answer->start(r, ctx, route, &id);
}


/*
 * A route's path, for the metrics' labels: the routes of one path (its
 * methods) count as its first one, so each path is one series.
 */

ngx_str_t *
ngx_http_tracktik_portal_route_name(ngx_uint_t route)
{
    if (route >= sizeof(ngx_http_tracktik_portal_routes)
                 / sizeof(ngx_http_tracktik_portal_route_t) - 1
        || ngx_http_tracktik_portal_route_index(
               &ngx_http_tracktik_portal_routes[route]) != route)
    {
        return NULL;
    }

    return &ngx_http_tracktik_portal_routes[route].path;
}


static ngx_uint_t
ngx_http_tracktik_portal_route_index(ngx_http_tracktik_portal_route_t *route)
{
    ngx_http_tracktik_portal_route_t  *first;

    for (first = ngx_http_tracktik_portal_routes; first < route; first++) {
        if (first->path.len == route->path.len
            && ngx_strncmp(first->path.data, route->path.data,
                           route->path.len) == 0)
        {
            break;
        }
    }

    return first - ngx_http_tracktik_portal_routes;
}


/*
 * The route of a path and method: several routes may share a path (GET,
 * POST and DELETE of notify/subscriptions/), and the first of them that
 * takes the method wins; when none does, the first route of the path
 * (the caller answers 405 naming what the path allows).
 */

static ngx_http_tracktik_portal_route_t *
ngx_http_tracktik_portal_route(ngx_str_t *path, ngx_uint_t method,
    ngx_str_t *id)
{
    ngx_http_tracktik_portal_route_t  *route, *first;

    first = NULL;

    for (route = ngx_http_tracktik_portal_routes; route->method; route++) {

        if (!ngx_http_tracktik_portal_path(route, path, id)) {
            continue;
        }

        if (ngx_http_tracktik_portal_method(route, method)) {
            return route;
        }

        if (first == NULL) {
            first = route;
        }
    }

    if (first) {
        (void) ngx_http_tracktik_portal_path(first, path, id);
    }

    return first;
}


/* whether a route's path is this one; a path ending in '/' sets *id */

static ngx_uint_t
ngx_http_tracktik_portal_path(ngx_http_tracktik_portal_route_t *route,
    ngx_str_t *path, ngx_str_t *id)
{
    ngx_str_t  *p;

    ngx_str_null(id);

    p = &route->path;

    if (p->data[p->len - 1] != '/') {
        return path->len == p->len
               && ngx_strncmp(path->data, p->data, p->len) == 0;
    }

    if (path->len > p->len && ngx_strncmp(path->data, p->data, p->len) == 0)
    {
        id->data = path->data + p->len;
        id->len = path->len - p->len;
        return 1;
    }

    return 0;
}


/* a GET route answers HEAD too */

static ngx_uint_t
ngx_http_tracktik_portal_method(ngx_http_tracktik_portal_route_t *route,
    ngx_uint_t method)
{
    if (route->method == NGX_HTTP_GET) {
        return method == NGX_HTTP_GET || method == NGX_HTTP_HEAD;
    }

    return method == route->method;
}


/* the Allow header of a path: the methods of all its routes */

static char *
ngx_http_tracktik_portal_allow(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char                            *p, *allow;
    ngx_str_t                          id;
    ngx_uint_t                         methods;
    ngx_http_tracktik_portal_route_t  *route;

    /* each method once, whatever the table holds: the buffer's bound */
    methods = 0;

    for (route = ngx_http_tracktik_portal_routes; route->method; route++) {
        if (ngx_http_tracktik_portal_path(route, path, &id)) {
            methods |= route->method;
        }
    }

    allow = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, DELETE"));
    if (allow == NULL) {
        return NULL;
    }

    p = allow;

    if (methods & NGX_HTTP_GET) {
        p = ngx_cpymem(p, "GET, HEAD", sizeof("GET, HEAD") - 1);
    }

    if (methods & NGX_HTTP_POST) {
        p = ngx_sprintf(p, "%s%s", (p != allow) ? ", " : "", "POST");
    }

    if (methods & NGX_HTTP_DELETE) {
        p = ngx_sprintf(p, "%s%s", (p != allow) ? ", " : "", "DELETE");
    }

    *p = '\0';

    return (char *) allow;
}


static ngx_int_t
ngx_http_tracktik_portal_not_allowed(ngx_http_request_t *r, char *allow)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_tracktik_portal_header(r, "Allow", allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_tracktik_portal_error(r, NGX_HTTP_NOT_ALLOWED,
                                          "method not allowed");
}


/* a route of the session's user: the session, then the route's call */

static ngx_int_t
ngx_http_tracktik_portal_query(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id)
{
    ngx_int_t  rc;

    rc = ngx_http_tracktik_session_request(r, &ctx->token);

    if (rc == NGX_DECLINED) {
        return ngx_http_tracktik_portal_error(r, NGX_HTTP_UNAUTHORIZED,
                                              "not logged in");
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_tracktik_portal_args(r, ctx, route, id);
}


/*
 * A route without a session (an unsubscribe link: its token is its
 * authority, checked by the function): no p_token from a cookie, even
 * when the browser sends one.  A one-click POST's body
 * ("List-Unsubscribe=One-Click", RFC 8058) says nothing the URL does not.
 */

static ngx_int_t
ngx_http_tracktik_portal_tokened(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_null(&ctx->token);

    return ngx_http_tracktik_portal_args(r, ctx, route, id);
}


/* the route's arguments, then the call */

static ngx_int_t
ngx_http_tracktik_portal_args(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id)
{
    char                            *error;
    ngx_int_t                        rc;
    ngx_str_t                        value;
    ngx_http_tracktik_portal_arg_t  *arg;

    if (id->data && ngx_http_tracktik_portal_id(id) != NGX_OK) {
        return ngx_http_tracktik_portal_error(r, NGX_HTTP_NOT_FOUND,
                                              "not found");
    }

    ctx->nvalues = 0;

    for (arg = route->args; arg && arg->name; arg++) {

        rc = ngx_http_tracktik_portal_arg(r, arg, id, &value, &error);

        if (rc == NGX_DECLINED) {
            return ngx_http_tracktik_portal_error(r, NGX_HTTP_BAD_REQUEST,
                                                  error);
        }

        if (rc != NGX_OK
            || ngx_http_tracktik_portal_value(r, ctx, arg->name, value.data,
                                              value.len)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ctx->started = ngx_current_msec;

    return ngx_http_tracktik_portal_begin(r, ctx, route->function,
                                          ctx->done);
}


/* NGX_DECLINED with *error set when a value is malformed */

static ngx_int_t
ngx_http_tracktik_portal_arg(ngx_http_request_t *r,
    ngx_http_tracktik_portal_arg_t *arg, ngx_str_t *id, ngx_str_t *value,
    char **error)
{
    u_char           *dst, *src, *p;
    ngx_str_t         raw;
    ngx_table_elt_t  *h;

    switch (arg->from) {

    case NGX_HTTP_TRACKTIK_ARG_ID:
        *value = *id;
        return NGX_OK;

    case NGX_HTTP_TRACKTIK_ARG_RESUME:

        /* resume after Last-Event-ID, or start from now */

        h = ngx_http_tracktik_header(r, (u_char *) "Last-Event-ID",
                                     sizeof("Last-Event-ID") - 1);

        if (h && ngx_http_tracktik_portal_id(&h->value) == NGX_OK) {
            *value = h->value;

        } else {
            ngx_str_set(value, "");
        }

        return NGX_OK;

    case NGX_HTTP_TRACKTIK_ARG_CURSOR:
        ngx_str_set(value, "");
        return NGX_OK;
    }

    /* NGX_HTTP_TRACKTIK_ARG_QUERY: "p_site" is ?site= */

    if (ngx_http_arg(r, (u_char *) arg->name + 2, ngx_strlen(arg->name) - 2,
                     &raw)
        != NGX_OK)
    {
        ngx_str_set(&raw, "");
    }

    if (raw.len > NGX_HTTP_TRACKTIK_ARG_MAX) {
        *error = "a parameter is too long";
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    /*
     * form encoding: '+' is a space; translated in the copy, never in
     * r->args, which $args, $request and the access log share
     */

    for (p = raw.data, src = dst; p < raw.data + raw.len; p++) {
        *src++ = (*p == '+') ? ' ' : *p;
    }

    src = dst;
    p = dst;

    ngx_unescape_uri(&p, &src, raw.len, 0);

    if (ngx_strlchr(dst, p, '\0') != NULL) {
        *error = "a parameter contains NUL";
        return NGX_DECLINED;
    }

    if (ngx_http_tracktik_text_valid(dst, p - dst) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "tracktik portal: parameter \"%s\" is not valid "
                      "UTF-8", arg->name + 2);

        *error = ngx_pnalloc(r->pool, sizeof("parameter  is not valid UTF-8")
                                      + ngx_strlen(arg->name));
        if (*error == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf((u_char *) *error, "parameter %s is not valid UTF-8%Z",
                    arg->name + 2);

        return NGX_DECLINED;
    }

    value->data = dst;
    value->len = p - dst;

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
