/*
 * api: HTTP to the tenant through one libcurl easy handle (keep-alive),
 * with the shared budget, the OAuth2 session and the retry policy.
 * Nothing secret is logged: no bodies, no headers, no query strings.
 * What callers do with the bodies is api_body.c.
 */

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "api.h"
#include "db.h"
#include "log.h"
#include "oauth.h"
#include "ratelimit.h"


static tt_api_rc_e tt_api_send(tt_api_t *api, const char *method,
    const char *url, const char *logpath, const char *body, size_t limit,
    tt_http_answer_t *answer, char *err, size_t errlen);
static tt_api_rc_e tt_api_perform(tt_api_t *api, const char *method,
    const char *url, const char *body, const char *content_type,
    const char *token, size_t limit, tt_http_answer_t *answer, char *err,
    size_t errlen);
static size_t tt_api_write(char *ptr, size_t size, size_t n, void *data);
static size_t tt_api_header(char *ptr, size_t size, size_t n, void *data);
static void tt_api_log_path(const char *path, char *buf, size_t size);


#define TT_API_MAX_BODY  (16 * 1024 * 1024)     /* JSON answers */


static int  tt_api_curl_ready;


void
tt_api_settings_default(tt_api_settings_t *set)
{
    memset(set, 0, sizeof(*set));
    set->per_minute = 600;          /* TrackTik allows "thousands" */
    set->burst = 20;
    set->timeout_ms = 20000;        /* the gateway gives up at 30 s */
    set->max_retries = 6;
    set->backoff_base_ms = 500;
    set->backoff_cap_ms = 30000;
    set->page_size = 1000;
    set->max_rate_limited = 50;
}


void
tt_api_settings_from(const tt_config_t *cfg, tt_api_settings_t *set)
{
    tt_api_settings_default(set);

    set->base_url = cfg->api_url;

    if (cfg->api_per_minute > 0) {
        set->per_minute = cfg->api_per_minute;
        set->burst = cfg->api_per_minute / 30 > 1 ? cfg->api_per_minute / 30
                                                  : 1;
    }
    if (cfg->api_timeout_ms > 0) {
        set->timeout_ms = cfg->api_timeout_ms;
    }
    set->refresh_hold_ms = cfg->api_refresh_hold_ms;

    if (cfg->api_backoff_cap_ms > 0) {
        set->backoff_cap_ms = cfg->api_backoff_cap_ms;
        if (set->backoff_base_ms > set->backoff_cap_ms) {
            set->backoff_base_ms = set->backoff_cap_ms;
        }
    }
}


tt_api_rc_e
tt_api_open(tt_api_t *api, PGconn *conn, const tt_api_settings_t *set,
    char *err, size_t errlen)
{
    int          n;
    size_t       len;
    PGresult    *res;
    const char  *url;

    memset(api, 0, sizeof(*api));
    api->conn = conn;
    api->set = *set;
    url = set->base_url;

    if (url == NULL) {
        res = PQexec(conn, "SELECT base_url FROM tracktik_oauth"
                           " ORDER BY base_url LIMIT 2");

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            tt_db_error(conn, res, "reading tracktik_oauth", err, errlen);
            PQclear(res);
            return TT_API_ERROR;
        }

        n = PQntuples(res);

        if (n != 1) {
            snprintf(err, errlen, n == 0
                     ? "no TrackTik session: run `tracktik-worker auth login "
                       "--url https://TENANT ...` first"
                     : "several TrackTik tenants are logged in: pass --url "
                       "to say which");
            PQclear(res);
            return TT_API_ERROR;
        }

        snprintf(api->base_url, sizeof(api->base_url), "%s",
                 PQgetvalue(res, 0, 0));
        PQclear(res);

        if (tt_api_url_check(api->base_url, "the stored session's URL", err,
                             errlen)
            != 0)
        {
            return TT_API_ERROR;
        }

    } else {
        if (tt_api_url_check(url, "--url", err, errlen) != 0) {
            return TT_API_ERROR;
        }

        if (strlen(url) >= sizeof(api->base_url)) {
            snprintf(err, errlen, "--url: longer than %zu characters",
                     sizeof(api->base_url) - 1);
            return TT_API_ERROR;
        }

        snprintf(api->base_url, sizeof(api->base_url), "%s", url);
        len = strlen(api->base_url);
        while (len > 0 && api->base_url[len - 1] == '/') {
            api->base_url[--len] = '\0';
        }

        if (strstr(api->base_url, "://")[3] == '\0') {
            snprintf(err, errlen, "--url \"%s\": no host name", url);
            return TT_API_ERROR;
        }
    }

    api->set.base_url = api->base_url;

    if (!tt_api_curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "libcurl: global initialisation failed");
            return TT_API_ERROR;
        }
        tt_api_curl_ready = 1;
    }

    api->curl = curl_easy_init();
    if (api->curl == NULL) {
        snprintf(err, errlen, "libcurl: cannot create a handle");
        return TT_API_ERROR;
    }

    return TT_API_OK;
}


