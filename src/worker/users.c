/*
 * users: add, re-password, disable and list portal users.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "users.h"


static int tt_users_call(PGconn *conn, const char *sql, int nparams,
    const char *const *params, const char *what, char *err,
    size_t errlen);


int
tt_users_check(const tt_user_t *u, char *err, size_t errlen)
{
    size_t       n;
    const char  *p;

    if (strlen(u->email) > 320 || strchr(u->email, '@') == NULL
        || strpbrk(u->email, " \t\r\n") != NULL)
    {
        snprintf(err, errlen, "\"%s\" is not an email address", u->email);
        return -1;
    }

    if ((u->client == NULL) == (u->operator == 0)) {
        snprintf(err, errlen, "users add needs exactly one of --client ID "
                 "or --operator");
        return -1;
    }

    if (u->operator && u->sites != NULL) {
        snprintf(err, errlen, "--sites is for client users; operators see "
                 "every site");
        return -1;
    }

    if (u->client != NULL) {
        for (p = u->client; *p; p++) {
            if (!isdigit((unsigned char) *p)) {
                break;
            }
        }

        if (*u->client == '\0' || *p != '\0' || strlen(u->client) > 18) {
            snprintf(err, errlen, "--client: \"%s\" is not a TrackTik "
                     "client id", u->client);
            return -1;
        }
    }

    if (u->sites != NULL) {
        n = strlen(u->sites);

        if (n == 0 || n > 1000 || strspn(u->sites, "0123456789,") != n
            || u->sites[0] == ',' || u->sites[n - 1] == ','
            || strstr(u->sites, ",,") != NULL)
        {
            snprintf(err, errlen, "--sites: expected site ids separated by "
                     "commas, like 1042,1043");
            return -1;
        }
    }

    return 0;
}


int
tt_users_add(PGconn *conn, const tt_user_t *u, const char *password,
    char *err, size_t errlen)
{
    char         array[1024];
    const char  *params[5];

    if (u->sites != NULL) {
        snprintf(array, sizeof(array), "{%s}", u->sites);
    }

    params[0] = u->email;
    params[1] = password;
    params[2] = u->operator ? "operator" : "client";
    params[3] = u->client;
    params[4] = u->sites ? array : NULL;

    return tt_users_call(conn, "SELECT portal_user_add($1, $2, $3,"
                         " $4::bigint, $5::bigint[])", 5, params,
                         "adding the user", err, errlen);
}


int
tt_users_passwd(PGconn *conn, const char *email, const char *password,
    char *err, size_t errlen)
{
    const char  *params[2];

    params[0] = email;
    params[1] = password;

    return tt_users_call(conn, "SELECT portal_user_passwd($1, $2)", 2,
                         params, "changing the password", err, errlen);
}


int
tt_users_disable(PGconn *conn, const char *email, char *err, size_t errlen)
{
    const char  *params[1];

    params[0] = email;

    return tt_users_call(conn, "SELECT portal_user_disable($1)", 1, params,
                         "disabling the user", err, errlen);
}


PGresult *
tt_users_list(PGconn *conn, char *err, size_t errlen)
{
    return tt_db_query(conn, "listing users",
              "SELECT email, role, coalesce(client_id::text, '-'),"
              "       coalesce(array_to_string(site_ids, ','), '-'),"
              "       CASE WHEN disabled THEN 'disabled' ELSE 'active' END"
              "  FROM portal_users ORDER BY lower(email)",
              0, NULL, err, errlen);
}


static int
tt_users_call(PGconn *conn, const char *sql, int nparams,
    const char *const *params, const char *what, char *err, size_t errlen)
{
    PGresult  *res;

    /* the error names the problem (duplicate email, short password);
     * the password itself is never part of it */
    res = tt_db_query(conn, what, sql, nparams, params, err, errlen);
    if (res == NULL) {
        return -1;
    }

    PQclear(res);
    return 0;
}


int
tt_users_prune(PGconn *conn, long long *sessions, long long *failures,
    char *err, size_t errlen)
{
    long long   s, f;
    PGresult   *res;

    *sessions = 0;
    *failures = 0;

    do {
        res = tt_db_query(conn, "pruning portal sessions and login attempts",
                          "SELECT sessions, failures"
                          " FROM tracktik_portal_prune(1000)",
                          0, NULL, err, errlen);
        if (res == NULL) {
            return -1;
        }

        s = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        f = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        PQclear(res);

        *sessions += s;
        *failures += f;

    } while (s == 1000 || f == 1000);

    return 0;
}
