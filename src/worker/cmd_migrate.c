/*
 * cmd_migrate: `migrate [--sql-dir DIR]`.  The work is tt_migrate()
 * (migrate.c); this finds the SQL directory when none is given.
 */

#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "cmd.h"
#include "migrate.h"


const tt_option_t  tt_cmd_migrate_options[] = {
    { "sql-dir", "DIR", TT_OPT_TEXT, TT_IN_CONFIG,
      offsetof(tt_config_t, sql_dir), 0, 0, NULL, "TRACKTIK_SQL_DIR", NULL,
      "the migrations; without it, $TRACKTIK_SQL_DIR, else ../sql beside "
      "the binary when that exists, else ./sql" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


static const char *tt_cmd_default_sql_dir(void);


int
tt_cmd_migrate(tt_cmd_args_t *args)
{
    if (args->cfg.sql_dir == NULL) {
        args->cfg.sql_dir = tt_cmd_default_sql_dir();
    }

    return tt_migrate(&args->cfg);
}


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
