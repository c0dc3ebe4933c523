/*
 * oauth: the tenant's OAuth2 session, shared by every worker process and
 * host through the tracktik_oauth row (sql/migrations/005_tracktik_api.sql).
 *
 * TrackTik's refresh tokens are single use.  So a refresh runs only while
 * holding the row lock (SELECT ... FOR UPDATE): it re-reads the row
 * (another process may have refreshed already and left a fresh access
 * token), posts the refresh grant, stores the new pair and COMMITs, and
 * only then is the new access token used.  Exactly one refresh is in
 * flight per tenant.
 *
 * invalid_grant (the stored refresh token is used up or expired) marks the
 * session as needing a login and stops API work with an error telling the
 * operator to run `tracktik-worker auth login`; nobody retries it.
 *
 * The one case this cannot cover: a worker killed after TrackTik answered
 * a refresh but before the COMMIT.  TrackTik has consumed the old refresh
 * token and the new pair is lost with the process, so the next refresh
 * gets invalid_grant and the operator must log in again (the error says
 * so).  Nothing else is affected: the transaction rolled back.
 */

#ifndef TT_OAUTH_H
#define TT_OAUTH_H

#include "api.h"
#include "config.h"


/* a login: one grant, password or refresh_token */
typedef struct {
    const char  *client_id;
    const char  *client_secret;
    const char  *username;          /* the password grant, with password */
    const char  *password;
    const char  *refresh_token;     /* else the refresh_token grant */
} tt_oauth_login_t;


/* what `auth status` shows; "" when never */
typedef struct {
    char         tenant[512];
    char         client_id[256];
    char         logged_in_at[64];
    char         refreshed_at[64];
    char         refreshes[32];
    char         expires_in[32];    /* seconds the access token has left */
    int          needs_login;
    char         last_error[1024];
} tt_oauth_status_t;


/* api->access_token valid for a while: cached, stored, or refreshed */
tt_api_rc_e tt_oauth_token(tt_api_t *api, char *err, size_t errlen);

/* the API answered 401 to api->access_token */
void tt_oauth_rejected(tt_api_t *api);

/*
 * The OAuth client stored for api's tenant, malloc()ed (the secret to be
 * wiped); -1 with err when there is none.
 */
int tt_oauth_stored_client(tt_api_t *api, char **client_id,
    char **client_secret, char *err, size_t errlen);

/*
 * Logs in: the grant, then the new session stored (replacing any), before
 * anything uses it.  *expires_in: the access token's lifetime.  -1 with
 * err.
 */
int tt_oauth_login(tt_api_t *api, const tt_oauth_login_t *login,
    double *expires_in, char *err, size_t errlen);

/* the stored session: 1, 0 when there is none, -1 with err */
int tt_oauth_status(tt_api_t *api, tt_oauth_status_t *st, char *err,
    size_t errlen);

/* one API call with the session: 0, or -1 with err */
int tt_oauth_check(tt_api_t *api, char *err, size_t errlen);

#endif /* TT_OAUTH_H */
