/*
 * oauth: password and refresh_token grants against
 * {base}/rest/oauth2/access_token, and the shared session row.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "db.h"
#include "log.h"
#include "oauth.h"
#include "ratelimit.h"
#include "tt_json.h"


#define TT_OAUTH_PATH  "/rest/oauth2/access_token"


typedef struct {
    char    *access_token;
    char    *refresh_token;
    double   expires_in;
} tt_token_pair_t;


static tt_api_rc_e tt_oauth_load(tt_api_t *api, int locked, char **refresh,
    char **client_id, char **client_secret, char *err, size_t errlen);
static tt_api_rc_e tt_oauth_refresh(tt_api_t *api, char *err,
    size_t errlen);
static tt_api_rc_e tt_oauth_grant(tt_api_t *api, const char *form,
    tt_token_pair_t *pair, char *reason, size_t reasonlen);
static int tt_oauth_store(tt_api_t *api, const char *client_id,
    const char *client_secret, const tt_token_pair_t *pair, int login,
    char *err, size_t errlen);
static char *tt_oauth_form(const char *const *kv);
static void tt_oauth_wipe_free(char *s);
static void tt_pair_free(tt_token_pair_t *pair);


tt_api_rc_e
tt_oauth_token(tt_api_t *api, char *err, size_t errlen)
{
    tt_api_rc_e  rc;

    if (api->access_token != NULL && !api->token_rejected
        && tt_api_now() < api->refresh_at)
    {
        return TT_API_OK;
    }

    /* another process may have refreshed: use what is stored */
    rc = tt_oauth_load(api, 0, NULL, NULL, NULL, err, errlen);
    if (rc != TT_API_RETRY) {
        return rc;
    }

    return tt_oauth_refresh(api, err, errlen);
}


void
tt_oauth_rejected(tt_api_t *api)
{
    api->token_rejected = 1;
}


/*
 * Reads the session row.  TT_API_OK: a usable access token is now cached;
 * TT_API_RETRY: none is, a refresh is needed (with locked, the row is
 * locked and *refresh etc. hold what the refresh needs).
 */
static tt_api_rc_e
tt_oauth_load(tt_api_t *api, int locked, char **refresh, char **client_id,
    char **client_secret, char *err, size_t errlen)
{
    char         what[64];
    double       remaining;
    PGresult    *res;
    const char  *params[1], *token;

    params[0] = api->base_url;

    res = PQexecParams(api->conn,
              locked
              ? "SELECT access_token,"
                "       extract(epoch FROM access_refresh_at"
                "                          - clock_timestamp()),"
                "       needs_login_since IS NOT NULL, last_error,"
                "       refresh_token, client_id, client_secret"
                "  FROM tracktik_oauth WHERE base_url = $1 FOR UPDATE"
              : "SELECT access_token,"
                "       extract(epoch FROM access_refresh_at"
                "                          - clock_timestamp()),"
                "       needs_login_since IS NOT NULL, last_error"
                "  FROM tracktik_oauth WHERE base_url = $1",
              1, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(what, sizeof(what), "reading the OAuth session");
        tt_db_error(api->conn, res, what, err, errlen);
        PQclear(res);
        return TT_API_ERROR;
    }

    if (PQntuples(res) == 0) {
        snprintf(err, errlen, "no TrackTik session for %s: run "
                 "`tracktik-worker auth login --url %s ...` first",
                 api->base_url, api->base_url);
        PQclear(res);
        return TT_API_LOGIN;
    }

    if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
        snprintf(err, errlen, "the TrackTik session for %s needs a new "
                 "login (%s): API work is stopped until an operator runs "
                 "`tracktik-worker auth login --url %s ...`", api->base_url,
                 PQgetisnull(res, 0, 3) ? "refresh token refused"
                                        : PQgetvalue(res, 0, 3),
                 api->base_url);
        PQclear(res);
        return TT_API_LOGIN;
    }

    token = PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0);
    remaining = PQgetisnull(res, 0, 1) ? -1 : atof(PQgetvalue(res, 0, 1));

    /* usable: fresh, and not the token the API just refused */
    if (token != NULL && remaining > 0
        && !(api->token_rejected && api->access_token != NULL
             && strcmp(api->access_token, token) == 0))
    {
        if (api->access_token == NULL
            || strcmp(api->access_token, token) != 0)
        {
            free(api->access_token);
            api->access_token = strdup(token);
        }
        api->refresh_at = tt_api_now() + remaining;
        api->token_rejected = 0;
        PQclear(res);
        return api->access_token ? TT_API_OK : TT_API_ERROR;
    }

    if (locked) {
        *refresh = PQgetisnull(res, 0, 4) ? NULL
                                          : strdup(PQgetvalue(res, 0, 4));
        *client_id = strdup(PQgetvalue(res, 0, 5));
        *client_secret = strdup(PQgetvalue(res, 0, 6));
    }

    PQclear(res);
    return TT_API_RETRY;
}


