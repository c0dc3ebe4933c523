/*
 * libFuzzer harness: the portal's request parsing
 * (src/ngx_http_tracktik_portal.c and portal_call.c): the route chosen
 * for a path and method, the same-origin check of POSTs, ids, the query
 * arguments (form decoding, length, NUL, strict UTF-8), the named
 * arguments of the call and its SQL text, all driven through
 * ngx_http_tracktik_portal_handler() with a stand-in request; and the
 * UTF-8 check ngx_http_tracktik_text_valid() on the raw input against
 * a reference decoder (Unicode's table 3-7, fuzz_ngx_utf8()).
 *
 * Input: one byte of flags, then fields separated by NUL bytes:
 *
 *     flags  path \0 args \0 Last-Event-ID \0 Origin \0 Host
 *
 * flags & 3 is the method (GET, HEAD, POST, PUT); flags & 4 sends a
 * valid session cookie.  The path follows the location "/api/".  What
 * PostgreSQL and the responses would do is replaced by stand-ins below
 * that record the call (pg_submit) or the refusal (portal_error); the
 * splitting of ?args and %XX decoding are nginx's (stand-ins in
 * fuzz/ngx_stubs.c).
 *
 * Checked: the route, status and arguments are the ones a restatement
 * here of the portal's rules gives (the route table, id digits, 512
 * bytes, no NUL, strict UTF-8); every value PostgreSQL would see is
 * strict UTF-8 without NUL; the SQL names the route's function and its
 * parameters in order.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_tracktik_module.h"
#include "ngx_http_tracktik_json.h"
#include "ngx_http_tracktik_metrics.h"
#include "ngx_http_tracktik_portal.h"
#include "ngx_http_tracktik_portal_archive.h"
#include "ngx_http_tracktik_portal_login.h"
#include "ngx_http_tracktik_portal_response.h"
#include "ngx_http_tracktik_portal_stream.h"
#include "ngx_stubs.h"


#define FUZZ_FIELDS    5
#define FUZZ_ARG_MAX   512
#define FUZZ_SECRET    "session-secret-0123456789abcdef"
#define FUZZ_TOKEN     \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* what the handler did, recorded by the stand-ins */

static struct {
    ngx_uint_t                      status;     /* portal_error() */
    char                           *error;
    const char                     *started;    /* login / logout */
    ngx_http_tracktik_pg_query_t   *query;      /* pg_submit() */
} fuzz_args;


/* a restatement of the route table: method, path, function, arguments */

typedef struct {
    ngx_uint_t     method;
    const char    *path;
    const char    *function;
    const char    *args[9];       /* "q:" a query argument, "id", "" */
} fuzz_route_t;


#define FUZZ_FILTERS  "q:p_site", "q:p_severity", "q:p_category",          \
                      "q:p_from", "q:p_to", "q:p_q"

