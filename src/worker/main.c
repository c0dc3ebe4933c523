/*
 * tracktik-worker: turns queued TrackTik webhook jobs into an append-only
 * incident ledger and contract-priced billing lines.
 *
 * main.c only reads the command line and dispatches.  To add a command:
 * one row below, and its function and options in src/worker/cmd_<name>.c
 * (declared in cmd.h).  Usage text and option checks come from the rows.
 */

#include <stdlib.h>

#include "cmd.h"


static const tt_command_t  tt_commands[] = {

    { "run", "[--drain] [--concurrency N] [--poll-only] [OPTIONS]",
      "process jobs until SIGTERM/SIGINT (or, with --drain, until the "
      "queue is empty); SIGHUP is ignored",
      0, 0, tt_cmd_run_options, 0, TT_GROUP_API, 0, tt_cmd_run },

    { "migrate", "[--sql-dir DIR]",
      "apply sql/migrations/ not applied yet, then every sql/functions/ "
      "file",
      0, 0, tt_cmd_migrate_options, 0, 0, 0, tt_cmd_migrate },

    { "migrate status", "[--sql-dir DIR]",
      "applied, pending and modified migrations (exit 3 unless all are "
      "applied)",
      0, 0, tt_cmd_migrate_options, 0, 0, 0, tt_cmd_migrate_status },

    { "contracts load", "FILE [--effective-from DATE] [--if-changed]",
      "store FILE as a new contract rule set version (--if-changed: not "
      "when it equals the newest)",
      1, 1, tt_cmd_contracts_load_options,
      sizeof(tt_contracts_load_opts_t), 0, 0, tt_cmd_contracts_load },

    { "contracts check", "FILE",
      "validate FILE without a database",
      1, 1, NULL, 0, 0, TT_CMD_NO_DB, tt_cmd_contracts_check },

    { "contracts list", "",
      "list the stored rule set versions",
      0, 0, NULL, 0, 0, 0, tt_cmd_contracts_list },

    { "jobs list", "[--state queued|running|dead] [--limit N]",
      "the queue, oldest first",
      0, 0, tt_cmd_jobs_list_options, sizeof(tt_jobs_list_opts_t), 0, 0,
      tt_cmd_jobs_list },

    { "jobs retry", "ID | --dead",
      "replay a dead job, or every dead job",
      0, 1, tt_cmd_jobs_retry_options, sizeof(tt_jobs_retry_opts_t), 0, 0,
      tt_cmd_jobs_retry },

    { "users add", "EMAIL (--client ID [--sites ID,...] | --operator)",
      "a portal user; the password is read from stdin",
      1, 1, tt_cmd_users_add_options, sizeof(tt_users_add_opts_t), 0, 0,
      tt_cmd_users_add },

    { "users passwd", "EMAIL",
      "a new password from stdin; open sessions end",
      1, 1, NULL, 0, 0, 0, tt_cmd_users_passwd },

    { "users disable", "EMAIL",
      "no more logins; open sessions end",
      1, 1, NULL, 0, 0, 0, tt_cmd_users_disable },

    { "users list", "",
      "the portal's users",
      0, 0, NULL, 0, 0, 0, tt_cmd_users_list },

    { "auth login", "--url BASE [--client-id ID --client-secret-file FILE] "
      "(--username USER --password-stdin | --refresh-token-stdin)",
      "log in to a TrackTik tenant (OAuth2); the session is stored in the "
      "database and kept alive",
      0, 0, tt_cmd_auth_login_options, sizeof(tt_auth_login_opts_t),
      TT_GROUP_API, 0, tt_cmd_auth_login },

    { "auth status", "[--url BASE]",
      "the stored session",
      0, 0, NULL, 0, TT_GROUP_API, 0, tt_cmd_auth_status },

    { "auth check", "[--url BASE]",
      "one API call with the stored session",
      0, 0, NULL, 0, TT_GROUP_API, 0, tt_cmd_auth_check },

    { "billing sync", "[--once] [--url BASE]",
      "post pending billing lines as TrackTik billing-adhoc-items; "
      "SIGHUP is ignored",
      0, 0, tt_cmd_billing_sync_options, sizeof(tt_billing_sync_opts_t),
      TT_GROUP_API, 0, tt_cmd_billing_sync },

    { "import", "FILE.csv|FILE.xlsx [--mapping NAME] [--rejects FILE]",
      "load an Operation Reports or Data Lab export into the ledger "
      "(exit 3: some rows were rejected)",
      1, 1, tt_cmd_import_options, sizeof(tt_import_cmd_opts_t), 0, 0,
      tt_cmd_import },

    { NULL, NULL, NULL, 0, 0, NULL, 0, 0, 0, NULL }
};


int
main(int argc, char **argv)
{
    int                  rc;
    tt_cmd_args_t        args;
    const tt_command_t  *cmd;

    rc = tt_cmd_parse(tt_commands, argc, argv, &cmd, &args);

    if (rc >= 0) {
        return rc;
    }

    rc = cmd->main(&args);

    free(args.opts);
    free(args.argv);
    tt_cmd_wipe_free(args.dsn_line);

    return rc;
}