void
tt_api_close(tt_api_t *api)
{
    if (api->curl != NULL) {
        curl_easy_cleanup(api->curl);
        api->curl = NULL;
    }

    free(api->access_token);
    api->access_token = NULL;
}


tt_api_rc_e
tt_api_request(tt_api_t *api, const char *method, const char *path,
    const char *body, tt_http_answer_t *answer, char *err, size_t errlen)
{
    char  url[4096], logpath[256];

    snprintf(url, sizeof(url), "%s%s", api->base_url, path);
    tt_api_log_path(path, logpath, sizeof(logpath));

    return tt_api_send(api, method, url, logpath, body, TT_API_MAX_BODY,
                       answer, err, errlen);
}


tt_api_rc_e
tt_api_get_bytes(tt_api_t *api, const char *target, size_t limit,
    tt_http_answer_t *answer, char *err, size_t errlen)
{
    char         url[4096], logpath[256];
    size_t       blen;
    const char  *path;

    memset(answer, 0, sizeof(*answer));
    blen = strlen(api->base_url);

    if (target[0] == '/') {
        path = target;
    } else if (strncmp(target, api->base_url, blen) == 0
               && target[blen] == '/')
    {
        path = target + blen;
    } else {
        snprintf(err, errlen, "not a URL of the tenant %s", api->base_url);
        return TT_API_ERROR;
    }

    if (blen + strlen(path) >= sizeof(url)) {
        snprintf(err, errlen, "the URL is too long");
        return TT_API_ERROR;
    }

    memcpy(url, api->base_url, blen);
    memcpy(url + blen, path, strlen(path) + 1);
    tt_api_log_path(path, logpath, sizeof(logpath));

    return tt_api_send(api, "GET", url, logpath, NULL, limit, answer, err,
                       errlen);
}


static tt_api_rc_e
tt_api_send(tt_api_t *api, const char *method, const char *url,
    const char *logpath, const char *body, size_t limit,
    tt_http_answer_t *answer, char *err, size_t errlen)
{
    int          post, retries, n429, n401;
    char         reason[256];
    double       delay;
    tt_api_rc_e  rc;

    post = strcmp(method, "GET") != 0;
    retries = 0;
    n429 = 0;
    n401 = 0;

    for ( ;; ) {
        rc = tt_oauth_token(api, err, errlen);
        if (rc != TT_API_OK) {
            return rc;
        }

        rc = tt_ratelimit_take(api, err, errlen);
        if (rc != TT_API_OK) {
            return rc;
        }

        rc = tt_api_perform(api, method, url, body,
                            post ? "application/json" : NULL,
                            api->access_token, limit, answer, err, errlen);

        if (rc == TT_API_ERROR) {
            return rc;      /* out of memory, or an answer over the limit */
        }

        if (rc != TT_API_OK) {
            if (post) {
                return TT_API_UNKNOWN;
            }
            if (retries >= api->set.max_retries) {
                return TT_API_RETRY;
            }
            delay = tt_api_backoff(&api->set, retries++);
            tt_log(TT_LOG_WARN, "event=api_retry method=%s path=%s "
                   "reason=network delay_ms=%.0f", method, logpath,
                   delay * 1000);
            tt_api_sleep(api, delay);
            continue;
        }

        if (answer->status == 401 && n401 < 3) {
            /* someone refreshed (the old token is revoked), or it expired
             * early: reload the session, refresh only if still needed */
            n401++;
            tt_http_answer_free(answer);
            tt_oauth_rejected(api);
            continue;
        }

        if (answer->status == 429) {
            delay = answer->retry_after >= 0
                    ? answer->retry_after : tt_api_backoff(&api->set, n429);
            n429++;
            tt_http_answer_free(answer);
            tt_log(TT_LOG_WARN, "event=api_rate_limited method=%s path=%s "
                   "retry_after_ms=%.0f", method, logpath, delay * 1000);
            tt_ratelimit_defer(api, delay);

            if (n429 > api->set.max_rate_limited) {
                snprintf(err, errlen, "TrackTik keeps answering 429 Too Many "
                         "Requests: lower --api-rate");
                return TT_API_RETRY;
            }
            continue;
        }

        if (answer->status >= 500) {
            tt_api_error_text(answer, reason, sizeof(reason));

            if (post) {
                snprintf(err, errlen, "%s", reason);
                tt_http_answer_free(answer);
                return TT_API_UNKNOWN;
            }

            if (retries >= api->set.max_retries) {
                snprintf(err, errlen, "%s %s: %s", method, logpath, reason);
                tt_http_answer_free(answer);
                return TT_API_RETRY;
            }

            delay = tt_api_backoff(&api->set, retries++);
            tt_log(TT_LOG_WARN, "event=api_retry method=%s path=%s "
                   "status=%ld delay_ms=%.0f", method, logpath,
                   answer->status, delay * 1000);
            tt_http_answer_free(answer);
            tt_api_sleep(api, delay);
            continue;
        }

        return TT_API_OK;
    }
}