static fuzz_route_t  fuzz_routes[] = {
    { NGX_HTTP_POST, "login", "portal_login_hash", { NULL } },
    { NGX_HTTP_POST, "logout", "portal_logout", { NULL } },
    { NGX_HTTP_GET, "me", "portal_api_session", { NULL } },
    { NGX_HTTP_GET, "sites", "portal_api_sites", { NULL } },
    { NGX_HTTP_GET, "incidents", "portal_api_incidents",
      { FUZZ_FILTERS, "q:p_cursor", "q:p_limit", NULL } },
    { NGX_HTTP_GET, "incidents.csv", "portal_api_incidents_csv",
      { FUZZ_FILTERS, "cursor:p_cursor", NULL } },
    { NGX_HTTP_GET, "stats", "portal_api_stats",
      { "q:p_from", "q:p_to", NULL } },
    { NGX_HTTP_GET, "events", "portal_api_events",
      { "resume:p_after", NULL } },
    { NGX_HTTP_GET, "incidents/", "portal_api_incident", { "id:p_id", NULL } },
    { NGX_HTTP_GET, "attachments/", "portal_api_attachment",
      { "id:p_id", NULL } },
    { NGX_HTTP_GET, "billing", "portal_api_billing",
      { "q:p_from", "q:p_to", "q:p_client", "q:p_site", "q:p_code",
        "q:p_state", NULL } },
    { NGX_HTTP_POST, "billing/retry/", "portal_api_billing_retry",
      { "id:p_id", NULL } },
    { 0, NULL, NULL, { NULL } }
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
fuzz_args_done(ngx_http_tracktik_portal_events_page)
fuzz_args_done(ngx_http_tracktik_portal_login_hash)


ngx_http_tracktik_pg_pool_t *
ngx_http_tracktik_portal_pool(ngx_http_tracktik_main_conf_t *tmcf)
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


/* counters live in shared memory nginx never made here */
void
ngx_http_tracktik_metrics_portal(ngx_http_request_t *r, ngx_uint_t route)
{
}



/* the UTF-8 check against the reference */

static ngx_uint_t
fuzz_args_text(const u_char *p, size_t len)
{
    size_t         n;
    const u_char  *last;

    for (last = p + len; p < last; p += n) {
        if (*p == '\0') {
            return 0;
        }

        n = (*p < 0x80) ? 1 : fuzz_ngx_utf8(p, last);

        if (n == 0) {
            return 0;
        }
    }

    return 1;
}


static void
fuzz_args_utf8(const uint8_t *data, size_t size)
{
    u_char  *copy;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    if ((ngx_http_tracktik_text_valid(copy, size) == NGX_OK)
        != fuzz_args_text(data, size))
    {
        fprintf(stderr, "UTF-8 check disagrees with the reference\n");
        abort();
    }

    free(copy);
}


/* the route for a path, by the table above */

static fuzz_route_t *
fuzz_args_route(ngx_str_t *path, ngx_str_t *id)
{
    size_t         len;
    fuzz_route_t  *rt;

    ngx_str_null(id);

    for (rt = fuzz_routes; rt->path; rt++) {
        len = strlen(rt->path);

        if (rt->path[len - 1] == '/') {
            if (path->len > len && memcmp(path->data, rt->path, len) == 0) {
                id->data = path->data + len;
                id->len = path->len - len;
                return rt;
            }

        } else if (path->len == len && memcmp(path->data, rt->path, len) == 0)
        {
            return rt;
        }
    }

    return NULL;
}


static ngx_uint_t
fuzz_args_id(ngx_str_t *s)
{
    size_t  i;

    if (s->data == NULL || s->len == 0 || s->len > 18) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return 0;
        }
    }

    return 1;
}


/* a query argument as the portal must read it: NULL when refused */

