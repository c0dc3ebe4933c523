/*
 * The module_args harness (fuzz/module_args.c), its second half: the
 * route model, written here again apart from the portal's own table
 * (src/ngx_http_tracktik_portal.c): a route the portal adds, changes or
 * drops is a row to change below, or the harness fails; and the
 * stand-ins for what the portal's router calls beyond the files under
 * test (responses, login, streams, PostgreSQL, the metrics), which
 * record in fuzz_args what it did.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_metrics.h"
#include "ngx_http_tracktik_portal.h"
#include "ngx_http_tracktik_portal_archive.h"
#include "ngx_http_tracktik_portal_login.h"
#include "ngx_http_tracktik_portal_response.h"
#include "ngx_http_tracktik_portal_stream.h"
#include "module_args.h"


/* the route table, said again: method, path, kind, function, arguments */

#define FUZZ_FILTERS  "q:p_site", "q:p_severity", "q:p_category",          \
                      "q:p_from", "q:p_to", "q:p_q"

#define FUZZ_SUBSCRIPTION                                                     \
    "q:p_sites", "q:p_min_severity", "q:p_mode", "q:p_digest_at",            \
    "q:p_digest_weekday", "q:p_time_zone"

static fuzz_route_t  fuzz_routes[] = {
    { NGX_HTTP_POST, "login", FUZZ_LOGIN, "portal_login_hash", { NULL } },
    { NGX_HTTP_POST, "logout", FUZZ_LOGOUT, "portal_logout", { NULL } },
    { NGX_HTTP_GET, "me", FUZZ_SESSION, "portal_api_session", { NULL } },
    { NGX_HTTP_GET, "sites", FUZZ_SESSION, "portal_api_sites", { NULL } },
    { NGX_HTTP_GET, "incidents", FUZZ_SESSION, "portal_api_incidents",
      { FUZZ_FILTERS, "q:p_cursor", "q:p_limit", NULL } },
    { NGX_HTTP_GET, "incidents.csv", FUZZ_SESSION,
      "portal_api_incidents_csv", { FUZZ_FILTERS, "cursor:p_cursor", NULL } },
    { NGX_HTTP_GET, "stats", FUZZ_SESSION, "portal_api_stats",
      { "q:p_from", "q:p_to", NULL } },
    { NGX_HTTP_GET, "events", FUZZ_SESSION, "portal_api_events",
      { "resume:p_after", NULL } },
    { NGX_HTTP_GET, "incidents/", FUZZ_SESSION, "portal_api_incident",
      { "id:p_id", NULL } },
    { NGX_HTTP_GET, "attachments/", FUZZ_SESSION, "portal_api_attachment",
      { "id:p_id", NULL } },
    { NGX_HTTP_GET, "billing", FUZZ_SESSION, "portal_api_billing",
      { "q:p_from", "q:p_to", "q:p_client", "q:p_site", "q:p_code",
        "q:p_state", NULL } },
    { NGX_HTTP_POST, "billing/retry/", FUZZ_SESSION,
      "portal_api_billing_retry", { "id:p_id", NULL } },
    { NGX_HTTP_GET, "notify/subscriptions", FUZZ_SESSION,
      "portal_api_notify_subscriptions", { NULL } },
    { NGX_HTTP_POST, "notify/subscriptions", FUZZ_SESSION,
      "portal_api_notify_subscription_add", { FUZZ_SUBSCRIPTION, NULL } },
    { NGX_HTTP_POST, "notify/subscriptions/", FUZZ_SESSION,
      "portal_api_notify_subscription_change",
      { "id:p_id", FUZZ_SUBSCRIPTION, "q:p_paused", NULL } },
    { NGX_HTTP_DELETE, "notify/subscriptions/", FUZZ_SESSION,
      "portal_api_notify_subscription_delete", { "id:p_id", NULL } },
    { NGX_HTTP_GET, "notify/rules", FUZZ_SESSION, "portal_api_notify_rules",
      { NULL } },
    { NGX_HTTP_POST, "notify/rules/", FUZZ_SESSION,
      "portal_api_notify_rule_switch", { "id:p_id", "q:p_enabled", NULL } },
    { NGX_HTTP_GET, "notify/log", FUZZ_SESSION, "portal_api_notify_log",
      { "q:p_limit", "q:p_state", NULL } },
    { NGX_HTTP_POST, "notify/replay/", FUZZ_SESSION,
      "portal_api_notify_replay", { "id:p_id", NULL } },
    { NGX_HTTP_GET, "notify/unsubscribe", FUZZ_OPEN,
      "portal_api_notify_unsubscribe_check", { "q:p_token", NULL } },
    { NGX_HTTP_POST, "notify/unsubscribe", FUZZ_OPEN,
      "portal_api_notify_unsubscribe", { "q:p_token", NULL } },
    { NGX_HTTP_GET, "audit", FUZZ_SESSION, "portal_api_audit_latest",
      { NULL } },
    { NGX_HTTP_GET, "audit.csv", FUZZ_SESSION, "portal_api_audit_csv",
      { "cursor:p_cursor", NULL } },
    { NGX_HTTP_POST, "archive", FUZZ_SESSION, "portal_api_archive_request",
      { "q:p_from", "q:p_to", "q:p_client", NULL } },
    { NGX_HTTP_GET, "archives", FUZZ_SESSION, "portal_api_archives",
      { NULL } },
    { NGX_HTTP_GET, "archive/", FUZZ_SESSION, "portal_api_archive",
      { "id:p_id", NULL } },
    { 0, NULL, 0, NULL, { NULL } }
};


