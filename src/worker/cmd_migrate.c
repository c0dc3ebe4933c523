/*
 * cmd_migrate: `migrate [--sql-dir DIR]` and `migrate status`.  The work
 * is tt_migrate_apply() and tt_migrate_status() (migrate.c, which prints
 * only to the FILE it is given); this finds the SQL directory when none
 * is given and turns the outcome into an exit status.
 */

#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cmd.h"
#include "migrate.h"


/*
 * An installed worker (`make install`, the Debian package) is built with
 * -DTT_SQL_DIR="$(PREFIX)/share/tracktik/sql" and uses that; the build in
 * a checkout has none and finds the checkout's sql/.
 */
#ifdef TT_SQL_DIR
#define TT_SQL_DIR_HELP  TT_SQL_DIR
#define tt_cmd_default_sql_dir()  TT_SQL_DIR
#else
#define TT_SQL_DIR_HELP  "../sql beside the binary when that exists, " \
                         "else ./sql"
#endif


const tt_option_t  tt_cmd_migrate_options[] = {
    { "sql-dir", "DIR", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, sql_dir), 0, 0, NULL, "TRACKTIK_SQL_DIR", NULL,
      "the directory holding migrations/ and functions/; without it, "
      "$TRACKTIK_SQL_DIR, else " TT_SQL_DIR_HELP },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static int tt_cmd_migrate_run(tt_cmd_args_t *args, int status);
#ifndef TT_SQL_DIR
static const char *tt_cmd_default_sql_dir(void);
#endif


int
tt_cmd_migrate(tt_cmd_args_t *args)
{
    return tt_cmd_migrate_run(args, 0);
}


/* 0 when every migration is applied, 3 when one is pending, modified or
 * unknown (or the database has the old layout), 1 on errors */
int
tt_cmd_migrate_status(tt_cmd_args_t *args)
{
    return tt_cmd_migrate_run(args, 1);
}


static int
tt_cmd_migrate_run(tt_cmd_args_t *args, int status)
{
    int                   rc;
    char                  err[2048];
    PGconn               *conn;
    tt_migrate_status_t   st;

    if (args->cfg.sql_dir == NULL) {
        args->cfg.sql_dir = tt_cmd_default_sql_dir();
    }

    conn = tt_cmd_connect_any(&args->cfg);     /* any schema: it migrates */
    if (conn == NULL) {
        return 1;
    }

    if (!status) {
        rc = tt_migrate_apply(conn, args->cfg.sql_dir, stdout, err,
                              sizeof(err));

    } else {
        rc = tt_migrate_status(conn, args->cfg.sql_dir, stdout, &st, err,
                               sizeof(err));
        if (rc == 0 && (st.pending || st.modified || st.unknown
                        || st.old_layout))
        {
            rc = 3;
        }
    }

    PQfinish(conn);

    if (rc == -1) {
        tt_cmd_error("%s", err);
        return 1;
    }

    return rc;
}


#ifndef TT_SQL_DIR

/* <dir of the binary>/../sql when it exists (build/ in the repository),
 * else ./sql */
static const char *
tt_cmd_default_sql_dir(void)
{
    char         exe[PATH_MAX], *dir;
    static char  path[PATH_MAX + 8];
    ssize_t      n;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n > 0) {
        exe[n] = '\0';
        dir = dirname(exe);
        snprintf(path, sizeof(path), "%s/../sql", dir);

        if (access(path, R_OK) == 0) {
            return path;
        }
    }

    return "sql";
}

#endif
