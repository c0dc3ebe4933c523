/*
 * cmd_users: `users add EMAIL (--client ID [--sites ID,...] |
 * --operator)`, `users passwd EMAIL`, `users disable EMAIL`, `users list`.
 * Passwords come from stdin, never from arguments, which other users of
 * the machine can see.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "users.h"


#define TT_PASSWORD_MAX  1100


const tt_option_t  tt_cmd_users_add_options[] = {
    { "client", "ID", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_users_add_opts_t, client), 0, 0, NULL, NULL, NULL,
      "a client user: sees this TrackTik client's reports" },
    { "sites", "ID,...", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_users_add_opts_t, sites), 0, 0, NULL, NULL, NULL,
      "of these sites only" },
    { "operator", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_users_add_opts_t, operator), 0, 0, NULL, NULL, NULL,
      "an operator: sees every client" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static int tt_cmd_users_password(tt_cmd_args_t *args, tt_user_t *u);


int
tt_cmd_users_add(tt_cmd_args_t *args)
{
    char                  err[1024];
    tt_user_t             u;
    tt_users_add_opts_t  *o;

    o = args->opts;

    u.email = args->argv[0];
    u.client = o->client;
    u.sites = o->sites;
    u.operator = o->operator;

    if (tt_users_check(&u, err, sizeof(err)) != 0) {
        tt_cmd_error("%s", err);
        return TT_EXIT_USAGE;
    }

    return tt_cmd_users_password(args, &u);
}


int
tt_cmd_users_passwd(tt_cmd_args_t *args)
{
    return tt_cmd_users_password(args, NULL);
}


int
tt_cmd_users_disable(tt_cmd_args_t *args)
{
    int      rc;
    char     err[1024];
    PGconn  *conn;

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    rc = tt_users_disable(conn, args->argv[0], err, sizeof(err));
    PQfinish(conn);

    if (rc != 0) {
        tt_cmd_error("%s", err);
        return 1;
    }

    printf("%s disabled; open sessions ended\n", args->argv[0]);
    return 0;
}


int
tt_cmd_users_list(tt_cmd_args_t *args)
{
    char     err[1024];
    PGconn  *conn;

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    return tt_cmd_listing(conn, tt_users_list(conn, err, sizeof(err)),
                          "email\trole\tclient\tsites\tstate", err);
}


/* add (u) or passwd (u NULL): the password from stdin, then the call */
static int
tt_cmd_users_password(tt_cmd_args_t *args, tt_user_t *u)
{
    int          rc;
    char         err[1024], *password;
    PGconn      *conn;
    const char  *email;

    email = args->argv[0];

    password = tt_cmd_read_secret("password", TT_PASSWORD_MAX);
    if (password == NULL) {
        return 1;
    }

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        tt_cmd_wipe_free(password);
        return 1;
    }

    rc = u ? tt_users_add(conn, u, password, err, sizeof(err))
           : tt_users_passwd(conn, email, password, err, sizeof(err));

    tt_cmd_wipe_free(password);
    PQfinish(conn);

    if (rc != 0) {
        tt_cmd_error("%s", err);
        return 1;
    }

    if (u == NULL) {
        printf("password of %s changed; open sessions ended\n", email);
    } else {
        printf("added %s %s%s%s\n", u->operator ? "operator" : "client user",
               email, u->client ? " of client " : "",
               u->client ? u->client : "");
    }

    return 0;
}
