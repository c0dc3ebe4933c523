/*
 * cmd_contracts: `contracts load FILE [--effective-from DATE]
 * [--if-changed]`, `contracts check FILE` (no database) and
 * `contracts list`.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "tt_time.h"
#include "cmd.h"
#include "contracts.h"


static int tt_cmd_check_date(const char *value, char *err, size_t errlen);


const tt_option_t  tt_cmd_contracts_load_options[] = {
    { "effective-from", "DATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_contracts_load_opts_t, effective_from), 0, 0,
      tt_cmd_check_date, NULL, NULL,
      "in force from DATE (YYYY-MM-DD or an ISO 8601 date-time), for a "
      "file without effective_from or to override it" },
    { "if-changed", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_contracts_load_opts_t, if_changed), 0, 0, NULL, NULL,
      NULL, "not when the file equals the newest stored version" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


int
tt_cmd_contracts_check(tt_cmd_args_t *args)
{
    int            rc;
    char          *text, err[1024];
    size_t         len;
    const char    *file;
    tt_rule_set_t  set;

    file = args->argv[0];
    text = NULL;

    rc = tt_contracts_read(file, &text, &len, &set, err, sizeof(err));

    if (rc != 0) {
        tt_cmd_error("%s", err);
    } else {
        printf("%s: %zu rules, valid%s\n", file, set.nrules,
               set.has_effective_from ? "" : " (no effective_from: pass "
               "--effective-from when loading)");
    }

    tt_rule_set_free(&set);
    free(text);

    return rc == 0 ? 0 : 1;
}


int
tt_cmd_contracts_load(tt_cmd_args_t *args)
{
    int                        rc, unchanged;
    char                      *text, err[1024], from[40], version[16];
    size_t                     len;
    PGconn                    *conn;
    const char                *file;
    tt_rule_set_t              set;
    tt_contracts_load_opts_t  *o;

    o = args->opts;
    file = args->argv[0];
    text = NULL;
    conn = NULL;
    rc = 1;

    if (tt_contracts_read(file, &text, &len, &set, err, sizeof(err)) != 0) {
        tt_cmd_error("%s", err);
        goto done;
    }

    if (o->effective_from != NULL) {
        (void) tt_contracts_date(o->effective_from, &set.effective_from);

    } else if (!set.has_effective_from) {
        tt_cmd_error("%s: effective_from: missing; add it to the file or "
                     "pass --effective-from DATE", file);
        goto done;
    }

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        goto done;
    }

    if (tt_contracts_store(conn, file, text, &set, o->if_changed, version,
                           sizeof(version), &unchanged, err, sizeof(err))
        != 0)
    {
        tt_cmd_error("%s", err);
        goto done;
    }

    tt_time_format_utc(set.effective_from, from, sizeof(from));

    if (unchanged) {
        printf("%s is unchanged: rule set version %s stays in force\n",
               file, version);
    } else {
        printf("loaded %s as rule set version %s: %zu rules, effective "
               "from %s\n", file, version, set.nrules, from);
    }

    rc = 0;

done:

    if (conn != NULL) {
        PQfinish(conn);
    }
    tt_rule_set_free(&set);
    free(text);

    return rc;
}


int
tt_cmd_contracts_list(tt_cmd_args_t *args)
{
    char     err[1024];
    PGconn  *conn;

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    return tt_cmd_listing(conn, tt_contracts_list(conn, err, sizeof(err)),
                          "version\teffective_from\trules\tfile\tname",
                          err);
}


static int
tt_cmd_check_date(const char *value, char *err, size_t errlen)
{
    long long  t;

    if (tt_contracts_date(value, &t) != 0) {
        snprintf(err, errlen, "\"%s\" is not a date YYYY-MM-DD or an ISO "
                 "8601 date-time", value);
        return -1;
    }

    return 0;
}
