/*
 * api: the TrackTik REST client.  One tt_api_t per process and tenant:
 * a libcurl easy handle, the database connection the shared OAuth2
 * session and request budget live in, and the settings.
 *
 * Every request takes a slot from the shared budget (ratelimit.c) and a
 * valid access token (oauth.c).  GETs are retried on 429 (after the
 * shared Retry-After), 5xx and network errors with exponential backoff and
 * jitter; a POST is retried only when it certainly was not processed (429,
 * 401): otherwise its outcome is unknown and the caller must look it up
 * before posting again.
 */

#ifndef TT_API_H
#define TT_API_H

#include <stddef.h>
#include <libpq-fe.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "config.h"


typedef enum {
    TT_API_OK = 0,      /* an HTTP answer: look at status */
    TT_API_RETRY,       /* transient trouble: try again later */
    TT_API_UNKNOWN,     /* a POST's answer was lost: it may be stored */
    TT_API_LOGIN,       /* the session is gone: `auth login` again */
    TT_API_ERROR        /* configuration or database error */
} tt_api_rc_e;


typedef struct {
    const char  *base_url;       /* https://tenant.example (no slash) */
    int          per_minute;     /* shared request budget */
    int          burst;          /* requests allowed at once */
    int          timeout_ms;     /* per request, below the 30 s gateway */
    int          max_retries;    /* per GET, 5xx/network */
    int          backoff_base_ms;
    int          backoff_cap_ms;
    int          page_size;      /* list pages, at most 1000 */
    int          max_rate_limited; /* 429s in a row before giving up */
    int          refresh_hold_ms; /* tests: pause before the COMMIT */
} tt_api_settings_t;


typedef struct {
    long         status;         /* HTTP status, 0 without an answer */
    char        *body;           /* NUL terminated, malloc()ed */
    size_t       len;
    double       retry_after;    /* seconds, -1 when absent */
    char         content_type[128]; /* the Content-Type header, or "" */
    size_t       limit;          /* the most body bytes accepted */
    int          too_large;      /* the body went over limit */
} tt_http_answer_t;


typedef struct tt_api_s  tt_api_t;

struct tt_api_s {
    PGconn             *conn;
    void               *curl;
    tt_api_settings_t   set;
    char                base_url[512];

    /* the access token this process uses, until refresh_at (monotonic) */
    char               *access_token;
    double              refresh_at;
    int                 token_rejected;  /* the API answered 401 to it */

    volatile int       *stop;    /* set by a signal handler: give up */
};


/* the defaults for a tenant */
void tt_api_settings_default(tt_api_settings_t *set);

/* the defaults, overridden by the --api-* options in cfg */
void tt_api_settings_from(const tt_config_t *cfg, tt_api_settings_t *set);

/* base_url NULL: the only tenant stored in tracktik_oauth */
/*
 * A tenant URL the bearer token may travel to: https://, or http:// only
 * to this machine (127.0.0.0/8, localhost, [::1]: a simulator or a local
 * proxy).  0, or -1 with a message naming what ("--url") in err.
 */
int tt_api_url_check(const char *url, const char *what, char *err,
    size_t errlen);

tt_api_rc_e tt_api_open(tt_api_t *api, PGconn *conn,
    const tt_api_settings_t *set, char *err, size_t errlen);
void tt_api_close(tt_api_t *api);

/*
 * method "GET" or "POST" (body JSON); path "/rest/v1/..." with the query
 * already escaped.  The answer is filled on TT_API_OK and must be freed.
 */
tt_api_rc_e tt_api_request(tt_api_t *api, const char *method,
    const char *path, const char *body, tt_http_answer_t *answer, char *err,
    size_t errlen);

/*
 * An authenticated GET of bytes (a report photo): target is a path
 * ("/uploads/...") or an absolute URL of the same tenant (it must start
 * with the base URL and a '/': the bearer token never goes elsewhere).
 * Retried like any GET.  A body over limit bytes is TT_API_ERROR with
 * answer->too_large set; the answer is filled on TT_API_OK.
 */
tt_api_rc_e tt_api_get_bytes(tt_api_t *api, const char *target, size_t limit,
    tt_http_answer_t *answer, char *err, size_t errlen);

/* one unauthenticated POST (the token endpoint); no retries */
tt_api_rc_e tt_api_post_form(tt_api_t *api, const char *url,
    const char *form, tt_http_answer_t *answer, char *err, size_t errlen);

void tt_http_answer_free(tt_http_answer_t *answer);

/* sleep that returns early when *api->stop is set */
void tt_api_sleep(tt_api_t *api, double seconds);

/* the delay before retry number n (0 based): full jitter in
 * [base * 2^n / 2, base * 2^n], capped */
double tt_api_backoff(const tt_api_settings_t *set, int n);

/* "Retry-After: 7" or an HTTP date; -1 when absent or unreadable */
double tt_api_parse_retry_after(const char *value, double now);

/* monotonic seconds */
double tt_api_now(void);

/* the answer's JSON item: {"data": {...}} or the bare item; NULL if not
 * JSON (*tree is what to yajl_tree_free) */
yajl_val tt_api_item(const tt_http_answer_t *answer, yajl_val *tree);

/* key's id in item: an integer, a numeric string, or an object with an
 * "id" (an included relation); 0 when absent or not positive */
long long tt_api_id(yajl_val item, const char *key);

/* a human-readable reason from an error body, into buf */
const char *tt_api_error_text(const tt_http_answer_t *answer, char *buf,
    size_t size);

/* the JSON text g made, malloc()ed (NULL when out of memory); frees g */
char *tt_api_json_text(yajl_gen g);

/* escapes s for a URL query value into buf */
const char *tt_api_escape(const char *s, char *buf, size_t size);

#endif /* TT_API_H */