static u_char *
fuzz_args_query(ngx_http_request_t *r, ngx_str_t *args, const char *name,
    size_t *len)
{
    u_char      *dst, *src, *p, *q;
    ngx_str_t    raw, saved;

    saved = r->args;
    r->args = *args;

    if (ngx_http_arg(r, (u_char *) name, strlen(name), &raw) != NGX_OK) {
        ngx_str_set(&raw, "");
    }

    r->args = saved;

    if (raw.len > FUZZ_ARG_MAX) {
        return NULL;
    }

    src = fuzz_ngx_copy(r->pool, raw.data, raw.len);

    for (p = src; p < src + raw.len; p++) {
        if (*p == '+') {
            *p = ' ';
        }
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    q = dst;
    p = src;
    ngx_unescape_uri(&q, &p, raw.len, 0);

    if (!fuzz_args_text(dst, q - dst)) {
        return NULL;
    }

    *len = q - dst;

    return dst;
}


/* the call recorded: its parameters and text, against the route */

static void
fuzz_args_call(ngx_http_request_t *r, fuzz_route_t *rt, ngx_str_t *args,
    ngx_str_t *id, ngx_str_t *resume)
{
    u_char                        *want, *p;
    size_t                         len;
    ngx_uint_t                     i, n;
    const char                    *a, *name;
    ngx_http_tracktik_pg_query_t  *q;

    q = fuzz_args.query;

    if (q == NULL || fuzz_args.status || fuzz_args.started) {
        abort();
    }

    if (strcmp(q->values[0], FUZZ_TOKEN) != 0) {
        abort();                        /* p_token is not the cookie's */
    }

    want = ngx_pnalloc(r->pool, 4096);
    p = ngx_sprintf(want, "SELECT status, body, user_email, client_id, "
                          "next FROM %s(p_token => $1", rt->function);

    for (n = 0; rt->args[n]; n++) {
        a = rt->args[n];
        name = strchr(a, ':') + 1;
        p = ngx_sprintf(p, ", %s => $%ui", name, n + 2);

        if (ngx_strncmp(a, "q:", 2) == 0) {
            u_char  *v = fuzz_args_query(r, args, name + 2, &len);

            if (v == NULL) {
                abort();                /* passed a value to refuse */
            }

            if (strlen(q->values[n + 1]) != len
                || memcmp(q->values[n + 1], v, len) != 0)
            {
                fprintf(stderr, "argument %s is not its decoded value\n",
                        name);
                abort();
            }

        } else if (ngx_strncmp(a, "id:", 3) == 0) {
            if (strlen(q->values[n + 1]) != id->len
                || memcmp(q->values[n + 1], id->data, id->len) != 0)
            {
                abort();
            }

        } else if (ngx_strncmp(a, "resume:", 7) == 0) {
            if (strcmp(q->values[n + 1],
                       fuzz_args_id(resume) ? (char *) resume->data : "")
                != 0)
            {
                abort();                /* Last-Event-ID not an id */
            }

        } else if (q->values[n + 1][0] != '\0') {
            abort();                    /* a stream starts at the start */
        }

        if (!fuzz_args_text((u_char *) q->values[n + 1],
                            strlen(q->values[n + 1])))
        {
            abort();                    /* PostgreSQL would refuse it */
        }
    }

    *p++ = ')';
    *p = '\0';

    if ((ngx_uint_t) q->nparams != n + 1
        || strcmp(q->command, (char *) want) != 0)
    {
        fprintf(stderr, "call: %s\nwant: %s\n", q->command, want);
        abort();
    }

    for (i = 0; i < (ngx_uint_t) q->nparams; i++) {
        (void) strlen(q->values[i]);    /* each one a C string */
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                         *p, *cookie, *v;
    size_t                          len;
    ngx_str_t                       f[FUZZ_FIELDS], path, id, args, key, t;
    ngx_int_t                       rc;
    ngx_uint_t                      i, flags, method, refused;
    fuzz_route_t                   *rt;
    ngx_array_t                     secrets;
    ngx_http_request_t             *r;
    ngx_http_core_loc_conf_t        clcf;
    ngx_http_tracktik_loc_conf_t    tlcf;
    ngx_http_tracktik_main_conf_t   tmcf;
    ngx_http_tracktik_secret_t     *secret;
    u_char                          mac[EVP_MAX_MD_SIZE], b64[64];
    unsigned int                    maclen;

    static ngx_uint_t  methods[] = {
        NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_POST, NGX_HTTP_PUT
    };

    fuzz_args_utf8(data, size);

    if (size < 1) {
        return 0;
    }

    flags = data[0];
    method = methods[flags & 3];

    ngx_memzero(&fuzz_args, sizeof(fuzz_args));
    ngx_memzero(&clcf, sizeof(ngx_http_core_loc_conf_t));
    ngx_memzero(&tlcf, sizeof(ngx_http_tracktik_loc_conf_t));
    ngx_memzero(&tmcf, sizeof(ngx_http_tracktik_main_conf_t));

    ngx_str_set(&clcf.name, "/api/");
    tmcf.portal_pg.query_timeout = 5000;
    fuzz_ngx_set_time(1700000000);

    r = fuzz_ngx_request(&tlcf, &tmcf);
    r->loc_conf[0] = &clcf;
    r->method = method;

    fuzz_ngx_fields(r->pool, data + 1, size - 1, f, FUZZ_FIELDS);

    /* the URI and its arguments, each in its own buffer */

    len = f[0].data ? f[0].len : 0;
    v = ngx_pnalloc(r->pool, sizeof("/api/") - 1 + len + 1);
    p = ngx_cpymem(v, "/api/", sizeof("/api/") - 1);
    if (len) {
        p = ngx_cpymem(p, f[0].data, len);
    }
    *p = '\0';
    r->uri.data = v;
    r->uri.len = p - v;

    if (f[1].data) {
        r->args.data = fuzz_ngx_copy(r->pool, f[1].data, f[1].len);
        r->args.len = f[1].len;
    }

    args.data = fuzz_ngx_copy(r->pool, r->args.data, r->args.len);
    args.len = r->args.len;

    if (f[2].data) {
        fuzz_ngx_header(r, "Last-Event-ID", f[2].data, f[2].len);
    }

    if (f[3].data) {
        fuzz_ngx_header(r, "Origin", f[3].data, f[3].len);
    }

    if (f[4].data) {
        fuzz_ngx_header(r, "Host", f[4].data, f[4].len);
    }

    /* the session: one secret, and a cookie it signs */

    if (ngx_array_init(&secrets, r->pool, 1,
                       sizeof(ngx_http_tracktik_secret_t))
        != NGX_OK
        || (secret = ngx_array_push(&secrets)) == NULL)
    {
        abort();
    }

    ngx_memzero(secret, sizeof(ngx_http_tracktik_secret_t));
    ngx_str_set(&secret->text, FUZZ_SECRET);
    secret->key = secret->text;
    tlcf.session_secrets = &secrets;

    if (flags & 4) {
        key = secret->key;

        if (HMAC(EVP_sha256(), key.data, (int) key.len,
                 (u_char *) FUZZ_TOKEN, 64, mac, &maclen) == NULL
            || EVP_EncodeBlock(b64, mac, 32) != 44)
        {
            abort();
        }

        cookie = ngx_pnalloc(r->pool, sizeof("tt_session=") + 64 + 1 + 43);
        p = ngx_sprintf(cookie, "tt_session=%s.", FUZZ_TOKEN);

        for (i = 0; i < 43; i++) {
            *p++ = (b64[i] == '+') ? '-' : (b64[i] == '/') ? '_' : b64[i];
        }

        *p = '\0';
        fuzz_ngx_header(r, "Cookie", cookie, p - cookie);
    }

    /* the request */

    rc = ngx_http_tracktik_portal_handler(r);

    /* the portal's rules, said again */

    path.data = r->uri.data + 5;
    path.len = r->uri.len - 5;

    while (path.len && path.data[0] == '/') {
        path.data++;
        path.len--;
    }

    rt = fuzz_args_route(&path, &id);

    if (rt == NULL || rt->method == NGX_HTTP_GET) {

        if (method != NGX_HTTP_GET && method != NGX_HTTP_HEAD) {
            if (rc != NGX_HTTP_NOT_ALLOWED) {
                abort();
            }
            goto done;
        }

        if (rt == NULL) {
            if (rc != NGX_HTTP_NOT_FOUND) {
                abort();
            }
            goto done;
        }

        if (!(flags & 4)) {
            if (rc != NGX_HTTP_UNAUTHORIZED) {
                abort();
            }
            goto done;
        }

        if (id.data && !fuzz_args_id(&id)) {
            if (rc != NGX_HTTP_NOT_FOUND) {
                abort();
            }
            goto done;
        }

        refused = 0;

        for (i = 0; rt->args[i]; i++) {
            if (ngx_strncmp(rt->args[i], "q:", 2) == 0
                && fuzz_args_query(r, &args, rt->args[i] + 4, &len) == NULL)
            {
                refused = 1;
            }
        }

        if (refused) {
            if (rc != NGX_HTTP_BAD_REQUEST) {
                fprintf(stderr, "a bad argument answered %ld\n", rc);
                abort();
            }
            goto done;
        }

        if (rc != NGX_DONE) {
            fprintf(stderr, "a good request answered %ld (%s)\n", rc,
                    fuzz_args.error ? fuzz_args.error : "");
            abort();
        }

        t = f[2];
        fuzz_args_call(r, rt, &args, &id, &t);

        goto done;
    }

    /* a POST route */

    if (method != NGX_HTTP_POST) {
        if (rc != NGX_HTTP_NOT_ALLOWED) {
            abort();
        }
        goto done;
    }

    if (rc == NGX_HTTP_FORBIDDEN) {
        if (f[3].data && f[4].data
            && ((f[3].len == 7 + f[4].len
                 && ngx_strncasecmp(f[3].data, (u_char *) "http://", 7) == 0
                 && ngx_strncasecmp(f[3].data + 7, f[4].data, f[4].len) == 0)
                || (f[3].len == 8 + f[4].len
                    && ngx_strncasecmp(f[3].data, (u_char *) "https://", 8)
                       == 0
                    && ngx_strncasecmp(f[3].data + 8, f[4].data, f[4].len)
                       == 0))
            && f[4].len)
        {
            abort();                    /* refused its own origin */
        }
        goto done;
    }

    if (rt->args[0] != NULL) {          /* an operator's POST: signed in */
        if (!(flags & 4)) {
            if (rc != NGX_HTTP_UNAUTHORIZED) {
                abort();
            }
            goto done;
        }

        if (id.data && !fuzz_args_id(&id)) {
            if (rc != NGX_HTTP_NOT_FOUND) {
                abort();
            }
            goto done;
        }
    }

    if (rc != NGX_DONE || fuzz_args.started == NULL
        || strcmp(fuzz_args.started, rt->function) != 0)
    {
        abort();
    }

    if (f[3].data == NULL || f[4].data == NULL || f[4].len == 0) {
        abort();                        /* a POST with no origin passed */
    }

done:

    /* the request's args ($args, $request, the access log) never change */

    if (r->args.len != args.len
        || (args.len && memcmp(r->args.data, args.data, args.len) != 0))
    {
        abort();
    }

    ngx_destroy_pool(r->pool);

    return 0;
}
