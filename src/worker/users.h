/*
 * users: the portal's users, through the SQL functions of
 * sql/functions/users.sql, so the rules (password length, one client per
 * client user, revoking sessions) live in one place.  Passwords are
 * hashed by PostgreSQL's pgcrypto and never logged.
 */

#ifndef TT_USERS_H
#define TT_USERS_H

#include <stddef.h>
#include <libpq-fe.h>


typedef struct {
    const char  *email;
    const char  *client;        /* a client user's TrackTik client id */
    const char  *sites;         /* "1042,1043": only these sites; NULL */
    int          operator;      /* sees every client instead */
} tt_user_t;


/* the user's fields before anything is asked: -1 with err */
int tt_users_check(const tt_user_t *u, char *err, size_t errlen);

/* 0, or -1 with err (a duplicate email, a short password, ...) */
int tt_users_add(PGconn *conn, const tt_user_t *u, const char *password,
    char *err, size_t errlen);

/* a new password; open sessions end */
int tt_users_passwd(PGconn *conn, const char *email, const char *password,
    char *err, size_t errlen);

/* no more logins; open sessions end */
int tt_users_disable(PGconn *conn, const char *email, char *err,
    size_t errlen);

/*
 * Expired and revoked sessions and login attempts older than an hour
 * deleted (tracktik_portal_prune(), in slices); 0 with the counts, or -1
 * with err.
 */
int tt_users_prune(PGconn *conn, long long *sessions, long long *failures,
    char *err, size_t errlen);

/* email, role, client, sites, state; NULL with err */
PGresult *tt_users_list(PGconn *conn, char *err, size_t errlen);

#endif /* TT_USERS_H */
