/*
 * cmd_jobs: `jobs list [--state S] [--limit N]` and
 * `jobs retry ID | --dead`.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "jobs.h"


const tt_option_t  tt_cmd_jobs_list_options[] = {
    { "state", "STATE", TT_OPT_TEXT, TT_IN_COMMAND,
      offsetof(tt_jobs_list_opts_t, state), 0, 0, NULL, NULL, NULL,
      "only jobs in this state: queued, running or dead" },
    { "limit", "N", TT_OPT_INT, TT_IN_COMMAND,
      offsetof(tt_jobs_list_opts_t, limit), 1, 1000000, NULL, NULL, "100",
      "at most N jobs, oldest first" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


const tt_option_t  tt_cmd_jobs_retry_options[] = {
    { "dead", NULL, TT_OPT_FLAG, TT_IN_COMMAND,
      offsetof(tt_jobs_retry_opts_t, dead), 0, 0, NULL, NULL, NULL,
      "every dead job instead of one ID" },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }
};


int
tt_cmd_jobs_list(tt_cmd_args_t *args)
{
    char                  err[1024];
    PGconn               *conn;
    tt_jobs_list_opts_t  *o;

    o = args->opts;

    if (o->state != NULL && !tt_jobs_state_valid(o->state)) {
        tt_cmd_error("--state: \"%s\" is not a job state (queued, running, "
                     "dead)", o->state);
        return 1;
    }

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    return tt_cmd_listing(conn, tt_jobs_list(conn, o->state, o->limit, err,
                                             sizeof(err)),
                          "id\tstate\tattempts\treceived_at\trun_after\t"
                          "locked_by\tlast_error", err);
}


int
tt_cmd_jobs_retry(tt_cmd_args_t *args)
{
    int                    n, rc;
    char                   err[1024], *end;
    PGconn                *conn;
    const char            *id;
    tt_jobs_retry_opts_t  *o;

    o = args->opts;
    id = args->argc == 1 ? args->argv[0] : NULL;

    if ((id == NULL) == (o->dead == 0)) {
        tt_cmd_error("usage: tracktik-worker jobs retry ID | --dead");
        return TT_EXIT_USAGE;
    }

    if (id != NULL && (strtoll(id, &end, 10) <= 0 || *end != '\0')) {
        tt_cmd_error("jobs retry: \"%s\" is not a job id", id);
        return 1;
    }

    conn = tt_cmd_connect(&args->cfg);
    if (conn == NULL) {
        return 1;
    }

    rc = tt_jobs_retry(conn, id, &n, err, sizeof(err));

    if (rc != 0) {
        tt_cmd_error("%s", err);
    } else if (id == NULL) {
        printf("requeued %d dead jobs\n", n);
    } else {
        printf("requeued job %s\n", id);
    }

    PQfinish(conn);

    return rc == 0 ? 0 : 1;
}
