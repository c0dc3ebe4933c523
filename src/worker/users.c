/*
 * users: add, re-password, disable and list portal users through the SQL
 * functions of sql/020_portal.sql, so the rules (password length, one
 * client per client user, revoking sessions) live in one place.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "db.h"
#include "users.h"


static int tt_users_password(char *buf, size_t size);
static int tt_users_call(const tt_config_t *cfg, const char *sql,
    int nparams, const char **params, const char *what);


int
tt_users_add(const tt_config_t *cfg, const char *email, const char *client,
    int operator, const char *sites)
{
    char         password[1100], array[1024];
    const char  *p, *params[5];
    size_t       n;
    int          rc;

    if (strlen(email) > 320 || strchr(email, '@') == NULL
        || strpbrk(email, " \t\r\n") != NULL)
    {
        fprintf(stderr, "tracktik-worker: \"%s\" is not an email address\n",
                email);
        return 2;
    }

    if ((client == NULL) == (operator == 0)) {
        fprintf(stderr, "tracktik-worker: users add needs exactly one of "
                "--client ID or --operator\n");
        return 2;
    }

    if (operator && sites != NULL) {
        fprintf(stderr, "tracktik-worker: --sites is for client users; "
                "operators see every site\n");
        return 2;
    }

    if (client != NULL) {
        for (p = client; *p; p++) {
            if (!isdigit((unsigned char) *p)) {
                break;
            }
        }

        if (*client == '\0' || *p != '\0' || strlen(client) > 18) {
            fprintf(stderr, "tracktik-worker: --client: \"%s\" is not a "
                    "TrackTik client id\n", client);
            return 2;
        }
    }

    if (sites != NULL) {
        n = strlen(sites);

        if (n == 0 || n + 3 > sizeof(array)
            || strspn(sites, "0123456789,") != n
            || sites[0] == ',' || sites[n - 1] == ','
            || strstr(sites, ",,") != NULL)
        {
            fprintf(stderr, "tracktik-worker: --sites: expected site ids "
                    "separated by commas, like 1042,1043\n");
            return 2;
        }

        snprintf(array, sizeof(array), "{%s}", sites);
    }

    if (tt_users_password(password, sizeof(password)) != 0) {
        return 1;
    }

    params[0] = email;
    params[1] = password;
    params[2] = operator ? "operator" : "client";
    params[3] = client;
    params[4] = sites ? array : NULL;

    rc = tt_users_call(cfg, "SELECT portal_user_add($1, $2, $3, $4::bigint,"
                       " $5::bigint[])", 5, params, "adding the user");

    memset(password, 0, sizeof(password));

    if (rc == 0) {
        printf("added %s %s%s%s\n", operator ? "operator" : "client user",
               email, client ? " of client " : "", client ? client : "");
    }

    return rc;
}


int
tt_users_passwd(const tt_config_t *cfg, const char *email)
{
    int          rc;
    char         password[1100];
    const char  *params[2];

    if (tt_users_password(password, sizeof(password)) != 0) {
        return 1;
    }

    params[0] = email;
    params[1] = password;

    rc = tt_users_call(cfg, "SELECT portal_user_passwd($1, $2)", 2, params,
                       "changing the password");

    memset(password, 0, sizeof(password));

    if (rc == 0) {
        printf("password of %s changed; open sessions ended\n", email);
    }

    return rc;
}


int
tt_users_disable(const tt_config_t *cfg, const char *email)
{
    int          rc;
    const char  *params[1];

    params[0] = email;

    rc = tt_users_call(cfg, "SELECT portal_user_disable($1)", 1, params,
                       "disabling the user");

    if (rc == 0) {
        printf("%s disabled; open sessions ended\n", email);
    }

    return rc;
}


int
tt_users_list(const tt_config_t *cfg)
{
    return tt_db_print_table(cfg->dsn, "listing users",
               "email\trole\tclient\tsites\tstate",
               "SELECT email, role, coalesce(client_id::text, '-'),"
               "       coalesce(array_to_string(site_ids, ','), '-'),"
               "       CASE WHEN disabled THEN 'disabled' ELSE 'active' END"
               "  FROM portal_users ORDER BY lower(email)",
               0, NULL);
}


/* one line from stdin, without echo when it is a terminal */
static int
tt_users_password(char *buf, size_t size)
{
    int             tty;
    size_t          n;
    struct termios  old, quiet;

    tty = isatty(STDIN_FILENO);

    if (tty) {
        fprintf(stderr, "password: ");
        fflush(stderr);

        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);

        } else {
            tty = 0;
        }
    }

    if (fgets(buf, size, stdin) == NULL) {
        buf[0] = '\0';
    }

    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }

    n = strlen(buf);

    if (n == size - 1 && buf[n - 1] != '\n') {
        fprintf(stderr, "tracktik-worker: the password is too long\n");
        return 1;
    }

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }

    if (n == 0) {
        fprintf(stderr, "tracktik-worker: no password on standard input\n");
        return 1;
    }

    return 0;
}


static int
tt_users_call(const tt_config_t *cfg, const char *sql, int nparams,
    const char **params, const char *what)
{
    char       err[1024];
    PGconn    *conn;
    PGresult  *res;

    conn = tt_db_connect(cfg->dsn, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "tracktik-worker: %s\n", err);
        return 1;
    }

    res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* the message names the problem (duplicate email, short password);
         * the password itself is never part of it */
        tt_db_error(conn, res, what, err, sizeof(err));
        fprintf(stderr, "tracktik-worker: %s\n", err);
        PQclear(res);
        PQfinish(conn);
        return 1;
    }

    PQclear(res);
    PQfinish(conn);

    return 0;
}