tt_api_rc_e
tt_api_post_form(tt_api_t *api, const char *url, const char *form,
    tt_http_answer_t *answer, char *err, size_t errlen)
{
    return tt_api_perform(api, "POST", url, form,
                          "application/x-www-form-urlencoded", NULL,
                          TT_API_MAX_BODY, answer, err, errlen);
}


static tt_api_rc_e
tt_api_perform(tt_api_t *api, const char *method, const char *url,
    const char *body, const char *content_type, const char *token,
    size_t limit, tt_http_answer_t *answer, char *err, size_t errlen)
{
    char                auth[4200], ctype[128], cerr[CURL_ERROR_SIZE];
    CURL               *c;
    CURLcode            cc;
    struct curl_slist  *headers;

    memset(answer, 0, sizeof(*answer));
    answer->retry_after = -1;
    answer->limit = limit;

    c = api->curl;
    curl_easy_reset(c);

    headers = curl_slist_append(NULL, limit == TT_API_MAX_BODY
                                      ? "Accept: application/json"
                                      : "Accept: image/*");

    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, auth);
        memset(auth, 0, sizeof(auth));
    }

    if (content_type != NULL) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, ctype);
    }

    cerr[0] = '\0';

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) api->set.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) (api->set.timeout_ms < 5000
                             ? api->set.timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tt_api_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, tt_api_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, answer);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "tracktik-worker/1");
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) limit);

    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");

        /*
         * On a reused keep-alive connection that dies without an answer,
         * libcurl silently sends the request again on a new one.  For a
         * POST that TrackTik may already have stored, that is a duplicate
         * behind our back: a POST always gets a connection of its own.
         */
        curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    }

    cc = curl_easy_perform(c);

    curl_slist_free_all(headers);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);

    if (answer->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "the answer is larger than %zu bytes", limit);
        tt_http_answer_free(answer);
        answer->too_large = 1;
        return TT_API_ERROR;
    }

    if (cc != CURLE_OK) {
        /* curl's text names the host and the failure, never the headers */
        snprintf(err, errlen, "no answer from TrackTik (%s)",
                 cerr[0] ? cerr : curl_easy_strerror(cc));
        tt_http_answer_free(answer);
        return TT_API_RETRY;
    }

    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer->status);

    if (answer->body == NULL) {
        answer->body = strdup("");
        if (answer->body == NULL) {
            snprintf(err, errlen, "out of memory");
            return TT_API_ERROR;
        }
    }

    return TT_API_OK;
}


static size_t
tt_api_write(char *ptr, size_t size, size_t n, void *data)
{
    char              *p;
    size_t             len;
    tt_http_answer_t  *a;

    a = data;
    len = size * n;

    if (a->len + len > a->limit) {
        a->too_large = 1;
        return 0;       /* a runaway answer: curl reports a write error */
    }

    p = realloc(a->body, a->len + len + 1);
    if (p == NULL) {
        return 0;
    }

    memcpy(p + a->len, ptr, len);
    a->body = p;
    a->len += len;
    a->body[a->len] = '\0';

    return len;
}


