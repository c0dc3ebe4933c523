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

    { "subscription create", "--webhook-url URL --secret-file FILE "
      "[--custom-id ID] [--name TEXT] [--events LIST] [OPTIONS]",
      "create the tenant's Events Subscription to nginx with a new secret, "
      "appended to FILE; prints the nginx.conf lines",
      0, 0, tt_cmd_subscription_create_options,
      sizeof(tt_subscription_create_opts_t), TT_GROUP_API, 0,
      tt_cmd_subscription_create },

    { "subscription list", "[--url BASE]",
      "the tenant's Events Subscriptions",
      0, 0, NULL, 0, TT_GROUP_API, 0, tt_cmd_subscription_list },

    { "subscription suspend", "ID --reason TEXT",
      "stop deliveries to subscription ID for now",
      1, 1, tt_cmd_subscription_suspend_options,
      sizeof(tt_subscription_suspend_opts_t), TT_GROUP_API, 0,
      tt_cmd_subscription_suspend },

    { "subscription enable", "ID",
      "deliver again to a suspended subscription",
      1, 1, NULL, 0, TT_GROUP_API, 0, tt_cmd_subscription_enable },

    { "subscription archive", "ID",
      "end subscription ID for good",
      1, 1, NULL, 0, TT_GROUP_API, 0, tt_cmd_subscription_archive },

    { "pull", "--from DATE --to DATE [--site ID | --client ID] "
      "[--no-process]",
      "list the range's reports from TrackTik (resumable) and process "
      "them as webhook jobs",
      0, 0, tt_cmd_pull_options, sizeof(tt_pull_opts_t), TT_GROUP_API, 0,
      tt_cmd_pull },

    { "schedule", "[--pull-interval SECONDS] [--once]",
      "pull the recent window on a schedule shared by every process (a "
      "lease in PostgreSQL); the run daemon processes the jobs",
      0, 0, tt_cmd_schedule_options, sizeof(tt_schedule_opts_t),
      TT_GROUP_API, 0, tt_cmd_schedule },

    { "billing list", "[--from DATE] [--to DATE] [--client ID] [--site ID] "
      "[--code CODE] [--state STATE] [--format table|csv]",
      "billing lines (quantity x price = amount) and their totals per "
      "client and bill code",
      0, 0, tt_cmd_billing_list_options, sizeof(tt_billing_list_opts_t), 0,
      0, tt_cmd_billing_list },

    { "billing retry", "ID | --failed",
      "a failed billing line, or every failed line, back to pending for "
      "billing sync",
      0, 1, tt_cmd_billing_retry_options, sizeof(tt_billing_retry_opts_t),
      0, 0, tt_cmd_billing_retry },

    { "audit", "--verify-chain [--from DATE] [--to DATE] | --from DATE "
      "--to DATE --source api|FILE [--mapping NAME] [--out DIR]",
      "recompute the ledger's hash chain: exit 0 when intact, 3 naming the "
      "first broken link; or (--source) compare the ledger with TrackTik "
      "or an export: audit.csv and audit.html, exit 0 when they agree, 1 "
      "when they differ",
      0, 0, tt_cmd_audit_options, sizeof(tt_audit_opts_t), TT_GROUP_API, 0,
      tt_cmd_audit },

    { "notify rules load", "FILE",
      "store FILE as a new notification rule set version",
      1, 1, NULL, 0, 0, 0, tt_cmd_notify_rules_load },

    { "notify rules check", "FILE",
      "validate a notification rule file without a database",
      1, 1, NULL, 0, 0, TT_CMD_NO_DB, tt_cmd_notify_rules_check },

    { "notify run", "[--drain] [--smtp-url URL] [--smtp-from ADDRESS] "
      "[OPTIONS]",
      "send due notifications (email, signed webhooks) until SIGTERM, or "
      "with --drain until nothing is due",
      0, 0, tt_cmd_notify_run_options, sizeof(tt_notify_run_opts_t), 0, 0,
      tt_cmd_notify_run },

    { "notify log", "[--limit N]",
      "delivery attempts, newest first",
      0, 0, tt_cmd_notify_log_options, sizeof(tt_notify_log_opts_t), 0, 0,
      tt_cmd_notify_log },

    { "notify replay", "ID",
      "send a dead notification again",
      1, 1, NULL, 0, 0, 0, tt_cmd_notify_replay },

    { "notify resume", "ADDRESS",
      "send to a paused recipient (email address or webhook URL) again",
      1, 1, NULL, 0, 0, 0, tt_cmd_notify_resume },

    { "import", "FILE.csv|FILE.xlsx [--mapping NAME] [--rejects FILE] "
      "[--progress-interval SECONDS]",
      "load an Operation Reports or Data Lab export into the ledger "
      "(exit 3: some rows were rejected)",
      1, 1, tt_cmd_import_options, sizeof(tt_import_cmd_opts_t), 0, 0,
      tt_cmd_import },

    { "archive create", "--client ID --from DATE --to DATE --out FILE "
      "[--sites ID,...] [--attachment-dir DIR]",
      "write the auditor's archive of a client and period (CSV, XLSX, "
      "photos, manifest with SHA-256) to FILE",
      0, 0, tt_cmd_archive_create_options,
      sizeof(tt_archive_create_opts_t), 0, 0, tt_cmd_archive_create },

    { "archive build", "[--once] [--attachment-dir DIR] "
      "[--keep-days N]",
      "build the archives requested through the portal into "
      "DIR/archives/, until SIGTERM (--once: until none is queued), "
      "removing those older than --keep-days",
      0, 0, tt_cmd_archive_build_options, sizeof(tt_archive_build_opts_t),
      0, 0, tt_cmd_archive_build },

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