static tt_api_rc_e
tt_oauth_refresh(tt_api_t *api, char *err, size_t errlen)
{
    int              tries;
    char            *refresh, *client_id, *client_secret, *form;
    char             reason[512], url[600], q[700];
    const char      *kv[9];
    tt_api_rc_e      rc;
    tt_token_pair_t  pair;

    snprintf(url, sizeof(url), "%s" TT_OAUTH_PATH, api->base_url);

    for (tries = 0; ; tries++) {
        /* the token endpoint counts against the budget too; take the
         * slot before locking so the lock is held only for the refresh */
        rc = tt_ratelimit_take(api, err, errlen);
        if (rc != TT_API_OK) {
            return rc;
        }

        if (tt_db_exec(api->conn, "BEGIN", PGRES_COMMAND_OK, err, errlen)) {
            return TT_API_ERROR;
        }

        refresh = NULL;
        client_id = NULL;
        client_secret = NULL;

        rc = tt_oauth_load(api, 1, &refresh, &client_id, &client_secret, err,
                           errlen);

        if (rc != TT_API_RETRY) {
            /* someone else refreshed meanwhile (OK), or no session */
            tt_db_exec(api->conn, rc == TT_API_OK ? "COMMIT" : "ROLLBACK",
                       PGRES_COMMAND_OK, reason, sizeof(reason));
            return rc;
        }

        if (refresh == NULL || client_id == NULL || client_secret == NULL) {
            tt_db_exec(api->conn, "ROLLBACK", PGRES_COMMAND_OK, reason,
                       sizeof(reason));
            free(client_id);
            tt_oauth_wipe_free(client_secret);
            tt_oauth_wipe_free(refresh);
            snprintf(err, errlen, "the TrackTik session for %s has no "
                     "refresh token: run `tracktik-worker auth login --url "
                     "%s ...`", api->base_url, api->base_url);
            return TT_API_LOGIN;
        }

        kv[0] = "grant_type";    kv[1] = "refresh_token";
        kv[2] = "refresh_token"; kv[3] = refresh;
        kv[4] = "client_id";     kv[5] = client_id;
        kv[6] = "client_secret"; kv[7] = client_secret;
        kv[8] = NULL;

        form = tt_oauth_form(kv);
        tt_oauth_wipe_free(refresh);

        if (form == NULL) {
            tt_db_exec(api->conn, "ROLLBACK", PGRES_COMMAND_OK, reason,
                       sizeof(reason));
            free(client_id);
            tt_oauth_wipe_free(client_secret);
            snprintf(err, errlen, "out of memory");
            return TT_API_ERROR;
        }

        memset(&pair, 0, sizeof(pair));
        rc = tt_oauth_grant(api, form, &pair, reason, sizeof(reason));
        tt_oauth_wipe_free(form);

        if (rc == TT_API_OK) {
            /* the old refresh token is used up now: store the new pair
             * and COMMIT before anyone uses the new access token */

            if (api->set.refresh_hold_ms > 0) {
                /* fault injection: the window a crash can hit */
                tt_log(TT_LOG_INFO, "event=oauth_refresh_hold ms=%d",
                       api->set.refresh_hold_ms);
                tt_api_sleep(api, api->set.refresh_hold_ms / 1000.0);
            }
            if (tt_oauth_store(api, client_id, client_secret, &pair, 0, err,
                               errlen) != 0
                || tt_db_exec(api->conn, "COMMIT", PGRES_COMMAND_OK, err,
                              errlen) != 0)
            {
                tt_db_exec(api->conn, "ROLLBACK", PGRES_COMMAND_OK, reason,
                           sizeof(reason));
                snprintf(reason, sizeof(reason), "%s", err);
                snprintf(err, errlen, "TrackTik issued a new token pair but "
                         "it could not be stored (%s); the old refresh "
                         "token is used up, so run `tracktik-worker auth "
                         "login --url %s ...`", reason, api->base_url);
                free(client_id);
                tt_oauth_wipe_free(client_secret);
                tt_pair_free(&pair);
                return TT_API_LOGIN;
            }

            free(client_id);
            tt_oauth_wipe_free(client_secret);
            free(api->access_token);
            api->access_token = pair.access_token;
            pair.access_token = NULL;
            api->refresh_at = tt_api_now() + pair.expires_in
                              - (pair.expires_in * 0.2 < 60
                                 ? pair.expires_in * 0.2 : 60);
            api->token_rejected = 0;
            tt_pair_free(&pair);

            tt_log(TT_LOG_INFO, "event=oauth_refreshed tenant=%s "
                   "expires_in=%.0f", tt_log_quote(api->base_url, q,
                   sizeof(q)), api->refresh_at - tt_api_now());
            return TT_API_OK;
        }

        free(client_id);
        tt_oauth_wipe_free(client_secret);

        if (rc == TT_API_LOGIN) {
            /* refused: remember it so no process asks again */
            const char  *params[2];
            PGresult    *res;

            params[0] = api->base_url;
            params[1] = reason;
            res = PQexecParams(api->conn,
                      "UPDATE tracktik_oauth"
                      "   SET needs_login_since = now(), last_error = $2,"
                      "       access_token = NULL"
                      " WHERE base_url = $1", 2, NULL, params, NULL, NULL, 0);
            PQclear(res);
            tt_db_exec(api->conn, "COMMIT", PGRES_COMMAND_OK, err, errlen);

            snprintf(err, errlen, "TrackTik refused the stored refresh token "
                     "(%s). API work is stopped: run `tracktik-worker auth "
                     "login --url %s ...` to log in again. (A refresh token "
                     "is used up once TrackTik receives it: if a worker "
                     "died between receiving a new pair and storing it, "
                     "this is the result.)", reason, api->base_url);
            return TT_API_LOGIN;
        }

        tt_db_exec(api->conn, "ROLLBACK", PGRES_COMMAND_OK, err, errlen);

        if (rc == TT_API_RETRY && strncmp(reason, "HTTP 429", 8) == 0
            && tries < 20)
        {
            continue;   /* tt_oauth_grant deferred the whole budget */
        }

        snprintf(err, errlen, "refreshing the TrackTik access token failed "
                 "(%s); will try again. If TrackTik did receive the request, "
                 "the next refresh reports that a login is needed", reason);
        return rc == TT_API_ERROR ? TT_API_ERROR : TT_API_RETRY;
    }
}