static size_t
tt_api_header(char *ptr, size_t size, size_t n, void *data)
{
    char               value[128];
    size_t             len, i;
    tt_http_answer_t  *a;

    a = data;
    len = size * n;

    if (len > 13 && strncasecmp(ptr, "Content-Type:", 13) == 0) {
        for (i = 13; i < len && isspace((unsigned char) ptr[i]); i++) {
            /* skip */
        }
        while (len > i && isspace((unsigned char) ptr[len - 1])) {
            len--;
        }
        snprintf(a->content_type, sizeof(a->content_type), "%.*s",
                 (int) (len - i), ptr + i);
        return size * n;
    }

    if (len > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
        for (i = 12; i < len && isspace((unsigned char) ptr[i]); i++) {
            /* skip */
        }
        snprintf(value, sizeof(value), "%.*s", (int) (len - i), ptr + i);
        a->retry_after = tt_api_parse_retry_after(value, (double) time(NULL));
    }

    return len;
}


double
tt_api_parse_retry_after(const char *value, double now)
{
    char    buf[128], *end;
    size_t  len;
    double  secs;
    time_t  t;

    while (isspace((unsigned char) *value)) {
        value++;
    }

    snprintf(buf, sizeof(buf), "%s", value);
    len = strlen(buf);
    while (len > 0 && isspace((unsigned char) buf[len - 1])) {
        buf[--len] = '\0';
    }

    if (len == 0) {
        return -1;
    }

    if (isdigit((unsigned char) buf[0])) {
        secs = strtod(buf, &end);
        if (*end != '\0' || !isfinite(secs)) {
            return -1;
        }
        return secs > 3600 ? 3600 : secs;
    }

    t = curl_getdate(buf, NULL);
    if (t == -1) {
        return -1;
    }

    secs = (double) t - now;
    if (secs < 0) {
        return 0;
    }

    return secs > 3600 ? 3600 : secs;
}


double
tt_api_backoff(const tt_api_settings_t *set, int n)
{
    double  d, cap;

    cap = set->backoff_cap_ms / 1000.0;
    d = set->backoff_base_ms / 1000.0 * pow(2, n < 30 ? n : 30);
    if (d > cap) {
        d = cap;
    }

    /* jitter: anywhere in the upper half, so workers spread out */
    return d / 2 + d / 2 * ((double) random() / RAND_MAX);
}


double
tt_api_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


void
tt_api_sleep(tt_api_t *api, double seconds)
{
    double           end, left;
    struct timespec  ts;

    end = tt_api_now() + seconds;

    for ( ;; ) {
        if (api != NULL && api->stop != NULL && *api->stop) {
            return;
        }

        left = end - tt_api_now();
        if (left <= 0) {
            return;
        }

        if (left > 0.1) {
            left = 0.1;
        }

        ts.tv_sec = 0;
        ts.tv_nsec = (long) (left * 1e9);
        nanosleep(&ts, NULL);
    }
}


static void
tt_api_log_path(const char *path, char *buf, size_t size)
{
    size_t  n;

    n = strcspn(path, "?");
    snprintf(buf, size, "%.*s", (int) n, path);
}


int
tt_api_url_check(const char *url, const char *what, char *err, size_t errlen)
{
    size_t       n;
    const char  *host;

    if (strncmp(url, "https://", 8) == 0 && url[8] != '\0') {
        return 0;
    }

    if (strncmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "%s \"%s\": expected the tenant's base URL, "
                 "e.g. https://yourcompany.trackTik.com", what, url);
        return -1;
    }

    host = url + 7;
    n = strcspn(host, ":/?#");

    if (host[0] == '[') {
        n = strcspn(host, "]") + 1;
    }

    if ((n == 9 && strncmp(host, "localhost", 9) == 0)
        || (n == 5 && strncmp(host, "[::1]", 5) == 0)
        || (n >= 9 && strncmp(host, "127.", 4) == 0
            && strspn(host, "0123456789.") == n))
    {
        return 0;
    }

    snprintf(err, errlen, "%s \"%s\": http:// would send the tenant's "
             "tokens in clear text; use https:// (http:// is only for this "
             "machine, e.g. a simulator on 127.0.0.1)", what, url);
    return -1;
}
