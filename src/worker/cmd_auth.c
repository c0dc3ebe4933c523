/*
 * cmd_auth: `auth login`, `auth status`, `auth check`: the tenant's
 * OAuth2 session, stored in the database for every worker to share.
 * Passwords and refresh tokens come from stdin, client secrets from a
 * file: never from arguments, which other users of the machine can see.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "cmd.h"
#include "oauth.h"


#define TT_TOKEN_MAX  (64 * 1024)


const tt_option_t  tt_cmd_auth_login_options[] = {
    { "client-id", "ID", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_auth_login_opts_t, client_id), 0, 0, NULL, NULL, NULL,
      "the OAuth client (default: the one stored at the last login)" },
    { "client-secret-file", "FILE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_auth_login_opts_t, client_secret_file), 0, 0, NULL, NULL,
      NULL, "its secret, the first line of FILE" },
    { "username", "USER", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_auth_login_opts_t, username), 0, 0, NULL, NULL, NULL,
      "the API user of the password grant" },
    { "password-stdin", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_auth_login_opts_t, password_stdin), 0, 0, NULL, NULL,
      NULL, "its password from the first line of stdin" },
    { "refresh-token-stdin", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_auth_login_opts_t, refresh_token_stdin), 0, 0, NULL,
      NULL, NULL, "or a refresh token from stdin (the refresh_token "
      "grant)" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


int
tt_cmd_auth_login(tt_cmd_args_t *args)
{
    int                    rc;
    char                  *client_id, *client_secret, *secret;
    char                   err[1024];
    double                 expires_in;
    tt_channel_t           ch;
    tt_oauth_login_t       login;
    tt_auth_login_opts_t  *o;

    o = args->opts;

    if (args->cfg.api_url == NULL) {
        tt_cmd_error("auth login needs --url https://TENANT (the tenant's "
                     "base URL)");
        return TT_EXIT_USAGE;
    }
    if (o->password_stdin == o->refresh_token_stdin) {
        tt_cmd_error("auth login needs exactly one of --username USER "
                     "--password-stdin or --refresh-token-stdin");
        return TT_EXIT_USAGE;
    }
    if (o->password_stdin && o->username == NULL) {
        tt_cmd_error("--password-stdin needs --username USER");
        return TT_EXIT_USAGE;
    }
    if ((o->client_id == NULL) != (o->client_secret_file == NULL)) {
        tt_cmd_error("pass --client-id and --client-secret-file together");
        return TT_EXIT_USAGE;
    }

    if (tt_cmd_open_tenant(args, &ch) != 0) {
        return 1;
    }

    rc = 1;
    secret = NULL;
    client_id = NULL;
    client_secret = NULL;

    if (o->client_id != NULL) {
        client_id = strdup(o->client_id);
        client_secret = tt_cmd_read_file_line(o->client_secret_file,
                                              "the client secret file");
        if (client_id == NULL || client_secret == NULL) {
            goto done;
        }

    } else if (tt_oauth_stored_client(&ch.api, &client_id, &client_secret,
                                      err, sizeof(err)) != 0)
    {
        tt_cmd_error("%s", err);
        goto done;
    }

    secret = tt_cmd_read_secret(o->password_stdin ? "password"
                                                  : "refresh token",
                                TT_TOKEN_MAX);
    if (secret == NULL) {
        goto done;
    }

    memset(&login, 0, sizeof(login));
    login.client_id = client_id;
    login.client_secret = client_secret;
    login.username = o->username;
    login.password = o->password_stdin ? secret : NULL;
    login.refresh_token = o->password_stdin ? NULL : secret;

    if (tt_oauth_login(&ch.api, &login, &expires_in, err, sizeof(err)) != 0)
    {
        tt_cmd_error("%s", err);
        goto done;
    }

    printf("logged in to %s as OAuth client %s; access token valid for "
           "%.0f s, refreshed automatically\n", ch.api.base_url, client_id,
           expires_in);
    rc = 0;

done:

    tt_cmd_wipe_free(secret);
    tt_cmd_wipe_free(client_secret);
    free(client_id);
    tt_channel_close(&ch);

    return rc;
}


int
tt_cmd_auth_status(tt_cmd_args_t *args)
{
    int                rc;
    char               err[1024];
    tt_channel_t       ch;
    tt_oauth_status_t  st;

    if (tt_cmd_open_tenant(args, &ch) != 0) {
        return 1;
    }

    rc = tt_oauth_status(&ch.api, &st, err, sizeof(err));

    if (rc < 0) {
        tt_cmd_error("%s", err);
        rc = 1;

    } else if (rc == 0) {
        tt_cmd_error("no TrackTik session for %s", ch.api.base_url);
        rc = 1;

    } else {
        printf("tenant          %s\n"
               "oauth client    %s\n"
               "logged in at    %s\n"
               "refreshed at    %s\n"
               "refreshes       %s\n"
               "access token    %s s left\n"
               "state           %s%s%s\n",
               st.tenant, st.client_id, st.logged_in_at,
               st.refreshed_at[0] ? st.refreshed_at : "never",
               st.refreshes, st.expires_in[0] ? st.expires_in : "0",
               st.needs_login
                   ? "NEEDS LOGIN (run tracktik-worker auth login)" : "ok",
               st.needs_login ? ": " : "",
               st.needs_login ? st.last_error : "");
        rc = st.needs_login ? 1 : 0;
    }

    tt_channel_close(&ch);
    return rc;
}


int
tt_cmd_auth_check(tt_cmd_args_t *args)
{
    int           rc;
    char          err[1024];
    tt_channel_t  ch;

    if (tt_cmd_open_tenant(args, &ch) != 0) {
        return 1;
    }

    rc = tt_oauth_check(&ch.api, err, sizeof(err));

    if (rc != 0) {
        tt_cmd_error("%s", err);
    } else {
        printf("ok: %s answered HTTP 200\n", ch.api.base_url);
    }

    tt_channel_close(&ch);
    return rc == 0 ? 0 : 1;
}