/* one grant request; TT_API_LOGIN when TrackTik refused the credentials */
static tt_api_rc_e
tt_oauth_grant(tt_api_t *api, const char *form, tt_token_pair_t *pair,
    char *reason, size_t reasonlen)
{
    char              url[600], cerr[512];
    yajl_val          tree, v;
    tt_api_rc_e       rc;
    const char       *at[] = { "access_token", NULL };
    const char       *rt[] = { "refresh_token", NULL };
    const char       *ei[] = { "expires_in", NULL };
    const char       *er[] = { "error", NULL };
    tt_http_answer_t  answer;

    snprintf(url, sizeof(url), "%s" TT_OAUTH_PATH, api->base_url);

    rc = tt_api_post_form(api, url, form, &answer, cerr, sizeof(cerr));
    if (rc != TT_API_OK) {
        snprintf(reason, reasonlen, "%s", cerr);
        return rc;
    }

    if (answer.status == 200) {
        tree = tt_json_tree(answer.body, TT_JSON_MAX_DEPTH, NULL, 0);
        v = tree ? yajl_tree_get(tree, at, yajl_t_string) : NULL;
        pair->access_token = v ? strdup(v->u.string) : NULL;
        v = tree ? yajl_tree_get(tree, rt, yajl_t_string) : NULL;
        pair->refresh_token = v ? strdup(v->u.string) : NULL;
        v = tree ? yajl_tree_get(tree, ei, yajl_t_number) : NULL;
        pair->expires_in = v ? YAJL_GET_DOUBLE(v) : 3600;
        if (tree != NULL) {
            yajl_tree_free(tree);
        }
        memset(answer.body, 0, answer.len);
        tt_http_answer_free(&answer);

        if (pair->access_token == NULL || pair->refresh_token == NULL) {
            tt_pair_free(pair);
            snprintf(reason, reasonlen, "the token endpoint's answer has no "
                     "access_token or refresh_token");
            return TT_API_RETRY;
        }
        if (pair->expires_in < 1) {
            pair->expires_in = 1;
        }
        return TT_API_OK;
    }

    tt_api_error_text(&answer, reason, reasonlen);

    if (answer.status == 429) {
        tt_ratelimit_defer(api, answer.retry_after >= 0
                                ? answer.retry_after
                                : tt_api_backoff(&api->set, 2));
        tt_http_answer_free(&answer);
        return TT_API_RETRY;
    }

    rc = TT_API_RETRY;

    if (answer.status == 400 || answer.status == 401) {
        tree = tt_json_tree(answer.body, TT_JSON_MAX_DEPTH, NULL, 0);
        v = tree ? yajl_tree_get(tree, er, yajl_t_string) : NULL;
        if (v != NULL && (strcmp(v->u.string, "invalid_grant") == 0
                          || strcmp(v->u.string, "invalid_client") == 0))
        {
            rc = TT_API_LOGIN;
        } else {
            rc = TT_API_ERROR;
        }
        if (tree != NULL) {
            yajl_tree_free(tree);
        }
    } else if (answer.status == 403) {
        /* TrackTik blocks an IP for 2 h after 40 failed logins */
        rc = TT_API_ERROR;
    }

    tt_http_answer_free(&answer);
    return rc;
}