/* the methods a harness sends */

fuzz_method_t  fuzz_methods[FUZZ_METHODS] = {
    { NGX_HTTP_GET, "GET" },
    { NGX_HTTP_HEAD, "HEAD" },
    { NGX_HTTP_POST, "POST" },
    { NGX_HTTP_PUT, "PUT" },
    { NGX_HTTP_DELETE, "DELETE" },
    { NGX_HTTP_PATCH, "PATCH" },
    { NGX_HTTP_OPTIONS, "OPTIONS" },
    { NGX_HTTP_TRACE, "TRACE" }
};


/* stand-ins: the responses, the login, the streams, PostgreSQL */

ngx_int_t
ngx_http_tracktik_portal_error(ngx_http_request_t *r, ngx_uint_t status,
    char *error)
{
    if (fuzz_args.status || error == NULL) {
        abort();                        /* answered twice */
    }

    fuzz_args.status = status;
    fuzz_args.error = error;

    return status;
}


ngx_int_t
ngx_http_tracktik_portal_header(ngx_http_request_t *r, char *key,
    char *value)
{
    if (strcmp(key, "Allow") != 0 || fuzz_args.allow || value == NULL) {
        abort();                        /* no other header, and once */
    }

    fuzz_args.allow = value;

    return NGX_OK;
}


static ngx_int_t
fuzz_args_start(const char *what)
{
    fuzz_args.started = what;

    return NGX_DONE;
}


ngx_int_t
ngx_http_tracktik_portal_login(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id)
{
    return fuzz_args_start("portal_login_hash");
}


ngx_int_t
ngx_http_tracktik_portal_logout(ngx_http_request_t *r,
    ngx_http_tracktik_portal_ctx_t *ctx,
    ngx_http_tracktik_portal_route_t *route, ngx_str_t *id)
{
    return fuzz_args_start("portal_logout");
}


#define fuzz_args_done(name)                                                  \
    void name(ngx_http_request_t *r, ngx_http_tracktik_portal_ctx_t *ctx,     \
        ngx_int_t rc)                                                         \
    {                                                                         \
        abort();                        /* no answer comes in a harness */    \
    }

fuzz_args_done(ngx_http_tracktik_portal_answered)
fuzz_args_done(ngx_http_tracktik_portal_attachment)
fuzz_args_done(ngx_http_tracktik_portal_archive)
fuzz_args_done(ngx_http_tracktik_portal_csv_page)
fuzz_args_done(ngx_http_tracktik_portal_audit_csv)
fuzz_args_done(ngx_http_tracktik_portal_events_page)
fuzz_args_done(ngx_http_tracktik_portal_login_hash)


ngx_http_tracktik_pg_pool_t *
ngx_http_tracktik_pg_pool(ngx_http_tracktik_pg_pool_t **slot,
    ngx_http_tracktik_pg_conf_t *conf)
{
    static u_char  pool;

    return (ngx_http_tracktik_pg_pool_t *) &pool;
}


