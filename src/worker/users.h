/*
 * users: the portal's users, managed from the command line.  Passwords are
 * read from standard input (never from arguments, which other users of the
 * machine can see) and hashed by PostgreSQL (sql/020_portal.sql).
 */

#ifndef TT_USERS_H
#define TT_USERS_H

#include "config.h"


/* `users add EMAIL (--client ID [--sites ID,...] | --operator)` */
int tt_users_add(const tt_config_t *cfg, const char *email,
    const char *client, int operator, const char *sites);

/* `users passwd EMAIL`: a new password; open sessions end */
int tt_users_passwd(const tt_config_t *cfg, const char *email);

/* `users disable EMAIL`: no more logins; open sessions end */
int tt_users_disable(const tt_config_t *cfg, const char *email);

/* `users list` */
int tt_users_list(const tt_config_t *cfg);

#endif /* TT_USERS_H */
