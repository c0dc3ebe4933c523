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
 * flags & 3 and flags & 8 are the method (GET, HEAD, POST, PUT, and with
 * 8: DELETE, PATCH, OPTIONS, TRACE), set as r->method and r->method_name;
 * flags & 4 sends a valid session cookie.  The path follows the location
 * "/api/".  What PostgreSQL and the responses would do is replaced by
 * stand-ins (fuzz/module_args_routes.c) that record the call
 * (pg_submit), the refusal (portal_error), the Allow header and the route
 * counted; the splitting of ?args and %XX decoding are nginx's
 * (stand-ins in fuzz/ngx_stubs.c).
 *
 * Checked: the route, status and arguments are the ones a restatement
 * of the portal's rules gives (the route table, restated in
 * fuzz/module_args_routes.c, where several routes may share a path with
 * different methods; a 405's Allow names
 * every method of the path; POSTs and DELETEs from this very origin only
 * but for the unsubscribe link's routes, which take no session and whose
 * p_token is the ?token= argument; id digits, 512 bytes, no NUL, strict
 * UTF-8); every value PostgreSQL would see is strict UTF-8 without NUL;
 * the SQL names the route's function and its parameters in order; the
 * metrics count a request under its path's name; the request's args
 * never change.
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
#include "ngx_stubs.h"
#include "module_args.h"


#define FUZZ_FIELDS    5
#define FUZZ_ARG_MAX   512
#define FUZZ_SECRET    "session-secret-0123456789abcdef"
#define FUZZ_TOKEN     \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* what the handler did: the stand-ins (module_args_routes.c) record it */

fuzz_args_t  fuzz_args;


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


/* whether Origin names this very Host, http or https, any letter case */