static int
tt_oauth_store(tt_api_t *api, const char *client_id,
    const char *client_secret, const tt_token_pair_t *pair, int login,
    char *err, size_t errlen)
{
    char         expires[32];
    PGresult    *res;
    const char  *params[6];

    snprintf(expires, sizeof(expires), "%.3f", pair->expires_in);

    params[0] = api->base_url;
    params[1] = client_id;
    params[2] = client_secret;
    params[3] = pair->access_token;
    params[4] = pair->refresh_token;
    params[5] = expires;

    res = PQexecParams(api->conn, login
              ? "INSERT INTO tracktik_oauth AS o (base_url, client_id,"
                "    client_secret, access_token, refresh_token,"
                "    access_expires_at, access_refresh_at)"
                " VALUES ($1, $2, $3, $4, $5,"
                "    clock_timestamp() + make_interval(secs => $6),"
                "    clock_timestamp() + make_interval(secs => $6"
                "        - least(60, $6 * 0.2)))"
                " ON CONFLICT (base_url) DO UPDATE"
                "   SET client_id = EXCLUDED.client_id,"
                "       client_secret = EXCLUDED.client_secret,"
                "       access_token = EXCLUDED.access_token,"
                "       refresh_token = EXCLUDED.refresh_token,"
                "       access_expires_at = EXCLUDED.access_expires_at,"
                "       access_refresh_at = EXCLUDED.access_refresh_at,"
                "       logged_in_at = now(), needs_login_since = NULL,"
                "       last_error = NULL"
              : "UPDATE tracktik_oauth"
                "   SET access_token = $4, refresh_token = $5,"
                "       access_expires_at = clock_timestamp()"
                "                           + make_interval(secs => $6),"
                "       access_refresh_at = clock_timestamp()"
                "           + make_interval(secs => $6 - least(60, $6 * 0.2)),"
                "       refreshed_at = now(),"
                "       refresh_count = refresh_count + 1, last_error = NULL"
                " WHERE base_url = $1 AND client_id = $2"
                "   AND client_secret = $3",
              6, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_COMMAND_OK
        || strcmp(PQcmdTuples(res), "1") != 0)
    {
        tt_db_error(api->conn, res, "storing the OAuth session", err,
                    errlen);
        PQclear(res);
        return -1;
    }

    PQclear(res);
    return 0;
}


int
tt_oauth_stored_client(tt_api_t *api, char **client_id,
    char **client_secret, char *err, size_t errlen)
{
    PGresult    *res;
    const char  *params[1];

    *client_id = NULL;
    *client_secret = NULL;

    params[0] = api->base_url;
    res = PQexecParams(api->conn, "SELECT client_id, client_secret"
                                  "  FROM tracktik_oauth WHERE base_url = $1",
                       1, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        *client_id = strdup(PQgetvalue(res, 0, 0));
        *client_secret = strdup(PQgetvalue(res, 0, 1));
    }
    PQclear(res);

    if (*client_id == NULL || *client_secret == NULL) {
        free(*client_id);
        tt_oauth_wipe_free(*client_secret);
        *client_id = NULL;
        *client_secret = NULL;
        snprintf(err, errlen, "no OAuth client stored for %s: pass "
                 "--client-id ID --client-secret-file FILE", api->base_url);
        return -1;
    }

    return 0;
}


