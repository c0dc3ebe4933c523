/*
 * oauth: the tenant's OAuth2 session, shared by every worker process and
 * host through the tracktik_oauth row (sql/006).
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


typedef struct {
    const char  *url;
    const char  *client_id;           /* NULL: the stored one */
    const char  *client_secret_file;  /* NULL: the stored one */
    const char  *username;            /* password grant */
    int          password_stdin;
    int          refresh_token_stdin; /* refresh_token grant */
} tt_auth_login_t;


/* api->access_token valid for a while: cached, stored, or refreshed */
tt_api_rc_e tt_oauth_token(tt_api_t *api, char *err, size_t errlen);

/* the API answered 401 to api->access_token */
void tt_oauth_rejected(tt_api_t *api);

/* `auth login`, `auth status`, `auth check`: exit codes */
int tt_auth_login(const tt_config_t *cfg, const tt_auth_login_t *login);
int tt_auth_status(const tt_config_t *cfg, const char *url);
int tt_auth_check(const tt_config_t *cfg, const char *url);

#endif /* TT_OAUTH_H */