ngx_int_t
ngx_http_tracktik_pg_submit(ngx_http_tracktik_pg_pool_t *pool,
    ngx_http_tracktik_pg_query_t *q)
{
    if (fuzz_args.query) {
        abort();
    }

    fuzz_args.query = q;

    return NGX_OK;
}


void
ngx_http_tracktik_pg_cancel(ngx_http_tracktik_pg_pool_t *pool,
    ngx_http_tracktik_pg_query_t *q)
{
    if (q != fuzz_args.query) {
        abort();
    }
}


void
ngx_http_tracktik_password_forget(ngx_http_tracktik_password_t *check)
{
    abort();                            /* no login gets this far */
}


/* counters live in shared memory nginx never made here: recorded */
void
ngx_http_tracktik_metrics_portal(ngx_http_request_t *r, ngx_uint_t route)
{
    if (fuzz_args.counted) {
        abort();                        /* counted twice */
    }

    fuzz_args.counted = 1;
    fuzz_args.metrics = route;
}



/* whether a route's path is this one; an id follows a path ending in '/' */

static ngx_uint_t
fuzz_args_path(fuzz_route_t *rt, ngx_str_t *path, ngx_str_t *id)
{
    size_t  len;

    len = strlen(rt->path);

    if (rt->path[len - 1] == '/') {
        if (path->len > len && memcmp(path->data, rt->path, len) == 0) {
            id->data = path->data + len;
            id->len = path->len - len;
            return 1;
        }

        return 0;
    }

    if (path->len == len && memcmp(path->data, rt->path, len) == 0) {
        ngx_str_null(id);
        return 1;
    }

    return 0;
}


/* a route's methods: a GET route answers HEAD too */

static ngx_uint_t
fuzz_args_methods(fuzz_route_t *rt)
{
    return (rt->method == NGX_HTTP_GET) ? (NGX_HTTP_GET | NGX_HTTP_HEAD)
                                        : rt->method;
}


/*
 * The route for a path and method by the table above: the first of the
 * path's routes that takes the method.  *allow is every method of the
 * path (0: no route has this path), *name the path's name in the table.
 */

fuzz_route_t *
fuzz_args_route(ngx_str_t *path, ngx_uint_t method, ngx_str_t *id,
    ngx_uint_t *allow, const char **name)
{
    ngx_str_t      rid;
    fuzz_route_t  *rt, *found;

    ngx_str_null(id);
    *allow = 0;
    *name = NULL;
    found = NULL;

    for (rt = fuzz_routes; rt->path; rt++) {
        if (!fuzz_args_path(rt, path, &rid)) {
            continue;
        }

        if (*name == NULL) {
            *name = rt->path;

        } else if (strcmp(*name, rt->path) != 0) {
            abort();                    /* the table: one path, one name */
        }

        *allow |= fuzz_args_methods(rt);

        if (found == NULL && (fuzz_args_methods(rt) & method)) {
            found = rt;
            *id = rid;
        }
    }

    return found;
}


/* the Allow header sent: each method of the path once, no other */

void
fuzz_args_allow(ngx_uint_t want)
{
    u_char      *p, *end;
    size_t       len;
    ngx_uint_t   i, got, m;

    if (fuzz_args.allow == NULL) {
        fprintf(stderr, "a 405 without Allow\n");
        abort();
    }

    got = 0;
    p = (u_char *) fuzz_args.allow;

    for ( ;; ) {
        end = (u_char *) strstr((char *) p, ", ");
        len = end ? (size_t) (end - p) : strlen((char *) p);
        m = 0;

        for (i = 0; i < sizeof(fuzz_methods) / sizeof(fuzz_methods[0]); i++)
        {
            if (strlen(fuzz_methods[i].name) == len
                && memcmp(fuzz_methods[i].name, p, len) == 0)
            {
                m = fuzz_methods[i].method;
            }
        }

        if (m == 0 || (got & m)) {
            fprintf(stderr, "Allow: %s\n", fuzz_args.allow);
            abort();                    /* no method, or one twice */
        }

        got |= m;

        if (end == NULL) {
            break;
        }

        p = end + 2;
    }

    if (got != want) {
        fprintf(stderr, "Allow: %s (want %lx)\n", fuzz_args.allow,
                (unsigned long) want);
        abort();
    }
}