int
tt_oauth_login(tt_api_t *api, const tt_oauth_login_t *login,
    double *expires_in, char *err, size_t errlen)
{
    int              rc;
    char            *form, reason[512], why[1024];
    const char      *kv[13];
    tt_token_pair_t  pair;

    if (login->refresh_token == NULL) {
        kv[0] = "grant_type"; kv[1] = "password";
        kv[2] = "username";   kv[3] = login->username;
        kv[4] = "password";   kv[5] = login->password;
        kv[6] = "client_id";  kv[7] = login->client_id;
        kv[8] = "client_secret"; kv[9] = login->client_secret;
        kv[10] = NULL;
    } else {
        kv[0] = "grant_type";    kv[1] = "refresh_token";
        kv[2] = "refresh_token"; kv[3] = login->refresh_token;
        kv[4] = "client_id";     kv[5] = login->client_id;
        kv[6] = "client_secret"; kv[7] = login->client_secret;
        kv[8] = NULL;
    }

    form = tt_oauth_form(kv);
    if (form == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    if (tt_ratelimit_take(api, err, errlen) != TT_API_OK) {
        tt_oauth_wipe_free(form);
        return -1;
    }

    memset(&pair, 0, sizeof(pair));
    rc = tt_oauth_grant(api, form, &pair, reason, sizeof(reason));
    tt_oauth_wipe_free(form);

    if (rc != TT_API_OK) {
        snprintf(err, errlen, "login to %s failed: %s%s", api->base_url,
                 reason, rc == TT_API_LOGIN
                 ? " (check the user, password or refresh token and the "
                   "OAuth client id and secret)" : "");
        return -1;
    }

    /* the new pair is stored before anything uses it */
    if (tt_oauth_store(api, login->client_id, login->client_secret, &pair, 1,
                       why, sizeof(why)) != 0)
    {
        tt_pair_free(&pair);
        snprintf(err, errlen, "logged in, but %s; run auth login again once "
                 "the database is writable", why);
        return -1;
    }

    *expires_in = pair.expires_in;
    tt_pair_free(&pair);

    return 0;
}


int
tt_oauth_status(tt_api_t *api, tt_oauth_status_t *st, char *err,
    size_t errlen)
{
    PGresult    *res;
    const char  *params[1];

    memset(st, 0, sizeof(*st));

    params[0] = api->base_url;
    res = PQexecParams(api->conn,
              "SELECT base_url, client_id, logged_in_at, refreshed_at,"
              "       refresh_count,"
              "       greatest(0, extract(epoch FROM access_expires_at"
              "                                  - clock_timestamp()))::int,"
              "       needs_login_since IS NOT NULL, coalesce(last_error, '')"
              "  FROM tracktik_oauth WHERE base_url = $1",
              1, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        tt_db_error(api->conn, res, "reading tracktik_oauth", err, errlen);
        PQclear(res);
        return -1;
    }

    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }

#define TT_COPY(field, col)                                                 \
    snprintf(st->field, sizeof(st->field), "%s", PQgetvalue(res, 0, col))

    TT_COPY(tenant, 0);
    TT_COPY(client_id, 1);
    TT_COPY(logged_in_at, 2);
    TT_COPY(refreshed_at, 3);
    TT_COPY(refreshes, 4);
    TT_COPY(expires_in, 5);
    TT_COPY(last_error, 7);

#undef TT_COPY

    st->needs_login = strcmp(PQgetvalue(res, 0, 6), "t") == 0;

    PQclear(res);
    return 1;
}


int
tt_oauth_check(tt_api_t *api, char *err, size_t errlen)
{
    char              reason[512];
    tt_http_answer_t  answer;

    if (tt_api_request(api, "GET", "/rest/v1/accounts?limit=1", NULL,
                       &answer, err, errlen) != TT_API_OK)
    {
        return -1;
    }

    if (answer.status != 200) {
        snprintf(err, errlen, "TrackTik answered %s",
                 tt_api_error_text(&answer, reason, sizeof(reason)));
        tt_http_answer_free(&answer);
        return -1;
    }

    tt_http_answer_free(&answer);
    return 0;
}


/* key=value&... with both escaped; the caller wipes and frees it */
static char *
tt_oauth_form(const char *const *kv)
{
    char    *out, *p;
    size_t   len, i;

    len = 1;
    for (i = 0; kv[i] != NULL; i++) {
        len += strlen(kv[i]) * 3 + 1;
    }

    out = malloc(len);
    if (out == NULL) {
        return NULL;
    }

    p = out;
    *p = '\0';

    for (i = 0; kv[i] != NULL; i++) {
        if (i > 0) {
            *p++ = (i % 2) ? '=' : '&';
        }
        tt_api_escape(kv[i], p, len - (size_t) (p - out));
        p += strlen(p);
    }

    return out;
}


static void
tt_oauth_wipe_free(char *s)
{
    if (s != NULL) {
        memset(s, 0, strlen(s));
        free(s);
    }
}


static void
tt_pair_free(tt_token_pair_t *pair)
{
    tt_oauth_wipe_free(pair->access_token);
    tt_oauth_wipe_free(pair->refresh_token);
    pair->access_token = NULL;
    pair->refresh_token = NULL;
}