static ngx_uint_t
fuzz_args_same_origin(ngx_str_t *origin, ngx_str_t *host)
{
    size_t       i, skip;
    ngx_uint_t   a, b;
    const char  *scheme;

    if (origin->data == NULL || host->data == NULL || host->len == 0) {
        return 0;
    }

    if (origin->len == sizeof("http://") - 1 + host->len) {
        scheme = "http://";

    } else if (origin->len == sizeof("https://") - 1 + host->len) {
        scheme = "https://";

    } else {
        return 0;
    }

    skip = strlen(scheme);

    for (i = 0; i < origin->len; i++) {
        a = origin->data[i];
        b = (i < skip) ? (u_char) scheme[i] : host->data[i - skip];

        a = (a >= 'A' && a <= 'Z') ? a + 0x20 : a;
        b = (b >= 'A' && b <= 'Z') ? b + 0x20 : b;

        if (a != b) {
            return 0;
        }
    }

    return 1;
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
    ngx_uint_t                     i, n, k, base;
    const char                    *a, *name, *value;
    ngx_http_tracktik_pg_query_t  *q;

    q = fuzz_args.query;

    if (q == NULL || fuzz_args.status || fuzz_args.started) {
        abort();
    }

    want = ngx_pnalloc(r->pool, 4096);
    p = ngx_sprintf(want, "SELECT status, body, user_email, client_id, "
                          "next FROM %s(", rt->function);

    /* a session's route: p_token first, the cookie's; a link's: none */

    base = 0;

    if (rt->kind == FUZZ_SESSION) {
        if (strcmp(q->values[0], FUZZ_TOKEN) != 0) {
            abort();                    /* p_token is not the cookie's */
        }

        p = ngx_sprintf(p, "p_token => $1");
        base = 1;
    }

    for (n = 0; rt->args[n]; n++) {
        a = rt->args[n];
        name = strchr(a, ':') + 1;
        k = base + n;
        p = ngx_sprintf(p, "%s%s => $%ui", k ? ", " : "", name, k + 1);

        if ((ngx_uint_t) q->nparams <= k) {
            fprintf(stderr, "call: %s\n", q->command);
            abort();                    /* an argument missing */
        }

        value = q->values[k];

        if (ngx_strncmp(a, "q:", 2) == 0) {
            u_char  *v = fuzz_args_query(r, args, name + 2, &len);

            if (v == NULL) {
                abort();                /* passed a value to refuse */
            }

            if (strlen(value) != len || memcmp(value, v, len) != 0) {
                fprintf(stderr, "argument %s is not its decoded value\n",
                        name);
                abort();
            }

        } else if (ngx_strncmp(a, "id:", 3) == 0) {
            if (strlen(value) != id->len
                || memcmp(value, id->data, id->len) != 0)
            {
                abort();
            }

        } else if (ngx_strncmp(a, "resume:", 7) == 0) {
            if (strcmp(value,
                       fuzz_args_id(resume) ? (char *) resume->data : "")
                != 0)
            {
                abort();                /* Last-Event-ID not an id */
            }

        } else if (value[0] != '\0') {
            abort();                    /* a stream starts at the start */
        }

        if (!fuzz_args_text((u_char *) value, strlen(value))) {
            abort();                    /* PostgreSQL would refuse it */
        }
    }

    *p++ = ')';
    *p = '\0';

    if ((ngx_uint_t) q->nparams != base + n
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
    ngx_uint_t                      i, flags, method, refused, allow;
    const char                     *name;
    ngx_str_t                      *series;
    fuzz_route_t                   *rt;
    fuzz_method_t                  *m;
    ngx_array_t                     secrets;
    ngx_http_request_t             *r;
    ngx_http_core_loc_conf_t        clcf;
    ngx_http_tracktik_loc_conf_t    tlcf;
    ngx_http_tracktik_main_conf_t   tmcf;
    ngx_http_tracktik_secret_t     *secret;
    u_char                          mac[EVP_MAX_MD_SIZE], b64[64];
    unsigned int                    maclen;

    fuzz_args_utf8(data, size);

    if (size < 1) {
        return 0;
    }

    flags = data[0];
    m = &fuzz_methods[(flags & 3) | ((flags & 8) >> 1)];
    method = m->method;

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
    r->method_name.data = (u_char *) m->name;
    r->method_name.len = strlen(m->name);

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

    rt = fuzz_args_route(&path, method, &id, &allow, &name);

    /* counted under its path's name, or as no route */

    if (!fuzz_args.counted) {
        abort();
    }

    if (name == NULL) {
        if (fuzz_args.metrics != NGX_HTTP_TRACKTIK_METRICS_ROUTES) {
            abort();
        }

    } else {
        series = ngx_http_tracktik_portal_route_name(fuzz_args.metrics);

        if (fuzz_args.metrics >= NGX_HTTP_TRACKTIK_METRICS_ROUTES
            || series == NULL || series->len != strlen(name)
            || memcmp(series->data, name, series->len) != 0)
        {
            fprintf(stderr, "counted as route %lu, not %s\n",
                    (unsigned long) fuzz_args.metrics, name);
            abort();
        }
    }

    /* no route of the path takes the method: 405, naming those that do */

    if (rt == NULL) {
        if (allow == 0) {               /* no such path */
            allow = NGX_HTTP_GET | NGX_HTTP_HEAD;
        }

        if (allow & method) {
            if (rc != NGX_HTTP_NOT_FOUND || fuzz_args.allow) {
                abort();
            }
            goto done;
        }

        if (rc != NGX_HTTP_NOT_ALLOWED) {
            fprintf(stderr, "%s of a route without it answered %ld\n",
                    m->name, (long) rc);
            abort();
        }

        fuzz_args_allow(allow);

        goto done;
    }

    if (fuzz_args.allow) {
        abort();                        /* Allow on a route's answer */
    }

    /*
     * what changes something must come from this very origin, but for a
     * link's route (no session: its authority is its token)
     */

    if (rt->method != NGX_HTTP_GET && rt->kind != FUZZ_OPEN
        && !fuzz_args_same_origin(&f[3], &f[4]))
    {
        if (rc != NGX_HTTP_FORBIDDEN) {
            fprintf(stderr, "a cross-origin %s answered %ld\n", m->name,
                    (long) rc);
            abort();
        }
        goto done;
    }

    if (rc == NGX_HTTP_FORBIDDEN) {
        fprintf(stderr, "refused a %s it should not check (%s)\n",
                m->name, fuzz_args.error ? fuzz_args.error : "");
        abort();
    }

    if (rt->kind == FUZZ_LOGIN || rt->kind == FUZZ_LOGOUT) {
        if (rc != NGX_DONE || fuzz_args.started == NULL
            || strcmp(fuzz_args.started, rt->function) != 0
            || fuzz_args.query || fuzz_args.status)
        {
            abort();
        }
        goto done;
    }

    if (rt->kind == FUZZ_SESSION && !(flags & 4)) {
        if (rc != NGX_HTTP_UNAUTHORIZED) {
            fprintf(stderr, "no session answered %ld\n", (long) rc);
            abort();
        }
        goto done;
    }

    if (id.data && !fuzz_args_id(&id)) {
        if (rc != NGX_HTTP_NOT_FOUND) {
            fprintf(stderr, "a bad id answered %ld\n", (long) rc);
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
            fprintf(stderr, "a bad argument answered %ld\n", (long) rc);
            abort();
        }
        goto done;
    }

    if (rc != NGX_DONE) {
        fprintf(stderr, "a good request answered %ld (%s)\n", (long) rc,
                fuzz_args.error ? fuzz_args.error : "");
        abort();
    }

    t = f[2];
    fuzz_args_call(r, rt, &args, &id, &t);

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
